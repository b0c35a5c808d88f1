"""Live status for a lab page: provisioning progress and grading results.

The page connects with htmx's websocket extension; every message is HTML
whose elements carry hx-swap-oob, so htmx swaps them in place by id.
"""

import logging
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from labplatform.terminal.origin import origin_problem
from labplatform.workshops.models import learners_group_for

from .models import LabSession

logger = logging.getLogger(__name__)


def _owned_session(session_id: str, user) -> LabSession | None:
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        return None
    return LabSession.objects.filter(pk=key, learner_id=user.pk).first()


class SessionStatusConsumer(AsyncWebsocketConsumer):
    group = None
    workshop_group = None

    async def connect(self):
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        user = self.scope.get("user")
        problem = origin_problem(dict(self.scope.get("headers", [])))
        if problem or user is None or not user.is_authenticated:
            logger.warning(
                "Status socket for session %s rejected: %s",
                session_id,
                problem or "not logged in",
            )
            await self.close(code=4403)
            return
        session = await database_sync_to_async(_owned_session)(session_id, user)
        if session is None:
            logger.warning(
                "Status socket for session %s rejected: not owned by %s",
                session_id,
                user.get_username(),
            )
            await self.close(code=4403)
            return
        self.group = session.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        if session.workshop_id is not None:
            # Broadcast messages from the workshop's instructors.
            self.workshop_group = learners_group_for(session.workshop_id)
            await self.channel_layer.group_add(self.workshop_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.workshop_group:
            await self.channel_layer.group_discard(
                self.workshop_group, self.channel_name
            )

    async def receive(self, text_data=None, bytes_data=None):
        # The page only listens on this socket.
        return

    async def live_html(self, event):
        await self.send(text_data=event["html"])

    async def session_closed(self, event):
        return
