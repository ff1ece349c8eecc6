"""Executing visualizations through the local endpoint: raw SQL, builder mode,
filters, time ranges, limits and permissions."""

from __future__ import annotations

import json
import re

import pytest

from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio

DS = "shop-orders.v1"
ORDERS = [
    {
        "@timestamp": "2026-04-01T08:00:00Z",
        "currency": "USD",
        "price": 10.0,
        "qty": 1,
        "paid": True,
        "note": "50% off_sale",
        "region": "EMEA",
    },
    {
        "@timestamp": "2026-04-01T09:30:00Z",
        "currency": "EUR",
        "price": 20.0,
        "qty": 2,
        "paid": False,
        "note": "it's a gift",
        "region": "EMEA",
    },
    {
        "@timestamp": "2026-04-02T10:00:00Z",
        "currency": "USD",
        "price": 30.0,
        "qty": 3,
        "paid": True,
        "note": "plain",
        "region": "AMER",
    },
    {
        "@timestamp": "2026-04-03T11:00:00Z",
        "currency": "GBP",
        "price": 40.0,
        "qty": 10,
        "paid": True,
        "note": "50 percent",
    },
    {
        "@timestamp": "2026-04-03T12:00:00Z",
        "currency": "USD",
        "price": 50.0,
        "qty": 9,
        "paid": False,
        "note": "offsale",
        "region": "APAC",
    },
]


@pytest.fixture
async def shop(endpoint):
    lines = []
    for i, order in enumerate(ORDERS):
        lines += [json.dumps({"index": {"_id": str(i)}}), json.dumps(order)]
    response = await endpoint.post(
        f"/{DS}/json", content="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200 and not response.json()["errors"], response.text
    return endpoint


async def _viz(client, **spec):
    spec.setdefault("source", {"index": DS})
    response = await client.post("/visualizations", json=spec)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _run(client, viz_id, **body):
    response = await client.post(f"/visualizations/{viz_id}/data", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _second(timestamp):
    """An ISO timestamp to the second (the endpoint may add milliseconds)."""
    return timestamp[:19] + "Z"


def _raw(sql, **sql_options):
    return {"index": DS, "sql": {"raw_query": sql, **sql_options}}


async def test_raw_query(shop):
    sql = f'SELECT currency, COUNT(*) AS count FROM "{DS}" GROUP BY currency ORDER BY currency'
    data = await _run(shop, await _viz(shop, source=_raw(sql)))
    assert data["columns"] == [{"name": "currency", "type": "string"}, {"name": "count", "type": "number"}]
    assert data["rows"] == [
        {"currency": "EUR", "count": 1},
        {"currency": "GBP", "count": 1},
        {"currency": "USD", "count": 3},
    ]
    metadata = data["metadata"]
    assert metadata["source_kind"] == "sql"
    assert metadata["row_count"] == 3 and metadata["truncated"] is False
    assert isinstance(metadata["took_ms"], int)
    assert metadata["filters_applied"] == [] and metadata["filters_skipped"] == []
    assert metadata["binding"] == {"x": "currency", "y": ["count"], "series": None, "value": "count"}
    assert "LIMIT 1001" in metadata["executed_query"]


async def test_raw_query_binding_follows_mapping(shop):
    sql = f'SELECT region, currency, SUM(price) AS total FROM "{DS}" GROUP BY region, currency'
    viz = await _viz(shop, source=_raw(sql), mapping={"x": "region", "y": ["total"], "series": "currency"})
    binding = (await _run(shop, viz))["metadata"]["binding"]
    assert binding == {"x": "region", "y": ["total"], "series": "currency", "value": "total"}


async def test_raw_query_with_backticks_and_bare_dataset_name(shop):
    viz = await _viz(shop, source=_raw(f"SELECT `qty` FROM {DS} ORDER BY qty"))
    data = await _run(shop, viz, filters=[{"field": "qty", "operator": "is_between", "value": [2, 9]}])
    assert [r["qty"] for r in data["rows"]] == [2, 3, 9]
    assert data["metadata"]["filters_applied"] == ["qty"]


async def test_row_limit_truncates(shop):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}" ORDER BY qty', limit=2))
    data = await _run(shop, viz)
    assert [r["qty"] for r in data["rows"]] == [1, 2]
    assert data["metadata"]["truncated"] is True and data["metadata"]["row_count"] == 2
    own_limit = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}" ORDER BY qty LIMIT 2', limit=2))
    data = await _run(shop, own_limit)
    assert data["metadata"]["truncated"] is False and data["metadata"]["row_count"] == 2


