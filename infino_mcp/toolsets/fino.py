"""Fino, Infino's AI analyst: conversation threads, their messages, and questions to Fino.

Thread listings leave the messages out (``message_count`` says how many);
``get_thread`` pages them. Fino's answers come from Infino cloud: the local
endpoint stores threads but answers questions with 501, which surfaces as a
clear "needs Infino cloud" error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import id_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, list_at, page
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    require_object,
)

ThreadId = Annotated[str, Field(description="The thread's id (list_threads or create_thread give it).")]
Role = Literal["user", "assistant", "system", "tool"]


class ThreadSummary(BaseModel):
    id: str
    name: str | None = None
    status: str | None = Field(default=None, description="ongoing or completed.")
    created_at: str | None = None
    updated_at: str | None = None
    message_count: int = 0


class ThreadList(BaseModel):
    threads: list[ThreadSummary]
    page: Page


class Thread(BaseModel):
    """A thread: its settings in ``thread`` and a page of its messages (oldest first)."""

    id: str
    thread: dict[str, Any] = Field(description="The thread's fields except messages.")
    messages: list[dict[str, Any]] = Field(default_factory=list)
    page: Page = Field(description="Paging over the messages.")


class MessageAdded(BaseModel):
    message_id: str | None = Field(default=None, description="The new message's id.")
    response: Any = Field(default=None, description="The service's full answer when it is not just an id.")


def _thread_object(answer: Any, operation: str) -> dict[str, Any]:
    if not isinstance(answer, dict) or "id" not in answer:
        raise InfinoError(f"{operation}: the service's answer is not a thread object.")
    return answer


def _summary(thread: dict[str, Any]) -> ThreadSummary:
    name = thread.get("name") or (thread.get("metadata") or {}).get("name")
    messages = thread.get("messages")
    return ThreadSummary(
        id=str(thread.get("id", "")),
        name=name if isinstance(name, str) else None,
        status=thread.get("status"),
        created_at=thread.get("created_at"),
        updated_at=thread.get("updated_at"),
        message_count=len(messages) if isinstance(messages, list) else 0,
    )


def _thread(ctx: Context, answer: dict[str, Any], limit: int, offset: int) -> Thread:
    messages = list_at(answer, "messages")
    rest = {k: v for k, v in answer.items() if k != "messages"}
    kept, info = page(
        messages[offset:], offset=offset, limit=limit, max_bytes=settings_of(ctx).max_result_bytes, total=len(messages)
    )
    return Thread(id=str(answer["id"]), thread=rest, messages=kept, page=info)


def _message_id(answer: Any) -> MessageAdded:
    if isinstance(answer, str):
        return MessageAdded(message_id=answer)
    if isinstance(answer, dict):
        found = answer.get("message_id") or answer.get("id")
        return MessageAdded(message_id=str(found) if found else None, response=answer)
    return MessageAdded(response=answer)


@infino_tool(Toolset.FINO, title="List Fino threads", read_only=True, destructive=False, idempotent=True)
async def list_threads(ctx: Context, limit: Limit = 50, offset: Offset = 0) -> ThreadList:
    """List your Fino conversation threads, newest first, without their messages (get_thread has them)."""
    answer = await client_of(ctx).request("GET", "/fino/threads")
    if not isinstance(answer, list):
        raise InfinoError("list_threads: the service did not return a list of threads.")
    threads = sorted(
        (t for t in answer if isinstance(t, dict)), key=lambda t: str(t.get("created_at") or ""), reverse=True
    )
    summaries = [_summary(t).model_dump() for t in threads]
    kept, info = page(
        summaries[offset:],
        offset=offset,
        limit=limit,
        max_bytes=settings_of(ctx).max_result_bytes,
        total=len(summaries),
    )
    return ThreadList(threads=[ThreadSummary(**k) for k in kept], page=info)


@infino_tool(Toolset.FINO, title="Create a Fino thread", read_only=False, destructive=False, idempotent=False)
async def create_thread(
    ctx: Context,
    name: Annotated[str, Field(min_length=1, description="The thread's name.")],
    streaming: Annotated[bool | None, Field(description="Start the thread in streaming mode.")] = None,
    config: Annotated[
        JsonArg | None, Field(description='More thread settings as a JSON object, e.g. {"metadata": {...}}.')
    ] = None,
) -> Thread:
    """Create a Fino conversation thread; send_message then asks Fino in it."""
    body = require_object(config, "config") if config is not None else {}
    body["name"] = name
    if streaming is not None:
        body["streaming"] = streaming
    answer = await client_of(ctx).request("POST", "/fino/threads", json_body=body)
    return _thread(ctx, _thread_object(answer, "create_thread"), limit=50, offset=0)


@infino_tool(Toolset.FINO, title="Get a Fino thread", read_only=True, destructive=False, idempotent=True)
async def get_thread(ctx: Context, thread_id: ThreadId, limit: Limit = 50, offset: Offset = 0) -> Thread:
    """A thread's settings and its messages, oldest first, paged with limit/offset."""
    path = f"/fino/threads/{id_segment(thread_id, 'Thread id')}"
    answer = await client_of(ctx).request("GET", path)
    return _thread(ctx, _thread_object(answer, "get_thread"), limit=limit, offset=offset)


