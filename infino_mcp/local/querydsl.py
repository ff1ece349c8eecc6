"""QueryDSL search over a dataset's engine table, answered in Elasticsearch's shape.

``search`` compiles the body (see ``querydsl_compile`` for queries and
``querydsl_aggs`` for aggregations) into engine SQL and runs the hits, the
total count and the aggregations concurrently:

* a scored full-text clause every hit must match drives the query: the hits
  come straight from ``bm25_search`` (with ``k = from + size`` when nothing
  else filters or ranks, else a large ``k``, because ``k`` is applied before
  WHERE), the count and aggregations from ``token_match``;
* other scored full-text clauses are BM25 sources LEFT JOINed on ``_id``;
  filter-context ones are ``_id IN (SELECT _id FROM token_match(...))``;
* ``_source`` is the stored original document; field-level rules of the
  caller are applied to every hit and hidden fields cannot be queried.

``where_sql`` renders a query as a plain predicate for ``table.delete``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import pyarrow as pa

from infino_mcp.local.http import ApiError
from infino_mcp.local.querydsl_aggs import parse_aggs, run_aggregations
from infino_mcp.local.querydsl_compile import Compiled, QueryCompiler, unsupported
from infino_mcp.local.querydsl_source import SourceFilter, SortSpec, parse_sort, sort_value
from infino_mcp.local.querydsl_sql import Fields, Pred, TextLeaf, ident

if TYPE_CHECKING:
    from infino_mcp.local.catalog import DatasetInfo
    from infino_mcp.local.services import Services

#: k for BM25 sources that must return every match (k is applied before WHERE).
ALL_MATCHES_K = 1_000_000_000
MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL = 10_000
TOP_LEVEL_KEYS = (
    "query", "from", "size", "sort", "_source", "track_total_hits", "aggs", "aggregations", "track_scores",
    "min_score", "post_filter", "timeout",
)  # fmt: skip


@dataclass
class Plan:
    """How one search's SQL is put together (see the module docstring)."""

    table: str
    pred: Pred
    score: Pred | None  # None: constant score ``const``
    const: float
    driver: TextLeaf | None
    joined: list[TextLeaf]

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
        return ident(self.table) + " AS t"


async def search(services: Services, dataset: str, body: dict, *, principal: Any = None) -> dict:
    """Run a QueryDSL search ``body`` on ``dataset``; an Elasticsearch-shaped response."""
    started = time.perf_counter()
    if not isinstance(body, dict):
        raise ApiError(400, "The QueryDSL body must be a JSON object such as {\"query\": {\"match_all\": {}}}.")
    for key in body:
        if key not in TOP_LEVEL_KEYS:
            raise unsupported("option", key, TOP_LEVEL_KEYS)
    info = await anyio.to_thread.run_sync(services.catalog.get, dataset)
    rules = services.rbac.field_rules(principal, dataset) if principal is not None else None
    fields = Fields(info, rules.readable if rules is not None and not rules.identity else None)
    offset, size = _int(body.get("from", 0), "from"), _int(body.get("size", 10), "size")
    if offset + size > MAX_RESULT_WINDOW:
        raise ApiError(400, f"from + size must be at most {MAX_RESULT_WINDOW} (got {offset + size}); "
                       "narrow the query or page with a range filter on the sort field.")  # fmt: skip
    sort = parse_sort(body.get("sort"), fields)
    track_scores = bool(body.get("track_scores")) or not sort or any(s.score for s in sort)
    compiler = QueryCompiler(fields)
    query = body.get("query") or {"match_all": {}}
    compiled = compiler.compile(query, scoring=track_scores)
    post = compiler.compile(body["post_filter"], False) if body.get("post_filter") else None
    min_score = body.get("min_score")
    plan = _plan(info.table, compiled, post, track_scores)
    aggs_spec = body.get("aggs", body.get("aggregations"))
    aggs = parse_aggs(aggs_spec, fields) if aggs_spec else []
    track = body.get("track_total_hits", DEFAULT_TRACK_TOTAL)
    source_filter = SourceFilter.parse(body.get("_source", True))

    results: dict[str, Any] = {}
    base = _plan(info.table, compiled, None, False)

    async def run_hits() -> None:
        if size > 0:
            results["hits"] = await services.engine.query(_hits_sql(plan, sort, offset, size, min_score))

    async def run_count() -> None:
        results["count"] = await _count(services, plan, min_score)

    async def run_aggs() -> None:
        where = base.where(hits=False)
        results["aggs"] = await run_aggregations(services.engine, aggs, base.count_from(), where)

    jobs = [run_hits] + ([run_aggs] if aggs else []) + ([run_count] if track is not False else [])
    await run_concurrently(jobs)
    hits = _hits(results.get("hits"), dataset, sort, track_scores, plan, source_filter, rules)
    total = results.get("count")
    response: dict[str, Any] = {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {},
    }
    if track is not False:
        response["hits"]["total"] = _total(total or 0, track)
    scores = [h["_score"] for h in hits if h["_score"] is not None]
    response["hits"]["max_score"] = max(scores) if scores else None
    response["hits"]["hits"] = hits
    if aggs_spec is not None:
        response["aggregations"] = results["aggs"]
    return response


def where_sql(query: dict, info: DatasetInfo) -> str:
    """``query`` as an engine SQL predicate over ``info``'s columns, for ``table.delete``.

    Delete predicates cannot hold subqueries, so full-text clauses become
    case-insensitive word-boundary regexes (an approximation of the tokenizer).
    """
    compiler = QueryCompiler(Fields(info), prefix="", allow_text=False)
    compiled = compiler.compile(query or {"match_all": {}}, scoring=False)
    return compiled.pred.render(lambda leaf: leaf.approx())


