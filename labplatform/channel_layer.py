"""The Channels layer: channels_redis, waiting out a Redis restart.

channels_redis raises from receive() when Redis goes away, and that
exception ends the consumer, so every open terminal would die with a
Redis restart. This layer retries instead. Group memberships live in Redis
and are lost with it. Nothing depends on one surviving, because terminals
re-check their session every 30 s and the pages poll.
"""

import asyncio
import logging

import redis.exceptions
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class ResilientRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel):
        failures = 0
        while True:
            try:
                message = await super().receive(channel)
            except (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                OSError,
            ) as error:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "Channel layer lost Redis (%s); retrying every %.0f s",
                        error,
                        RETRY_SECONDS,
                    )
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if failures:
                logger.info(
                    "Channel layer reached Redis again after %d retries", failures
                )
            return message
