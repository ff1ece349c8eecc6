"""Buckets chosen by a condition rather than by a value: ``filter``, ``filters`` and ``missing``.

Each condition is a QueryDSL query compiled by the same ``QueryCompiler`` as the
search itself (so the caller's field rules apply to it too) and rendered as a
predicate over the aggregation's rows ``t``. ``filter`` and ``missing`` make one
bucket (key 0); ``filters`` may overlap, so like ``range`` its buckets come from
a cross join with the filter indexes, plus an ``other_bucket`` for rows
matching none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.compile import QueryCompiler
from infino_mcp.local.querydsl.sqltree import ROWS, TextLeaf, boolean, call, column, name, number, select

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg
    from infino_mcp.local.querydsl.fields import Fields

OTHER = "_other_"


def query_predicate(query: Any, fields: Fields, table: str) -> exp.Expr:
    """``query`` (filter context) as an SQL predicate over the rows ``t`` of ``table``."""
    compiled = QueryCompiler(fields).compile(query, scoring=False)

    def matches(leaf: TextLeaf) -> exp.Expr:
        # The matches as one uncorrelated array: unlike IN (subquery), it is allowed under CASE, OR and NOT.
        # array_has stays the engine's function: sqlglot's ArrayContains would render "= ANY(...)".
        found = exp.Subquery(this=select([exp.ArrayAgg(this=name("_id"))], leaf.source("token_match", table)))
        return call("array_has", found, name("_id", ROWS))

    return exp.Coalesce(this=compiled.pred.resolve(matches), expressions=[boolean(False)])


def parse_filters(agg: Agg, fields: Fields, table: str) -> None:
    """Fill ``agg.filters`` with (key, predicate) for a ``filter`` or ``filters`` aggregation."""
    if agg.kind == "filter":
        agg.filters = [("0", query_predicate(agg.spec, fields, table))]
        return
    given = agg.spec.get("filters")
    if isinstance(given, dict):
        named = list(given.items())
    elif isinstance(given, list):
        named = [(str(i), q) for i, q in enumerate(given)]
    else:
        raise ApiError(400, f'Aggregation \'{agg.name}\' (filters) needs "filters": {{"name": query, ...}} or '
                       "[query, ...].")  # fmt: skip
    unknown = set(agg.spec) - {"filters", "other_bucket", "other_bucket_key", "keyed"}
    if unknown:
        raise ApiError(400, f"Aggregation '{agg.name}' (filters) option '{sorted(unknown)[0]}' is not supported; "
                       "supported: filters, other_bucket, other_bucket_key, keyed.")  # fmt: skip
    agg.filters = [(name, query_predicate(q, fields, table)) for name, q in named]
    other = agg.spec.get("other_bucket_key")
    if agg.spec.get("other_bucket") or other is not None:
        if other is not None and not isinstance(other, str):
            raise ApiError(400, f"Aggregation '{agg.name}': other_bucket_key is a string.")
        none_match = exp.or_(*(pred.copy() for _, pred in agg.filters), copy=False) if agg.filters else boolean(False)
        agg.filters.append((other or OTHER, exp.Not(this=exp.Paren(this=none_match))))


def selected_key_sql(agg: Agg) -> exp.Expr:
    if agg.kind == "missing":
        if agg.field is None:
            return number(0)  # a field the dataset lacks is missing from every document
        return exp.Case(ifs=[exp.If(this=exp.Is(this=column(agg.field.column), expression=exp.null()), true=number(0))])
    if agg.kind == "filter":
        return exp.Case(ifs=[exp.If(this=agg.filters[0][1].copy(), true=number(0))])
    return name("idx", f"f_{agg.alias}")


def filters_join(agg: Agg) -> tuple[exp.Expr, exp.Expr]:
    """The filter indexes to cross join with, and the condition tying each row to the filters it matches."""
    indexes = exp.values([(i,) for i in range(len(agg.filters))], alias=f"f_{agg.alias}", columns=["idx"])
    parts = [exp.and_(exp.EQ(this=name("idx", f"f_{agg.alias}"), expression=number(i)), pred.copy(), copy=False)
             for i, (_, pred) in enumerate(agg.filters)]  # fmt: skip
    return indexes, exp.Paren(this=exp.or_(*parts, copy=False))


def named(agg: Agg) -> bool:
    return isinstance(agg.spec.get("filters"), dict)


def shape_selected(agg: Agg, counts: dict[Any, int]) -> dict:
    """The single bucket of filter/missing, or the buckets of filters (keyed by name when they are named)."""
    if agg.kind in ("filter", "missing"):
        return {"doc_count": counts.get(0, 0), "__k": 0}
    buckets = []
    for i, (key, _) in enumerate(agg.filters):
        bucket: dict[str, Any] = {"doc_count": counts.get(i, 0), "__k": i}
        buckets.append((key, bucket))
    if named(agg) and agg.spec.get("keyed", True) is not False:
        return {"buckets": dict(buckets)}
    if named(agg):
        return {"buckets": [{"key": key, **bucket} for key, bucket in buckets]}
    return {"buckets": [bucket for _, bucket in buckets]}
