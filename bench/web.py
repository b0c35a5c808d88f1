"""HTTP and websocket helpers for a learner's browser, logged in by cookie."""

import re

import aiohttp
from yarl import URL

SESSION_ID = re.compile(rb"/ws/sessions/([0-9a-f-]{36})/status/")


def learner_http(
    base_url: str, cookie: str, *, limit: int = 100
) -> aiohttp.ClientSession:
    """Return an HTTP client that carries the learner's session cookie."""
    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({"sessionid": cookie}, URL(base_url))
    return aiohttp.ClientSession(
        cookie_jar=jar,
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=300),
    )


def csrf_token(http: aiohttp.ClientSession, base_url: str) -> str:
    cookie = http.cookie_jar.filter_cookies(URL(base_url)).get("csrftoken")
    if cookie is None:
        raise RuntimeError("the lab page set no csrftoken cookie")
    return cookie.value
