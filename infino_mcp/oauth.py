"""``--auth oauth``: an OAuth 2.1 resource server in front of the MCP app.

Access tokens are JWTs, verified with PyJWT against the issuer's published
keys (JWKS; its URL from ``--oauth-jwks-url`` or the issuer's metadata):
signature, ``iss``, audience, ``exp`` and the required scopes. The verified
identity (``--oauth-identity-claim``, default ``sub``) maps to that person's
Infino keys in the identities file; the request is then signed with them.

Two layers check every request to ``/mcp``: ``OAuthIdentityMiddleware`` (its
own answers say exactly what is wrong, and it maps the identity) and, behind
it, the SDK's bearer middleware with the same ``JwtVerifier`` logic, which
also serves the protected-resource metadata for OAuth discovery.

Scopes: every token needs ``--oauth-required-scopes`` (default
``infino:read``); tools that change anything also need ``infino:write``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerMiddleware
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from infino_mcp.arguments import tool_error_result
from infino_mcp.auth import signing_keys
from infino_mcp.config import Settings
from infino_mcp.http_auth import send_error
from infino_mcp.identities import IdentityStore

WRITE_SCOPE = "infino:write"
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
_LEEWAY = 30
_REFETCH_AFTER = 60.0

_WRITES_ALLOWED: ContextVar[bool] = ContextVar("infino_writes_allowed", default=True)


class TokenRejected(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def resource_url(settings: Settings) -> str:
    """This server's resource identifier: the audience when it is a URL, else its own /mcp URL."""
    if settings.oauth_audience and settings.oauth_audience.startswith(("http://", "https://")):
        return settings.oauth_audience
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/mcp"


def _scopes(claims: dict[str, Any]) -> list[str]:
    value = claims.get("scope", claims.get("scp", ""))
    return value.split() if isinstance(value, str) else [str(v) for v in value]


