"""Resources: what an agent can read without calling a tool.

* ``infino://datasets``: every dataset with its record count (JSON).
* ``infino://datasets/{name}/schema``: a dataset's fields and types plus a few
  sample records (``SELECT * ... LIMIT 3`` through the SQL tool's own code).
* ``infino://datasets/{name}/profile`` and ``.../context``: ``profile_dataset`` and
  ``get_dataset_context`` as resources (the schema names the context's URI).
* ``infino://visualizations/{id}`` and ``infino://dashboards/{id}``: a saved
  definition as ``get_visualization`` / ``get_dashboard`` return it.

Every handler goes through the same client calls as the tools (no second code
path) and reaches the ``InfinoClient`` through the request's ``Context``.
Completion of ``{name}`` and ``{id}`` (and of prompt arguments naming a
dataset) comes from the live service; see ``infino_mcp.completions``. A
static resource's handler gets no ``Context`` from the SDK, so
``infino://datasets`` reads the client through ``completions.current_state``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
)
from mcp.types import Annotations

from infino_mcp.client import id_segment, is_service_error
from infino_mcp.completions import (
    bind_request_state,
    current_state,
    register_completions,
)
from infino_mcp.config import Settings
from infino_mcp.errors import InfinoError
from infino_mcp.registry import running
from infino_mcp.shaping import compact_json
from infino_mcp.state import client_of
from infino_mcp.toolsets.datasets import fetch_schema, list_dataset_rows
from infino_mcp.toolsets.knowledge import context_of, get_dataset_context, profile_dataset, profile_of
from infino_mcp.toolsets.query import query_dataset_in_sql
from infino_mcp.toolsets.visualizations import envelope, fetch_visualization

MIME = "application/json"
DATASETS_URI = "infino://datasets"
SCHEMA_URI = "infino://datasets/{name}/schema"
PROFILE_URI = "infino://datasets/{name}/profile"
CONTEXT_URI = "infino://datasets/{name}/context"
VISUALIZATION_URI = "infino://visualizations/{id}"
DASHBOARD_URI = "infino://dashboards/{id}"
SAMPLE_ROWS = 3
_MAX_SAMPLE_TEXT = 200


def quote_identifier(name: str) -> str:
    """A dataset name as a double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _short(value: Any) -> Any:
    """Long strings in sample records are cut: samples show shape, not content."""
    if isinstance(value, str) and len(value) > _MAX_SAMPLE_TEXT:
        return value[:_MAX_SAMPLE_TEXT] + "..."
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value[:20]]
    return value


def _failure(exc: InfinoError, what: str, listing: str) -> ResourceError:
    if is_service_error(exc, 404):
        return ResourceNotFoundError(f"{what} not found; {listing} lists what exists.")
    return ResourceError(f"Reading {what} failed: {exc}")


async def dataset_list() -> list[dict[str, Any]]:
    """The ``infino://datasets`` body: ``[{name, docs_count}]`` sorted by name."""
    try:
        rows = await list_dataset_rows(current_state().client)
    except InfinoError as exc:
        raise ResourceError(f"Listing datasets failed: {exc}") from exc
    found = []
    for row in rows:
        count = str(row.get("docs.count"))
        found.append({"name": str(row.get("index", "")), "docs_count": int(count) if count.isdigit() else None})
    return sorted(found, key=lambda item: item["name"])


async def dataset_schema(name: str, ctx: Context) -> dict[str, Any]:
    try:
        schema = await fetch_schema(client_of(ctx), name)
    except InfinoError as exc:
        raise _failure(exc, f"Dataset {name!r}", DATASETS_URI) from exc
    result: dict[str, Any] = {
        "dataset": name,
        "fields": [{"name": f.field, "type": f.infino_type} for f in schema.fields],
        "sql_name": quote_identifier(name),
        "context": CONTEXT_URI.format(name=name),
    }
    query = f"SELECT * FROM {quote_identifier(name)} LIMIT {SAMPLE_ROWS}"
    try:
        with running(query_dataset_in_sql):
            sample = await query_dataset_in_sql(ctx, query=query, limit=SAMPLE_ROWS, offset=0, raw=False)
    except InfinoError as exc:
        # The schema is still worth having when the sample query fails (e.g. RBAC allows metadata only).
        result["samples"] = []
        result["samples_error"] = str(exc)
    else:
        result["samples"] = [_short(row) for row in sample.rows or []]
    return result


