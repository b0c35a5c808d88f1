"""Shared fixtures: a real Redis, the real local control plane, a real worker.

Redis and the control plane start once per test run. Set
LABPLATFORM_TEST_REDIS_URL to use a Redis that is already running, and
LABPLATFORM_TEST_KEEP_NAMESPACES=1 to keep learner namespaces after the
tests for debugging with kubectl.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# Fixtures that start real lab sessions, shared by the cluster tests.
pytest_plugins = ["tests.fixtures"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server process the tests own, which a test may restart."""

    def __init__(self, *, port: int, folder: Path):
        self.port = port
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


# The Redis server of this run, or None when LABPLATFORM_TEST_REDIS_URL
# names an external one.
redis_servers: list[RedisServer | None] = []


@pytest.fixture
def redis_server() -> RedisServer:
    server = redis_servers[0] if redis_servers else None
    if server is None:
        pytest.skip("uses an external Redis (LABPLATFORM_TEST_REDIS_URL)")
    return server


@pytest.fixture(scope="session", autouse=True)
def redis_url(tmp_path_factory):
    """A real Redis for Celery and Channels, started once per test run.

    Django has read its settings before any fixture runs, so the Redis URL
    is swapped into the settings, the Celery app and the Channels layer.
    """
    from channels.layers import channel_layers
    from django.conf import settings

    from labplatform.celery import app
    from labplatform.env import make_channel_layers

    server = None
    url = os.environ.get("LABPLATFORM_TEST_REDIS_URL")
    if not url:
        if shutil.which("redis-server") is None:
            pytest.exit(
                "redis-server is not installed; install the Debian package "
                "redis-server or set LABPLATFORM_TEST_REDIS_URL.",
                returncode=2,
            )
        server = RedisServer(port=_free_port(), folder=tmp_path_factory.mktemp("redis"))
        server.start()
        url = server.url
    redis_servers.append(server)

    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = make_channel_layers(url)
    channel_layers.backends.clear()
    app.conf.broker_url = url
    # Sandboxes run as unprivileged uids that must traverse this folder,
    # which pytest's own temporary folders (mode 0700) do not allow.
    workspaces = Path(tempfile.mkdtemp(prefix="labplatform-workspaces-", dir="/tmp"))
    workspaces.chmod(0o711)
    settings.TERMINAL_WORKSPACE_DIR = workspaces
    yield url
    shutil.rmtree(workspaces, ignore_errors=True)
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """The local control plane, started once per test run, wired into settings."""
    from django.conf import settings

    from labplatform.cluster import kube
    from labplatform.cluster.localcp import LocalControlPlane

    plane = LocalControlPlane(data_dir=tmp_path_factory.mktemp("controlplane"))
    plane.start()
    settings.KUBECONFIG = str(plane.kubeconfig_path)
    settings.AUDIT_LOG_PATH = str(plane.audit_log_path)
    settings.KUBECTL_PATH = str(plane.kubectl_path)
    kube.reset_clients()
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def celery_worker_thread(control_plane, django_db_blocker):
    """A real Celery worker (in a thread) consuming from the real Redis broker."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from labplatform.celery import app

    # Worker and consumer threads must not keep connections open past a
    # task, or PostgreSQL refuses to drop the test database at the end.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
        with start_worker(
            app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            shutdown_timeout=10,
            loglevel="WARNING",
        ):
            yield


@pytest.fixture
def keep_namespaces() -> bool:
    return os.environ.get("LABPLATFORM_TEST_KEEP_NAMESPACES") == "1"


@pytest.fixture
def repo_dir() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def close_stray_connections(django_db_setup, django_db_blocker):
    """End connections that worker and executor threads left open.

    PostgreSQL refuses to drop the test database while another session
    uses it, and threads from Celery or asgiref may still hold one.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def fresh_rate_limits(redis_url):
    """Forget counted attempts, since user ids repeat across tests."""
    import redis

    from labplatform.ratelimit import KEY_PREFIX

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    yield
    client.close()
