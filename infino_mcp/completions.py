"""Argument completion from the live service, and the request state it needs.

One ``completion/complete`` handler serves:

* ``infino://datasets/{name}/schema`` (and ``/profile``, ``/context``): ``name`` from the dataset names;
* ``infino://visualizations/{id}`` and ``infino://dashboards/{id}``: ``id``
  from the saved ids (matching the id's start or a word of the title);
* prompt arguments that name a dataset (``dataset``, ``left_dataset``, ...):
  dataset names.

The SDK calls a completion handler, and reads a static resource, without a
``Context``; both need the lifespan's ``InfinoClient``. ``bind_request_state``
is a server middleware that puts the request's lifespan state in a
``ContextVar`` for the duration of those two methods: a per-request value,
not shared mutable state (each request runs in its own context).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp.server import MCPServer
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from infino_mcp.errors import InfinoError
from infino_mcp.toolsets.datasets import list_dataset_rows

log = logging.getLogger(__name__)

MAX_VALUES = 100
"""The protocol's cap on completion values per answer."""

_BOUND_METHODS = ("resources/read", "completion/complete")
_request_state: ContextVar[Any] = ContextVar("infino_request_state")


async def bind_request_state(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: expose the lifespan state to context-less handlers of this request."""
    if ctx.method not in _BOUND_METHODS:
        return await call_next(ctx)
    token = _request_state.set(ctx.lifespan_context)
    try:
        return await call_next(ctx)
    finally:
        _request_state.reset(token)


def current_state() -> Any:
    """The lifespan state (``client``, ``settings``) of the request being handled."""
    try:
        return _request_state.get()
    except LookupError:
        raise RuntimeError(
            "No request state: bind_request_state must be in the server's middleware (register_resources adds it)."
        ) from None


def _matching(candidates: list[tuple[str, str]], typed: str) -> Completion:
    """Values whose name starts with ``typed`` (case-insensitive), then those whose label contains it."""
    needle = typed.lower()
    first = [value for value, _ in candidates if value.lower().startswith(needle)]
    more = [value for value, label in candidates if value not in first and needle and needle in label.lower()]
    values = sorted(set(first)) + list(dict.fromkeys(more))
    return Completion(values=values[:MAX_VALUES], total=len(values), has_more=len(values) > MAX_VALUES)


async def _dataset_names(client: Any) -> list[tuple[str, str]]:
    names = [str(row["index"]) for row in await list_dataset_rows(client) if row.get("index")]
    return [(name, name) for name in names]


async def _saved_ids(client: Any, collection: str) -> list[tuple[str, str]]:
    answer = await client.request(
        "GET",
        f"/{collection}",
        operation=f"list_{collection}",
        idempotent=True,
        params={"limit": "1000", "offset": "0"},
    )
    items = answer.get("items", []) if isinstance(answer, dict) else answer if isinstance(answer, list) else []
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        attributes = nested if isinstance(nested := item.get("attributes"), dict) else item
        ident = item.get("id") or attributes.get("id")
        if ident:
            found.append((str(ident), str(attributes.get("title") or "")))
    return found


def _source(ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument) -> str | None:
    """Which list completes this argument: 'datasets', 'visualizations', 'dashboards' or none."""
    if isinstance(ref, ResourceTemplateReference):
        if argument.name == "name" and ref.uri.startswith("infino://datasets/"):
            return "datasets"
        if argument.name == "id" and ref.uri.startswith("infino://visualizations/"):
            return "visualizations"
        if argument.name == "id" and ref.uri.startswith("infino://dashboards/"):
            return "dashboards"
        return None
    if isinstance(ref, PromptReference) and "dataset" in argument.name:
        return "datasets"
    return None


async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion | None:
    """The completion handler (see the module docstring). Service failures give no suggestions, not an error."""
    source = _source(ref, argument)
    if source is None:
        return None
    client = current_state().client
    try:
        candidates = await (_dataset_names(client) if source == "datasets" else _saved_ids(client, source))
    except InfinoError as exc:
        log.info("completion of %s from %s failed: %s", argument.name, source, exc)
        return None
    return _matching(candidates, argument.value)


def register_completions(server: MCPServer) -> None:
    server.completion()(complete)
