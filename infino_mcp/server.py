"""build_server: the MCP server for one configuration.

The lifespan owns the ``InfinoClient``: a signed client for the configured
Infino endpoint, or (local mode) one whose transport is the embedded local
endpoint in-process. Tests pass their own ``client``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.abc
from mcp.server import MCPServer
from mcp.types import ToolAnnotations

from infino_mcp import __version__
from infino_mcp.arguments import argument_guard
from infino_mcp.auth import request_keys
from infino_mcp.charts import apps_extension, ui_meta
from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.http_options import install_state_guard, server_options
from infino_mcp.instructions import instructions_for
from infino_mcp.probe import startup_check
from infino_mcp.prompts import register_prompts
from infino_mcp.registry import ToolSpec, registered_callable, specs_in
from infino_mcp.resources import register_resources
from infino_mcp.schemas import compact_schema
from infino_mcp.startup import Startup, startup_gate
from infino_mcp.state import AppState
from infino_mcp.toolsets import toolset_modules

log = logging.getLogger(__name__)


def all_specs() -> Iterator[ToolSpec]:
    """Every tool infino-mcp declares, toolset by toolset."""
    for module in toolset_modules():
        yield from specs_in(module)


def selected_specs(settings: Settings) -> list[ToolSpec]:
    """The tools this configuration exposes (``--toolsets``, ``--read-only``); only their modules are imported."""
    chosen = set(settings.toolsets)
    return [
        spec
        for module in toolset_modules(chosen)
        for spec in specs_in(module)
        if spec.toolset in chosen and (spec.read_only or not settings.read_only)
    ]


@contextlib.asynccontextmanager
async def open_client(settings: Settings, startup: Startup | None = None) -> AsyncIterator[InfinoClient]:
    """The client for ``settings``: the cloud endpoint, or the embedded local one.

    With ``startup``, what is slow (opening the local endpoint, the start-up check) is left to it:
    the client is yielded at once, and ``startup`` runs that work after the initialize reply.
    """
    if settings.uses_local:
        # Cold start: the engine, pyarrow and Starlette load only in local mode.
        from infino_mcp.local.embedded import embedded_client

        async with embedded_client(settings, later=startup.add if startup else None) as client:
            yield client
        return
    assert settings.endpoint
    if settings.per_user:
        client = InfinoClient(settings.endpoint, "", "", settings=settings, credentials=request_keys)
    else:
        assert settings.access_key and settings.secret_key
        client = InfinoClient(settings.endpoint, settings.access_key, settings.secret_key, settings=settings)
    async with client:
        if not settings.per_user:
            if startup is None:
                await startup_check(client)
            else:

                async def check(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
                    await startup_check(client)
                    task_status.started()

                startup.add(check)
        yield client


def build_server(settings: Settings, *, client: InfinoClient | None = None) -> MCPServer:
    """An ``MCPServer`` exposing the tools ``settings`` selects, backed by ``client`` or its own."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:
        if client is not None:
            yield AppState(client=client, settings=settings)
            return
        async with anyio.create_task_group() as group:
            startup = Startup(group)
            async with open_client(settings, startup) as own:
                yield AppState(client=own, settings=settings, startup=startup)
            group.cancel_scope.cancel()

    specs = selected_specs(settings)
    server = MCPServer(
        "infino",
        middleware=[compact_tool_list],
        version=__version__,
        title="Infino",
        instructions=instructions_for(settings),
        lifespan=lifespan,
        log_level=settings.log_level,
        extensions=[apps_extension()] if any(ui_meta(s.name) for s in specs) else [],
        **server_options(settings),
    )
    for spec in specs:
        _register(server, spec, settings)
    server.middleware.append(argument_guard(server))
    install_state_guard(server)
    if settings.auth == "oauth":
        # Cold start: PyJWT and its crypto load only for --auth oauth.
        from infino_mcp.oauth import read_only_guard

        server.middleware.append(read_only_guard({s.name for s in specs if s.read_only}))
    # Innermost: refusals of the layers above (bad arguments, scopes) never wait for the start-up work.
    server.middleware.append(startup_gate)
    register_resources(server, settings)
    register_prompts(server)
    return server


async def compact_tool_list(ctx: Any, call_next: Any) -> Any:
    """Send compact schemas in tools/list (see ``infino_mcp.schemas``)."""
    result = await call_next(ctx)
    if ctx.method == "tools/list" and isinstance(result, dict):
        tools = []
        for tool in result.get("tools", []):
            tool = dict(tool)
            if "inputSchema" in tool:
                tool["inputSchema"] = compact_schema(tool["inputSchema"], keep_descriptions=True)
            if "outputSchema" in tool:
                tool["outputSchema"] = compact_schema(tool["outputSchema"], keep_descriptions=False)
            tools.append(tool)
        result = {**result, "tools": tools}
    return result


LOCAL_CLOUD_NOTE = " Needs Infino cloud: this local server answers that it cannot."


def _register(server: MCPServer, spec: ToolSpec, settings: Settings) -> None:
    server.add_tool(
        registered_callable(spec, ask_first=spec.confirm and not settings.allow_destructive),
        name=spec.name,
        title=spec.title,
        description=inspect.cleandoc(spec.fn.__doc__ or "")
        + (LOCAL_CLOUD_NOTE if spec.cloud_only and settings.uses_local else ""),
        meta=ui_meta(spec.name),
        annotations=ToolAnnotations(
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
    )
