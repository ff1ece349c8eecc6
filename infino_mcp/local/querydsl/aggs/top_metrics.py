"""``top_metrics`` (the metrics of the documents with the largest or smallest sort value) and
``median_absolute_deviation``: their SQL columns inside a GROUP BY query and their Elasticsearch-shaped
results.

The median absolute deviation is exact, not a t-digest estimate: the median of each value's distance
from the median of the values (a median of an even count is the mean of the two middle values).
``top_metrics`` sorts on one field (documents without a value for it are skipped, as they have no sort
value), ``size`` at most 10 (Elasticsearch's default ``index.top_metrics_max_size``); metrics of
documents lacking the metric field are null, dates are reported as their formatted string."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.sqltree import alias, call, cast, column, name, not_null, number, ordered

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg
    from infino_mcp.local.querydsl.fields import Field, Fields

MAX_SIZE = 10


def _scalar(agg: Agg, name: Any, fields: Fields, what: str) -> Field | None:
    if not isinstance(name, str):
        raise ApiError(
            400, f'Aggregation \'{agg.name}\' (top_metrics): {what} names a field, such as {{"field": "x"}}.'
        )
    f = fields.get(name)  # hidden or masked fields are a 403 here
    if f is not None and f.kind in ("object", "array"):
        raise ApiError(400, f"Aggregation '{agg.name}' (top_metrics): '{name}' holds {f.kind}s; use single values.")
    return f


def parse_top_metrics(agg: Agg, fields: Fields) -> None:
    """Validate ``top_metrics`` and resolve its fields: ``agg.metric_fields`` and ``agg.top_sort``."""
    spec = agg.spec
    unknown = sorted(set(spec) - {"metrics", "sort", "size"})
    if unknown:
        raise ApiError(400, f"Aggregation '{agg.name}' (top_metrics) option '{unknown[0]}' is not supported; "
                       "supported: metrics, sort, size.")  # fmt: skip
    metrics = spec.get("metrics")
    metrics = [metrics] if isinstance(metrics, dict) else metrics
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, dict) for m in metrics):
        raise ApiError(400, f'Aggregation \'{agg.name}\' (top_metrics) needs "metrics": {{"field": "x"}} or a list.')
    agg.metric_fields = [(str(m.get("field")), _scalar(agg, m.get("field"), fields, "each metric")) for m in metrics]
    sort = spec.get("sort")
    sort = sort[0] if isinstance(sort, list) and len(sort) == 1 else sort
    if isinstance(sort, str):
        sort = {sort: "asc"}
    if not isinstance(sort, dict) or len(sort) != 1:
        raise ApiError(400, f'Aggregation \'{agg.name}\' (top_metrics) needs one "sort", such as {{"price": "desc"}}.')
    ((name, order),) = sort.items()
    order = order.get("order", "asc") if isinstance(order, dict) else order
    if name == "_score" or str(order).lower() not in ("asc", "desc"):
        raise ApiError(400, f"Aggregation '{agg.name}' (top_metrics): sort by a field, asc or desc "
                       "(aggregations have no scores).")  # fmt: skip
    size = spec.get("size", 1)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise ApiError(400, f"Aggregation '{agg.name}' (top_metrics): size is an integer from 1 to {MAX_SIZE}.")
    agg.top_sort = (_scalar(agg, name, fields, "sort"), str(order).lower() == "desc", size)


def _value(f: Field) -> exp.Expr:
    value = column(f.column)
    return cast(value, "BIGINT") if f.kind == "date" else value


def top_columns(agg: Agg) -> list[exp.Expr]:
    a = agg.alias
    sort_field, desc, size = agg.top_sort
    if sort_field is None:
        return [alias(exp.null(), f"{a}_s")]
    s = _value(sort_field)

    def first(value: exp.Expr) -> exp.Expr:
        """The ``size`` first values in sort order, of the rows that have a sort value."""
        order = [ordered(s.copy(), desc=desc), ordered(name("_id", "t"), desc=False)]
        in_order = exp.ArrayAgg(this=exp.Order(this=value, expressions=order))
        only = exp.Where(this=not_null(s.copy()))
        return call("array_slice", exp.Filter(this=in_order, expression=only), number(1), number(size))

    columns: list[exp.Expr] = [alias(first(s.copy()), f"{a}_s")]
    for i, (_, f) in enumerate(agg.metric_fields):
        value = _value(f) if f is not None else exp.null()
        columns.append(alias(first(value), f"{a}_m{i}"))
    return columns


def _median(values: list[float]) -> float:
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def top_result(agg: Agg, row: dict) -> dict:
    a = agg.alias
    if agg.kind == "median_absolute_deviation":
        values = sorted(row.get(a) or [])
        if not values:
            return {"value": None}
        middle = _median(values)
        return {"value": _median(sorted(abs(v - middle) for v in values))}
    sorts = row.get(f"{a}_s") or []
    top = []
    for j, sort_value in enumerate(sorts):
        metrics = {}
        for i, (field_name, f) in enumerate(agg.metric_fields):
            value = (row.get(f"{a}_m{i}") or [None] * len(sorts))[j]
            if f is not None and f.kind == "date" and value is not None:
                value = shape_key(value, "date")["key_as_string"]
            metrics[field_name] = value
        top.append({"sort": [sort_value], "metrics": metrics})
    return {"top": top}
