"""``auto_date_histogram``: a date histogram whose interval is chosen for a target number of buckets.

As Elasticsearch documents it, the interval is a multiple of one rounding: seconds and minutes (1, 5, 10,
30), hours (1, 3, 12), days (1, 7), months (1, 3) or years (1, 5, 10, 20, 50, 100). The smallest one that
spans the matching documents' first to last date in at most ``buckets`` buckets wins. Buckets start at the
first date rounded down to the unit and step by the interval (a 7d bucket starts on the first day found,
not on a week day); empty ones between are shown, and the answer says the ``interval`` (``7d``, ``3M``).
Dates are bucketed in UTC; it runs at the top level of ``aggs`` (a sub-aggregation would choose one
interval per parent bucket)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.sqltree import cast, column, not_null, number

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

ROUNDINGS = (
    ("second", "s", (1, 5, 10, 30)), ("minute", "m", (1, 5, 10, 30)), ("hour", "h", (1, 3, 12)),
    ("day", "d", (1, 7)), ("month", "M", (1, 3)), ("year", "y", (1, 5, 10, 20, 50, 100)),
)  # fmt: skip
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
MAX_TARGET = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_auto(agg: Agg) -> None:
    spec = agg.spec
    unknown = sorted(set(spec) - {"field", "buckets", "format", "minimum_interval", "time_zone"})
    if unknown:
        raise ApiError(400, f"Aggregation '{agg.name}' (auto_date_histogram) option '{unknown[0]}' is not supported; "
                       "supported: field, buckets, format, minimum_interval, time_zone (UTC).")  # fmt: skip
    target = spec.get("buckets", 10)
    if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= MAX_TARGET:
        raise ApiError(400, f"Aggregation '{agg.name}' (auto_date_histogram): buckets is an integer from 1 to "
                       f"{MAX_TARGET}.")  # fmt: skip
    minimum = spec.get("minimum_interval", "second")
    if minimum not in [r[0] for r in ROUNDINGS]:
        raise ApiError(400, f"Aggregation '{agg.name}': minimum_interval is one of "
                       f"{', '.join(r[0] for r in ROUNDINGS)}.")  # fmt: skip
    if str(spec.get("time_zone", "UTC")).upper() not in ("UTC", "Z", "+00:00", "ETC/UTC"):
        raise ApiError(400, f"Aggregation '{agg.name}' (auto_date_histogram) buckets in UTC only on the local "
                       "endpoint; use date_histogram with time_zone for local days.")  # fmt: skip
    if agg.parent is not None:
        raise ApiError(400, f"Aggregation '{agg.name}' (auto_date_histogram) runs at the top level of aggs only on "
                       "the local endpoint; use date_histogram inside other buckets.")  # fmt: skip


def _moment(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _ms(moment: datetime) -> int:
    return round((moment - _EPOCH) / timedelta(milliseconds=1))


def _floor(ms: int, unit: str) -> int:
    if unit in _UNIT_MS:
        return ms - ms % _UNIT_MS[unit]
    moment = _moment(ms)
    return _ms(datetime(moment.year, moment.month if unit == "month" else 1, 1, tzinfo=UTC))


def _advance(ms: int, unit: str, count: int) -> int:
    if unit in _UNIT_MS:
        return ms + count * _UNIT_MS[unit]
    moment = _moment(ms)
    months = moment.month - 1 + (count if unit == "month" else 12 * count)
    return _ms(moment.replace(year=moment.year + months // 12, month=months % 12 + 1))


def _units(low: int, high: int, unit: str) -> int:
    """How many ``unit`` buckets (of one unit each) span ``low`` to ``high``."""
    if unit in _UNIT_MS:
        return (_floor(high, unit) - _floor(low, unit)) // _UNIT_MS[unit] + 1
    a, b = _moment(low), _moment(high)
    if unit == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return b.year - a.year + 1


def choose(agg: Agg, low: int | None, high: int | None) -> None:
    """Set ``agg.auto`` to (interval text, bucket starts) for the dates ``low``..``high`` (None: no dates)."""
    if low is None or high is None:
        agg.auto = ("1s", [])
        return
    target = agg.spec.get("buckets", 10)
    names = [r[0] for r in ROUNDINGS]
    usable = ROUNDINGS[names.index(agg.spec.get("minimum_interval", "second")) :]
    unit, letter, inner = usable[-1][0], usable[-1][1], usable[-1][2][-1]
    for name, short, multiples in usable:
        count = _units(low, high, name)
        fits = [m for m in multiples if -(-count // m) <= target]
        if fits:
            unit, letter, inner = name, short, fits[0]
            break
    starts, key = [], _floor(low, unit)
    while key <= high:
        starts.append(key)
        key = _advance(key, unit, inner)
    agg.auto = (f"{inner}{letter}", starts)


def auto_key_sql(agg: Agg) -> exp.Expr:
    assert agg.field is not None
    value = cast(column(agg.field.column), "BIGINT")
    starts = agg.auto[1]
    if not starts:
        return cast(exp.null(), "BIGINT")
    branches = [exp.If(this=exp.LT(this=value.copy(), expression=number(nxt)), true=number(start))
                for start, nxt in zip(starts, starts[1:], strict=False)]  # fmt: skip
    present = not_null(value)
    return exp.Paren(this=exp.Case(ifs=[*branches, exp.If(this=present, true=number(starts[-1]))]))


def shape_auto(agg: Agg, found: dict[Any, int]) -> dict:
    fmt = agg.spec.get("format")
    interval, starts = agg.auto if agg.auto else ("1s", [])
    buckets = [{**shape_key(k, "date", fmt), "doc_count": found.get(k, 0), "__k": k} for k in starts]
    return {"buckets": buckets, "interval": interval}
