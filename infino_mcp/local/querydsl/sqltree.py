"""QueryDSL's engine SQL as sqlglot trees: the building blocks every clause compiles into (aggs: use these).

Columns, literals and calls are sqlglot nodes, rendered once per statement by
``sql_dialect.render``: the dialect quotes identifiers and strings, nobody escapes by
hand. What stays ours is the pattern languages inside string literals (LIKE escapes,
regular expressions: ``patterns``), which are values, not SQL.

sqlglot renders a tree as built, without adding parentheses for precedence, so a
compound operand goes through ``paren`` (``Pred`` and the score arithmetic do).
Trees share subtrees (a column, a clause used in the predicate and in the score,
the predicate in both the hits and the count statement): a node is never changed
once built. Statements are rendered without sqlglot's copy (``render(..., copy=False)``:
nothing we build is of a shape the dialect's generator rewrites in place).

``Pred`` is a predicate (or a score expression) whose full-text parts are
placeholders (``TextLeaf`` rows, their BM25 score), resolved later in the way each
query needs: a joined BM25 source, a ``token_match`` flag, or a regular expression
where subqueries are not allowed (delete predicates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.patterns import word_regex

#: The alias of the rows every QueryDSL statement reads.
ROWS = "t"

# ----- leaves ----------------------------------------------------------------------------


def column(name: str, table: str | None = ROWS) -> exp.Column:
    """The column ``name`` (any characters: always quoted), qualified by the alias ``table`` unless None."""
    qualifier = exp.to_identifier(table) if table else None
    return exp.Column(this=exp.to_identifier(name, quoted=True), table=qualifier)


def name(alias: str, table: str | None = None) -> exp.Column:
    """A name of ours (an alias such as ``__rid`` or ``_id``), unquoted, optionally qualified."""
    return exp.Column(this=exp.to_identifier(alias), table=exp.to_identifier(table) if table else None)


def string(text: str) -> exp.Literal:
    """A string literal; the NUL character is refused (the engine cuts strings there)."""
    if "\x00" in text:
        raise ApiError(400, "QueryDSL values cannot contain the NUL character (\\u0000).")
    return exp.Literal.string(text)


def number(value: float | int) -> exp.Expr:
    """A number literal (a bool becomes TRUE/FALSE); NaN and infinities are refused."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"QueryDSL number {value!r} is not finite.")
    return exp.Literal.number(repr(value) if isinstance(value, float) else int(value))


def boolean(value: bool) -> exp.Boolean:
    return exp.Boolean(this=value)


def call(function: str, *args: exp.Expr) -> exp.Anonymous:
    """A call of an engine function sqlglot has no class for (or renders as something else): kept as named."""
    return exp.Anonymous(this=function, expressions=list(args))


def table(engine_table: str, alias: str | None = ROWS) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(engine_table, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias)) if alias else None,
    )


def paren(node: exp.Expr) -> exp.Expr:
    """``node`` parenthesized unless it is atomic (a column, literal, call or parenthesized already)."""
    atomic = (exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.Func, exp.Paren, exp.Subquery, exp.Placeholder)
    if isinstance(node, atomic):  # a placeholder resolves to something atomic (see Pred.resolve)
        return node
    return exp.Paren(this=node)


def cast(node: exp.Expr, to: str) -> exp.Cast:
    """``CAST(node AS to)``; a plain type name (``DOUBLE``, ``VARCHAR``) is built without parsing it."""
    plain = exp.DType.__members__.get(to.upper())
    return exp.Cast(this=node, to=exp.DataType.build(plain if plain is not None else to))


def like(target: exp.Expr, pattern: str, *, insensitive: bool = False) -> exp.Expr:
    """``target LIKE pattern`` (``ILIKE``); ``pattern`` is LIKE syntax already (``patterns.like_pattern``)."""
    cls = exp.ILike if insensitive else exp.Like
    return exp.Paren(this=cls(this=target, expression=string(pattern)))


def regex_like(target: exp.Expr, pattern: str, *, insensitive: bool = False) -> exp.Expr:
    """Whether ``target`` matches the (Rust) regular expression ``pattern``: ``(target ~ pattern)``, ``~*``
    with ``insensitive`` (the engine's regexp_like, with flag 'i')."""
    flag = string("i") if insensitive else None
    return exp.Paren(this=exp.RegexpLike(this=target, expression=string(pattern), flag=flag))


def alias(node: exp.Expr, as_name: str) -> exp.Alias:
    """``node AS as_name`` (a name of ours, unquoted)."""
    return exp.Alias(this=node, alias=exp.to_identifier(as_name))


def ordered(node: exp.Expr, *, desc: bool, nulls_first: bool | None = None) -> exp.Ordered:
    """An ORDER BY key; ``nulls_first`` None keeps the engine's default (NULLs sort as the largest value)."""
    return exp.Ordered(this=node, desc=desc, nulls_first=desc if nulls_first is None else nulls_first)


