"""Arbitrary text in QueryDSL values never breaks out of its SQL literal or fails the search."""

from __future__ import annotations

import itertools

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.local.test_querydsl import DOCS, ids, ingest, query

pytestmark = pytest.mark.anyio

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", DOCS)
    return endpoint


@FUZZ
@given(value=TEXT, clause=st.sampled_from(["term", "prefix", "wildcard", "match", "match_phrase"]))
async def test_any_value_is_a_plain_value(shop: httpx2.AsyncClient, value: str, clause: str) -> None:
    result = await query(shop, {"query": {clause: {"brand": value}}, "_source": False})
    found = ids(result)
    if clause == "term":
        assert found == [str(i + 1) for i, doc in enumerate(DOCS) if doc["brand"] == value]
    elif clause == "prefix":
        assert sorted(found) == sorted(str(i + 1) for i, doc in enumerate(DOCS) if doc["brand"].startswith(value))


@FUZZ
@given(name=TEXT)
async def test_any_field_name_is_a_plain_name(shop: httpx2.AsyncClient, name: str) -> None:
    for clause in ({"term": {name: "x"}}, {"exists": {"field": name}}, {"range": {name: {"gte": 1}}}):
        result = await query(shop, {"query": clause, "_source": False})
        assert result["hits"]["total"]["value"] <= len(DOCS)


_counter = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT)
async def test_stored_values_are_found_exactly(endpoint: httpx2.AsyncClient, value: str) -> None:
    doc_id = f"d{next(_counter)}"
    await ingest(endpoint, "weird", [{"v": value, "id": doc_id}], first_id=int(doc_id[1:]))
    result = await query(endpoint, {"query": {"term": {"v": value}}, "size": 100, "_source": ["id"]}, "weird")
    assert doc_id in [hit["_source"]["id"] for hit in result["hits"]["hits"]]


async def test_nul_is_refused_with_400(shop: httpx2.AsyncClient) -> None:
    assert (await query(shop, {"query": {"term": {"brand": "a\x00b"}}}, status=400))["status"] == 400
