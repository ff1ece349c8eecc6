"""ask_fino against a scripted Fino WebSocket server that checks the presigned URL like the service does."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx2
import pytest
from mcp import Client
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.sigv4 import verify_presigned
from infino_mcp.server import build_server
from tests.mcp_fixtures import RecordingTransport

pytestmark = pytest.mark.anyio

Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


class FinoDouble:
    """A Fino socket on 127.0.0.1: verifies the presigned URL, reads the question, plays a script."""

    def __init__(self, services: Any, script: Script) -> None:
        self.services = services
        self.script = script
        self.questions: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.closed = anyio.Event()
        self.port = 0

    def check(self, connection: ServerConnection, request: Any) -> Any:
        parts = urlsplit(request.path)
        self.paths.append(parts.path)
        try:
            verify_presigned(
                raw_path=parts.path,
                query=parse_qsl(parts.query, keep_blank_values=True),
                host=request.headers["Host"],
                lookup=self.services.rbac.lookup_key,
                region=self.services.region,
                service=self.services.service,
            )
        except ApiError as exc:
            return connection.respond(HTTPStatus.UNAUTHORIZED, exc.message)
        return None

    async def handle(self, connection: ServerConnection) -> None:
        try:
            question = json.loads(await connection.recv())
            self.questions.append(question)
            await self.script(connection, question)
        except ConnectionClosed:
            pass
        finally:
            await connection.wait_closed()
            self.closed.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FinoDouble]:
        async with serve(self.handle, "127.0.0.1", 0, process_request=self.check) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            yield self


def _frames(*frames: dict[str, Any] | str) -> Script:
    async def play(connection: ServerConnection, question: dict[str, Any]) -> None:
        for frame in frames:
            await connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    return play


@contextlib.asynccontextmanager
async def fino_client(
    services: Any, app: Any, port: int, requests: list[httpx2.Request], tmp_path: Path, *, secret: str | None = None
) -> AsyncIterator[Client]:
    """An MCP client on a cloud-configured server: HTTP goes to the local endpoint app, the socket to ``port``."""
    access, real_secret = services.rbac.bootstrap_credentials()
    endpoint = f"http://127.0.0.1:{port}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        endpoint=endpoint,
        access_key=access,
        secret_key=secret or real_secret,
        data_dir=tmp_path,
        toolsets="all",
        retry_backoff=0,
        timeout=30,
    )
    transport = RecordingTransport(httpx2.ASGITransport(app=app), requests)
    async with InfinoClient(endpoint, access, secret or real_secret, settings=settings, transport=transport) as infino:
        async with Client(build_server(settings, client=infino)) as client:
            yield client


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_streams_chunks_and_queries_in_a_new_thread(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    double = FinoDouble(
        local_services,
        _frames(
            {"type": "status", "content": "Reading the schema"},
            {"type": "chunk", "content": "Revenue rose "},
            {"type": "query", "query": "SELECT SUM(amount) FROM orders", "language": "sql"},
            "by 12%.",
            {"type": "something-new", "note": "no content: ignored"},
            {"type": "done"},
        ),
    )
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with (
        double.running(),
        fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool(
            "ask_fino", {"question": "How did revenue change?"}, progress_callback=on_progress
        )
    assert not result.is_error, _text(result)
    answer = result.structured_content
    assert answer["answer"] == "Revenue rose by 12%."
    assert answer["queries"] == [{"query": "SELECT SUM(amount) FROM orders", "language": "sql"}]
    assert double.paths == ["/fino/nl"]
    assert double.questions == [
        {"type": "query", "content": "How did revenue change?", "thread_id": answer["thread_id"]}
    ]
    assert [r.url.path for r in sent_requests] == ["/fino/threads"]
    assert local_services.collection("threads").get(answer["thread_id"]) is not None
    assert [v for v, _ in progress] == [1, 2, 3, 4]
    assert progress[0][1] == "status: Reading the schema" and progress[1][1] == "chunk: Revenue rose "


def _documented(*contents: str, complete: dict[str, Any] | None = None) -> Script:
    """Fino as the SDK's README shows it: one ``query`` message in, content frames out, then ``complete``."""

    async def play(connection: ServerConnection, question: dict[str, Any]) -> None:
        if question.get("type") != "query" or not isinstance(question.get("content"), str):
            await connection.close(code=1003, reason="expected {type: query, content}")
            return
        for content in contents:
            await connection.send(json.dumps({"type": "message", "content": content}))
        await connection.send(json.dumps(complete or {"type": "complete"}))
        await connection.wait_closed()

    return play


async def test_the_documented_exchange(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    double = FinoDouble(local_services, _documented("The top products are ", "Widget and Gadget."))
    async with (
        double.running(),
        fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "Top 5 products by revenue?", "thread_id": "t-1"})
        assert not result.is_error, _text(result)
        assert result.structured_content["answer"] == "The top products are Widget and Gadget."
        with anyio.fail_after(20):
            await double.closed.wait()
    assert double.questions == [{"type": "query", "content": "Top 5 products by revenue?", "thread_id": "t-1"}]