def select(
    columns: Sequence[exp.Expr],
    source: exp.Expr,
    *,
    joins: Sequence[exp.Join] | None = None,
    where: exp.Expr | None = None,
    order: Sequence[exp.Ordered] | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> exp.Select:
    """``SELECT columns FROM source [joins] [WHERE] [ORDER BY] [LIMIT] [OFFSET]``, built directly (no parsing)."""
    node = exp.Select(expressions=list(columns), from_=exp.From(this=source))
    if joins:
        node.set("joins", list(joins))
    if where is not None:
        node.set("where", exp.Where(this=where))
    if order:
        node.set("order", exp.Order(expressions=list(order)))
    if limit is not None:
        node.set("limit", exp.Limit(expression=exp.Literal.number(limit)))
    if offset is not None:
        node.set("offset", exp.Offset(expression=exp.Literal.number(offset)))
    return node


def subquery(query: exp.Select, as_name: str) -> exp.Subquery:
    """``(query) AS as_name`` as a FROM source."""
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(as_name)))


def join(source: exp.Expr, on: exp.Expr, *, side: str = "LEFT") -> exp.Join:
    """``side JOIN source ON on`` (``LEFT``, ``FULL``)."""
    return exp.Join(this=source, side=side, on=on)


def not_null(node: exp.Expr) -> exp.Expr:
    """``(NOT node IS NULL)``."""
    return exp.Paren(this=exp.Not(this=exp.Is(this=node, expression=exp.Null())))


def is_true(node: exp.Expr) -> bool:
    return isinstance(node, exp.Boolean) and node.this is True


def is_false(node: exp.Expr) -> bool:
    return isinstance(node, exp.Boolean) and node.this is False


# ----- full-text placeholders --------------------------------------------------------------


@dataclass(frozen=True)
class TextLeaf:
    """A full-text condition on an FTS column: the rows ``token_match`` finds."""

    column: str
    query: str  # tokens joined by spaces, no operator syntax
    mode: str  # "or" | "and"

    def call(self, kind: str, engine_table: str, k: int | None = None) -> exp.Anonymous:
        """The search function ``kind`` (``token_match``, ``bm25_search``) over this leaf's rows."""
        args: list[exp.Expr] = [string(engine_table), string(self.column), string(self.query)]
        if k is not None:
            args.append(exp.Literal.number(k))
        if self.mode == "and":
            args.append(string("and"))
        return call(kind, *args)

    def source(self, kind: str, engine_table: str, k: int | None = None, *, alias: str | None = None) -> exp.Table:
        """``call`` as a FROM source."""
        return exp.Table(this=self.call(kind, engine_table, k),
                         alias=exp.TableAlias(this=exp.to_identifier(alias)) if alias else None)  # fmt: skip

    def approx(self, table: str | None = None) -> exp.Expr:
        """A regex approximation usable where TVFs and subqueries are not (delete predicates)."""
        target = column(self.column, table)
        parts = [regex_like(target, word_regex(w), insensitive=True) for w in self.query.split()]
        if not parts:
            return boolean(False)
        return paren(_chain(exp.And if self.mode == "and" else exp.Or, parts))


class LeafRows(exp.Placeholder):
    """Placeholder: the rows of a ``TextLeaf`` match (resolved per query; rendering it unresolved fails)."""

    arg_types: ClassVar[dict[str, bool]] = {"leaf": True}  # a library hook: sqlglot reads it


class LeafScore(exp.Placeholder):
    """Placeholder: the BM25 score of a ``TextLeaf`` (0 where it does not match)."""

    arg_types: ClassVar[dict[str, bool]] = {"leaf": True}  # a library hook: sqlglot reads it


def _chain(cls: type[exp.Connector], parts: list[exp.Expr]) -> exp.Expr:
    out = parts[0]
    for p in parts[1:]:
        out = cls(this=out, expression=p)
    return out


