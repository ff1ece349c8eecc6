"""median_absolute_deviation (exact) and top_metrics through the local endpoint's HTTP API, in
Elasticsearch's response shapes. Expected values are computed here in plain Python over the same rows."""

from __future__ import annotations

import statistics

import httpx2
import pytest

from tests.local.test_querydsl import DOCS, ingest, query

pytestmark = pytest.mark.anyio

MORE = [
    {"brand": "Acme", "price": 7, "rating": 2.0, "ts": "2024-04-01T08:00:00Z", "title": "Acme mug"},
    {"brand": "Zoom", "price": 120, "rating": 4.9, "ts": "2024-04-02T08:00:00Z", "title": "Zoom racer"},
    {"brand": "Zoom", "price": 60, "ts": "2024-04-03T08:00:00Z", "title": "Zoom socks"},
]
ROWS = DOCS + MORE


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", ROWS)
    return endpoint


def mad(values: list[float]) -> float | None:
    if not values:
        return None
    middle = statistics.median(values)
    return statistics.median([abs(v - middle) for v in values])


async def aggs(shop: httpx2.AsyncClient, spec: dict, **body: object) -> dict:
    return (await query(shop, {"size": 0, "aggs": spec, **body}))["aggregations"]


async def test_median_absolute_deviation_overall_per_bucket_and_missing(shop: httpx2.AsyncClient) -> None:
    result = await aggs(shop, {
        "price": {"median_absolute_deviation": {"field": "price"}},
        "rating": {"median_absolute_deviation": {"field": "rating"}},
        "rating0": {"median_absolute_deviation": {"field": "rating", "missing": 0}},
        "nothing": {"median_absolute_deviation": {"field": "no_such_field"}},
        "brands": {"terms": {"field": "brand"}, "aggs": {"m": {"median_absolute_deviation": {"field": "price"}}}},
    })  # fmt: skip
    assert result["price"]["value"] == pytest.approx(mad([d["price"] for d in ROWS]))
    assert result["rating"]["value"] == pytest.approx(mad([d["rating"] for d in ROWS if "rating" in d]))
    assert result["rating0"]["value"] == pytest.approx(mad([d.get("rating", 0) for d in ROWS]))
    assert result["nothing"] == {"value": None}
    by_brand = {b["key"]: b["m"]["value"] for b in result["brands"]["buckets"]}
    brands = {d["brand"] for d in ROWS}
    assert by_brand == {b: pytest.approx(mad([d["price"] for d in ROWS if d["brand"] == b])) for b in brands}
    filtered = await aggs(shop, {"m": {"median_absolute_deviation": {"field": "price"}}},
                          query={"range": {"price": {"gte": 1000}}})  # fmt: skip
    assert filtered["m"] == {"value": None}


async def test_median_absolute_deviation_needs_a_number(shop: httpx2.AsyncClient) -> None:
    refused = await query(
        shop, {"size": 0, "aggs": {"m": {"median_absolute_deviation": {"field": "brand"}}}}, status=400
    )
    assert "numeric" in str(refused)


async def test_top_metrics_sort_metrics_and_size(shop: httpx2.AsyncClient) -> None:
    spec = {"metrics": [{"field": "rating"}, {"field": "title"}, {"field": "ts"}], "sort": {"price": "desc"}, "size": 3}
    result = await aggs(shop, {"top": {"top_metrics": spec}})
    best = sorted(ROWS, key=lambda d: -d["price"])[:3]
    iso = lambda ts: ts.replace("Z", ".000Z")  # noqa: E731
    assert result["top"] == {"top": [
        {"sort": [d["price"]], "metrics": {"rating": d.get("rating"), "title": d["title"], "ts": iso(d["ts"])}}
        for d in best
    ]}  # fmt: skip
    cheapest = await aggs(shop, {"top": {"top_metrics": {"metrics": {"field": "price"}, "sort": [{"rating": "asc"}]}}})
    low = min((d for d in ROWS if "rating" in d), key=lambda d: d["rating"])
    assert cheapest["top"] == {"top": [{"sort": [low["rating"]], "metrics": {"price": low["price"]}}]}


async def test_top_metrics_per_bucket(shop: httpx2.AsyncClient) -> None:
    latest = {"top_metrics": {"metrics": {"field": "price"}, "sort": {"ts": {"order": "desc"}}}}
    result = await aggs(shop, {"brands": {"terms": {"field": "brand"}, "aggs": {"latest": latest}}})
    got = {b["key"]: b["latest"]["top"] for b in result["brands"]["buckets"]}
    want = {}
    for brand in {d["brand"] for d in ROWS}:
        last = max((d for d in ROWS if d["brand"] == brand), key=lambda d: d["ts"])
        want[brand] = [{"metrics": {"price": last["price"]}}]
    assert {k: [{"metrics": t["metrics"]} for t in v] for k, v in got.items()} == want
    assert all(isinstance(t["sort"][0], int) for v in got.values() for t in v)  # dates sort as epoch milliseconds


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"metrics": {"field": "price"}, "sort": {"price": "desc"}, "size": 11}, "size"),
        ({"metrics": {"field": "price"}, "sort": {"_score": "desc"}}, "no scores"),
        ({"metrics": {"field": "price"}}, "sort"),
        ({"sort": {"price": "desc"}}, "metrics"),
        ({"metrics": {"field": "tags"}, "sort": {"price": "desc"}}, "arrays"),
        ({"metrics": {"field": "price"}, "sort": {"price": "desc"}, "script": "x"}, "supported: metrics, sort, size"),
    ],
)
async def test_top_metrics_refusals(shop: httpx2.AsyncClient, spec: dict, named: str) -> None:
    refused = await query(shop, {"size": 0, "aggs": {"t": {"top_metrics": spec}}}, status=400)
    assert named in str(refused)
