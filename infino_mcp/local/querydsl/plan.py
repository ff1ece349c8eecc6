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

from dataclasses import dataclass, field
from typing import Any

from infino_mcp.local.querydsl.compile import Compiled
from infino_mcp.local.querydsl.fields import as_float
from infino_mcp.local.querydsl.source import SortSpec
from infino_mcp.local.querydsl.sqltext import Pred, ScoreRef, TextLeaf, ident, tokens

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
    flags: list[TextLeaf] = field(default_factory=list)

    def raw_driver_score(self) -> bool:
        """Whether the score is exactly the driver's BM25 score (no boost, no other terms)."""
        if self.driver is None or self.score is None:
            return False
        return self.score.parts == ("(", ScoreRef(self.driver), ")")

    def leaf_sql(self, leaf: TextLeaf, *, hits: bool) -> str:
        if leaf == self.driver:
            return "TRUE"
        if self.candidates and leaf in self.candidates:
            return f"(t.m{self.candidates.index(leaf)} IS NOT NULL)"
        if hits and leaf in self.joined:
            return f"(s{self.joined.index(leaf)}._id IS NOT NULL)"
        return f"t.__f{self.flags.index(leaf)}"

    def flagged(self, source: str) -> str:
        """``source`` (rows ``t``) with a match flag ``__f<i>`` per filtering leaf, from LEFT JOINs on
        ``token_match``: a flag works under OR, NOT and CASE at any depth, where the engine refuses an
        ``IN (subquery)``."""
        if not self.flags:
            return source
        joins = "".join(
            f" LEFT JOIN (SELECT _id FROM {leaf.tvf('token_match', self.table)}) AS f{i} ON f{i}._id = t._id"
            for i, leaf in enumerate(self.flags)
        )
        columns = ", ".join(f"(f{i}._id IS NOT NULL) AS __f{i}" for i in range(len(self.flags)))
        return f"(SELECT t.*, {columns} FROM {source}{joins}) AS t"

    def score_sql(self, leaf: TextLeaf) -> str:
        if leaf == self.driver:
            return "t.score"
        if self.candidates and leaf in self.candidates:
            return f"COALESCE(t.sc{self.candidates.index(leaf)}, 0.0)"
        return f"COALESCE(s{self.joined.index(leaf)}.score, 0.0)"

    def where(self, *, hits: bool) -> str:
        return self.pred.render(lambda leaf: self.leaf_sql(leaf, hits=hits))

    def count_from(self) -> str:
        if self.driver is not None:
            return self.flagged(self.driver.tvf("token_match", self.table) + " AS t")
        if self.candidates:
            return self.flagged(self.candidate_rows(scored=False))
        return self.flagged(ident(self.table) + " AS t")

    def candidate_rows(self, *, scored: bool) -> str:
        """Rows matching any candidate: ``_id``, match flags ``m<i>`` and (scored) BM25 scores ``sc<i>``."""
        candidates = self.candidates
        assert candidates
        refs = set(self.score.score_refs()) if scored and self.score is not None else set()
        sources, columns = "", []
        doc = f", {ident('_doc_id')}" if scored else ""
        for i, leaf in enumerate(candidates):
            if leaf in refs:
                sub = f"(SELECT _id, score{doc} FROM {leaf.tvf('bm25_search', self.table, ALL_MATCHES_K)})"
                columns.append(f"c{i}.score AS sc{i}")
            else:
                sub = f"(SELECT _id{doc} FROM {leaf.tvf('token_match', self.table)})"
                columns.append(f"CAST(NULL AS FLOAT) AS sc{i}")
            columns.append(f"c{i}._id AS m{i}")
            if i == 0:
                sources = f"{sub} AS c0"
            else:
                earlier = ", ".join(f"c{j}._id" for j in range(i))
                sources += f" FULL JOIN {sub} AS c{i} ON c{i}._id = " + (f"COALESCE({earlier})" if i > 1 else "c0._id")

        def first(column: str) -> str:
            values = ", ".join(f"c{i}.{column}" for i in range(len(candidates)))
            return f"COALESCE({values})" if len(candidates) > 1 else f"c0.{column}"

        if scored:
            columns.append(f"{first(ident('_doc_id'))} AS {ident('_doc_id')}")
        return f"(SELECT {first('_id')} AS _id, {', '.join(columns)} FROM {sources}) AS t"


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
    needs_columns = columns_needed or any(isinstance(p, str) and 't."' in p for p in pred.parts)
    candidates = None
    if driver is None and compiled.any_of and not needs_columns:
        candidates = list(dict.fromkeys(compiled.any_of))
    joined = [leaf for leaf in refs if leaf != driver and leaf not in (candidates or ())]
    parts = pred.parts + (score_expr.parts if score_expr is not None else ())
    flags = [p for p in parts if isinstance(p, TextLeaf) and p != driver and p not in (candidates or ())]
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
        and plan.where(hits=True) == "TRUE"
    )