async def test_builder_count_by_category(shop):
    viz = await _viz(shop, mapping={"x": "currency", "y": ["count"]})
    data = await _run(shop, viz)
    assert data["rows"] == [
        {"currency": "EUR", "count": 1},
        {"currency": "GBP", "count": 1},
        {"currency": "USD", "count": 3},
    ]
    assert data["metadata"]["binding"] == {"x": "currency", "y": ["count"], "series": None, "value": "count"}


async def test_builder_aggregations(shop):
    ys = [{"column": "price", "aggregation": a} for a in ("sum", "avg", "min", "max")]
    ys.append({"column": "currency", "aggregation": "cardinality"})
    ys.append({"column": "qty", "aggregation": "count", "alias": "orders"})
    data = await _run(shop, await _viz(shop, mapping={"y": ys}, chart={"type": "metric"}))
    assert data["rows"] == [
        {
            "sum_price": 150.0,
            "avg_price": 30.0,
            "min_price": 10.0,
            "max_price": 50.0,
            "cardinality_currency": 3,
            "orders": 5,
        }
    ]
    binding = data["metadata"]["binding"]
    assert binding["value"] == "sum_price" and binding["x"] is None


async def test_builder_date_bucket_series_and_order(shop):
    mapping = {
        "x": {"column": "@timestamp", "bucket": "day"},
        "y": [{"column": "price", "aggregation": "sum"}],
        "series": "paid",
    }
    data = await _run(shop, await _viz(shop, mapping=mapping, chart={"type": "line"}))
    assert [{**r, "@timestamp": _second(r["@timestamp"])} for r in data["rows"]] == [
        {"@timestamp": "2026-04-01T00:00:00Z", "paid": False, "sum_price": 20.0},
        {"@timestamp": "2026-04-01T00:00:00Z", "paid": True, "sum_price": 10.0},
        {"@timestamp": "2026-04-02T00:00:00Z", "paid": True, "sum_price": 30.0},
        {"@timestamp": "2026-04-03T00:00:00Z", "paid": False, "sum_price": 50.0},
        {"@timestamp": "2026-04-03T00:00:00Z", "paid": True, "sum_price": 40.0},
    ]
    assert data["columns"][0] == {"name": "@timestamp", "type": "date"}
    assert data["metadata"]["binding"] == {
        "x": "@timestamp",
        "y": ["sum_price"],
        "series": "paid",
        "value": "sum_price",
    }


async def test_builder_interval_and_histogram_buckets(shop):
    hourly = {"x": {"column": "@timestamp", "bucket": "2h"}, "y": ["count"]}
    rows = (await _run(shop, await _viz(shop, mapping=hourly)))["rows"]
    assert [{**r, "@timestamp": _second(r["@timestamp"])} for r in rows[:2]] == [
        {"@timestamp": "2026-04-01T08:00:00Z", "count": 2},
        {"@timestamp": "2026-04-02T10:00:00Z", "count": 1},
    ]
    histogram = {"x": {"column": "qty", "bucket": 5}, "y": ["count"]}
    rows = (await _run(shop, await _viz(shop, mapping=histogram)))["rows"]
    assert rows == [{"qty": 0, "count": 3}, {"qty": 5, "count": 1}, {"qty": 10, "count": 1}]


async def test_builder_top_n_and_raw_points(shop):
    source = {
        "index": DS,
        "sql": {
            "metrics": [{"function": "sum", "column": "price"}],
            "order_by": [{"column": "sum_price", "direction": "desc"}],
            "limit": 2,
        },
    }
    data = await _run(shop, await _viz(shop, source=source, mapping={"x": "currency", "y": ["price"]}))
    assert data["rows"] == [{"currency": "USD", "sum_price": 90.0}, {"currency": "GBP", "sum_price": 40.0}]
    assert data["metadata"]["truncated"] is True
    points = await _viz(shop, mapping={"x": "qty", "y": ["price"]}, chart={"type": "scatter"})
    data = await _run(shop, points)
    assert [(r["qty"], r["price"]) for r in data["rows"]] == [(1, 10.0), (2, 20.0), (3, 30.0), (9, 50.0), (10, 40.0)]
    assert data["metadata"]["binding"]["y"] == ["price"]


