"""Durability and concurrency of local endpoint writes.

* an acknowledged write survives ``kill -9`` of the writing process;
* concurrent writers to one dataset lose nothing and never duplicate an id;
* many small writes do not grow the disk without bound once maintenance ran
  (checked by waiting on the maintenance itself, never on a timer).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from infino_mcp.local.services import open_services
from infino_mcp.local.storage.documents import get_document, ingest_documents
from infino_mcp.local.storage.engine import Engine

pytestmark = pytest.mark.anyio

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import anyio

    from infino_mcp.local.storage.documents import ingest_documents
    from infino_mcp.local.services import open_services


    async def main(data_dir: str) -> None:
        services = open_services(Path(data_dir))
        n = 0
        while True:
            doc_id = f"doc-{n}"
            items = await ingest_documents(services.writer, "crash", [(doc_id, {"n": n, "msg": f"message {n}"})])
            assert items[0]["index"]["status"] in (200, 201), items
            print(f"acked {doc_id}", flush=True)
            n += 1


    anyio.run(main, sys.argv[1])
    """
)


@pytest.mark.slow
async def test_acknowledged_writes_survive_kill_9(tmp_path: Path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    data_dir = tmp_path / "data"
    env = {**os.environ, "RUST_LOG": "error"}
    process = subprocess.Popen(
        [sys.executable, str(script), str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    acked: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            acked.append(line.split()[1])
            if len(acked) >= 25:
                break
        # Kill while the next write is in flight: whatever was acknowledged must be there.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    assert len(acked) >= 25, "the writer died before acknowledging 25 writes"

    services = open_services(data_dir)
    try:
        for doc_id in acked:
            document = await get_document(services.writer, "crash", doc_id)
            assert document is not None, f"acknowledged {doc_id} is missing after kill -9"
            assert document["n"] == int(doc_id.split("-")[1])
        # The store is still writable after the crash.
        items = await ingest_documents(services.writer, "crash", [("after", {"n": -1})])
        assert items[0]["index"]["status"] == 201
    finally:
        await services.aclose()


async def test_concurrent_single_document_bulks_lose_nothing(endpoint):
    async def writer(task: int) -> None:
        for n in range(50):
            body = json.dumps({"index": {"_id": f"{task}-{n}"}}) + "\n" + json.dumps({"task": task, "n": n}) + "\n"
            response = await endpoint.post("/busy/json", content=body)
            assert response.status_code == 200 and not response.json()["errors"], response.text

    async with anyio.create_task_group() as group:
        for task in range(8):
            group.start_soon(writer, task)

    rows = (
        await endpoint.post("/sql", json={"query": "select count(*) AS c, count(distinct _id) AS d from busy"})
    ).json()
    assert rows["rows"][0]["values"] == {"c": {"Integer": 400}, "d": {"Integer": 400}}


async def test_concurrent_upserts_of_the_same_ids_never_duplicate(local_services):
    async def writer(task: int) -> None:
        for n in range(10):
            await ingest_documents(local_services.writer, "same", [(f"id-{n % 5}", {"task": task, "n": n})])

    async with anyio.create_task_group() as group:
        for task in range(6):
            group.start_soon(writer, task)

    table = local_services.catalog.get("same").table
    result = await local_services.engine.query(f'SELECT count(*) AS c, count(distinct "_doc_id") AS d FROM "{table}"')
    assert result.to_pylist() == [{"c": 5, "d": 5}]


async def test_many_small_writes_keep_disk_bounded(local_services):
    engine = local_services.engine
    for n in range(120):
        await ingest_documents(local_services.writer, "small", [(str(n), {"n": n, "msg": "x" * 50})])
    table = local_services.catalog.get("small").table
    before = engine.store_size(table)
    await engine.maintain(table, grace_secs=0)
    after = engine.store_size(table)
    assert after < before
    assert after < 2_000_000, f"{after} bytes for 120 tiny documents after maintenance"
    assert (await get_document(local_services.writer, "small", "119")) == {"n": 119, "msg": "x" * 50}
    count = await engine.query(f'SELECT count(*) AS c FROM "{table}"')
    assert count.to_pylist() == [{"c": 120}]


async def test_background_maintenance_runs_every_n_commits(tmp_path: Path):
    engine = Engine(tmp_path / "engine", maintain_every=10, idle_seconds=3600)
    try:
        engine.apply_schema("t", {"fields": [{"name": "n", "type": "i64"}]})
        for n in range(25):
            await engine.append("t", [{"n": n}])
        assert await anyio.to_thread.run_sync(engine.wait_for_maintenance, 2)
        assert (await engine.query("SELECT count(*) AS c FROM t")).to_pylist() == [{"c": 25}]
    finally:
        await engine.aclose()


async def test_grouped_appends_isolate_a_bad_batch(tmp_path: Path):
    engine = Engine(tmp_path / "engine")
    try:
        engine.apply_schema("t", {"fields": [{"name": "n", "type": "i64"}]})
        outcomes: dict[int, str] = {}

        async def append(i: int) -> None:
            rows = [{"n": "bad"}] if i == 3 else [{"n": i}]
            try:
                await engine.append("t", rows)
                outcomes[i] = "ok"
            except Exception as exc:
                outcomes[i] = type(exc).__name__

        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(append, i)
        assert outcomes == {i: ("ApiError" if i == 3 else "ok") for i in range(8)}
        assert (await engine.query("SELECT count(*) AS c FROM t")).to_pylist() == [{"c": 7}]
    finally:
        await engine.aclose()