# ----- planning --------------------------------------------------------------------------


def _plan(table: str, compiled: Compiled, post: Compiled | None, scored: bool) -> Plan:
    pred = compiled.pred if post is None else Pred.join([compiled.pred, post.pred], "AND")
    score_expr: Pred | None = None
    const = compiled.score.const
    if scored and not compiled.score.is_const:
        score_expr = compiled.score.expr()
    refs = list(dict.fromkeys(score_expr.score_refs())) if score_expr is not None else []
    driver: TextLeaf | None = None
    required = compiled.required + (post.required if post else [])
    for leaf in required:
        if score_expr is None or leaf in refs:
            driver = leaf
            break
    joined = [leaf for leaf in refs if leaf != driver]
    return Plan(table, pred, score_expr, const, driver, joined)


def _hits_sql(plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any) -> str:
    where = plan.where(hits=True)
    ranked_by_score = not sort or (len(sort) == 1 and sort[0].score and sort[0].desc)
    if plan.driver is not None and plan.score is not None:
        exact_k = where == "TRUE" and not plan.joined and ranked_by_score and min_score is None
        k = offset + size if exact_k else ALL_MATCHES_K
        source = plan.driver.tvf("bm25_search", plan.table, k) + " AS t"
    else:
        source = plan.count_from()
    joins = "".join(
        f" LEFT JOIN (SELECT _id, score FROM {leaf.tvf('bm25_search', plan.table, ALL_MATCHES_K)}) s{i}"
        f" ON s{i}._id = t._id"
        for i, leaf in enumerate(plan.joined)
    )
    score = plan.score.render(lambda leaf: plan.leaf_sql(leaf, hits=True), plan.score_sql) if plan.score else None
    columns = [f"t.{ident('_doc_id')} AS __id", f"t.{ident('_source')} AS __source"]
    if score is not None:
        columns.append(f"CAST({score} AS DOUBLE) AS __score")
    order: list[str] = []
    for i, spec in enumerate(sort or [SortSpec(score=True)]):
        if spec.score:
            if score is not None:
                order.append(f"__score {'DESC' if spec.desc else 'ASC'}")
            continue
        if spec.doc:
            order.append(f"t._id {'DESC' if spec.desc else 'ASC'}")
            continue
        columns.append(f"{spec.sql} AS __sort{i}")
        order.append(f"__sort{i} {'DESC' if spec.desc else 'ASC'} NULLS {'FIRST' if spec.missing_first else 'LAST'}")
    order.append("t._id ASC")
    if min_score is not None and score is not None:
        where = f"({where}) AND ({score}) >= {float(min_score)!r}"
    return (
        f"SELECT {', '.join(columns)} FROM {source}{joins} WHERE {where} "
        f"ORDER BY {', '.join(order)} LIMIT {size} OFFSET {offset}"
    )


async def _count(services: Services, plan: Plan, min_score: Any) -> int:
    if min_score is not None and plan.score is not None:
        sql = _hits_sql(plan, [], 0, 2**62, min_score)
        sql = f"SELECT count(*) AS n FROM ({sql}) AS q"
    else:
        sql = f"SELECT count(*) AS n FROM {plan.count_from()} WHERE {plan.where(hits=False)}"
    table = await services.engine.query(sql)
    return int(table.column(0)[0].as_py())


def _total(count: int, track: Any) -> dict:
    if track is True:
        return {"value": count, "relation": "eq"}
    limit = _int(track, "track_total_hits")
    if count > limit:
        return {"value": limit, "relation": "gte"}
    return {"value": count, "relation": "eq"}


def _hits(
    table: pa.Table | None,
    dataset: str,
    sort: list[SortSpec],
    track_scores: bool,
    plan: Plan,
    source_filter: SourceFilter,
    rules: Any,
) -> list[dict]:
    if table is None or table.num_rows == 0:
        return []
    ids = table.column("__id").to_pylist()
    sources = table.column("__source").to_pylist()
    scores = table.column("__score").to_pylist() if "__score" in table.column_names else None
    sort_columns = [
        table.column(f"__sort{i}") if f"__sort{i}" in table.column_names else None for i in range(len(sort))
    ]
    sort_values = [sort_value(col) if col is not None else None for col in sort_columns]
    hits = []
    for row, (doc_id, raw) in enumerate(zip(ids, sources, strict=True)):
        source = json.loads(raw) if raw else {}
        if rules is not None and not rules.identity:
            source = rules.apply({"_source": source})["_source"]
        score: float | None
        if not track_scores:
            score = None
        elif scores is not None:
            score = float(scores[row])
        else:
            score = float(plan.const)
        hit: dict[str, Any] = {"_index": dataset, "_id": doc_id, "_score": score}
        filtered = source_filter.apply(source)
        if filtered is not None:
            hit["_source"] = filtered
        if sort:
            hit["sort"] = [
                (score if spec.score else row if spec.doc else values[row] if values is not None else None)
                for spec, values in zip(sort, sort_values, strict=True)
            ]
        hits.append(hit)
    return hits


async def run_concurrently(jobs: list[Callable[[], Awaitable[None]]]) -> None:
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


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(400, f"QueryDSL '{name}' must be a non-negative integer, got {value!r}.")
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"QueryDSL '{name}' must be a non-negative integer, got {value!r}.") from None
    if number < 0:
        raise ApiError(400, f"QueryDSL '{name}' must be a non-negative integer, got {value!r}.")
    return number

