"""Declaring tools: ``@infino_tool`` records each tool's toolset and annotation hints once.

Everything else derives from that one declaration: the MCP ``ToolAnnotations``
(all four hints set), ``--toolsets`` filtering, ``--read-only`` (only tools
declared ``read_only=True`` are registered) and the catalog tests. The
decorator also turns ``InfinoError`` into ``ToolError`` so the model sees the
message; anything else is a bug and surfaces as such.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError
from infino_mcp.shaping import compact_json

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


def infino_tool(
    toolset: Toolset,
    *,
    title: str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool = True,
    confirm: bool = False,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Mark an ``async def`` as an MCP tool of ``toolset``. All hints are required.

    ``confirm=True`` marks a tool that must ask the user before it runs
    (deletes, clears, key rotation); ``--allow-destructive`` lifts that.
    """
    if read_only and destructive:
        raise ValueError("a read-only tool cannot be destructive")

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn.__name__} must be async")

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except InfinoError as exc:
                raise ToolError(str(exc)) from exc

        wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]

        spec = ToolSpec(
            name=fn.__name__,
            toolset=toolset,
            title=title,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            confirm=confirm,
            fn=wrapper,
        )
        setattr(wrapper, SPEC_ATTR, spec)
        return wrapper

    return decorate


def with_compact_text(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The callable to register for a tool returning a pydantic model: same schemas, compact text.

    Tool functions themselves keep returning their models, so other code
    (resources, other tools) can call them; only what the SDK calls changes.
    """
    signature = inspect.signature(fn, eval_str=True)
    model = signature.return_annotation
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        return fn

    @functools.wraps(fn)
    async def registered(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        return as_tool_result(result) if isinstance(result, BaseModel) else result

    registered.__signature__ = signature.replace(return_annotation=Annotated[CallToolResult, model])  # type: ignore[attr-defined]
    return registered


def as_tool_result(result: BaseModel) -> CallToolResult:
    """Structured content for programs; for the model, compact text.

    The text is the model's ``as_text()`` when it defines one (a table for SQL
    rows, say), otherwise compact JSON: the SDK's default indented JSON costs
    about 1.7 times as many bytes.
    """
    data = result.model_dump(mode="json")
    render = getattr(result, "as_text", None)
    if callable(render):
        text = render()
    else:  # empty fields say nothing to a model: leave them out of its text
        text = compact_json(result.model_dump(mode="json", exclude_none=True))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def specs_in(module: ModuleType) -> Iterator[ToolSpec]:
    """The tools a module declares, in source order."""
    found = [getattr(obj, SPEC_ATTR) for obj in vars(module).values() if hasattr(obj, SPEC_ATTR)]
    yield from sorted(found, key=lambda spec: inspect.unwrap(spec.fn).__code__.co_firstlineno)


def client_of(ctx: Context) -> Any:
    """The server's ``InfinoClient`` (held by the lifespan)."""
    return ctx.request_context.lifespan_context.client


def settings_of(ctx: Context) -> Any:
    return ctx.request_context.lifespan_context.settings
