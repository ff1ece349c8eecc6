"""``MCPServer`` options for the HTTP modes: the OAuth resource server and the key sealing confirmations.

Confirmations before destructive calls ride a sealed ``requestState`` between
requests. With ``INFINO_MCP_STATE_KEY`` every replica seals and opens them with
the same key; a state sealed under another key is refused. A sealed state
belongs to its caller (the OAuth identity, or the access key of
``--auth infino-keys``): another caller cannot replay it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity, authenticated_principal
from mcp.shared.exceptions import MCPError

from infino_mcp.arguments import tool_error_result
from infino_mcp.auth import caller_access_key
from infino_mcp.config import Settings


def _principal(ctx: Any) -> str | None:
    """Whom a sealed confirmation belongs to: the OAuth identity, else the caller's access key."""
    found = authenticated_principal(ctx)
    if found is None and (access_key := caller_access_key()) is not None:
        found = "infino-key:" + hashlib.sha256(access_key.encode()).hexdigest()
    return found


def server_options(settings: Settings) -> dict[str, Any]:
    """``MCPServer`` keyword arguments for the HTTP modes: OAuth resource server, shared state key."""
    options: dict[str, Any] = {}
    if settings.auth == "oauth":
        # Cold start: PyJWT and its crypto (about 0.1 s) load only for --auth oauth.
        from infino_mcp.oauth import JwtVerifier, auth_settings

        options.update(token_verifier=JwtVerifier(settings), auth=auth_settings(settings))
    if settings.mcp_state_key is not None or settings.per_user:
        # Without a shared key, one made now: confirmations then work on this process only.
        key = settings.mcp_state_key.get_secret_value().encode() if settings.mcp_state_key else os.urandom(32)
        options["request_state_security"] = RequestStateSecurity(keys=[key], bind_principal=_principal)
    return options


def install_state_guard(server: MCPServer) -> None:
    """Put ``_state_guard`` just outside the SDK's request-state boundary (the middleware that opens states)."""
    at = next((i for i, m in enumerate(server.middleware) if isinstance(m, RequestStateBoundary)), 0)
    server.middleware.insert(at, _state_guard)


async def _state_guard(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """MCP middleware: a confirmation state this server cannot open becomes a tool error saying why."""
    try:
        return await call_next(ctx)
    except MCPError as exc:
        reason = exc.error.data.get("reason") if isinstance(exc.error.data, dict) else None
        if ctx.method != "tools/call" or reason != "invalid_request_state":
            raise
        name = (ctx.params or {}).get("name")
        return tool_error_result(
            ctx,
            f"{name} was not run: the user's answer came back with a confirmation state this server cannot open. "
            "It was sealed by a server with another INFINO_MCP_STATE_KEY (every replica must share one), by "
            "another caller, or more than 10 minutes ago. Nothing was changed; call the tool again.",
        )
