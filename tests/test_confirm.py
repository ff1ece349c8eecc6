"""Destructive tools ask the user first (infino_mcp.confirm), on both protocol eras."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import ElicitResult

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

pytestmark = pytest.mark.anyio

Answer = Callable[[Any, Any], Awaitable[ElicitResult]]
OpenClient = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture
def open_client(tool_settings: Settings, infino_client: InfinoClient) -> OpenClient:
    """``open_client(mode=..., answer=...)``: a client on a server that asks before destroying."""

    @contextlib.asynccontextmanager
    async def opened(*, mode: str = "auto", answer: Answer | None = None, **overrides: Any) -> AsyncIterator[Client]:
        settings = tool_settings.model_copy(update={"allow_destructive": False, **overrides})
        kwargs: dict[str, Any] = {"mode": mode}
        if answer is not None:
            kwargs["elicitation_callback"] = answer
        async with Client(build_server(settings, client=infino_client), **kwargs) as client:
            yield client

    return opened


def answering(action: str, confirm: bool | None = True, seen: list[str] | None = None) -> Answer:
    async def answer(ctx: Any, params: Any) -> ElicitResult:
        if seen is not None:
            seen.append(params.message)
        content = {"confirm": confirm} if action == "accept" and confirm is not None else None
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return answer


async def _names(client: Client) -> set[str]:
    return {row.name for row in (await client.list_tools()).tools}


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def _make_dataset(client: Client, name: str) -> None:
    result = await client.call_tool("create_dataset", {"dataset": name})
    assert not result.is_error, _text(result)


async def _exists(client: Client, name: str) -> bool:
    result = await client.call_tool("get_datasets", {"pattern": name})
    assert not result.is_error, _text(result)
    return any(row["name"] == name for row in result.structured_content["datasets"])


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_accept_runs_the_tool(open_client: OpenClient, mode: str) -> None:
    questions: list[str] = []
    async with open_client(mode=mode, answer=answering("accept", seen=questions)) as client:
        await _make_dataset(client, "doomed")
        result = await client.call_tool("delete_dataset", {"dataset": "doomed"})
        assert not result.is_error, _text(result)
        assert result.structured_content["acknowledged"] is True
        assert not await _exists(client, "doomed")
    assert len(questions) == 1
    assert "doomed" in questions[0] and "delete_dataset" in questions[0] and "cannot be undone" in questions[0]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(("action", "confirm"), [("decline", None), ("cancel", None), ("accept", False)])
async def test_no_means_nothing_changes(open_client: OpenClient, mode: str, action: str, confirm: bool | None) -> None:
    async with open_client(mode=mode, answer=answering(action, confirm)) as client:
        await _make_dataset(client, "kept")
        result = await client.call_tool("delete_dataset", {"dataset": "kept"})
        assert result.is_error
        text = _text(result)
        assert "Not done" in text and "nothing was changed" in text
        assert f"the user {'cancelled' if action == 'cancel' else 'declined'} delete_dataset" in text
        assert await _exists(client, "kept")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_without_elicitation_is_refused_with_the_operator_hint(open_client: OpenClient, mode: str) -> None:
    async with open_client(mode=mode) as client:
        await _make_dataset(client, "safe")
        try:
            result = await client.call_tool("delete_dataset", {"dataset": "safe"})
        except MCPError as exc:  # pragma: no cover - the refusal must be a tool result, not a protocol error
            pytest.fail(f"refusal came as a protocol error: {exc}")
        assert result.is_error
        text = _text(result)
        assert "--allow-destructive" in text and "INFINO_ALLOW_DESTRUCTIVE=true" in text
        assert "Nothing was changed" in text
        assert await _exists(client, "safe")


async def test_input_schema_is_identical_with_and_without_confirmation(
    open_client: OpenClient, tool_settings: Settings, infino_client: InfinoClient
) -> None:
    async with Client(build_server(tool_settings, client=infino_client)) as plain:
        unguarded = {row.name: row for row in (await plain.list_tools()).tools}
    async with open_client() as client:
        guarded = {row.name: row for row in (await client.list_tools()).tools}
    assert guarded.keys() == unguarded.keys()
    confirmed = [name for name in guarded if name.startswith("delete_")]
    assert "delete_dataset" in confirmed
    for name in guarded:
        assert guarded[name].input_schema == unguarded[name].input_schema, name
        assert guarded[name].output_schema == unguarded[name].output_schema, name
        assert guarded[name].description == unguarded[name].description, name
        assert "user_confirmation" not in str(guarded[name].input_schema)


async def test_allow_destructive_skips_the_question(open_client: OpenClient) -> None:
    async with open_client(allow_destructive=True) as client:
        await _make_dataset(client, "gone")
        result = await client.call_tool("delete_dataset", {"dataset": "gone"})
        assert not result.is_error, _text(result)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_json_arguments_reach_the_question_and_the_tool(open_client: OpenClient, mode: str, call: Any) -> None:
    questions: list[str] = []
    async with open_client(mode=mode, answer=answering("accept", seen=questions)) as client:
        records = [{"level": "spam", "n": 1}, {"level": "info", "n": 2}]
        await call(client, "upload_json_to_dataset", {"dataset": "events", "records": records})
        query = {"query": {"term": {"level": "spam"}}}
        result = await client.call_tool("delete_records", {"dataset": "events", "query": query})
        assert not result.is_error, _text(result)
    assert len(questions) == 1
    assert 'query={"query": {"term": {"level": "spam"}}}' in questions[0] and "dataset=events" in questions[0]
