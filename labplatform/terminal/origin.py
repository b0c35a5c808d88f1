"""Same-origin checks for websocket handshakes.

Browsers send Origin on every websocket handshake, and cookies ride along
to any site, so without this check another web page could open a
learner's terminal with the learner's cookie. A handshake without Origin
is rejected too: no browser sends one, and a script that omits it has no
business with a terminal.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def origin_problem(headers: dict[bytes, bytes]) -> str | None:
    """Return why the handshake's Origin is unacceptable, or None when it is fine."""
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if not origin:
        return "no Origin header"
    # HTTP requests get this check from Django; websockets bypass it, and
    # without it a rebound DNS name could pass the same-origin test below.
    if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return f"Host {host!r} is not in ALLOWED_HOSTS"
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"malformed Origin {origin!r}"
    if parts.netloc.lower() != host:
        return f"Origin {origin!r} does not match host {host!r}"
    return None
