"""Arguments a model may send that used to hang or crash a call: deep nesting, non-ASCII header values.

* A tools/call whose arguments nest 200 levels (or 100,000) is answered with a tool error
  naming the limit, in memory and over the real stdio wire (the SDK's parser used to drop
  the line, so the client waited forever); the server answers the next request.
* A non-ASCII connection id is refused with a clear error before anything is sent
  (it used to be "Error executing tool" from a UnicodeEncodeError in the header).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from infino_mcp.limits import MAX_JSON_DEPTH

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def _nested(levels: int) -> dict:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[return-value]


@pytest.mark.anyio
async def test_deep_arguments_get_an_answer_in_memory(mcp, call_error, call, sent_requests) -> None:
    sent_requests.clear()
    message = await call_error(mcp, "query_dataset_in_querydsl", {"dataset": "x", "query": _nested(200)})
    assert "nest" in message and str(MAX_JSON_DEPTH) in message
    assert sent_requests == []
    assert "version" in await call(mcp, "ping", {})


def _deep_call_line(levels: int, request_id: int) -> str:
    query = "[" * levels + "]" * levels  # built as text: json.dumps cannot write this deep
    return (
        f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call","params":{{"name":"query_dataset_in_querydsl",'
        f'"arguments":{{"dataset":"x","query":{{"query":{query}}}}}}}}}'
    )


@pytest.mark.parametrize("levels", [200, 100_000])
def test_deep_arguments_get_an_answer_over_stdio(tmp_path: Path, levels: int) -> None:
    lines = [
        json.dumps(INITIALIZE),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        _deep_call_line(levels, 2),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    ]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {"RUST_LOG": "error"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infino_mcp", "--local", str(tmp_path), "--no-sample-data"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    answers: dict[int, dict] = {}
    lines_out: queue.Queue[bytes] = queue.Queue()
    # A thread reads: select() on a buffered pipe misses lines already read ahead into the buffer.
    reader = threading.Thread(target=lambda: [lines_out.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        process.stdin.write(("\n".join(lines) + "\n").encode())
        process.stdin.flush()
        deadline = time.monotonic() + 120
        while 3 not in answers and time.monotonic() < deadline:
            try:
                line = lines_out.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            message = json.loads(line)
            answers[message.get("id")] = message
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        reader.join(timeout=60)
        process.stdout.close()
    assert set(answers) >= {1, 2, 3}, answers.keys()
    result = answers[2]["result"]
    assert result["isError"] is True
    assert "levels deep" in result["content"][0]["text"] and str(MAX_JSON_DEPTH) in result["content"][0]["text"]
    assert answers[3]["result"] == {}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "extra"),
    [("query_source", {"dataset": "t", "query": "SELECT 1"}), ("get_source_metadata", {"dataset": "t"})],
)
async def test_non_ascii_header_values_are_refused_clearly(mcp, call_error, sent_requests, tool, extra) -> None:
    sent_requests.clear()
    message = await call_error(mcp, tool, {"connection_id": "connexión-1", **extra})
    assert "printable ASCII" in message and "x-infino-connection-id" in message
    assert "Error executing tool" in message and "UnicodeEncodeError" not in message
    assert sent_requests == []


def _answer(response: httpx2.Response) -> dict:
    """The JSON-RPC answer of a streamable HTTP POST (a JSON body or one SSE data line)."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


@pytest.mark.anyio
@pytest.mark.parametrize("levels", [200, 100_000])
async def test_deep_arguments_get_an_answer_over_streamable_http(tmp_path: Path, levels: int) -> None:
    from tests.test_transports import _start_http

    process, url = await _start_http(tmp_path, None)
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    try:
        async with httpx2.AsyncClient(timeout=60, headers=headers) as http:
            started = await http.post(url, json=INITIALIZE)
            assert started.status_code == 200, started.text
            session = {"mcp-session-id": started.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
            await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            deep = await http.post(url, content=_deep_call_line(levels, 2).encode(), headers=session)
            assert deep.status_code == 200, deep.text[:300]
            result = _answer(deep)["result"]
            assert result["isError"] is True and "levels deep" in result["content"][0]["text"]
            ping = await http.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, headers=session)
            assert _answer(ping)["result"] == {}
    finally:
        process.terminate()
        await process.wait()
