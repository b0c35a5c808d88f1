"""A read-only view of a learner's live terminal, for instructors.

The view follows the terminal's recording file as it is written, so it
costs the learner's terminal nothing and works from any web process that
shares RECORDINGS_DIR. It has no path to the shell at all: whatever the
browser sends on this socket is dropped.

Protocol (server to browser only): a JSON text frame {"type": "start",
"width": int, "height": int} when a recording begins (the browser clears
its screen), binary frames with output, JSON {"type": "resize", "cols",
"rows"}, {"type": "waiting"} while the learner has no terminal open, and
{"type": "ended", "message": str} before the server closes the socket.
"""

import asyncio
import json
import logging
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from labplatform.labsessions.models import LabSession
from labplatform.workshops.access import can_watch_session

from .models import TerminalRecording
from .origin import origin_problem
from .recording import read_events, recording_path

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1
# Seconds between reads of the database to notice a new or ended recording
# and rights that ended.
REFRESH_SECONDS = 1.0
CLOSE_FORBIDDEN = 4403


def _watchable_session(session_id: str, user) -> LabSession | None:
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        return None
    session = LabSession.objects.filter(pk=key).first()
    if session is None or not can_watch_session(user, session):
        return None
    return session


def _latest_recording(session_id) -> TerminalRecording | None:
    return (
        TerminalRecording.objects.filter(session_id=session_id)
        .order_by("-started_at")
        .first()
    )


def _watch_ended_reason(session_id, user_id) -> str:
    """Return why the watch must stop now (session over, rights gone), or ""."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first()
    session = LabSession.objects.filter(pk=session_id).first()
    if session is None or session.status not in LabSession.ACTIVE_STATUSES:
        return "the lab session has ended"
    if user is None or not can_watch_session(user, session):
        return "you no longer teach this learner's workshop"
    return ""


class TerminalWatchConsumer(AsyncWebsocketConsumer):
    follower = None

    async def connect(self):
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        user = self.scope.get("user")
        problem = origin_problem(dict(self.scope.get("headers", [])))
        if problem or user is None or not user.is_authenticated:
            logger.warning(
                "Terminal watch for session %s rejected: %s",
                session_id,
                problem or "not logged in",
            )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        session = await database_sync_to_async(_watchable_session)(session_id, user)
        if session is None:
            logger.warning(
                "Terminal watch for session %s by %s rejected: session not found "
                "or the user does not teach its workshop",
                session_id,
                user.get_username(),
            )
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.session = session
        await self.accept()
        logger.info(
            "Instructor %s is watching the terminal of namespace %s",
            user.get_username(),
            session.namespace,
        )
        self.follower = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        current = None
        offset = 0
        since_refresh = REFRESH_SECONDS
        waiting_sent = False
        while True:
            if since_refresh >= REFRESH_SECONDS:
                since_refresh = 0.0
                latest = await database_sync_to_async(_latest_recording)(
                    self.session.id
                )
                if latest is not None and (current is None or latest.pk != current.pk):
                    if latest.is_live or current is None:
                        current, offset = latest, 0
                        waiting_sent = False
                        await self._send_json(
                            {
                                "type": "start",
                                "width": current.width,
                                "height": current.height,
                            }
                        )
                elif latest is not None:
                    current = latest
                if (current is None or not current.is_live) and not waiting_sent:
                    await self._send_json({"type": "waiting"})
                    waiting_sent = True
                reason = await database_sync_to_async(_watch_ended_reason)(
                    self.session.id, self.scope["user"].pk
                )
                if reason:
                    await self._send_json({"type": "ended", "message": reason})
                    await self.close()
                    return
            if current is not None:
                events, offset = await asyncio.to_thread(
                    read_events, recording_path(current), offset
                )
                for event in events:
                    await self._send_event(event)
            await asyncio.sleep(POLL_SECONDS)
            since_refresh += POLL_SECONDS

    async def _send_event(self, event) -> None:
        if not isinstance(event, list) or len(event) != 3:
            return  # the header line
        _, code, data = event
        if code == "o" and isinstance(data, str):
            await self.send(bytes_data=data.encode("utf-8"))
        elif code == "r" and isinstance(data, str) and "x" in data:
            cols, _, rows = data.partition("x")
            if cols.isdigit() and rows.isdigit():
                await self._send_json(
                    {"type": "resize", "cols": int(cols), "rows": int(rows)}
                )

    async def _send_json(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message))

    async def receive(self, text_data=None, bytes_data=None):
        # Read-only: nothing the browser sends reaches the learner's shell.
        return

    async def disconnect(self, code):
        if self.follower is not None:
            self.follower.cancel()
            self.follower = None
