"""JSON-RPC messages whose arguments nest too deep, answered instead of dropped.

The MCP SDK's JSON parser stops at 200 levels: over stdio such a line is dropped without
an answer (the client waits forever), over HTTP it is a bare parse error. Before the SDK
reads a message, ``shallower`` cuts everything nested deeper than the envelope needs and
marks the arguments with how deep they went; the argument guard (``arguments.py``) then
answers the call with a tool error naming the limit. ``stdin_through_guard`` does this
for the SDK's own stdio path (a pipe in front of fd 0; ``stdio.py`` calls ``shallower`` on
each line of its faster path), ``NestingMiddleware`` for the HTTP transports.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infino_mcp.limits import MAX_JSON_DEPTH, json_depth

TOO_DEEP = "\u0000nesting"
"""The only key of the arguments of a call that nested too deep; its value is the depth seen."""

_ENVELOPE = 3  # message -> params -> arguments
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]')


def shallower(raw: bytes) -> bytes | None:
    """``raw`` rewritten when it nests deeper than the limit allows (None when it does not)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH + _ENVELOPE:
        return None  # too few brackets to nest that deep: no scan
    depth = json_depth(raw)
    if depth <= MAX_JSON_DEPTH + _ENVELOPE:
        return None
    message = _cut(raw, _ENVELOPE)
    if not isinstance(message, dict):
        return None
    params = message.get("params")
    if message.get("method") == "tools/call" and isinstance(params, dict):
        params["arguments"] = {TOO_DEEP: depth - _ENVELOPE}
    return json.dumps(message).encode()


def _cut(raw: bytes, keep: int) -> Any:
    """``raw`` parsed with every array or object deeper than ``keep`` levels replaced by null."""
    out, depth, start = [], 0, 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth == keep + 1:
                out.append(raw[start : match.start()] + b"null")
        elif token in (b"]", b"}"):
            depth -= 1
            if depth == keep:
                start = match.end()
    out.append(raw[start:])
    try:
        return json.loads(b"".join(out))
    except (ValueError, RecursionError):
        return None


def stdin_through_guard() -> None:
    """Put a pipe in front of fd 0 that passes every line through ``shallower`` (a daemon thread copies)."""
    original = os.dup(0)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)

    def copy() -> None:
        with os.fdopen(original, "rb") as source, os.fdopen(write_end, "wb", buffering=0) as sink:
            for line in source:
                cut = shallower(line.rstrip(b"\r\n"))
                sink.write(cut + b"\n" if cut is not None else line)

    threading.Thread(target=copy, name="stdin-nesting-guard", daemon=True).start()


class NestingMiddleware:
    """HTTP: a POSTed message that nests too deep reaches the SDK already cut (see ``shallower``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(message, receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        body = shallower(body) or body
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    """``first``, then whatever the client sends next (a disconnect, for a response that listens for one)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
