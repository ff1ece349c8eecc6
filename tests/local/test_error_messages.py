"""Error messages name the MCP tool to call next, never an HTTP route.

HTTP clients and AI models read the same messages; a model can call tools, not routes.
"""

from __future__ import annotations

import re

import httpx2
import pytest

from infino_mcp.local.api.fino import NO_ANSWERS

pytestmark = pytest.mark.anyio
ROUTE = re.compile(r"\b(GET|PUT|POST|PATCH|DELETE) /|/metadata\b|/import/|/_connectors|/_schema|/fino/|/sources?\b")

ROLE = {"Version": "2025-01-01", "Permissions": []}
USER = {"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": []}


async def _reason(response: httpx2.Response, status: int) -> str:
    assert response.status_code == status, response.text
    reason = response.json()["error"]["reason"]
    assert not ROUTE.search(reason), reason
    return reason


async def test_users_and_roles(endpoint: httpx2.AsyncClient) -> None:
    assert (await endpoint.put("/role/bot-reader", json=ROLE)).status_code == 200
    again = await _reason(await endpoint.put("/role/bot-reader", json=ROLE), 409)
    assert again == "Role 'bot-reader' already exists; change it with update_role."
    unknown = await _reason(await endpoint.put("/user/bo", json={**USER, "Roles": ["x", "y"]}), 400)
    assert unknown == "Unknown role(s): x, y; create them with create_role first."
    assert (await endpoint.put("/user/bo", json=USER)).status_code == 200
    twice = await _reason(await endpoint.put("/user/bo", json=USER), 409)
    assert twice == "User 'bo' already exists; change it with update_user."


async def test_fino(endpoint: httpx2.AsyncClient) -> None:
    missing = await _reason(await endpoint.get("/fino/threads/nope"), 404)
    assert missing == "Thread 'nope' not found; list your threads with list_threads."
    body = {"thread_id": "nope", "content": {"user_query": "x"}}
    no_thread = await _reason(await endpoint.post("/fino/message", json=body), 404)
    assert no_thread == "Thread 'nope' not found; create one with create_thread."
    thread = (await endpoint.post("/fino/threads", json={"name": "t"})).json()
    answer = await _reason(await endpoint.post("/fino/message", json={**body, "thread_id": thread["id"]}), 501)
    assert (
        answer
        == NO_ANSWERS
        == (
            "Fino's answers need Infino cloud; this local endpoint only stores threads and their messages "
            "(add_thread_message)."
        )
    )


async def test_datasets_and_sql(endpoint: httpx2.AsyncClient) -> None:
    expected = "Dataset 'nosuch' not found; get_datasets lists the datasets that exist."
    assert await _reason(await endpoint.get("/nosuch/metadata"), 404) == expected
    assert await _reason(await endpoint.request("GET", "/sql", json={"query": "SELECT * FROM nosuch"}), 404) == expected
    assert not (await endpoint.post("/logs/json", content='{"index":{}}\n{"a":1}\n')).json()["errors"]
    create = await endpoint.request("POST", "/sql", json={"query": "DROP TABLE logs"})
    assert await _reason(create, 400) == (
        "Only SELECT queries can be run here; change records with upsert_to_dataset (INSERT or UPDATE) "
        "or delete_records."
    )
    sort = await endpoint.request("GET", "/logs/querydsl", json={"query": {"match_all": {}}, "sort": ["b"]})
    assert await _reason(sort, 400) == (
        "No field 'b' to sort on in this dataset; check the schema with get_dataset_schema or pass \"unmapped_type\"."
    )


async def test_connections_and_import_jobs(endpoint: httpx2.AsyncClient) -> None:
    kind = await _reason(await endpoint.post("/source/oracle-9i", json={}), 400)
    assert kind.startswith("Unknown source type 'oracle-9i'; get_sources lists the types: ")
    missing = await _reason(await endpoint.get("/source/conn_nope"), 404)
    assert missing == "Connection 'conn_nope' not found; get_connections lists them."
    job = await _reason(await endpoint.put("/import/postgres", json={"target_dataset": "x"}), 400)
    assert job == "The import job needs 'connection_id' (from create_connection)."
    gone = await _reason(await endpoint.delete("/import/jobs/job_nope"), 404)
    assert gone == "Import job 'job_nope' not found; get_import_jobs lists them."
