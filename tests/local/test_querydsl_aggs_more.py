"""QueryDSL filter/filters/missing buckets, extended_stats, weighted_avg, percentiles, percentile_ranks and the
pipeline aggregations, through the local endpoint's HTTP API.

Expected answers are computed here in plain Python over the same rows (``statistics``, sorting and
counting), following the Elasticsearch documentation's definitions."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

import httpx2
import pytest

from tests.local.test_querydsl import ingest, query

pytestmark = pytest.mark.anyio

ROWS: list[dict[str, Any]] = [
    {"region": "north", "amount": 10.5, "qty": 1, "w": 2.0, "month": "2024-01-03T10:00:00Z", "note": "fast delivery"},
    {"region": "north", "amount": 20.0, "qty": 3, "w": 1.0, "month": "2024-01-20T10:00:00Z", "note": "slow"},
    {"region": "south", "amount": 7.25, "qty": 2, "w": 4.0, "month": "2024-02-11T10:00:00Z", "note": "fast"},
    {"region": "south", "amount": 30.0, "qty": 5, "month": "2024-02-12T10:00:00Z", "note": "damaged box"},
    {"region": "east", "amount": 12.0, "qty": 4, "w": 0.5, "month": "2024-04-01T10:00:00Z"},
    {"amount": 3.5, "qty": 1, "w": 1.5, "month": "2024-04-02T10:00:00Z", "note": "fast and cheap"},
    {"region": "north", "amount": 40.0, "qty": 2, "w": 3.0, "month": "2024-04-30T10:00:00Z", "note": "ok"},
]
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


@pytest.fixture
async def sales(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "sales", ROWS)
    return endpoint


async def aggs(endpoint: httpx2.AsyncClient, spec: dict, status: int = 200) -> Any:
    result = await query(endpoint, {"size": 0, "aggs": spec}, "sales", status)
    return result["aggregations"] if status == 200 else result


def linear_percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


AMOUNTS = [r["amount"] for r in ROWS]


async def test_filter_missing_and_filters(sales: httpx2.AsyncClient) -> None:
    spec = {
        "north": {"filter": {"term": {"region": "north"}}, "aggs": {"total": {"sum": {"field": "amount"}}}},
        "no_region": {"missing": {"field": "region"}},
        "no_such_field": {"missing": {"field": "colour"}},
        "kinds": {
            "filters": {
                "filters": {"fast": {"match": {"note": "fast"}}, "big": {"range": {"amount": {"gte": 20}}}},
                "other_bucket_key": "rest",
            },
            "aggs": {"q": {"sum": {"field": "qty"}}},
        },
        "listed": {"filters": {"filters": [{"term": {"region": "south"}}, {"exists": {"field": "w"}}]}},
    }
    result = await aggs(sales, spec)
    north = [r for r in ROWS if r.get("region") == "north"]
    assert result["north"] == {"doc_count": len(north), "total": {"value": sum(r["amount"] for r in north)}}
    assert result["no_region"] == {"doc_count": sum("region" not in r for r in ROWS)}
    assert result["no_such_field"] == {"doc_count": len(ROWS)}
    fast = [r for r in ROWS if "fast" in r.get("note", "").split()]
    big = [r for r in ROWS if r["amount"] >= 20]
    rest = [r for r in ROWS if r not in fast and r not in big]
    assert result["kinds"] == {
        "buckets": {
            "fast": {"doc_count": len(fast), "q": {"value": float(sum(r["qty"] for r in fast))}},
            "big": {"doc_count": len(big), "q": {"value": float(sum(r["qty"] for r in big))}},
            "rest": {"doc_count": len(rest), "q": {"value": float(sum(r["qty"] for r in rest))}},
        }
    }
    assert result["listed"] == {
        "buckets": [
            {"doc_count": sum(r.get("region") == "south" for r in ROWS)},
            {"doc_count": sum("w" in r for r in ROWS)},
        ]
    }
    unkeyed = await aggs(
        sales, {"k": {"filters": {"filters": {"big": {"range": {"amount": {"gte": 20}}}}, "keyed": False}}}
    )
    assert unkeyed["k"] == {"buckets": [{"key": "big", "doc_count": len(big)}]}


async def test_filters_nest_under_terms_and_hold_buckets(sales: httpx2.AsyncClient) -> None:
    spec = {"r": {"terms": {"field": "region"}, "aggs": {"cheap": {"filter": {"range": {"amount": {"lt": 15}}}}}}}
    result = await aggs(sales, spec)
    expected = defaultdict(lambda: [0, 0])
    for r in ROWS:
        if "region" in r:
            expected[r["region"]][0] += 1
            expected[r["region"]][1] += r["amount"] < 15
    got = {b["key"]: [b["doc_count"], b["cheap"]["doc_count"]] for b in result["r"]["buckets"]}
    assert got == dict(expected)


async def test_extended_stats_and_weighted_avg(sales: httpx2.AsyncClient) -> None:
    result = await aggs(sales, {"x": {"extended_stats": {"field": "amount", "sigma": 1.5}},
                                "wa": {"weighted_avg": {"value": {"field": "amount"}, "weight": {"field": "w"}}},
                                "wa_missing": {"weighted_avg": {"value": {"field": "amount"},
                                                                "weight": {"field": "w", "missing": 10}}}})  # fmt: skip
    x = result["x"]
    mean = statistics.fmean(AMOUNTS)
    pvar, svar = statistics.pvariance(AMOUNTS), statistics.variance(AMOUNTS)
    assert x["count"] == len(AMOUNTS) and x["min"] == min(AMOUNTS) and x["max"] == max(AMOUNTS)
    assert x["sum"] == pytest.approx(sum(AMOUNTS)) and x["avg"] == pytest.approx(mean)
    assert x["sum_of_squares"] == pytest.approx(sum(a * a for a in AMOUNTS))
    assert x["variance"] == pytest.approx(pvar) and x["variance_population"] == pytest.approx(pvar)
    assert x["variance_sampling"] == pytest.approx(svar)
    assert x["std_deviation"] == pytest.approx(math.sqrt(pvar))
    assert x["std_deviation_sampling"] == pytest.approx(math.sqrt(svar))
    assert x["std_deviation_bounds"]["upper"] == pytest.approx(mean + 1.5 * math.sqrt(pvar))
    assert x["std_deviation_bounds"]["lower_sampling"] == pytest.approx(mean - 1.5 * math.sqrt(svar))
    weighted = [(r["amount"], r["w"]) for r in ROWS if "w" in r]
    assert result["wa"]["value"] == pytest.approx(sum(a * w for a, w in weighted) / sum(w for _, w in weighted))
    all_weights = [(r["amount"], r.get("w", 10)) for r in ROWS]
    expected = sum(a * w for a, w in all_weights) / sum(w for _, w in all_weights)
    assert result["wa_missing"]["value"] == pytest.approx(expected)
    empty = await query(sales, {"size": 0, "query": {"term": {"region": "nowhere"}},
                                "aggs": {"x": {"extended_stats": {"field": "amount"}}}}, "sales")  # fmt: skip
    assert empty["aggregations"]["x"]["count"] == 0 and empty["aggregations"]["x"]["variance"] is None


async def test_percentiles_are_exact_and_ranks_count_values_at_or_below(sales: httpx2.AsyncClient) -> None:
    result = await aggs(sales, {"p": {"percentiles": {"field": "amount"}},
                                "q": {"percentiles": {"field": "amount", "percents": [10, 99.9], "keyed": False}},
                                "r": {"percentile_ranks": {"field": "amount", "values": [10.5, 25]}}})  # fmt: skip
    default = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
    assert result["p"]["values"].keys() == {repr(p) for p in default}
    for p in default:
        assert result["p"]["values"][repr(p)] == pytest.approx(linear_percentile(AMOUNTS, p))
    assert result["p"]["values"]["50.0"] == statistics.median(AMOUNTS)
    assert [v["key"] for v in result["q"]["values"]] == [10.0, 99.9]
    assert result["q"]["values"][1]["value"] == pytest.approx(linear_percentile(AMOUNTS, 99.9))
    ranks = result["r"]["values"]
    assert ranks["10.5"] == pytest.approx(100 * sum(a <= 10.5 for a in AMOUNTS) / len(AMOUNTS))
    assert ranks["25.0"] == pytest.approx(100 * sum(a <= 25 for a in AMOUNTS) / len(AMOUNTS))


def monthly_sums() -> list[float]:
    sums = dict.fromkeys(MONTHS, 0.0)
    for r in ROWS:
        sums[r["month"][:7]] += r["amount"]
    return [sums[m] for m in MONTHS]


def monthly_counts() -> list[int]:
    return [sum(r["month"].startswith(m) for r in ROWS) for m in MONTHS]


async def test_cumulative_sum_and_derivative_over_a_date_histogram(sales: httpx2.AsyncClient) -> None:
    spec = {
        "m": {
            "date_histogram": {"field": "month", "calendar_interval": "month"},
            "aggs": {
                "s": {"sum": {"field": "amount"}},
                "running": {"cumulative_sum": {"buckets_path": "s"}},
                "change": {"derivative": {"buckets_path": "s"}},
                "change0": {"derivative": {"buckets_path": "s", "gap_policy": "insert_zeros", "unit": "day"}},
                "docs_change": {"derivative": {"buckets_path": "_count"}},
            },
        }
    }
    buckets = (await aggs(sales, spec))["m"]["buckets"]
    sums, counts = monthly_sums(), monthly_counts()
    assert [b["doc_count"] for b in buckets] == counts  # March is an empty bucket
    running = [sum(sums[: i + 1]) for i in range(len(sums))]
    assert [b["running"]["value"] for b in buckets] == pytest.approx(running)
    assert "change" not in buckets[0] and "change0" not in buckets[0]
    # skip: an empty bucket is a gap, so the change into and out of March is unknown (null)
    assert buckets[1]["change"]["value"] == pytest.approx(sums[1] - sums[0])
    assert buckets[2]["change"]["value"] is None and buckets[3]["change"]["value"] is None
    # insert_zeros: March counts as 0; per-day rate over each bucket's length in days
    days = [31, 29, 31, 30]
    for i in (1, 2, 3):
        gradient = (sums[i] if counts[i] else 0) - (sums[i - 1] if counts[i - 1] else 0)
        assert buckets[i]["change0"]["value"] == pytest.approx(gradient)
        assert buckets[i]["change0"]["normalized_value"] == pytest.approx(gradient / days[i - 1])
    assert [b["docs_change"]["value"] for b in buckets[1:]] == [counts[1] - counts[0], None, None]


async def test_bucket_selector_and_bucket_sort(sales: httpx2.AsyncClient) -> None:
    spec = {
        "r": {
            "terms": {"field": "region"},
            "aggs": {
                "s": {"sum": {"field": "amount"}},
                "keep": {"bucket_selector": {"buckets_path": {"total": "s", "n": "_count"},
                                             "script": "params.total > 20 && params.n >= 1"}},
                "order": {"bucket_sort": {"sort": [{"s": {"order": "asc"}}], "size": 2}},
            },
        }
    }  # fmt: skip
    buckets = (await aggs(sales, spec))["r"]["buckets"]
    totals = defaultdict(float)
    for r in ROWS:
        if "region" in r:
            totals[r["region"]] += r["amount"]
    expected = sorted((k for k, v in totals.items() if v > 20), key=lambda k: totals[k])[:2]
    assert [b["key"] for b in buckets] == expected
    assert [b["s"]["value"] for b in buckets] == [totals[k] for k in expected]
    paged = {"r": {"terms": {"field": "region"}, "aggs": {"p": {"bucket_sort": {"from": 1, "size": 1}}}}}
    plain = (await aggs(sales, {"r": {"terms": {"field": "region"}}}))["r"]["buckets"]
    assert (await aggs(sales, paged))["r"]["buckets"] == plain[1:2]


async def test_sibling_bucket_pipelines(sales: httpx2.AsyncClient) -> None:
    spec = {
        "m": {"date_histogram": {"field": "month", "calendar_interval": "month"},
              "aggs": {"s": {"sum": {"field": "amount"}}}},
        "avg_m": {"avg_bucket": {"buckets_path": "m>s"}},
        "sum_m": {"sum_bucket": {"buckets_path": "m>s"}},
        "max_m": {"max_bucket": {"buckets_path": "m>s"}},
        "min_m": {"min_bucket": {"buckets_path": "m>_count"}},
        "min_m0": {"min_bucket": {"buckets_path": "m>s", "gap_policy": "insert_zeros"}},
    }  # fmt: skip
    result = await aggs(sales, spec)
    sums, counts = monthly_sums(), monthly_counts()
    present = [s for s, c in zip(sums, counts) if c]  # skip leaves the empty month out
    assert result["avg_m"] == {"value": pytest.approx(statistics.fmean(present))}
    assert result["sum_m"] == {"value": pytest.approx(sum(present))}
    best = max(present)
    assert result["max_m"] == {"value": best, "keys": [f"{MONTHS[sums.index(best)]}-01T00:00:00.000Z"]}
    fewest = min(c for c in counts if c)
    assert result["min_m"] == {
        "value": fewest,
        "keys": [f"{m}-01T00:00:00.000Z" for m, c in zip(MONTHS, counts) if c == fewest],
    }
    assert result["min_m0"] == {"value": 0.0, "keys": ["2024-03-01T00:00:00.000Z"]}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"x": {"cumulative_sum": {"buckets_path": "s"}}}, "parent pipeline"),
        ({"t": {"terms": {"field": "region"}, "aggs": {"c": {"derivative": {"buckets_path": "_count"}}}}}, "histogram"),
        ({"t": {"terms": {"field": "region"}, "aggs": {"k": {"bucket_selector": {"buckets_path": {"a": "_count"},
                                                                                  "script": "Math.max(1)"}}}}}, "script"),
        ({"t": {"terms": {"field": "region"}, "aggs": {"k": {"bucket_selector": {"buckets_path": {"a": "_count"},
                                                                                  "script": "params.b > 1"}}}}}, "params.b"),
        ({"a": {"avg_bucket": {"buckets_path": "nope>s"}}}, "sibling multi-bucket"),
        ({"t": {"terms": {"field": "region"}}, "a": {"max_bucket": {"buckets_path": "t>nope"}}}, "names no aggregation"),
        ({"f": {"filters": {"filters": {"a": {"nope": {}}}}}}, "'nope'"),
        ({"p": {"percentiles": {"field": "amount", "percents": [120]}}}, "between 0 and 100"),
    ],
)  # fmt: skip
async def test_refusals(sales: httpx2.AsyncClient, spec: dict, named: str) -> None:
    result = await aggs(sales, spec, status=400)
    assert named in str(result)


async def test_terms_ordered_by_a_filter_sub_aggregation_count(sales: httpx2.AsyncClient) -> None:
    spec = {"r": {"terms": {"field": "region", "order": {"big.doc_count": "desc"}},
                  "aggs": {"big": {"filter": {"range": {"amount": {"gte": 20}}}}}}}  # fmt: skip
    buckets = (await aggs(sales, spec))["r"]["buckets"]
    counts = defaultdict(lambda: [0, 0])
    for r in ROWS:
        if "region" in r:
            counts[r["region"]][0] += 1
            counts[r["region"]][1] += r["amount"] >= 20
    expected = sorted(counts, key=lambda k: -counts[k][1])
    assert len({counts[k][1] for k in counts}) == len(counts)  # no ties: the order is the filter counts' alone
    assert [b["key"] for b in buckets] == expected
    assert [b["big"]["doc_count"] for b in buckets] == [counts[k][1] for k in expected]


async def test_range_buckets_come_ordered_by_their_bounds(sales: httpx2.AsyncClient) -> None:
    ranges = [{"from": 20, "key": "high"}, {"to": 10, "key": "low"}, {"from": 10, "to": 20, "key": "mid"}]
    buckets = (await aggs(sales, {"r": {"range": {"field": "amount", "ranges": ranges}}}))["r"]["buckets"]
    assert [b["key"] for b in buckets] == ["low", "mid", "high"]  # as Elasticsearch orders them
    assert [b["doc_count"] for b in buckets] == [
        sum(a < 10 for a in AMOUNTS), sum(10 <= a < 20 for a in AMOUNTS), sum(a >= 20 for a in AMOUNTS)]  # fmt: skip


async def test_top_hits_per_bucket(sales: httpx2.AsyncClient) -> None:
    spec = {
        "best": {"top_hits": {"size": 2, "sort": [{"amount": "desc"}], "_source": ["amount", "region"]}},
        "r": {"terms": {"field": "region"}, "aggs": {"cheapest": {"top_hits": {"size": 1, "sort": {"amount": "asc"}}}}},
        "first": {"top_hits": {"size": 2}},
    }
    result = await aggs(sales, spec)
    by_amount = sorted(range(len(ROWS)), key=lambda i: -ROWS[i]["amount"])[:2]
    best = result["best"]["hits"]
    assert best["total"] == {"value": len(ROWS), "relation": "eq"} and best["max_score"] is None
    assert [h["_id"] for h in best["hits"]] == [str(i + 1) for i in by_amount]
    assert [h["_source"] for h in best["hits"]] == [
        {k: ROWS[i][k] for k in ("amount", "region") if k in ROWS[i]} for i in by_amount]  # fmt: skip
    assert [h["sort"] for h in best["hits"]] == [[ROWS[i]["amount"]] for i in by_amount]
    for bucket in result["r"]["buckets"]:
        members = [i for i, r in enumerate(ROWS) if r.get("region") == bucket["key"]]
        cheapest = min(members, key=lambda i: ROWS[i]["amount"])
        (hit,) = bucket["cheapest"]["hits"]["hits"]
        assert hit["_id"] == str(cheapest + 1) and hit["_source"] == ROWS[cheapest]
        assert bucket["cheapest"]["hits"]["total"]["value"] == bucket["doc_count"] == len(members)
    # no sort: every document scores 1.0 under match_all, so ties keep index order
    assert [(h["_id"], h["_score"]) for h in result["first"]["hits"]["hits"]] == [("1", 1.0), ("2", 1.0)]
    scored = await query(sales, {"size": 0, "query": {"match": {"note": "fast"}},
                                 "aggs": {"t": {"top_hits": {}}}}, "sales", 400)  # fmt: skip
    assert "sort" in str(scored)


async def test_composite_pages_through_every_combination(sales: httpx2.AsyncClient) -> None:
    sources = [
        {"region": {"terms": {"field": "region"}}},
        {"m": {"date_histogram": {"field": "month", "calendar_interval": "month"}}},
    ]
    combos: dict[tuple, list[float]] = defaultdict(list)
    for r in ROWS:
        if "region" in r:
            month = datetime.fromisoformat(r["month"].replace("Z", "+00:00")).replace(day=1, hour=0, minute=0)
            combos[(r["region"], round(month.timestamp() * 1000))].append(r["amount"])
    expected = sorted(combos)
    pages, after = [], None
    while True:
        spec = {"c": {"composite": {"sources": sources, "size": 2, **({"after": after} if after else {})},
                      "aggs": {"s": {"sum": {"field": "amount"}}}}}  # fmt: skip
        page = (await aggs(sales, spec))["c"]
        if not page["buckets"]:
            assert "after_key" not in page
            break
        assert page["after_key"] == page["buckets"][-1]["key"]
        pages.append(page["buckets"])
        after = page["after_key"]
    got = [b for page in pages for b in page]
    assert [(b["key"]["region"], b["key"]["m"]) for b in got] == expected
    assert [b["doc_count"] for b in got] == [len(combos[k]) for k in expected]
    assert [b["s"]["value"] for b in got] == [sum(combos[k]) for k in expected]
    assert all(len(page) <= 2 for page in pages)
    descending = {"c": {"composite": {"sources": [{"q": {"terms": {"field": "qty", "order": "desc"}}}], "size": 100}}}
    qty = (await aggs(sales, descending))["c"]["buckets"]
    assert [b["key"]["q"] for b in qty] == sorted({r["qty"] for r in ROWS}, reverse=True)


async def test_composite_refusals(sales: httpx2.AsyncClient) -> None:
    terms = {"r": {"terms": {"field": "region"}}}
    cases = [
        (
            {"c": {"composite": {"sources": [{"r": {"terms": {"field": "region", "missing_bucket": True}}}]}}},
            "missing_bucket",
        ),
        ({"t": {"terms": {"field": "region"}, "aggs": {"c": {"composite": {"sources": [terms]}}}}}, "top-level"),
        ({"c": {"composite": {"sources": [terms], "after": {"x": 1}}}}, "after"),
        ({"c": {"composite": {"sources": [terms]}, "aggs": {"t": {"terms": {"field": "qty"}}}}}, "metric"),
    ]
    for spec, named in cases:
        assert named in str(await aggs(sales, spec, status=400))
