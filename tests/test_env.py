"""Settings read from the environment."""

from pathlib import Path

import pytest

from labplatform import env


def test_sqlite_relative_and_absolute():
    relative = env.parse_database_url(
        "sqlite:///var/db.sqlite3", base_dir=Path("/srv/app")
    )
    absolute = env.parse_database_url(
        "sqlite:////data/db.sqlite3", base_dir=Path("/srv/app")
    )

    assert relative["NAME"] == "/srv/app/var/db.sqlite3"
    assert absolute["NAME"] == "/data/db.sqlite3"


def test_postgres_url_parts():
    config = env.parse_database_url(
        "postgres://lab:p%40ss@db.internal:5433/labs", base_dir=Path("/srv")
    )

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"]) == ("lab", "p@ss")
    assert (config["HOST"], config["PORT"], config["NAME"]) == (
        "db.internal",
        "5433",
        "labs",
    )


def test_unknown_database_scheme_is_rejected():
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        env.parse_database_url("mysql://x/y", base_dir=Path("/srv"))


def test_bool_rejects_garbage(monkeypatch):
    monkeypatch.setenv("LABPLATFORM_DEBUG", "maybe")

    with pytest.raises(ValueError, match="LABPLATFORM_DEBUG='maybe' is not a boolean"):
        env.get_bool("DEBUG", False)


def test_secret_key_generated_once(tmp_path, monkeypatch):
    monkeypatch.delenv("LABPLATFORM_SECRET_KEY", raising=False)

    first = env.load_secret_key(tmp_path)
    second = env.load_secret_key(tmp_path)

    assert first == second
    assert len(first) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_debug_off_by_default():
    from django.conf import settings

    assert settings.DEBUG is False
    assert "*" not in settings.ALLOWED_HOSTS
