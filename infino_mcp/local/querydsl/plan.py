"""Engine SQL for one QueryDSL search: where the rows come from, how they rank.

Row sources, cheapest first:

* a *driver*: a scored full-text clause every hit must match. Hits come straight
  from ``bm25_search`` (``k = from + size`` when nothing else filters or ranks,
  else a large ``k``, because ``k`` is applied before WHERE); the count and the
  aggregations from ``token_match``.
* *candidates*: full-text clauses at least one of which every hit matches
  (``should`` of matches, ``multi_match``), when nothing else needs a column:
  their BM25 (or ``token_match``) rows FULL JOINed on ``_id``, so the table is
  never scanned and each clause's match flag and score come with the row.
* the table itself.

Other scored full-text clauses are BM25 sources LEFT JOINed on ``_id``;
filter-context ones are match flags from ``token_match`` rows LEFT JOINed on
``_id`` (``Plan.flagged``), so they nest under OR/NOT/CASE at any depth. Hits
are ranked on ``_id``, ``_doc_id`` and the sort keys first; only the page's
``_source`` is fetched afterwards (late materialization), through the
``_doc_id`` full-text index when the ids are single words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from infino_mcp.local.querydsl.compile import Compiled
from infino_mcp.local.querydsl.fields import as_float
from infino_mcp.local.querydsl.patterns import tokens
from infino_mcp.local.querydsl.source import SortSpec
from infino_mcp.local.querydsl.sqltree import (
    ROWS,
    LeafScore,
    Pred,
    TextLeaf,
    alias,
    boolean,
    cast,
    column,
    is_true,
    join,
    name,
    not_null,
    number,
    ordered,
    select,
    subquery,
    table,
)
from infino_mcp.sql_dialect import render

#: k for BM25 sources that must return every match (k is applied before WHERE).
ALL_MATCHES_K = 1_000_000_000


def _same_id(other: str) -> exp.Expr:
    """``<other>._id = t._id``."""
    return exp.EQ(this=name("_id", other), expression=name("_id", ROWS))


@dataclass
class Plan:
    """How one search's SQL is put together (see the module docstring)."""

    table: str
    pred: Pred
    score: Pred | None  # None: the constant score ``const``
    const: float
    driver: TextLeaf | None
    joined: list[TextLeaf]
    candidates: list[TextLeaf] | None = None
    flags: list[TextLeaf] = field(default_factory=list)
    _where: dict[bool, exp.Expr] = field(default_factory=dict, repr=False, compare=False)

    def raw_driver_score(self) -> bool:
        """Whether the score is exactly the driver's BM25 score (no boost, no other terms)."""
        if self.driver is None or self.score is None:
            return False
        tree = self.score.tree
        inner = tree.this if isinstance(tree, exp.Paren) else None
        return isinstance(inner, LeafScore) and inner.args["leaf"] == self.driver

    def leaf_sql(self, leaf: TextLeaf, *, hits: bool) -> exp.Expr:
        if leaf == self.driver:
            return boolean(True)
        if self.candidates and leaf in self.candidates:
            return not_null(name(f"m{self.candidates.index(leaf)}", ROWS))
        if hits and leaf in self.joined:
            return not_null(name("_id", f"s{self.joined.index(leaf)}"))
        return name(f"__f{self.flags.index(leaf)}", ROWS)

    def flagged(self, source: exp.Expr) -> exp.Expr:
        """``source`` (rows ``t``) with a match flag ``__f<i>`` per filtering leaf, from LEFT JOINs on
        ``token_match``: a flag works under OR, NOT and CASE at any depth, where the engine refuses an
        ``IN (subquery)``."""
        if not self.flags:
            return source
        joins = [
            join(subquery(select([name("_id")], leaf.source("token_match", self.table)), f"f{i}"), _same_id(f"f{i}"))
            for i, leaf in enumerate(self.flags)
        ]
        columns: list[exp.Expr] = [exp.Column(this=exp.Star(), table=exp.to_identifier(ROWS))]
        columns += [alias(not_null(name("_id", f"f{i}")), f"__f{i}") for i in range(len(self.flags))]
        return subquery(select(columns, source, joins=joins), ROWS)

    def score_sql(self, leaf: TextLeaf) -> exp.Expr:
        if leaf == self.driver:
            return name("score", ROWS)
        if self.candidates and leaf in self.candidates:
            return exp.Coalesce(this=name(f"sc{self.candidates.index(leaf)}", ROWS), expressions=[number(0.0)])
        return exp.Coalesce(this=name("score", f"s{self.joined.index(leaf)}"), expressions=[number(0.0)])

    def where(self, *, hits: bool) -> exp.Expr:
        """The predicate resolved for the hits or the count statement (once each: a search asks several times)."""
        if hits not in self._where:
            self._where[hits] = self.pred.resolve(lambda leaf: self.leaf_sql(leaf, hits=hits))
        return self._where[hits]

    def count_from(self) -> exp.Expr:
        if self.driver is not None:
            return self.flagged(self.driver.source("token_match", self.table, alias=ROWS))
        if self.candidates:
            return self.flagged(self.candidate_rows(scored=False))
        return self.flagged(table(self.table))

    def candidate_rows(self, *, scored: bool) -> exp.Expr:
        """Rows matching any candidate: ``_id``, match flags ``m<i>`` and (scored) BM25 scores ``sc<i>``."""
        candidates = self.candidates
        assert candidates
        refs = set(self.score.score_refs()) if scored and self.score is not None else set()
        sources: exp.Expr | None = None
        joins: list[exp.Join] = []
        columns: list[exp.Expr] = []
        for i, leaf in enumerate(candidates):
            wanted: list[exp.Expr] = [name("_id")]
            if leaf in refs:
                wanted.append(name("score"))
                found = leaf.source("bm25_search", self.table, ALL_MATCHES_K)
                columns.append(alias(name("score", f"c{i}"), f"sc{i}"))
            else:
                found = leaf.source("token_match", self.table)
                columns.append(alias(cast(exp.Null(), "FLOAT"), f"sc{i}"))
            if scored:
                wanted.append(column("_doc_id", None))
            sub = subquery(select(wanted, found), f"c{i}")
            columns.append(alias(name("_id", f"c{i}"), f"m{i}"))
            if i == 0:
                sources = sub
            else:
                earlier = [name("_id", f"c{j}") for j in range(i)]
                key = exp.Coalesce(this=earlier[0], expressions=earlier[1:]) if i > 1 else earlier[0]
                joins.append(join(sub, exp.EQ(this=name("_id", f"c{i}"), expression=key), side="FULL"))

        def first(pick: Callable[[str], exp.Expr]) -> exp.Expr:
            values = [pick(f"c{i}") for i in range(len(candidates))]
            return exp.Coalesce(this=values[0], expressions=values[1:]) if len(values) > 1 else values[0]

        if scored:
            columns.append(exp.Alias(this=first(lambda c: column("_doc_id", c)),
                                     alias=exp.to_identifier("_doc_id", quoted=True)))  # fmt: skip
        assert sources is not None
        rows = select([alias(first(lambda c: name("_id", c)), "_id"), *columns], sources, joins=joins)
        return subquery(rows, ROWS)