async def dataset_profile(name: str, ctx: Context) -> dict[str, Any]:
    try:
        with running(profile_dataset):
            return (await profile_of(ctx, name)).model_dump(mode="json", exclude_none=True)
    except InfinoError as exc:
        raise _failure(exc, f"Dataset {name!r}", DATASETS_URI) from exc


async def dataset_context(name: str, ctx: Context) -> dict[str, Any]:
    try:
        with running(get_dataset_context):
            return (await context_of(ctx, name)).model_dump(mode="json", exclude_none=True)
    except InfinoError as exc:
        raise ResourceError(f"Reading the context of {name!r} failed: {exc}") from exc


async def visualization(id: str, ctx: Context) -> dict[str, Any]:
    try:
        answer = await fetch_visualization(client_of(ctx), id)
    except InfinoError as exc:
        raise _failure(exc, f"Visualization {id!r}", "list_visualizations") from exc
    return envelope(answer).model_dump()


async def dashboard(id: str, ctx: Context) -> dict[str, Any]:
    client = client_of(ctx)
    try:
        path = f"/dashboards/{id_segment(id, 'Dashboard id')}"
        answer = await client.request("GET", path, operation="get_dashboard", idempotent=True)
    except InfinoError as exc:
        raise _failure(exc, f"Dashboard {id!r}", "list_dashboards") from exc
    return envelope(answer).model_dump()


def _compact_json(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[str]]:
    """Serve ``fn``'s value as compact JSON text (the SDK's default indents it, which costs tokens)."""

    @functools.wraps(fn)
    async def read(*args: Any, **kwargs: Any) -> str:
        return compact_json(await fn(*args, **kwargs))

    read.__signature__ = inspect.signature(fn, eval_str=True).replace(return_annotation=str)  # type: ignore[attr-defined]
    return read


# (URI or template, name, title, description, read by the agent first, handler), in the order clients list them.
_RESOURCES: tuple[tuple[str, str, str, str, bool, Callable[..., Awaitable[Any]]], ...] = (
    (DATASETS_URI, "datasets", "Datasets", "Every dataset with its record count.", True, dataset_list),
    (
        SCHEMA_URI,
        "dataset_schema",
        "Dataset schema",
        "A dataset's fields, their types and a few sample records. Read it before writing a query.",
        True,
        dataset_schema,
    ),
    (
        PROFILE_URI,
        "dataset_profile",
        "Dataset profile",
        "Per-field counts, null share, distinct values, min/max and top values (sampled when large).",
        False,
        dataset_profile,
    ),
    (
        CONTEXT_URI,
        "dataset_context",
        "Dataset context",
        "The team's description, field descriptions, instructions and verified queries for a dataset.",
        True,
        dataset_context,
    ),
    (
        VISUALIZATION_URI,
        "visualization",
        "Visualization",
        "A saved visualization's definition (source query, chart type, mapping).",
        False,
        visualization,
    ),
    (
        DASHBOARD_URI,
        "dashboard",
        "Dashboard",
        "A saved dashboard's definition (title, panels, layout).",
        False,
        dashboard,
    ),
)


def register_resources(server: MCPServer, settings: Settings) -> None:
    """Add the resources, the resource templates and the completion handler to ``server``."""
    server.middleware.append(bind_request_state)
    for_agent = Annotations(audience=["assistant"], priority=0.8)
    for uri, name, title, description, agent_first, handler in _RESOURCES:
        server.resource(
            uri,
            name=name,
            title=title,
            description=description,
            mime_type=MIME,
            annotations=for_agent if agent_first else None,
        )(_compact_json(handler))
    register_completions(server)
