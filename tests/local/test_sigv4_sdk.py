"""The official Infino SDK (a real client over real HTTP) against the local endpoint served by uvicorn.

The listening socket is bound before the server starts, so clients can connect
at once (the kernel queues them) without waiting for startup.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
import websockets
from infino_sdk import InfinoError, InfinoSDK

from infino_mcp.local.api.fino import WS_CLOSE_REASON
from infino_mcp.local.services import Services

pytestmark = pytest.mark.anyio


async def test_sdk_calls_verify(sdk: InfinoSDK) -> None:
    role = "Version: 2025-01-01\nPermissions:\n  - ResourceType: record\n    Actions: [read]\n    Resources: [logs-*]\n"
    assert await anyio.to_thread.run_sync(sdk.create_role, "sdk-role", role) == {"acknowledged": True}
    created = await anyio.to_thread.run_sync(sdk.create_user, "sdk-user", {"Roles": ["sdk-role"]})
    assert created["username"] == "sdk-user"
    users = await anyio.to_thread.run_sync(sdk.list_users)
    assert set(users) == {"admin", "sdk-user"}
    user_sdk = InfinoSDK(created["access_key"], created["secret_key"], sdk.endpoint)
    try:
        assert "sdk-user" in await anyio.to_thread.run_sync(user_sdk.get_user, "sdk-user")
    finally:
        user_sdk.close()


async def test_sdk_list_with_query_params_is_refused(sdk: InfinoSDK) -> None:
    """The SDK signs list calls without their query string; SigV4 covers it, so the endpoint says 401."""
    with pytest.raises(InfinoError) as caught:
        await anyio.to_thread.run_sync(lambda: sdk.list_visualizations(limit=5))
    assert caught.value.status_code() == 401
    assert "signature does not match" in caught.value.message


async def test_sdk_bad_secret_is_refused(served: str, local_services: Services) -> None:
    access, _ = local_services.rbac.bootstrap_credentials()
    wrong = InfinoSDK(access, "wrong-secret", served)
    try:
        with pytest.raises(InfinoError) as caught:
            await anyio.to_thread.run_sync(wrong.list_users)
        assert caught.value.status_code() == 401
    finally:
        wrong.close()


async def test_sdk_multipart_upload_verifies(sdk: InfinoSDK, tmp_path: Path) -> None:
    """Multipart uploads sign UNSIGNED-PAYLOAD with the query string; the endpoint accepts them."""
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    result = await anyio.to_thread.run_sync(lambda: sdk.upload_file("sdk-upload", str(path), format="jsonl"))
    assert result["status"] == "completed", result
    assert result["stats"]["documents_processed"] == 2
    status = await anyio.to_thread.run_sync(sdk.get_connector_job_status, result["run_id"])
    assert status["status"] == "completed"


async def test_sdk_websocket_gets_a_clear_refusal(sdk: InfinoSDK) -> None:
    """Fino's WebSocket: the presigned URL verifies, then one error event and a close with a reason."""
    ws = await sdk.websocket_connect("/fino/nl")
    try:
        event = json.loads(await ws.recv())
        assert event["type"] == "error"
        assert "Infino cloud" in event["content"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        assert closed.value.rcvd.reason == WS_CLOSE_REASON
    finally:
        await ws.close()


async def test_websocket_with_a_bad_signature_is_refused(served: str, local_services: Services) -> None:
    access, _ = local_services.rbac.bootstrap_credentials()
    wrong = InfinoSDK(access, "wrong-secret", served)
    try:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await wrong.websocket_connect("/fino/nl")
        assert refused.value.response.status_code == 403
    finally:
        wrong.close()


async def test_sdk_threads_connections_and_jobs(sdk: InfinoSDK) -> None:
    """Shapes as the SDK documents them, through the SDK's own calls."""
    thread = await anyio.to_thread.run_sync(sdk.create_thread, {"name": "Sales Analysis", "streaming": True})
    assert thread["status"] == "ongoing" and thread["user_permission"] == "OWNER"
    message_id = await anyio.to_thread.run_sync(
        sdk.add_thread_message, thread["id"], {"content": {"user_query": "Top regions?"}, "role": "user"}
    )
    assert isinstance(message_id, str)
    assert (await anyio.to_thread.run_sync(sdk.get_thread, thread["id"]))["messages"][0]["id"] == message_id
    assert await anyio.to_thread.run_sync(sdk.clear_thread_messages, thread["id"]) is True
    assert await anyio.to_thread.run_sync(sdk.delete_thread, thread["id"]) is True

    sources = await anyio.to_thread.run_sync(sdk.get_sources)
    assert any(s["id"] == "snowflake" for s in sources)
    conn = await anyio.to_thread.run_sync(
        sdk.create_connection, "snowflake", {"config": {"name": "wh", "account": "a1", "password": "pw"}}
    )
    assert conn["config"]["password"] == "****"
    job = await anyio.to_thread.run_sync(
        sdk.create_import_job,
        "snowflake",
        {
            "connection_id": conn["connection_id"],
            "target_dataset": "sales",
            "query": "SELECT 1",
            "schedule": "0 2 * * *",
        },
    )
    assert job["status"] == "pending"
    assert [j["job_id"] for j in await anyio.to_thread.run_sync(sdk.get_import_jobs)] == [job["job_id"]]
    # (The 501s of source queries are tested without the SDK: it retries every 5xx with 1-2 s sleeps.)
