"""Engine SQL for one QueryDSL search: where the rows come from, how they rank.

Row sources, cheapest first:

* a *driver*: a scored full-text clause every hit must match. Hits come straight
  from ``bm25_search`` (``k = from + size`` when nothing else filters or ranks,
  else a large ``k``, because ``k`` is applied before WHERE); the count and the
  aggregations from ``token_match``.
* *candidates*: full-text clauses at least one of which every hit matches
  (``should`` of matches, ``multi_match``), when nothing else needs a column:
  the union of their ``token_match`` rows, so the table is never scanned.
* the table itself.

Other scored full-text clauses are BM25 sources LEFT JOINed on ``_id``;
filter-context ones are ``_id IN (SELECT _id FROM token_match(...))``. Hits
are ranked on ``_id`` plus the sort keys first and only the page's rows are
joined back for ``_source`` (late materialization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infino_mcp.local.querydsl_compile import Compiled
from infino_mcp.local.querydsl_source import SortSpec
from infino_mcp.local.querydsl_sql import Pred, TextLeaf, ident

#: k for BM25 sources that must return every match (k is applied before WHERE).
ALL_MATCHES_K = 1_000_000_000


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

    def leaf_sql(self, leaf: TextLeaf, *, hits: bool) -> str:
        if leaf == self.driver:
            return "TRUE"
        if hits and leaf in self.joined:
            return f"(s{self.joined.index(leaf)}._id IS NOT NULL)"
        return f"(t._id IN (SELECT _id FROM {leaf.tvf('token_match', self.table)}))"

    def score_sql(self, leaf: TextLeaf) -> str:
        if leaf == self.driver:
            return "t.score"
        return f"COALESCE(s{self.joined.index(leaf)}.score, 0.0)"

    def where(self, *, hits: bool) -> str:
        return self.pred.render(lambda leaf: self.leaf_sql(leaf, hits=hits))

    def count_from(self) -> str:
        if self.driver is not None:
            return self.driver.tvf("token_match", self.table) + " AS t"
        if self.candidates:
            union = " UNION ".join(f"SELECT _id FROM {leaf.tvf('token_match', self.table)}" for leaf in self.candidates)
            return f"({union}) AS t"
        return ident(self.table) + " AS t"


def build_plan(
    table: str, compiled: Compiled, post: Compiled | None, *, scored: bool, columns_needed: bool
) -> Plan:
    """``columns_needed``: the caller reads table columns beyond the predicate (aggregations, field sorts)."""
    pred = compiled.pred if post is None else Pred.join([compiled.pred, post.pred], "AND")
    score_expr = compiled.score.expr() if scored and not compiled.score.is_const else None
    refs = list(dict.fromkeys(score_expr.score_refs())) if score_expr is not None else []
    driver: TextLeaf | None = None
    for leaf in compiled.required + (post.required if post else []):
        if score_expr is None or leaf in refs:
            driver = leaf
            break
    joined = [leaf for leaf in refs if leaf != driver]
    plan = Plan(table, pred, score_expr, compiled.score.const, driver, joined)
    needs_columns = columns_needed or any(isinstance(p, str) and 't."' in p for p in pred.parts)
    if driver is None and compiled.any_of and not needs_columns:
        plan.candidates = list(dict.fromkeys(compiled.any_of))
    return plan


def hits_sql(
    plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any, *, materialize: bool = True
) -> str:
    """The page of hits: columns ``__id``, ``__source``, ``__score`` (when scored), ``__sort<i>``.

    Without ``materialize`` only the ranking columns (``__rid``, ``__score``, ``__sort<i>``) come back.
    """
    where = plan.where(hits=True)
    score = plan.score.render(lambda leaf: plan.leaf_sql(leaf, hits=True), plan.score_sql) if plan.score else None
    if min_score is not None and score is not None:
        where = f"({where}) AND ({score}) >= {float(min_score)!r}"
    ranked_by_score = not sort or (len(sort) == 1 and sort[0].score and sort[0].desc)
    direct = plan.driver is not None and plan.score is not None
    if direct:
        assert plan.driver is not None
        exact_k = where == "TRUE" and not plan.joined and ranked_by_score
        k = offset + size if exact_k else ALL_MATCHES_K
        source = plan.driver.tvf("bm25_search", plan.table, k) + " AS t"
    else:
        source = plan.count_from()
    joins = "".join(
        f" LEFT JOIN (SELECT _id, score FROM {leaf.tvf('bm25_search', plan.table, ALL_MATCHES_K)}) AS s{i}"
        f" ON s{i}._id = t._id"
        for i, leaf in enumerate(plan.joined)
    )
    columns = ["t._id AS __rid"]
    if score is not None:
        columns.append(f"CAST({score} AS DOUBLE) AS __score")
    order: list[str] = []
    for i, spec in enumerate(sort or [SortSpec(score=True)]):
        if spec.score:
            if score is not None:
                order.append(f"__score {'DESC' if spec.desc else 'ASC'}")
        elif spec.doc:
            order.append(f"__rid {'DESC' if spec.desc else 'ASC'}")
        else:
            columns.append(f"{spec.sql} AS __sort{i}")
            order.append(f"__sort{i} {'DESC' if spec.desc else 'ASC'} NULLS {'FIRST' if spec.missing_first else 'LAST'}")
    order.append("__rid ASC")
    page = f"ORDER BY {', '.join(order)} LIMIT {size} OFFSET {offset}"
    if direct and materialize:
        doc = [f"t.{ident('_doc_id')} AS __id", f"t.{ident('_source')} AS __source"]
        return f"SELECT {', '.join(doc + columns)} FROM {source}{joins} WHERE {where} {page}"
    ranked = f"SELECT {', '.join(columns)} FROM {source}{joins} WHERE {where} {page}"
    if not materialize:
        return ranked
    outer_order = ", ".join("tp." + term for term in order)
    return (
        f"SELECT d.{ident('_doc_id')} AS __id, d.{ident('_source')} AS __source, tp.* FROM ({ranked}) AS tp "
        f"JOIN {ident(plan.table)} AS d ON d._id = tp.__rid ORDER BY {outer_order}"
    )


def count_sql(plan: Plan, min_score: Any) -> str:
    if min_score is not None and plan.score is not None:
        return f"SELECT count(*) AS n FROM ({hits_sql(plan, [], 0, 2**62, min_score, materialize=False)}) AS q"
    return f"SELECT count(*) AS n FROM {plan.count_from()} WHERE {plan.where(hits=False)}"
