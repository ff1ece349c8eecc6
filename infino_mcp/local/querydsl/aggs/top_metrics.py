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

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.sqltext import ident

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


def _value(f: Field) -> str:
    column = "t." + ident(f.column)
    return f"CAST({column} AS BIGINT)" if f.kind == "date" else column


def top_columns(agg: Agg) -> list[str]:
    a = agg.alias
    sort_field, desc, size = agg.top_sort
    if sort_field is None:
        return [f"NULL AS {a}_s"]
    s = _value(sort_field)
    order = f"ORDER BY {s} {'DESC' if desc else 'ASC'}, t._id ASC"
    only = f"FILTER (WHERE {s} IS NOT NULL)"
    columns = [f"array_slice(array_agg({s} {order}) {only}, 1, {size}) AS {a}_s"]
    for i, (_, f) in enumerate(agg.metric_fields):
        value = _value(f) if f is not None else "NULL"
        columns.append(f"array_slice(array_agg({value} {order}) {only}, 1, {size}) AS {a}_m{i}")
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
        for i, (name, f) in enumerate(agg.metric_fields):
            value = (row.get(f"{a}_m{i}") or [None] * len(sorts))[j]
            if f is not None and f.kind == "date" and value is not None:
                value = shape_key(value, "date")["key_as_string"]
            metrics[name] = value
        top.append({"sort": [sort_value], "metrics": metrics})
    return {"top": top}
