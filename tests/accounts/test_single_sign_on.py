"""Single sign-on through OpenID Connect, against a provider on 127.0.0.1.

The provider here is small but speaks the real protocol over HTTP:
discovery document, authorization redirect with code and state, a token
endpoint that checks the code, client and redirect URI and returns an ID
token (a JWT), and a userinfo endpoint that checks the access token.
"""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

CLIENT_ID = "labplatform-test"
CLIENT_SECRET = "provider-secret-for-tests"


class Provider:
    def __init__(self):
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.tokens: set[str] = set()
        self.claims = {
            "sub": "user-123",
            "preferred_username": "grace.h",
            "email": "grace@example.org",
            "email_verified": True,
            "given_name": "Grace",
        }
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    base = provider.url
                    return self._json(
                        200,
                        {
                            "issuer": base,
                            "authorization_endpoint": f"{base}/authorize",
                            "token_endpoint": f"{base}/token",
                            "userinfo_endpoint": f"{base}/userinfo",
                            "jwks_uri": f"{base}/jwks",
                            "token_endpoint_auth_methods_supported": [
                                "client_secret_post"
                            ],
                        },
                    )
                if url.path == "/authorize":
                    # The user "logs in" at the provider and is sent back.
                    if query.get("client_id") != CLIENT_ID:
                        return self._json(400, {"error": "unauthorized_client"})
                    code = secrets.token_urlsafe(8)
                    provider.codes[code] = query["redirect_uri"]
                    back = urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", f"{query['redirect_uri']}?{back}")
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix(
                        "Bearer "
                    )
                    if token not in provider.tokens:
                        return self._json(401, {"error": "invalid_token"})
                    return self._json(200, provider.claims)
                if url.path == "/jwks":
                    return self._json(200, {"keys": []})
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {
                    k: v[0]
                    for k, v in parse_qs(self.rfile.read(length).decode()).items()
                }
                if self.path != "/token":
                    return self._json(404, {"error": "not_found"})
                redirect_uri = provider.codes.pop(form.get("code", ""), None)
                if (
                    redirect_uri is None
                    or redirect_uri != form.get("redirect_uri")
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                ):
                    return self._json(400, {"error": "invalid_grant"})
                access = secrets.token_urlsafe(16)
                provider.tokens.add(access)
                now = int(time.time())
                id_token = jwt.encode(
                    {
                        **provider.claims,
                        "iss": provider.url,
                        "aud": CLIENT_ID,
                        "iat": now,
                        "exp": now + 300,
                    },
                    "not-checked-over-a-direct-channel",
                    algorithm="HS256",
                )
                return self._json(
                    200,
                    {
                        "access_token": access,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": id_token,
                    },
                )

        return Handler

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def use_provider(settings, url: str) -> None:
    """Point the platform's single sign-on settings at the provider at url."""
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Example SSO",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {"server_url": url},
                }
            ]
        }
    }


def sign_in(client, provider) -> object:
    """Press the button, follow the provider's redirect, come back."""
    start = client.post("/sso/oidc/sso/login/?next=/progress/")
    assert start.status_code == 302, start.content[:300]
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(start["Location"])
    except urllib.error.HTTPError as answer:
        callback = answer.headers["Location"]
    path = urlsplit(callback)
    return client.get(f"{path.path}?{path.query}")


def test_sso_button_shown_only_when_configured(client, settings):
    assert b"Sign in with" not in client.get("/accounts/login/").content

    with Provider() as running:
        use_provider(settings, running.url)
        page = client.get("/accounts/login/?next=/progress/").content.decode()

    assert "Sign in with Example SSO" in page
    assert 'action="/sso/oidc/sso/login/?next=/progress/"' in page


def test_first_sso_sign_in_creates_account(client, provider):
    back = sign_in(client, provider)

    assert back.status_code == 302
    assert back["Location"] == "/progress/"
    user = get_user_model().objects.get(email="grace@example.org")
    assert user.username == "grace.h"
    assert user.first_name == "Grace"
    assert client.get("/progress/").status_code == 200
    assert not user.has_usable_password()

    # Signing in again reuses the same account.
    client.logout()
    sign_in(client, provider)
    assert get_user_model().objects.filter(email="grace@example.org").count() == 1


def test_forged_sso_callback_logs_nobody_in(client, provider):
    client.post("/sso/oidc/sso/login/")

    answer = client.get("/sso/oidc/sso/login/callback/?code=made-up&state=made-up")

    assert get_user_model().objects.count() == 0
    assert "_auth_user_id" not in client.session
    assert answer.status_code == 401
