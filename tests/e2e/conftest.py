"""Browser tests: the real platform in a real Chromium, driven by Playwright.

The platform runs for real: daphne serves labplatform.asgi in its own
process on 127.0.0.1, against the test database, the test Redis and the
local control plane that the session fixtures of tests/conftest.py start.
The Celery worker is the in-process one of tests/conftest.py. Chromium is
Debian's /usr/bin/chromium; every test here carries the ``e2e`` marker
and runs by default (deselect with ``-m "not e2e"``).

Fixtures for writing another browser test:

``live_server_url``
    Base URL of the running platform, such as ``http://127.0.0.1:41234``.
    The server starts once for this package. When a test fails, the tail
    of its log is added to the report.
``page_for(user)``
    A new Chromium page, already logged in as that user (through a real
    session cookie, so any user works, staff included). Pass
    ``permissions=["clipboard-read", "clipboard-write"]`` for clipboard
    access. Pages close after the test.
``new_page()``
    A new page with no login, for signing up through the page.
``dedicated_cluster``
    A pool cluster (an extra local control plane) registered for labs
    with placement "dedicated", such as container-escape.

Every test here uses the transactional test database, because the
server process reads what the test writes. Lab sessions still live at
the end of a test are ended, which deletes their namespaces, unless
LABPLATFORM_TEST_KEEP_NAMESPACES=1.

Helpers in tests/e2e/browser.py: ``LabTerminal(page)`` types into the
lab page's xterm.js terminal (``type``, ``run``), waits on its rendered
rows (``wait_for_text``, ``wait_for_prompt``) and finds text on screen
(``locate``). For another terminal on a page, such as an instructor's
read-only view, pass its element and window property:
``LabTerminal(page, root="#watch-terminal", handle="labWatch")``.
``launch_chromium`` starts the browser.
"""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from .browser import launch_chromium

REPO = Path(__file__).resolve().parent.parent.parent
SERVER_START_SECONDS = 30
LOG_TAIL_BYTES = 6000


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("platform_server")
    if report.failed and server is not None:
        report.sections.append(("daphne log (tail)", server.log_tail()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(settings_dict: dict) -> str:
    """Return a LABPLATFORM_DATABASE_URL naming the test database."""
    from urllib.parse import quote

    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"


class PlatformServer:
    """daphne serving the platform in a child process, logging to a file."""

    def __init__(self, *, port: int, environment: dict, log_path: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.environment = environment
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "labplatform.asgi:application",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"daphne exited with code {self.process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(
            f"daphne did not answer on {self.url} within {SERVER_START_SECONDS} s:\n"
            + self.log_tail()
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
            return log.read().decode("utf-8", "replace")


@pytest.fixture(scope="package")
def platform_server(
    redis_url, control_plane, celery_worker_thread, django_db_setup, tmp_path_factory
):
    from django.conf import settings
    from django.db import connection

    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LABPLATFORM_DATABASE_URL": _database_url(connection.settings_dict),
        "LABPLATFORM_REDIS_URL": redis_url,
        "LABPLATFORM_KUBECONFIG": str(control_plane.kubeconfig_path),
        "LABPLATFORM_AUDIT_LOG_PATH": str(control_plane.audit_log_path),
        "LABPLATFORM_KUBECTL": str(control_plane.kubectl_path),
        "LABPLATFORM_TERMINAL_WORKSPACE_DIR": str(settings.TERMINAL_WORKSPACE_DIR),
        "LABPLATFORM_RECORDINGS_DIR": str(tmp_path_factory.mktemp("recordings")),
        "LABPLATFORM_DEBUG": "false",
    }
    server = PlatformServer(
        port=_free_port(),
        environment=environment,
        log_path=tmp_path_factory.mktemp("daphne") / "daphne.log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_server_url(platform_server) -> str:
    return platform_server.url


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, so
    # Django would refuse every ORM call a test or fixture makes here. The
    # test code is plain synchronous code, so the guard is lifted while the
    # browser lives. The server process keeps the guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = launch_chromium(playwright)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def end_lab_sessions(transactional_db, keep_namespaces):
    """End the lab sessions a test left running, deleting their namespaces."""
    yield
    if keep_namespaces:
        return
    from django.db import connection

    from labplatform.labsessions import services
    from labplatform.labsessions.models import LabSession

    def end_all():
        try:
            for session in LabSession.objects.exclude(status=LabSession.Status.ENDED):
                services.session_end(session_id=session.pk, reason="ended by the test")
        finally:
            connection.close()

    # session_end notifies terminals through async_to_sync, which cannot run
    # in this thread while Playwright's event loop is running in it.
    worker = threading.Thread(target=end_all, name="e2e-end-sessions")
    worker.start()
    worker.join(timeout=60)


@pytest.fixture
def new_page(browser, live_server_url):
    """Open pages in fresh browser contexts, closed after the test."""
    contexts = []

    def open_page(*, permissions: list[str] | None = None):
        context = browser.new_context(
            base_url=live_server_url, viewport={"width": 1440, "height": 1000}
        )
        if permissions:
            context.grant_permissions(permissions, origin=live_server_url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page_for(new_page, live_server_url):
    """Open a page logged in as the given user."""
    from django.conf import settings
    from django.test import Client

    def open_page(user, *, permissions: list[str] | None = None):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page = new_page(permissions=permissions)
        page.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": cookie.value,
                    "url": live_server_url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        return page

    return open_page


@pytest.fixture(scope="package")
def pool_control_plane(control_plane, tmp_path_factory):
    from labplatform.cluster.localcp import LocalControlPlane

    plane = LocalControlPlane(
        data_dir=tmp_path_factory.mktemp("pool-plane"), bin_dir=control_plane.bin_dir
    )
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def dedicated_cluster(pool_control_plane, transactional_db):
    from labplatform.labsessions.models import PoolCluster

    return PoolCluster.objects.create(
        name="e2e-dedicated", kubeconfig_path=str(pool_control_plane.kubeconfig_path)
    )
