"""PromQL text to a small, validated expression tree the evaluator walks.

``promql-parser`` does the parsing (syntax, function signatures, argument
types). This module converts its objects into plain dataclasses so that the
evaluator and the fetch planner share one tree whose nodes keep their identity
(each selector gets a ``key`` the fetched series are stored under), and so that
every feature we do not evaluate is refused with a 400 naming it *before* any
data is read.

Times are integer milliseconds throughout, as in Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import promql_parser as pp

from infino_mcp.limits import LimitError, check_promql
from infino_mcp.local.promql.funcs import SUPPORTED_FUNCTIONS
from infino_mcp.local.promql.values import PromQLError, compile_regex

DEFAULT_LOOKBACK_MS = 5 * 60 * 1000
_EXPERIMENTAL = frozenset(
    {
        "double_exponential_smoothing",
        "histogram_quantiles",
        "info",
        "min_of",
        "max_of",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
        "ts_of_min_over_time",
        "ts_of_max_over_time",
        "start",
        "end",
        "range",
        "step",
        "start_timestamp",
    }
)

AGGREGATIONS = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "limitk",
        "limit_ratio",
    }
)


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """One ``name op "value"`` matcher; regexes are fully anchored like Prometheus."""

    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str
    regex: Any = None  # a compiled RE2 pattern (promql_values.compile_regex)

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True, slots=True)
class At:
    """An ``@`` modifier: a fixed time, or the query's start or end."""

    kind: str  # "at" | "start" | "end"
    ms: int = 0


@dataclass(eq=False, slots=True)
class Selector:
    """An instant vector selector. ``matchers`` include ``__name__`` when a name was written."""

    key: int
    matchers: tuple[LabelMatcher, ...]
    or_groups: tuple[tuple[LabelMatcher, ...], ...] = ()
    offset_ms: int = 0
    at: At | None = None
    text: str = ""

    def matches(self, labels: dict[str, str]) -> bool:
        if not all(m.matches(labels) for m in self.matchers):
            return False
        return not self.or_groups or any(all(m.matches(labels) for m in g) for g in self.or_groups)

    def metric_name(self) -> str | None:
        """The metric name when an equality matcher fixes it (lets the store filter in SQL)."""
        for m in self.matchers:
            if m.name == "__name__" and m.op == "=":
                return m.value
        return None


@dataclass(eq=False, slots=True)
class MatrixSel:
    selector: Selector
    range_ms: int


@dataclass(eq=False, slots=True)
class Subquery:
    expr: Node
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At | None = None


@dataclass(eq=False, slots=True)
class Num:
    value: float


@dataclass(eq=False, slots=True)
class Str:
    value: str


@dataclass(eq=False, slots=True)
class Neg:
    expr: Node


@dataclass(eq=False, slots=True)
class Call:
    name: str
    args: list[Node]


@dataclass(eq=False, slots=True)
class Agg:
    op: str
    expr: Node
    param: Node | None = None
    by: tuple[str, ...] | None = None
    without: tuple[str, ...] | None = None


@dataclass(eq=False, slots=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    on: tuple[str, ...] | None = None
    ignoring: tuple[str, ...] | None = None
    card: str = "one-to-one"  # one-to-one | many-to-one | one-to-many | many-to-many
    include: tuple[str, ...] = ()


Node = Selector | MatrixSel | Subquery | Num | Str | Neg | Call | Agg | Binary


@dataclass(slots=True)
class Parsed:
    """A converted query: the root node and every selector it reads."""

    root: Node
    selectors: list[Selector] = field(default_factory=list)


def parse(query: str) -> Parsed:
    """Parse and convert ``query``; PromQLError(400) for syntax errors and unsupported features."""
    if not query or not query.strip():
        raise PromQLError("The 'query' parameter is empty; send a PromQL expression such as up or rate(x[5m]).")
    try:
        check_promql(query)
    except LimitError as exc:
        raise PromQLError(str(exc)) from None
    try:
        expr = pp.parse(query)
    except ValueError as exc:
        raise PromQLError(f'invalid parameter "query": parse error: {exc}') from None
    parsed = Parsed(root=Num(0.0))
    parsed.root = _convert(expr, parsed)
    return parsed


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return round(delta / timedelta(milliseconds=1))


def _at(at: pp.AtModifier | None) -> At | None:
    if at is None:
        return None
    if at.type == pp.AtModifierType.Start:
        return At("start")
    if at.type == pp.AtModifierType.End:
        return At("end")
    stamp: datetime | None = at.at
    assert stamp is not None
    return At("at", round(stamp.timestamp() * 1000))


# The parser's enum members are not hashable: key the tables by their printed names.
_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def _matcher(m: pp.Matcher) -> LabelMatcher:
    op = _OPS[str(m.op)]
    regex = None
    if op in ("=~", "!~"):
        regex = compile_regex(m.value, f"for label {m.name!r}")
    return LabelMatcher(m.name, op, m.value, regex)


def _selector(vs: pp.VectorSelector, parsed: Parsed) -> Selector:
    matchers = [_matcher(m) for m in vs.matchers.matchers]
    if vs.name is not None:
        matchers.insert(0, LabelMatcher("__name__", "=", vs.name))
    groups = tuple(tuple(_matcher(m) for m in g) for g in vs.matchers.or_matchers)
    sel = Selector(
        key=len(parsed.selectors),
        matchers=tuple(matchers),
        or_groups=groups,
        offset_ms=_ms(vs.offset),
        at=_at(vs.at),
        text=str(vs),
    )
    parsed.selectors.append(sel)
    return sel


def _labels(modifier_labels: list[str]) -> tuple[str, ...]:
    return tuple(modifier_labels)


_CARD = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}


