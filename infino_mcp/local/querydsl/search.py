"""QueryDSL search over a dataset's engine table, answered in Elasticsearch's shape.

``search`` compiles the body (see ``querydsl_compile`` for queries and
``querydsl_aggs`` for aggregations) into engine SQL and runs the hits, the
total count and the aggregations concurrently:

* the SQL itself (row sources, BM25 joins, late materialization) is planned
  in ``querydsl_plan``; a lone scored match skips SQL and uses
  ``Engine.search_text``/``count_text`` (its native top-k search and match count);
* ``_source`` is the stored original document; field-level rules of the
  caller are applied to every hit and hidden fields cannot be queried.

``where_sql`` renders a query as a plain predicate for ``table.delete``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.hits import HitsContext
from infino_mcp.local.querydsl.aggs.parse import parse_aggs
from infino_mcp.local.querydsl.aggs.run import run_aggregations
from infino_mcp.local.querydsl.compile import QueryCompiler
from infino_mcp.local.querydsl.fields import Fields, as_float
from infino_mcp.local.querydsl.nodes import run_concurrently, unsupported
from infino_mcp.local.querydsl.plan import (
    Plan,
    build_plan,
    count_sql,
    fetch_sql,
    hits_sql,
    is_plain_top_k,
)
from infino_mcp.local.querydsl.source import (
    SortSpec,
    SourceFilter,
    parse_sort,
    sort_value,
)
from infino_mcp.local.querydsl.sqltree import is_true
from infino_mcp.sql_dialect import render

if TYPE_CHECKING:
    from infino_mcp.local.security.field_rules import FieldRules
    from infino_mcp.local.services import Services
    from infino_mcp.local.storage.catalog import DatasetInfo

MAX_RESULT_WINDOW = 10_000
_NATIVE_COLUMNS = ("_id", "_doc_id", "_source", "score")
DEFAULT_TRACK_TOTAL = 10_000
TOP_LEVEL_KEYS = (
    "query", "from", "size", "sort", "_source", "track_total_hits", "aggs", "aggregations", "track_scores",
    "min_score", "post_filter", "timeout",
)  # fmt: skip


async def search(services: Services, dataset: str, body: dict, *, principal: Any = None) -> dict:
    """Run a QueryDSL search ``body`` on ``dataset``; an Elasticsearch-shaped response."""
    started = time.perf_counter()
    if not isinstance(body, dict):
        raise ApiError(400, 'The QueryDSL body must be a JSON object such as {"query": {"match_all": {}}}.')
    for key in body:
        if key not in TOP_LEVEL_KEYS:
            raise unsupported("option", key, TOP_LEVEL_KEYS)
    info = services.catalog.get(dataset)  # cached after the first call
    rules = services.rbac.field_rules(principal, dataset) if principal is not None else None
    fields = Fields(info, rules, getattr(principal, "user", ""))
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
    min_score = as_float(body["min_score"], "min_score") if body.get("min_score") is not None else None
    columns_needed = any(not (s.score or s.doc) for s in sort)
    plan = build_plan(info.table, compiled, post, scored=track_scores, columns_needed=columns_needed)
    aggs_spec = body.get("aggs", body.get("aggregations"))
    aggs = parse_aggs(aggs_spec, fields, info.table) if aggs_spec else []
    track = body.get("track_total_hits", DEFAULT_TRACK_TOTAL)
    if track is not True and track is not False:
        track = _int(track, "track_total_hits")
    source_filter = SourceFilter.parse(body.get("_source", True))

    results: dict[str, Any] = {}
    base = build_plan(info.table, compiled, None, scored=False, columns_needed=True)

    async def run_hits() -> None:
        if size > 0:
            results["hits"] = await _page(services, plan, sort, offset, size, min_score)

    async def run_count() -> None:
        results["count"] = await _count(services, plan, min_score)

    async def run_aggs() -> None:
        where = base.where(hits=False)
        scored = compiled if track_scores else QueryCompiler(fields).compile(query, scoring=True)
        const = scored.score.const if scored.score.is_const else None
        context = HitsContext(dataset, rules, const)
        results["aggs"] = await run_aggregations(services.engine, aggs, base.count_from(), where, context)

    lone_match = (
        size > 0 and not aggs and track is not False and is_plain_top_k(plan, sort, min_score)
        and plan.raw_driver_score() and _counts_natively(plan, min_score)
    )  # fmt: skip
    if lone_match:  # the engine's top-k and count in one trip: no SQL at all
        results["hits"], results["count"] = await _top_k_page_and_count(services, plan, offset, size)
    else:
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
        response["aggregations"] = results.get("aggs", {})
    return response


def where_sql(query: dict, info: DatasetInfo, rules: FieldRules | None = None, user: str = "") -> str:
    """``query`` as an engine SQL predicate over ``info``'s columns, for ``table.delete``.

    Delete predicates cannot hold subqueries, so full-text clauses become
    case-insensitive word-boundary regexes (an approximation of the tokenizer).
    ``rules``: the caller's field rules (hidden or masked fields are refused).
    """
    compiler = QueryCompiler(Fields(info, rules, user), table=None, allow_text=False)
    compiled = compiler.compile(query or {"match_all": {}}, scoring=False)
    return render(compiled.pred.resolve(lambda leaf: leaf.approx()), copy=False)


async def _page(
    services: Services, plan: Plan, sort: list[SortSpec], offset: int, size: int, min_score: Any
) -> pa.Table:
    """The page of hits, with ``__source`` fetched for just its rows when the ranking query lacks it."""
    search_text = services.engine.search_text
    if plan.driver is not None and plan.raw_driver_score() and is_plain_top_k(plan, sort, min_score):
        return await _top_k_page(search_text, plan, offset, size)
    page = await services.engine.query(hits_sql(plan, sort, offset, size, min_score))
    if "__source" in page.column_names or page.num_rows == 0:
        return page
    rids = page.column("__rid").to_pylist()
    doc_ids = page.column("__id").to_pylist()
    sources = await _sources(services, plan.table, rids, doc_ids, by_token=True)
    missing = [i for i, rid in enumerate(rids) if rid not in sources]
    if missing:  # an id the _doc_id index does not hold as one word: look the rows up directly
        lost_rids, lost_ids = [rids[i] for i in missing], [doc_ids[i] for i in missing]
        sources.update(await _sources(services, plan.table, lost_rids, lost_ids, by_token=False))
    return page.append_column("__source", pa.array([sources.get(rid) for rid in rids], pa.large_string()))


async def _sources(services: Services, table: str, rids: list[Any], doc_ids: list[str], *, by_token: bool) -> dict:
    fetched = await services.engine.query(fetch_sql(table, rids, doc_ids, by_token=by_token))
    return dict(zip(fetched.column("__rid").to_pylist(), fetched.column("__source").to_pylist(), strict=True))


async def _top_k_page(search_text: Callable[..., Awaitable[pa.Table]], plan: Plan, offset: int, size: int) -> pa.Table:
    """A single scored match: the engine's own top-k search, without SQL planning."""
    leaf = plan.driver
    assert leaf is not None
    found = await search_text(
        plan.table, leaf.column, leaf.query, offset + size, mode=leaf.mode, projection=list(_NATIVE_COLUMNS)
    )
    return _native_page(found, offset, size)