def _f(field, operator, value=None, **extra):
    return {"field": field, "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (_f("currency", "is", "USD"), [0, 2, 4]),
        (_f("qty", "is", "3"), [2]),
        (_f("paid", "is", "false"), [1, 4]),
        (_f("currency", "is_not", "USD"), [1, 3]),
        (_f("region", "is_not", "EMEA"), [2, 3, 4]),
        (_f("currency", "is_one_of", ["EUR", "GBP"]), [1, 3]),
        (_f("region", "is_not_one_of", ["EMEA", "APAC"]), [2, 3]),
        (_f("region", "exists"), [0, 1, 2, 4]),
        (_f("region", "does_not_exist"), [3]),
        (_f("price", "is_between", [20, 40]), [1, 2, 3]),
        (_f("price", "is_between", {"from": 35}), [3, 4]),
        (_f("qty", "is_not_between", [2, 9]), [0, 3]),
        (
            _f(
                "@timestamp",
                "is_between",
                {"from": "2026-04-01T09:00:00Z", "to": "2026-04-03T11:00:00Z"},
                is_time_filter=True,
            ),
            [1, 2, 3],
        ),
        (_f("@timestamp", "is_between", [1775034000000, 1775127600000]), [1, 2]),
        (_f("note", "contains", "50%"), [0]),
        (_f("note", "contains", "f_s"), [0]),
        (_f("note", "contains", "it's"), [1]),
        (_f("note", "contains", "off"), [0, 4]),
        (_f("qty", "contains", 1), [0, 3]),
        (_f("currency", "is", "EUR", enabled=False), [0, 1, 2, 3, 4]),
    ],
)
async def test_filter_operators(shop, flt, expected):
    viz = await _viz(shop, source=_raw(f'SELECT qty, price FROM "{DS}" ORDER BY "@timestamp"'))
    data = await _run(shop, viz, filters=[flt])
    assert [ORDERS.index(next(o for o in ORDERS if o["qty"] == r["qty"])) for r in data["rows"]] == expected
    enabled = flt.get("enabled", True)
    assert data["metadata"]["filters_applied"] == ([flt["field"]] if enabled else [])
    assert data["metadata"]["filters_skipped"] == []


async def test_saved_and_runtime_filters_are_and_merged(shop):
    saved = [_f("currency", "is", "USD")]
    viz = await _viz(
        shop, source=_raw(f'SELECT qty FROM "{DS}" WHERE price > 5 OR qty > 100 ORDER BY qty'), filters=saved
    )
    data = await _run(shop, viz, filters=[_f("paid", "is", True)])
    assert [r["qty"] for r in data["rows"]] == [1, 3]
    assert data["metadata"]["filters_applied"] == ["currency", "paid"]
    assert "(price > 5 OR qty > 100) AND" in data["metadata"]["executed_query"]


async def test_filters_reach_the_inner_select_of_group_by_queries(shop):
    sql = (
        f'SELECT currency, SUM(qty) AS qty FROM (SELECT currency, qty FROM "{DS}" WHERE qty > 0) t '
        "GROUP BY currency ORDER BY currency"
    )
    data = await _run(shop, await _viz(shop, source=_raw(sql)), filters=[_f("paid", "is", True)])
    assert data["rows"] == [{"currency": "GBP", "qty": 10}, {"currency": "USD", "qty": 4}]
    cte = f'WITH o AS (SELECT * FROM "{DS}") SELECT currency, COUNT(*) AS n FROM o GROUP BY currency ORDER BY 1'
    data = await _run(shop, await _viz(shop, source=_raw(cte)), filters=[_f("region", "is", "EMEA")])
    assert data["rows"] == [{"currency": "EUR", "n": 1}, {"currency": "USD", "n": 1}]


async def test_time_range(shop):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}" ORDER BY qty'))
    data = await _run(shop, viz, time_range={"from": "2026-04-01T09:00:00+00:00", "to": 1775127600000})
    assert [r["qty"] for r in data["rows"]] == [2, 3]
    assert data["metadata"]["filters_applied"] == ["@timestamp"]
    open_ended = await _run(shop, viz, time_range={"from": "2026-04-03T00:00:00Z"})
    assert [r["qty"] for r in open_ended["rows"]] == [9, 10]


