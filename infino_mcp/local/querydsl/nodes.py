"""The pieces QueryDSL clauses compile into (``Compiled``: a predicate, a ``Score``)
and the option parsing every clause shares (``boost``, ``minimum_should_match``,
``{"field": value}`` vs ``{"field": {...}}``, unknown options)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.fields import as_float
from infino_mcp.local.querydsl.sqltree import Pred, TextLeaf, number, paren, total, when


def unsupported(kind: str, name: str, supported: tuple[str, ...]) -> ApiError:
    return ApiError(
        400, f"QueryDSL {kind} '{name}' is not supported by the local endpoint; supported: {', '.join(supported)}."
    )


@dataclass
class Score:
    """A score: a constant plus SQL terms summed; ``gated`` when it is already 0 for non-matching rows."""

    const: float = 0.0
    terms: list[Pred] = field(default_factory=list)
    gated: bool = False

    @property
    def is_const(self) -> bool:
        return not self.terms

    def plus(self, other: Score) -> Score:
        return Score(self.const + other.const, self.terms + other.terms)

    def times(self, boost: float) -> Score:
        if boost == 1.0:
            return self
        factor = number(float(boost))
        terms = [Pred(exp.Paren(this=exp.Mul(this=paren(t.tree), expression=factor))) for t in self.terms]
        return Score(self.const * boost, terms, self.gated)

    def expr(self) -> Pred:
        parts = [number(float(self.const))] if self.const or not self.terms else []
        return Pred(exp.Paren(this=total(parts + [t.tree for t in self.terms])))

    def when(self, pred: Pred) -> Score:
        """This score where ``pred`` holds, 0 elsewhere (a should clause's contribution)."""
        if self.gated or pred.is_true or (self.is_const and self.const == 0):
            return self
        if pred.is_false:
            return Score()
        return Score(0.0, [Pred(when(pred.tree, self.expr().tree, number(0.0)))], True)

    @staticmethod
    def best(scores: list[Score]) -> Score:
        if all(s.is_const for s in scores):
            return Score(max((s.const for s in scores), default=0.0))
        if len(scores) == 1:
            return scores[0]
        first, *rest = [s.expr().tree for s in scores]
        return Score(0.0, [Pred(exp.Greatest(this=first, expressions=rest))], all(s.gated for s in scores))


@dataclass
class Compiled:
    pred: Pred
    score: Score
    required: list[TextLeaf]  # text leaves every matching row satisfies
    any_of: list[TextLeaf] | None = None  # every matching row satisfies at least one of these

    def __post_init__(self) -> None:
        if self.any_of is None and self.required:
            self.any_of = [self.required[0]]


def sum_scores(scores: list[Score]) -> Score:
    total = Score()
    for s in scores:
        total = total.plus(s)
    return total


def const(pred: Pred, spec: dict, scoring: bool) -> Compiled:
    return Compiled(pred, Score(boost(spec)) if scoring else Score(), [])


def boosted(c: Compiled, spec: dict) -> Compiled:
    return Compiled(c.pred, c.score.times(boost(spec)), c.required, c.any_of)


def boost(spec: Any) -> float:
    return as_float(spec.get("boost", 1.0), "boost") if isinstance(spec, dict) else 1.0


def obj(body: Any, name: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, f"QueryDSL '{name}' takes an object, got {short(body)}.")
    return body


def field_spec(body: Any, name: str, short_key: str | None) -> tuple[str, dict]:
    """``{"field": value}`` or ``{"field": {...options}}`` -> (field, options)."""
    body = obj(body, name)
    names = [k for k in body if k not in ("boost", "_name")]
    if len(names) != 1:
        raise ApiError(400, f"QueryDSL '{name}' takes exactly one field, got {sorted(body)}.")
    spec = body[names[0]]
    if not isinstance(spec, dict):
        if short_key is None:
            raise ApiError(400, f"QueryDSL '{name}' on field '{names[0]}' takes an object of options.")
        spec = {short_key: spec}
    if "boost" in body:
        spec = {**spec, "boost": body["boost"]}
    return names[0], spec


def check_keys(spec: dict, known: set[str], name: str) -> None:
    extra = sorted(set(spec) - known)
    if extra:
        raise ApiError(
            400, f"QueryDSL '{name}' option '{extra[0]}' is not supported by the local endpoint; "
            f"supported options: {', '.join(sorted(known - {'_name'}))}."
        )  # fmt: skip


def clauses(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise ApiError(400, f"QueryDSL bool '{name}' takes a query or a list of queries, got {short(value)}.")


def min_should(value: Any, count: int, default: int) -> int:
    """Elasticsearch minimum_should_match: 2, "2", "-1", "75%", "-25%"."""
    if value is None:
        return default
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            n = int(count * abs(pct) / 100)
            n = count - n if pct < 0 else n
        else:
            n = int(text)
            n = count + n if n < 0 else n
    except ValueError:
        raise ApiError(400, f"QueryDSL minimum_should_match {value!r} is not a number or percentage.") from None
    return max(0, min(count, n))


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def run_concurrently(jobs: Sequence[Callable[[], Coroutine[Any, Any, None]]]) -> None:
    """Run ``jobs`` in one task group; a single failure surfaces as itself, not as an exception group."""
    if len(jobs) == 1:
        await jobs[0]()
        return
    try:
        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(job)
    except BaseExceptionGroup as group_error:
        errors = group_error.exceptions
        api = [e for e in errors if isinstance(e, ApiError)]
        raise (api[0] if api else errors[0]) from None
