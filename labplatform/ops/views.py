"""Liveness and readiness endpoints for container health checks and probes.

Both return plain text and need no login. Django rejects a Host header
outside ALLOWED_HOSTS, so the chart's probes and the healthcheck command
send "Host: localhost", which the default ALLOWED_HOSTS contains.
"""

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """Return 200 while the web process serves requests at all."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request):
    """Return 200 when the database and Redis respond, else 503 naming which failed."""
    problems = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Readiness check: database unavailable: %s", error)
        problems.append("database")
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        client.close()
    except redis.RedisError as error:
        logger.warning("Readiness check: Redis unavailable: %s", error)
        problems.append("redis")
    if problems:
        return HttpResponse(
            "unavailable: " + ", ".join(problems) + "\n",
            status=503,
            content_type="text/plain",
        )
    return HttpResponse("ok\n", content_type="text/plain")
