"""Asking Fino over its streaming WebSocket (``/fino/nl``).

The socket URL is presigned with SigV4 (auth in the query string, only
``host`` signed, ``ws``/``wss`` following the endpoint's scheme) by the
client's own ``SigV4Auth.presign_url``.

Message protocol (JSON text frames, one object each, keyed by ``type``), as the
SDK's README documents it:

Client to Fino, once after connecting (``thread_id`` rides along when there is one)::

    {"type": "query", "content": "<question>", "thread_id": "<id>"}

Fino to client: JSON frames whose ``content`` carries the answer, ending with
``{"type": "complete"}``. The answer is the frames' ``content`` in order; a
``complete`` frame's own ``content``, when present, is the last piece (or the
whole answer, when it repeats the pieces). Kinds with a meaning of their own:

* ``{"type": "chunk", "content": "<text>"}``: the next piece of the answer.
* ``{"type": "status", "content": "<text>"}``: what Fino is doing now
  (reported as progress, not part of the answer).
* ``{"type": "query", "query": "<text>", "language": "sql"}``: a query Fino
  produced or ran (``language`` optional: sql, querydsl, promql...).
* ``{"type": "final", "content": "<full answer>", "message_id": "..."}``:
  the end; its ``content`` (when present) is the whole answer.
* ``{"type": "done"}``: the end; the answer is the pieces so far.
* ``{"type": "error", "content" | "message": "<text>", "status": <int>}``:
  the end, as a failure. ``status`` 501 means this endpoint cannot answer
  (the local endpoint: Fino needs Infino cloud).

Any other frame kind (or a frame without one) that carries a ``content``
string is a piece of the answer; frames without content are ignored. A text
frame that is not JSON counts as a piece. The socket closing before an end
frame is an error. Each frame must arrive within the client timeout.

``ask`` always closes the socket before it returns or raises, cancellation
included: a cancelled call leaves no connection or task behind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from infino_mcp.errors import (
    InfinoError,
    NetworkError,
    NotAvailableLocallyError,
    RequestTimeoutError,
)

FINO_PATH = "/fino/nl"
CLOUD_ONLY = (
    "Fino needs Infino cloud: its answers come from Infino's hosted AI, which the local endpoint does not have. "
    "Set INFINO_ENDPOINT, INFINO_ACCESS_KEY and INFINO_SECRET_KEY to an Infino account to ask Fino; meanwhile "
    "answer the question yourself with query_dataset_in_sql or the other query tools."
)
_MAX_FRAME = 4 * 1024 * 1024
_CLOSE_GRACE = 2.0

PartCallback = Callable[[str, str], Awaitable[None]]
"""Called as each frame arrives with (kind, text): kind is 'chunk', 'status' or 'query'."""

# The socket library logs each request line at DEBUG; ours is a presigned URL with a
# signature in it, so its log never goes below INFO, whatever the server's log level.
_SOCKET_LOG = logging.getLogger("infino_mcp.fino_socket")
_SOCKET_LOG.setLevel(logging.INFO)


@dataclass
class FinoReply:
    """What one question produced."""

    answer: str = ""
    queries: list[dict[str, Any]] = field(default_factory=list)
    message_id: str | None = None
    parts: int = 0


def socket_url(endpoint: str) -> str:
    """The unsigned Fino WebSocket URL for an ``http(s)://`` endpoint (the scheme changes when presigning)."""
    parts = urlsplit(endpoint)
    base = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{base}{FINO_PATH}"


