"""The live matrix socket: instructors of a workshop receive row updates."""

import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from labplatform.terminal.origin import origin_problem

from .access import still_teaches, workshop_for_instructor

logger = logging.getLogger(__name__)


def _taught_workshop(user, slug):
    try:
        return workshop_for_instructor(user, slug)
    except (PermissionDenied, Http404):
        return None


# Seconds after which an open matrix socket checks again, at its next
# update, that its user still teaches the workshop.
REVALIDATE_SECONDS = 30


class WorkshopMatrixConsumer(AsyncWebsocketConsumer):
    group = None
    checked_at = 0.0

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
        self.slug = slug
        self.workshop_id = workshop.pk
        self.group = workshop.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.checked_at = time.monotonic()
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        return

    async def live_html(self, event):
        # An instructor removed from the workshop, or a deactivated account,
        # stops receiving learners' progress at the first update after
        # REVALIDATE_SECONDS.
        if time.monotonic() - self.checked_at >= REVALIDATE_SECONDS:
            allowed = await database_sync_to_async(still_teaches)(
                self.scope["user"].pk, self.workshop_id
            )
            if not allowed:
                logger.warning(
                    "Matrix socket for workshop %s closed: %s no longer teaches it",
                    self.slug,
                    self.scope["user"].get_username(),
                )
                await self.channel_layer.group_discard(self.group, self.channel_name)
                self.group = None
                await self.close(code=4403)
                return
            self.checked_at = time.monotonic()
        await self.send(text_data=event["html"])
