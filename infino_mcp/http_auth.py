"""Who an HTTP caller is: the ASGI layers in front of the MCP app (``--auth``).

* ``token``: one shared bearer token (``BearerTokenMiddleware``). OAuth
  discovery paths (``/.well-known/...``) answer 404 so OAuth-capable clients
  do not start a login this server cannot complete; the 401 names the header.
* ``infino-keys``: each request carries its caller's Infino key pair
  (``InfinoKeysMiddleware``); the request is handled inside
  ``signing_keys(...)``, so whatever it calls is signed with those keys and
  nothing is kept after it.
* ``oauth``: see ``infino_mcp.oauth``.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from infino_mcp.auth import signing_keys

ACCESS_KEY_HEADER = "X-Infino-Access-Key"
SECRET_KEY_HEADER = "X-Infino-Secret-Key"


async def send_error(
    send: Send, status: int, error: str, description: str, *, www_authenticate: str | None = None
) -> None:
    """An OAuth-style JSON error (``error``, ``error_description``), with ``WWW-Authenticate`` if given."""
    body = json.dumps({"error": error, "error_description": description}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if www_authenticate:
        headers.append((b"www-authenticate", www_authenticate.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', "'") + '"'


class BearerTokenMiddleware:
    """``--auth token``: 401 for any HTTP request without the configured bearer token."""

    _HINT = (
        "This server needs the shared bearer token: send the header 'Authorization: Bearer <token>' "
        "(the token the operator set as INFINO_MCP_TOKEN). It does not use OAuth."
    )

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith("/.well-known/"):
                # No OAuth here: a 404 (not a 401) tells OAuth clients so, instead of sending them to log in.
                await send_error(send, 404, "not_found", "No OAuth metadata: " + self._HINT)
                return
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                challenge = f'Bearer realm="infino-mcp", error="invalid_token", error_description={_quoted(self._HINT)}'
                await send_error(send, 401, "invalid_token", self._HINT, www_authenticate=challenge)
                return
        await self.app(scope, receive, send)


class InfinoKeysMiddleware:
    """``--auth infino-keys``: each request is signed with the key pair its caller sent."""

    _HINT = (
        f"Send your own Infino key pair in the headers {ACCESS_KEY_HEADER} and {SECRET_KEY_HEADER} "
        "(both, on every request)."
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        access_key = headers.get(ACCESS_KEY_HEADER.lower().encode(), b"").decode("latin-1").strip()
        secret_key = headers.get(SECRET_KEY_HEADER.lower().encode(), b"").decode("latin-1").strip()
        if scope["path"].startswith("/.well-known/"):
            await send_error(send, 404, "not_found", "No OAuth metadata: this server uses Infino keys. " + self._HINT)
            return
        if not access_key or not secret_key:
            missing = [
                name for name, value in ((ACCESS_KEY_HEADER, access_key), (SECRET_KEY_HEADER, secret_key)) if not value
            ]
            description = f"Missing {' and '.join(missing)}. {self._HINT}"
            challenge = f'InfinoKeys realm="infino-mcp", error_description={_quoted(description)}'
            await send_error(send, 401, "missing_keys", description, www_authenticate=challenge)
            return
        with signing_keys(access_key, secret_key):
            await self.app(scope, receive, send)