async def test_time_range_and_filters_in_builder_mode(shop):
    mapping = {"x": {"column": "@timestamp", "bucket": "day"}, "y": ["count"]}
    viz = await _viz(shop, mapping=mapping, filters=[_f("currency", "is", "USD")])
    data = await _run(shop, viz, time_range={"from": "2026-04-02T00:00:00Z", "to": "2026-04-30T00:00:00Z"})
    assert [(r["@timestamp"][:10], r["count"]) for r in data["rows"]] == [("2026-04-02", 1), ("2026-04-03", 1)]
    assert data["metadata"]["filters_applied"] == ["currency", "@timestamp"]


async def test_time_range_on_a_dataset_without_the_time_column_is_skipped(shop):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}"', time_column="created"))
    data = await _run(shop, viz, time_range={"from": "2026-04-01T00:00:00Z", "to": "2026-04-02T00:00:00Z"})
    assert data["metadata"]["row_count"] == 5
    (skipped,) = data["metadata"]["filters_skipped"]
    assert skipped["field"] == "created" and "source.sql.time_column" in skipped["reason"]


@pytest.mark.parametrize(
    "time_range",
    [{"from": "last week"}, {"to": True}, {}, "2026", {"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}],
)
async def test_bad_time_range_is_400(shop, time_range):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}"'))
    response = await shop.post(f"/visualizations/{viz}/data", json={"time_range": time_range})
    assert response.status_code == 400
    assert "time_range" in response.json()["error"]["reason"]


@pytest.mark.parametrize(
    ("flt", "reason"),
    [
        (_f("nope", "is", 1), "field 'nope' is not in the dataset"),
        (_f("qty", "is", "many"), "'many' is not a number"),
        (_f("paid", "is", "yes"), "is Boolean"),
        (_f("qty", "wobbles", 1), "unknown operator 'wobbles'"),
        (_f("qty", "is"), "needs a value"),
        (_f("qty", "is_one_of", []), "at least one value"),
        (_f("qty", "is_between", "1..2"), "is_between needs"),
        (_f("note", "contains", ["a"]), "single string"),
        (_f("qty", "is", 1, index="other-dataset"), "for dataset 'other-dataset'"),
    ],
)
async def test_unusable_filters_are_skipped_and_the_query_still_runs(shop, flt, reason):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}"'))
    data = await _run(shop, viz, filters=[flt, _f("currency", "is", "USD")])
    assert data["metadata"]["row_count"] == 3
    assert data["metadata"]["filters_applied"] == ["currency"]
    (skipped,) = data["metadata"]["filters_skipped"]
    assert skipped["field"] == flt["field"] and reason in skipped["reason"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (_f("tags", "is", "a"), [1]),
        (_f("tags", "is_one_of", ["c", "b"]), [1, 2]),
        (_f("tags", "is_not", "a"), [2, 3]),
        (_f("tags", "is_not_one_of", ["a", "c"]), [3]),
    ],
)
async def test_filters_on_array_fields_match_elements(endpoint, flt, expected):
    docs = [
        {"index": {}},
        {"tags": ["a", "b"], "n": 1},
        {"index": {}},
        {"tags": ["c"], "n": 2},
        {"index": {}},
        {"n": 3},
    ]
    body = "\n".join(json.dumps(d) for d in docs) + "\n"
    response = await endpoint.post("/tagged/json", content=body, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    viz = await _viz(endpoint, source={"index": "tagged", "sql": {"raw_query": "SELECT n FROM tagged ORDER BY n"}})
    data = await _run(endpoint, viz, filters=[flt])
    assert [r["n"] for r in data["rows"]] == expected
    assert data["metadata"]["filters_applied"] == ["tags"]


async def test_filters_the_engine_rejects_are_skipped_and_the_original_runs(endpoint):
    docs = [{"index": {}}, {"tags": ["a", "b"], "n": 1}, {"index": {}}, {"tags": ["c"], "n": 2}]
    body = "\n".join(json.dumps(d) for d in docs) + "\n"
    response = await endpoint.post("/tagged/json", content=body, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    viz = await _viz(endpoint, source={"index": "tagged", "sql": {"raw_query": "SELECT n FROM tagged ORDER BY n"}})
    data = await _run(endpoint, viz, filters=[_f("n", "is", "2026-01-01", is_time_filter=True)])
    assert [r["n"] for r in data["rows"]] == [1, 2]
    assert data["metadata"]["filters_applied"] == []
    (skipped,) = data["metadata"]["filters_skipped"]
    assert skipped["field"] == "n" and "the query ran without filters" in skipped["reason"]
    assert "CAST" not in data["metadata"]["executed_query"]


async def test_sql_the_parser_rejects_is_400(shop):
    viz = await _viz(shop, source=_raw(f'SELEC qty FROM "{DS}"'))
    response = await shop.post(f"/visualizations/{viz}/data", json={"filters": [_f("qty", "is", 1)]})
    assert response.status_code == 400


def test_plan_for_unparseable_sql_skips_filters_and_keeps_the_text():
    from infino_mcp.local.viz.sql import plan

    result = plan(
        "SELEC qty FROM t",
        index="t",
        filters=[_f("qty", "is", 1), _f("x", "is", 2, enabled=False)],
        types={"qty": "Integer"},
        time_column="@timestamp",
        limit=10,
    )
    assert result.sql == "SELEC qty FROM t" and result.fallbacks == []
    assert result.applied == []
    assert [s["field"] for s in result.skipped] == ["qty"]
    assert "could not be parsed" in result.skipped[0]["reason"]
    dangling = plan("SELECT qty * FROM t", index="t", filters=[_f("qty", "is", 1)], types={"qty": "Integer"},
                    time_column="@timestamp", limit=10)  # fmt: skip
    assert dangling.skipped[0]["reason"] == (
        "the SQL could not be parsed for filtering: nothing follows '*' at line 1, column 17 (near 'FROM')"
    )


async def test_bad_execute_bodies(shop):
    viz = await _viz(shop, source=_raw(f'SELECT qty FROM "{DS}"'))
    assert (await shop.post(f"/visualizations/{viz}/data", content=b"")).status_code == 200
    assert (await shop.post(f"/visualizations/{viz}/data", json=[1])).status_code == 400
    response = await shop.post(f"/visualizations/{viz}/data", json={"filters": {"field": "qty"}})
    assert response.status_code == 400 and "filters must be a list" in response.json()["error"]["reason"]


async def test_missing_dataset_is_404(endpoint):
    viz = await _viz(endpoint, source={"index": "gone"})
    response = await endpoint.post(f"/visualizations/{viz}/data", json={})
    assert "gone" in not_found_reason(response, "get_datasets")


async def test_engine_errors_are_400(shop):
    viz = await _viz(shop, source=_raw(f'SELECT no_such_column FROM "{DS}"'))
    response = await shop.post(f"/visualizations/{viz}/data", json={})
    assert response.status_code == 400
    assert "no_such_column" in response.json()["error"]["reason"]


NASTY = ["100%", "a_b", "back\\slash", "it's", 'say "hi"', "x'; DROP TABLE t; --", "%_\\'"]


async def test_contains_and_is_match_nasty_strings_literally(endpoint):
    notes = [*NASTY, "100 percent", "aXb", "backslash", "its", "plain"]
    lines = []
    for i, note in enumerate(notes):
        lines += [json.dumps({"index": {}}), json.dumps({"i": i, "note": note})]
    response = await endpoint.post(
        "/nasty/json", content="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    viz = await _viz(endpoint, source={"index": "nasty", "sql": {"raw_query": "SELECT i FROM nasty ORDER BY i"}})
    for needle in NASTY:
        contains = await _run(endpoint, viz, filters=[_f("note", "contains", needle)])
        assert [r["i"] for r in contains["rows"]] == [i for i, n in enumerate(notes) if needle in n], needle
        exact = await _run(endpoint, viz, filters=[_f("note", "is", needle)])
        assert [r["i"] for r in exact["rows"]] == [notes.index(needle)], needle


async def test_filters_apply_to_a_raw_query_over_a_search_function(shop):
    # The filter is injected into sqlglot's tree of the raw query; rendered back, the engine's table
    # function must keep its lower-case name (the engine does not find "TOKEN_MATCH").
    viz = await _viz(shop, source=_raw(f"SELECT qty FROM token_match('{DS}', 'note', '50 sale') ORDER BY qty"))
    data = await _run(shop, viz, filters=[_f("currency", "is", "USD")])
    assert data["metadata"]["filters_skipped"] == [] and data["metadata"]["filters_applied"] == ["currency"]
    words = [set(re.findall(r"\w+", o["note"].lower())) for o in ORDERS]
    expected = sorted(o["qty"] for o, w in zip(ORDERS, words) if o["currency"] == "USD" and {"50", "sale"} & w)
    assert expected and [r["qty"] for r in data["rows"]] == expected