async def test_a_complete_frame_with_content(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    """``complete`` may carry the last piece, or repeat the whole answer: neither is lost or doubled."""
    cases = [
        (_documented("Sales ", complete={"type": "complete", "content": "doubled."}), "Sales doubled."),
        (_documented("Sales doubled.", complete={"type": "complete", "content": "Sales doubled."}), "Sales doubled."),
        (_documented(complete={"type": "complete", "content": "All of it."}), "All of it."),
    ]
    for script, expected in cases:
        double = FinoDouble(local_services, script)
        async with (
            double.running(),
            fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
        ):
            result = await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"})
        assert not result.is_error, _text(result)
        assert result.structured_content["answer"] == expected


async def test_documented_server_closing_before_complete(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    async def hang_up(connection: ServerConnection, question: dict[str, Any]) -> None:
        await connection.send(json.dumps({"type": "message", "content": "Revenue is"}))
        await connection.close()

    double = FinoDouble(local_services, hang_up)
    async with (
        double.running(),
        fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"})
    assert result.is_error
    assert "before finishing" in _text(result) and "Revenue is" in _text(result)


async def test_final_frame_wins_and_an_existing_thread_is_reused(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    double = FinoDouble(
        local_services,
        _frames(
            {"type": "chunk", "content": "draft"}, {"type": "final", "content": "The answer is 42.", "message_id": "m1"}
        ),
    )
    async with (
        double.running(),
        fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "What is it?", "thread_id": "thread-7"})
    assert not result.is_error, _text(result)
    assert result.structured_content == {
        "answer": "The answer is 42.",
        "thread_id": "thread-7",
        "queries": [],
        "message_id": "m1",
    }
    assert sent_requests == []
    assert double.questions[0]["thread_id"] == "thread-7"


async def test_error_frame_and_early_close_are_errors(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    failing = FinoDouble(local_services, _frames({"type": "error", "message": "dataset orders is not indexed"}))
    async with (
        failing.running(),
        fino_client(local_services, endpoint_app, failing.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"})
    assert result.is_error and "dataset orders is not indexed" in _text(result)

    async def hang_up(connection: ServerConnection, question: dict[str, Any]) -> None:
        await connection.send(json.dumps({"type": "chunk", "content": "half an ans"}))
        await connection.close(code=1011, reason="overloaded")

    closing = FinoDouble(local_services, hang_up)
    async with (
        closing.running(),
        fino_client(local_services, endpoint_app, closing.port, sent_requests, tmp_path) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"})
    assert result.is_error
    assert "before finishing" in _text(result) and "overloaded" in _text(result) and "half an ans" in _text(result)


async def test_a_bad_signature_is_refused(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    double = FinoDouble(local_services, _frames({"type": "done"}))
    async with (
        double.running(),
        fino_client(
            local_services, endpoint_app, double.port, sent_requests, tmp_path, secret="not-the-secret"
        ) as client,
    ):
        result = await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"})
    assert result.is_error and "refused the connection (401)" in _text(result)
    assert double.questions == []


async def test_cancelling_closes_the_socket(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    async def first_piece_then_wait(connection: ServerConnection, question: dict[str, Any]) -> None:
        assert question["type"] == "query"
        await connection.send(json.dumps({"type": "message", "content": "thinking"}))
        await connection.wait_closed()

    double = FinoDouble(local_services, first_piece_then_wait)
    started = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    async with (
        double.running(),
        fino_client(local_services, endpoint_app, double.port, sent_requests, tmp_path) as client,
    ):
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                await client.call_tool("ask_fino", {"question": "q", "thread_id": "t"}, progress_callback=on_progress)

            tg.start_soon(ask)
            with anyio.fail_after(20):
                await started.wait()
            tg.cancel_scope.cancel()
        with anyio.fail_after(20):
            await double.closed.wait()
        # The session is still usable after the cancelled call.
        assert (await client.call_tool("get_datasets", {})).is_error is False


async def test_local_mode_says_fino_needs_cloud(mcp: Client, sent_requests: list) -> None:
    result = await mcp.call_tool("ask_fino", {"question": "Hello?"})
    assert result.is_error
    text = _text(result)
    assert "Fino needs Infino cloud" in text and "INFINO_ENDPOINT" in text
    assert sent_requests == []


async def test_the_local_endpoint_socket_refuses_with_the_cloud_message(
    local_services: Any, endpoint_app: Any, sent_requests: list, tmp_path: Path
) -> None:
    """The real local endpoint served on a port: its /fino/nl answers with a 501 error frame."""
    import uvicorn

    # A socket that listens before uvicorn starts: connections wait in its backlog, no polling needed.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    config = uvicorn.Config(endpoint_app, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[listener]))
        try:
            async with fino_client(local_services, endpoint_app, port, sent_requests, tmp_path) as client:
                result = await client.call_tool("ask_fino", {"question": "Hello?"})
        finally:
            server.should_exit = True
    listener.close()
    assert result.is_error
    assert "Fino needs Infino cloud" in _text(result)
