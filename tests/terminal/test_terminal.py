"""The terminal websocket: who may attach, and a real shell with kubectl."""

import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from .wsclient import TerminalClient, handshake_headers

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

ORIGIN = "http://testserver"


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def owner_cookie(session) -> str:
    return cookie_for(session.learner)


def path_for(session) -> str:
    return f"/ws/sessions/{session.id}/terminal/"


def workspace_of(session) -> Path:
    return Path(settings.TERMINAL_WORKSPACE_DIR) / str(session.id)


async def _refused(path: str, headers) -> int | None:
    client = TerminalClient(path, headers)
    connected, code = await client.connect()
    await client.communicator.wait()
    assert connected is False
    return code


@pytest.mark.asyncio
async def test_other_learner_is_refused(ready_session, make_learner):
    intruder = await sync_to_async(make_learner)("mallory")
    cookie = await sync_to_async(cookie_for)(intruder)

    code = await _refused(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )

    assert code == 4403
    assert not workspace_of(ready_session).exists()


@pytest.mark.asyncio
async def test_anonymous_is_refused(ready_session):
    code = await _refused(
        path_for(ready_session), handshake_headers(cookie=None, origin=ORIGIN)
    )

    assert code == 4403
    assert not workspace_of(ready_session).exists()


@pytest.mark.asyncio
async def test_unknown_session_is_refused(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)

    code = await _refused(
        "/ws/sessions/00000000-0000-0000-0000-000000000000/terminal/",
        handshake_headers(cookie=cookie, origin=ORIGIN),
    )

    assert code == 4403


@pytest.mark.asyncio
@pytest.mark.parametrize("origin", ["http://evil.example", None, "null", "testserver"])
async def test_foreign_or_missing_origin_is_refused(ready_session, origin):
    cookie = await sync_to_async(owner_cookie)(ready_session)

    code = await _refused(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=origin)
    )

    assert code == 4403
    assert not workspace_of(ready_session).exists()


@pytest.mark.asyncio
async def test_shell_uses_learner_namespace(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    connected, _ = await client.connect()
    assert connected

    whoami = await client.run(
        "kubectl auth whoami -o jsonpath='{.status.userInfo.username}'"
    )
    namespace = await client.run(
        "kubectl config view --minify -o jsonpath='{..namespace}'"
    )
    identity = await client.run("id -u")
    await client.close()

    assert f"system:serviceaccount:{ready_session.namespace}:learner" in whoami
    assert ready_session.namespace in namespace
    assert "1000" in identity


@pytest.mark.asyncio
async def test_resize_changes_stty_size(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()

    for bad in (
        {"cols": 0, "rows": 0},
        {"cols": None, "rows": 40},
        {"cols": "wide", "rows": 40},
        {"cols": 100000, "rows": 100000},
    ):
        await client.send_json({"type": "resize", **bad})
    await client.send_json({"type": "resize", "cols": 120, "rows": 40})
    await asyncio.sleep(0.2)
    size = await client.run("stty size")
    await client.close()

    assert "40 120" in size


@pytest.mark.asyncio
async def test_closing_socket_ends_shell(ready_session):
    import subprocess

    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("sleep 1000 & true")
    marker = str(workspace_of(ready_session))

    def sandbox_running() -> bool:
        listing = subprocess.run(
            ["ps", "-ww", "-eo", "args"], capture_output=True, text=True
        )
        return marker in listing.stdout

    assert await sync_to_async(sandbox_running)()
    await client.close()
    for _ in range(50):
        if not await sync_to_async(sandbox_running)():
            break
        await asyncio.sleep(0.1)

    assert not await sync_to_async(sandbox_running)()


@pytest.mark.asyncio
async def test_lab_submit_stores_configmap(ready_session):
    from labplatform.cluster import kube

    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("printf 'FROM scratch\\nUSER 65532\\n' > Dockerfile")
    submitted = await client.run("lab submit Dockerfile")
    missing = await client.run("lab submit nothing-here")
    await client.close()

    assert "Submitted Dockerfile" in submitted
    assert "nothing-here not found" in missing
    config_map = await sync_to_async(kube.get)(
        "v1", "ConfigMap", "lab-submission", ready_session.namespace
    )
    assert config_map["data"]["Dockerfile"] == "FROM scratch\nUSER 65532\n"


@pytest.mark.asyncio
async def test_idle_terminal_stays_connected(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()

    # Longer than the channel layer's 5 s blocking read of Redis.
    await asyncio.sleep(7)
    still_there = await client.run("echo alive-$((20 + 22))")
    await client.close()

    assert "alive-42" in still_there


@pytest.mark.asyncio
async def test_foreign_host_is_refused(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)

    code = await _refused(
        path_for(ready_session),
        handshake_headers(
            cookie=cookie, origin="http://evil.example:8000", host="evil.example:8000"
        ),
    )

    assert code == 4403


@pytest.mark.asyncio
async def test_logout_closes_terminal(ready_session):
    http = Client()
    await sync_to_async(http.force_login)(
        await sync_to_async(lambda: ready_session.learner)()
    )
    cookie = f"sessionid={http.cookies['sessionid'].value}"
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("true")

    await sync_to_async(http.post)("/accounts/logout/")
    closed = None
    for _ in range(100):
        frame = await client.communicator.receive_output(timeout=10)
        if frame["type"] == "websocket.close":
            closed = frame
            break

    assert closed is not None
    assert closed["code"] == 4410


@pytest.mark.asyncio
async def test_idle_timeout_closes_terminal(ready_session, settings):
    settings.TERMINAL_IDLE_SECONDS = 2
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("true")

    closed = None
    for _ in range(200):
        frame = await client.communicator.receive_output(timeout=10)
        if frame["type"] == "websocket.close":
            closed = frame
            break

    assert closed is not None
    assert closed["code"] == 4408


@pytest.mark.asyncio
async def test_invalid_and_split_bytes_pass_through(ready_session):
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()

    await client.run("printf 'A\\377B\\342\\202'; sleep 0.3; printf '\\254C'")
    still_up = await client.run("echo up-$((1 + 1))")
    await client.close()

    assert b"A\xffB\xe2\x82\xacC" in bytes(client.output)
    assert "up-2" in still_up


@pytest.mark.asyncio
async def test_deactivated_account_loses_terminal(ready_session, monkeypatch):
    from django.contrib.auth import get_user_model

    from labplatform.terminal import consumers

    monkeypatch.setattr(consumers, "REVALIDATE_SECONDS", 0.5)
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("true")

    await sync_to_async(
        get_user_model().objects.filter(pk=ready_session.learner_id).update
    )(is_active=False)
    closed = None
    for _ in range(200):
        frame = await client.communicator.receive_output(timeout=10)
        if frame["type"] == "websocket.close":
            closed = frame
            break

    assert closed is not None
    assert closed["code"] == 4410
