"""QueryDSL time zones: date_histogram (calendar and fixed intervals, offset, extended_bounds), date_range and
range queries in IANA zones and fixed offsets, across daylight-saving changes.

Expected buckets are computed here with ``zoneinfo`` from the same timestamps: a day bucket starts at the
zone's local midnight, an hour bucket at the zone's clock hour (the repeated fall-back hour is two buckets),
as the Elasticsearch documentation describes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx2
import pytest

from tests.local.test_querydsl import ingest, query

pytestmark = pytest.mark.anyio

PARIS = ZoneInfo("Europe/Paris")
# around the fall-back (2024-10-27 03:00 CEST -> 02:00 CET) and spring-forward (2024-03-31 02:00 -> 03:00)
STAMPS = [
    "2024-10-26T21:30:00Z", "2024-10-26T22:30:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z",
    "2024-10-27T02:10:00Z", "2024-10-27T22:59:00Z", "2024-10-27T23:01:00Z",
    "2024-03-30T22:59:00Z", "2024-03-30T23:30:00Z", "2024-03-31T00:30:00Z", "2024-03-31T01:30:00Z",
]  # fmt: skip


@pytest.fixture
async def clock(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "clock", [{"at": s, "n": i} for i, s in enumerate(STAMPS)])
    return endpoint


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


async def histogram(endpoint: httpx2.AsyncClient, options: dict) -> list[dict]:
    body = {"size": 0, "aggs": {"h": {"date_histogram": {"field": "at", "min_doc_count": 1, **options}}}}
    return (await query(endpoint, body, "clock"))["aggregations"]["h"]["buckets"]


def local_starts(zone: ZoneInfo, start_of: object) -> Counter:
    return Counter(ms(start_of(instant(s).astimezone(zone))) for s in STAMPS)  # type: ignore[operator]


async def test_days_start_at_local_midnight_and_are_23_or_25_hours_long(clock: httpx2.AsyncClient) -> None:
    buckets = await histogram(clock, {"calendar_interval": "day", "time_zone": "Europe/Paris"})
    expected = local_starts(PARIS, lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0))
    assert {b["key"]: b["doc_count"] for b in buckets} == dict(expected)
    by_key = {b["key"]: b["key_as_string"] for b in buckets}
    assert by_key[ms(datetime(2024, 10, 27, tzinfo=PARIS))] == "2024-10-27T00:00:00.000+02:00"
    assert by_key[ms(datetime(2024, 10, 28, tzinfo=PARIS))] == "2024-10-28T00:00:00.000+01:00"
    # the same day in UTC splits differently
    utc = await histogram(clock, {"calendar_interval": "day"})
    assert {b["key"]: b["doc_count"] for b in utc} == dict(
        Counter(ms(instant(s).replace(hour=0, minute=0, second=0)) for s in STAMPS)
    )


async def test_hours_follow_the_clock_and_the_repeated_hour_is_two_buckets(clock: httpx2.AsyncClient) -> None:
    buckets = await histogram(clock, {"calendar_interval": "hour", "time_zone": "Europe/Paris"})
    expected = local_starts(PARIS, lambda d: d.replace(minute=0, second=0, microsecond=0))
    assert {b["key"]: b["doc_count"] for b in buckets} == dict(expected)
    strings = [b["key_as_string"] for b in buckets if b["key_as_string"].startswith("2024-10-27T02")]
    assert strings == ["2024-10-27T02:00:00.000+02:00", "2024-10-27T02:00:00.000+01:00"]
    kolkata = await histogram(clock, {"calendar_interval": "hour", "time_zone": "Asia/Kolkata"})
    assert all(b["key"] % 3_600_000 == 1_800_000 for b in kolkata)  # +05:30: hours start at :30 UTC


async def test_months_weeks_and_empty_buckets_in_a_zone(clock: httpx2.AsyncClient) -> None:
    body = {"size": 0, "query": {"range": {"at": {"lt": "2024-04-01T00:00:00Z"}}},
            "aggs": {"w": {"date_histogram": {"field": "at", "calendar_interval": "week", "time_zone": "Europe/Paris",
                                              "extended_bounds": {"min": "2024-03-20", "max": "2024-04-10"}}}}}  # fmt: skip
    buckets = (await query(clock, body, "clock"))["aggregations"]["w"]["buckets"]
    mondays = []
    day = datetime(2024, 3, 18, tzinfo=PARIS)  # the Monday of the week holding 2024-03-20
    while day <= datetime(2024, 4, 10, tzinfo=PARIS):
        mondays.append(ms(day))
        day = (day + timedelta(days=7)).replace(tzinfo=PARIS)
    assert [b["key"] for b in buckets] == mondays
    march = [s for s in STAMPS if instant(s).astimezone(PARIS).month == 3]
    assert sum(b["doc_count"] for b in buckets) == len(march)
    months = await histogram(clock, {"calendar_interval": "month", "time_zone": "+05:30"})
    plus530 = ZoneInfo("Asia/Kolkata")
    expected = local_starts(plus530, lambda d: d.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    assert {b["key"]: b["doc_count"] for b in months} == dict(expected)
    assert months[0]["key_as_string"].endswith("+05:30")


async def test_fixed_intervals_and_offsets(clock: httpx2.AsyncClient) -> None:
    step = 3 * 3_600_000
    buckets = await histogram(clock, {"fixed_interval": "3h", "time_zone": "+05:30"})
    phase = 5 * 3_600_000 + 1_800_000
    expected = Counter(ms(instant(s)) - (ms(instant(s)) + phase) % step for s in STAMPS)
    assert {b["key"]: b["doc_count"] for b in buckets} == dict(expected)
    hourly = await histogram(clock, {"fixed_interval": "30m", "time_zone": "Europe/Paris"})
    assert {b["key"]: b["doc_count"] for b in hourly} == dict(
        Counter(ms(instant(s)) // 1_800_000 * 1_800_000 for s in STAMPS)
    )
    shifted = await histogram(clock, {"calendar_interval": "day", "offset": "+6h"})
    six = 6 * 3_600_000
    expected_days = Counter((ms(instant(s)) - six) // 86_400_000 * 86_400_000 + six for s in STAMPS)
    assert {b["key"]: b["doc_count"] for b in shifted} == dict(expected_days)
    refused = await query(clock, {"size": 0, "aggs": {"h": {"date_histogram": {
        "field": "at", "fixed_interval": "1d", "time_zone": "Europe/Paris"}}}}, "clock", 400)  # fmt: skip
    assert "calendar_interval" in str(refused)


async def test_range_query_and_date_range_in_a_zone(clock: httpx2.AsyncClient) -> None:
    # local midnight of 2024-10-27 in Paris is 22:00 UTC the day before; "/d" rounds in the zone too
    body = {"query": {"range": {"at": {"gte": "2024-10-27", "lt": "2024-10-27||+1d", "time_zone": "Europe/Paris"}}},
            "size": 20}  # fmt: skip
    hits = (await query(clock, body, "clock"))["hits"]["hits"]
    day = [s for s in STAMPS if instant(s).astimezone(PARIS).date().isoformat() == "2024-10-27"]
    assert sorted(h["_source"]["at"] for h in hits) == sorted(day)
    rounded = {"query": {"range": {"at": {"lte": "2024-10-26T23:00:00||/d", "gte": "2024-10-26||/d",
                                          "time_zone": "Europe/Paris"}}}, "size": 20}  # fmt: skip
    previous = [s for s in STAMPS if instant(s).astimezone(PARIS).date().isoformat() == "2024-10-26"]
    assert sorted(h["_source"]["at"] for h in (await query(clock, rounded, "clock"))["hits"]["hits"]) == sorted(
        previous
    )
    offset_given = {"query": {"range": {"at": {"gte": "2024-10-27T00:00:00Z", "time_zone": "Europe/Paris"}}}}
    later = [s for s in STAMPS if instant(s) >= datetime(2024, 10, 27, tzinfo=UTC)]
    assert (await query(clock, offset_given, "clock"))["hits"]["total"]["value"] == len(later)

    spec = {"r": {"date_range": {"field": "at", "time_zone": "Europe/Paris",
                                 "ranges": [{"to": "2024-10-27"}, {"from": "2024-10-27", "to": "2024-10-28"}]}}}  # fmt: skip
    buckets = (await query(clock, {"size": 0, "aggs": spec}, "clock"))["aggregations"]["r"]["buckets"]
    midnight, next_midnight = ms(datetime(2024, 10, 27, tzinfo=PARIS)), ms(datetime(2024, 10, 28, tzinfo=PARIS))
    assert buckets[0] == {
        "key": "*-2024-10-27T00:00:00.000+02:00", "to": float(midnight),
        "to_as_string": "2024-10-27T00:00:00.000+02:00", "doc_count": sum(ms(instant(s)) < midnight for s in STAMPS),
    }  # fmt: skip
    assert buckets[1]["doc_count"] == sum(midnight <= ms(instant(s)) < next_midnight for s in STAMPS)
    assert buckets[1]["from_as_string"] == "2024-10-27T00:00:00.000+02:00"


async def test_bad_zones_are_refused(clock: httpx2.AsyncClient) -> None:
    for zone in ("Mars/Olympus", "+25:00", "../../etc/passwd"):
        body = {
            "size": 0,
            "aggs": {"h": {"date_histogram": {"field": "at", "calendar_interval": "day", "time_zone": zone}}},
        }
        assert "time_zone" in str(await query(clock, body, "clock", 400))
        ranged = {"query": {"range": {"at": {"gte": "2024-01-01", "time_zone": zone}}}}
        assert "time_zone" in str(await query(clock, ranged, "clock", 400))


async def test_empty_days_are_filled_at_local_midnights(clock: httpx2.AsyncClient) -> None:
    body = {"size": 0, "query": {"range": {"at": {"gte": "2024-10-01"}}},
            "aggs": {"d": {"date_histogram": {"field": "at", "calendar_interval": "1d", "time_zone": "Europe/Paris",
                                              "extended_bounds": {"min": "2024-10-25", "max": "2024-10-29"}}}}}  # fmt: skip
    buckets = (await query(clock, body, "clock"))["aggregations"]["d"]["buckets"]
    midnights = [ms(datetime(2024, 10, day, tzinfo=PARIS)) for day in range(25, 30)]
    assert [b["key"] for b in buckets] == midnights  # 2024-10-27 lasts 25 hours
    october = Counter(instant(s).astimezone(PARIS).day for s in STAMPS if instant(s).astimezone(PARIS).month == 10)
    assert [b["doc_count"] for b in buckets] == [october.get(day, 0) for day in range(25, 30)]
