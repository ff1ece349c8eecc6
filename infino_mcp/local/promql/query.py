"""PromQL queries for the local endpoint: parse, fetch, evaluate, shape.

``instant_query`` and ``range_query`` return the ``data`` member of a Prometheus
HTTP API response (``{"resultType": ..., "result": ...}``). Where the samples
come from is a ``SeriesSource``: ``promql_store.EngineSource`` reads metric
datasets with engine SQL, ``MemorySource`` serves series held in memory (tests,
and any caller that already has the samples).

Supported: selectors with ``=``, ``!=``, ``=~``, ``!~`` (RE2, fully anchored),
range vectors, ``offset``, ``@``, subqueries (1m default step), the 5 minute
lookback, staleness markers, the functions in ``promql.funcs``, every
aggregation, arithmetic/comparison/set operators with ``on``/``ignoring``/
``group_left``/``group_right``/``bool``, float samples only. Results follow
Prometheus' arithmetic (``promql.stats``). Refused with a 400 naming it:
native histograms, Prometheus' experimental functions and fill modifiers.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any, Protocol

import anyio.to_thread

from infino_mcp.local.promql.evaluate import Evaluator, Window, plan_windows
from infino_mcp.local.promql.parse import (
    DEFAULT_LOOKBACK_MS,
    Agg,
    Call,
    Node,
    Parsed,
    Selector,
    parse,
)
from infino_mcp.local.promql.values import (
    Matrix,
    PromQLError,
    Scalar,
    Series,
    String,
    Value,
    check_unique,
    format_time,
    format_value,
)

MAX_POINTS_PER_SERIES = 11_000
SORTING_FUNCTIONS = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})


class SeriesSource(Protocol):
    """Where selectors read samples from."""

    async def select(self, sel: Selector, window: Window) -> list[Series]:
        """The series ``sel`` matches, cut to samples with ``window.start < ts <= window.end``."""
        ...


class MemorySource:
    """A ``SeriesSource`` over series held in memory."""

    def __init__(self, series: Iterable[Series]) -> None:
        self.series = list(series)

    async def select(self, sel: Selector, window: Window) -> list[Series]:
        out = []
        for s in self.series:
            if not sel.matches(dict(s.labels)):
                continue
            lo, hi = bisect_right(s.ts, window.start), bisect_right(s.ts, window.end)
            if hi > lo:
                out.append(Series(s.labels, s.ts[lo:hi], s.vals[lo:hi]))
        return out


async def _fetch(source: SeriesSource, parsed: Parsed, windows: dict[int, Window]) -> dict[int, list[Series]]:
    data: dict[int, list[Series]] = {}
    seen: dict[tuple[str, Window], list[Series]] = {}  # the same selector twice (x / x) is read once
    for sel in parsed.selectors:
        window = windows.get(sel.key)
        if window is None:
            data[sel.key] = []
            continue
        key = (sel.text, window)
        if key not in seen:
            seen[key] = await source.select(sel, window)
        data[sel.key] = seen[key]
    return data


def _keeps_order(root: Node) -> bool:
    """Results of the sort functions, topk() and bottomk() keep their order; others are sorted by labels."""
    return (isinstance(root, Call) and root.name in SORTING_FUNCTIONS) or (
        isinstance(root, Agg) and root.op in ("topk", "bottomk")
    )


def _shape_instant(root: Node, value: Value, time_ms: int) -> dict[str, Any]:
    stamp = format_time(time_ms)
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [stamp, format_value(value.value)]}
    if isinstance(value, String):
        return {"resultType": "string", "result": [stamp, value.value]}
    if isinstance(value, Matrix):
        series = sorted(value.series, key=lambda s: s.labels)
        return {"resultType": "matrix", "result": [_matrix_entry(s) for s in series]}
    check_unique(value)
    samples = value if _keeps_order(root) else sorted(value, key=lambda s: s.labels)
    return {
        "resultType": "vector",
        "result": [{"metric": dict(s.labels), "value": [stamp, format_value(s.value)]} for s in samples],
    }


def _matrix_entry(s: Series) -> dict[str, Any]:
    return {
        "metric": dict(s.labels),
        "values": [[format_time(t), format_value(v)] for t, v in zip(s.ts, s.vals)],
    }


async def instant_query(
    source: SeriesSource, query: str, time_ms: int, *, lookback_ms: int = DEFAULT_LOOKBACK_MS
) -> dict[str, Any]:
    """Evaluate ``query`` at ``time_ms``; the Prometheus ``data`` member (vector, scalar, matrix or string)."""
    parsed = parse(query)
    data = await _fetch(source, parsed, plan_windows(parsed.root, time_ms, time_ms, lookback_ms=lookback_ms))
    evaluator = Evaluator(data, start_ms=time_ms, end_ms=time_ms, lookback_ms=lookback_ms)

    def run() -> dict[str, Any]:
        return _shape_instant(parsed.root, evaluator.instant(parsed.root, time_ms), time_ms)

    return await anyio.to_thread.run_sync(run)


async def range_query(
    source: SeriesSource,
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    *,
    lookback_ms: int = DEFAULT_LOOKBACK_MS,
) -> dict[str, Any]:
    """Evaluate ``query`` at every step from start to end; the Prometheus ``data`` member (a matrix)."""
    if step_ms <= 0:
        raise PromQLError("zero or negative query resolution step widths are not accepted; pass a positive step")
    if end_ms < start_ms:
        raise PromQLError("end timestamp must not be before start time")
    if (end_ms - start_ms) // step_ms + 1 > MAX_POINTS_PER_SERIES:
        raise PromQLError(
            f"exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries; "
            "try decreasing the query resolution (a larger step)"
        )
    parsed = parse(query)
    data = await _fetch(source, parsed, plan_windows(parsed.root, start_ms, end_ms, lookback_ms=lookback_ms))
    evaluator = Evaluator(data, start_ms=start_ms, end_ms=end_ms, step_ms=step_ms, lookback_ms=lookback_ms)

    def run() -> dict[str, Any]:
        series = evaluator.range(parsed.root, start_ms, end_ms, step_ms)
        return {"resultType": "matrix", "result": [_matrix_entry(s) for s in series]}

    return await anyio.to_thread.run_sync(run)
