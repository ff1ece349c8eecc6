"""Pure-Python PromQL evaluation over series already in memory.

The evaluator never touches storage: the caller fetches, for every selector
of the parsed query, the series in the window ``plan_windows`` asks for, and
hands them over keyed by ``Selector.key``. A range query is evaluated as the
same instant evaluation at each step, like Prometheus does.

Window conventions (Prometheus 3): a range selector ``x[5m]`` evaluated at
``t`` sees samples with ``t - 5m < ts <= t``; an instant selector takes the
newest sample with ``t - 5m < ts <= t`` (the 5 minute lookback); ``offset``
shifts both back; ``@`` pins them to a fixed time (or the query's start/end).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from infino_mcp.local.promql import funcs
from infino_mcp.local.promql.ops import aggregate, binary
from infino_mcp.local.promql.parse import (
    DEFAULT_LOOKBACK_MS,
    Agg,
    At,
    Binary,
    Call,
    MatrixSel,
    Neg,
    Node,
    Num,
    Selector,
    Str,
    Subquery,
)
from infino_mcp.local.promql.values import (
    NAME,
    Labels,
    Matrix,
    PromQLError,
    Sample,
    Scalar,
    Series,
    String,
    Value,
    Vector,
    check_unique,
    drop_name,
    is_stale,
    make_labels,
)

DEFAULT_SUBQUERY_STEP_MS = 60_000


@dataclass(frozen=True, slots=True)
class Window:
    """Samples a selector needs: ``start < ts <= end`` (ms)."""

    start: int
    end: int

    def union(self, other: Window) -> Window:
        return Window(min(self.start, other.start), max(self.end, other.end))


def plan_windows(
    root: Node,
    start_ms: int,
    end_ms: int,
    *,
    lookback_ms: int = DEFAULT_LOOKBACK_MS,
) -> dict[int, Window]:
    """For each selector key, the sample window evaluating ``root`` at every time in [start, end] reads."""
    windows: dict[int, Window] = {}

    def pinned(at: At | None, lo: int, hi: int) -> tuple[int, int]:
        if at is None:
            return lo, hi
        fixed = {"at": at.ms, "start": start_ms, "end": end_ms}[at.kind]
        return fixed, fixed

    def add(sel: Selector, lo: int, hi: int, reach: int) -> None:
        lo, hi = pinned(sel.at, lo, hi)
        window = Window(lo - sel.offset_ms - reach, hi - sel.offset_ms)
        windows[sel.key] = windows[sel.key].union(window) if sel.key in windows else window

    def walk(node: Node, lo: int, hi: int) -> None:
        if isinstance(node, Selector):
            add(node, lo, hi, lookback_ms)
        elif isinstance(node, MatrixSel):
            add(node.selector, lo, hi, node.range_ms)
        elif isinstance(node, Subquery):
            lo, hi = pinned(node.at, lo, hi)
            walk(node.expr, lo - node.offset_ms - node.range_ms, hi - node.offset_ms)
        elif isinstance(node, Neg):
            walk(node.expr, lo, hi)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg, lo, hi)
        elif isinstance(node, Agg):
            walk(node.expr, lo, hi)
            if node.param is not None:
                walk(node.param, lo, hi)
        elif isinstance(node, Binary):
            walk(node.lhs, lo, hi)
            walk(node.rhs, lo, hi)

    walk(root, start_ms, end_ms)
    return windows


class Evaluator:
    """Evaluates converted PromQL nodes at given times over pre-fetched series."""

    def __init__(
        self,
        data: Mapping[int, list[Series]],
        *,
        start_ms: int,
        end_ms: int,
        step_ms: int | None = None,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
    ) -> None:
        self.data = data
        self.start_ms = start_ms
        self.end_ms = end_ms
        # A subquery without a step uses the default evaluation interval, whatever the range query's step.
        self.default_step_ms = DEFAULT_SUBQUERY_STEP_MS
        self.lookback_ms = lookback_ms
        self._stale: dict[int, bool] = {}  # id(series) -> whether it holds staleness markers

    def instant(self, node: Node, t: int) -> Value:
        """The value of ``node`` at time ``t`` (ms)."""
        if isinstance(node, Num):
            return Scalar(node.value)
        if isinstance(node, Str):
            return String(node.value)
        if isinstance(node, Selector):
            return self._select(node, t)
        if isinstance(node, MatrixSel):
            return self._range(node, t)
        if isinstance(node, Subquery):
            return self._subquery(node, t)
        if isinstance(node, Neg):
            inner = self.instant(node.expr, t)
            if isinstance(inner, Scalar):
                return Scalar(-inner.value)
            return [Sample(drop_name(s.labels), -s.value) for s in self._vector(inner, "unary minus")]
        if isinstance(node, Agg):
            return self._aggregate(node, t)
        if isinstance(node, Binary):
            return binary(node, self.instant(node.lhs, t), self.instant(node.rhs, t))
        if isinstance(node, Call):
            return self._call(node, t)
        raise PromQLError(f"cannot evaluate {type(node).__name__}")

    def range(self, node: Node, start_ms: int, end_ms: int, step_ms: int) -> list[Series]:
        """Evaluate at start, start+step, ... end; one series per label set, sorted by labels."""
        collected: dict[Labels, tuple[list[int], list[float]]] = {}
        for t in range(start_ms, end_ms + 1, step_ms):
            value = self.instant(node, t)
            if isinstance(value, Scalar):
                value = [Sample((), value.value)]
            elif not isinstance(value, list):
                kind = "range vector" if isinstance(value, Matrix) else "string"
                raise PromQLError(
                    f"invalid expression type {kind!r} for range query, must be a scalar or an instant vector"
                )
            check_unique(value)
            for s in value:
                ts, vals = collected.setdefault(s.labels, ([], []))
                ts.append(t)
                vals.append(s.value)
        return [Series(labels, ts, vals) for labels, (ts, vals) in sorted(collected.items())]

    def _time(self, at: At | None, t: int) -> int:
        if at is None:
            return t
        return {"at": at.ms, "start": self.start_ms, "end": self.end_ms}[at.kind]

    def _select(self, sel: Selector, t: int) -> Vector:
        when = self._time(sel.at, t) - sel.offset_ms
        out: Vector = []
        for s in self.data.get(sel.key, ()):
            i = bisect_right(s.ts, when) - 1
            if i >= 0 and s.ts[i] > when - self.lookback_ms and not is_stale(s.vals[i]):
                out.append(Sample(s.labels, s.vals[i], s.ts[i]))
        return out

    def _has_stale(self, s: Series) -> bool:
        known = self._stale.get(id(s))
        if known is None:
            known = self._stale[id(s)] = any(is_stale(v) for v in s.vals if v != v)
        return known

    def _range(self, node: MatrixSel, t: int) -> Matrix:
        sel = node.selector
        end = self._time(sel.at, t) - sel.offset_ms
        start = end - node.range_ms
        cut: list[Series] = []
        for s in self.data.get(sel.key, ()):
            lo, hi = bisect_right(s.ts, start), bisect_right(s.ts, end)
            if hi > lo:
                ts, vals = s.ts[lo:hi], s.vals[lo:hi]
                if self._has_stale(s):
                    kept = [i for i, v in enumerate(vals) if not is_stale(v)]
                    ts, vals = [ts[i] for i in kept], [vals[i] for i in kept]
                if ts:
                    cut.append(Series(s.labels, ts, vals))
        return Matrix(cut, start, end, node.range_ms, t)

    def _subquery(self, node: Subquery, t: int) -> Matrix:
        end = self._time(node.at, t) - node.offset_ms
        start = end - node.range_ms
        step = node.step_ms or self.default_step_ms
        collected: dict[Labels, tuple[list[int], list[float]]] = {}
        for ti in range((start // step + 1) * step, end + 1, step):
            value = self.instant(node.expr, ti)
            vector = [Sample((), value.value)] if isinstance(value, Scalar) else self._vector(value, "subquery")
            for s in vector:
                ts, vals = collected.setdefault(s.labels, ([], []))
                ts.append(ti)
                vals.append(s.value)
        series = [Series(labels, ts, vals) for labels, (ts, vals) in collected.items()]
        return Matrix(series, start, end, node.range_ms, t)

    def _aggregate(self, node: Agg, t: int) -> Vector:
        vector = self._vector(self.instant(node.expr, t), f"{node.op}()")
        param: float | str | None = None
        if node.param is not None:
            value = self.instant(node.param, t)
            if isinstance(value, Scalar):
                param = value.value
            elif isinstance(value, String):
                param = value.value
            else:
                raise PromQLError(f"the parameter of {node.op}() must be a scalar or a string")
        return aggregate(node, vector, param)

    @staticmethod
    def _vector(value: Value, where: str) -> Vector:
        if not isinstance(value, list):
            raise PromQLError(f"{where} expects an instant vector, got {type(value).__name__.lower()}")
        return value

    def _call(self, node: Call, t: int) -> Value:
        name = node.name
        args = [self.instant(a, t) for a in node.args]
        scalars = [a.value for a in args if isinstance(a, Scalar)]
        if name in funcs.RANGE_FUNCTIONS:
            matrix = next(a for a in args if isinstance(a, Matrix))
            fn = funcs.RANGE_FUNCTIONS[name]
            keep_name = name in funcs.KEEP_NAME_RANGE_FUNCTIONS
            out: Vector = []
            for s in matrix.series:
                value = fn(s, matrix, scalars)
                if value is not None:
                    out.append(Sample(s.labels if keep_name else drop_name(s.labels), value))
            return out
        if name == "time":
            return Scalar(t / 1000)
        if name == "pi":
            return Scalar(math.pi)
        if name == "vector":
            return [Sample((), scalars[0])]
        if name in funcs.DATE_FUNCTIONS:
            vector = self._vector(args[0], name) if args else [Sample((), t / 1000)]
            return funcs.date_function(name, vector)
        if name == "absent_over_time":
            matrix = args[0]
            assert isinstance(matrix, Matrix)
            return [] if matrix.series else [Sample(_absent_labels(node.args[0]), 1.0)]
        vector = self._vector(args[-1] if name.startswith("histogram_") else args[0], f"{name}()")
        if name == "absent":
            return [] if vector else [Sample(_absent_labels(node.args[0]), 1.0)]
        if name == "scalar":
            return Scalar(vector[0].value if len(vector) == 1 else math.nan)
        if name in funcs.MATH_FUNCTIONS:
            return funcs.map_values(vector, funcs.MATH_FUNCTIONS[name])
        if name == "round":
            nearest = scalars[0] if scalars else 1.0
            return funcs.map_values(vector, lambda v: funcs.round_to(v, nearest))
        if name == "clamp":
            return funcs.clamp(vector, scalars[0], scalars[1])
        if name == "clamp_min":
            return funcs.clamp(vector, scalars[0], math.inf)
        if name == "clamp_max":
            return funcs.clamp(vector, -math.inf, scalars[0])
        if name == "timestamp":
            return [Sample(drop_name(s.labels), (t if s.ts is None else s.ts) / 1000) for s in vector]
        if name in ("sort", "sort_desc"):
            return funcs.sort_vector(vector, name == "sort_desc")
        strings = [a.value for a in args if isinstance(a, String)]
        if name in ("sort_by_label", "sort_by_label_desc"):
            return funcs.sort_by_label(vector, strings, name == "sort_by_label_desc")
        if name == "label_replace":
            return funcs.label_replace(vector, *strings)
        if name == "label_join":
            return funcs.label_join(vector, strings[0], strings[1], strings[2:])
        if name == "histogram_quantile":
            return funcs.histogram_quantile(scalars[0], vector)
        if name == "histogram_fraction":
            return funcs.histogram_fraction(scalars[0], scalars[1], vector)
        raise PromQLError(f"function {name!r} is not supported by the local endpoint")


def _absent_labels(arg: Node) -> Labels:
    """The labels absent() reports, by Prometheus' rule: matchers in order, the first equality matcher of a
    name sets it and any later matcher of that name (or an earlier non-equality one at that point) removes it."""
    sel = arg.selector if isinstance(arg, MatrixSel) else arg
    if not isinstance(sel, Selector):
        return ()
    pairs: dict[str, str] = {}
    set_once: set[str] = set()
    for m in sel.matchers:
        if m.name == NAME:
            continue
        if m.op == "=" and m.name not in set_once:
            pairs[m.name] = m.value
            set_once.add(m.name)
        else:
            pairs.pop(m.name, None)
    return make_labels(pairs)
