"""Several infino-mcp processes on one data directory: one owner serves it, the others attach.

Real processes over the real wire (stdio and streamable HTTP); what each one wrote is checked by
a fresh process afterwards. No sleeps: processes are waited for by their readiness line, writers
by events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from infino_mcp.local.services import open_services
from infino_mcp.local.storage.ownership import DirectoryOwned

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    return {**env, "RUST_LOG": "error"}


def _stdio(data_dir: Path) -> Client:
    args = ["-m", "infino_mcp", "--local", str(data_dir), "--no-sample-data", "--retry-backoff", "0"]
    return Client(StdioServerParameters(command=sys.executable, args=args, env=_env()))


@contextlib.asynccontextmanager
async def _http_server(data_dir: Path) -> AsyncIterator[tuple[anyio.abc.Process, str, str]]:
    """A streamable-HTTP server process on ``data_dir``: (process, MCP URL, its stderr until ready)."""
    command = [sys.executable, "-m", "infino_mcp", "--transport", "streamable-http", "--port", "0"]
    process = await anyio.open_process([*command, "--local", str(data_dir), "--no-sample-data"], env=_env())
    assert process.stderr is not None
    buffer = b""
    url = ""
    try:
        with anyio.fail_after(60):
            async for chunk in process.stderr:
                buffer += chunk
                found = [ln for ln in buffer.decode().splitlines() if ln.startswith("infino-mcp: serving ")]
                if found:
                    url = found[0].rsplit(" ", 1)[1]
                    break
        assert url, f"server did not start: {buffer.decode()}"
        async with anyio.create_task_group() as group:
            group.start_soon(_drain, process.stderr)
            yield process, url, buffer.decode()
            group.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
        with anyio.fail_after(30):
            await process.wait()


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


@contextlib.asynccontextmanager
async def _http_client(url: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=60) as http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


async def _call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    return result.structured_content


async def _ids(client: Client, dataset: str) -> set[str]:
    answer = await _call(client, "query_dataset_in_sql", {"query": f'SELECT "id" FROM "{dataset}"', "limit": 1000})
    assert answer["page"].get("truncated") in (None, False), answer["page"]
    return {row["id"] for row in answer["rows"]}


async def _served_by(client: Client) -> str:
    return (await _call(client, "ping", {}))["local"]


async def _upload(client: Client, dataset: str, record_id: str) -> None:
    answer = await _call(
        client, "upload_json_to_dataset", {"dataset": dataset, "records": [{"id": record_id}], "id_field": "id"}
    )
    assert answer["succeeded"] == 1, answer


async def test_three_processes_write_at_once_and_a_fourth_sees_everything(tmp_path: Path) -> None:
    # A path longer than a Unix socket address may be: the socket is reached through its short alias.
    data_dir = tmp_path / ("d" * 70) / ("e" * 70)
    acked: dict[str, set[str]] = {}

    async def writer(client: Client, name: str) -> None:
        for n in range(12):
            for dataset in (name, "shared"):
                record_id = f"{name}-{n}"
                await _upload(client, dataset, record_id)
                acked.setdefault(dataset, set()).add(record_id)

    async with _http_server(data_dir) as (owner, url, started):
        assert f"data in {data_dir} (this process serves it)" in started
        async with _http_client(url) as http, _stdio(data_dir) as one, _stdio(data_dir) as two:
            assert await _served_by(http) == f"data in {data_dir} (this process serves it)"
            for attached in (one, two):
                assert (
                    await _served_by(attached)
                    == f"data in {data_dir} (served by pid {owner.pid}: other clients share it)"
                )
            async with anyio.create_task_group() as group:
                for client, name in ((http, "http"), (one, "one"), (two, "two")):
                    group.start_soon(writer, client, name)
            # Every process sees every process's datasets at once.
            listed = await _call(one, "get_datasets", {})
            assert {d["name"] for d in listed["datasets"]} == {"http", "one", "two", "shared"}

    async with _stdio(data_dir) as fresh:
        assert await _served_by(fresh) == f"data in {data_dir} (this process serves it)"
        listed = await _call(fresh, "get_datasets", {})
        assert {d["name"]: d["docs_count"] for d in listed["datasets"]} == {k: len(v) for k, v in acked.items()}
        for dataset, ids in acked.items():
            assert await _ids(fresh, dataset) == ids


async def test_owner_killed_mid_writes_an_attached_process_takes_over(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acked: dict[str, set[str]] = {"b": set(), "c": set()}
    maybe: dict[str, set[str]] = {"b": set(), "c": set()}
    after: dict[str, set[str]] = {"b": set(), "c": set()}
    reads = 0
    enough_before, killed, enough_after = anyio.Event(), anyio.Event(), anyio.Event()

    async def writer(client: Client, name: str) -> None:
        n = 0
        while not enough_after.is_set():
            record_id = f"{name}-{n}"
            n += 1
            result = await client.call_tool(
                "upload_json_to_dataset", {"dataset": "shared", "records": [{"id": record_id}], "id_field": "id"}
            )
            if result.is_error:
                # Cut off when the owner died: the client must say it may have been applied.
                assert "may have been applied: check with" in result.content[0].text, result.content[0].text
                maybe[name].add(record_id)
                continue
            acked[name].add(record_id)
            if killed.is_set():
                after[name].add(record_id)
            if min(len(v) for v in acked.values()) >= 10:
                enough_before.set()
            if min(len(v) for v in after.values()) >= 10:
                enough_after.set()

    async def reader(client: Client) -> None:
        # Idempotent requests in flight when the owner dies are retried, never answered with an error.
        nonlocal reads
        while not enough_after.is_set():
            await _call(client, "query_dataset_in_sql", {"query": "SELECT 1 AS one"})
            reads += 1

    async with _http_server(data_dir) as (owner, _url, _started):
        async with _stdio(data_dir) as b, _stdio(data_dir) as c:
            await _call(b, "create_dataset", {"dataset": "shared"})
            with anyio.fail_after(240):
                async with anyio.create_task_group() as group:
                    group.start_soon(writer, b, "b")
                    group.start_soon(writer, c, "c")
                    group.start_soon(reader, c)
                    await enough_before.wait()
                    owner.send_signal(signal.SIGKILL)
                    await owner.wait()
                    killed.set()
            roles = sorted([await _served_by(b), await _served_by(c)])
            assert roles[1] == f"data in {data_dir} (this process serves it)", roles
            new_owner = int(roles[0].split("served by pid ")[1].split(":")[0])
            assert new_owner != owner.pid
            # Nothing can open the stores without the lock, which the new owner holds.
            with pytest.raises(DirectoryOwned) as refused:
                open_services(data_dir)
            assert refused.value.owner is not None and refused.value.owner.pid == new_owner
            stored = await _ids(b, "shared")
            for name in ("b", "c"):
                assert acked[name] <= stored, f"acknowledged writes lost: {sorted(acked[name] - stored)}"
            assert stored <= acked["b"] | acked["c"] | maybe["b"] | maybe["c"]
    assert reads > 0


async def test_local_endpoint_refuses_a_directory_another_process_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with _http_server(data_dir) as (owner, _url, _started):
        command = [sys.executable, "-m", "infino_mcp", "local-endpoint", "--port", "0", "--data", str(data_dir)]
        with anyio.fail_after(60):
            result = await anyio.run_process(command, env=_env(), check=False)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"pid {owner.pid}" in lines[0] and str(data_dir / "owner.sock") in lines[0]


async def test_an_attached_process_keeps_its_own_answer_size_limit(tmp_path: Path) -> None:
    """INFINO_MAX_RESPONSE_MB holds for answers read over the owner's socket, as it does for the cloud."""
    data_dir = tmp_path / "data"
    records = [{"id": str(n), "v": "z" * 2000} for n in range(1200)]
    query = {"query": 'SELECT "v" FROM "big"', "limit": 1000}
    async with _stdio(data_dir) as owner:
        answer = await _call(owner, "upload_json_to_dataset", {"dataset": "big", "records": records, "id_field": "id"})
        assert answer["succeeded"] == len(records), answer
        args = ["-m", "infino_mcp", "--local", str(data_dir), "--no-sample-data", "--max-response-mb", "1"]
        async with Client(StdioServerParameters(command=sys.executable, args=args, env=_env())) as limited:
            assert "served by pid" in await _served_by(limited)
            result = await limited.call_tool("query_dataset_in_sql", query)
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert result.is_error and "larger than 1 MB" in text and "LIMIT" in text, text
            small = await _call(limited, "query_dataset_in_sql", {"query": 'SELECT COUNT(*) AS n FROM "big"'})
            assert small["rows"] == [{"n": len(records)}]
        assert len((await _call(owner, "query_dataset_in_sql", query))["rows"]) > 0