def _text(frame: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = frame.get(key)
        if isinstance(value, str):
            return value
        if value is not None:
            return json.dumps(value, ensure_ascii=False)
    return ""


def _error(frame: dict[str, Any]) -> InfinoError:
    message = _text(frame, "content", "message", "error") or "Fino reported an error without a message."
    status = frame.get("status")
    if status == 501:
        return NotAvailableLocallyError(CLOUD_ONLY, status=501, operation="ask_fino", detail=message)
    return InfinoError(f"Fino could not answer: {message}")


async def _converse(
    socket: ClientConnection, question: str, thread_id: str | None, frame_timeout: float, on_part: PartCallback
) -> FinoReply:
    try:
        message = {"type": "query", "content": question}
        if thread_id:
            message["thread_id"] = thread_id
        await socket.send(json.dumps(message))
    except ConnectionClosed:
        pass  # The server hung up at once; the frames it sent first (an error, usually) are still read below.
    reply = FinoReply()
    chunks: list[str] = []
    while True:
        try:
            with anyio.fail_after(frame_timeout):
                raw = await socket.recv()
        except TimeoutError:
            raise RequestTimeoutError(
                f"Fino sent nothing for {frame_timeout:g}s; its partial answer was: {''.join(chunks)[:500]!r}. Retry later."
            ) from None
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1008:
                raise InfinoError(f"Fino refused the connection: {exc.rcvd.reason or 'policy violation'}.") from None
            raise NetworkError(
                "Fino closed the stream before finishing"
                + (f" ({exc.rcvd.code} {exc.rcvd.reason})" if exc.rcvd is not None else "")
                + f"; partial answer: {''.join(chunks)[:500]!r}. Ask again in the same thread."
            ) from None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            frame = json.loads(text)
        except json.JSONDecodeError:
            frame = {"type": "chunk", "content": text}
        if not isinstance(frame, dict):
            frame = {"type": "chunk", "content": text}
        kind = frame.get("type")
        if kind == "chunk":
            piece = _text(frame, "content", "text", "delta")
            chunks.append(piece)
            reply.parts += 1
            await on_part("chunk", piece)
        elif kind == "status":
            reply.parts += 1
            await on_part("status", _text(frame, "content", "message"))
        elif kind == "query":
            query = {"query": _text(frame, "query", "content")}
            if isinstance(frame.get("language"), str):
                query["language"] = frame["language"]
            reply.queries.append(query)
            reply.parts += 1
            await on_part("query", query["query"])
        elif kind == "complete":
            last = _text(frame, "content")
            so_far = "".join(chunks)
            reply.answer = so_far if last in ("", so_far) else so_far + last
            reply.message_id = frame.get("message_id") if isinstance(frame.get("message_id"), str) else None
            return reply
        elif kind in ("final", "done"):
            final = _text(frame, "content", "answer") if kind == "final" else ""
            reply.answer = final or "".join(chunks)
            reply.message_id = frame.get("message_id") if isinstance(frame.get("message_id"), str) else None
            return reply
        elif kind == "error":
            raise _error(frame)
        elif isinstance(frame.get("content"), str) and frame["content"]:
            chunks.append(frame["content"])
            reply.parts += 1
            await on_part("chunk", frame["content"])


async def ask(client: Any, question: str, thread_id: str | None, on_part: PartCallback) -> FinoReply:
    """Send ``question`` in ``thread_id`` over the presigned socket and collect Fino's reply."""
    settings = client.settings
    url = client.auth.presign_url(socket_url(client.endpoint))
    try:
        socket = await connect(
            url,
            open_timeout=settings.connect_timeout,
            max_size=_MAX_FRAME,
            close_timeout=_CLOSE_GRACE,
            user_agent_header="infino-mcp",
            logger=_SOCKET_LOG,
        )
    except InvalidHandshake as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise InfinoError(
                f"Fino refused the connection ({status}): check the access keys and the user's roles."
            ) from None
        if status in (404, 501):
            raise NotAvailableLocallyError(CLOUD_ONLY, status=501, operation="ask_fino", detail=str(exc)) from None
        raise NetworkError(f"Fino's WebSocket handshake failed: {exc}. Retry later.") from None
    except InvalidURI:
        # The exception quotes the presigned URL, which carries the credential and signature.
        raise NetworkError(f"Fino's WebSocket URL for {client.endpoint} is not valid; check INFINO_ENDPOINT.") from None
    except (OSError, TimeoutError) as exc:
        raise NetworkError(f"Could not open Fino's WebSocket at {socket_url(client.endpoint)}: {exc}.") from None
    try:
        return await _converse(socket, question, thread_id, settings.timeout, on_part)
    finally:
        # Shielded so that a cancelled call still closes the socket instead of leaking it.
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_GRACE):
            await socket.close()
        if socket.transport is not None and not socket.transport.is_closing():
            socket.transport.abort()
