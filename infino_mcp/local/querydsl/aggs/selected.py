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

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.compile import QueryCompiler
from infino_mcp.local.querydsl.sqltext import ident

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg
    from infino_mcp.local.querydsl.fields import Fields

OTHER = "_other_"


def query_predicate(query: Any, fields: Fields, table: str) -> str:
    """``query`` (filter context) as an SQL predicate over the rows ``t`` of ``table``."""
    compiled = QueryCompiler(fields).compile(query, scoring=False)
    # The matches as one uncorrelated array: unlike IN (subquery), it is allowed under CASE, OR and NOT.
    sql = compiled.pred.render(
        lambda leaf: f"array_has((SELECT array_agg(_id) FROM {leaf.tvf('token_match', table)}), t._id)"
    )
    return f"COALESCE({sql}, FALSE)"


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
        none_match = " OR ".join(pred for _, pred in agg.filters) or "FALSE"
        agg.filters.append((other or OTHER, f"NOT ({none_match})"))


def selected_key_sql(agg: Agg) -> str:
    if agg.kind == "missing":
        if agg.field is None:
            return "0"  # a field the dataset lacks is missing from every document
        return f"CASE WHEN t.{ident(agg.field.column)} IS NULL THEN 0 END"
    if agg.kind == "filter":
        return f"CASE WHEN {agg.filters[0][1]} THEN 0 END"
    return f"f_{agg.alias}.idx"


def filters_join(agg: Agg) -> tuple[str, str]:
    """The cross join with the filter indexes and the condition tying each row to the filters it matches."""
    values = ", ".join(f"({i})" for i in range(len(agg.filters)))
    parts = [f"(f_{agg.alias}.idx = {i} AND {pred})" for i, (_, pred) in enumerate(agg.filters)]
    return f" CROSS JOIN (VALUES {values}) AS f_{agg.alias}(idx)", "(" + " OR ".join(parts) + ")"


def named(agg: Agg) -> bool:
    return isinstance(agg.spec.get("filters"), dict)


def shape_selected(agg: Agg, counts: dict[Any, int]) -> dict:
    """The single bucket of filter/missing, or the buckets of filters (keyed by name when they are named)."""
    if agg.kind in ("filter", "missing"):
        return {"doc_count": counts.get(0, 0), "__k": 0}
    buckets = []
    for i, (name, _) in enumerate(agg.filters):
        bucket: dict[str, Any] = {"doc_count": counts.get(i, 0), "__k": i}
        buckets.append((name, bucket))
    if named(agg) and agg.spec.get("keyed", True) is not False:
        return {"buckets": dict(buckets)}
    if named(agg):
        return {"buckets": [{"key": name, **bucket} for name, bucket in buckets]}
    return {"buckets": [bucket for _, bucket in buckets]}
