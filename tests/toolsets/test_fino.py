"""Fino tools through an MCP client against the local endpoint (which stores threads but cannot answer)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def new_thread(client, call, name: str = "Revenue questions") -> str:
    thread = await call(client, "create_thread", {"name": name})
    return thread["id"]


async def test_thread_lifecycle(mcp, call):
    assert (await call(mcp, "list_threads"))["threads"] == []
    created = await call(mcp, "create_thread", {"name": "Revenue questions", "streaming": False})
    assert created["thread"]["name"] == "Revenue questions" and created["thread"]["status"] == "ongoing"
    assert created["thread"]["streaming"] is False
    assert created["messages"] == []
    thread_id = created["id"]

    listed = await call(mcp, "list_threads")
    assert [(t["id"], t["name"], t["message_count"]) for t in listed["threads"]] == [
        (thread_id, "Revenue questions", 0)
    ]

    updated = await call(mcp, "update_thread", {"thread_id": thread_id, "name": "Q3 revenue", "status": "completed"})
    assert updated["thread"]["name"] == "Q3 revenue" and updated["thread"]["status"] == "completed"
    assert (await call(mcp, "get_thread", {"thread_id": thread_id}))["thread"]["name"] == "Q3 revenue"

    deleted = await call(mcp, "delete_thread", {"thread_id": thread_id})
    assert deleted["acknowledged"] is True
    assert (await call(mcp, "list_threads"))["threads"] == []


async def test_create_thread_extra_config_as_json_text(mcp, call):
    created = await call(mcp, "create_thread", {"name": "t", "config": '{"metadata": {"team": "finance"}}'})
    assert created["thread"]["metadata"] == {"team": "finance"}


async def test_create_thread_invalid_config_json_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "create_thread", {"name": "t", "config": '{"metadata": }'})
    assert "config is not valid JSON" in message and "line 1, column 14" in message
    assert sent_requests == []


async def test_create_thread_service_validation_error(mcp, call_error):
    message = await call_error(mcp, "create_thread", {"name": "t", "config": {"colour": "red"}})
    assert "HTTP 400" in message and "colour" in message


async def test_messages_added_listed_paged_and_cleared(mcp, call):
    thread_id = await new_thread(mcp, call)
    first = await call(mcp, "add_thread_message", {"thread_id": thread_id, "content": "What was revenue in Q3?"})
    assert first["message_id"]
    await call(
        mcp,
        "add_thread_message",
        {"thread_id": thread_id, "message": json.dumps({"role": "assistant", "content": {"text": "About 1.2M"}})},
    )
    await call(mcp, "add_thread_message", {"thread_id": thread_id, "message": {"role": "user", "content": "Thanks"}})

    thread = await call(mcp, "get_thread", {"thread_id": thread_id})
    assert [(m["role"], m["content"]) for m in thread["messages"]] == [
        ("user", "What was revenue in Q3?"),
        ("assistant", {"text": "About 1.2M"}),
        ("user", "Thanks"),
    ]
    assert thread["messages"][0]["id"] == first["message_id"]
    assert "messages" not in thread["thread"]
    assert (await call(mcp, "list_threads"))["threads"][0]["message_count"] == 3

    paged = await call(mcp, "get_thread", {"thread_id": thread_id, "limit": 1, "offset": 1})
    assert [m["content"] for m in paged["messages"]] == [{"text": "About 1.2M"}]
    assert paged["page"]["truncated"] is True and "offset=2" in paged["page"]["note"]

    cleared = await call(mcp, "clear_thread_messages", {"thread_id": thread_id})
    assert cleared["acknowledged"] is True
    assert (await call(mcp, "get_thread", {"thread_id": thread_id}))["messages"] == []


async def test_add_message_needs_content_or_message(mcp, call, call_error, sent_requests):
    thread_id = await new_thread(mcp, call)
    sent_requests.clear()
    assert "pass content" in await call_error(mcp, "add_thread_message", {"thread_id": thread_id})
    both = await call_error(
        mcp, "add_thread_message", {"thread_id": thread_id, "content": "a", "message": {"content": "b"}}
    )
    assert "not both" in both
    bad = await call_error(mcp, "add_thread_message", {"thread_id": thread_id, "message": "{role: user}"})
    assert "message is not valid JSON" in bad and "line 1, column 2" in bad
    assert sent_requests == []


async def test_add_message_bad_role_is_a_schema_error(mcp, call, call_error, sent_requests):
    thread_id = await new_thread(mcp, call)
    sent_requests.clear()
    message = await call_error(mcp, "add_thread_message", {"thread_id": thread_id, "content": "hi", "role": "robot"})
    assert "role" in message
    assert sent_requests == []


async def test_send_message_says_it_needs_infino_cloud(mcp, call, call_error, sent_requests):
    thread_id = await new_thread(mcp, call)
    sent_requests.clear()
    message = await call_error(mcp, "send_message", {"thread_id": thread_id, "question": "Top products by revenue?"})
    assert "HTTP 501" in message and "Infino cloud" in message and "INFINO_ENDPOINT" in message
    (request,) = sent_requests
    assert request.url.path == "/fino/message"
    assert json.loads(request.content) == {
        "thread_id": thread_id,
        "content": {"user_query": "Top products by revenue?"},
        "role": "user",
    }


async def test_send_message_unknown_thread(mcp, call_error):
    message = await call_error(mcp, "send_message", {"thread_id": "no-such-thread", "question": "hi"})
    assert "HTTP 404" in message and "create_thread" in message and "list_threads" in message
    assert "get_datasets" not in message  # a thread, not a dataset, is missing


async def test_get_unknown_thread(mcp, call_error):
    message = await call_error(mcp, "get_thread", {"thread_id": "00000000-0000-0000-0000-000000000000"})
    assert "get_thread failed with HTTP 404" in message and "list_threads" in message


async def test_update_thread_with_nothing_is_refused(mcp, call_error, sent_requests):
    assert "Nothing to update" in await call_error(mcp, "update_thread", {"thread_id": "x"})
    assert sent_requests == []


@pytest.mark.parametrize("tool", ["get_thread", "delete_thread", "clear_thread_messages"])
async def test_thread_id_with_a_slash_is_refused(mcp, call_error, sent_requests, tool):
    message = await call_error(mcp, tool, {"thread_id": "../../sql"})
    assert "not a valid id" in message
    assert sent_requests == []


async def test_list_threads_paging(mcp, call):
    for n in range(3):
        await new_thread(mcp, call, name=f"t{n}")
    page = await call(mcp, "list_threads", {"limit": 2})
    assert [t["name"] for t in page["threads"]] == ["t2", "t1"]
    assert page["page"]["total"] == 3 and page["page"]["next_offset"] == 2


async def test_fino_annotations(mcp):
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert tools["delete_thread"].annotations.destructive_hint is True
    assert tools["clear_thread_messages"].annotations.destructive_hint is True
    assert tools["list_threads"].annotations.read_only_hint is True
    assert tools["send_message"].annotations.read_only_hint is False


@pytest.mark.parametrize("tool", ["delete_thread", "clear_thread_messages"])
async def test_destructive_thread_tools_need_confirmation(make_mcp, call, call_error, sent_requests, tool):
    client = await make_mcp(allow_destructive=False)
    thread_id = await new_thread(client, call)
    sent_requests.clear()
    message = await call_error(client, tool, {"thread_id": thread_id})
    assert "Nothing was changed" in message
    assert sent_requests == []