class Pred:
    """An SQL expression tree with ``TextLeaf`` placeholders: a predicate, or a score term.

    ``TRUE``/``FALSE`` are folded so trivial clauses vanish. SQL NULLs only come
    from leaves on missing values, which must count as "no match", so every NOT
    wraps its operand in ``COALESCE(..., FALSE)``.
    """

    __slots__ = ("_scanned", "tree")

    def __init__(self, tree: exp.Expr) -> None:
        self.tree = tree
        self._scanned: tuple[list[TextLeaf], list[TextLeaf], list[exp.Column]] | None = None

    @staticmethod
    def leaf(leaf: TextLeaf) -> Pred:
        return Pred(LeafRows(leaf=leaf))

    @staticmethod
    def score_of(leaf: TextLeaf) -> Pred:
        return Pred(LeafScore(leaf=leaf))

    @property
    def is_true(self) -> bool:
        return is_true(self.tree)

    @property
    def is_false(self) -> bool:
        return is_false(self.tree)

    def _scan(self) -> tuple[list[TextLeaf], list[TextLeaf], list[exp.Column]]:
        """Row leaves, score leaves and columns in tree order (depth first), found in one walk and kept
        (the tree never changes; a search asks several times)."""
        if self._scanned is None:
            rows: list[TextLeaf] = []
            scores: list[TextLeaf] = []
            columns: list[exp.Column] = []
            stack = [self.tree]
            while stack:
                node = stack.pop()
                if isinstance(node, LeafRows):
                    rows.append(node.args["leaf"])
                elif isinstance(node, LeafScore):
                    scores.append(node.args["leaf"])
                elif isinstance(node, exp.Column):
                    columns.append(node)
                children: list[exp.Expr] = []
                for value in node.args.values():
                    if isinstance(value, exp.Expr):
                        children.append(value)
                    elif type(value) is list:
                        children.extend(v for v in value if isinstance(v, exp.Expr))
                stack.extend(reversed(children))
            self._scanned = (rows, scores, columns)
        return self._scanned

    def text_leaves(self) -> list[TextLeaf]:
        """The leaves whose rows this expression tests, in the order they appear."""
        return list(self._scan()[0])

    def score_refs(self) -> list[TextLeaf]:
        """The leaves whose score this expression uses, in the order they appear."""
        return list(self._scan()[1])

    def reads_columns(self, table: str = ROWS) -> bool:
        """Whether the expression reads a column of the rows ``table`` (beyond full-text leaves)."""
        return any(c.table == table and c.this.args.get("quoted") for c in self._scan()[2])

    def resolve(
        self, leaf: Callable[[TextLeaf], exp.Expr], score: Callable[[TextLeaf], exp.Expr] | None = None
    ) -> exp.Expr:
        """The tree with every placeholder replaced: ``leaf`` for rows, ``score`` for BM25 scores.

        New nodes only on the paths to placeholders; the rest is shared with this tree (see the module
        docstring: nodes are never changed once built)."""

        def replace(node: exp.Expr) -> exp.Expr:
            if isinstance(node, LeafRows):
                return leaf(node.args["leaf"])
            if isinstance(node, LeafScore):
                if score is None:
                    raise ValueError("a score expression was resolved without a score source")
                return score(node.args["leaf"])
            args: dict[str, Any] | None = None
            for key, value in node.args.items():
                if isinstance(value, exp.Expr):
                    new: Any = replace(value)
                elif type(value) is list:
                    new = [replace(v) if isinstance(v, exp.Expr) else v for v in value]
                    if all(a is b for a, b in zip(new, value, strict=True)):
                        new = value
                else:
                    continue
                if new is not value:
                    args = args if args is not None else dict(node.args)
                    args[key] = new
            return node if args is None else type(node)(**args)

        return replace(self.tree)

    @staticmethod
    def join(preds: Iterable[Pred], op: str) -> Pred:
        conjunction = op == "AND"
        kept: list[exp.Expr] = []
        for p in preds:
            if p.is_false if conjunction else p.is_true:
                return p  # FALSE in an AND, TRUE in an OR
            if not (p.is_true if conjunction else p.is_false):
                kept.append(paren(p.tree))
        if not kept:
            return TRUE if conjunction else FALSE
        if len(kept) == 1:
            return Pred(kept[0])
        return Pred(exp.Paren(this=_chain(exp.And if conjunction else exp.Or, kept)))

    def negate(self) -> Pred:
        if self.is_true:
            return FALSE
        if self.is_false:
            return TRUE
        return Pred(exp.Paren(this=exp.Not(this=exp.Coalesce(this=self.tree, expressions=[boolean(False)]))))

    def as_int(self) -> Pred:
        """1 when the predicate holds, else 0 (for minimum_should_match counting)."""
        if self.is_true:
            return Pred(exp.Literal.number(1))
        if self.is_false:
            return Pred(exp.Literal.number(0))
        return Pred(when(self.tree, exp.Literal.number(1), exp.Literal.number(0)))


def when(condition: exp.Expr, then: exp.Expr, otherwise: exp.Expr) -> exp.Expr:
    """``(CASE WHEN condition THEN then ELSE otherwise END)``."""
    return exp.Paren(this=exp.Case(ifs=[exp.If(this=condition, true=then)], default=otherwise))


def total(terms: Iterable[exp.Expr]) -> exp.Expr:
    """The sum of ``terms`` (at least one), each parenthesized as needed."""
    items = [paren(t) for t in terms]
    out = items[0]
    for t in items[1:]:
        out = exp.Add(this=out, expression=t)
    return out


TRUE = Pred(boolean(True))
FALSE = Pred(boolean(False))


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
    count = exp.Paren(this=total(p.as_int().tree for p in preds))
    return Pred(exp.Paren(this=exp.GTE(this=count, expression=exp.Literal.number(n))))
