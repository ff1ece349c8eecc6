"""Metric aggregations (avg, sum, min, max, value_count, cardinality, stats): their
SQL columns inside a GROUP BY query and their Elasticsearch-shaped results.
Dates are aggregated as epoch milliseconds and reported with ``*_as_string``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.dates import date_ms
from infino_mcp.local.querydsl.fields import Field
from infino_mcp.local.querydsl.sqltext import ident

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

STATS = ("count", "min", "max", "avg", "sum")


def value_sql(agg: Agg) -> str:
    """The aggregated value of a row: dates as epoch milliseconds, ``missing`` applied."""
    assert agg.field is not None
    column = "t." + ident(agg.field.column)
    if agg.field.kind == "date":
        column = f"CAST({column} AS BIGINT)"
    if agg.spec.get("missing") is not None and agg.kind != "terms":
        column = f"COALESCE({column}, {literal(agg.field, agg.spec['missing'], agg.name)})"
    return column


def literal(f: Field, value: Any, name: str) -> str:
    if f.kind == "date":
        return str(date_ms(value, f.name, name))
    sql = f.literal(value, name)
    return sql if sql is not None else "NULL"


def metric_columns(agg: Agg) -> list[str]:
    a = agg.alias
    if agg.field is None:
        empty = {"avg": "NULL", "sum": "0", "min": "NULL", "max": "NULL", "value_count": "0", "cardinality": "0"}
        if agg.kind == "stats":
            return [f"0 AS {a}_count", f"NULL AS {a}_min", f"NULL AS {a}_max", f"NULL AS {a}_avg", f"0 AS {a}_sum"]
        return [f"{empty[agg.kind]} AS {a}"]
    v = value_sql(agg)
    if agg.kind == "stats":
        return [f"count({v}) AS {a}_count", f"min({v}) AS {a}_min", f"max({v}) AS {a}_max",
                f"avg(CAST({v} AS DOUBLE)) AS {a}_avg", f"sum({v}) AS {a}_sum"]  # fmt: skip
    sql = {
        "avg": f"avg(CAST({v} AS DOUBLE))",
        "sum": f"sum({v})",
        "min": f"min({v})",
        "max": f"max({v})",
        "value_count": f"count({v})",
        "cardinality": f"count(DISTINCT {v})",
    }[agg.kind]
    return [f"{sql} AS {a}"]


def metric_result(agg: Agg, row: dict) -> dict:
    a = agg.alias
    is_date = agg.field is not None and agg.field.kind == "date"
    if agg.kind == "stats":
        out = {s: row.get(f"{a}_{s}") for s in STATS}
        out["count"] = int(out["count"] or 0)
        out["sum"] = float(out["sum"] or 0)
        for s in ("min", "max", "avg"):
            out[s] = float(out[s]) if out[s] is not None else None
            if is_date and out[s] is not None:
                out[f"{s}_as_string"] = shape_key(out[s], "date")["key_as_string"]
        return out
    value = row.get(a)
    if agg.kind in ("value_count", "cardinality"):
        return {"value": int(value or 0)}
    if agg.kind == "sum":
        return {"value": float(value or 0)}
    out = {"value": float(value) if value is not None else None}
    if is_date and value is not None:
        out["value_as_string"] = shape_key(value, "date")["key_as_string"]
    return out
