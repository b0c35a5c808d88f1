"""Start the whole platform on one machine: the README's run command.

Starts, in order: the database migrations, the local control plane (unless
LABPLATFORM_KUBECONFIG points at another cluster), Redis (unless one
already accepts connections at LABPLATFORM_REDIS_URL), a Celery worker
with beat, and the ASGI web server. Ctrl-C stops everything it started.
"""

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from labplatform.cluster.localcp import ControlPlaneError, LocalControlPlane

DEFAULT_KUBECONFIG = settings.VAR_DIR / "controlplane" / "admin.kubeconfig"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _interrupt(signum, frame):
    # SIGTERM stops the platform the same way Ctrl-C does.
    raise KeyboardInterrupt


class Command(BaseCommand):
    # The checks warn about a missing kubeconfig, which this command is
    # about to create; runplatform runs them with its migrate step.
    requires_system_checks = []
    help = "Run the platform with every part it needs, on its embedded defaults."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address the web server listens on (default: %(default)s).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="Port the web server listens on (default: %(default)s).",
        )

    def handle(self, *args, host, port, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.control_plane = None
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._start_all(host, port)
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            self._stop_all()

    def _start_all(self, host: str, port: int) -> None:
        if Path(settings.KUBECONFIG) == DEFAULT_KUBECONFIG:
            self.stdout.write(
                "Starting the local control plane (the first run builds "
                "it from source, which takes several minutes)…"
            )
            self.control_plane = LocalControlPlane(data_dir=DEFAULT_KUBECONFIG.parent)
            try:
                self.control_plane.start()
            except ControlPlaneError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"Kubernetes API at {self.control_plane.server_url}.")
        else:
            self.stdout.write(f"Using the cluster in {settings.KUBECONFIG}.")

        # Migrate once the kubeconfig exists, so the system checks it runs
        # find the cluster configured.
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")

        redis = urlsplit(settings.REDIS_URL)
        redis_host, redis_port = redis.hostname or "127.0.0.1", redis.port or 6379
        if not _answers(redis_host, redis_port):
            if (
                redis_host not in ("127.0.0.1", "localhost")
                or shutil.which("redis-server") is None
            ):
                raise CommandError(
                    f"Redis is not reachable at {redis_host}:{redis_port}. Install the "
                    "Debian package redis-server, or set LABPLATFORM_REDIS_URL."
                )
            redis_dir = settings.VAR_DIR / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            self._spawn(
                "redis",
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(redis_dir),
                ],
            )
            for _ in range(50):
                if _answers(redis_host, redis_port):
                    break
                time.sleep(0.1)
            self.stdout.write(f"Redis started on {redis_host}:{redis_port}.")

        self._spawn(
            "celery",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "labplatform",
                "worker",
                "--beat",
                "--loglevel=INFO",
                f"--concurrency={settings.WORKER_CONCURRENCY}",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        )
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                host,
                "-p",
                str(port),
                "labplatform.asgi:application",
            ],
        )
        for _ in range(100):
            if _answers(host, port):
                break
            time.sleep(0.1)
        self.stdout.write(
            self.style.SUCCESS(
                f"labplatform is running at http://{host}:{port}/ (Ctrl-C to stop)."
            )
        )

    def _spawn(self, name: str, command: list[str]) -> None:
        process = subprocess.Popen(command, start_new_session=True)
        self.children.append((name, process))

    def _watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(
                        f"{name} exited with code {process.returncode}; "
                        "see its output above."
                    )
            if self.control_plane is not None:
                try:
                    self.control_plane.check_alive()
                except ControlPlaneError as error:
                    raise CommandError(str(error)) from None
            time.sleep(1)

    def _stop_all(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        if self.control_plane is not None:
            self.control_plane.stop()