def hits_sql(
    plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any, *, materialize: bool = True
) -> str:
    """The page of hits: ``__rid`` (row id), ``__id``, ``__score`` (when scored), ``__sort<i>``, and
    ``__source`` when the rows come straight from a BM25 driver; otherwise ``fetch_sql`` gets the sources.

    Without ``materialize`` only ``__rid`` and the ranking columns come back (for counting).
    """
    where = plan.where(hits=True)
    score = plan.score.render(lambda leaf: plan.leaf_sql(leaf, hits=True), plan.score_sql) if plan.score else None
    if min_score is not None and score is not None:
        where = f"({where}) AND ({score}) >= {as_float(min_score, 'min_score')!r}"
    direct = plan.driver is not None and plan.score is not None
    if direct:
        assert plan.driver is not None
        k = offset + size if is_plain_top_k(plan, sort, min_score) else ALL_MATCHES_K
        source = plan.flagged(plan.driver.tvf("bm25_search", plan.table, k) + " AS t")
    elif plan.candidates:
        source = plan.flagged(plan.candidate_rows(scored=True))
    else:
        source = plan.count_from()
    joins = "".join(
        f" LEFT JOIN (SELECT _id, score FROM {leaf.tvf('bm25_search', plan.table, ALL_MATCHES_K)}) AS s{i}"
        f" ON s{i}._id = t._id"
        for i, leaf in enumerate(plan.joined)
    )
    columns = ["t._id AS __rid"] + ([f"t.{ident('_doc_id')} AS __id"] if materialize else [])
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
            nulls = "FIRST" if spec.missing_first else "LAST"
            order.append(f"__sort{i} {'DESC' if spec.desc else 'ASC'} NULLS {nulls}")
    order.append("__rid ASC")
    page = f"ORDER BY {', '.join(order)} LIMIT {size} OFFSET {offset}"
    if direct and materialize:
        columns.append(f"t.{ident('_source')} AS __source")
    return f"SELECT {', '.join(columns)} FROM {source}{joins} WHERE {where} {page}"


def fetch_sql(table: str, rids: list[Any], doc_ids: list[str], *, by_token: bool = True) -> str:
    """``_id`` and ``_source`` of the rows ``rids`` (whose document ids are ``doc_ids``)."""
    wanted = ", ".join(str(rid) for rid in rids)
    words = [tokens(doc_id) for doc_id in doc_ids]
    if by_token and all(len(w) == 1 and w[0] == doc_id for w, doc_id in zip(words, doc_ids, strict=True)):
        # Each id is one word of the _doc_id index: a token lookup instead of a table scan.
        source = TextLeaf("_doc_id", " ".join(dict.fromkeys(doc_ids)), "or").tvf("token_match", table)
    else:
        source = ident(table)
    return f"SELECT _id AS __rid, {ident('_source')} AS __source FROM {source} WHERE _id IN ({wanted})"


def count_sql(plan: Plan, min_score: Any) -> str:
    if min_score is not None and plan.score is not None:
        return f"SELECT count(*) AS n FROM ({hits_sql(plan, [], 0, 2**62, min_score, materialize=False)}) AS q"
    return f"SELECT count(*) AS n FROM {plan.count_from()} WHERE {plan.where(hits=False)}"
