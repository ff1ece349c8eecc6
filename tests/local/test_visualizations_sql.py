"""vizsql as pure functions: where filters land, limits, time parsing, bucket validation."""

from __future__ import annotations

import pytest

from infino_mcp.local.errors import ApiError
from infino_mcp.local.viz.sql import bucket_problem, plan, time_range_filter, to_utc_iso

TYPES = {"n": "Integer", "s": "String", "@timestamp": "ISO8601Date"}
IS_ONE = {"field": "n", "operator": "is", "value": 1}


def _plan(sql, filters=(IS_ONE,), limit=10, index="ds"):
    return plan(sql, index=index, filters=list(filters), types=TYPES, time_column="@timestamp", limit=limit)


def test_top_level_where_is_and_merged():
    result = _plan("SELECT n FROM ds WHERE s = 'a' OR s = 'b'")
    assert result.sql == """SELECT n FROM ds WHERE (s = 'a' OR s = 'b') AND "n" = 1 LIMIT 11"""
    assert result.applied == ["n"]
    assert result.fallbacks == [
        "SELECT n FROM ds WHERE s = 'a' OR s = 'b' LIMIT 11",
        "SELECT n FROM ds WHERE s = 'a' OR s = 'b'",
    ]


def test_union_filters_every_branch():
    result = _plan("SELECT n FROM ds UNION ALL SELECT n FROM ds WHERE s = 'x'")
    assert result.sql.count('"n" = 1') == 2


def test_join_qualifies_columns_with_the_dataset_alias():
    result = _plan("SELECT a.n FROM other o JOIN ds a ON o.n = a.n")
    assert 'WHERE "a"."n" = 1' in result.sql
    skipped = _plan("SELECT x.n FROM one x JOIN two y ON x.n = y.n")
    assert skipped.applied == [] and "none of them is the dataset 'ds'" in skipped.skipped[0]["reason"]


def test_subquery_and_cte_get_the_filter_inside():
    inner = _plan("SELECT s, COUNT(*) FROM (SELECT * FROM ds) t GROUP BY s")
    assert '(SELECT * FROM ds WHERE "n" = 1) AS t' in inner.sql
    cte = _plan("WITH c AS (SELECT * FROM ds) SELECT s FROM c")
    assert cte.sql.startswith('WITH c AS (SELECT * FROM ds WHERE "n" = 1)')


def test_queries_without_a_table_skip_filters():
    result = _plan("SELECT 1 AS one")
    assert result.applied == [] and "reads no table" in result.skipped[0]["reason"]


@pytest.mark.parametrize(
    ("sql", "limit", "expected"),
    [
        ("SELECT n FROM ds", 10, "LIMIT 11"),
        ("SELECT n FROM ds LIMIT 3", 10, "LIMIT 3"),
        ("SELECT n FROM ds LIMIT 500", 10, "LIMIT 11"),
    ],
)
def test_limit(sql, limit, expected):
    assert _plan(sql, filters=(), limit=limit).sql.endswith(expected)


def test_time_values():
    assert to_utc_iso("2026-04-01T02:00:00+02:00") == "2026-04-01T00:00:00.000Z"
    assert to_utc_iso("2026-04-01") == "2026-04-01T00:00:00.000Z"
    assert to_utc_iso(0) == "1970-01-01T00:00:00.000Z"
    assert to_utc_iso("1775001600000") == "2026-04-01T00:00:00.000Z"
    for bad in ("now-7d", True, None, "", 1e300, float("nan")):
        with pytest.raises(ValueError):
            to_utc_iso(bad)
    flt = time_range_filter({"from": 0}, "ts")
    assert flt["field"] == "ts" and flt["operator"] == "is_between" and flt["is_time_filter"] is True
    assert flt["value"] == {"from": "1970-01-01T00:00:00.000Z"}
    with pytest.raises(ApiError, match="not an absolute time"):
        time_range_filter({"from": "now-1h"}, "ts")


@pytest.mark.parametrize("bucket", [None, "day", "HOUR", "5m", "15 minutes", "1h", 10, 0.5, {"histogram": 100}])
def test_valid_buckets(bucket):
    assert bucket_problem(bucket) is None


@pytest.mark.parametrize("bucket", ["fortnight", "5x", 0, -1, True, {"histogram": "wide"}])
def test_invalid_buckets(bucket):
    assert bucket_problem(bucket)
