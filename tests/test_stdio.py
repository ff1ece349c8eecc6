"""Framing on the stdio wire: the server as a subprocess, raw JSON-RPC lines in and out.

Covers what a line-based reader can get wrong: several messages in one write,
one message split over writes, a last message without its newline, stdin
that is a regular file rather than a pipe (the SDK's own reader then), and a
message too long to buffer
(dropped, with the server still answering the next one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infino_mcp.stdio import MAX_LINE


def _message(id_: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if method == "initialize":
        body["params"] = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        }
    elif params is not None:
        body["params"] = params
    return json.dumps(body).encode()


def _server(tmp_path: Path, stdin: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.Popen(
        [sys.executable, "-m", "infino_mcp", "--local", str(tmp_path / "data"), "--no-sample-data"],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "RUST_LOG": "error"},
    )


def _replies(proc: subprocess.Popen[bytes], count: int) -> dict[int, dict[str, Any]]:
    assert proc.stdout is not None
    replies: dict[int, dict[str, Any]] = {}
    while len(replies) < count:
        line = proc.stdout.readline()
        assert line, f"server closed stdout after {len(replies)} replies"
        message = json.loads(line)
        if "id" in message:
            replies[message["id"]] = message
    return replies


def _finish(proc: subprocess.Popen[bytes]) -> bytes:
    _, err = proc.communicate(timeout=60)  # closes stdin: the server exits
    assert proc.returncode == 0, err.decode(errors="replace")
    return err


@pytest.mark.slow
def test_several_messages_in_one_write_and_one_split_over_writes(tmp_path: Path) -> None:
    proc = _server(tmp_path)
    assert proc.stdin is not None
    proc.stdin.write(b"\n".join([_message(1, "initialize"), _message(2, "tools/list"), _message(3, "ping")]) + b"\n")
    proc.stdin.flush()
    first = _replies(proc, 3)
    assert first[1]["result"]["serverInfo"]["name"] == "infino"
    assert any(tool["name"] == "get_datasets" for tool in first[2]["result"]["tools"])
    split = _message(4, "tools/call", {"name": "ping", "arguments": {}})
    for piece in (split[:7], split[7:30], split[30:] + b"\n"):
        proc.stdin.write(piece)
        proc.stdin.flush()
    reply = _replies(proc, 1)[4]
    assert reply["result"]["isError"] is False and reply["result"]["structuredContent"]["version"]
    _finish(proc)


@pytest.mark.slow
def test_last_message_without_newline_is_answered(tmp_path: Path) -> None:
    proc = _server(tmp_path)
    assert proc.stdin is not None
    out, err = proc.communicate(_message(1, "initialize") + b"\n" + _message(2, "tools/list"), timeout=60)
    ids = {json.loads(line).get("id") for line in out.splitlines() if line.strip()}
    assert {1, 2} <= ids, err.decode(errors="replace")


@pytest.mark.slow
def test_stdin_from_a_regular_file(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(_message(1, "initialize") + b"\n")
    with requests.open("rb") as stdin:
        proc = _server(tmp_path, stdin=stdin)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")
    replies = [json.loads(line) for line in out.splitlines()]
    assert [reply["id"] for reply in replies] == [1] and replies[0]["result"]["serverInfo"]["name"] == "infino"


@pytest.mark.slow
def test_an_overlong_message_is_dropped_and_the_next_is_answered(tmp_path: Path) -> None:
    proc = _server(tmp_path)
    assert proc.stdin is not None
    proc.stdin.write(_message(1, "initialize") + b"\n")
    proc.stdin.flush()
    _replies(proc, 1)
    chunk = b"x" * (1024 * 1024)
    proc.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"')
    for _ in range(MAX_LINE // len(chunk) + 1):
        proc.stdin.write(chunk)
    proc.stdin.write(b'"}}\n' + _message(3, "tools/list") + b"\n")
    proc.stdin.flush()
    replies = _replies(proc, 1)
    assert set(replies) == {3} and replies[3]["result"]["tools"]
    err = _finish(proc)
    assert b"dropped a stdin message over" in err
