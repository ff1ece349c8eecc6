"""``AppState``: what the lifespan holds and every tool reaches through its ``Context``."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, cast

from mcp.server.mcpserver import Context

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.startup import Startup


class RecentCache:
    """Values by key for a limited time, at most ``size`` of them (the oldest dropped first)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, max_age: float) -> Any:
        """The value stored under ``key`` less than ``max_age`` seconds ago, else None."""
        found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > max_age:
            return None
        return found[1]

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass
class AppState:
    client: InfinoClient
    settings: Settings
    profiles: RecentCache = field(default_factory=RecentCache)
    """profile_dataset's cache: the only knowledge kept in the server process."""
    startup: Startup | None = None
    """What the server opens after its initialize reply (``infino_mcp.startup``); None when the client came ready."""


def app_state(ctx: Context) -> AppState:
    """The ``AppState`` the lifespan yielded (tools take a plain ``Context``, whose lifespan type the SDK
    leaves as a dict)."""
    return cast(AppState, ctx.request_context.lifespan_context)


def client_of(ctx: Context) -> InfinoClient:
    """The server's ``InfinoClient`` (held by the lifespan)."""
    return app_state(ctx).client


def settings_of(ctx: Context) -> Settings:
    return app_state(ctx).settings
