"""QueryDSL compiler pieces: quoting, date math, _source filtering, delete predicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx2
import pytest

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.dates import date_ms
from infino_mcp.local.querydsl.patterns import like_pattern, tokens
from infino_mcp.local.querydsl.search import where_sql
from infino_mcp.local.querydsl.source import SourceFilter
from infino_mcp.local.querydsl.sqltree import column, number, string
from infino_mcp.local.storage.catalog import DatasetInfo, FieldInfo
from infino_mcp.sql_dialect import render
from tests.local.test_querydsl import ingest, query


def _info() -> DatasetInfo:
    fields = {
        "title": FieldInfo("title", "title", "String", True),
        "brand": FieldInfo("brand", "brand", "String", True),
        "price": FieldInfo("price", "price", "Integer", False),
        "ts": FieldInfo("ts", "ts", "ISO8601Date", False),
        "_hidden": FieldInfo("_hidden", "~_hidden", "String", True),
    }
    return DatasetInfo(name="shop", table="shop", fields=fields, created_at="2024-01-01T00:00:00Z")


def test_quoting() -> None:
    assert render(column('we"ird', None)) == '"we""ird"'
    assert render(column("x")) == 't."x"'
    assert render(string("it's")) == "'it''s'"
    assert render(string("a\\b")) == "'a\\b'"
    with pytest.raises(ApiError, match="NUL"):
        string("nul\x00")
    with pytest.raises(ApiError, match="not finite"):
        number(float("inf"))
    assert like_pattern("50%_a\\b") == "50\\%\\_a\\\\b"
    assert like_pattern("a*b?c%", wildcard=True) == "a%b_c\\%"


def test_tokens_drop_operator_syntax() -> None:
    assert tokens('+red -phone "case" OR it\'s 3.14 foo.bar e-mail') == [
        "red", "phone", "case", "OR", "it's", "3.14", "foo.bar", "e", "mail",
    ]  # fmt: skip


def test_date_math() -> None:
    base = int(datetime(2024, 3, 15, 13, 45, tzinfo=UTC).timestamp() * 1000)
    assert date_ms("2024-03-15T13:45:00Z", "f", "range") == base
    assert date_ms(base, "f", "range") == base
    start_of_day = int(datetime(2024, 3, 15, tzinfo=UTC).timestamp() * 1000)
    assert date_ms("2024-03-15T13:45:00Z||/d", "f", "range") == start_of_day
    end_of_day = date_ms("2024-03-15T13:45:00Z||/d", "f", "range", round_up=True)
    assert end_of_day == int(datetime(2024, 3, 16, tzinfo=UTC).timestamp() * 1000) - 1
    month_ago = date_ms("2024-03-31||-1M", "f", "range")
    assert month_ago == int(datetime(2024, 2, 29, tzinfo=UTC).timestamp() * 1000)
    assert date_ms("1710510300", "f", "range", fmt="epoch_second") == 1710510300000
    now = datetime.now(UTC).timestamp() * 1000
    assert abs(date_ms("now-1h", "f", "range") - (now - 3_600_000)) < 60_000
    with pytest.raises(ApiError, match="not a date"):
        date_ms("last tuesday", "f", "range")
    with pytest.raises(ApiError, match="date math"):
        date_ms("now-1fortnight", "f", "range")


def test_source_filter() -> None:
    doc = {"a": 1, "user": {"name": "x", "city": "y", "geo": {"lat": 1}}, "tags": ["t"]}
    assert SourceFilter.parse(True).apply(doc) == doc
    assert SourceFilter.parse(False).apply(doc) is None
    assert SourceFilter.parse("user.geo.*").apply(doc) == {"user": {"geo": {"lat": 1}}}
    assert SourceFilter.parse(["a", "user.name"]).apply(doc) == {"a": 1, "user": {"name": "x"}}
    assert SourceFilter.parse({"excludes": ["user.*"]}).apply(doc) == {"a": 1, "tags": ["t"]}
    assert SourceFilter.parse({"includes": ["user"], "excludes": ["user.city"]}).apply(doc) == {
        "user": {"name": "x", "geo": {"lat": 1}}
    }
    with pytest.raises(ApiError):
        SourceFilter.parse(42)


def test_where_sql_predicates() -> None:
    info = _info()
    assert where_sql({"match_all": {}}, info) == "TRUE"
    assert where_sql({"ids": {"values": ["a'b", "c"]}}, info) == "\"_doc_id\" IN ('a''b', 'c')"
    assert where_sql({"term": {"brand": "O'Brien"}}, info) == "\"brand\" = 'O''Brien'"
    assert where_sql({"term": {"_hidden": "x"}}, info) == "\"~_hidden\" = 'x'"
    assert where_sql({"term": {"missing": "x"}}, info) == "FALSE"
    ranged = where_sql({"range": {"ts": {"gte": "2024-01-01T00:00:00Z"}}}, info)
    assert ranged == '((NOT "ts" IS NULL) AND ("ts" >= to_timestamp_millis(1704067200000)))'
    matched = where_sql({"match": {"title": {"query": "red phone", "operator": "and"}}}, info)
    assert matched == "((\"title\" ~* '\\bred\\b') AND (\"title\" ~* '\\bphone\\b'))"
    negated = where_sql({"bool": {"must_not": {"term": {"price": 5}}}}, info)
    assert negated == '(NOT COALESCE("price" = 5, FALSE))'
    assert "_id IN" not in where_sql({"match": {"title": "x"}}, info)
    with pytest.raises(ApiError, match="'script'"):
        where_sql({"script": {}}, info)


@pytest.mark.anyio
async def test_where_sql_runs_as_a_delete_predicate(endpoint: httpx2.AsyncClient, local_services) -> None:
    docs = [
        {"title": "Quoted 'red' phone", "price": 1},
        {"title": "redder phones", "price": 2},
        {"title": "RED (phone)", "price": 3},
        {"title": "blue", "price": 4},
    ]
    await ingest(endpoint, "del", docs)
    info = local_services.catalog.get("del")
    predicate = where_sql({"match": {"title": {"query": "red phone", "operator": "and"}}}, info)
    deleted = await local_services.engine.delete(info.table, predicate)
    assert deleted == 2  # whole words only: "redder phones" stays
    left = await query(endpoint, {"sort": ["price"]}, dataset="del")
    assert [h["_source"]["price"] for h in left["hits"]["hits"]] == [2, 4]
    phrase = where_sql({"match_phrase": {"title": "redder phones"}}, info)
    assert await local_services.engine.delete(info.table, phrase) == 1
    assert json.dumps(where_sql({"bool": {"should": [{"prefix": {"title": "bl"}}]}}, info))
