"""``composite``: buckets for every combination of its sources' values, in key order, paged with ``after``.

Sources are ``terms``, ``histogram`` and ``date_histogram`` (each with ``order``
asc/desc); one GROUP BY query returns the ``size`` buckets that follow the
``after`` key in that order, with the metric sub-aggregations as columns, and
``after_key`` names the last one, as Elasticsearch pages them. Documents
lacking a source's value are left out (``missing_bucket`` is refused).
``composite`` stands at the top of the tree and holds metrics only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import key_literal
from infino_mcp.local.querydsl.fields import as_int
from infino_mcp.local.querydsl.sqltree import alias, not_null, number, ordered

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

SOURCE_KINDS = ("terms", "histogram", "date_histogram")
MAX_SIZE = 10_000


def source_specs(agg: Agg) -> list[tuple[str, str, dict]]:
    """(name, kind, options) of each source, validated."""
    if agg.parent is not None:
        raise ApiError(400, f"Aggregation '{agg.name}' (composite) must be a top-level aggregation.")
    sources = agg.spec.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ApiError(400, f'Aggregation \'{agg.name}\' (composite) needs "sources": [{{"name": {{"terms": '
                       '{"field": "f"}}}, ...].')  # fmt: skip
    out = []
    for source in sources:
        if not isinstance(source, dict) or len(source) != 1:
            raise ApiError(400, f"Aggregation '{agg.name}' (composite): each source is {{name: {{type: {{...}}}}}}.")
        ((name, body),) = source.items()
        if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in SOURCE_KINDS:
            raise ApiError(400, f"Aggregation '{agg.name}' (composite) source '{name}' must be one of "
                           f"{', '.join(SOURCE_KINDS)}.")  # fmt: skip
        ((kind, options),) = body.items()
        if not isinstance(options, dict):
            raise ApiError(400, f"Aggregation '{agg.name}' (composite) source '{name}' takes an object of options.")
        if options.get("missing_bucket"):
            raise ApiError(400, f"Aggregation '{agg.name}' (composite): missing_bucket is not supported by the local "
                           "endpoint; documents without the value are left out.")  # fmt: skip
        if str(options.get("order", "asc")).lower() not in ("asc", "desc"):
            raise ApiError(400, f"Aggregation '{agg.name}' (composite) source '{name}': order is asc or desc.")
        out.append((str(name), kind, options))
    after = agg.spec.get("after")
    if after is not None and (not isinstance(after, dict) or set(after) != {n for n, _, _ in out}):
        raise ApiError(400, f"Aggregation '{agg.name}' (composite): 'after' must name every source, as the previous "
                       "page's after_key does.")  # fmt: skip
    if any(child.bucket or child.pipeline or child.kind == "top_hits" for child in agg.children):
        raise ApiError(400, f"Aggregation '{agg.name}' (composite) holds metric sub-aggregations only on the local "
                       "endpoint.")  # fmt: skip
    return out


def composite_sql(agg: Agg, keys: list[exp.Expr], rows: exp.Select, metrics: list[exp.Expr]) -> exp.Select:
    """The page of buckets: ``rows`` (a SELECT over the aggregated rows with its WHERE, no columns yet) grouped
    by the sources' ``keys``, after the ``after`` key in the sources' order."""
    specs = source_specs(agg)
    size = as_int(agg.spec.get("size", 10), f"{agg.name}.size")
    if not 0 < size <= MAX_SIZE:
        raise ApiError(400, f"Aggregation '{agg.name}' (composite): size must be between 1 and {MAX_SIZE}.")
    desc = [str(options.get("order", "asc")).lower() == "desc" for _, _, options in specs]
    conditions = [not_null(key.copy()) for key in keys]
    after = agg.spec.get("after")
    if after is not None:
        literals = [_literal(after[name], agg.name) for name, _, _ in specs]
        alternatives = []
        for i in range(len(keys)):
            same = [exp.EQ(this=keys[j].copy(), expression=literals[j].copy()) for j in range(i)]
            beyond = (exp.LT if desc[i] else exp.GT)(this=keys[i].copy(), expression=literals[i].copy())
            alternatives.append(exp.Paren(this=exp.and_(*same, beyond, copy=False)))
        conditions.append(exp.Paren(this=exp.or_(*alternatives, copy=False)))
    selects = [alias(key, f"g{i}") for i, key in enumerate(keys)]
    selects += [alias(exp.Count(this=exp.Star()), "__c"), *metrics]
    ordinals = [number(i + 1) for i in range(len(keys))]
    return (
        rows.select(*selects, copy=False)
        .where(*conditions, copy=False)
        .group_by(*ordinals, copy=False)
        .order_by(*(ordered(number(i + 1), desc=d) for i, d in enumerate(desc)), copy=False)
        .limit(size, copy=False)
    )


def _literal(value: Any, name: str) -> exp.Expr:
    if value is None or isinstance(value, (dict, list)):
        raise ApiError(400, f"Aggregation '{name}' (composite): 'after' values are single values, got {value!r}.")
    return key_literal(value)


def shape_composite(agg: Agg, rows: list[dict], key_of: list[Any]) -> dict:
    """Buckets ``{"key": {source: value}, "doc_count"}`` and the ``after_key`` of the last one; ``key_of``
    turns each source's raw SQL value into its reported key."""
    names = [name for name, _, _ in source_specs(agg)]
    buckets = []
    for row in rows:
        key = {name: key_of[i](row[f"g{i}"]) for i, name in enumerate(names)}
        buckets.append({"key": key, "doc_count": int(row["__c"]), "__row": row})
    out: dict[str, Any] = {"buckets": buckets}
    if buckets:
        out = {"after_key": dict(buckets[-1]["key"]), **out}
    return out
