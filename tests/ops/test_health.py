"""/healthz, /readyz and `manage.py healthcheck`, used by compose and the chart."""

import socket

import pytest
from django.core.management import CommandError, call_command
from django.test import Client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def client() -> Client:
    # Probes send "Host: localhost", which the default ALLOWED_HOSTS contains.
    return Client(HTTP_HOST="localhost")


@pytest.mark.django_db
def test_healthz_needs_no_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"


@pytest.mark.django_db
def test_readyz_ok_with_database_and_redis(client, settings, redis_url):
    settings.REDIS_URL = redis_url

    response = client.get("/readyz")

    assert response.status_code == 200


@pytest.mark.django_db
def test_readyz_names_unreachable_redis(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.content == b"unavailable: redis\n"


def test_healthcheck_beat_reaches_redis(settings, redis_url, capsys):
    settings.REDIS_URL = redis_url

    call_command("healthcheck", "beat")

    assert "beat: healthy" in capsys.readouterr().out


def test_healthcheck_beat_reports_redis_down(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    with pytest.raises(CommandError, match="beat: Redis is unreachable"):
        call_command("healthcheck", "beat")


def test_healthcheck_web_reports_closed_port():
    port = closed_port()

    with pytest.raises(CommandError, match=f"connection to 127.0.0.1:{port} failed"):
        call_command("healthcheck", "web", "--port", str(port))


def test_healthcheck_worker_reports_missing_worker(settings, redis_url):
    settings.REDIS_URL = redis_url

    with pytest.raises(CommandError, match=r"ping to celery@\S+ timed out after 5 s"):
        call_command("healthcheck", "worker")
