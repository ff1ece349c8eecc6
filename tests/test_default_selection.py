"""The default toolsets can do a whole job (explore, query, load a file, chart, share) through a real MCP client,
and say what is left out and why; in local mode the tools only Infino cloud can answer announce it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infino_mcp.config import DEFAULT_TOOLSETS

pytestmark = pytest.mark.anyio
CLOUD_ONLY = {"ask_fino", "send_message", "query_source", "get_source_metadata"}


async def test_the_default_selection_does_the_whole_job(make_mcp: Any, call: Any, tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    rows = [
        {"day": f"2026-03-{d:02d}", "region": r, "amount": d * (2 if r == "north" else 1)}
        for d in range(1, 29)
        for r in ("north", "south")
    ]
    (root / "sales.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    client = await make_mcp(toolsets=",".join(t.value for t in DEFAULT_TOOLSETS), file_root=[root])
    names = {t.name for t in (await client.list_tools()).tools}
    assert not names & CLOUD_ONLY
    assert {"get_connections", "create_connection"}.isdisjoint(names)  # connections come with query_source

    loaded = await call(client, "upload_file", {"dataset": "sales", "path": "sales.jsonl"})
    assert loaded["status"] == "completed", loaded
    listed = await call(client, "get_datasets")
    assert [(d["name"], d["docs_count"]) for d in listed["datasets"]] == [("sales", 56)]
    totals = await call(
        client,
        "query_dataset_in_sql",
        {"query": "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"},
    )
    expected = {r: sum(x["amount"] for x in rows if x["region"] == r) for r in ("north", "south")}
    assert {row["region"]: row["total"] for row in totals["rows"]} == expected
    viz = await call(
        client,
        "create_visualization",
        {"spec": {"title": "Sales", "source": {"kind": "sql", "index": "sales"}, "chart": {"type": "bar"},
                  "mapping": {"x": {"column": "region"}, "y": [{"column": "amount", "aggregation": "sum"}]}}},
    )  # fmt: skip
    dashboard = await call(client, "create_dashboard", {"spec": {"title": "Sales", "panels": [{"viz_id": viz["id"]}]}})
    shared = await client.call_tool("render_dashboard", {"dashboard_id": dashboard["id"]})
    assert not shared.is_error and shared.structured_content["panels"][0]["viz_id"] == viz["id"]


async def test_without_a_file_root_upload_file_says_how_to_allow_one(make_mcp: Any, call_error: Any) -> None:
    client = await make_mcp(toolsets=",".join(t.value for t in DEFAULT_TOOLSETS))
    message = await call_error(client, "upload_file", {"dataset": "d", "path": "x.csv"})
    assert "no file root is configured" in message and "--file-root DIR" in message and "INFINO_FILE_ROOT" in message


async def test_instructions_name_what_is_not_loaded_and_why(make_mcp: Any) -> None:
    client = await make_mcp(toolsets=",".join(t.value for t in DEFAULT_TOOLSETS))
    text = client.instructions or ""
    assert "upload_file" in text and "--file-root" in text
    assert "Not loaded (the operator adds them with --toolsets): connections" in text
    assert "querying a source needs Infino cloud" in text and "its answers need Infino cloud" in text and "rbac" in text


async def test_local_mode_announces_cloud_only_tools(make_mcp: Any, call_error: Any) -> None:
    client = await make_mcp(toolsets="all")
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in CLOUD_ONLY:
        assert tools[name].description.endswith("Needs Infino cloud: this local server answers that it cannot."), name
    others = [t for n, t in tools.items() if n not in CLOUD_ONLY and "Needs Infino cloud" in (t.description or "")]
    assert others == []
    text = client.instructions or ""
    assert "ask_fino, send_message, query_source, get_source_metadata need Infino cloud" in text
    assert "Not loaded" not in text
    thread = (await client.call_tool("create_thread", {"name": "t"})).structured_content
    message = await call_error(client, "send_message", {"thread_id": thread["id"], "question": "hi"})
    assert "Infino cloud" in message