def build_plan(table: str, compiled: Compiled, post: Compiled | None, *, scored: bool, columns_needed: bool) -> Plan:
    """``columns_needed``: the caller reads table columns beyond the predicate (aggregations, field sorts)."""
    pred = compiled.pred if post is None else Pred.join([compiled.pred, post.pred], "AND")
    score_expr = compiled.score.expr() if scored and not compiled.score.is_const else None
    refs = list(dict.fromkeys(score_expr.score_refs())) if score_expr is not None else []
    driver: TextLeaf | None = None
    for leaf in compiled.required + (post.required if post else []):
        if score_expr is None or leaf in refs:
            driver = leaf
            break
    needs_columns = columns_needed or pred.reads_columns()
    candidates = None
    if driver is None and compiled.any_of and not needs_columns:
        candidates = list(dict.fromkeys(compiled.any_of))
    joined = [leaf for leaf in refs if leaf != driver and leaf not in (candidates or ())]
    leaves = pred.text_leaves() + (score_expr.text_leaves() if score_expr is not None else [])
    flags = [leaf for leaf in leaves if leaf != driver and leaf not in (candidates or ())]
    return Plan(table, pred, score_expr, compiled.score.const, driver, joined, candidates, list(dict.fromkeys(flags)))


def is_plain_top_k(plan: Plan, sort: list[SortSpec], min_score: Any) -> bool:
    """Whether the page is just the BM25 driver's top ``from + size`` (nothing else filters or ranks)."""
    ranked_by_score = not sort or (len(sort) == 1 and sort[0].score and sort[0].desc)
    return (
        plan.driver is not None
        and plan.score is not None
        and not plan.joined
        and ranked_by_score
        and min_score is None
        and is_true(plan.where(hits=True))
    )