class JwtVerifier:
    """Verifies bearer JWTs for this server (the SDK's ``TokenVerifier`` protocol, plus ``check``)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oauth_issuer
        self.issuer = settings.oauth_issuer
        self.audience = settings.oauth_audience or resource_url(settings)
        self.identity_claim = settings.oauth_identity_claim
        self.required_scopes = list(settings.oauth_required_scopes)
        self._jwks_url = settings.oauth_jwks_url
        self._timeout = settings.connect_timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -_REFETCH_AFTER
        self._lock = anyio.Lock()

    async def _fetch_json(self, http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
        response = await http.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return body

    async def _refresh(self) -> None:
        async with httpx2.AsyncClient(timeout=self._timeout, follow_redirects=False) as http:
            url = self._jwks_url
            if url is None:
                base = self.issuer.rstrip("/")
                for where in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
                    with contextlib.suppress(httpx2.HTTPError, ValueError):
                        url = (await self._fetch_json(http, base + where)).get("jwks_uri")
                        if url:
                            break
                if not url:
                    raise TokenRejected(
                        503, "temporarily_unavailable", "The issuer's metadata names no jwks_uri; set --oauth-jwks-url."
                    )
                self._jwks_url = url
            keys = jwt.PyJWKSet.from_dict(await self._fetch_json(http, url)).keys
        self._keys = {key.key_id or "": key for key in keys}

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at >= _REFETCH_AFTER:
                    self._fetched_at = time.monotonic()
                    try:
                        await self._refresh()
                    except (httpx2.HTTPError, ValueError, jwt.PyJWKError) as exc:
                        raise TokenRejected(
                            503,
                            "temporarily_unavailable",
                            f"The issuer's keys could not be read ({type(exc).__name__}).",
                        ) from None
        key = self._keys.get(kid) or (self._keys.get("") if len(self._keys) == 1 else None)
        if key is None:
            raise TokenRejected(401, "invalid_token", "The token is signed with a key the issuer does not publish.")
        return key

    async def check(self, token: str) -> tuple[AccessToken, str]:
        """(the verified token, its identity), or TokenRejected saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected(401, "invalid_token", "The bearer token is not a JWT.") from None
        key = await self._key_for(str(header.get("kid") or ""))
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name] if key.algorithm_name in _ALGORITHMS else _ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=_LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected(401, "invalid_token", "The token has expired: get a new one.") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(
                401, "invalid_token", f"The token is not for this server: its audience must be {self.audience}."
            ) from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(
                401, "invalid_token", f"The token was not issued by {self.issuer}, the issuer this server trusts."
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenRejected(401, "invalid_token", f"The token is invalid: {exc}.") from None
        scopes = _scopes(claims)
        missing = [s for s in self.required_scopes if s not in scopes]
        if missing:
            raise TokenRejected(
                403, "insufficient_scope", f"The token lacks the scope {' '.join(missing)}: ask for it when signing in."
            )
        identity = claims.get(self.identity_claim)
        if not isinstance(identity, str) or not identity:
            raise TokenRejected(
                401, "invalid_token", f"The token has no {self.identity_claim!r} claim naming its user."
            )
        client_id = str(claims.get("client_id") or claims.get("azp") or identity)
        verified = AccessToken(
            token=token,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(claims["exp"]),
            subject=identity,
            claims={"iss": claims["iss"]},
        )
        return verified, identity

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return (await self.check(token))[0]
        except TokenRejected:
            return None


def auth_settings(settings: Settings) -> AuthSettings:
    assert settings.oauth_issuer
    return AuthSettings(
        # Strings (pydantic validates them into URLs): a path-less issuer keeps no trailing slash.
        issuer_url=settings.oauth_issuer,  # pyright: ignore[reportArgumentType]
        resource_server_url=resource_url(settings),  # pyright: ignore[reportArgumentType]
        required_scopes=list(settings.oauth_required_scopes),
        validate_token_resource=False,  # JwtVerifier checks the audience itself
    )


@contextlib.contextmanager
def _writes(allowed: bool) -> Iterator[None]:
    token = _WRITES_ALLOWED.set(allowed)
    try:
        yield
    finally:
        _WRITES_ALLOWED.reset(token)


class OAuthIdentityMiddleware:
    """Checks the bearer JWT of each ``/mcp`` request, maps its identity to Infino keys and signs with them."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.verifier = JwtVerifier(settings)
        assert settings.identities
        self.identities = IdentityStore(settings.identities)
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(resource_url(settings))))
        self.mcp_path = "/mcp"
        # Clients ask for the scopes a challenge names (the metadata lists only the required ones).
        self.scopes = " ".join(dict.fromkeys([*settings.oauth_required_scopes, WRITE_SCOPE]))

    def _challenge(self, error: str, description: str) -> str:
        return (
            f'Bearer error="{error}", error_description="{description.replace(chr(34), chr(39))}", '
            f'scope="{self.scopes}", resource_metadata="{self.metadata_url}"'
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.mcp_path:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if not given.lower().startswith("bearer "):
            description = "This server needs an OAuth access token: send Authorization: Bearer <token>."
            challenge = f'Bearer scope="{self.scopes}", resource_metadata="{self.metadata_url}"'
            await send_error(send, 401, "invalid_token", description, www_authenticate=challenge)
            return
        try:
            token, identity = await self.verifier.check(given[7:].strip())
        except TokenRejected as exc:
            challenge = self._challenge(exc.error, exc.description)
            await send_error(send, exc.status, exc.error, exc.description, www_authenticate=challenge)
            return
        keys = await anyio.to_thread.run_sync(self.identities.lookup, identity)
        if keys is None:
            description = (
                f"The token is valid, but {identity!r} has no Infino keys on this server: the operator adds them "
                f"with 'infino-mcp identities add {identity}'."
            )
            await send_error(send, 403, "access_denied", description)
            return
        with signing_keys(*keys), _writes(WRITE_SCOPE in token.scopes):
            await self.app(scope, receive, send)


def read_only_guard(read_only_tools: set[str]) -> ServerMiddleware[Any]:
    """MCP middleware: a token without ``infino:write`` lists and calls only read-only tools."""

    async def guard(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if _WRITES_ALLOWED.get():
            return await call_next(ctx)
        if ctx.method == "tools/call":
            name = (ctx.params or {}).get("name")
            if name not in read_only_tools:
                text = (
                    f"{name} was not run: it changes data, and your token has only read access. "
                    f"Sign in with the scope {WRITE_SCOPE} to use it."
                )
                return tool_error_result(ctx, text)
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict):
            result = {**result, "tools": [t for t in result.get("tools", []) if t.get("name") in read_only_tools]}
        return result

    return guard
