"""Workshops against the real stack: live matrix, watching a terminal,
instructor actions and broadcasts, with real sessions in the local
control plane, the real Celery worker and the real websocket routing."""

import asyncio
import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from labplatform.asgi import application
from labplatform.grading import services as grading
from labplatform.labsessions.models import LabSession
from labplatform.terminal.models import TerminalRecording
from labplatform.workshops import services as workshop_services

from ..fixtures import learner_token, wait_until_ready
from ..helpers import kubectl, wait_for
from ..terminal.wsclient import TerminalClient, handshake_headers

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

ORIGIN = "http://testserver"
PSS = "pod-security-standards"


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def socket_for(user, path: str, *, origin=ORIGIN) -> WebsocketCommunicator:
    cookie = await sync_to_async(cookie_for)(user)
    communicator = WebsocketCommunicator(
        application, path, headers=handshake_headers(cookie=cookie, origin=origin)
    )
    return communicator


async def receive_html_until(communicator, pattern: str, timeout: float = 30) -> str:
    """Read text frames until one matches the regular expression."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while loop.time() < deadline:
        try:
            text = await communicator.receive_from(timeout=deadline - loop.time())
        except TimeoutError:
            break
        seen.append(text)
        if re.search(pattern, text, re.S):
            return text
    raise AssertionError(f"no frame matched {pattern!r}; got {seen[-3:]}")


@pytest.fixture
def workshop_world(make_user, make_workshop):
    teacher = make_user("tess", instructor=True)
    other_teacher = make_user("otto", instructor=True)
    learner = make_user("lena")
    workshop = make_workshop(
        "live-class", instructors=[teacher], members=[learner], labs=[PSS]
    )
    make_workshop("other-class", instructors=[other_teacher])
    return {
        "workshop": workshop,
        "teacher": teacher,
        "other_teacher": other_teacher,
        "learner": learner,
    }


@pytest.fixture
def workshop_session(workshop_world, start_ready_session, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    session = start_ready_session(workshop_world["learner"], PSS)
    assert session.workshop_id == workshop_world["workshop"].pk
    return session


async def test_matrix_cell_changes_when_a_check_passes(
    workshop_world, workshop_session, control_plane
):
    teacher = workshop_world["teacher"]
    matrix = await socket_for(teacher, "/ws/workshops/live-class/matrix/")
    connected, _ = await matrix.connect()
    assert connected

    # The learner puts the namespace on the restricted standard.
    labelled = await sync_to_async(kubectl)(
        control_plane,
        "label",
        "namespace",
        workshop_session.namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        token=await sync_to_async(learner_token)(workshop_session),
    )
    assert labelled.returncode == 0, labelled.stderr
    run = await sync_to_async(grading.grading_request)(session=workshop_session)

    row_id = f'id="learner-{workshop_world["learner"].pk}"'
    html = await receive_html_until(
        matrix,
        row_id + r'.*data-check="namespace-enforces-restricted" data-status="pass"',
    )
    assert 'hx-swap-oob="true"' in html
    assert 'id="matrix-summary"' in html
    await matrix.disconnect()
    await sync_to_async(wait_for)(
        lambda: grading.GradingRun.objects.get(pk=run.pk).status == "done",
        timeout=30,
        message="grading run to finish",
    )


@pytest.mark.parametrize("who", ["learner", "other_teacher"])
async def test_matrix_socket_refuses_non_instructors(workshop_world, who):
    matrix = await socket_for(workshop_world[who], "/ws/workshops/live-class/matrix/")
    connected, code = await matrix.connect()
    # Let the rejected consumer finish: a consumer task still waiting on
    # the channel layer when the test's event loop closes can hang there.
    await matrix.wait()

    assert not connected
    assert code == 4403


async def test_instructor_watches_read_only_and_replays(
    workshop_world, workshop_session
):
    learner_cookie = await sync_to_async(cookie_for)(workshop_world["learner"])
    terminal = TerminalClient(
        f"/ws/sessions/{workshop_session.id}/terminal/",
        handshake_headers(cookie=learner_cookie, origin=ORIGIN),
    )
    assert (await terminal.connect())[0]
    await terminal.run("echo warming-up")

    watch = await socket_for(
        workshop_world["teacher"], f"/ws/sessions/{workshop_session.id}/watch/"
    )
    assert (await watch.connect())[0]
    start = json.loads(await watch.receive_from(timeout=10))
    assert start["type"] == "start"

    await terminal.run("echo watched-$((6 * 7))")
    seen = bytearray()
    while b"watched-42" not in seen:
        frame = await watch.receive_output(timeout=10)
        if frame.get("bytes"):
            seen.extend(frame["bytes"])
    # Input sent on the watch socket never reaches the shell.
    await watch.send_to(
        text_data=json.dumps({"type": "input", "data": "touch watcher-was-here\r"})
    )
    await watch.send_to(bytes_data=b"touch watcher-was-here\r")
    await asyncio.sleep(1)
    listing = await terminal.run("ls -a ~")
    assert "watcher-was-here" not in listing

    await watch.disconnect()
    await terminal.close()

    # The closed terminal left a recording the instructor can replay.
    recording = await sync_to_async(
        lambda: TerminalRecording.objects.get(session=workshop_session)
    )()
    assert recording.ended_at is not None

    def fetch(user):
        client = Client()
        client.force_login(user)
        return client.get(f"/instruct/live-class/recordings/{recording.pk}.cast")

    response = await sync_to_async(fetch)(workshop_world["teacher"])
    body = b"".join(response.streaming_content).decode()
    assert json.loads(body.splitlines()[0])["version"] == 2
    assert "watched-42" in body
    assert "touch watcher-was-here" not in body


@pytest.mark.parametrize(
    ("who", "origin"),
    [("learner", ORIGIN), ("other_teacher", ORIGIN), ("teacher", None)],
)
async def test_watch_is_refused_to_others_and_without_origin(
    workshop_world, workshop_session, who, origin
):
    watch = await socket_for(
        workshop_world[who], f"/ws/sessions/{workshop_session.id}/watch/", origin=origin
    )
    connected, code = await watch.connect()
    await watch.wait()

    assert not connected
    assert code == 4403


def test_instructor_extends_resets_and_ends(workshop_world, workshop_session):
    client = Client()
    client.force_login(workshop_world["teacher"])
    base = f"/instruct/live-class/sessions/{workshop_session.id}"
    before = workshop_session.expires_at

    client.post(f"{base}/extend/")
    workshop_session.refresh_from_db()
    assert (workshop_session.expires_at - before).total_seconds() == pytest.approx(
        settings.SESSION_EXTEND_MINUTES * 60, abs=5
    )

    client.post(f"{base}/reset/")
    workshop_session.refresh_from_db()
    assert workshop_session.status in ("ending", "ended")
    fresh = LabSession.objects.get(
        learner=workshop_world["learner"], status__in=LabSession.LIVE_STATUSES
    )
    assert fresh.namespace != workshop_session.namespace
    assert fresh.workshop_id == workshop_world["workshop"].pk
    wait_until_ready(fresh)

    client.post("/instruct/live-class/end-all/")
    wait_for(
        lambda: (
            LabSession.objects.filter(
                workshop=workshop_world["workshop"], status="ended"
            ).count()
            == 2
        ),
        timeout=30,
        message="both sessions to end",
    )


async def test_broadcast_reaches_the_learner_page(workshop_world, workshop_session):
    status = await socket_for(
        workshop_world["learner"], f"/ws/sessions/{workshop_session.id}/status/"
    )
    assert (await status.connect())[0]

    await sync_to_async(workshop_services.broadcast_send)(
        workshop=workshop_world["workshop"],
        message="Break until 11:00 <b>sharp</b>",
        by=workshop_world["teacher"],
    )

    html = await receive_html_until(status, 'id="broadcast"')
    assert "Break until 11:00 &lt;b&gt;sharp&lt;/b&gt;" in html
    await status.disconnect()

    def banner():
        client = Client()
        client.force_login(workshop_world["learner"])
        return client.get("/progress/").content.decode()

    assert "Break until 11:00" in await sync_to_async(banner)()
