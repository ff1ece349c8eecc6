"""QueryDSL under RBAC: record:read is required, field rules shape hits and hide fields from queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from tests.local.test_querydsl import DOCS, ids, ingest, query

pytestmark = pytest.mark.anyio

ROLE = {
    "Version": "2025-01-01",
    "Permissions": [
        {
            "Effect": "Allow",
            "ResourceType": "record",
            "Actions": ["read"],
            "Resources": ["shop"],
            "Fields": {"Deny": ["price"], "Mask": {"user.name": "redact"}},
        }
    ],
}


@pytest.fixture
async def reader(
    endpoint: httpx2.AsyncClient, endpoint_as: Callable[[str, str], httpx2.AsyncClient]
) -> AsyncIterator[httpx2.AsyncClient]:
    await ingest(endpoint, "shop", DOCS)
    await ingest(endpoint, "secret", DOCS[:1])
    assert (await endpoint.put("/role/shop-reader", json=ROLE)).status_code == 200
    user = {"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": ["shop-reader"]}
    created = await endpoint.put("/user/ann", json=user)
    assert created.status_code == 200, created.text
    keys = created.json()
    yield endpoint_as(keys["access_key"], keys["secret_key"])


async def test_field_rules_apply_to_hits(reader: httpx2.AsyncClient) -> None:
    result = await query(reader, {"query": {"ids": {"values": ["1"]}}})
    source = result["hits"]["hits"][0]["_source"]
    assert "price" not in source
    assert source["user"] == {"name": "****", "city": "Rome"}
    assert source["title"] == "Red phone case"


@pytest.mark.parametrize(
    ("body", "wording"),
    [
        ({"query": {"range": {"price": {"gte": 0}}}}, "'price' is hidden from user 'ann' (Deny rule)"),
        ({"query": {"term": {"user.name": "alice"}}}, "'user.name' is masked for user 'ann' (Mask rule: redact)"),
        ({"query": {"exists": {"field": "price"}}}, "'price' is hidden"),
        ({"sort": ["price"]}, "'price' is hidden"),
        ({"size": 0, "aggs": {"p": {"max": {"field": "price"}}}}, "'price' is hidden"),
        ({"size": 0, "aggs": {"p": {"median_absolute_deviation": {"field": "price"}}}}, "'price' is hidden"),
        (
            {"query": {"terms_set": {"title": {"terms": ["x"], "minimum_should_match_field": "price"}}}},
            "'price' is hidden",
        ),
        (
            {"query": {"terms_set": {"user.name": {"terms": ["alice"], "minimum_should_match": 1}}}},
            "'user.name' is masked",
        ),
        (
            {"size": 0, "aggs": {"p": {"top_metrics": {"metrics": {"field": "user.name"}, "sort": "ts"}}}},
            "'user.name' is masked",
        ),
        (
            {"size": 0, "aggs": {"p": {"top_metrics": {"metrics": [{"field": "title"}], "sort": {"price": "desc"}}}}},
            "'price' is hidden",
        ),
    ],
)
async def test_hidden_and_masked_fields_are_refused_with_the_sql_wording(
    reader: httpx2.AsyncClient, body: dict, wording: str
) -> None:
    refused = await query(reader, body, status=403)
    assert wording in refused["error"]["reason"]


async def test_readable_fields_still_query(reader: httpx2.AsyncClient) -> None:
    assert sorted(ids(await query(reader, {"query": {"term": {"brand": "Acme"}}}))) == ["1", "2"]


async def test_reading_needs_record_read(reader: httpx2.AsyncClient) -> None:
    denied = await query(reader, {}, dataset="secret", status=403)
    assert "Permission denied" in denied["error"]["reason"]


async def test_field_rules_apply_to_top_hits_and_filter_buckets(reader: httpx2.AsyncClient) -> None:
    spec = {"t": {"top_hits": {"size": 1, "sort": [{"_id": "asc"}]}}}
    result = (await query(reader, {"size": 0, "aggs": spec}))["aggregations"]
    source = result["t"]["hits"]["hits"][0]["_source"]
    assert "price" not in source and source["user"] == {"name": "****", "city": "Rome"}
    # a filter bucket's query goes through the same field rules as the search's own query
    hidden = {"size": 0, "aggs": {"p": {"filter": {"range": {"price": {"gte": 0}}}}}}
    assert "price" in str(await query(reader, hidden, status=403))
