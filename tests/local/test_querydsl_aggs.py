"""QueryDSL aggregations through the local endpoint's HTTP API."""

from __future__ import annotations

import httpx2
import pytest

from tests.local.test_querydsl import DOCS, ingest, query

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", DOCS)
    return endpoint


async def aggs(endpoint: httpx2.AsyncClient, spec: dict, query_clause: dict | None = None) -> dict:
    body: dict = {"size": 0, "aggs": spec}
    if query_clause:
        body["query"] = query_clause
    result = await query(endpoint, body)
    assert result["hits"]["hits"] == []
    return result["aggregations"]


async def test_terms_with_metric_sub_aggregations(shop: httpx2.AsyncClient) -> None:
    result = await aggs(shop, {"brands": {"terms": {"field": "brand", "size": 2},
                                          "aggs": {"avg_price": {"avg": {"field": "price"}}}}})  # fmt: skip
    brands = result["brands"]
    assert brands["doc_count_error_upper_bound"] == 0
    assert brands["buckets"][0] == {"key": "Acme", "doc_count": 2, "avg_price": {"value": 17.5}}
    assert len(brands["buckets"]) == 2
    assert brands["sum_other_doc_count"] == 2  # 5 documents, 3 shown


async def test_terms_order_and_keys_of_each_type(shop: httpx2.AsyncClient) -> None:
    by_key = await aggs(shop, {"b": {"terms": {"field": "brand", "order": {"_key": "desc"}}}})
    assert [b["key"] for b in by_key["b"]["buckets"]] == ["Zoom", "O'Brien", "Leaf", "Acme"]
    top_price = {"top": {"max": {"field": "price"}}}
    by_metric = await aggs(shop, {"b": {"terms": {"field": "brand", "order": {"top": "desc"}}, "aggs": top_price}})
    assert [b["key"] for b in by_metric["b"]["buckets"]] == ["Zoom", "Acme", "O'Brien", "Leaf"]
    flags = await aggs(shop, {"f": {"terms": {"field": "in_stock"}}})
    assert flags["f"]["buckets"] == [
        {"key": 1, "key_as_string": "true", "doc_count": 3},
        {"key": 0, "key_as_string": "false", "doc_count": 1},
    ]
    prices = await aggs(shop, {"p": {"terms": {"field": "price", "size": 1, "order": {"_key": "asc"}}}})
    assert prices["p"]["buckets"] == [{"key": 5, "doc_count": 1}]
    dates = await aggs(shop, {"d": {"terms": {"field": "ts", "size": 1, "order": {"_key": "asc"}}}})
    first_date = {"key": 1704448800000, "key_as_string": "2024-01-05T10:00:00.000Z", "doc_count": 1}
    assert dates["d"]["buckets"] == [first_date]
    missing = await aggs(shop, {"c": {"terms": {"field": "user.city", "missing": "unknown"}}})
    assert {b["key"]: b["doc_count"] for b in missing["c"]["buckets"]} == {"Rome": 2, "Paris": 1, "unknown": 2}


async def test_nested_terms_restricted_to_parent_buckets(shop: httpx2.AsyncClient) -> None:
    spec = {"stock": {"terms": {"field": "in_stock"},
                      "aggs": {"city": {"terms": {"field": "user.city"},
                                        "aggs": {"dearest": {"max": {"field": "price"}}}}}}}  # fmt: skip
    buckets = (await aggs(shop, spec))["stock"]["buckets"]
    in_stock, out_of_stock = buckets
    assert in_stock["city"]["buckets"] == [{"key": "Rome", "doc_count": 2, "dearest": {"value": 10.0}}]
    assert out_of_stock["city"]["buckets"] == [{"key": "Paris", "doc_count": 1, "dearest": {"value": 25.0}}]


