"""The terminal websocket: one learner, one session, one shell.

Protocol: the browser sends JSON text frames {"type": "input", "data": str}
and {"type": "resize", "cols": int, "rows": int}; the server sends the
shell's raw output as binary frames (xterm.js decodes UTF-8 itself, so a
character split across two frames stays intact) and JSON text frames
{"type": "exit"} or {"type": "error", "message": str}.

Flow control: after every MARK_EVERY_BYTES of output the server sends
{"type": "mark", "id": str}, a random id, and the browser replies with
{"type": "ack", "mark": id} once it has drawn everything before the
mark. Reading from the shell pauses while more than OUTPUT_WINDOW_BYTES
are sent but not acknowledged. A client only learns an id by reading
the output before it, so a client that stops reading cannot keep the
output coming by acknowledging blindly: what waits for it in the server
stays under the window.
"""

import asyncio
import collections
import json
import logging
import secrets
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .origin import origin_problem
from .recording import Recorder
from .sessions import (
    ShellStartError,
    open_shell,
    terminal_revoked_reason,
    terminal_session_for,
)

logger = logging.getLogger(__name__)

MAX_INPUT_BYTES = 64 * 1024
# Output the browser has not acknowledged yet; reading from the shell
# pauses above the window and resumes below half of it.
OUTPUT_WINDOW_BYTES = 1024 * 1024
MARK_EVERY_BYTES = 64 * 1024
# Terminals one session may have open at once in this web process.
MAX_TERMINALS_PER_SESSION = 3
_open_terminals: dict[str, int] = {}
# A ceiling per terminal so that one flood cannot take the whole web
# process from the other learners; memory is bounded by the window.
OUTPUT_RATE_BYTES_PER_SECOND = 32 * 1024 * 1024
# Close codes in the 4000 range are the application's own.
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_READY = 4409
CLOSE_SESSION_ENDED = 4410
CLOSE_TOO_MANY = 4429
CLOSE_IDLE = 4408
REVALIDATE_SECONDS = 30
CLOSE_FAILED = 4500


