"""Running the server over stdio, streamable HTTP or SSE.

HTTP binds 127.0.0.1 by default. Any other address needs ``INFINO_MCP_TOKEN``
(checked by the settings); when a token is set, every HTTP request must carry
``Authorization: Bearer <token>`` or gets 401. Host and Origin checks (DNS
rebinding protection) stay on for every bind address.
"""

from __future__ import annotations

import hmac
import sys

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from infino_mcp.config import Settings
from infino_mcp.server import build_server, open_client
from infino_mcp.sockets import listening_socket

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class BearerTokenMiddleware:
    """401 for any HTTP request without the configured bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = JSONResponse(
                    {"error": "Missing or wrong bearer token: send 'Authorization: Bearer <INFINO_MCP_TOKEN>'."},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
        app = server.streamable_http_app(transport_security=security, host=settings.host)
    if settings.mcp_token is not None:
        app = BearerTokenMiddleware(app, settings.mcp_token.get_secret_value())
    return app


async def _serve_http(settings: Settings) -> None:
    import uvicorn

    # One client (and, in local mode, one engine connection) for the whole process:
    # the SDK would otherwise run the lifespan once per SSE session.
    async with open_client(settings) as client:
        server = build_server(settings, client=client)
        # Bind first, then announce: clients may connect as soon as the line is printed.
        sock = listening_socket(settings.host, settings.port)
        host, port = sock.getsockname()[:2]
        path = "/sse" if settings.transport == "sse" else "/mcp"
        where = " (all interfaces: clients use one of this machine's names)" if host in ("0.0.0.0", "::") else ""
        print(
            f"infino-mcp: serving {settings.transport} on http://{host}:{port}{path}{where}",
            file=sys.stderr,
            flush=True,
        )
        config = uvicorn.Config(http_app(server, settings), log_level="warning")
        await uvicorn.Server(config).serve(sockets=[sock])


def serve(settings: Settings) -> None:
    if settings.transport == "stdio":
        anyio.run(build_server(settings).run_stdio_async)
    else:
        anyio.run(_serve_http, settings)
