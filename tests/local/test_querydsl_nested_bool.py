"""Boolean full-text logic nested at any depth (should of must/must_not, must_not of should, ...), through
the local endpoint's HTTP API. Expected ids are computed here in plain Python over the same documents."""

from __future__ import annotations

import httpx2
import pytest

from tests.local.test_querydsl import DOCS, ids, ingest, query
from tests.local.test_querydsl_clauses import where, words

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", DOCS)
    return endpoint


def has(word: str, field: str | None = None):
    return lambda d: word in words(d, field)


async def found(shop: httpx2.AsyncClient, clause: dict, **body: object) -> list[str]:
    return sorted(ids(await query(shop, {"query": clause, "size": 20, **body})))


def m(word: str, field: str = "title") -> dict:
    return {"match": {field: word}}


async def test_query_string_or_of_a_negated_group(shop: httpx2.AsyncClient) -> None:
    qs = {"query_string": {"query": "tea OR (red AND NOT letter)"}}
    expected = where(lambda d: "tea" in words(d) or ("red" in words(d) and "letter" not in words(d)))
    assert await found(shop, qs) == expected
    assert await found(shop, {"bool": {"filter": [qs]}}) == expected


async def test_should_of_must_and_must_not(shop: httpx2.AsyncClient) -> None:
    clause = {"bool": {"should": [
        m("tea"),
        {"bool": {"must": [m("red")], "must_not": [m("letter")]}},
        {"bool": {"must_not": [m("phone"), m("red"), m("tea")]}},
    ]}}  # fmt: skip
    expected = where(
        lambda d: (
            has("tea", "title")(d)
            or (has("red", "title")(d) and not has("letter", "title")(d))
            or not (has("phone", "title")(d) or has("red", "title")(d) or has("tea", "title")(d))
        )
    )
    assert await found(shop, clause) == expected
    result = await query(shop, {"query": clause, "size": 20})
    assert all(h["_score"] > 0 for h in result["hits"]["hits"])


async def test_must_not_of_should_and_deep_nesting(shop: httpx2.AsyncClient) -> None:
    clause = {"bool": {"must_not": [{"bool": {"should": [m("red"), {"bool": {"must_not": [m("phone")]}}]}}]}}
    expected = where(lambda d: not (has("red", "title")(d) or not has("phone", "title")(d)))
    assert await found(shop, clause) == expected
    deep = {"bool": {"should": [{"bool": {"must": [{"bool": {"should": [
        {"bool": {"must_not": [m("shoes")], "must": [m("red")]}}, m("green")]}}]}}, m("charger")]}}  # fmt: skip
    expected = where(
        lambda d: (
            (has("red", "title")(d) and not has("shoes", "title")(d))
            or has("green", "title")(d)
            or has("charger", "title")(d)
        )
    )
    assert await found(shop, deep) == expected
    counted = await query(shop, {"query": deep, "size": 0, "aggs": {"n": {"value_count": {"field": "price"}}}})
    assert counted["hits"]["total"]["value"] == len(expected)
    assert counted["aggregations"]["n"]["value"] == len(expected)


async def test_minimum_should_match_over_nested_negations(shop: httpx2.AsyncClient) -> None:
    parts = [m("red"), {"bool": {"must_not": [m("phone")]}}, {"bool": {"must_not": [m("shoes")]}}]
    clause = {"bool": {"should": parts, "minimum_should_match": 2}}
    tests = [has("red", "title"), lambda d: not has("phone", "title")(d), lambda d: not has("shoes", "title")(d)]
    assert await found(shop, clause) == where(lambda d: sum(bool(t(d)) for t in tests) >= 2)


async def test_filter_aggregations_with_nested_full_text(shop: httpx2.AsyncClient) -> None:
    negated = {"query_string": {"query": "tea OR (red AND NOT letter)"}}
    body = {
        "size": 0,
        "aggs": {
            "one": {"filter": negated},
            "many": {"filters": {"filters": {"neg": negated, "phone": m("phone")}, "other_bucket": True}},
        },
    }
    result = (await query(shop, body))["aggregations"]
    neg = where(lambda d: "tea" in words(d) or ("red" in words(d) and "letter" not in words(d)))
    phone = where(has("phone", "title"))
    assert result["one"]["doc_count"] == len(neg)
    buckets = result["many"]["buckets"]
    assert buckets["neg"]["doc_count"] == len(neg)
    assert buckets["phone"]["doc_count"] == len(phone)
    assert buckets["_other_"]["doc_count"] == len(set(where(lambda d: True)) - set(neg) - set(phone))
