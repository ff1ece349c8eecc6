"""``top_hits``: the first documents of each bucket, in Elasticsearch's hits shape.

One query per ``top_hits`` aggregation ranks the rows of every bucket of its
parent path with ``row_number()`` over the requested ``sort`` (index order when
none is given) and keeps ``from``..``from + size`` of each. Sources are the
stored documents, with the caller's field rules applied and ``_source``
filtering as in a search. Ordering by relevance needs the scores of a full-text
query, which aggregations do not compute: with a scored query and no ``sort``
the aggregation is refused (give a ``sort``); with a constant-score query every
hit has that score and ties keep index order, as in Elasticsearch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.fields import as_int
from infino_mcp.local.querydsl.source import SortSpec, SourceFilter, parse_sort, sort_value
from infino_mcp.local.querydsl.sqltree import alias, column, name, number, ordered, select, subquery

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg
    from infino_mcp.local.querydsl.fields import Fields

MAX_HITS = 100
_OPTIONS = {"size", "from", "sort", "_source", "track_scores"}


@dataclass
class HitsContext:
    """What top_hits needs from the search: the dataset's name, the caller's field rules, and the score every
    matching document has (None when the query ranks by relevance)."""

    dataset: str
    rules: Any = None
    const_score: float | None = 1.0


def check_top_hits(agg: Agg, fields: Fields) -> None:
    extra = sorted(set(agg.spec) - _OPTIONS)
    if extra:
        raise ApiError(400, f"Aggregation '{agg.name}' (top_hits) option '{extra[0]}' is not supported by the "
                       f"local endpoint; supported: {', '.join(sorted(_OPTIONS))}.")  # fmt: skip
    start, size = as_int(agg.spec.get("from", 0), f"{agg.name}.from"), as_int(agg.spec.get("size", 3), "size")
    if start < 0 or size < 0 or start + size > MAX_HITS:
        raise ApiError(400, f"Aggregation '{agg.name}' (top_hits): from + size must be between 0 and {MAX_HITS}.")
    agg.sort = parse_sort(agg.spec.get("sort"), fields)
    SourceFilter.parse(agg.spec.get("_source", True))


def hits_sql(agg: Agg, keys: list[exp.Expr], rows: exp.Select, ctx: HitsContext) -> exp.Select:
    """Each bucket's top rows: keys ``g<i>``, ``__id``, ``__source``, ``__sort<i>``, ``__rn``, bucket ``__tot``;
    ``rows`` is the SELECT of the bucketed rows (FROM, joins, WHERE), without columns yet."""
    sort: list[SortSpec] = agg.sort
    if (not sort or any(s.score for s in sort)) and ctx.const_score is None:
        raise ApiError(400, f"Aggregation '{agg.name}' (top_hits) ranks by relevance, which the local endpoint "
                       "does not compute inside aggregations; give it a \"sort\" on fields.")  # fmt: skip
    order = []
    columns: list[exp.Expr] = [alias(k, f"g{i}") for i, k in enumerate(keys)]
    for i, spec in enumerate(sort):
        if spec.score:
            continue  # every hit has the same score
        if spec.doc:
            order.append(ordered(name("_id", "t"), desc=spec.desc))
            continue
        assert spec.key is not None
        columns.append(alias(spec.key.copy(), f"__sort{i}"))
        order.append(ordered(spec.key.copy(), desc=spec.desc, nulls_first=spec.missing_first))
    order.append(ordered(name("_id", "t"), desc=False))
    partition = [k.copy() for k in keys]
    columns += [
        alias(column("_doc_id"), "__id"),
        alias(column("_source"), "__source"),
        alias(exp.Window(this=exp.RowNumber(), partition_by=partition, order=exp.Order(expressions=order)), "__rn"),
        alias(exp.Window(this=exp.Count(this=exp.Star()), partition_by=[k.copy() for k in keys]), "__tot"),
    ]
    start = as_int(agg.spec.get("from", 0), "from")
    size = as_int(agg.spec.get("size", 3), "size")
    inner = rows.select(*columns, copy=False)
    after, through = (
        exp.GT(this=name("__rn"), expression=number(start)),
        exp.LTE(this=name("__rn"), expression=number(start + size)),
    )
    ranked = exp.and_(after, through, copy=False)
    return select([exp.Star()], subquery(inner, "q"), where=ranked, order=[ordered(name("__rn"), desc=False)])


def shape_hits(agg: Agg, table: Any, depth: int, ctx: HitsContext) -> dict[tuple, list[dict]]:
    """The hits of each bucket, keyed by the bucket's key path."""
    names = table.column_names
    sorts = {i: sort_value(table.column(f"__sort{i}")) for i in range(len(agg.sort)) if f"__sort{i}" in names}
    source_filter = SourceFilter.parse(agg.spec.get("_source", True))
    keys = [table.column(f"g{i}").to_pylist() for i in range(depth)]
    out: dict[tuple, list[dict]] = {}
    for row, (doc_id, raw) in enumerate(zip(table.column("__id").to_pylist(), table.column("__source").to_pylist())):
        source = json.loads(raw) if raw else {}
        if ctx.rules is not None and not ctx.rules.identity:
            source = ctx.rules.apply({"_source": source})["_source"]
        score = ctx.const_score if not agg.sort or any(s.score for s in agg.sort) else None
        hit: dict[str, Any] = {"_index": ctx.dataset, "_id": doc_id, "_score": score}
        filtered = source_filter.apply(source)
        if filtered is not None:
            hit["_source"] = filtered
        if agg.sort:
            hit["sort"] = [score if s.score else sorts[i][row] if i in sorts else None for i, s in enumerate(agg.sort)]
        out.setdefault(tuple(k[row] for k in keys), []).append(hit)
    return out


def hits_result(hits: list[dict], total: int) -> dict:
    scores = [h["_score"] for h in hits if h["_score"] is not None]
    return {"hits": {"total": {"value": total, "relation": "eq"}, "max_score": max(scores) if scores else None,
                     "hits": hits}}  # fmt: skip
