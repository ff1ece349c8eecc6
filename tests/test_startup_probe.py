"""The start-up check: one stderr line for an unreachable endpoint, a rejected key or a skewed clock; the server
still starts, and a failing call names the same cause."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import anyio
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from starlette.responses import JSONResponse

from tests.http_servers import local_endpoint, start_server

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def skewed_endpoint(offset: float) -> AsyncIterator[str]:
    """An endpoint whose clock is ``offset`` seconds from ours: it refuses every signature, as Infino would."""

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        date = formatdate(time.time() + offset, usegmt=True)
        body = {"error": {"reason": "Signature expired: the request time is too far from the server time."}}
        await JSONResponse(body, status_code=401, headers={"date": date})(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", date_header=False))
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True


def _checks(started: str) -> list[str]:
    return [line for line in started.splitlines() if "start-up check" in line]


async def _first_failure(url: str) -> str:
    async with Client(url) as client:
        result = await client.call_tool("get_datasets", {})
        assert result.is_error
        return result.content[0].text


async def test_unreachable_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {"INFINO_ENDPOINT": endpoint, "INFINO_ACCESS_KEY": "ak", "INFINO_SECRET_KEY": "sk", "INFINO_MAX_RETRIES": "0"}
    async with start_server([], env) as server:
        (line,) = _checks(server.started)
        assert f"cannot reach {endpoint} (ConnectError)" in line and "Serving anyway" in line
        assert f"At start-up: cannot reach {endpoint}" in await _first_failure(server.url)


async def test_rejected_key_and_then_good_keys(tmp_path: Path) -> None:
    async with local_endpoint(tmp_path / "infino") as infino:
        wrong = {**infino, "INFINO_SECRET_KEY": "not-the-secret"}
        async with start_server([], wrong) as server:
            (line,) = _checks(server.started)
            assert f"{infino['INFINO_ENDPOINT']} rejected the key (HTTP 401" in line
            assert "check INFINO_ACCESS_KEY and INFINO_SECRET_KEY" in line and "not-the-secret" not in line
            failure = await _first_failure(server.url)
            assert "HTTP 401" in failure and "At start-up:" in failure and "rejected the key" in failure
        async with start_server([], infino) as server:
            assert _checks(server.started) == []


async def test_skewed_clock(tmp_path: Path) -> None:
    async with skewed_endpoint(-2 * 3600) as endpoint:
        env = {"INFINO_ENDPOINT": endpoint, "INFINO_ACCESS_KEY": "ak", "INFINO_SECRET_KEY": "sk"}
        async with start_server([], env) as server:
            (line,) = _checks(server.started)
            assert f"this machine's clock is 120 minutes ahead of {endpoint}'s" in line
            assert "set the system clock" in line
            assert "clock is 120 minutes ahead" in await _first_failure(server.url)


async def test_on_stdio_the_check_runs_after_the_handshake_and_the_first_call_waits_for_it() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env |= {
        "INFINO_ENDPOINT": endpoint,
        "INFINO_ACCESS_KEY": "ak",
        "INFINO_SECRET_KEY": "sk",
        "INFINO_MAX_RETRIES": "0",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "infino_mcp"], env=env)
    async with Client(params) as client:
        result = await client.call_tool("get_datasets", {})
        assert result.is_error
        assert f"At start-up: cannot reach {endpoint} (ConnectError)" in result.content[0].text
