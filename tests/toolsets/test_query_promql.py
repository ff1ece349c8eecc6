"""PromQL and source-query tools through an MCP client against the local endpoint."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from infino_mcp.toolsets.query_shapes import bound_native, unwrap_value

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000  # unix seconds


def exposition(points: int = 5, codes: tuple[str, ...] = ("200", "500")) -> str:
    lines = []
    for step in range(points):
        for n, code in enumerate(codes):
            lines.append(f'http_requests_total{{code="{code}",job="api"}} {step * 10 + n} {(T0 + step * 60) * 1000}')
    return "\n".join(lines) + "\n"


async def seed_metrics(client, call, dataset: str = "metrics", **kwargs) -> None:
    await call(client, "create_dataset", {"dataset": dataset})
    await call(client, "upload_metrics_to_dataset", {"dataset": dataset, "metrics": exposition(**kwargs)})


async def test_instant_query_series_with_float_values(mcp, call, sent_requests):
    await seed_metrics(mcp, call)
    sent_requests.clear()
    result = await call(
        mcp, "query_dataset_in_promql", {"query": "http_requests_total", "dataset": "metrics", "time": T0 + 240}
    )
    assert result["result_type"] == "vector"
    by_code = {s["metric"]["code"]: s["value"] for s in result["series"]}
    assert by_code == {"200": [T0 + 240.0, 40.0], "500": [T0 + 240.0, 41.0]}
    assert all(s["values"] is None for s in result["series"])
    (request,) = sent_requests
    assert request.method == "POST" and request.url.path == "/promql/query"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "query": ["http_requests_total"],
        "time": [str(T0 + 240)],
        "index": ["metrics"],
    }


async def test_instant_scalar_result(mcp, call):
    result = await call(mcp, "query_dataset_in_promql", {"query": "1 + 2", "time": T0})
    assert result["result_type"] == "scalar"
    assert result["scalar"] == [float(T0), 3.0]


async def test_range_query_values(mcp, call, sent_requests):
    await seed_metrics(mcp, call)
    sent_requests.clear()
    result = await call(
        mcp,
        "query_dataset_in_promql_range",
        {
            "query": 'sum(http_requests_total{code="200"})',
            "start": T0,
            "end": T0 + 240,
            "step": 60,
            "dataset": "metrics",
        },
    )
    assert result["result_type"] == "matrix"
    (series,) = result["series"]
    assert series["values"] == [[float(T0 + i * 60), float(i * 10)] for i in range(5)]
    form = parse_qs(sent_requests[0].content.decode())
    assert form["start"] == [str(T0)] and form["end"] == [str(T0 + 240)] and form["step"] == ["60"]


async def test_range_series_limit_and_note(mcp, call):
    await seed_metrics(mcp, call, codes=("200", "404", "500"))
    result = await call(
        mcp,
        "query_dataset_in_promql_range",
        {"query": "http_requests_total", "start": T0, "end": T0 + 240, "step": 60, "limit": 2},
    )
    assert len(result["series"]) == 2
    assert result["page"]["truncated"] is True and result["page"]["total"] == 3
    assert "label matchers" in result["page"]["note"]


async def test_range_points_cut_to_the_budget(make_mcp, call):
    client = await make_mcp(max_result_bytes=2000)
    await seed_metrics(client, call, points=200, codes=("200",))
    result = await call(
        client,
        "query_dataset_in_promql_range",
        {"query": "http_requests_total", "start": T0, "end": T0 + 199 * 60, "step": 60},
    )
    assert result["points_cut"] is True
    values = result["series"][0]["values"]
    assert 0 < len(values) < 200 and values[-1] == [float(T0 + 199 * 60), 1990.0]
    assert "larger step" in result["page"]["note"]


async def test_range_end_before_start_is_refused(mcp, call_error, sent_requests):
    message = await call_error(
        mcp, "query_dataset_in_promql_range", {"query": "up", "start": T0, "end": T0 - 1, "step": 60}
    )
    assert "before start" in message
    assert sent_requests == []


async def test_range_with_too_many_points_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "query_dataset_in_promql_range", {"query": "up", "start": 0, "end": T0, "step": 1})
    assert "larger step" in message
    assert sent_requests == []


async def test_promql_syntax_error_reaches_the_model(mcp, call_error):
    message = await call_error(mcp, "query_dataset_in_promql", {"query": "sum(rate(x[5m]"})
    assert "query_dataset_in_promql failed with HTTP 400" in message


async def test_promql_tools_are_read_only(make_mcp):
    client = await make_mcp(read_only=True, toolsets="query,connections")
    names = {t.name for t in (await client.list_tools()).tools}
    assert {"query_dataset_in_promql", "query_dataset_in_promql_range", "query_source", "get_connections"} <= names


# ---------------------------------------------------------------- query_source


async def test_query_source_needs_infino_cloud(mcp, call, call_error, sent_requests):
    conn = await call(mcp, "create_connection", {"source_type": "postgres", "config": {"host": "db", "password": "pw"}})
    conn_id = conn["result"]["id"]
    sent_requests.clear()
    message = await call_error(
        mcp, "query_source", {"connection_id": conn_id, "dataset": "public.orders", "query": "SELECT 1"}
    )
    assert "HTTP 501" in message and "Infino cloud" in message
    (request,) = sent_requests
    assert request.method == "POST" and request.url.path == f"/source/{conn_id}/public.orders/dsl"
    assert request.headers["x-infino-connection-id"] == conn_id
    assert json.loads(request.content) == {"query": "SELECT 1"}


async def test_query_source_object_query_is_sent_as_json_text(mcp, call, call_error, sent_requests):
    conn = await call(mcp, "create_connection", {"source_type": "elasticsearch", "config": {"host": "es"}})
    sent_requests.clear()
    await call_error(
        mcp,
        "query_source",
        {"connection_id": conn["result"]["id"], "dataset": "logs", "query": {"query": {"match_all": {}}}},
    )
    assert json.loads(json.loads(sent_requests[0].content)["query"]) == {"query": {"match_all": {}}}


async def test_query_source_unknown_connection(mcp, call_error):
    message = await call_error(mcp, "query_source", {"connection_id": "conn_nope", "dataset": "t", "query": "SELECT 1"})
    assert "HTTP 404" in message and "get_connections lists them" in message


async def test_query_source_path_injection_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "query_source", {"connection_id": "a/../../sql", "dataset": "t", "query": "x"})
    assert "not a valid id" in message
    assert sent_requests == []


# ---------------------------------------------------------------- pure shaping helpers


def test_unwrap_value_removes_type_wrappers():
    assert unwrap_value({"String": "x"}) == "x"
    assert unwrap_value({"Integer": 3}) == 3
    assert unwrap_value("Null") is None
    assert unwrap_value({"Array": [{"Float": 1.5}, {"String": "a"}]}) == [1.5, "a"]
    assert unwrap_value({"plain": 1}) == {"plain": 1}
    assert unwrap_value({"Json": {"Name": "kept"}}) == {"Name": "kept"}
    assert unwrap_value({"Null": None}) is None


def test_bound_native_cuts_the_largest_list():
    value = {"took": 3, "rows": [{"n": i, "text": "x" * 50} for i in range(200)]}
    shaped = bound_native(value, 2000)
    assert shaped.truncated and 0 < len(shaped.result["rows"]) < 200
    assert shaped.result["took"] == 3 and "'rows'" in shaped.note
    assert not bound_native({"small": 1}, 2000).truncated


async def test_nan_becomes_null_over_the_legacy_wire(make_mcp, call):
    client = await make_mcp(client_options={"mode": "legacy"})
    result = await call(client, "query_dataset_in_promql", {"query": "0 / 0", "time": T0})
    assert result["scalar"] == [float(T0), None]
