"""Running the server over stdio, streamable HTTP or SSE.

HTTP binds 127.0.0.1 by default. Any other address needs ``INFINO_MCP_TOKEN``
or a per-user ``--auth`` mode (checked by the settings); who a caller is is
decided by the layers in ``infino_mcp.http_auth``. Host and Origin checks (DNS
rebinding protection) stay on for every bind address.
"""

from __future__ import annotations

import sys

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from infino_mcp.config import Settings
from infino_mcp.http_auth import BearerTokenMiddleware, InfinoKeysMiddleware
from infino_mcp.nesting import NestingMiddleware
from infino_mcp.server import build_server, open_client
from infino_mcp.shutdown import GracefulServer, until_signalled
from infino_mcp.sockets import listening_socket
from infino_mcp.stdio import run_stdio

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# Seconds calls in flight (and open SSE streams) get after SIGINT / SIGTERM before they are cut off.
_GRACEFUL_SHUTDOWN = 5


def transport_security(settings: Settings) -> TransportSecuritySettings:
    hosts = [*_LOOPBACK, *settings.allowed_hosts]
    if settings.host not in ("0.0.0.0", "::") and settings.host not in hosts:
        hosts.append(settings.host)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h for host in hosts for h in (host, f"{host}:*")],
        allowed_origins=[
            f"{scheme}://{host}{port}" for host in hosts for scheme in ("http", "https") for port in ("", ":*")
        ],
    )


def http_app(server: MCPServer, settings: Settings) -> ASGIApp:
    """The ASGI app for the configured HTTP transport, token-protected when a token is set."""
    security = transport_security(settings)
    if settings.transport == "sse":
        app: ASGIApp = server.sse_app(transport_security=security, host=settings.host)
    else:
        app = server.streamable_http_app(
            transport_security=security, host=settings.host, stateless_http=settings.stateless
        )
    if settings.auth == "infino-keys":
        app = InfinoKeysMiddleware(app)
    elif settings.auth == "oauth":
        # Cold start: PyJWT and its crypto load only for --auth oauth.
        from infino_mcp.oauth import OAuthIdentityMiddleware

        app = OAuthIdentityMiddleware(app, settings)
    elif settings.mcp_token is not None:
        app = BearerTokenMiddleware(app, settings.mcp_token.get_secret_value())
    return NestingMiddleware(app)


def _who(settings: Settings) -> str:
    """What the start-up line says each client must send."""
    if settings.auth == "infino-keys":
        return "; each client sends its own Infino keys (X-Infino-Access-Key, X-Infino-Secret-Key)"
    if settings.auth == "oauth":
        return f"; OAuth bearer tokens from {settings.oauth_issuer}"
    if settings.mcp_token is not None:
        return "; a token is required: clients send Authorization: Bearer <INFINO_MCP_TOKEN>"
    return ""


async def _serve_http(settings: Settings) -> None:
    # One client (and, in local mode, one engine connection) for the whole process:
    # the SDK would otherwise run the lifespan once per SSE session.
    async with open_client(settings) as client:
        # Bind first, then announce: clients may connect as soon as the line is printed.
        sock = listening_socket(settings.host, settings.port)
        host, port = sock.getsockname()[:2]
        settings = settings.model_copy(update={"port": port})  # the bound port (OAuth metadata names it)
        server = build_server(settings, client=client)
        path = "/sse" if settings.transport == "sse" else "/mcp"
        where = " (all interfaces: clients use one of this machine's names)" if host in ("0.0.0.0", "::") else ""
        print(
            f"infino-mcp: serving {settings.transport} on http://{host}:{port}{path}{where}{_who(settings)}",
            file=sys.stderr,
            flush=True,
        )
        config = uvicorn.Config(
            http_app(server, settings), log_level="warning", timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN
        )
        await GracefulServer(config).serve(sockets=[sock])


def serve(settings: Settings) -> None:
    try:
        if settings.transport == "stdio":
            anyio.run(until_signalled, run_stdio, build_server(settings))
        else:
            anyio.run(_serve_http, settings)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before serving began: no traceback
        raise SystemExit(130) from None
