"""``date_histogram`` intervals: a calendar unit or a fixed length, with their SQL key and stepping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.sqltext import lit

_CALENDAR = {
    "minute": "minute", "1m": "minute", "hour": "hour", "1h": "hour", "day": "day", "1d": "day",
    "week": "week", "1w": "week", "month": "month", "1M": "month", "quarter": "quarter", "1q": "quarter",
    "year": "year", "1y": "year", "second": "second", "1s": "second",
}  # fmt: skip
_FIXED_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 604_800_000}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_UTC = {None, "UTC", "utc", "Z", "+00:00", "Etc/UTC", "GMT"}


@dataclass(frozen=True)
class DateInterval:
    """A ``date_histogram`` interval: a calendar unit or a fixed number of milliseconds."""

    unit: str = ""  # calendar unit, or "" for fixed
    fixed_ms: int = 0

    @staticmethod
    def parse(name: str, options: dict) -> DateInterval:
        if options.get("time_zone") not in _UTC:
            raise ApiError(400, f"Aggregation '{name}': time_zone {options['time_zone']!r} is not supported by the "
                           "local endpoint; buckets are UTC.")  # fmt: skip
        if options.get("offset") not in (None, 0, "0", "+0"):
            raise ApiError(400, f"Aggregation '{name}': date_histogram 'offset' is not supported by the local "
                           "endpoint.")  # fmt: skip
        calendar, fixed = options.get("calendar_interval"), options.get("fixed_interval")
        legacy = options.get("interval")
        if calendar is not None:
            if calendar not in _CALENDAR:
                raise ApiError(400, f"Aggregation '{name}': calendar_interval {calendar!r} is not one of "
                               f"{', '.join(_CALENDAR)}; use fixed_interval for multiples (\"90m\").")  # fmt: skip
            return DateInterval(unit=_CALENDAR[calendar])
        text = fixed if fixed is not None else legacy
        if text is None:
            raise ApiError(400, f"Aggregation '{name}' (date_histogram) needs calendar_interval or fixed_interval.")
        if fixed is None and text in _CALENDAR:
            return DateInterval(unit=_CALENDAR[text])
        m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(text))
        if not m or int(m.group(1)) <= 0:
            raise ApiError(400, f"Aggregation '{name}': fixed_interval {text!r} must look like 30s, 5m, 2h or 1d.")
        return DateInterval(fixed_ms=int(m.group(1)) * _FIXED_MS[m.group(2)])

    def key_sql(self, column: str) -> str:
        if self.unit:
            return f"CAST(date_trunc({lit(self.unit)}, {column}) AS BIGINT)"
        return (
            f"CAST(date_bin(INTERVAL '{self.fixed_ms} milliseconds', {column}, "
            f"TIMESTAMP '1970-01-01 00:00:00') AS BIGINT)"
        )

    def next(self, key: int) -> int:
        if self.unit in _MONTHS:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=key)
            months = moment.month - 1 + _MONTHS[self.unit]
            moved = moment.replace(year=moment.year + months // 12, month=months % 12 + 1)
            return int(moved.timestamp() * 1000)
        return key + (_UNIT_MS[self.unit] if self.unit else self.fixed_ms)

    def floor(self, key: int) -> int:
        if self.unit in _MONTHS or self.unit == "week":
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=key)
            if self.unit == "week":
                day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
                return int((day - timedelta(days=day.weekday())).timestamp() * 1000)
            month = moment.month - (moment.month - 1) % _MONTHS[self.unit]
            return int(moment.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
        step = _UNIT_MS[self.unit] if self.unit else self.fixed_ms
        return key - key % step
