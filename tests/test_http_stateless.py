"""``--stateless`` replicas behind a round-robin proxy written here: one client's calls alternate between them.

Both replicas use one Infino endpoint (the local endpoint served over HTTP by
``infino-mcp local-endpoint``), as replicas of a deployment share Infino. A
confirmed ``delete_dataset`` asks on one replica and runs on the other, which
opens the confirmation state with the key they share; a replica with another
key refuses it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult
from starlette.requests import Request
from starlette.responses import Response

from tests.http_servers import local_endpoint, start_server

pytestmark = pytest.mark.anyio

KEY = "replicas-share-this-key-0123456789abcdef"
OTHER_KEY = "another-deployment-key-0123456789abcdef"


class RoundRobin:
    """An ASGI reverse proxy sending each request to the next upstream in turn; it records who served what."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.served: list[int] = []
        self.http = httpx2.AsyncClient(timeout=60)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        index = len(self.served) % len(self.upstreams)
        self.served.append(index)
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        upstream = await self.http.request(
            request.method, self.upstreams[index], content=await request.body(), headers=headers
        )
        drop = ("content-length", "transfer-encoding", "connection", "content-encoding")
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in drop}
        await Response(upstream.content, status_code=upstream.status_code, headers=kept)(scope, receive, send)


@contextlib.asynccontextmanager
async def proxy(upstreams: list[str]) -> AsyncIterator[tuple[str, RoundRobin]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    balancer = RoundRobin(upstreams)
    server = uvicorn.Server(uvicorn.Config(balancer, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", balancer
        finally:
            server.should_exit = True
            await balancer.http.aclose()


async def _yes(_: Any, params: Any) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirm": True})


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_twenty_calls_alternate_between_two_stateless_replicas(tmp_path: Path) -> None:
    args = ["--stateless", "--toolsets", "all"]
    async with (
        local_endpoint(tmp_path / "infino") as infino,
        start_server(args, {**infino, "INFINO_MCP_STATE_KEY": KEY}) as one,
        start_server(args, {**infino, "INFINO_MCP_STATE_KEY": KEY}) as two,
        start_server(args, {**infino, "INFINO_MCP_STATE_KEY": OTHER_KEY}) as foreign,
    ):
        async with proxy([one.url, two.url]) as (url, balancer):
            async with Client(streamable_http_client(url), elicitation_callback=_yes) as client:
                outcomes = []
                for i in range(8):
                    outcomes.append(await client.call_tool("create_dataset", {"dataset": f"replica-{i}"}))
                    outcomes.append(
                        await client.call_tool(
                            "upload_json_to_dataset", {"dataset": f"replica-{i}", "records": [{"n": i}]}
                        )
                    )
                listed = await client.call_tool("get_datasets", {"pattern": "replica-*"})
                outcomes.append(listed)
                deleted = await client.call_tool("delete_dataset", {"dataset": "replica-0"})  # two round trips
                outcomes.append(deleted)
                after = await client.call_tool("get_datasets", {"pattern": "replica-*"})
                outcomes.append(after)
                outcomes.append(await client.call_tool("ping", {}))
                assert len(outcomes) == 20
                assert [_text(r) for r in outcomes if r.is_error] == []
                assert sorted(d["name"] for d in listed.structured_content["datasets"]) == [
                    f"replica-{i}" for i in range(8)
                ]
                assert sorted(d["name"] for d in after.structured_content["datasets"]) == [
                    f"replica-{i}" for i in range(1, 8)
                ]
            served = balancer.served
            assert all(a != b for a, b in zip(served, served[1:]))  # strictly alternating
            assert served.count(0) >= 10 and served.count(1) >= 10

        # The confirmation asked by a replica of one key, answered to a replica of another: refused, nothing deleted.
        async with proxy([one.url, foreign.url]) as (url, balancer):
            async with Client(streamable_http_client(url), elicitation_callback=_yes) as client:
                refused = await client.call_tool("delete_dataset", {"dataset": "replica-1"})
                assert refused.is_error and "another INFINO_MCP_STATE_KEY" in _text(refused), _text(refused)
                assert "Nothing was changed" in _text(refused)
            async with Client(streamable_http_client(one.url)) as client:
                kept = await client.call_tool("get_datasets", {"pattern": "replica-1"})
                assert [d["name"] for d in kept.structured_content["datasets"]] == ["replica-1"]

        # A 2025-era client: every call works statelessly; a confirmation cannot, and it says why.
        async with proxy([one.url, two.url]) as (url, balancer):
            async with Client(streamable_http_client(url), mode="legacy", elicitation_callback=_yes) as client:
                for _ in range(3):
                    ok = await client.call_tool("get_datasets", {"pattern": "replica-*"})
                    assert not ok.is_error
                refused = await client.call_tool("delete_dataset", {"dataset": "replica-2"})
                assert refused.is_error and "stateless" in _text(refused) and "2026-07-28" in _text(refused)
            assert set(balancer.served) == {0, 1}