class TerminalConsumer(AsyncWebsocketConsumer):
    shell = None
    session = None
    recorder = None
    counted = False
    rate_window_start = 0.0
    rate_window_bytes = 0
    # Bytes sent, the offset the browser confirmed, and the marks sent
    # since, as (id, offset) in order.
    sent_bytes = 0
    confirmed_bytes = 0
    marked_bytes = 0
    marks: collections.deque | None = None

    @property
    def unacknowledged(self) -> int:
        return self.sent_bytes - self.confirmed_bytes

    async def __call__(self, scope, receive, send):
        # disconnect() is not called when the consumer dies of an
        # exception, so the shell is closed here as well.
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release_slot()
            await self._stop_recording()
            if self.shell is not None:
                shell, self.shell = self.shell, None
                await shell.close()
                logger.warning(
                    "Terminal for session %s closed after the consumer "
                    "stopped unexpectedly",
                    getattr(self.session, "id", "?"),
                )

    async def connect(self):
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        user = self.scope.get("user")
        headers = dict(self.scope.get("headers", []))
        client = (self.scope.get("client") or ["?"])[0]

        problem = origin_problem(headers)
        if problem:
            logger.warning(
                "Terminal handshake for session %s from %s rejected: %s",
                session_id,
                client,
                problem,
            )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if user is None or not user.is_authenticated:
            logger.warning(
                "Terminal handshake for session %s from %s rejected: not logged in",
                session_id,
                client,
            )
            await self.close(code=CLOSE_FORBIDDEN)
            return

        session, reason = await database_sync_to_async(terminal_session_for)(
            session_id=session_id, user=user
        )
        if session is None:
            logger.warning(
                "Terminal handshake for session %s by %s rejected: %s",
                session_id,
                user.get_username(),
                reason,
            )
            await self.close(
                code=CLOSE_FORBIDDEN if reason != "not ready" else CLOSE_NOT_READY
            )
            return

        key = str(session.id)
        if _open_terminals.get(key, 0) >= MAX_TERMINALS_PER_SESSION:
            logger.warning(
                "Terminal handshake for session %s by %s rejected: %d "
                "terminals already open",
                session.id,
                user.get_username(),
                MAX_TERMINALS_PER_SESSION,
            )
            await self.close(code=CLOSE_TOO_MANY)
            return
        _open_terminals[key] = _open_terminals.get(key, 0) + 1
        self.counted = True

        self.session = session
        self.pending_size = (80, 24)
        await self.accept()
        await self.channel_layer.group_add(session.group_name, self.channel_name)
        try:
            self.shell = await open_shell(
                session=session,
                on_output=self._send_output,
                on_exit=self._shell_exited,
            )
            await self.shell.start(cols=self.pending_size[0], rows=self.pending_size[1])
        except ShellStartError as error:
            logger.error(
                "Terminal for session %s (namespace %s) failed to start: %s",
                session.id,
                session.namespace,
                error,
            )
            await self.send(
                text_data=json.dumps({"type": "error", "message": str(error)})
            )
            await self.close(code=CLOSE_FAILED)
            return
        await self._start_recording()
        self.opened_at = self.last_input_at = time.monotonic()
        self.idle_watch = asyncio.ensure_future(self._close_when_idle())
        logger.info(
            "Terminal opened for learner %s, lab %s, namespace %s",
            user.get_username(),
            session.lab_slug,
            session.namespace,
        )

    async def _close_when_idle(self) -> None:
        """Close the terminal after TERMINAL_IDLE_SECONDS without input.

        The same loop re-checks every 30 s that the account is still active
        and the session still ready, in case the close message from a
        deactivation or the end of the session was lost.
        """
        limit = settings.TERMINAL_IDLE_SECONDS
        while self.shell is not None:
            reason = await database_sync_to_async(terminal_revoked_reason)(
                session_id=self.session.id, user_id=self.scope["user"].pk
            )
            if reason:
                logger.info(
                    "Terminal for namespace %s closed: %s",
                    self.session.namespace,
                    reason,
                )
                await self.close(code=CLOSE_SESSION_ENDED)
                return
            idle = time.monotonic() - self.last_input_at
            if idle >= limit:
                logger.info(
                    "Terminal for namespace %s closed after %d s without input",
                    self.session.namespace,
                    int(idle),
                )
                await self.send(
                    text_data=json.dumps(
                        {
                            "type": "error",
                            "message": "The terminal closed after a long time without input. "
                            "Reload the page to open a new one.",
                        }
                    )
                )
                await self.close(code=CLOSE_IDLE)
                return
            await asyncio.sleep(min(limit - idle, REVALIDATE_SECONDS) + 0.05)

    async def _start_recording(self) -> None:
        # A recording that cannot start (a full disk) never costs the
        # learner the terminal.
        try:
            self.recorder = await database_sync_to_async(Recorder.open)(
                session=self.session,
                width=self.pending_size[0],
                height=self.pending_size[1],
            )
        except Exception as error:  # noqa: BLE001 - recording is optional
            logger.warning(
                "Terminal recording for namespace %s did not start: %s",
                self.session.namespace,
                error,
            )

    def _record(self, method: str, *args) -> None:
        if self.recorder is None:
            return
        try:
            getattr(self.recorder, method)(*args)
        except OSError as error:
            logger.warning(
                "Terminal recording for namespace %s stopped: %s",
                self.session.namespace,
                error,
            )
            self.recorder = None

    async def _stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            try:
                await database_sync_to_async(recorder.close)()
            except Exception as error:  # noqa: BLE001 - recording is optional
                logger.warning(
                    "Terminal recording %s did not close cleanly: %s",
                    recorder.recording.id,
                    error,
                )

    def _release_slot(self) -> None:
        if self.counted and self.session is not None:
            key = str(self.session.id)
            _open_terminals[key] = max(0, _open_terminals.get(key, 1) - 1)
            if not _open_terminals[key]:
                del _open_terminals[key]
            self.counted = False

    def _send_output(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._record("output", data)
        self.sent_bytes += len(data)
        if self.unacknowledged > OUTPUT_WINDOW_BYTES and self.shell is not None:
            self.shell.pause_reading()
        asyncio.ensure_future(self.send(bytes_data=data))
        if self.sent_bytes - self.marked_bytes >= MARK_EVERY_BYTES:
            self._send_mark()

        now = loop.time()
        if now - self.rate_window_start >= 1:
            self.rate_window_start, self.rate_window_bytes = now, 0
        self.rate_window_bytes += len(data)
        if (
            self.rate_window_bytes > OUTPUT_RATE_BYTES_PER_SECOND
            and self.shell is not None
        ):
            self.shell.pause_reading()
            loop.call_later(
                max(0.0, 1 - (now - self.rate_window_start)),
                self._resume_after_rate_limit,
            )

    def _send_mark(self) -> None:
        if self.marks is None:
            self.marks = collections.deque()
        mark = secrets.token_urlsafe(12)
        self.marks.append((mark, self.sent_bytes))
        self.marked_bytes = self.sent_bytes
        asyncio.ensure_future(
            self.send(text_data=json.dumps({"type": "mark", "id": mark}))
        )

    def _acknowledge(self, mark) -> None:
        """Confirm output up to the mark the browser has drawn."""
        if not isinstance(mark, str) or not self.marks:
            return
        if all(known != mark for known, _ in self.marks):
            return  # unknown, already confirmed, or guessed
        while self.marks:
            known, offset = self.marks.popleft()
            self.confirmed_bytes = offset
            if known == mark:
                break
        if self.unacknowledged < OUTPUT_WINDOW_BYTES // 2:
            self.shell.resume_reading()

    def _resume_after_rate_limit(self) -> None:
        if self.shell is not None and self.unacknowledged < OUTPUT_WINDOW_BYTES // 2:
            self.shell.resume_reading()

    def _shell_exited(self, code) -> None:
        async def finish():
            await self.send(text_data=json.dumps({"type": "exit"}))
            await self.close()

        asyncio.ensure_future(finish())

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler,
        # a thread-pool round trip that doubled the keystroke echo time.
        # receive() never touches the database, so it skips the clean-up,
        # and the other handlers still get it.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.shell is None:
            return
        self.last_input_at = time.monotonic()
        if bytes_data is not None:
            # Binary frames carry raw input bytes, for clients that prefer them.
            if len(bytes_data) <= MAX_INPUT_BYTES:
                self.shell.write(bytes_data)
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "input":
            data = message.get("data")
            if isinstance(data, str) and len(data) <= MAX_INPUT_BYTES:
                self.shell.write(data.encode("utf-8", errors="replace"))
        elif kind == "ack":
            self._acknowledge(message.get("mark"))
        elif kind == "resize":
            from .backends.local import clamp_size

            size = clamp_size(message.get("cols"), message.get("rows"))
            if size is not None:
                self.shell.resize(cols=size[0], rows=size[1])
                self._record("resize", size[0], size[1])

    async def live_html(self, event):
        # Status fragments are for the status socket; the terminal ignores them.
        return

    async def session_closed(self, event):
        message = event.get("message") or "The lab session has ended."
        await self.send(text_data=json.dumps({"type": "error", "message": message}))
        await self.close(code=CLOSE_SESSION_ENDED)

    async def disconnect(self, code):
        self._release_slot()
        if getattr(self, "idle_watch", None) is not None:
            self.idle_watch.cancel()
        await self._stop_recording()
        if self.session is not None:
            await self.channel_layer.group_discard(
                self.session.group_name, self.channel_name
            )
        if self.shell is not None:
            shell, self.shell = self.shell, None
            await shell.close()
            logger.info(
                "Terminal closed for namespace %s (code %s)",
                self.session.namespace,
                code,
            )
