"""``AppState``: what the lifespan holds and every tool reaches through its ``Context``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings


@dataclass
class AppState:
    client: InfinoClient
    settings: Settings


ToolContext = Context[AppState, Any]
"""A tool's context: ``ctx.request_context.lifespan_context`` is the ``AppState``."""


def client_of(ctx: Context) -> InfinoClient:
    """The server's ``InfinoClient`` (held by the lifespan)."""
    state: AppState = ctx.request_context.lifespan_context
    return state.client


def settings_of(ctx: Context) -> Settings:
    state: AppState = ctx.request_context.lifespan_context
    return state.settings