@infino_tool(Toolset.FINO, title="Update a Fino thread", read_only=False, destructive=False, idempotent=True)
async def update_thread(
    ctx: Context,
    thread_id: ThreadId,
    name: Annotated[str | None, Field(min_length=1, description="A new name.")] = None,
    status: Annotated[Literal["ongoing", "completed"] | None, Field(description="A new status.")] = None,
    config: Annotated[JsonArg | None, Field(description="Other settings to change, as a JSON object.")] = None,
) -> Thread:
    """Rename a thread, mark it completed, or change its other settings; fields not given stay as they are."""
    body = require_object(config, "config") if config is not None else {}
    if name is not None:
        body["name"] = name
    if status is not None:
        body["status"] = status
    if not body:
        raise InputError("Nothing to update: pass name, status or config.")
    path = f"/fino/threads/{id_segment(thread_id, 'Thread id')}"
    answer = await client_of(ctx).request("PUT", path, json_body=body)
    return _thread(ctx, _thread_object(answer, "update_thread"), limit=50, offset=0)


@infino_tool(
    Toolset.FINO, title="Delete a Fino thread", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_thread(ctx: Context, thread_id: ThreadId) -> Acknowledged:
    """Delete a thread and all its messages. Cannot be undone."""
    path = f"/fino/threads/{id_segment(thread_id, 'Thread id')}"
    answer = await client_of(ctx).request("DELETE", path)
    return Acknowledged.of(answer)


@infino_tool(Toolset.FINO, title="Add a message to a Fino thread", read_only=False, destructive=False, idempotent=False)
async def add_thread_message(
    ctx: Context,
    thread_id: ThreadId,
    content: Annotated[str | None, Field(description="The message text (or pass message).")] = None,
    role: Annotated[Role, Field(description="Who speaks, with content.")] = "user",
    message: Annotated[
        JsonArg | None,
        Field(description='A whole message object instead of content/role, e.g. {"role": "user", "content": {...}}.'),
    ] = None,
) -> MessageAdded:
    """Store a message in a thread without asking Fino (use send_message to get an answer)."""
    if message is not None and content is not None:
        raise InputError("Pass either content (with role) or message, not both.")
    if message is not None:
        body = require_object(message, "message")
    elif content is not None and content.strip():
        body = {"role": role, "content": content}
    else:
        raise InputError("Nothing to add: pass content (the message text) or message (a message object).")
    path = f"/fino/threads/{id_segment(thread_id, 'Thread id')}/messages"
    answer = await client_of(ctx).request("POST", path, json_body=body)
    return _message_id(answer)


@infino_tool(
    Toolset.FINO,
    title="Clear a Fino thread's messages",
    read_only=False,
    destructive=True,
    idempotent=True,
    confirm=True,
)
async def clear_thread_messages(ctx: Context, thread_id: ThreadId) -> Acknowledged:
    """Remove every message from a thread, keeping the thread. Cannot be undone."""
    path = f"/fino/threads/{id_segment(thread_id, 'Thread id')}/messages"
    answer = await client_of(ctx).request("DELETE", path)
    return Acknowledged.of(answer)


@infino_tool(
    Toolset.FINO, title="Ask Fino a question", read_only=False, destructive=False, idempotent=False, cloud_only=True
)
async def send_message(
    ctx: Context,
    thread_id: ThreadId,
    question: Annotated[str, Field(min_length=1, description="What to ask Fino, in natural language.")],
    role: Annotated[Role, Field(description="Who speaks; normally user.")] = "user",
) -> MessageAdded:
    """Ask Fino, Infino's AI analyst, a question in a thread (create_thread first); read the answer with get_thread.

    Needs Infino cloud."""
    body = {"thread_id": thread_id, "content": {"user_query": question}, "role": role}
    id_segment(thread_id, "Thread id")
    answer = await client_of(ctx).request("POST", "/fino/message", json_body=body)
    return _message_id(answer)
