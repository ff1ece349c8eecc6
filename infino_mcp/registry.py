"""Declaring tools, and the one step that turns a declaration into what the SDK registers.

``@infino_tool`` records each tool's toolset and annotation hints once.
Everything else derives from that one declaration: the MCP ``ToolAnnotations``
(all four hints set), ``--toolsets`` filtering, ``--read-only`` (only tools
declared ``read_only=True`` are registered), the operation name and idempotency
of the requests the tool sends, and the catalog tests. The decorator returns the
function unchanged, so other code (resources, other tools) can call it.

``registered_callable`` builds what ``build_server`` hands the SDK, in one
place: the signature (with the hidden confirmation parameter for tools that ask
first), ``InfinoError`` mapped to ``ToolError`` so the model reads the message
(anything else is a bug and surfaces as such), and compact text for the model
beside the structured content.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, TextContent
from pydantic import BaseModel

from infino_mcp.client import Operation, current_operation
from infino_mcp.config import Toolset
from infino_mcp.confirm import CONFIRM_PARAM, confirmation_parameter, require_yes
from infino_mcp.errors import InfinoError
from infino_mcp.shaping import compact_json
from infino_mcp.state import client_of, settings_of

__all__ = [
    "ToolSpec",
    "as_tool_result",
    "client_of",
    "infino_tool",
    "registered_callable",
    "running",
    "settings_of",
    "specs_in",
]

P = ParamSpec("P")
R = TypeVar("R")

SPEC_ATTR = "__infino_tool__"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    toolset: Toolset
    title: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    confirm: bool
    fn: Callable[..., Awaitable[Any]]
    cloud_only: bool = False


def infino_tool(
    toolset: Toolset,
    *,
    title: str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool = True,
    confirm: bool = False,
    cloud_only: bool = False,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Mark an ``async def`` as an MCP tool of ``toolset``. All hints are required.

    ``confirm=True`` marks a tool that must ask the user before it runs
    (deletes, clears, key rotation); ``--allow-destructive`` lifts that.
    ``idempotent`` is also the default for every request the tool sends.
    ``cloud_only=True`` marks a tool the local endpoint cannot answer; in local
    mode its description says so.
    """
    if read_only and destructive:
        raise ValueError("a read-only tool cannot be destructive")

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn.__name__} must be async")
        spec = ToolSpec(
            name=fn.__name__,
            toolset=toolset,
            title=title,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            confirm=confirm,
            fn=fn,
            cloud_only=cloud_only,
        )
        setattr(fn, SPEC_ATTR, spec)
        return fn

    return decorate


def registered_callable(spec: ToolSpec, *, ask_first: bool) -> Callable[..., Awaitable[Any]]:
    """What the SDK registers for ``spec``: same name, docstring and schemas as the tool function.

    ``ask_first`` adds the confirmation parameter (resolved by the SDK, never in
    the input schema); the tool body then runs only after the user said yes.
    """
    signature = inspect.signature(spec.fn)  # annotations evaluated once, by get_type_hints (start-up time)
    hints = typing.get_type_hints(spec.fn, include_extras=True)
    parameters = [p.replace(annotation=hints.get(name, p.annotation)) for name, p in signature.parameters.items()]
    if ask_first:
        parameters.append(confirmation_parameter(spec.name, spec.title, parameters))
    model = hints.get("return", signature.return_annotation)
    compact = inspect.isclass(model) and issubclass(model, BaseModel)
    returns = Annotated[CallToolResult, model] if compact else model

    async def call(**kwargs: Any) -> Any:
        if ask_first:
            require_yes(spec.name, kwargs.pop(CONFIRM_PARAM))
        try:
            with running(spec.fn):
                result = await spec.fn(**kwargs)
        except InfinoError as exc:
            raise ToolError(str(exc)) from exc
        return as_tool_result(result) if compact and isinstance(result, BaseModel) else result

    call.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {**{p.name: p.annotation for p in parameters}, "return": returns}
    call.__name__ = call.__qualname__ = spec.name
    call.__doc__ = spec.fn.__doc__
    call.__module__ = spec.fn.__module__
    return call


@contextlib.contextmanager
def running(tool: Callable[..., Any]) -> Iterator[None]:
    """While the block runs, requests default to ``tool``'s name and declared idempotency.

    The registered callable uses it; so does code that reads through a tool
    function outside the SDK (the schema resource's sample query).
    """
    spec: ToolSpec = getattr(tool, SPEC_ATTR)
    token = current_operation.set(Operation(spec.name, spec.idempotent))
    try:
        yield
    finally:
        current_operation.reset(token)


def as_tool_result(result: BaseModel) -> CallToolResult:
    """Structured content for programs; for the model, compact text.

    The text is the model's ``as_text()`` when it defines one (a table for SQL
    rows, say), otherwise compact JSON: the SDK's default indented JSON costs
    about 1.7 times as many bytes.
    """
    data = result.model_dump(mode="json")
    render = getattr(result, "as_text", None)
    if callable(render):
        text = str(render())
    else:  # empty fields say nothing to a model: leave them out of its text
        text = compact_json(result.model_dump(mode="json", exclude_none=True))
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    return CallToolResult(content=content, structured_content=data)


def specs_in(module: ModuleType) -> Iterator[ToolSpec]:
    """The tools a module declares, in source order."""
    found = [getattr(obj, SPEC_ATTR) for obj in vars(module).values() if hasattr(obj, SPEC_ATTR)]
    yield from sorted(found, key=lambda spec: inspect.unwrap(spec.fn).__code__.co_firstlineno)
