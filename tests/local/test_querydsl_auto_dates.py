"""auto_date_histogram through the local endpoint's HTTP API: the interval Elasticsearch documents (multiples
of 1/5/10/30 seconds or minutes, 1/3/12 hours, 1/7 days, 1/3 months, 1/5/10/20/50/100 years; the smallest
giving at most ``buckets`` buckets), buckets from the first date, empty ones shown. Expected buckets are
computed here in plain Python from the same dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from tests.local.test_querydsl import ingest, query

pytestmark = pytest.mark.anyio


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def expected(dates: list[datetime], start: datetime, step) -> list[tuple[str, int]]:
    out, key = [], start
    while key <= max(dates):
        nxt = step(key)
        out.append((key.strftime("%Y-%m-%dT%H:%M:%S.000Z"), sum(key <= d < nxt for d in dates)))
        key = nxt
    return out


async def run(endpoint: httpx2.AsyncClient, dates: list[datetime], name: str, **options: object) -> dict:
    docs = [{"ts": d.isoformat().replace("+00:00", "Z"), "n": i} for i, d in enumerate(dates)]
    await ingest(endpoint, name, docs)
    body = {"size": 0, "aggs": {"a": {"auto_date_histogram": {"field": "ts", **options}}}}
    return (await query(endpoint, body, dataset=name))["aggregations"]["a"]


def pairs(result: dict) -> list[tuple[str, int]]:
    return [(b["key_as_string"], b["doc_count"]) for b in result["buckets"]]


async def test_days_then_weeks_from_the_first_day(endpoint: httpx2.AsyncClient) -> None:
    base = datetime(2024, 3, 6, 15, 30, tzinfo=UTC)  # a Wednesday
    dates = [base + timedelta(days=d, hours=h) for d, h in ((0, 0), (1, 2), (3, 1), (9, 0), (20, 5), (24, 0))]
    day = datetime(2024, 3, 6, tzinfo=UTC)
    # 25 days: 25 > 10 daily buckets, 4 weekly ones fit
    weekly = await run(endpoint, dates, "w", buckets=10)
    assert weekly["interval"] == "7d"
    assert pairs(weekly) == expected(dates, day, lambda k: k + timedelta(days=7))
    assert weekly["buckets"][0]["key"] == ms(day)
    daily = await run(endpoint, dates, "d", buckets=30)
    assert daily["interval"] == "1d"
    assert pairs(daily) == expected(dates, day, lambda k: k + timedelta(days=1))


def add_months(moment: datetime, n: int) -> datetime:
    months = moment.month - 1 + n
    return moment.replace(year=moment.year + months // 12, month=months % 12 + 1)


async def test_hours_months_and_years(endpoint: httpx2.AsyncClient) -> None:
    start = datetime(2024, 1, 1, 7, 10, tzinfo=UTC)
    hours = [start + timedelta(minutes=m) for m in (0, 50, 200, 400, 610)]
    result = await run(endpoint, hours, "h", buckets=5)  # 11 hourly buckets > 5; 3-hour ones: 4
    assert result["interval"] == "3h"
    assert pairs(result) == expected(hours, start.replace(minute=0), lambda k: k + timedelta(hours=3))
    months = [datetime(2023, m, 15, tzinfo=UTC) for m in (2, 3, 7, 11)] + [datetime(2024, 6, 1, tzinfo=UTC)]
    result = await run(endpoint, months, "m", buckets=8)  # 17 months: 3-month buckets from February
    assert result["interval"] == "3M"
    assert pairs(result) == expected(months, datetime(2023, 2, 1, tzinfo=UTC), lambda k: add_months(k, 3))
    years = [datetime(y, 6, 1, tzinfo=UTC) for y in (1931, 1950, 1999, 2024)]
    result = await run(endpoint, years, "y", buckets=10)  # 94 years: 10-year buckets from 1931
    assert result["interval"] == "10y"
    assert pairs(result) == expected(years, datetime(1931, 1, 1, tzinfo=UTC), lambda k: k.replace(year=k.year + 10))
    assert len(result["buckets"]) <= 10


async def test_sub_aggregations_minimum_interval_and_no_dates(endpoint: httpx2.AsyncClient) -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    dates = [start + timedelta(seconds=s) for s in (0, 1, 7, 40)]
    docs = [{"ts": d.isoformat().replace("+00:00", "Z"), "n": i} for i, d in enumerate(dates)]
    await ingest(endpoint, "s", docs)
    aggs = {"a": {"auto_date_histogram": {"field": "ts", "buckets": 5}, "aggs": {"total": {"sum": {"field": "n"}}}}}
    result = (await query(endpoint, {"size": 0, "aggs": aggs}, dataset="s"))["aggregations"]["a"]
    assert result["interval"] == "10s"
    assert [b["total"]["value"] for b in result["buckets"]] == [
        float(sum(i for i, d in enumerate(dates) if k <= d < k + timedelta(seconds=10)))
        for k in (start + timedelta(seconds=10 * j) for j in range(5))
    ]
    coarse = {"a": {"auto_date_histogram": {"field": "ts", "minimum_interval": "minute"}}}
    result = (await query(endpoint, {"size": 0, "aggs": coarse}, dataset="s"))["aggregations"]["a"]
    assert (result["interval"], pairs(result)) == ("1m", [("2024-05-01T00:00:00.000Z", 4)])
    none = {"size": 0, "query": {"range": {"n": {"gt": 100}}}, "aggs": coarse}
    assert (await query(endpoint, none, dataset="s"))["aggregations"]["a"]["buckets"] == []


async def test_refusals(endpoint: httpx2.AsyncClient) -> None:
    await ingest(endpoint, "r", [{"ts": "2024-01-01T00:00:00Z", "n": 1, "k": "x"}])
    for spec, named in (
        ({"field": "n"}, "date field"),
        ({"field": "ts", "buckets": 0}, "buckets"),
        ({"field": "ts", "time_zone": "Europe/Paris"}, "UTC"),
        ({"field": "ts", "minimum_interval": "week"}, "minimum_interval"),
    ):
        refused = await query(endpoint, {"size": 0, "aggs": {"a": {"auto_date_histogram": spec}}}, "r", status=400)
        assert named in json.dumps(refused)
    nested = {"terms": {"field": "k"}, "aggs": {"a": {"auto_date_histogram": {"field": "ts"}}}}
    refused = await query(endpoint, {"size": 0, "aggs": {"t": nested}}, "r", status=400)
    assert "top level" in json.dumps(refused)
