"""Read the platform's settings from the environment.

Every setting has a safe default for a single machine, so the platform
runs with no configuration at all. The secret key is generated once and
stored under the var folder, never committed.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

PREFIX = "LABPLATFORM_"


def get_str(name: str, default: str) -> str:
    return os.environ.get(PREFIX + name, default)


def get_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{PREFIX}{name}={raw!r} is not a boolean; use true or false.")


def get_int(name: str, default: int) -> int:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{PREFIX}{name}={raw!r} is not a whole number.") from None


def get_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_secret_key(var_dir: Path) -> str:
    """Return LABPLATFORM_SECRET_KEY, or a key generated once into var_dir."""
    configured = os.environ.get(PREFIX + "SECRET_KEY")
    if configured:
        return configured

    key_file = var_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()

    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: when two processes start at once, the second one reads the
    # key the first one wrote instead of replacing it.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def make_channel_layers(redis_url: str) -> dict:
    """Build CHANNEL_LAYERS for Redis.

    channels_redis waits for messages with a 5 s blocking pop, and redis-py
    8 gives every socket a 5 s read timeout by default, so an idle
    websocket would die with a TimeoutError. The socket timeout must stay
    well above the blocking pop.
    """
    return {
        "default": {
            "BACKEND": "labplatform.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 30}]},
        }
    }


def parse_database_url(url: str, *, base_dir: Path) -> dict:
    """Turn sqlite:///path or postgres://user:pass@host:port/name into DATABASES."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///var/db.sqlite3 is relative to the project folder and
        # sqlite:////srv/db.sqlite3 (four slashes) is absolute.
        path = unquote(parts.path)
        if path.startswith("//"):
            name = Path(path[1:])
        elif path.strip("/"):
            name = base_dir / path.lstrip("/")
        else:
            raise ValueError(
                f"sqlite URL {url!r} has no file path; use sqlite:///var/db.sqlite3"
            )
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(name),
            # Web, worker and terminal threads share the file; wait for
            # locks instead of failing at once. IMMEDIATE takes the write
            # lock when a transaction begins: a transaction that read first
            # and then wrote could otherwise fail with "database is locked"
            # at once, since SQLite cannot wait to upgrade a read lock. WAL
            # lets readers go on while one writer works.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
            # A file, not the in-memory default, so that threads in the
            # tests (Celery worker, websocket consumers) see one database.
            # The process id keeps two test runs in one checkout apart.
            "TEST": {
                "NAME": str(name.with_name(f"{name.stem}-test-{os.getpid()}.sqlite3"))
            },
        }
    if parts.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ValueError(
        f"unsupported database URL scheme {parts.scheme!r}; "
        "use sqlite:///path or postgres://user:password@host:port/name"
    )
