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
    "default": 61_500,  # measured 56,114 bytes, 47 tools
    "all": 82_000,  # measured 74,392 bytes, 70 tools
    "read_only": 40_000,  # measured 36,226 bytes, 24 tools (default toolsets)
}
PER_TOOL_BUDGET = 3_600  # measured at most 3,241 (execute_dashboard)


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
