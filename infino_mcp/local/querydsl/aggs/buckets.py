"""Bucket keys for QueryDSL aggregations: date intervals, histogram gap filling,
range definitions, and keys in Elasticsearch's shape (dates as epoch
milliseconds plus ``key_as_string``, booleans as 1/0 plus "true"/"false")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.intervals import DateInterval
from infino_mcp.local.querydsl.dates import date_ms, iso_from_ms, parse_zone
from infino_mcp.local.querydsl.fields import as_float, as_int, to_number
from infino_mcp.local.querydsl.sqltree import number, string

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

MAX_BUCKETS = 10_000


def fill_histogram(name: str, kind: str, spec: dict, interval: DateInterval | None, found: dict[Any, int]) -> list[Any]:
    """The bucket keys to show, in order: found keys, plus empty ones between (min_doc_count 0)."""
    min_count = as_int(spec.get("min_doc_count", 0), f"{name}.min_doc_count")
    keys = sorted(k for k, c in found.items() if c >= max(min_count, 1))
    if min_count > 0:
        return keys
    bounds = spec.get("extended_bounds") or {}
    if kind == "date_histogram":
        assert interval is not None
        zone = interval.zone
        low = [interval.floor(date_ms(bounds["min"], name, "extended_bounds", zone=zone))] if "min" in bounds else []
        high = [interval.floor(date_ms(bounds["max"], name, "extended_bounds", zone=zone))] if "max" in bounds else []
        if not keys and not (low and high):
            return keys
        start, end = min(keys + low), max(keys + high)
        out, key = [], start
        while key <= end:
            out.append(key)
            if len(out) > MAX_BUCKETS:
                raise _too_many(name)
            key = interval.next(key)
        return out
    step = as_float(spec["interval"], f"{name}.interval")
    offset = as_float(spec.get("offset", 0), f"{name}.offset")
    indexes = {round((k - offset) / step) for k in keys}
    for bound in ("min", "max"):
        if bound in bounds:
            value = to_number(bounds[bound])
            if value is not None:
                indexes.add(math.floor((value - offset) / step))
    if not indexes:
        return []
    lo, hi = min(indexes), max(indexes)
    if hi - lo + 1 > MAX_BUCKETS:
        raise _too_many(name)
    by_index = {round((k - offset) / step): k for k in keys}
    return [by_index.get(i, i * step + offset) for i in range(lo, hi + 1)]


def _too_many(name: str) -> ApiError:
    return ApiError(400, f"Aggregation '{name}' would make more than {MAX_BUCKETS} buckets; use a larger interval "
                    "or a narrower query.")  # fmt: skip


@dataclass(frozen=True)
class Range:
    low: float | None
    high: float | None
    key: str | None

    def describe(self, is_date: bool, fmt: str | None = None, zone: tzinfo | None = None) -> dict:
        def text(v: float | None) -> str:
            if v is None:
                return "*"
            return _format_date(int(v), fmt, zone) if is_date else repr(float(v))

        out: dict[str, Any] = {"key": self.key or f"{text(self.low)}-{text(self.high)}"}
        if self.low is not None:
            out["from"] = float(self.low)
            if is_date:
                out["from_as_string"] = text(self.low)
        if self.high is not None:
            out["to"] = float(self.high)
            if is_date:
                out["to_as_string"] = text(self.high)
        return out


def range_buckets(agg: Agg) -> list[Range]:
    ranges = agg.spec.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise ApiError(400, f'Aggregation \'{agg.name}\' (range) needs "ranges": [{{"from": x, "to": y}}, ...].')
    is_date = agg.field is not None and agg.field.kind == "date"
    zone = parse_zone(agg.spec.get("time_zone"), f"aggregation '{agg.name}'") if agg.kind == "date_range" else None
    out = []
    for r in ranges:
        if not isinstance(r, dict) or not set(r) <= {"from", "to", "key"}:
            raise ApiError(400, f'Aggregation \'{agg.name}\': each range is {{"from", "to", "key"}}, got {r!r}.')
        bounds = []
        for side in ("from", "to"):
            value = r.get(side)
            if value is None:
                bounds.append(None)
            elif is_date:
                bounds.append(float(date_ms(value, agg.name, agg.kind, fmt=agg.spec.get("format"), zone=zone)))
            else:
                number = to_number(value)
                if number is None:
                    raise ApiError(400, f"Aggregation '{agg.name}': range bound {value!r} is not a number.")
                bounds.append(float(number))
        out.append(Range(bounds[0], bounds[1], str(r["key"]) if r.get("key") is not None else None))
    # Elasticsearch answers ranges ordered by their lower, then upper bound, whatever the request's order
    return sorted(out, key=lambda r: (-math.inf if r.low is None else r.low, math.inf if r.high is None else r.high))


_JODA = (("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def _format_date(ms: int, fmt: str | None, zone: tzinfo | None = None) -> str:
    if not fmt or fmt in ("strict_date_optional_time", "date_optional_time", "strict_date_time"):
        return iso_from_ms(ms, zone)
    if fmt == "epoch_millis":
        return str(ms)
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if zone is not None:
        moment = moment.astimezone(zone)
    pattern = fmt.replace("'T'", "T").replace("SSS", f"{moment.microsecond // 1000:03d}")
    for joda, strf in _JODA:
        pattern = pattern.replace(joda, strf)
    return moment.strftime(pattern)


def shape_key(value: Any, kind: str, fmt: str | None = None, zone: tzinfo | None = None) -> dict:
    """A bucket key as Elasticsearch reports it for a field of ``kind``."""
    if kind == "date":
        ms = int(value)
        return {"key": ms, "key_as_string": _format_date(ms, fmt, zone)}
    if kind == "bool":
        return {"key": 1 if value else 0, "key_as_string": "true" if value else "false"}
    if kind in ("histogram", "float"):
        return {"key": float(value)}
    if kind == "int":
        return {"key": int(value)}
    return {"key": value}


def key_literal(value: Any) -> exp.Expr:
    if isinstance(value, str):
        return string(value)
    return number(value)
