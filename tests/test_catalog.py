"""Catalog rules: what every model sees is declared once, complete, and snapshotted in tools/."""

from __future__ import annotations

import json
import re

import pytest

from infino_mcp.catalog import (
    README,
    TOOLS_DIR,
    catalog_settings,
    render_readme,
    snapshot_text,
    tools_list,
)
from infino_mcp.config import Toolset
from infino_mcp.server import all_specs

SDK_METHODS = """
ping create_dataset delete_dataset get_datasets get_dataset_metadata get_dataset_schema upload_json_to_dataset
upsert_to_dataset upload_metrics_to_dataset get_record delete_records enrich_dataset query_dataset_in_querydsl
query_dataset_in_sql query_dataset_in_promql query_dataset_in_promql_range query_source list_threads create_thread
get_thread update_thread delete_thread add_thread_message clear_thread_messages send_message get_sources
get_connections create_connection get_connection update_connection delete_connection get_source_metadata upload_file
get_connector_job_status create_import_job get_import_jobs delete_import_job create_visualization get_visualization
update_visualization list_visualizations delete_visualization execute_visualization to_echarts_option create_dashboard
get_dashboard update_dashboard list_dashboards delete_dashboard execute_dashboard create_user get_user update_user
delete_user list_users create_role get_role update_role delete_role list_roles rotate_keys
""".split()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def entries() -> dict[str, dict]:
    return {entry["name"]: entry for entry in await tools_list(catalog_settings())}


def test_every_sdk_operation_is_a_tool() -> None:
    names = [spec.name for spec in all_specs()]
    assert len(SDK_METHODS) == 61
    assert set(SDK_METHODS) <= set(names)
    assert len(names) == len(set(names))


def test_declarations_follow_the_rules() -> None:
    for spec in all_specs():
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,63}", spec.name), spec.name
        assert isinstance(spec.toolset, Toolset) and spec.title
        if spec.name.startswith("delete_") or spec.name in ("clear_thread_messages", "rotate_keys"):
            assert spec.destructive and spec.confirm, spec.name
        if spec.read_only:
            assert not spec.destructive


@pytest.mark.anyio
async def test_listed_tools_carry_schemas_and_all_hints(entries: dict[str, dict]) -> None:
    assert set(entries) == {spec.name for spec in all_specs()}
    for name, entry in entries.items():
        hints = entry["annotations"]
        assert set(hints) >= {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}, name
        assert entry.get("title") and entry.get("description"), name
        schema = entry["inputSchema"]
        assert schema["type"] == "object" and not ({"anyOf", "oneOf", "allOf"} & set(schema)), name
        for prop, info in schema.get("properties", {}).items():
            assert info.get("description"), f"{name}.{prop} has no description"
        assert entry.get("outputSchema", {}).get("type") == "object", name


@pytest.mark.anyio
async def test_read_only_lists_only_read_only_tools() -> None:
    listed = await tools_list(catalog_settings(read_only=True))
    expected = {spec.name for spec in all_specs() if spec.read_only}
    assert {e["name"] for e in listed} == expected
    assert all(e["annotations"]["readOnlyHint"] for e in listed)


@pytest.mark.anyio
async def test_toolsets_select_categories() -> None:
    listed = await tools_list(catalog_settings(toolsets="rbac"))
    assert {e["name"] for e in listed} == {s.name for s in all_specs() if s.toolset is Toolset.RBAC}


@pytest.mark.anyio
async def test_snapshots_match_and_none_is_orphaned(entries: dict[str, dict]) -> None:
    on_disk = {path.stem: path.read_text(encoding="utf-8") for path in TOOLS_DIR.glob("*.json")}
    hint = "run: python3 scripts/dev.py snapshots (then read the tools/ diff)"
    assert set(on_disk) == set(entries), f"tools/ is out of date; {hint}"
    for name, entry in entries.items():
        assert on_disk[name] == snapshot_text(entry), f"tools/{name}.json drifted; {hint}"
        json.loads(on_disk[name])


@pytest.mark.anyio
async def test_readme_tables_are_generated_from_code() -> None:
    text = README.read_text(encoding="utf-8")
    assert await render_readme(text) == text, "README tables are stale; run: python3 scripts/dev.py snapshots"
