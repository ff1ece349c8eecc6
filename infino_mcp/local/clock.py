"""The local endpoint's one clock and timestamp format: UTC, ISO 8601 with milliseconds and ``Z``, as the service writes.

A leaf like ``errors``: every layer may import it; it imports nothing of ours.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def now_iso() -> str:
    """The current time as the service writes timestamps: ``2025-01-15T10:30:00.123Z``."""
    return iso_ms(datetime.now(UTC))


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return round(time.time() * 1000)


def parse_iso(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as an aware UTC datetime, None when ``text`` is not one."""
    if len(text) < 10 or not _ISO.fullmatch(text):
        return None
    value = text.replace(",", ".")
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"
    match = re.search(r"\.(\d+)", value)
    if match and len(match.group(1)) > 6:
        value = value[: match.start(1)] + match.group(1)[:6] + value[match.end(1) :]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_ms(value: datetime) -> str:
    """Canonical form the engine parses: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
