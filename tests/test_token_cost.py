"""Token cost: what tools/list costs a model on every turn, held under written budgets.

The size is the compact JSON of the tools/list result as a client receives it
(legacy protocol, so through JSON-RPC). Budgets sit about 10% above the
measured size: growing past one means trimming descriptions or schemas, or
raising the budget on purpose in review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

pytestmark = pytest.mark.anyio

BUDGETS = {
    "default": 54_000,  # measured 48,889 bytes, 39 tools (56,114 and 47 tools before fino left the default)
    "all": 83_000,  # measured 75,435 bytes, 70 tools
    "read_only": 37_000,  # measured 33,444 bytes, 22 tools (default toolsets)
}
PER_TOOL_BUDGET = 3_600  # measured at most 3,241 (execute_dashboard)
# Name, description and input schema: what a model reads. The default selection may not grow past what it cost
# before it could load files (26,786 bytes, 41 tools); it measured 26,015 bytes (39 tools, 3,024 of them the
# knowledge toolset).
MODEL_VISIBLE_BUDGET = 26_786


async def _tools(tmp_path: Path, **overrides: Any) -> list[dict[str, Any]]:
    settings = Settings(_env_file=None, local=True, data_dir=tmp_path, sample_data=False, **overrides)  # type: ignore[call-arg]
    async with InfinoClient("http://127.0.0.1:9", "unused", "unused", settings=settings) as infino:
        async with Client(build_server(settings, client=infino), mode="legacy") as client:
            listed = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in listed.tools]


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("default", {}), ("all", {"toolsets": "all"}), ("read_only", {"read_only": True})],
)
async def test_tools_list_stays_within_budget(tmp_path: Path, name: str, overrides: dict[str, Any]) -> None:
    tools = await _tools(tmp_path, **overrides)
    total = _size({"tools": tools})
    biggest = sorted(((_size(t), t["name"]) for t in tools), reverse=True)[:5]
    print(f"\ntools/list [{name}]: {total} bytes, {len(tools)} tools; biggest: {biggest}")
    assert total <= BUDGETS[name], (
        f"tools/list for {name} is {total} bytes, over its {BUDGETS[name]}-byte budget; biggest tools: {biggest}"
    )
    over = [(size, tool) for size, tool in biggest if size > PER_TOOL_BUDGET]
    assert not over, f"tools over {PER_TOOL_BUDGET} bytes each: {over}"


async def test_confirmation_does_not_change_the_cost(tmp_path: Path) -> None:
    guarded = await _tools(tmp_path, toolsets="all", allow_destructive=False)
    unguarded = await _tools(tmp_path, toolsets="all", allow_destructive=True)
    assert _size(guarded) == _size(unguarded)


def _model_visible(tools: list[dict[str, Any]]) -> int:
    return sum(_size({k: t[k] for k in ("name", "description", "inputSchema") if k in t}) for t in tools)


async def test_default_selection_costs_a_model_no_more_than_before(tmp_path: Path) -> None:
    tools = await _tools(tmp_path)
    names = {t["name"] for t in tools}
    cost = _model_visible(tools)
    print(f"\nmodel-visible [default]: {cost} bytes, {len(tools)} tools")
    assert cost <= MODEL_VISIBLE_BUDGET, (
        f"the default selection costs a model {cost} bytes, over {MODEL_VISIBLE_BUDGET}"
    )
    # The whole job: explore, query, load (files too), chart, share.
    assert {
        "get_datasets",
        "get_dataset_schema",
        "query_dataset_in_sql",
        "upload_json_to_dataset",
        "upload_file",
    } <= names
    assert {"create_visualization", "render_visualization", "create_dashboard", "render_dashboard"} <= names
    assert not names & {"ask_fino", "send_message", "query_source"}, "cloud-only tools are opt-in"
