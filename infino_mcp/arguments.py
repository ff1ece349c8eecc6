"""Argument errors a model can act on, as server middleware on ``tools/call``.

* Unknown argument names are refused (a misspelled optional argument would
  otherwise be dropped without a word), listing the tool's arguments.
* Arguments nesting deeper than ``limits.MAX_JSON_DEPTH`` are refused (``nesting.py`` cuts such
  messages before the SDK's parser, which would drop them).
* The SDK's validation errors (pydantic's report, with its class names and
  documentation links) are rewritten as one line per argument.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import ServerMiddleware

from infino_mcp.limits import MAX_JSON_DEPTH, value_depth
from infino_mcp.nesting import TOO_DEEP

_HEADER = re.compile(r"^Error executing tool (?P<tool>\S+): \d+ validation errors? for \S+Arguments$")


def tool_error_result(ctx: Any, text: str) -> dict[str, Any]:
    """A tools/call result reporting ``text`` as a tool error (``isError``), for middleware that answers itself."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
    if str(getattr(ctx, "protocol_version", "")) >= "2026":
        result["resultType"] = "complete"
    return result


def _concise(text: str, arguments: list[str]) -> str | None:
    """A pydantic validation report as ``tool: invalid arguments: name: problem; ...``, or None."""
    lines = text.splitlines()
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        return None
    problems: dict[str, list[str]] = {}
    where = ""
    for line in lines[1:]:
        if line.startswith("    For further information"):
            continue
        if not line.startswith(" "):
            where = _argument_path(line.strip())
        else:
            message = line.strip().split(" [type=")[0]
            if message not in problems.setdefault(where, []):
                problems[where].append(message)
    listed = "; ".join(f"{where}: {' or '.join(messages)}" for where, messages in problems.items())
    return f"Error executing tool {header['tool']}: invalid arguments: {listed}. Arguments: {', '.join(arguments)}."


_TYPE_STEP = re.compile(r"^(str|int|float|bool|dict|list|none|any|function-\w+)(\[.*\])?$", re.I)


def _argument_path(location: str) -> str:
    """``records.list[dict[str,any]]`` -> ``records``: drop the union member names pydantic adds."""
    return ".".join(step for step in location.split(".") if not _TYPE_STEP.match(step)) or location


def argument_guard(server: MCPServer) -> ServerMiddleware[Any]:
    """The middleware for ``server`` (it reads the tools' input schemas once, on first use)."""
    known: dict[str, list[str]] = {}

    async def guard(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if not known:
            known.update({t.name: list(t.input_schema.get("properties", {})) for t in await server.list_tools()})
        params = ctx.params or {}
        name, given = params.get("name"), params.get("arguments") or {}
        marked = given.get(TOO_DEEP) if isinstance(given, dict) else None
        depth = marked if isinstance(marked, int) else value_depth(given)
        if depth > MAX_JSON_DEPTH:
            return tool_error_result(
                ctx,
                f"Error executing tool {name}: the arguments nest {depth} levels deep; the limit is {MAX_JSON_DEPTH}. "
                "Nothing was done: send flatter arguments.",
            )
        allowed = known.get(name) if isinstance(name, str) else None
        if allowed is not None and isinstance(given, dict):
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                return tool_error_result(
                    ctx,
                    f"Error executing tool {name}: unknown argument(s) {', '.join(unknown)}; nothing was done. "
                    f"Arguments: {', '.join(allowed) or '(none)'}.",
                )
        result = await call_next(ctx)
        if allowed is not None and isinstance(result, dict) and result.get("isError"):
            content = result.get("content") or []
            if content and content[0].get("type") == "text":
                concise = _concise(content[0].get("text", ""), allowed)
                if concise is not None:
                    result = {**result, "content": [{**content[0], "text": concise}, *content[1:]]}
        return result

    return guard
