"""Building blocks for compiling QueryDSL into engine SQL.

* quoting: identifiers and string literals (the engine has no bind parameters,
  so every user value goes through ``lit``/``ident``/``like_pattern``);
* ``Pred``: an SQL predicate built from text and full-text leaves, rendered
  later in the way each query needs (joined BM25 source, ``token_match``
  subquery, or a regex approximation where subqueries are not allowed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.patterns import like_pattern, regex_escape, tokens, word_regex

__all__ = ["like_pattern", "regex_escape", "tokens"]

# ----- quoting ---------------------------------------------------------------------------


def ident(name: str) -> str:
    """A double-quoted SQL identifier (any character allowed, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A single-quoted SQL string literal; the engine reads backslashes literally."""
    if "\x00" in text:
        raise ApiError(400, "QueryDSL values cannot contain the NUL character (\\u0000).")
    return "'" + text.replace("'", "''") + "'"


def num(value: float | int) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"QueryDSL number {value!r} is not finite.")
    return repr(value) if isinstance(value, float) else str(int(value))


# ----- predicates ------------------------------------------------------------------------


@dataclass(frozen=True)
class TextLeaf:
    """A full-text condition on an FTS column: the rows ``token_match`` finds."""

    column: str
    query: str  # tokens joined by spaces, no operator syntax
    mode: str  # "or" | "and"

    def tvf(self, kind: str, table: str, k: int | None = None) -> str:
        args = [lit(table), lit(self.column), lit(self.query)]
        if k is not None:
            args.append(str(k))
        if self.mode == "and":
            args.append("'and'")
        return f"{kind}({', '.join(args)})"

    def approx(self) -> str:
        """A regex approximation usable where TVFs and subqueries are not (delete predicates)."""
        words = self.query.split()
        column = ident(self.column)
        parts = [f"regexp_like({column}, {lit(word_regex(w))}, 'i')" for w in words]
        glue = " AND " if self.mode == "and" else " OR "
        return "(" + glue.join(parts) + ")" if parts else "FALSE"


@dataclass(frozen=True)
class ScoreRef:
    """The BM25 score of a ``TextLeaf`` (0 where it does not match), rendered per query."""

    leaf: TextLeaf


Part = str | TextLeaf | ScoreRef


class Pred:
    """An SQL expression made of text pieces and ``TextLeaf``/``ScoreRef`` placeholders.

    ``TRUE``/``FALSE`` are folded so trivial clauses vanish. SQL NULLs only come
    from leaves on missing values, which must count as "no match", so every NOT
    wraps its operand in ``COALESCE(..., FALSE)``.
    """

    __slots__ = ("parts",)

    def __init__(self, *parts: Part) -> None:
        self.parts: tuple[Part, ...] = parts

    @property
    def is_true(self) -> bool:
        return self.parts == ("TRUE",)

    @property
    def is_false(self) -> bool:
        return self.parts == ("FALSE",)

    def score_refs(self) -> list[TextLeaf]:
        return [p.leaf for p in self.parts if isinstance(p, ScoreRef)]

    def render(self, leaf: Callable[[TextLeaf], str], score: Callable[[TextLeaf], str] | None = None) -> str:
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, TextLeaf):
                out.append(leaf(p))
            elif score is None:
                raise ValueError("a score expression was rendered without a score source")
            else:
                out.append(score(p.leaf))
        return "".join(out)

    @staticmethod
    def join(preds: list[Pred], op: str) -> Pred:
        unit, zero = (TRUE, FALSE) if op == "AND" else (FALSE, TRUE)
        kept: list[Pred] = []
        for p in preds:
            if p.parts == zero.parts:
                return zero
            if p.parts != unit.parts:
                kept.append(p)
        if not kept:
            return unit
        if len(kept) == 1:
            return kept[0]
        parts: list[Part] = ["("]
        for i, p in enumerate(kept):
            if i:
                parts.append(f" {op} ")
            parts.extend(p.parts)
        parts.append(")")
        return Pred(*parts)

    def negate(self) -> Pred:
        if self.is_true:
            return FALSE
        if self.is_false:
            return TRUE
        return Pred("(NOT COALESCE(", *self.parts, ", FALSE))")

    def as_int(self) -> Pred:
        """1 when the predicate holds, else 0 (for minimum_should_match counting)."""
        if self.is_true:
            return Pred("1")
        if self.is_false:
            return Pred("0")
        return Pred("(CASE WHEN ", *self.parts, " THEN 1 ELSE 0 END)")


TRUE = Pred("TRUE")
FALSE = Pred("FALSE")


def at_least(preds: list[Pred], n: int) -> Pred:
    """At least ``n`` of ``preds`` hold."""
    if n <= 0:
        return TRUE
    if n > len(preds):
        return FALSE
    if n == 1:
        return Pred.join(preds, "OR")
    if n == len(preds):
        return Pred.join(preds, "AND")
    parts: list[Part] = ["(("]
    for i, p in enumerate(preds):
        if i:
            parts.append(" + ")
        parts.extend(p.as_int().parts)
    parts.append(f") >= {n})")
    return Pred(*parts)
