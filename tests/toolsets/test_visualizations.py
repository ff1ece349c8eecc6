"""Visualization tools through the MCP client against the local endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

ORDERS = [
    {"@timestamp": "2026-01-01T10:00:00Z", "currency": "EUR", "amount": 10, "customer": "ann"},
    {"@timestamp": "2026-01-02T10:00:00Z", "currency": "EUR", "amount": 20, "customer": "bob"},
    {"@timestamp": "2026-01-03T10:00:00Z", "currency": "USD", "amount": 5, "customer": "cid"},
    {"@timestamp": "2026-02-01T10:00:00Z", "currency": "GBP", "amount": 7, "customer": "dee"},
]
BY_CURRENCY = "SELECT currency, COUNT(*) AS n FROM orders GROUP BY currency ORDER BY currency"


def viz_spec(title: str = "Orders by currency", query: str = BY_CURRENCY, chart: str = "bar") -> dict[str, Any]:
    return {
        "title": title,
        "source": {"kind": "sql", "index": "orders", "sql": {"raw_query": query}},
        "chart": {"type": chart},
    }


async def seed_orders(mcp: Client, call: Any) -> None:
    await call(mcp, "upload_json_to_dataset", {"dataset": "orders", "records": ORDERS})


@pytest.fixture
async def viz_id(mcp: Client, call: Any) -> str:
    await seed_orders(mcp, call)
    created = await call(mcp, "create_visualization", {"spec": viz_spec()})
    return created["id"]


async def test_create_get_update_list_delete(mcp: Client, call: Any, call_error: Any, viz_id: str) -> None:
    got = await call(mcp, "get_visualization", {"viz_id": viz_id})
    assert got["id"] == viz_id
    assert got["attributes"]["title"] == "Orders by currency"
    assert got["attributes"]["chart"]["type"] == "bar"

    updated = await call(mcp, "update_visualization", {"viz_id": viz_id, "patch": '{"title": "Renamed"}'})
    assert updated["attributes"]["title"] == "Renamed"
    assert updated["attributes"]["source"]["index"] == "orders"

    listed = await call(mcp, "list_visualizations", {})
    assert [v["id"] for v in listed["visualizations"]] == [viz_id]
    assert listed["visualizations"][0] | {"updated_at": None} == {
        "id": viz_id,
        "title": "Renamed",
        "chart_type": "bar",
        "source_kind": "sql",
        "index": "orders",
        "updated_at": None,
    }
    assert listed["page"]["truncated"] is False

    deleted = await call(mcp, "delete_visualization", {"viz_id": viz_id})
    assert deleted["acknowledged"] is True
    missing = await call_error(mcp, "get_visualization", {"viz_id": viz_id})
    assert "not found" in missing and "list_visualizations" in missing


async def test_list_pages_with_offset(mcp: Client, call: Any) -> None:
    await seed_orders(mcp, call)
    ids = [(await call(mcp, "create_visualization", {"spec": viz_spec(f"v{i}")}))["id"] for i in range(3)]
    first = await call(mcp, "list_visualizations", {"limit": 2})
    assert len(first["visualizations"]) == 2
    assert first["page"]["truncated"] is True and first["page"]["next_offset"] == 2
    assert "offset=2" in first["page"]["note"]
    rest = await call(mcp, "list_visualizations", {"limit": 2, "offset": 2})
    assert rest["page"]["truncated"] is False
    assert {v["id"] for v in first["visualizations"] + rest["visualizations"]} == set(ids)


async def test_execute_returns_rows_and_binding(mcp: Client, call: Any, viz_id: str) -> None:
    result = await call(mcp, "execute_visualization", {"viz_id": viz_id})
    assert result["rows"] == [{"currency": "EUR", "n": 2}, {"currency": "GBP", "n": 1}, {"currency": "USD", "n": 1}]
    assert [c["name"] for c in result["columns"]] == ["currency", "n"]
    assert result["metadata"]["binding"]["x"] == "currency"
    assert result["page"]["truncated"] is False


async def test_execute_with_filters_and_time_range(mcp: Client, call: Any, viz_id: str, sent_requests: list) -> None:
    result = await call(
        mcp,
        "execute_visualization",
        {
            "viz_id": viz_id,
            "filters": [{"field": "currency", "operator": "is_one_of", "value": ["EUR", "USD"]}],
            "time_range": {"from": "2026-01-02T00:00:00Z", "to": 1767830400000},
        },
    )
    assert result["rows"] == [{"currency": "EUR", "n": 1}, {"currency": "USD", "n": 1}]
    body = json.loads(sent_requests[-1].content)
    sent_filter = body["filters"][0]
    assert sent_filter["id"] and sent_filter["enabled"] is True and sent_filter["is_time_filter"] is False
    assert sent_filter["query_type"] is None and sent_filter["index"] is None
    assert body["time_range"] == {"from": "2026-01-02T00:00:00Z", "to": 1767830400000}


async def test_execute_limit_and_offset_page_rows(mcp: Client, call: Any, viz_id: str) -> None:
    first = await call(mcp, "execute_visualization", {"viz_id": viz_id, "limit": 2})
    assert len(first["rows"]) == 2
    assert first["page"] == first["page"] | {"truncated": True, "next_offset": 2, "total": 3}
    rest = await call(mcp, "execute_visualization", {"viz_id": viz_id, "limit": 2, "offset": 2})
    assert rest["rows"] == [{"currency": "USD", "n": 1}]


async def test_execute_rows_cut_by_byte_budget(make_mcp: Any, call: Any) -> None:
    client = await make_mcp(max_result_bytes=2000)
    records = [{"name": f"row-{i:04d}-" + "x" * 60, "v": i} for i in range(80)]
    await call(client, "upload_json_to_dataset", {"dataset": "wide", "records": records})
    spec = {
        "title": "wide",
        "source": {"kind": "sql", "index": "wide", "sql": {"raw_query": "SELECT name, v FROM wide"}},
        "chart": {"type": "table"},
    }
    viz = await call(client, "create_visualization", {"spec": spec})
    result = await call(client, "execute_visualization", {"viz_id": viz["id"], "limit": 1000})
    assert 0 < len(result["rows"]) < 80
    assert result["page"]["truncated"] is True
    assert "byte" in result["page"]["note"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"filters": [{"field": "a", "operator": "equals", "value": 1}]}, "operator"),
        ({"filters": [{"field": "a", "operator": "is_one_of", "value": "x"}]}, "non-empty list"),
        ({"filters": [{"field": "a", "operator": "is_between", "value": [1]}]}, "[low, high]"),
        ({"filters": [{"field": "a", "operator": "contains", "value": ["x"]}]}, "single value"),
        ({"time_range": {"from": "now-1h"}}, "absolute time"),
        ({"time_range": {"to": 10**30}}, "absolute time"),
        ({"time_range": {}}, "needs 'from', 'to'"),
        ({"time_range": {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}, "after"),
    ],
)
async def test_execute_refuses_bad_filters_before_any_request(
    mcp: Client, call_error: Any, sent_requests: list, arguments: dict[str, Any], expected: str
) -> None:
    message = await call_error(mcp, "execute_visualization", {"viz_id": "v1", **arguments})
    assert expected in message
    assert sent_requests == []


async def test_execute_unknown_visualization(mcp: Client, call_error: Any) -> None:
    message = await call_error(mcp, "execute_visualization", {"viz_id": "nope"})
    assert "HTTP 404" in message and "list_visualizations" in message


async def test_bad_inputs_refused_before_any_request(mcp: Client, call_error: Any, sent_requests: list) -> None:
    assert "not valid JSON" in await call_error(mcp, "create_visualization", {"spec": '{"title": '})
    assert "line 1" in await call_error(mcp, "update_visualization", {"viz_id": "v", "patch": "{oops"})
    assert "cannot be changed" in await call_error(mcp, "update_visualization", {"viz_id": "v", "patch": {"id": "x"}})
    assert "empty" in await call_error(mcp, "update_visualization", {"viz_id": "v", "patch": {}})
    assert "not a valid id" in await call_error(mcp, "get_visualization", {"viz_id": "../datasets"})
    assert "not a valid id" in await call_error(mcp, "delete_visualization", {"viz_id": "a/b"})
    assert sent_requests == []


async def test_create_rejected_by_service(mcp: Client, call_error: Any) -> None:
    message = await call_error(mcp, "create_visualization", {"spec": {"title": "t", "chart": {"type": "bar"}}})
    assert "400" in message and "source" in message


async def test_to_echarts_option_by_id(mcp: Client, call: Any, viz_id: str) -> None:
    result = await call(mcp, "to_echarts_option", {"viz_id": viz_id})
    assert result["kind"] == "echarts"
    assert result["title"] == "Orders by currency"
    assert result["option"]["xAxis"]["data"] == ["EUR", "GBP", "USD"]
    assert [s["data"] for s in result["option"]["series"]] == [[2, 1, 1]]
    assert result["rows_used"] == result["rows_total"] == 3
    assert result["note"] is None


async def test_to_echarts_option_from_given_viz_and_data(mcp: Client, call: Any, sent_requests: list) -> None:
    viz = viz_spec(chart="metric", query="SELECT COUNT(*) AS n FROM orders")
    data = {"columns": [{"name": "n", "type": "number"}], "rows": [{"n": 4}], "metadata": {}}
    result = await call(mcp, "to_echarts_option", {"visualization": viz, "data": json.dumps(data)})
    assert result["kind"] == "metric" and result["value"] == 4
    assert sent_requests == []


async def test_to_echarts_option_fetches_only_the_missing_part(
    mcp: Client, call: Any, viz_id: str, sent_requests: list
) -> None:
    sent_requests.clear()
    viz = viz_spec(chart="table")
    result = await call(mcp, "to_echarts_option", {"viz_id": viz_id, "visualization": viz})
    assert result["kind"] == "table" and len(result["rows"]) == 3
    assert [(r.method, r.url.path) for r in sent_requests] == [("POST", f"/visualizations/{viz_id}/data")]


async def test_to_echarts_option_errors(mcp: Client, call_error: Any, viz_id: str) -> None:
    assert "viz_id" in await call_error(mcp, "to_echarts_option", {})
    assert "viz_id" in await call_error(mcp, "to_echarts_option", {"visualization": viz_spec()})
    message = await call_error(
        mcp,
        "to_echarts_option",
        {"viz_id": viz_id, "data": {"rows": []}, "time_range": {"from": "2026-01-01T00:00:00Z"}},
    )
    assert "only when the data is fetched" in message
    message = await call_error(mcp, "to_echarts_option", {"viz_id": "missing"})
    assert "HTTP 404" in message and "list_visualizations" in message


async def test_to_echarts_option_halves_rows_to_fit(make_mcp: Any, call: Any) -> None:
    client = await make_mcp(max_result_bytes=2000)
    rows = [{"label": f"category-{i:04d}", "n": i} for i in range(400)]
    data = {
        "columns": [{"name": "label", "type": "string"}, {"name": "n", "type": "number"}],
        "rows": rows,
        "metadata": {},
    }
    result = await call(client, "to_echarts_option", {"visualization": viz_spec(), "data": data})
    assert result["rows_total"] == 400 and result["rows_used"] < 400
    assert "Rendered" in result["note"]


async def test_service_error_during_execute_is_reported(make_mcp: Any, call_error: Any) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, json={"error": {"reason": "no read on orders"}})

    client = await make_mcp(transport=httpx2.MockTransport(handler))
    message = await call_error(client, "execute_visualization", {"viz_id": "v1"})
    assert "403" in message and "no read on orders" in message


async def test_a_broken_query_is_refused_when_saved(mcp: Client, call: Any, call_error: Any) -> None:
    await seed_orders(mcp, call)
    message = await call_error(mcp, "create_visualization", {"spec": viz_spec(query="SELECT nope FROM orders")})
    assert "create_visualization: the visualization's query fails, so nothing was saved" in message
    assert "nope" in message
    assert 'Valid fields are "@timestamp", currency, amount, customer' in message
    assert (await call(mcp, "list_visualizations", {}))["visualizations"] == []


async def test_a_missing_dataset_is_refused_when_saved(mcp: Client, call: Any, call_error: Any) -> None:
    spec = viz_spec(query="SELECT a FROM ghosts")
    spec["source"]["index"] = "ghosts"
    message = await call_error(mcp, "create_visualization", {"spec": spec})
    assert "nothing was saved" in message and "call get_datasets" in message
    assert (await call(mcp, "list_visualizations", {}))["visualizations"] == []


async def test_a_patch_that_breaks_the_query_is_refused(mcp: Client, call: Any, call_error: Any, viz_id: str) -> None:
    patch = {"source": {"sql": {"raw_query": "SELECT currency, SUM(nope) AS n FROM orders GROUP BY currency"}}}
    message = await call_error(mcp, "update_visualization", {"viz_id": viz_id, "patch": patch})
    assert "update_visualization: the visualization's query fails, so nothing was changed" in message
    assert "nope" in message and "Valid fields are" in message
    kept = await call(mcp, "get_visualization", {"viz_id": viz_id})
    assert kept["attributes"]["source"]["sql"]["raw_query"] == BY_CURRENCY
    assert [v["id"] for v in (await call(mcp, "list_visualizations", {}))["visualizations"]] == [viz_id]
    fixed = {"source": {"sql": {"raw_query": "SELECT currency, SUM(amount) AS n FROM orders GROUP BY currency"}}}
    updated = await call(mcp, "update_visualization", {"viz_id": viz_id, "patch": fixed})
    assert updated["attributes"]["source"]["sql"]["raw_query"].startswith("SELECT currency, SUM(amount)")
    data = await call(mcp, "execute_visualization", {"viz_id": viz_id})
    assert sorted((r["currency"], r["n"]) for r in data["rows"]) == [("EUR", 30), ("GBP", 7), ("USD", 5)]


async def test_a_title_patch_runs_no_query(mcp: Client, call: Any, viz_id: str, sent_requests: list) -> None:
    sent_requests.clear()
    await call(mcp, "update_visualization", {"viz_id": viz_id, "patch": {"title": "Only the title"}})
    assert [(r.method, r.url.path) for r in sent_requests] == [("PATCH", f"/visualizations/{viz_id}")]


async def test_chart_notes_name_what_cut_the_rows(make_mcp: Any, call: Any) -> None:
    client = await make_mcp(max_result_bytes=3000)
    records = [{"name": f"row-{i:04d}-" + "x" * 40, "v": i} for i in range(60)]
    await call(client, "upload_json_to_dataset", {"dataset": "wide", "records": records})
    spec = {
        "title": "wide",
        "source": {"kind": "sql", "index": "wide", "sql": {"raw_query": "SELECT name, v FROM wide", "limit": 50}},
        "chart": {"type": "bar"},
    }
    viz = await call(client, "create_visualization", {"spec": spec})
    by_rows = await call(client, "to_echarts_option", {"viz_id": viz["id"], "max_rows": 3})
    assert by_rows["rows_used"] == 3 and by_rows["rows_total"] == 50
    assert "Rendered 3 of 50 rows, cut by max_rows=3" in by_rows["note"]
    assert "budget" not in by_rows["note"]
    assert "own row limit (source.sql.limit)" in by_rows["note"]
    by_bytes = await call(client, "to_echarts_option", {"viz_id": viz["id"]})
    assert by_bytes["rows_used"] < 50
    assert "of 50 rows, cut by the 3000-byte result budget" in by_bytes["note"]
    await call(client, "create_visualization", {"spec": {**spec, "title": "again"}})
    listed = await call(client, "list_visualizations", {"limit": 1})
    assert "cut by limit=1" in listed["page"]["note"]
