"""Engine folders on disk: a deleted dataset leaves none behind; what a crash left is reclaimed at start."""

from __future__ import annotations

import json
from pathlib import Path

import infino
import pytest
from mcp import Client

from infino_mcp.server import build_server
from tests.mcp_fixtures import settings_for

pytestmark = pytest.mark.anyio


def _folders(engine_dir: Path) -> set[str]:
    return {p.name for p in engine_dir.iterdir() if p.is_dir() and not p.name.startswith("_")}


async def test_deleted_datasets_leave_no_folder(mcp, call, local_services) -> None:
    engine_dir = local_services.data_dir / "engine"
    for name in ("gone", "Kept.Too"):
        await call(mcp, "upload_json_to_dataset", {"dataset": name, "records": [{"n": 1}, {"n": 2}]})
    assert len(_folders(engine_dir)) == 2
    await call(mcp, "delete_dataset", {"dataset": "gone"})
    remaining = _folders(engine_dir)
    assert len(remaining) == 1 and not any(name.startswith("gone-") for name in remaining)
    # The name is free again and starts empty.
    await call(mcp, "upload_json_to_dataset", {"dataset": "gone", "records": [{"n": 3}]})
    rows = await call(mcp, "query_dataset_in_sql", {"query": 'SELECT count(*) AS c FROM "gone"'})
    assert rows["rows"] == [{"c": 1}]


async def test_orphaned_engine_folders_are_reclaimed_at_start(tmp_path: Path, capsys) -> None:
    data_dir = tmp_path / "data"
    settings = settings_for(data_dir)
    async with Client(build_server(settings)) as client:
        answer = await client.call_tool("upload_json_to_dataset", {"dataset": "orders", "records": [{"n": 1}]})
        assert not answer.is_error
    engine_dir = data_dir / "engine"
    kept = _folders(engine_dir)
    # What a crash can leave: a table created but never registered as a dataset (empty), an engine
    # folder no table uses, and (from before datasets were shared safely) an unnamed table with rows.
    engine = infino.connect(str(engine_dir))
    engine.schema("half-created", {"fields": [{"name": "_doc_id", "type": "large_utf8"}]})
    engine.schema("lost-rows", {"fields": [{"name": "n", "type": "i64"}]})
    engine.open_table("lost-rows").append([{"n": 7}])
    del engine
    stray = engine_dir / "stray-0123456789abcdef-9" / "data"
    stray.mkdir(parents=True)
    (stray / "seg.sf.parquet").write_bytes(b"x" * 300_000)
    lost = {name for name in _folders(engine_dir) if name.startswith("lost-rows-")}
    capsys.readouterr()

    async with Client(build_server(settings)) as client:
        listed = await client.call_tool("get_datasets", {})
        assert [d["name"] for d in listed.structured_content["datasets"]] == ["orders"]
        rows = await client.call_tool("query_dataset_in_sql", {"query": 'SELECT count(*) AS c FROM "orders"'})
        assert rows.structured_content["rows"] == [{"c": 1}]
    err = capsys.readouterr().err
    assert _folders(engine_dir) == kept | lost
    assert "reclaimed 0.3 MB from 2 engine folder(s) no dataset names" in err, err
    assert "kept engine table(s) lost-rows: no dataset names them" in err, err
    tables = json.loads((engine_dir / "_catalog" / "current").read_text())["tables"]
    assert "half-created" not in tables and "lost-rows" in tables
