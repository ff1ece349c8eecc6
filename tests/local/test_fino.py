"""Fino threads and messages on the local endpoint; answers are refused honestly (501)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import anyio
import httpx2
import pytest

from infino_mcp.local.api.fino import NO_ANSWERS
from infino_mcp.local.services import Services
from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio

THREAD_FIELDS = {
    "id",
    "user_id",
    "name",
    "status",
    "workflow_name",
    "created_at",
    "updated_at",
    "messages",
    "viz_context",
    "sources",
    "historical_context",
    "is_owner",
    "user_permission",
    "shared_with_users",
}


async def _thread(endpoint: httpx2.AsyncClient, **config: object) -> dict:
    response = await endpoint.post("/fino/threads", json=config)
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_fills_server_fields(endpoint: httpx2.AsyncClient) -> None:
    thread = await _thread(endpoint, name="Detailed Dashboard", streaming=True)
    assert THREAD_FIELDS <= set(thread)
    assert thread["name"] == "Detailed Dashboard"
    assert thread["status"] == "ongoing"
    assert thread["user_id"] == "admin"
    assert thread["messages"] == [] and thread["sources"] == [] and thread["viz_context"] == {}
    assert thread["historical_context"] is None
    assert thread["is_owner"] is True and thread["user_permission"] == "OWNER"
    assert thread["created_at"] == thread["updated_at"]
    assert (await endpoint.get(f"/fino/threads/{thread['id']}")).json() == thread


async def test_list_update_delete(endpoint: httpx2.AsyncClient) -> None:
    assert (await endpoint.get("/fino/threads")).json() == []
    first = await _thread(endpoint, name="one")
    second = await _thread(endpoint, name="two", workflow_name="alpha_v1")
    assert second["workflow_name"] == "alpha_v1"
    listed = (await endpoint.get("/fino/threads")).json()
    assert {t["id"] for t in listed} == {first["id"], second["id"]}

    updated = await endpoint.put(
        f"/fino/threads/{first['id']}",
        json={"name": "Q4 Sales Analysis", "metadata": {"department": "finance"}, "status": "completed"},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["name"] == "Q4 Sales Analysis"
    assert body["metadata"] == {"department": "finance"}
    assert body["status"] == "completed"
    assert body["created_at"] == first["created_at"]

    assert (await endpoint.delete(f"/fino/threads/{first['id']}")).json() is True
    not_found_reason(await endpoint.get(f"/fino/threads/{first['id']}"), "list_threads")
    assert [t["id"] for t in (await endpoint.get("/fino/threads")).json()] == [second["id"]]


async def test_messages_are_stored_and_cleared(endpoint: httpx2.AsyncClient) -> None:
    thread = await _thread(endpoint, name="chat")
    added = await endpoint.post(
        f"/fino/threads/{thread['id']}/messages",
        json={"content": {"user_query": "What are the top 5 regions by revenue?"}, "role": "user"},
    )
    assert added.status_code == 200, added.text
    message_id = added.json()
    assert isinstance(message_id, str) and message_id

    stored = (await endpoint.get(f"/fino/threads/{thread['id']}")).json()
    assert len(stored["messages"]) == 1
    message = stored["messages"][0]
    assert message["id"] == message_id
    assert message["role"] == "user"
    assert message["content"] == {"user_query": "What are the top 5 regions by revenue?"}
    assert "created_at" in message

    assert (await endpoint.delete(f"/fino/threads/{thread['id']}/messages")).json() is True
    assert (await endpoint.get(f"/fino/threads/{thread['id']}")).json()["messages"] == []


@pytest.mark.parametrize(
    ("path_suffix", "body", "expected"),
    [
        ("", {"status": "maybe"}, "ongoing, completed"),
        ("", {"colour": "red"}, "settable fields"),
        ("/messages", {"role": "user"}, "content"),
        ("/messages", {"role": "robot", "content": "hi"}, "user, assistant"),
        ("/messages", ["not", "an", "object"], "JSON object"),
    ],
)
async def test_invalid_updates_and_messages(
    endpoint: httpx2.AsyncClient, path_suffix: str, body: object, expected: str
) -> None:
    thread = await _thread(endpoint, name="t")
    method = "PUT" if not path_suffix else "POST"
    response = await endpoint.request(method, f"/fino/threads/{thread['id']}{path_suffix}", json=body)
    assert response.status_code == 400
    assert expected in response.json()["error"]["reason"]


async def test_unknown_thread_is_404(endpoint: httpx2.AsyncClient) -> None:
    for method, suffix in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/messages"), ("DELETE", "/messages")]:
        response = await endpoint.request(method, f"/fino/threads/nope{suffix}", json={"content": "x"})
        assert "'nope'" in not_found_reason(response, "list_threads"), (method, suffix)


async def test_send_message_is_not_implemented_locally(endpoint: httpx2.AsyncClient) -> None:
    thread = await _thread(endpoint, name="ask")
    response = await endpoint.post(
        "/fino/message", json={"thread_id": thread["id"], "content": {"user_query": "trends?"}, "role": "user"}
    )
    assert response.status_code == 501
    assert response.json()["error"]["reason"] == NO_ANSWERS
    assert "Infino cloud" in NO_ANSWERS and "add_thread_message" in NO_ANSWERS and "POST /" not in NO_ANSWERS
    # Nothing was made up or stored.
    assert (await endpoint.get(f"/fino/threads/{thread['id']}")).json()["messages"] == []
    missing = await endpoint.post("/fino/message", json={"thread_id": "nope", "content": {"user_query": "x"}})
    not_found_reason(missing, "create_thread")


@pytest.fixture
async def other_user(
    endpoint: httpx2.AsyncClient, endpoint_as: Callable[[str, str], httpx2.AsyncClient]
) -> AsyncIterator[httpx2.AsyncClient]:
    role = await endpoint.put("/role/nothing", json={"Permissions": []})
    assert role.status_code == 200
    keys = (await endpoint.put("/user/erin", json={"Roles": ["nothing"]})).json()
    yield endpoint_as(keys["access_key"], keys["secret_key"])


async def test_threads_are_private_to_their_owner(endpoint: httpx2.AsyncClient, other_user: httpx2.AsyncClient) -> None:
    mine = await _thread(endpoint, name="admin's")
    assert (await other_user.get("/fino/threads")).json() == []
    not_found_reason(await other_user.get(f"/fino/threads/{mine['id']}"), "list_threads")
    not_found_reason(await other_user.delete(f"/fino/threads/{mine['id']}"), "list_threads")
    theirs = (await other_user.post("/fino/threads", json={"name": "erin's"})).json()
    assert theirs["user_id"] == "erin"
    assert [t["id"] for t in (await endpoint.get("/fino/threads")).json()] == [mine["id"]]


async def test_threads_survive_a_restart(endpoint: httpx2.AsyncClient, local_services: Services) -> None:
    from infino_mcp.local.storage.jsonstore import JsonCollection

    thread = await _thread(endpoint, name="durable")
    await endpoint.post(f"/fino/threads/{thread['id']}/messages", json={"content": "hello"})
    reopened = JsonCollection(local_services.data_dir / "objects" / "threads.json")
    stored = reopened.get(thread["id"])
    assert stored["name"] == "durable"
    assert stored["messages"][0]["content"] == "hello"


async def test_concurrent_messages_to_one_thread_are_all_kept(endpoint: httpx2.AsyncClient) -> None:
    thread = await _thread(endpoint, name="busy")
    texts = [f"message {n}" for n in range(40)]

    async def add(text: str) -> None:
        response = await endpoint.post(f"/fino/threads/{thread['id']}/messages", json={"content": text})
        assert response.status_code == 200, response.text

    async with anyio.create_task_group() as tg:
        for text in texts:
            tg.start_soon(add, text)
    stored = (await endpoint.get(f"/fino/threads/{thread['id']}")).json()["messages"]
    assert sorted(m["content"] for m in stored) == sorted(texts)


async def test_timestamps_are_the_services_form(endpoint: httpx2.AsyncClient) -> None:
    thread = await _thread(endpoint, name="clock")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", thread["created_at"]), thread["created_at"]
