"""Start the platform the way `manage.py runplatform` does, on free ports.

One Stack is a private copy of everything: a SQLite database and
workspaces under a temporary folder, the local control plane, a
redis-server, a Celery worker (bench.worker, which records provisioning
timings) and daphne serving the platform on 127.0.0.1. The benchmark
process itself runs Django against the same database, to create
learners and read sessions.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The same number of worker processes as runplatform starts.
WORKER_CONCURRENCY = int(os.environ.get("LABPLATFORM_WORKER_CONCURRENCY", "4"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, *, seconds: float, name: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not accept connections on port {port}")


class Stack:
    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix="labplatform-bench-", dir="/tmp"))
        # Sandboxes run as other uids and must traverse to their workspace.
        self.work.chmod(0o711)
        self.redis_port = free_port()
        self.web_port = free_port()
        self.timings_path = self.work / "provisioning-timings.jsonl"
        self.processes: dict[str, subprocess.Popen] = {}
        self.plane = None
        self.learner_count = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def web_pid(self) -> int:
        return self.processes["web"].pid

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "LABPLATFORM_VAR_DIR": str(self.work),
            # A private database, whatever the caller's environment names
            # (CI points LABPLATFORM_DATABASE_URL at its PostgreSQL).
            "LABPLATFORM_DATABASE_URL": f"sqlite:///{self.work / 'db.sqlite3'}",
            "LABPLATFORM_RECORDINGS_DIR": str(self.work / "recordings"),
            "LABPLATFORM_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LABPLATFORM_TERMINAL_WORKSPACE_DIR": str(self.work / "workspaces"),
            "LABPLATFORM_LOG_LEVEL": "WARNING",
            "LABPLATFORM_BENCH_TIMINGS": str(self.timings_path),
            "PYTHONPATH": str(ROOT),
        }

    def start(self) -> None:
        """Start every part; on failure, stop what already runs and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError(
                "redis-server is not installed; install the Debian package "
                "redis-server (scripts/setup.sh does)"
            )
        environment = self._environment()
        os.environ.update(environment)
        # The benchmark's own ORM calls (creating learners, reading
        # sessions) run between awaits on one thread, never concurrently.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        import django

        django.setup()
        from django.core.management import call_command

        from labplatform.cluster import kube
        from labplatform.cluster.localcp import LocalControlPlane, build_binaries

        kubectl = build_binaries() / "kubectl"
        os.environ["LABPLATFORM_KUBECTL"] = environment["LABPLATFORM_KUBECTL"] = str(
            kubectl
        )
        from django.conf import settings

        settings.KUBECTL_PATH = str(kubectl)
        call_command("migrate", verbosity=0)
        self.plane = LocalControlPlane(data_dir=self.work / "controlplane")
        self.plane.start()
        kube.reset_clients()

        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.work),
            ],
            environment,
        )
        wait_for_port(self.redis_port, seconds=10, name="redis-server")
        self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "bench.worker",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={WORKER_CONCURRENCY}",
            ],
            environment,
        )
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.web_port),
                "labplatform.asgi:application",
            ],
            environment,
        )
        wait_for_port(self.web_port, seconds=30, name="daphne")
        self._wait_for_worker()

    def _spawn(self, name: str, command: list[str], environment: dict) -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - kept for the process
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_for_worker(self) -> None:
        from labplatform.celery import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.processes["worker"].poll() is not None:
                raise RuntimeError(
                    f"the Celery worker exited; see {self.work / 'worker.log'}"
                )
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError(
            "the Celery worker did not respond to a ping within 60 s; see worker.log"
        )

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self.processes.clear()
        if self.plane is not None:
            self.plane.stop()
            self.plane = None
        if os.environ.get("LABPLATFORM_BENCH_KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)

    def make_learner(self, prefix: str = "learner") -> tuple[object, str]:
        """Create a learner account; return it and a logged-in session cookie."""
        from django.contrib.auth.models import User
        from django.test import Client

        self.learner_count += 1
        user = User.objects.create_user(
            f"{prefix}{self.learner_count}", password="bench-password-1"
        )
        client = Client()
        client.force_login(user)
        return user, client.cookies["sessionid"].value

    def read_timings(self) -> list[dict]:
        import json

        if not self.timings_path.exists():
            return []
        with self.timings_path.open() as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def ready_session(self, learner, lab_slug: str, *, seconds: float = 60):
        """Start the lab for learner through the worker and wait until it is ready."""
        from labplatform.labsessions import services
        from labplatform.labsessions.models import LabSession

        session, _ = services.session_start(learner=learner, lab_slug=lab_slug)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            session.refresh_from_db()
            if session.status == LabSession.Status.READY:
                return session
            if session.status == LabSession.Status.FAILED:
                raise RuntimeError(f"session {session.id} failed: {session.error}")
            time.sleep(0.05)
        raise TimeoutError(f"session {session.id} not ready within {seconds} s")

    def ready_sessions(self, learners, lab_slug: str, *, seconds: float = 300):
        """Start the lab for every learner at once and wait until all are ready."""
        from labplatform.labsessions import services
        from labplatform.labsessions.models import LabSession

        ids = [
            services.session_start(learner=learner, lab_slug=lab_slug)[0].pk
            for learner in learners
        ]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sessions = {s.pk: s for s in LabSession.objects.filter(pk__in=ids)}
            failed = [
                s for s in sessions.values() if s.status == LabSession.Status.FAILED
            ]
            if failed:
                raise RuntimeError(f"session {failed[0].id} failed: {failed[0].error}")
            if all(s.status == LabSession.Status.READY for s in sessions.values()):
                return [sessions[pk] for pk in ids]
            time.sleep(0.2)
        raise TimeoutError(f"{len(ids)} sessions not all ready within {seconds} s")
