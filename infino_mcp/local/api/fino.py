"""Fino threads and messages, stored locally; Fino's answers are not available here.

Threads are JSON objects in the ``threads`` collection with the shape the
service returns. Each user sees only their own threads (404 for anyone
else's). Answers come from Infino's hosted AI, which the local endpoint does not
have: ``POST /fino/message`` answers 501 and the ``/fino/nl`` WebSocket sends
one error message and closes, each saying so, rather than inventing a reply.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from infino_mcp.local.api.http import json_response, read_json, services
from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError

NO_ANSWERS = (
    "Fino's answers need Infino cloud; this local endpoint only stores threads and their messages (add_thread_message)."
)
WS_CLOSE_REASON = "Fino answers need an Infino account; the local endpoint stores threads only."
STATUSES = ("ongoing", "completed")
MESSAGE_ROLES = ("user", "assistant", "system", "tool")
DEFAULT_WORKFLOW = "fino-alpha-1"
_UPDATABLE = (
    "name",
    "status",
    "metadata",
    "workflow_name",
    "viz_context",
    "sources",
    "historical_context",
    "streaming",
)


def _owned_thread(request: Request) -> dict[str, Any]:
    thread_id = request.path_params["thread_id"]
    thread = services(request).collection("threads").get(thread_id)
    if thread is None or thread.get("user_id") != request.state.principal.user:
        raise _thread_not_found(thread_id)
    return thread


def _thread_not_found(thread_id: str) -> ApiError:
    return ApiError(404, f"Thread {thread_id!r} not found; list your threads with list_threads.")


async def _change_owned_thread(request: Request, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the caller's thread inside the store's update: no write can come in between."""
    thread_id, user = request.path_params["thread_id"], request.state.principal.user

    def apply(thread: dict[str, Any] | None) -> dict[str, Any]:
        if thread is None or thread.get("user_id") != user:
            raise _thread_not_found(thread_id)
        change(thread)
        thread["updated_at"] = now_iso()
        return thread

    return await services(request).collection("threads").aupdate(thread_id, apply)


def _validated_changes(body: Any, *, creating: bool) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, 'The thread configuration must be a JSON object such as {"name": "..."}.')
    unknown = sorted(set(body) - set(_UPDATABLE))
    if unknown:
        raise ApiError(400, f"Unknown thread field(s) {', '.join(unknown)}; settable fields: {', '.join(_UPDATABLE)}.")
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise ApiError(400, "Thread name must be a non-empty string.")
    if "status" in body and body["status"] not in STATUSES:
        raise ApiError(400, f"Thread status {body['status']!r} is not one of {', '.join(STATUSES)}.")
    if creating and "status" in body and body["status"] != "ongoing":
        raise ApiError(400, "A new thread starts as 'ongoing'.")
    for key, kind in (("metadata", dict), ("viz_context", dict), ("sources", list)):
        if key in body and not isinstance(body[key], kind):
            raise ApiError(400, f"Thread field {key!r} must be a JSON {'object' if kind is dict else 'array'}.")
    if "streaming" in body and not isinstance(body["streaming"], bool):
        raise ApiError(400, "Thread field 'streaming' must be true or false.")
    return dict(body)


def _view(thread: dict[str, Any]) -> dict[str, Any]:
    return {**thread, "is_owner": True, "user_permission": "OWNER"}


async def list_threads(request: Request) -> Response:
    user = request.state.principal.user
    threads = [t for t in services(request).collection("threads").values() if t.get("user_id") == user]
    threads.sort(key=lambda t: t["created_at"], reverse=True)
    return json_response([_view(t) for t in threads])


async def create_thread(request: Request) -> Response:
    changes = _validated_changes(await read_json(request, required=False), creating=True)
    now = now_iso()
    thread: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "user_id": request.state.principal.user,
        "name": changes.pop("name", "New thread"),
        "status": "ongoing",
        "workflow_name": changes.pop("workflow_name", DEFAULT_WORKFLOW),
        "created_at": now,
        "updated_at": now,
        "messages": [],
        "viz_context": {},
        "sources": [],
        "historical_context": None,
        "shared_with_users": [],
    }
    thread.update(changes)
    await services(request).collection("threads").aput(thread["id"], thread)
    return json_response(_view(thread))


async def get_thread(request: Request) -> Response:
    return json_response(_view(_owned_thread(request)))


async def update_thread(request: Request) -> Response:
    _owned_thread(request)
    changes = _validated_changes(await read_json(request), creating=False)
    return json_response(_view(await _change_owned_thread(request, lambda thread: thread.update(changes))))


async def delete_thread(request: Request) -> Response:
    thread = _owned_thread(request)
    await services(request).collection("threads").adelete(thread["id"])
    return json_response(True)


async def add_message(request: Request) -> Response:
    _owned_thread(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, 'A message must be a JSON object such as {"role": "user", "content": {...}}.')
    if "content" not in body:
        raise ApiError(400, 'A message needs \'content\' (text, or an object such as {"user_query": "..."}).')
    role = body.get("role", "user")
    if role not in MESSAGE_ROLES:
        raise ApiError(400, f"Message role {role!r} is not one of {', '.join(MESSAGE_ROLES)}.")
    message = {**body, "id": str(uuid.uuid4()), "role": role, "created_at": now_iso()}
    message.setdefault("metadata", {})
    await _change_owned_thread(request, lambda thread: thread["messages"].append(message))
    return json_response(message["id"])


async def clear_messages(request: Request) -> Response:
    await _change_owned_thread(request, lambda thread: thread.update(messages=[]))
    return json_response(True)


async def send_message(request: Request) -> Response:
    body = await read_json(request)
    if isinstance(body, dict) and isinstance(body.get("thread_id"), str):
        thread = services(request).collection("threads").get(body["thread_id"])
        if thread is None or thread.get("user_id") != request.state.principal.user:
            raise ApiError(404, f"Thread {body['thread_id']!r} not found; create one with create_thread.")
    raise ApiError(501, NO_ANSWERS)


async def fino_socket(websocket: WebSocket) -> None:
    """Accept, send one error event explaining why, and close (1011 with a reason)."""
    await websocket.accept()
    await websocket.send_text(json.dumps({"type": "error", "content": NO_ANSWERS, "status": 501}))
    await websocket.close(code=1011, reason=WS_CLOSE_REASON)


routes = [
    Route("/fino/threads", list_threads, methods=["GET"]),
    Route("/fino/threads", create_thread, methods=["POST"]),
    Route("/fino/threads/{thread_id}", get_thread, methods=["GET"]),
    Route("/fino/threads/{thread_id}", update_thread, methods=["PUT"]),
    Route("/fino/threads/{thread_id}", delete_thread, methods=["DELETE"]),
    Route("/fino/threads/{thread_id}/messages", add_message, methods=["POST"]),
    Route("/fino/threads/{thread_id}/messages", clear_messages, methods=["DELETE"]),
    Route("/fino/message", send_message, methods=["POST"]),
    WebSocketRoute("/fino/nl", fino_socket),
]
