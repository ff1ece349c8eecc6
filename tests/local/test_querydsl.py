"""QueryDSL searches through the local endpoint's HTTP API (signed, in-process).

Documents go in with ``POST /{ds}/json`` (NDJSON bulk) and come back from
``GET /{ds}/querydsl`` in Elasticsearch's response shape.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

pytestmark = pytest.mark.anyio

DOCS: list[dict[str, Any]] = [
    {"title": "Red phone case", "brand": "Acme", "price": 10, "rating": 4.5, "in_stock": True,
     "ts": "2024-01-05T10:00:00Z", "user": {"name": "alice", "city": "Rome"}, "tags": ["red", "case"]},
    {"title": "Blue phone charger", "brand": "Acme", "price": 25, "rating": 3.9, "in_stock": False,
     "ts": "2024-01-20T11:00:00Z", "user": {"name": "bob", "city": "Paris"}, "tags": ["blue"]},
    {"title": "Red running shoes", "brand": "Zoom", "price": 80, "rating": 4.8, "in_stock": True,
     "ts": "2024-02-03T09:30:00Z", "user": {"name": "carol"}, "tags": ["red", "shoes"]},
    {"title": "Green tea", "brand": "Leaf", "price": 5, "rating": 4.1, "in_stock": True,
     "ts": "2024-03-15T00:00:00Z", "user": {"name": "dave", "city": "Rome"}},
    {"title": "It's a red-letter day", "brand": "O'Brien", "price": 15, "ts": "2024-03-16T00:00:00Z",
     "code": "50%_off\\now"},
]  # fmt: skip


async def ingest(endpoint: httpx2.AsyncClient, dataset: str, docs: list[dict], first_id: int = 1) -> None:
    lines = "".join(
        json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps(doc) + "\n" for i, doc in enumerate(docs, first_id)
    )
    response = await endpoint.post(f"/{dataset}/json", content=lines, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    assert response.json()["errors"] is False, response.text


async def query(endpoint: httpx2.AsyncClient, body: Any, dataset: str = "shop", status: int = 200) -> dict:
    response = await endpoint.request("GET", f"/{dataset}/querydsl", json=body)
    assert response.status_code == status, response.text
    return response.json()


def ids(result: dict) -> list[str]:
    return [hit["_id"] for hit in result["hits"]["hits"]]


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", DOCS)
    return endpoint


async def test_response_shape_and_scored_match(shop: httpx2.AsyncClient) -> None:
    result = await query(shop, {"query": {"match": {"title": "red phone"}}})
    assert set(result) == {"took", "timed_out", "_shards", "hits"}
    assert result["timed_out"] is False
    assert result["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert result["hits"]["total"] == {"value": 4, "relation": "eq"}
    hits = result["hits"]["hits"]
    assert ids(result)[0] == "1"  # the only document with both words ranks first
    assert set(ids(result)) == {"1", "2", "3", "5"}
    assert hits[0]["_index"] == "shop"
    assert hits[0]["_source"] == DOCS[0]
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert result["hits"]["max_score"] == scores[0] > 0


async def test_match_operator_and_minimum_should_match(shop: httpx2.AsyncClient) -> None:
    both = await query(shop, {"query": {"match": {"title": {"query": "red phone", "operator": "and"}}}})
    assert ids(both) == ["1"]
    two_of_three = {"match": {"title": {"query": "red phone shoes", "minimum_should_match": 2}}}
    assert sorted(ids(await query(shop, {"query": two_of_three}))) == ["1", "3"]
    assert ids(await query(shop, {"query": {"match": {"title": "!!! ..."}}})) == []
    everything = {"match": {"title": {"query": "!!!", "zero_terms_query": "all"}}}
    assert len(ids(await query(shop, {"query": everything}))) == 5


async def test_match_phrase_needs_adjacent_words(shop: httpx2.AsyncClient) -> None:
    assert ids(await query(shop, {"query": {"match_phrase": {"title": "red letter"}}})) == ["5"]
    assert ids(await query(shop, {"query": {"match_phrase": {"title": "phone red"}}})) == []
    assert ids(await query(shop, {"query": {"match_phrase": {"title": {"query": "running shoes"}}}})) == ["3"]


async def test_multi_match_fields_and_boosts(shop: httpx2.AsyncClient) -> None:
    result = await query(shop, {"query": {"multi_match": {"query": "acme tea", "fields": ["title", "brand^3"]}}})
    assert sorted(ids(result)) == ["1", "2", "4"]
    most = await query(shop, {"query": {"multi_match": {"query": "red", "fields": ["title", "tags"],
                                                         "type": "most_fields"}}})  # fmt: skip
    assert set(ids(most)) == {"1", "3", "5"}
    phrase = await query(shop, {"query": {"multi_match": {"query": "phone case", "type": "phrase", "fields": ["t*"]}}})
    assert ids(phrase) == ["1"]


async def test_term_and_terms_are_exact(shop: httpx2.AsyncClient) -> None:
    assert sorted(ids(await query(shop, {"query": {"term": {"brand": "Acme"}}}))) == ["1", "2"]
    assert ids(await query(shop, {"query": {"term": {"brand": "acme"}}})) == []
    insensitive = {"term": {"brand": {"value": "acme", "case_insensitive": True}}}
    assert sorted(ids(await query(shop, {"query": insensitive}))) == ["1", "2"]
    assert ids(await query(shop, {"query": {"term": {"brand.keyword": "Zoom"}}})) == ["3"]
    assert ids(await query(shop, {"query": {"term": {"price": 25}}})) == ["2"]
    assert ids(await query(shop, {"query": {"term": {"price": "80"}}})) == ["3"]
    assert ids(await query(shop, {"query": {"term": {"in_stock": False}}})) == ["2"]
    assert ids(await query(shop, {"query": {"term": {"no_such_field": "x"}}})) == []
    terms = await query(shop, {"query": {"terms": {"brand": ["Leaf", "O'Brien", "nope"]}}})
    assert sorted(ids(terms)) == ["4", "5"]
    assert sorted(ids(await query(shop, {"query": {"terms": {"tags": ["shoes", "blue"]}}}))) == ["2", "3"]
    assert ids(await query(shop, {"query": {"terms": {"brand": []}}})) == []


async def test_range_numbers_dates_and_date_math(shop: httpx2.AsyncClient) -> None:
    assert sorted(ids(await query(shop, {"query": {"range": {"price": {"gte": 10, "lt": 25}}}}))) == ["1", "5"]
    assert sorted(ids(await query(shop, {"query": {"range": {"rating": {"gt": 4.5}}}}))) == ["3"]
    january = {"range": {"ts": {"gte": "2024-01-01", "lt": "2024-02-01"}}}
    assert sorted(ids(await query(shop, {"query": january}))) == ["1", "2"]
    rounded = {"range": {"ts": {"gte": "2024-03-15||/d", "lte": "2024-03-15||/d"}}}
    assert ids(await query(shop, {"query": rounded})) == ["4"]
    assert len(ids(await query(shop, {"query": {"range": {"ts": {"lte": "now"}}}}))) == 5
    epoch = {"range": {"ts": {"gte": 1710460800000, "format": "epoch_millis"}}}
    assert sorted(ids(await query(shop, {"query": epoch}))) == ["4", "5"]
    assert ids(await query(shop, {"query": {"range": {"missing": {"gte": 1}}}})) == []


async def test_exists_ids_prefix_wildcard(shop: httpx2.AsyncClient) -> None:
    assert sorted(ids(await query(shop, {"query": {"exists": {"field": "user.city"}}}))) == ["1", "2", "4"]
    assert sorted(ids(await query(shop, {"query": {"exists": {"field": "user"}}}))) == ["1", "2", "3", "4"]
    assert ids(await query(shop, {"query": {"exists": {"field": "nothing"}}})) == []
    assert sorted(ids(await query(shop, {"query": {"ids": {"values": ["5", "2", "99"]}}}))) == ["2", "5"]
    assert ids(await query(shop, {"query": {"prefix": {"user.name": "ca"}}})) == ["3"]
    assert ids(await query(shop, {"query": {"prefix": {"title": {"value": "green", "case_insensitive": True}}}})) == [
        "4"
    ]
    assert sorted(ids(await query(shop, {"query": {"wildcard": {"title": "*phone*"}}}))) == ["1", "2"]
    assert ids(await query(shop, {"query": {"wildcard": {"brand": "?cm?"}}})) != []


async def test_like_metacharacters_are_literal(shop: httpx2.AsyncClient) -> None:
    assert ids(await query(shop, {"query": {"prefix": {"code": "50%_"}}})) == ["5"]
    assert ids(await query(shop, {"query": {"prefix": {"code": "5_%"}}})) == []
    assert ids(await query(shop, {"query": {"wildcard": {"code.keyword": "*\\now"}}})) == ["5"]
    assert ids(await query(shop, {"query": {"wildcard": {"code": "50_*"}}})) == []


async def test_bool_clauses(shop: httpx2.AsyncClient) -> None:
    body = {
        "query": {
            "bool": {
                "must": [{"match": {"title": "red"}}],
                "filter": [{"range": {"price": {"gte": 10}}}],
                "must_not": [{"term": {"brand": "Zoom"}}],
            }
        }
    }
    assert sorted(ids(await query(shop, body))) == ["1", "5"]
    should = {"bool": {"should": [{"term": {"brand": "Acme"}}, {"term": {"in_stock": True}},
                                  {"range": {"price": {"lt": 20}}}], "minimum_should_match": 2}}  # fmt: skip
    assert sorted(ids(await query(shop, {"query": should}))) == ["1", "4"]
    # must_not keeps documents that lack the field (user.city is missing on 3 and 5)
    not_rome = {"bool": {"must_not": {"term": {"user.city": "Rome"}}}}
    assert sorted(ids(await query(shop, {"query": not_rome}))) == ["2", "3", "5"]
    # should is optional next to must, and ranks the documents that match it higher
    ranked = {"bool": {"must": {"match": {"title": "red"}}, "should": {"match": {"title": "shoes"}}}}
    assert ids(await query(shop, {"query": ranked}))[0] == "3"
    filtered = await query(shop, {"query": {"bool": {"filter": {"term": {"brand": "Acme"}}}}})
    assert {h["_score"] for h in filtered["hits"]["hits"]} == {0.0}
    nested = {"bool": {"should": [{"bool": {"must": [{"term": {"brand": "Acme"}}, {"term": {"price": 25}}]}},
                                  {"ids": {"values": ["4"]}}]}}  # fmt: skip
    assert sorted(ids(await query(shop, {"query": nested}))) == ["2", "4"]


async def test_match_all_paging_and_sorting(shop: httpx2.AsyncClient) -> None:
    everything = await query(shop, {"query": {"match_all": {}}, "size": 2, "sort": [{"price": "desc"}]})
    assert ids(everything) == ["3", "2"]
    assert [h["sort"] for h in everything["hits"]["hits"]] == [[80], [25]]
    assert everything["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert everything["hits"]["max_score"] is None
    second = await query(shop, {"from": 2, "size": 2, "sort": [{"price": {"order": "desc"}}]})
    assert ids(second) == ["5", "1"]
    by_rating = await query(shop, {"sort": [{"rating": {"order": "asc", "missing": "_first"}}, "_doc"]})
    assert ids(by_rating) == ["5", "2", "4", "1", "3"]
    by_date = await query(shop, {"sort": ["ts"], "size": 1})
    assert by_date["hits"]["hits"][0]["sort"][0] == 1704448800000
    scored = await query(shop, {"query": {"match": {"title": "red"}}, "sort": ["_score", {"price": "asc"}]})
    assert len(ids(scored)) == 3
    assert (await query(shop, {}))["hits"]["total"]["value"] == 5
    assert [h["_score"] for h in (await query(shop, {}))["hits"]["hits"]] == [1.0] * 5


async def test_source_filtering(shop: httpx2.AsyncClient) -> None:
    only = await query(shop, {"query": {"ids": {"values": ["1"]}}, "_source": ["title", "user.name"]})
    assert only["hits"]["hits"][0]["_source"] == {"title": "Red phone case", "user": {"name": "alice"}}
    pattern = await query(shop, {"query": {"ids": {"values": ["1"]}}, "_source": "user.*"})
    assert pattern["hits"]["hits"][0]["_source"] == {"user": {"name": "alice", "city": "Rome"}}
    excluded = await query(
        shop, {"query": {"ids": {"values": ["1"]}}, "_source": {"includes": ["*"], "excludes": ["user", "tags", "t*"]}}
    )
    assert set(excluded["hits"]["hits"][0]["_source"]) == {"brand", "price", "rating", "in_stock"}
    none = await query(shop, {"query": {"ids": {"values": ["1"]}}, "_source": False})
    assert "_source" not in none["hits"]["hits"][0]


async def test_track_total_hits(shop: httpx2.AsyncClient) -> None:
    assert (await query(shop, {"aggs": {}}))["aggregations"] == {}
    assert "total" not in (await query(shop, {"track_total_hits": False}))["hits"]
    assert (await query(shop, {"track_total_hits": 3}))["hits"]["total"] == {"value": 3, "relation": "gte"}
    assert (await query(shop, {"track_total_hits": True, "size": 0}))["hits"]["total"] == {"value": 5, "relation": "eq"}


async def test_quotes_and_backslashes_cannot_break_out(shop: httpx2.AsyncClient) -> None:
    for value in ["' OR 1=1 --", "O'Brien' OR 'a'='a", "\\' OR TRUE --", '") OR TRUE --', "x'); select 1; --"]:
        for clause in ("term", "prefix", "wildcard"):
            assert ids(await query(shop, {"query": {clause: {"brand": value}}})) == [], (clause, value)
        for clause in ("match", "match_phrase"):  # full-text: only the words count, never the operators
            assert ids(await query(shop, {"query": {clause: {"brand": value}}})) in ([], ["5"]), (clause, value)
    weird_field = {"term": {'brand" = brand OR "a': "x"}}
    assert ids(await query(shop, {"query": weird_field})) == []
    assert ids(await query(shop, {"query": {"term": {"brand": "O'Brien"}}})) == ["5"]
    assert ids(await query(shop, {"query": {"term": {"code": "50%_off\\now"}}})) == ["5"]


async def test_filtered_relevance_search_is_not_cut_by_k(endpoint: httpx2.AsyncClient) -> None:
    docs = [{"body": "red " * (1 + i % 5) + "item", "n": i} for i in range(60)]
    await ingest(endpoint, "many", docs)
    result = await query(
        endpoint,
        {"query": {"bool": {"must": {"match": {"body": "red"}}, "filter": {"range": {"n": {"gte": 55}}}}}, "size": 2},
        dataset="many",
    )
    assert result["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert len(result["hits"]["hits"]) == 2
    assert all(h["_source"]["n"] >= 55 for h in result["hits"]["hits"])
    page = await query(endpoint, {"query": {"match": {"body": "red"}}, "from": 50, "size": 20}, dataset="many")
    assert len(page["hits"]["hits"]) == 10
    assert page["hits"]["total"]["value"] == 60


async def test_post_and_empty_body(shop: httpx2.AsyncClient) -> None:
    response = await shop.post("/shop/querydsl", json={"query": {"term": {"brand": "Leaf"}}})
    assert response.status_code == 200
    assert ids(response.json()) == ["4"]
    empty = await shop.request("GET", "/shop/querydsl")
    assert empty.status_code == 200
    assert empty.json()["hits"]["total"]["value"] == 5


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"query": {"span_term": {"title": "phone"}}}, "'span_term'"),
        ({"query": {"bool": {"must": {"more_like_this": {"like": "x"}}}}}, "'more_like_this'"),
        ({"aggs": {"p": {"geo_bounds": {"field": "price"}}}}, "'geo_bounds'"),
        ({"highlight": {"fields": {"title": {}}}}, "'highlight'"),
        ({"query": {"match": {"title": {"query": "x", "fuzziness": "3"}}}}, "fuzziness"),
        ({"query": {"term": {"price": "cheap"}}}, "not a number"),
        ({"query": {"match": {"title": "a"}, "term": {"brand": "b"}}}, "exactly one clause"),
        ({"from": 9995, "size": 10}, "at most 10000"),
        ({"sort": ["nope"]}, "No field 'nope'"),
        ({"size": -1}, "non-negative"),
        ({"query": {"range": {"ts": {"gte": "yesterday"}}}}, "not a date"),
        ({"query": {"range": {"ts": {"gte": 1e300}}}}, "out of range"),
        ({"track_total_hits": "lots"}, "track_total_hits"),
        ({"min_score": "high"}, "min_score"),
        ({"query": {"multi_match": {"query": "x", "fields": ["title^big"]}}}, "boost"),
        ({"query": {"match": {"title": {"query": "x", "boost": "big"}}}}, "boost"),
    ],
)
async def test_unsupported_and_invalid_requests_are_400(shop: httpx2.AsyncClient, body: dict, named: str) -> None:
    result = await query(shop, body, status=400)
    assert named in result["error"]["reason"]
    assert result["status"] == 400


async def test_unsupported_clause_lists_what_is_supported(shop: httpx2.AsyncClient) -> None:
    reason = (await query(shop, {"query": {"span_term": {"title": "x"}}}, status=400))["error"]["reason"]
    assert reason.startswith("QueryDSL clause 'span_term' is not supported by the local endpoint; supported: ")
    assert "match_phrase" in reason and "wildcard" in reason


async def test_missing_dataset_and_bad_json(endpoint: httpx2.AsyncClient) -> None:
    assert "get_datasets" in (await query(endpoint, {}, dataset="nope", status=404))["error"]["reason"]
    response = await endpoint.request("GET", "/nope/querydsl", content=b"{not json")
    assert response.status_code == 400


async def test_delete_by_query_uses_the_same_clauses(shop: httpx2.AsyncClient) -> None:
    red_but_not_zoom = {"bool": {"must": [{"match": {"title": "red"}}], "must_not": [{"term": {"brand": "Zoom"}}]}}
    response = await shop.patch("/shop", json={"query": red_but_not_zoom})
    assert response.status_code == 200, response.text
    assert response.json() == 2
    assert sorted(ids(await query(shop, {}))) == ["2", "3", "4"]
    response = await shop.patch("/shop", json={"query": {"range": {"ts": {"lt": "2024-02-01"}}}})
    assert response.json() == 1
    assert sorted(ids(await query(shop, {}))) == ["3", "4"]


async def test_document_ids_of_every_shape_come_back(endpoint: httpx2.AsyncClient) -> None:
    names = ["abc", "ABC", "doc-1", "doc-2", "a b", "x'y", "über", "!!!", "42"]
    lines = "".join(
        json.dumps({"index": {"_id": name}}) + "\n" + json.dumps({"n": i, "body": "common words"}) + "\n"
        for i, name in enumerate(names)
    )
    response = await endpoint.post("/odd/json", content=lines, headers={"content-type": "application/x-ndjson"})
    assert response.json()["errors"] is False
    result = await query(endpoint, {"query": {"term": {"body": "common words"}}, "size": 20, "sort": ["n"]}, "odd")
    assert ids(result) == names
    assert [h["_source"]["n"] for h in result["hits"]["hits"]] == list(range(len(names)))
    either = {"bool": {"should": [{"match": {"body": "common"}}, {"match": {"body": "nothing"}}]}}
    scored = await query(endpoint, {"query": either, "size": 20}, "odd")
    assert sorted(ids(scored)) == sorted(names)
    assert all(h["_source"]["body"] == "common words" for h in scored["hits"]["hits"])


async def test_min_score_post_filter_and_track_scores(shop: httpx2.AsyncClient) -> None:
    ranked = await query(shop, {"query": {"match": {"title": "red phone"}}})
    best = ranked["hits"]["max_score"]
    strict = await query(shop, {"query": {"match": {"title": "red phone"}}, "min_score": best})
    assert ids(strict) == ["1"]
    assert strict["hits"]["total"]["value"] == 1
    body = {"query": {"match": {"title": "red"}}, "post_filter": {"term": {"brand": "Zoom"}},
            "aggs": {"b": {"terms": {"field": "brand"}}}}  # fmt: skip
    filtered = await query(shop, body)
    assert ids(filtered) == ["3"]
    assert filtered["hits"]["total"]["value"] == 1
    assert len(filtered["aggregations"]["b"]["buckets"]) == 3  # aggregations ignore post_filter
    tracked = await query(shop, {"query": {"match": {"title": "red"}}, "sort": ["price"], "track_scores": True})
    assert all(h["_score"] > 0 for h in tracked["hits"]["hits"])
    assert [h["sort"] for h in tracked["hits"]["hits"]] == [[10], [15], [80]]


async def test_should_of_matches_with_filters_and_exclusions(shop: httpx2.AsyncClient) -> None:
    body = {"bool": {"should": [{"match": {"title": "phone"}}, {"match": {"brand": "leaf"}}],
                     "must_not": [{"match": {"title": "charger"}}]}}  # fmt: skip
    assert sorted(ids(await query(shop, {"query": body}))) == ["1", "4"]
    body["bool"]["filter"] = [{"range": {"price": {"lte": 5}}}]
    assert ids(await query(shop, {"query": body})) == ["4"]
    counted = await query(shop, {"query": {"multi_match": {"query": "red acme"}}, "size": 1})
    assert counted["hits"]["total"]["value"] == 4
    assert len(counted["hits"]["hits"]) == 1
