"""Report whether one platform process is healthy, for container health checks.

The platform's image has no shell and no curl, so Docker health checks and
Kubernetes exec probes run this command: exit code 0 when healthy, 1 with
one line on stderr that names the failure.
"""

import socket
import urllib.error
import urllib.request

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

TIMEOUT_SECONDS = 5


class Command(BaseCommand):
    help = (
        "Exit 0 when the named process is healthy: web (its /readyz returns 200), "
        "worker (the Celery worker on this host replies to a ping) or beat (the "
        "broker is reachable)."
    )
    # Health checks run every few seconds, and the system checks would add
    # work and warnings unrelated to this process.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "process",
            choices=["web", "worker", "beat"],
            help="The platform process to check.",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="Port of the web server on 127.0.0.1 (default: %(default)s).",
        )

    def handle(self, *args, process, port, **options):
        if process == "web":
            self._check_web(port)
        elif process == "worker":
            self._check_worker()
        else:
            self._check_broker()
        self.stdout.write(f"{process}: healthy")

    def _check_web(self, port: int) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/readyz", headers={"Host": "localhost"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
                return
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace").strip()
            raise CommandError(f"web: /readyz returned {error.code}: {body}") from None
        except (urllib.error.URLError, OSError) as error:
            raise CommandError(
                f"web: connection to 127.0.0.1:{port} failed ({error})"
            ) from None

    def _check_worker(self) -> None:
        from labplatform.celery import app

        # Celery names a worker celery@<host name> unless --hostname is
        # given, and each container has a host name of its own.
        worker = f"celery@{socket.gethostname()}"
        replies = app.control.ping(destination=[worker], timeout=TIMEOUT_SECONDS)
        if not any(worker in reply for reply in replies):
            raise CommandError(
                f"worker: ping to {worker} timed out after {TIMEOUT_SECONDS} s"
            )

    def _check_broker(self) -> None:
        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
            )
            client.ping()
            client.close()
        except redis.RedisError as error:
            raise CommandError(f"beat: Redis is unreachable: {error}") from None
