"""The live matrix socket: instructors of a workshop receive row updates."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from labplatform.terminal.origin import origin_problem

from .access import workshop_for_instructor

logger = logging.getLogger(__name__)


def _taught_workshop(user, slug):
    try:
        return workshop_for_instructor(user, slug)
    except (PermissionDenied, Http404):
        return None


class WorkshopMatrixConsumer(AsyncWebsocketConsumer):
    group = None

    async def connect(self):
        slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        problem = origin_problem(dict(self.scope.get("headers", [])))
        if problem or user is None or not user.is_authenticated:
            logger.warning(
                "Matrix socket for workshop %s rejected: %s",
                slug,
                problem or "not logged in",
            )
            await self.close(code=4403)
            return
        workshop = await database_sync_to_async(_taught_workshop)(user, slug)
        if workshop is None:
            logger.warning(
                "Matrix socket for workshop %s rejected: %s does not teach it",
                slug,
                user.get_username(),
            )
            await self.close(code=4403)
            return
        self.group = workshop.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        return

    async def live_html(self, event):
        await self.send(text_data=event["html"])
