"""``date_histogram`` intervals: a calendar unit or a fixed length, in a time zone, shifted by an offset.

Bucket keys are the UTC epoch milliseconds of each bucket's start, as in
Elasticsearch. Calendar units truncate the zone's wall time: days, weeks,
months, quarters and years start at the zone's midnight (a day is 23 or 25 hours
across a daylight-saving change), hours and smaller units follow the clock, so
the repeated hour of a fall-back transition is two buckets. Fixed intervals are
that many milliseconds, aligned to the zone's wall time; in a zone whose offsets
differ modulo the interval (``1d`` in Europe/Paris) that alignment moves with
the season, which the local endpoint refuses rather than approximates.
``offset`` shifts every bucket start (``+6h``: days from 06:00).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.dates import parse_zone, zone_name
from infino_mcp.local.querydsl.sqltree import call, cast, number, string
from infino_mcp.sql_dialect import DIALECT

_CALENDAR = {
    "minute": "minute", "1m": "minute", "hour": "hour", "1h": "hour", "day": "day", "1d": "day",
    "week": "week", "1w": "week", "month": "month", "1M": "month", "quarter": "quarter", "1q": "quarter",
    "year": "year", "1y": "year", "second": "second", "1s": "second",
}  # fmt: skip
_FIXED_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 604_800_000}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_WALL_UNITS = ("day", "week", "month", "quarter", "year")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(ms: int, zone: tzinfo | None) -> datetime:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.astimezone(zone) if zone is not None else moment


def _ms(moment: datetime) -> int:
    return round((moment - _EPOCH) / timedelta(milliseconds=1))


def _offset_ms(text: object, name: str) -> int:
    if text in (None, 0, "0", "+0"):
        return 0
    m = re.fullmatch(r"([+-]?)(\d+)(ms|s|m|h|d)", str(text).strip())
    if m is None:
        raise ApiError(400, f"Aggregation '{name}': offset {text!r} must look like +6h, -30m or 1d.")
    ms = int(m.group(2)) * _FIXED_MS[m.group(3)]
    return -ms if m.group(1) == "-" else ms


def _phase(zone: tzinfo, step: int, name: str) -> int:
    """The one remainder of the zone's UTC offsets modulo ``step`` (sampled 1970-2100), or a 400."""
    phases = set()
    for year in range(1970, 2101):
        for month in (1, 4, 7, 10):
            offset = datetime(year, month, 1, tzinfo=zone).utcoffset()
            phases.add(round(offset.total_seconds() * 1000) % step if offset is not None else 0)
    if len(phases) > 1:
        raise ApiError(400, f"Aggregation '{name}': a fixed_interval in {zone_name(zone)!r} would start at a "
                       "different wall time in summer and winter; use calendar_interval (day, week, ...) for "
                       "local days or a fixed offset time_zone such as +01:00.")  # fmt: skip
    return phases.pop()


def _milliseconds(ms: int) -> exp.Interval:
    return exp.Interval(this=string(f"{ms} milliseconds"))


@dataclass(frozen=True)
class DateInterval:
    """A ``date_histogram`` interval: a calendar unit or a fixed number of milliseconds."""

    unit: str = ""  # calendar unit, or "" for fixed
    fixed_ms: int = 0
    zone: tzinfo | None = None
    offset_ms: int = 0
    phase_ms: int = 0  # fixed intervals: where the zone's wall time puts bucket starts, modulo the interval

    @staticmethod
    def parse(name: str, options: dict) -> DateInterval:
        zone = parse_zone(options.get("time_zone"), f"aggregation '{name}'")
        offset = _offset_ms(options.get("offset"), name)
        calendar, fixed = options.get("calendar_interval"), options.get("fixed_interval")
        legacy = options.get("interval")
        if calendar is not None:
            if calendar not in _CALENDAR:
                raise ApiError(400, f"Aggregation '{name}': calendar_interval {calendar!r} is not one of "
                               f"{', '.join(_CALENDAR)}; use fixed_interval for multiples (\"90m\").")  # fmt: skip
            return DateInterval(unit=_CALENDAR[calendar], zone=zone, offset_ms=offset)
        text = fixed if fixed is not None else legacy
        if text is None:
            raise ApiError(400, f"Aggregation '{name}' (date_histogram) needs calendar_interval or fixed_interval.")
        if fixed is None and text in _CALENDAR:
            return DateInterval(unit=_CALENDAR[text], zone=zone, offset_ms=offset)
        m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(text))
        if not m or int(m.group(1)) <= 0:
            raise ApiError(400, f"Aggregation '{name}': fixed_interval {text!r} must look like 30s, 5m, 2h or 1d.")
        step = int(m.group(1)) * _FIXED_MS[m.group(2)]
        phase = _phase(zone, step, name) if zone is not None else 0
        return DateInterval(fixed_ms=step, zone=zone, offset_ms=offset, phase_ms=phase)

    def key_sql(self, column: exp.Expr) -> exp.Expr:
        """The bucket key (UTC epoch milliseconds of the bucket's start) of the timestamp ``column``."""
        shifted = column
        if self.offset_ms:
            shifted = exp.Paren(this=exp.Sub(this=column, expression=_milliseconds(self.offset_ms)))
        key: exp.Expr
        if self.unit:
            local = shifted
            if self.zone is not None:  # wall time in the zone: a timestamp carrying the zone, truncated there
                as_utc = call("arrow_cast", shifted, string('Timestamp(Millisecond, Some("UTC"))'))
                in_zone = 'Timestamp(Millisecond, Some("' + zone_name(self.zone) + '"))'
                local = call("arrow_cast", as_utc, string(in_zone))
            key = cast(exp.TimestampTrunc(this=local, unit=string(self.unit)), "BIGINT")
        else:
            origin = (_EPOCH - timedelta(milliseconds=self.phase_ms)).strftime("%Y-%m-%d %H:%M:%S.%f")
            start = exp.func("date_bin", _milliseconds(self.fixed_ms), shifted, cast(string(origin), "TIMESTAMP"),
                             dialect=DIALECT)  # fmt: skip
            key = cast(start, "BIGINT")
        return exp.Paren(this=exp.Add(this=key, expression=number(self.offset_ms))) if self.offset_ms else key

    def next(self, key: int) -> int:
        base = key - self.offset_ms
        if self.unit in _WALL_UNITS:
            moment = _moment(base, self.zone)
            if self.unit in _MONTHS:
                months = moment.month - 1 + _MONTHS[self.unit]
                moved = moment.replace(year=moment.year + months // 12, month=months % 12 + 1)
            else:
                moved = moment + timedelta(days=7 if self.unit == "week" else 1)
            return self._start(_ms(moved.replace(fold=0))) + self.offset_ms
        return key + (_UNIT_MS[self.unit] if self.unit else self.fixed_ms)

    def floor(self, key: int) -> int:
        return self._start(key - self.offset_ms) + self.offset_ms

    def _start(self, ms: int) -> int:
        """The start of the bucket holding ``ms`` (before the offset is added)."""
        if not self.unit:
            return ms - (ms + self.phase_ms) % self.fixed_ms
        moment = _moment(ms, self.zone)
        if self.unit in _WALL_UNITS:
            day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            if self.unit == "week":
                day -= timedelta(days=day.weekday())
            elif self.unit in _MONTHS:
                month = day.month - (day.month - 1) % _MONTHS[self.unit]
                day = day.replace(month=month, day=1)
            return _ms(day.replace(fold=0))
        step = _UNIT_MS[self.unit]
        offset = moment.utcoffset()
        wall = ms + (round(offset.total_seconds() * 1000) if offset is not None else 0)
        return ms - wall % step
