"""Count attempts in Redis and refuse callers who made too many.

A fixed window per key: the first attempt starts a window of
``window_seconds`` and every attempt in it increments one counter, so all
web processes share the count. Used where a guess is cheap for the caller
and a correct guess is worth something, such as workshop join codes.
"""

import logging
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "labplatform:ratelimit:"

_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
    return _clients[url]


@dataclass(frozen=True)
class Limit:
    """A limit of ``attempts`` per ``window_seconds`` for each key of ``scope``."""

    scope: str
    attempts: int
    window_seconds: int

    def _key(self, ident: str) -> str:
        return f"{KEY_PREFIX}{self.scope}:{ident}"

    def retry_after(self, ident: str) -> int:
        """Return the seconds until ident may try again, 0 when it may now.

        When Redis cannot be reached, the caller is let through and the
        failure is logged, because rejecting every learner during a Redis
        outage would hurt more than a few unlimited guesses.
        """
        key = self._key(ident)
        try:
            count, ttl = _client().pipeline().get(key).ttl(key).execute()
        except redis.RedisError as error:
            logger.warning(
                "Rate limit %s not checked for %s: %s", self.scope, ident, error
            )
            return 0
        if count is None or int(count) < self.attempts:
            return 0
        return max(int(ttl), 1)

    def record(self, ident: str) -> None:
        """Count one attempt by ident, starting a window if none is open."""
        key = self._key(ident)
        try:
            pipeline = _client().pipeline()
            pipeline.incr(key)
            # NX keeps the window's end where the first attempt put it.
            pipeline.expire(key, self.window_seconds, nx=True)
            pipeline.execute()
        except redis.RedisError as error:
            logger.warning(
                "Rate limit %s not counted for %s: %s", self.scope, ident, error
            )