async def test_metrics(shop: httpx2.AsyncClient) -> None:
    spec = {
        "avg": {"avg": {"field": "price"}},
        "sum": {"sum": {"field": "price"}},
        "min": {"min": {"field": "rating"}},
        "max": {"max": {"field": "ts"}},
        "count": {"value_count": {"field": "rating"}},
        "distinct": {"cardinality": {"field": "brand"}},
        "stats": {"stats": {"field": "price"}},
        "nothing": {"avg": {"field": "no_such_field"}},
        "nothing_summed": {"sum": {"field": "no_such_field"}},
    }
    result = await aggs(shop, spec)
    assert result["avg"] == {"value": 27.0}
    assert result["sum"] == {"value": 135.0}
    assert result["min"] == {"value": 3.9}
    assert result["max"] == {"value": 1710547200000.0, "value_as_string": "2024-03-16T00:00:00.000Z"}
    assert result["count"] == {"value": 4}
    assert result["distinct"] == {"value": 4}
    assert result["stats"] == {"count": 5, "min": 5.0, "max": 80.0, "avg": 27.0, "sum": 135.0}
    assert result["nothing"] == {"value": None}
    assert result["nothing_summed"] == {"value": 0.0}


async def test_aggregations_follow_the_query(shop: httpx2.AsyncClient) -> None:
    result = await aggs(shop, {"b": {"terms": {"field": "brand"}}, "n": {"value_count": {"field": "price"}}},
                        {"match": {"title": "red"}})  # fmt: skip
    assert {b["key"]: b["doc_count"] for b in result["b"]["buckets"]} == {"Acme": 1, "Zoom": 1, "O'Brien": 1}
    assert result["n"] == {"value": 3}


async def test_histogram_fills_gaps(shop: httpx2.AsyncClient) -> None:
    spec = {"h": {"histogram": {"field": "price", "interval": 20}, "aggs": {"r": {"avg": {"field": "rating"}}}}}
    buckets = (await aggs(shop, spec))["h"]["buckets"]
    assert [(b["key"], b["doc_count"]) for b in buckets] == [(0.0, 3), (20.0, 1), (40.0, 0), (60.0, 0), (80.0, 1)]
    assert buckets[2]["r"] == {"value": None}
    assert buckets[4]["r"] == {"value": 4.8}
    sparse = await aggs(shop, {"h": {"histogram": {"field": "price", "interval": 20, "min_doc_count": 1}}})
    assert [b["key"] for b in sparse["h"]["buckets"]] == [0.0, 20.0, 80.0]


async def test_date_histogram_calendar_and_fixed(shop: httpx2.AsyncClient) -> None:
    spec = {"m": {"date_histogram": {"field": "ts", "calendar_interval": "month"},
                  "aggs": {"top": {"terms": {"field": "brand", "size": 1}}}}}  # fmt: skip
    months = (await aggs(shop, spec))["m"]["buckets"]
    assert [(b["key_as_string"], b["doc_count"]) for b in months] == [
        ("2024-01-01T00:00:00.000Z", 2), ("2024-02-01T00:00:00.000Z", 1), ("2024-03-01T00:00:00.000Z", 2),
    ]  # fmt: skip
    assert months[0]["key"] == 1704067200000
    assert months[0]["top"]["buckets"] == [{"key": "Acme", "doc_count": 2}]
    days = await aggs(shop, {"d": {"date_histogram": {"field": "ts", "fixed_interval": "1d", "format": "yyyy-MM-dd"}}})
    buckets = days["d"]["buckets"]
    assert buckets[0]["key_as_string"] == "2024-01-05"
    assert buckets[-1]["key_as_string"] == "2024-03-16"
    assert len(buckets) == 72  # every day from Jan 5 to Mar 16, empty days included
    weeks = await aggs(shop, {"w": {"date_histogram": {"field": "ts", "calendar_interval": "1w", "min_doc_count": 1}}})
    assert weeks["w"]["buckets"][0]["key_as_string"] == "2024-01-01T00:00:00.000Z"  # weeks start on Monday


