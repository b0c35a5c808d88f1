"""Record what a terminal prints as asciicast v2, for instructors' replay.

One file per terminal connection, under settings.RECORDINGS_DIR. The
first line is a JSON header. Every later line is [seconds, code, data]
with code "o" for output, "r" for a resize ("COLSxROWS") and "m" for a
marker. Input is not recorded: what a learner types (a password, a
token pasted by mistake) shows up only where the shell echoes it.

Files are line-buffered, so a live watcher reading the file sees each
event as soon as it is written. Only terminals of workshop sessions are
recorded, since only a workshop's instructors may replay them.
"""

import codecs
import json
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .models import TerminalRecording

logger = logging.getLogger(__name__)

CAP_REACHED_MARKER = "recording stopped: size limit reached"
READ_BYTES = 1024 * 1024


def recordings_dir() -> Path:
    return Path(settings.RECORDINGS_DIR)


def recording_path(recording: TerminalRecording) -> Path:
    return recordings_dir() / recording.file_name


def _stored_bytes(recording: TerminalRecording) -> int:
    """Return the recording's size, from the file while it is being written.

    A live row stores 0 bytes until its terminal closes, and a web process
    that died never closes it, so the file is the only true count.
    """
    if not recording.is_live:
        return recording.size_bytes
    try:
        return recording_path(recording).stat().st_size
    except FileNotFoundError:
        return 0


def _prune(recordings, *, limit: int, room_for: int, owner: str) -> None:
    """Delete the oldest finished recordings until room_for more bytes fit."""
    recordings = list(recordings.order_by("started_at"))
    total = sum(_stored_bytes(r) for r in recordings)
    for recording in recordings:
        if total + room_for <= limit:
            break
        if recording.is_live:
            continue
        recording_path(recording).unlink(missing_ok=True)
        recording.delete()
        total -= recording.size_bytes
        logger.info(
            "Deleted the oldest terminal recording of %s to stay under the "
            "%d byte limit",
            owner,
            limit,
        )


def prune_session_recordings(session, *, room_for: int) -> None:
    """Delete old recordings until room_for more bytes fit for the session
    and for its learner.

    The learner's limit counts the recordings of every session they had,
    ended ones included, so starting and ending labs over and over cannot
    fill the disk 20 MiB at a time.
    """
    _prune(
        TerminalRecording.objects.filter(session=session),
        limit=settings.RECORDING_MAX_BYTES_PER_SESSION,
        room_for=room_for,
        owner=f"session {session.id}",
    )
    if session.learner_id is not None:
        _prune(
            TerminalRecording.objects.filter(session__learner_id=session.learner_id),
            limit=settings.RECORDING_MAX_BYTES_PER_LEARNER,
            room_for=room_for,
            owner=f"learner id {session.learner_id}",
        )


class Recorder:
    """Write one terminal's output to an asciicast v2 file, up to max_bytes.

    The end marker written at the cap may take the file a line past it.
    """

    def __init__(self, recording: TerminalRecording, *, max_bytes: int):
        self.recording = recording
        self.max_bytes = max_bytes
        self.size = 0
        self.truncated = False
        self.started = time.monotonic()
        # Output arrives in chunks that may split a UTF-8 character.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        path = recording_path(recording)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        self.file = open(descriptor, "w", encoding="utf-8", buffering=1)
        header = {
            "version": 2,
            "width": recording.width,
            "height": recording.height,
            "timestamp": int(recording.started_at.timestamp()),
            "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"},
            "title": f"{recording.session.lab_slug} ({recording.session.namespace})",
        }
        self._write(json.dumps(header) + "\n", force=True)

    @classmethod
    def open(cls, *, session, width: int, height: int) -> "Recorder | None":
        """Create the database row and the file; call from sync code.

        Return None for a session outside any workshop, because no
        instructor may replay its recording and its learner was never
        informed of one.
        """
        if session.workshop_id is None:
            return None
        max_bytes = settings.RECORDING_MAX_BYTES
        prune_session_recordings(session, room_for=max_bytes)
        recording = TerminalRecording(session=session, width=width, height=height)
        recording.file_name = f"{session.id}/{recording.id}.cast"
        recording.started_at = timezone.now()
        recording.save()
        return cls(recording, max_bytes=max_bytes)

    def _elapsed(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def _write(self, line: str, *, force: bool = False) -> None:
        if self.file is None or self.truncated:
            return
        size = len(line.encode("utf-8"))
        if not force and self.size + size > self.max_bytes:
            marker = json.dumps([self._elapsed(), "m", CAP_REACHED_MARKER]) + "\n"
            self.file.write(marker)
            self.size += len(marker)
            self.truncated = True
            logger.info(
                "Terminal recording %s of session %s reached its %d byte limit",
                self.recording.id,
                self.recording.session_id,
                self.max_bytes,
            )
            return
        self.file.write(line)
        self.size += size

    def output(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            self._write(json.dumps([self._elapsed(), "o", text]) + "\n")

    def resize(self, cols: int, rows: int) -> None:
        self._write(json.dumps([self._elapsed(), "r", f"{cols}x{rows}"]) + "\n")

    def close(self) -> None:
        """Close the file and store its size; call from sync code."""
        if self.file is None:
            return
        tail = self.decoder.decode(b"", final=True)
        if tail:
            self._write(json.dumps([self._elapsed(), "o", tail]) + "\n")
        self.file.close()
        self.file = None
        TerminalRecording.objects.filter(pk=self.recording.pk).update(
            size_bytes=self.size, truncated=self.truncated, ended_at=timezone.now()
        )


def read_events(path: Path, offset: int) -> tuple[list, int]:
    """Read complete event lines from offset; return them and the new offset.

    A line still being written (no newline yet) is left for the next read.
    """
    # One output chunk can make a line of several MiB (control characters
    # grow sixfold as JSON escapes), but never longer than the cap.
    max_line = settings.RECORDING_MAX_BYTES + READ_BYTES
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(READ_BYTES)
            while b"\n" not in chunk and len(chunk) < max_line:
                more = handle.read(READ_BYTES)
                if not more:
                    break
                chunk += more
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    events = []
    for line in chunk[: end + 1].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + end + 1
