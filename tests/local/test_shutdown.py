"""SIGTERM and SIGINT stop a local-mode server the way the end of its input does.

Exit status 0, no traceback, the owner's socket and record removed, and what it acknowledged
is read back by the next process. SIGTERM is the MCP client's step after closing stdin, and
what ``docker stop`` and systemd send. Real processes over the real wire, no sleeps: each
process is waited for by its readiness line or its answer.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]
RECORD = {"id": "kept-1", "note": "written before the signal"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**env, "RUST_LOG": "error"}


def _command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "infino_mcp", *extra, "--local", str(data_dir), "--no-sample-data"]


def _upload_arguments() -> dict[str, Any]:
    return {"dataset": "kept", "records": [RECORD], "id_field": "id"}


async def _stopped(process: anyio.abc.Process, sig: signal.Signals, stderr: Any) -> tuple[int, str]:
    """Send ``sig``; the exit status and what the process wrote to ``stderr`` (its stream) from then on."""
    process.send_signal(sig)
    with anyio.fail_after(60):
        err = b"".join([chunk async for chunk in stderr])
        return await process.wait(), err.decode()


def _assert_clean(data_dir: Path, status: int, err: str) -> None:
    assert "Traceback" not in err, err
    assert status == 0, err
    assert not (data_dir / "owner.sock").exists()
    assert not (data_dir / "owner.json").exists()


async def _kept_ids(data_dir: Path) -> list[str]:
    params = StdioServerParameters(command=sys.executable, args=_command(data_dir)[1:], env=_env())
    async with Client(params) as client:
        result = await client.call_tool("query_dataset_in_sql", {"query": 'SELECT "id" FROM "kept"'})
        assert not result.is_error, result.content[0].text
        return [row["id"] for row in result.structured_content["rows"]]


@pytest.mark.parametrize("sig", SIGNALS)
async def test_a_signalled_stdio_server_closes_its_data_directory(tmp_path: Path, sig: signal.Signals) -> None:
    process = await anyio.open_process(_command(tmp_path), env=_env())
    assert process.stdin is not None and process.stdout is not None
    replies = BufferedByteReceiveStream(process.stdout)
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "upload_json_to_dataset",
                                                                        "arguments": _upload_arguments()}},
    ]  # fmt: skip
    await process.stdin.send("".join(json.dumps(m) + "\n" for m in messages).encode())
    with anyio.fail_after(60):
        for expected_id in (1, 2):
            reply = json.loads(await replies.receive_until(b"\n", 1 << 20))
            assert reply["id"] == expected_id and "error" not in reply, reply
    assert reply["result"]["isError"] is False, reply
    assert (tmp_path / "owner.json").exists()  # it serves the directory until the signal

    status, err = await _stopped(process, sig, process.stderr)

    _assert_clean(tmp_path, status, err)
    assert await _kept_ids(tmp_path) == [RECORD["id"]]


@pytest.mark.parametrize("sig", SIGNALS)
async def test_a_signalled_http_server_closes_its_data_directory(tmp_path: Path, sig: signal.Signals) -> None:
    process = await anyio.open_process(_command(tmp_path, "--transport", "streamable-http", "--port", "0"), env=_env())
    assert process.stderr is not None
    lines = BufferedByteReceiveStream(process.stderr)
    with anyio.fail_after(60):
        while not (line := (await lines.receive_until(b"\n", 1 << 16)).decode()).startswith("infino-mcp: serving "):
            pass
    url = line.split()[4]  # infino-mcp: serving streamable-http on URL
    async with httpx2.AsyncClient(timeout=60) as http, Client(streamable_http_client(url, http_client=http)) as client:
        result = await client.call_tool("upload_json_to_dataset", _upload_arguments())
        assert not result.is_error, result.content[0].text

    status, err = await _stopped(process, sig, lines)

    _assert_clean(tmp_path, status, err)
    assert await _kept_ids(tmp_path) == [RECORD["id"]]