async def _top_k_page_and_count(services: Services, plan: Plan, offset: int, size: int) -> tuple[pa.Table, int]:
    leaf = plan.driver
    assert leaf is not None
    found, count = await services.engine.search_and_count_text(
        plan.table, leaf.column, leaf.query, offset + size, mode=leaf.mode, projection=list(_NATIVE_COLUMNS)
    )
    return _native_page(found, offset, size), count


def _native_page(found: pa.Table, offset: int, size: int) -> pa.Table:
    """The engine's top-k rows as a hits page, best first (ties by row id)."""
    rows = sorted(
        zip(*(found.column(c).to_pylist() for c in _NATIVE_COLUMNS), strict=True),
        key=lambda row: (-row[3], row[0]),
    )[offset : offset + size]
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    return pa.table(
        {
            "__rid": pa.array(columns[0], pa.decimal128(38, 0)),
            "__id": pa.array(columns[1], pa.large_string()),
            "__source": pa.array(columns[2], pa.large_string()),
            "__score": pa.array([float(x) for x in columns[3]], pa.float64()),
        }
    )


def _counts_natively(plan: Plan, min_score: Any) -> bool:
    """Whether the engine's match count is the total (a lone full-text clause, nothing else filtering)."""
    return plan.driver is not None and min_score is None and is_true(plan.where(hits=False))


async def _count(services: Services, plan: Plan, min_score: Any) -> int:
    leaf = plan.driver
    if leaf is not None and _counts_natively(plan, min_score):
        return int(await services.engine.count_text(plan.table, leaf.column, leaf.query, mode=leaf.mode))
    table = await services.engine.query(count_sql(plan, min_score))
    return int(table.column(0)[0].as_py())


def _total(count: int, track: Any) -> dict:
    if track is True:
        return {"value": count, "relation": "eq"}
    if count > track:
        return {"value": track, "relation": "gte"}
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