def _binary(expr: pp.BinaryExpr, parsed: Parsed) -> Binary:
    node = Binary(op=str(expr.op).strip(), lhs=_convert(expr.lhs, parsed), rhs=_convert(expr.rhs, parsed))
    mod = expr.modifier
    if mod is None:
        return node
    node.return_bool = bool(mod.return_bool)
    node.card = _CARD[str(mod.card)]
    if mod.matching is not None:
        names = _labels(mod.matching.labels)
        if mod.matching.type == pp.LabelModifierType.Include:
            node.on = names
        else:
            node.ignoring = names
    node.include = tuple(mod.group_labels or ())
    fill = mod.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise PromQLError("binary operator fill modifiers (fill/fill_left/fill_right) are not supported")
    return node


def _aggregate(expr: pp.AggregateExpr, parsed: Parsed) -> Agg:
    op = str(expr.op).strip()
    if op not in AGGREGATIONS:
        raise PromQLError(f"aggregation {op!r} is not supported; supported: {', '.join(sorted(AGGREGATIONS))}")
    node = Agg(op=op, expr=_convert(expr.expr, parsed))
    if expr.param is not None:
        node.param = _convert(expr.param, parsed)
    if expr.modifier is not None:
        names = _labels(expr.modifier.labels)
        if expr.modifier.type == pp.AggModifierType.By:
            node.by = names
        else:
            node.without = names
    return node


def _convert(expr: pp.Expr, parsed: Parsed) -> Node:
    if isinstance(expr, pp.ParenExpr):
        return _convert(expr.expr, parsed)
    if isinstance(expr, pp.NumberLiteral):
        return Num(float(expr.val))
    if isinstance(expr, pp.StringLiteral):
        return Str(expr.val)
    if isinstance(expr, pp.VectorSelector):
        return _selector(expr, parsed)
    if isinstance(expr, pp.MatrixSelector):
        return MatrixSel(_selector(expr.vector_selector, parsed), _ms(expr.range))
    if isinstance(expr, pp.UnaryExpr):
        inner = _convert(expr.expr, parsed)
        if isinstance(inner, Num):
            return Num(-inner.value)
        return Neg(inner)
    if isinstance(expr, pp.BinaryExpr):
        return _binary(expr, parsed)
    if isinstance(expr, pp.AggregateExpr):
        return _aggregate(expr, parsed)
    if isinstance(expr, pp.Call):
        name = expr.func.name
        if name not in SUPPORTED_FUNCTIONS:
            if name in _EXPERIMENTAL:
                raise PromQLError(
                    f"function {name!r} is experimental in Prometheus (promql-experimental-functions) and not "
                    "supported by the local endpoint"
                )
            raise PromQLError(f"function {name!r} is not supported by the local endpoint")
        return Call(name, [_convert(a, parsed) for a in expr.args])
    if isinstance(expr, pp.SubqueryExpr):
        step = _ms(expr.step) if expr.step is not None else None
        return Subquery(_convert(expr.expr, parsed), _ms(expr.range), step or None, _ms(expr.offset), _at(expr.at))
    raise PromQLError(f"expression {type(expr).__name__} is not supported")
