"""Dashboard tools through the MCP client against the local endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from infino_mcp.shaping import json_size
from tests.toolsets.test_visualizations import seed_orders, viz_spec

pytestmark = pytest.mark.anyio


@pytest.fixture
async def viz_ids(mcp: Client, call: Any) -> list[str]:
    await seed_orders(mcp, call)
    by_currency = await call(mcp, "create_visualization", {"spec": viz_spec()})
    total = await call(
        mcp, "create_visualization", {"spec": viz_spec("Total", "SELECT SUM(amount) AS total FROM orders", "metric")}
    )
    return [by_currency["id"], total["id"]]


@pytest.fixture
async def dashboard_id(mcp: Client, call: Any, viz_ids: list[str]) -> str:
    spec = {
        "title": "Revenue",
        "panels": [
            {"viz_id": viz_ids[0]},
            {"kind": "markdown", "content": "# Notes"},
            {"kind": "divider", "label": "Totals"},
            {"viz_id": viz_ids[1]},
        ],
    }
    created = await call(mcp, "create_dashboard", {"spec": spec})
    return created["id"]


async def test_crud(mcp: Client, call: Any, call_error: Any, dashboard_id: str) -> None:
    got = await call(mcp, "get_dashboard", {"dashboard_id": dashboard_id})
    assert got["attributes"]["title"] == "Revenue"
    assert [p["kind"] for p in got["attributes"]["panels"]] == ["visualization", "markdown", "divider", "visualization"]

    updated = await call(mcp, "update_dashboard", {"dashboard_id": dashboard_id, "patch": {"title": "Revenue (Q3)"}})
    assert updated["attributes"]["title"] == "Revenue (Q3)"
    assert len(updated["attributes"]["panels"]) == 4

    listed = await call(mcp, "list_dashboards", {})
    assert listed["dashboards"] == [
        {"id": dashboard_id, "title": "Revenue (Q3)", "panels": 4, "updated_at": listed["dashboards"][0]["updated_at"]}
    ]

    assert (await call(mcp, "delete_dashboard", {"dashboard_id": dashboard_id}))["acknowledged"] is True
    missing = await call_error(mcp, "get_dashboard", {"dashboard_id": dashboard_id})
    assert "not found" in missing and "list_dashboards" in missing
    assert (await call(mcp, "list_dashboards", {}))["dashboards"] == []


async def test_execute_dashboard_in_order(mcp: Client, call: Any, dashboard_id: str, viz_ids: list[str]) -> None:
    run = await call(mcp, "execute_dashboard", {"dashboard_id": dashboard_id})
    panels = run["panels"]
    assert [p["kind"] for p in panels] == ["visualization", "markdown", "divider", "visualization"]
    assert panels[0]["viz_id"] == viz_ids[0] and panels[0]["viz"]["title"] == "Orders by currency"
    assert panels[0]["data"]["rows"] == [
        {"currency": "EUR", "n": 2},
        {"currency": "GBP", "n": 1},
        {"currency": "USD", "n": 1},
    ]
    assert panels[1]["content"] == "# Notes"
    assert panels[2]["label"] == "Totals"
    assert panels[3]["data"]["rows"] == [{"total": 42}]
    assert panels[0]["layout"]["w"] > 0
    assert (run["succeeded"], run["failed"], run["title"], run["note"]) == (2, 0, "Revenue", None)


async def test_execute_dashboard_isolates_a_failing_panel(
    mcp: Client, call: Any, dashboard_id: str, viz_ids: list[str]
) -> None:
    await call(mcp, "delete_visualization", {"viz_id": viz_ids[0]})
    run = await call(mcp, "execute_dashboard", {"dashboard_id": dashboard_id})
    first, last = run["panels"][0], run["panels"][3]
    assert first["error"]["status"] == 404 and first["data"] is None
    assert "list_visualizations" in first["error"]["message"]
    assert last["error"] is None and last["data"]["rows"] == [{"total": 42}]
    assert (run["succeeded"], run["failed"]) == (1, 1)


async def test_execute_dashboard_with_time_range(mcp: Client, call: Any, dashboard_id: str) -> None:
    run = await call(
        mcp, "execute_dashboard", {"dashboard_id": dashboard_id, "time_range": {"from": "2026-02-01T00:00:00Z"}}
    )
    assert run["panels"][0]["data"]["rows"] == [{"currency": "GBP", "n": 1}]
    assert run["panels"][3]["data"]["rows"] == [{"total": 7}]


async def test_execute_dashboard_cuts_rows_per_panel(mcp: Client, call: Any, dashboard_id: str) -> None:
    run = await call(mcp, "execute_dashboard", {"dashboard_id": dashboard_id, "rows_per_panel": 1})
    first = run["panels"][0]
    assert len(first["data"]["rows"]) == 1 and first["rows_total"] == 3
    assert "execute_visualization" in run["note"]


async def test_execute_dashboard_fits_a_small_budget(make_mcp: Any, call: Any) -> None:
    client = await make_mcp(max_result_bytes=2000)
    await seed_orders(client, call)
    long_query = "SELECT currency, COUNT(*) AS n FROM orders GROUP BY currency ORDER BY currency" + " " * 10
    ids = [
        (await call(client, "create_visualization", {"spec": viz_spec(f"viz {i} " + "t" * 100, long_query)}))["id"]
        for i in range(6)
    ]
    dash = await call(client, "create_dashboard", {"spec": {"title": "Big", "panels": [{"viz_id": v} for v in ids]}})
    result = await client.call_tool("execute_dashboard", {"dashboard_id": dash["id"], "rows_per_panel": 100})
    assert not result.is_error
    assert json_size(result.structured_content) <= 2000
    assert "shortened" in result.structured_content["note"]
    assert [p["viz_id"] for p in result.structured_content["panels"]] == ids


async def test_dashboard_errors(mcp: Client, call_error: Any, sent_requests: list) -> None:
    assert "not valid JSON" in await call_error(mcp, "create_dashboard", {"spec": "{"})
    assert "cannot be changed" in await call_error(
        mcp, "update_dashboard", {"dashboard_id": "d", "patch": {"created_at": 1}}
    )
    assert "not a valid id" in await call_error(mcp, "execute_dashboard", {"dashboard_id": "../x"})
    assert "not a valid id" in await call_error(mcp, "delete_dashboard", {"dashboard_id": ".."})
    assert sent_requests == []
    missing = await call_error(mcp, "execute_dashboard", {"dashboard_id": "missing"})
    assert "HTTP 404" in missing and "list_dashboards" in missing
    message = await call_error(mcp, "create_dashboard", {"spec": {"title": "x", "panels": [{"viz_id": "nope"}]}})
    assert "400" in message and "list_visualizations" in message
