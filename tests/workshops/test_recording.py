"""Terminal recordings: asciicast v2 files with a size cap per terminal and session."""

import json

import pytest
from django.utils import timezone

from labplatform.labsessions.models import LabSession
from labplatform.terminal.models import TerminalRecording
from labplatform.terminal.recording import (
    CAP_REACHED_MARKER,
    Recorder,
    read_events,
    recording_path,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(make_user, make_workshop, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    rita = make_user("rita")
    return LabSession.objects.create(
        learner=rita,
        workshop=make_workshop("recorded", members=[rita]),
        lab_slug="harden-container",
        namespace="lab-rita-harden-container-0000abcd",
        status=LabSession.Status.READY,
        expires_at=timezone.now(),
    )


def lines_of(recorder: Recorder) -> list:
    text = recording_path(recorder.recording).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_recording_is_asciicast_v2_with_output_and_resizes(session):
    recorder = Recorder.open(session=session, width=100, height=30)
    recorder.output(b"$ echo caf\xc3")  # the "é" is split across chunks
    recorder.output(b"\xa9\r\n")
    recorder.resize(120, 40)
    recorder.close()

    header, *events = lines_of(recorder)
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (100, 30)
    assert header["timestamp"] > 0
    texts = [data for _, code, data in events if code == "o"]
    assert "".join(texts) == "$ echo café\r\n"
    assert [data for _, code, data in events if code == "r"] == ["120x40"]
    times = [event[0] for event in events]
    assert times == sorted(times)
    row = TerminalRecording.objects.get()
    assert row.ended_at is not None and not row.truncated
    assert row.size_bytes == recording_path(row).stat().st_size


def test_recording_stops_at_its_cap_with_a_marker(session, settings):
    settings.RECORDING_MAX_BYTES = 4096
    recorder = Recorder.open(session=session, width=80, height=24)
    for _ in range(200):
        recorder.output(b"y\n" * 50)
    recorder.close()

    row = TerminalRecording.objects.get()
    size = recording_path(row).stat().st_size
    assert row.truncated
    assert size <= 4096 + 200
    assert lines_of(recorder)[-1][1:] == ["m", CAP_REACHED_MARKER]


def test_session_cap_prunes_oldest_recordings(session, settings):
    settings.RECORDING_MAX_BYTES = 3000
    settings.RECORDING_MAX_BYTES_PER_SESSION = 7000
    kept = []
    for index in range(4):
        recorder = Recorder.open(session=session, width=80, height=24)
        recorder.output(f"terminal {index} ".encode() * 200)
        recorder.close()
        kept.append(recorder.recording.pk)

    remaining = list(
        TerminalRecording.objects.filter(session=session)
        .order_by("started_at")
        .values_list("pk", flat=True)
    )
    assert remaining == kept[-2:]
    assert sum(r.size_bytes for r in TerminalRecording.objects.all()) <= 7000
    files = list((settings.RECORDINGS_DIR / str(session.id)).iterdir())
    assert len(files) == 2


def test_recording_files_are_private_and_never_follow_links(session, settings):
    recorder = Recorder.open(session=session, width=80, height=24)
    recorder.close()
    path = recording_path(recorder.recording)

    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700

    # A link planted where the next recording goes is not written through.
    target = settings.RECORDINGS_DIR / "elsewhere"
    row = TerminalRecording(session=session)
    row.file_name = f"{session.id}/{row.id}.cast"
    (settings.RECORDINGS_DIR / row.file_name).symlink_to(target)
    with pytest.raises(OSError):
        Recorder(row, max_bytes=1000)
    assert not target.exists()


def test_reader_leaves_a_half_written_line_for_later(tmp_path):
    path = tmp_path / "live.cast"
    path.write_text('{"version": 2}\n[0.1, "o", "one"]\n[0.2, "o", "tw')

    events, offset = read_events(path, 0)
    assert events[1] == [0.1, "o", "one"]
    with open(path, "a") as handle:
        handle.write('o"]\n')
    more, _ = read_events(path, offset)
    assert more == [[0.2, "o", "two"]]
