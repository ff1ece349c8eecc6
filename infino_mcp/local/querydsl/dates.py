"""Dates in QueryDSL: ISO-8601 strings, epoch numbers and Elasticsearch date math
(``now-1d/d``, ``2024-01-01||+1M``) as epoch milliseconds (UTC).

A ``time_zone`` (an IANA name such as ``Europe/Paris`` or an offset such as
``+05:30``, read with ``zoneinfo``) applies as in Elasticsearch: to dates
written without an offset and to date-math rounding (``/d`` is the zone's
midnight); epoch numbers and ``now`` are instants and do not move.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infino_mcp.local.clock import parse_iso
from infino_mcp.local.errors import ApiError

_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}


_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_HAS_OFFSET = re.compile(r"[Tt ][\d:.,]+(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")


def parse_zone(value: Any, where: str) -> tzinfo | None:
    """A ``time_zone`` option: None for UTC, else the zone (IANA name or fixed offset)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.upper() in ("UTC", "Z", "GMT", "ETC/UTC", "+00:00", "-00:00", "00:00", "+0000"):
        return None
    m = _OFFSET.fullmatch(text)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        if minutes >= 18 * 60 + 1:
            raise ApiError(400, f"QueryDSL {where}: time_zone offset {text!r} is out of range (-18:00..+18:00).")
        return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    try:
        if "/" not in text and not text.isalpha():
            raise ZoneInfoNotFoundError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, f"QueryDSL {where}: time_zone {text!r} is not an IANA zone (Europe/Paris) or an offset "
                       "(+05:30).") from None  # fmt: skip


def zone_name(zone: tzinfo) -> str:
    """The zone as the engine's timestamp types name it (IANA key or +hh:mm)."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None)
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def date_ms(
    value: Any, field: str, what: str, *, round_up: bool = False, fmt: str | None = None, zone: tzinfo | None = None
) -> int:
    """Epoch milliseconds of a date value: epoch number, ISO string or date math (years 1970-9999 and before)."""
    try:
        ms = _date_ms(value, field, what, round_up, fmt, zone)
    except (OverflowError, ValueError, OSError):
        ms = _MAX_MS + 1
    if not -_MAX_MS <= ms <= _MAX_MS:
        raise ApiError(400, f"QueryDSL '{what}': the date {value!r} for field '{field}' is out of range.")
    return ms


def _date_ms(value: Any, field: str, what: str, round_up: bool, fmt: str | None, zone: tzinfo | None) -> int:
    if isinstance(value, bool):
        raise ApiError(400, f"QueryDSL '{what}': {value!r} is not a date (field '{field}').")
    if isinstance(value, (int, float)):
        return int(value * 1000) if fmt == "epoch_second" else int(value)
    text = str(value).strip()
    if fmt in ("epoch_millis", "epoch_second") and re.fullmatch(r"-?\d+(\.\d+)?", text):
        number = float(text)
        return int(number * 1000) if fmt == "epoch_second" else int(number)
    if text.startswith("now"):
        anchor, rest = datetime.now(UTC), text[3:]
        if zone is not None:
            anchor = anchor.astimezone(zone)
    else:
        head, sep, rest = text.partition("||")
        if not sep:
            rest = ""
        if re.fullmatch(r"-?\d{5,}", head):
            anchor = datetime.fromtimestamp(int(head) / 1000, UTC)
        else:
            parsed = parse_iso(head) if head else None
            if parsed is None and re.fullmatch(r"\d{4}(-\d{2})?", head):
                padded = head + ("-01-01" if len(head) == 4 else "-01")
                parsed = datetime.strptime(padded, "%Y-%m-%d").replace(tzinfo=UTC)
            if parsed is None:
                raise ApiError(
                    400,
                    f"QueryDSL '{what}': {value!r} is not a date for field '{field}'; use ISO-8601 "
                    "(2024-01-31T12:00:00Z), epoch milliseconds, or date math (now-1d/d).",
                )
            if zone is not None:
                # a date without an offset is a wall time in the zone; one with an offset is an instant
                parsed = parsed.astimezone(zone) if _HAS_OFFSET.search(head) else parsed.replace(tzinfo=zone)
            anchor = parsed
    return int(_apply_math(anchor, rest, value, what, round_up).timestamp() * 1000)


def _apply_math(moment: datetime, expr: str, value: Any, what: str, round_up: bool) -> datetime:
    pos = 0
    while pos < len(expr):
        m = _MATH.match(expr, pos)
        if not m:
            raise ApiError(400, f"QueryDSL '{what}': cannot read the date math in {value!r}.")
        pos = m.end()
        if m.group(4):
            moment = _round(moment, m.group(4), round_up)
            continue
        amount = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
        unit = m.group(3)
        if unit in "yM":
            months = moment.month - 1 + amount * (12 if unit == "y" else 1)
            year, month = moment.year + months // 12, months % 12 + 1
            moment = moment.replace(year=year, month=month, day=min(moment.day, _days_in(year, month)))
        else:
            moment += timedelta(seconds=amount * _UNIT_SECONDS[unit])
    return moment


def _days_in(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _round(moment: datetime, unit: str, up: bool) -> datetime:
    if unit == "y":
        start = moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    elif unit == "M":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = _apply_math(start, "+1M", "", "", False)
    elif unit == "w":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif unit == "d":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    else:
        step = _UNIT_SECONDS[unit]
        shift = moment.utcoffset()
        offset = int(shift.total_seconds()) if shift else 0
        epoch = int(moment.timestamp()) + offset
        start = datetime.fromtimestamp(epoch - epoch % step - offset, UTC).astimezone(moment.tzinfo)
        end = start + timedelta(seconds=step)
    return end - timedelta(milliseconds=1) if up else start


def iso_from_ms(ms: int | float, zone: tzinfo | None = None) -> str:
    """ISO-8601 with milliseconds: ``Z`` in UTC, the zone's offset otherwise (as Elasticsearch prints keys)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
    if zone is None:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.astimezone(zone).isoformat(timespec="milliseconds")
