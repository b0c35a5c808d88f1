"""Workshop features attacked by a hostile learner or another workshop's
instructor: join code guessing, enrolling other people's learners, account
pages under /sso/, recordings filling the disk, and rights that end while
a socket is open."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from labplatform.labsessions.models import LabSession
from labplatform.ratelimit import Limit
from labplatform.terminal.models import TerminalRecording
from labplatform.terminal.recording import Recorder, read_events, recording_path
from labplatform.workshops import services
from labplatform.workshops.models import Membership

pytestmark = pytest.mark.django_db

WRONG_CODE = "ZZZZ2222"


def _post_code(client, code: str):
    return client.post("/join/", {"code": code})


# Join codes


def test_wrong_codes_lock_the_learner_out(make_user, make_workshop, client_for):
    workshop = make_workshop("kube-101")
    guesser = make_user("guesser")
    client = client_for(guesser)

    for _ in range(services.JOIN_FAILURES_PER_LEARNER.attempts):
        answer = _post_code(client, WRONG_CODE)
        assert answer.status_code == 200
        assert b"No workshop has this code" in answer.content

    # Even the right code is not looked up now, or it would confirm a guess.
    answer = _post_code(client, workshop.join_code)
    assert answer.status_code == 429
    assert b"Too many wrong join codes" in answer.content
    assert not Membership.objects.filter(learner=guesser).exists()


def test_lockout_spares_other_learners(make_user, make_workshop, client_for):
    workshop = make_workshop("kube-101")
    client = client_for(make_user("guesser"))
    for _ in range(services.JOIN_FAILURES_PER_LEARNER.attempts):
        _post_code(client, WRONG_CODE)

    honest = make_user("honest")
    answer = _post_code(client_for(honest), workshop.join_code)

    assert answer.status_code == 302
    assert Membership.objects.filter(learner=honest, workshop=workshop).exists()


def test_join_link_lookups_are_counted(make_user, make_workshop, client_for):
    workshop = make_workshop("secret-class", title="Secret class")
    client = client_for(make_user("prober"))

    for number in range(services.JOIN_FAILURES_PER_LEARNER.attempts):
        assert client.get(f"/join/ZZZZ{number:04d}/").status_code == 200

    answer = client.get(f"/join/{workshop.join_code}/")
    assert answer.status_code == 429
    assert b"Secret class" not in answer.content


def test_many_accounts_share_the_address_limit(
    make_user, make_workshop, client_for, monkeypatch
):
    workshop = make_workshop("kube-101")
    monkeypatch.setattr(
        services,
        "JOIN_FAILURES_PER_ADDRESS",
        Limit("join-code-address", attempts=4, window_seconds=60),
    )
    for number in range(2):
        client = client_for(make_user(f"sock-{number}"))
        _post_code(client, WRONG_CODE)
        _post_code(client, WRONG_CODE)

    fresh = make_user("sock-fresh")
    answer = _post_code(client_for(fresh), workshop.join_code)

    assert answer.status_code == 429
    assert not Membership.objects.filter(learner=fresh).exists()


def test_blank_and_right_codes_are_not_counted(make_user, make_workshop, client_for):
    workshop = make_workshop("kube-101")
    learner = make_user("typo")
    client = client_for(learner)

    for _ in range(services.JOIN_FAILURES_PER_LEARNER.attempts + 2):
        client.get(f"/join/{workshop.join_code}/")
        _post_code(client, " - ")

    assert _post_code(client, workshop.join_code).status_code == 302
    assert Membership.objects.filter(learner=learner).exists()


def test_ended_workshop_refuses_a_join(make_user, make_workshop, client_for):
    now = timezone.now()
    workshop = make_workshop(
        "last-week", starts_at=now - timedelta(days=8), ends_at=now - timedelta(days=7)
    )
    learner = make_user("late")

    answer = _post_code(client_for(learner), workshop.join_code)

    assert b"has ended" in answer.content
    assert not Membership.objects.filter(learner=learner).exists()


# CSV import


def _upload(client, workshop, text: str):
    return client.post(
        f"/instruct/{workshop.slug}/import/",
        {"file": SimpleUploadedFile("l.csv", text.encode(), content_type="text/csv")},
    )


def test_import_cannot_take_another_workshops_learner(
    make_user, make_workshop, client_for
):
    alice = make_user("alice", instructor=True)
    mallory = make_user("mallory", instructor=True)
    ann = make_user("ann", email="ann@example.org")
    make_workshop("alice-class", instructors=[alice], members=[ann])
    mine = make_workshop("mallory-class", instructors=[mallory])

    answer = _upload(
        client_for(mallory),
        mine,
        "username,email\nann,ann@example.org\nnew,new@example.org\n",
    )

    result = answer.context["result"]
    assert result.errors == []
    assert result.not_added == ["ann"]
    assert b"Send them the join code" in answer.content
    assert not Membership.objects.filter(workshop=mine, learner=ann).exists()
    assert Membership.objects.filter(workshop=mine, learner__username="new").exists()
    # Ann's next lab would otherwise count in Mallory's workshop.
    assert services.workshop_for_lab(learner=ann, lab_slug="pod-security-standards")


def test_import_counts_no_seat_for_accounts_left_out(
    make_user, make_workshop, client_for
):
    teacher = make_user("teacher", instructor=True)
    make_user("stranger", email="stranger@example.org")
    workshop = make_workshop("small", instructors=[teacher], capacity=1)

    answer = _upload(
        client_for(teacher),
        workshop,
        "username,email\nstranger,stranger@example.org\nkim,kim@example.org\n",
    )

    assert answer.context["result"].errors == []
    assert list(workshop.memberships.values_list("learner__username", flat=True)) == [
        "kim"
    ]


def test_import_hashes_passwords_outside_the_transaction(
    make_user, make_workshop, client_for, monkeypatch
):
    """An open write transaction on SQLite blocks every other write on the
    site, and hashing takes about 0.3 s per account."""
    import django.contrib.auth.base_user as base_user
    from django.contrib.auth import hashers
    from django.db import connection

    teacher = make_user("teacher", instructor=True)
    workshop = make_workshop("kube-101", instructors=[teacher])
    # The test runs inside a transaction already; the import's own adds a
    # savepoint, so count the savepoints open around each hash.
    outer_depth = len(connection.savepoint_ids)
    depths = []

    def counting_make_password(password, *args, **kwargs):
        depths.append(len(connection.savepoint_ids))
        return hashers.make_password(password, *args, **kwargs)

    monkeypatch.setattr(base_user, "make_password", counting_make_password)
    monkeypatch.setattr(services, "make_password", counting_make_password)

    answer = _upload(
        client_for(teacher), workshop, "username,email\nk1,k1@example.org\n"
    )

    assert len(answer.context["result"].created) == 1
    assert depths == [outer_depth]
    user = get_user_model().objects.get(username="k1")
    assert user.check_password(answer.context["result"].created[0][1])


# Terminal recordings


@pytest.fixture
def recorded_learner(make_user, make_workshop, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    learner = make_user("flooder")
    workshop = make_workshop("flood-class", members=[learner])
    return learner, workshop


def _ended_session(learner, workshop, number: int):
    return LabSession.objects.create(
        learner=learner,
        workshop=workshop,
        lab_slug="harden-container",
        namespace=f"lab-flooder-harden-{number:08d}",
        status=LabSession.Status.ENDED,
        expires_at=timezone.now(),
    )


def _record(session, text: bytes):
    recorder = Recorder.open(session=session, width=80, height=24)
    recorder.output(text)
    recorder.close()
    return recorder.recording


def test_repeated_lab_ends_cannot_fill_disk(recorded_learner, settings):
    learner, workshop = recorded_learner
    settings.RECORDING_MAX_BYTES = 3000
    settings.RECORDING_MAX_BYTES_PER_SESSION = 7000
    settings.RECORDING_MAX_BYTES_PER_LEARNER = 10000
    made = [
        _record(_ended_session(learner, workshop, number), b"y" * 2500)
        for number in range(8)
    ]

    kept = TerminalRecording.objects.filter(session__learner=learner)
    assert sum(r.size_bytes for r in kept) <= 10000
    assert {r.pk for r in kept} == {r.pk for r in made[-3:]}
    files = [p for p in settings.RECORDINGS_DIR.rglob("*.cast")]
    assert len(files) == 3


def test_open_recordings_count_by_file_size(recorded_learner, settings):
    """A recording still open, or left open by a web process that died,
    stores 0 bytes in its row, but its file size still counts."""
    learner, workshop = recorded_learner
    settings.RECORDING_MAX_BYTES = 3000
    settings.RECORDING_MAX_BYTES_PER_SESSION = 100000
    settings.RECORDING_MAX_BYTES_PER_LEARNER = 7000
    session = _ended_session(learner, workshop, 1)
    oldest = _record(session, b"a" * 2500)
    for _ in range(2):
        stuck = Recorder.open(session=session, width=80, height=24)
        stuck.output(b"b" * 2500)  # never closed

    Recorder.open(session=session, width=80, height=24).close()

    assert not TerminalRecording.objects.filter(pk=oldest.pk).exists()


def test_no_recording_outside_a_workshop(make_user, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    session = LabSession.objects.create(
        learner=make_user("solo"),
        lab_slug="harden-container",
        namespace="lab-solo-harden-00000001",
        status=LabSession.Status.READY,
        expires_at=timezone.now(),
    )

    assert Recorder.open(session=session, width=80, height=24) is None
    assert not TerminalRecording.objects.exists()
    assert not settings.RECORDINGS_DIR.exists()


def test_watcher_reads_past_long_line(recorded_learner, settings):
    """Control characters grow sixfold as JSON escapes, so one output chunk
    can make a line of several MiB; the live view must not stall on it."""
    learner, workshop = recorded_learner
    settings.RECORDING_MAX_BYTES = 5 * 1024 * 1024
    session = _ended_session(learner, workshop, 1)
    recorder = Recorder.open(session=session, width=80, height=24)
    recorder.output(b"\x01" * 300_000)
    recorder.output(b"after the flood\r\n")
    recorder.close()

    outputs, offset = [], 0
    for _ in range(5):
        events, offset = read_events(recording_path(recorder.recording), offset)
        outputs += [event[2] for event in events if isinstance(event, list)]
    assert outputs[-1] == "after the flood\r\n"
    assert len(outputs[0]) == 300_000


# Sockets


HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def socket_world(make_user, make_workshop, monkeypatch):
    from labplatform.workshops import consumers

    monkeypatch.setattr(consumers, "REVALIDATE_SECONDS", 0)
    teacher = make_user("teacher", instructor=True)
    learner = make_user(HOSTILE)  # as an admin or a provider could name one
    workshop = make_workshop("sockets", instructors=[teacher], members=[learner])
    return teacher, learner, workshop


async def _matrix_socket(teacher, workshop):
    from .test_live import socket_for

    socket = await socket_for(teacher, f"/ws/workshops/{workshop.slug}/matrix/")
    connected, _ = await socket.connect()
    assert connected
    return socket


@pytest.mark.django_db(transaction=True)
async def test_matrix_fragment_escapes_learner_names(socket_world):
    from asgiref.sync import sync_to_async

    from labplatform.workshops import live

    teacher, learner, workshop = socket_world
    socket = await _matrix_socket(teacher, workshop)

    await sync_to_async(live.push_learner_row)(workshop, learner.pk)
    html = await socket.receive_from(timeout=10)

    assert f'id="learner-{learner.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_matrix_socket_closes_when_rights_end(socket_world):
    from asgiref.sync import sync_to_async

    from labplatform.workshops import live

    teacher, learner, workshop = socket_world
    socket = await _matrix_socket(teacher, workshop)
    await sync_to_async(workshop.instructors.remove)(teacher)

    await sync_to_async(live.push_learner_row)(workshop, learner.pk)
    message = await socket.receive_output(timeout=10)

    assert message["type"] == "websocket.close"
    assert message["code"] == 4403
    await socket.wait()


# Warm pool and export


PSS = "pod-security-standards"


def _pooled_environment(workshop):
    return LabSession.objects.create(
        learner=None,
        workshop=workshop,
        lab_slug=PSS,
        namespace=f"lab-pool-pss-{workshop.pk:08d}",
        status=LabSession.Status.READY,
        expires_at=workshop.ends_at,
    )


def test_outsider_never_claims_a_pooled_environment(make_user, make_workshop):
    from labplatform.labsessions.services import session_start

    member = make_user("member")
    outsider = make_user("outsider")
    other = make_workshop("other", members=[outsider])
    workshop = make_workshop("pooled", members=[member], warm_pool_size=1)
    pooled = _pooled_environment(workshop)

    session, created = session_start(learner=outsider, lab_slug=PSS)

    assert created
    assert session.pk != pooled.pk
    assert session.workshop_id == other.pk
    pooled.refresh_from_db()
    assert pooled.learner_id is None

    claimed, _ = session_start(learner=member, lab_slug=PSS)
    assert claimed.pk == pooled.pk
    assert claimed.learner_id == member.pk


def test_export_shows_only_this_workshops_learners(
    make_user, make_workshop, client_for
):
    from labplatform.grading.models import GradingRun

    teacher = make_user("teacher", instructor=True)
    both = make_user("@SUM(1+1)", email="=HYPERLINK(evil)@example.org")
    only_b = make_user("only-b")
    mine = make_workshop("mine", instructors=[teacher], members=[both], labs=[PSS])
    theirs = make_workshop("theirs", members=[both, only_b], labs=[PSS])
    elsewhere = LabSession.objects.create(
        learner=both,
        workshop=theirs,
        lab_slug=PSS,
        namespace="lab-both-pss-00000001",
        status=LabSession.Status.READY,
        expires_at=theirs.ends_at,
    )
    GradingRun.objects.create(
        session=elsewhere,
        learner=both,
        lab_slug=PSS,
        status=GradingRun.Status.DONE,
        results=[{"id": "x", "title": "x", "status": "pass"}],
        passed_count=1,
        total_count=1,
    )
    client = client_for(teacher)

    text = client.get(f"/instruct/{mine.slug}/export.csv").content.decode()
    data = client.get(f"/instruct/{mine.slug}/export.json").json()

    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("'@SUM(1+1),'=HYPERLINK(evil)@example.org,")
    assert ",not_started,no," in lines[1]
    assert "only-b" not in text
    assert [learner["username"] for learner in data["learners"]] == ["@SUM(1+1)"]
    assert data["learners"][0]["labs"][PSS]["session_status"] is None


def test_import_rejects_nul_bytes(make_user, make_workshop, client_for):
    """PostgreSQL stores no NUL in text; saving one failed with a 500."""
    teacher = make_user("teacher", instructor=True)
    workshop = make_workshop("kube-101", instructors=[teacher])

    answer = _upload(
        client_for(teacher),
        workshop,
        "username,email,first_name\nnul,nul@example.org,A\x00B\n",
    )

    assert answer.status_code == 200
    assert "NUL byte (byte 47)" in answer.context["result"].errors[0]
    assert not get_user_model().objects.filter(username="nul").exists()


def test_import_rechecks_seats_taken_meanwhile(
    make_user, make_workshop, client_for, monkeypatch
):
    teacher = make_user("teacher", instructor=True)
    workshop = make_workshop("one-seat", instructors=[teacher], capacity=1)
    quick = make_user("quick")
    real_make_password = services.make_password

    def join_meanwhile(password, *args, **kwargs):
        # A learner joins with the code while passwords are hashed.
        Membership.objects.get_or_create(workshop=workshop, learner=quick)
        return real_make_password(password, *args, **kwargs)

    monkeypatch.setattr(services, "make_password", join_meanwhile)

    answer = _upload(
        client_for(teacher), workshop, "username,email\nslow,slow@example.org\n"
    )

    assert "1 seats and 1 taken" in answer.context["result"].errors[0]
    assert workshop.memberships.count() == 1
    assert not get_user_model().objects.filter(username="slow").exists()