def hits_sql(
    plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any, *, materialize: bool = True
) -> str:
    """The page of hits: ``__rid`` (row id), ``__id``, ``__score`` (when scored), ``__sort<i>``, and
    ``__source`` when the rows come straight from a BM25 driver; otherwise ``fetch_sql`` gets the sources.

    Without ``materialize`` only ``__rid`` and the ranking columns come back (for counting).
    """
    return render(_hits_select(plan, sort, offset, size, min_score, materialize=materialize), copy=False)


def _hits_select(
    plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any, *, materialize: bool
) -> exp.Select:
    where = plan.where(hits=True)
    score = plan.score.resolve(lambda leaf: plan.leaf_sql(leaf, hits=True), plan.score_sql) if plan.score else None
    if min_score is not None and score is not None:
        enough = exp.GTE(this=exp.Paren(this=score), expression=number(as_float(min_score, "min_score")))
        where = exp.And(this=exp.Paren(this=where), expression=enough)
    direct = plan.driver is not None and plan.score is not None
    if direct:
        assert plan.driver is not None
        k = offset + size if is_plain_top_k(plan, sort, min_score) else ALL_MATCHES_K
        source = plan.flagged(plan.driver.source("bm25_search", plan.table, k, alias=ROWS))
    elif plan.candidates:
        source = plan.flagged(plan.candidate_rows(scored=True))
    else:
        source = plan.count_from()
    joins = [
        join(
            subquery(
                select([name("_id"), name("score")], leaf.source("bm25_search", plan.table, ALL_MATCHES_K)), f"s{i}"
            ),
            _same_id(f"s{i}"),
        )
        for i, leaf in enumerate(plan.joined)
    ]
    columns: list[exp.Expr] = [alias(name("_id", ROWS), "__rid")]
    if materialize:
        columns.append(alias(column("_doc_id"), "__id"))
    if score is not None:
        columns.append(alias(cast(score, "DOUBLE"), "__score"))
    order: list[exp.Ordered] = []
    for i, spec in enumerate(sort or [SortSpec(score=True)]):
        if spec.score:
            if score is not None:
                order.append(ordered(name("__score"), desc=spec.desc))
        elif spec.doc:
            order.append(ordered(name("__rid"), desc=spec.desc))
        else:
            assert spec.key is not None
            columns.append(alias(spec.key, f"__sort{i}"))
            order.append(ordered(name(f"__sort{i}"), desc=spec.desc, nulls_first=spec.missing_first))
    order.append(ordered(name("__rid"), desc=False))
    if direct and materialize:
        columns.append(alias(column("_source"), "__source"))
    return select(columns, source, joins=joins, where=where, order=order, limit=size, offset=offset)


def fetch_sql(engine_table: str, rids: list[Any], doc_ids: list[str], *, by_token: bool = True) -> str:
    """``_id`` and ``_source`` of the rows ``rids`` (whose document ids are ``doc_ids``)."""
    words = [tokens(doc_id) for doc_id in doc_ids]
    source: exp.Expr
    if by_token and all(len(w) == 1 and w[0] == doc_id for w, doc_id in zip(words, doc_ids, strict=True)):
        # Each id is one word of the _doc_id index: a token lookup instead of a table scan.
        source = TextLeaf("_doc_id", " ".join(dict.fromkeys(doc_ids)), "or").source("token_match", engine_table)
    else:
        source = table(engine_table, None)
    wanted = exp.In(this=name("_id"), expressions=[number(int(rid)) for rid in rids])
    columns: list[exp.Expr] = [alias(name("_id"), "__rid"), alias(column("_source", None), "__source")]
    return render(select(columns, source, where=wanted), copy=False)


def count_sql(plan: Plan, min_score: Any) -> str:
    counted = [alias(exp.Count(this=exp.Star()), "n")]
    if min_score is not None and plan.score is not None:
        hits = _hits_select(plan, [], 0, 2**62, min_score, materialize=False)
        return render(select(counted, subquery(hits, "q")), copy=False)
    return render(select(counted, plan.count_from(), where=plan.where(hits=False)), copy=False)