async def test_range_buckets_overlap_and_nest(shop: httpx2.AsyncClient) -> None:
    ranges = [{"to": 10}, {"from": 10, "to": 50}, {"key": "big", "from": 20}]
    spec = {"r": {"range": {"field": "price", "ranges": ranges},
                  "aggs": {"brands": {"cardinality": {"field": "brand"}}}}}  # fmt: skip
    buckets = (await aggs(shop, spec))["r"]["buckets"]
    assert buckets == [
        {"key": "*-10.0", "to": 10.0, "doc_count": 1, "brands": {"value": 1}},
        {"key": "10.0-50.0", "from": 10.0, "to": 50.0, "doc_count": 3, "brands": {"value": 2}},
        {"key": "big", "from": 20.0, "doc_count": 2, "brands": {"value": 2}},
    ]
    halves = [{"to": "2024-02-01"}, {"from": "2024-02-01"}]
    dates = await aggs(shop, {"r": {"range": {"field": "ts", "ranges": halves}}})
    assert [b["doc_count"] for b in dates["r"]["buckets"]] == [2, 3]
    assert dates["r"]["buckets"][1]["from_as_string"] == "2024-02-01T00:00:00.000Z"


async def test_terms_on_array_fields_count_each_document_once_per_element(endpoint: httpx2.AsyncClient) -> None:
    docs = [{"tags": ["a", "b"], "p": 1}, {"tags": ["b"], "p": 3}, {"p": 5}, {"tags": ["a", "a"], "p": 7}]
    await ingest(endpoint, "tagged", docs)
    spec = {"t": {"terms": {"field": "tags"}, "aggs": {"p": {"avg": {"field": "p"}}}}}
    result = (await query(endpoint, {"size": 0, "aggs": spec}, "tagged"))["aggregations"]
    assert result["t"]["buckets"] == [
        {"key": "a", "doc_count": 2, "p": {"value": 4.0}},
        {"key": "b", "doc_count": 2, "p": {"value": 2.0}},
    ]
    nested = {"big": {"range": {"field": "p", "ranges": [{"from": 2}]}, "aggs": {"t": {"terms": {"field": "tags"}}}}}
    inner = (await query(endpoint, {"size": 0, "aggs": nested}, "tagged"))["aggregations"]["big"]["buckets"][0]["t"]
    assert inner["buckets"] == [{"key": "a", "doc_count": 1}, {"key": "b", "doc_count": 1}]


async def test_bucket_aggregation_on_unknown_field_is_empty(shop: httpx2.AsyncClient) -> None:
    result = await aggs(shop, {"x": {"terms": {"field": "nope"}, "aggs": {"y": {"avg": {"field": "price"}}}}})
    assert result["x"] == {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"x": {"geohash_grid": {"field": "price"}}}, "'geohash_grid'"),
        ({"x": {"avg": {"field": "price"}, "aggs": {"y": {"max": {"field": "price"}}}}}, "sub-aggregations"),
        ({"x": {"avg": {"field": "brand"}}}, "numeric"),
        ({"x": {"date_histogram": {"field": "ts"}}}, "calendar_interval or fixed_interval"),
        ({"x": {"date_histogram": {"field": "ts", "calendar_interval": "2d"}}}, "fixed_interval"),
        ({"x": {"terms": {"field": "brand"}, "avg": {"field": "price"}}}, "exactly one type"),
        ({"x": {"terms": {"field": "brand", "order": {"nope": "asc"}}}}, "cannot order by 'nope'"),
        ({"x": {"histogram": {"field": "price", "interval": 0.0001}}}, "more than 10000 buckets"),
        ({"x": {"value_count": {"field": "tags"}}}, "unnest"),
    ],
)
async def test_invalid_aggregations_are_400(shop: httpx2.AsyncClient, spec: dict, named: str) -> None:
    result = await query(shop, {"size": 0, "aggs": spec}, status=400)
    assert named in result["error"]["reason"]
