"""The value types PromQL evaluation passes around, and their helpers.

A label set is a sorted tuple of ``(name, value)`` pairs (hashable, so it can
key dicts); ``__name__`` is an ordinary label in it. Label values that are
empty are never stored: in PromQL an empty value and an absent label are the
same thing. Times are integer milliseconds; values are floats (NaN and the
infinities included).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import re2

from infino_mcp.local.errors import ApiError

Labels = tuple[tuple[str, str], ...]
NAME = "__name__"
_STALE_BITS = 0x7FF0000000000002  # Prometheus' staleness marker: a NaN with this exact bit pattern


def is_stale(value: float) -> bool:
    """A staleness marker ends a series: selectors never return it and lookback stops at it."""
    return value != value and struct.unpack("<Q", struct.pack("<d", value))[0] == _STALE_BITS


class PromQLError(ApiError):
    """A query the endpoint cannot run; ``kind`` follows the Prometheus API's errorType
    (``bad_data`` for the caller's input, ``execution`` for failures while evaluating)."""

    def __init__(self, message: str, error_type: str = "bad_data", status: int = 400) -> None:
        super().__init__(status, message, kind=error_type)


def make_labels(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """A canonical label set: sorted by name, empty values dropped."""
    # cast: pyright cannot rule out a Mapping keyed by tuples on the Iterable side
    pairs = cast("Iterable[tuple[str, str]]", items.items() if isinstance(items, Mapping) else items)
    return tuple(sorted((k, v) for k, v in pairs if v != ""))


def drop_name(labels: Labels) -> Labels:
    return tuple(p for p in labels if p[0] != NAME)


def get_label(labels: Labels, name: str) -> str:
    for k, v in labels:
        if k == name:
            return v
    return ""


@dataclass(frozen=True, slots=True)
class Series:
    """One time series: parallel, time-ascending timestamps (ms) and values."""

    labels: Labels
    ts: list[int]
    vals: list[float]


@dataclass(slots=True)
class Sample:
    """One element of an instant vector; ``ts`` is the stored sample's time when it came
    straight from a selector (``timestamp()`` reports it), else None."""

    labels: Labels
    value: float
    ts: int | None = None


@dataclass(slots=True)
class Matrix:
    """A range vector as seen at one evaluation time: each series cut to ``(start, end]``."""

    series: list[Series]
    start: int
    end: int
    range_ms: int
    eval_ms: int = 0  # the evaluation time (``end`` moves with offset and @, this does not)


@dataclass(frozen=True, slots=True)
class Scalar:
    value: float


@dataclass(frozen=True, slots=True)
class String:
    value: str


Vector = list[Sample]
Value = Vector | Matrix | Scalar | String


def compile_regex(pattern: str, where: str) -> Any:
    """A fully anchored RE2 regular expression with Go's syntax (``.`` matches newlines), as Prometheus uses."""
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    try:
        return re2.compile(f"(?:{pattern})", options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PromQLError(f"invalid regular expression {pattern!r} {where}: {reason}") from None


def format_value(value: float) -> str:
    """A float as Prometheus prints it: shortest round-trip digits, no exponent, NaN/+Inf/-Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def format_time(ms: int) -> float | int:
    """Milliseconds as the API's seconds: an int when whole, else a float."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def check_unique(vector: Vector) -> None:
    """Prometheus refuses a result in which two elements carry the same label set."""
    seen: set[Labels] = set()
    for sample in vector:
        if sample.labels in seen:
            raise PromQLError(
                f"vector cannot contain metrics with the same labelset {labels_text(sample.labels)}; "
                "aggregate or use a matcher that keeps the series apart",
                "execution",
            )
        seen.add(sample.labels)


def labels_text(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
