"""The real wire: the server as a subprocess over stdio and over streamable HTTP on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from infino_mcp.server import all_specs

ALL_TOOLS = {spec.name for spec in all_specs()}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**env, "RUST_LOG": "error", **extra}


@pytest.mark.anyio
async def test_stdio_lists_every_tool_and_answers_from_sample_data(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "infino_mcp", "--local", str(tmp_path), "--toolsets", "all"], env=_env()
    )
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == ALL_TOOLS
        for tool in tools:
            hints = tool.annotations
            assert hints is not None and None not in (
                hints.read_only_hint,
                hints.destructive_hint,
                hints.idempotent_hint,
                hints.open_world_hint,
            )
            assert tool.output_schema is not None
        result = await client.call_tool("get_datasets", {})
        assert not result.is_error
        assert "sample-ecommerce-data" in [d["name"] for d in result.structured_content["datasets"]]


@pytest.mark.anyio
async def test_stdio_read_only_lists_only_read_only_tools(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "infino_mcp", "--local", str(tmp_path), "--toolsets", "all", "--read-only", "--no-sample-data"],
        env=_env(),
    )
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        assert tools and all(t.annotations.read_only_hint for t in tools)
        assert {t.name for t in tools} == {s.name for s in all_specs() if s.read_only}
        refused = await client.call_tool("delete_dataset", {"dataset": "x"})
        assert refused.is_error


async def _start_http(
    tmp_path: Path, token: str | None, transport: str = "streamable-http"
) -> tuple[anyio.abc.Process, str]:
    process, url, _ = await _start_http_logged(tmp_path, token, transport)
    return process, url


async def _start_http_logged(
    tmp_path: Path, token: str | None, transport: str = "streamable-http"
) -> tuple[anyio.abc.Process, str, str]:
    """The server process, its announced URL, and what it wrote on stderr until then."""
    process = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "infino_mcp",
            "--transport",
            transport,
            "--port",
            "0",
            "--local",
            str(tmp_path),
            "--no-sample-data",
        ],
        env=_env(**({"INFINO_MCP_TOKEN": token} if token else {})),
    )
    assert process.stderr is not None
    buffer = b""
    with anyio.fail_after(60):
        async for chunk in process.stderr:
            buffer += chunk
            for line in buffer.decode(errors="replace").splitlines():
                if line.startswith(f"infino-mcp: serving {transport} on "):
                    url = line.split(" on ", 1)[1].split()[0].rstrip(";")
                    return process, url, buffer.decode(errors="replace")
    raise AssertionError(f"server did not start: {buffer.decode(errors='replace')}")


@pytest.mark.anyio
async def test_streamable_http_with_bearer_token(tmp_path: Path) -> None:
    token = "t0k-for-this-test"
    process, url, started = await _start_http_logged(tmp_path, token)
    try:
        assert "a token is required: clients send Authorization: Bearer <INFINO_MCP_TOKEN>" in started
        assert token not in started
        async with httpx2.AsyncClient() as plain:
            refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert refused.status_code == 401
            assert "Authorization: Bearer <token>" in refused.json()["error_description"]
            assert "Authorization: Bearer <token>" in refused.headers["www-authenticate"]
            for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
                         "/.well-known/oauth-authorization-server"):  # fmt: skip
                # OAuth-capable clients must learn there is no OAuth here, not be sent to log in.
                discovery = await plain.get(url.replace("/mcp", path))
                assert discovery.status_code == 404, path
                assert "Authorization: Bearer <token>" in discovery.json()["error_description"]
            wrong_host = await plain.post(
                url, json={}, headers={"Host": "evil.example", "Authorization": f"Bearer {token}"}
            )
            assert wrong_host.status_code == 421
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "query_dataset_in_sql" in names and "create_user" not in names
                created = await client.call_tool("create_dataset", {"dataset": "http-test"})
                assert not created.is_error
                listed = await client.call_tool("get_datasets", {"pattern": "http-*"})
                assert [d["name"] for d in listed.structured_content["datasets"]] == ["http-test"]
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.anyio
async def test_sse_transport_on_loopback(tmp_path: Path) -> None:
    process, url, started = await _start_http_logged(tmp_path, None, transport="sse")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/sse")
        assert started.count("local mode") == 1
        for name in ("sse-one", "sse-two"):  # two sessions share the one engine the process opened
            async with Client(sse_client(url)) as client:
                assert "get_datasets" in {t.name for t in (await client.list_tools()).tools}
                created = await client.call_tool("create_dataset", {"dataset": name})
                assert not created.is_error
        async with Client(sse_client(url)) as client:
            listed = await client.call_tool("get_datasets", {"pattern": "sse-*"})
            assert [d["name"] for d in listed.structured_content["datasets"]] == ["sse-one", "sse-two"]
    finally:
        process.terminate()
        await process.wait()
    assert process.stderr is not None
    rest = b"".join([chunk async for chunk in process.stderr]).decode(errors="replace")
    assert rest.count("local mode") == 0, rest
