"""Metric aggregations (avg, sum, min, max, value_count, cardinality, stats,
extended_stats, weighted_avg, percentiles, percentile_ranks; median_absolute_deviation and
top_metrics live in ``top_metrics``): their SQL columns
inside a GROUP BY query and their Elasticsearch-shaped results. Dates are
aggregated as epoch milliseconds and reported with ``*_as_string``.

Percentiles are exact, not a t-digest estimate: ``percentiles`` interpolates
linearly between the two closest ranks (``percentile_cont``: rank p/100 * (n - 1)
of the sorted values) and ``percentile_ranks`` is the share of values at or
below each given value, in percent."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.aggs.top_metrics import top_columns, top_result
from infino_mcp.local.querydsl.dates import date_ms
from infino_mcp.local.querydsl.fields import Field, as_float
from infino_mcp.local.querydsl.sqltext import ident, num

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

STATS = ("count", "min", "max", "avg", "sum")
DEFAULT_PERCENTS = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


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


def percents(agg: Agg) -> list[float]:
    """The percents of ``percentiles`` or the values of ``percentile_ranks``, validated."""
    option = "percents" if agg.kind == "percentiles" else "values"
    given = agg.spec.get(option, DEFAULT_PERCENTS if agg.kind == "percentiles" else None)
    if not isinstance(given, (list, tuple)) or not given:
        raise ApiError(400, f"Aggregation '{agg.name}' ({agg.kind}) needs '{option}': a list of numbers.")
    out = [as_float(v, f"{agg.name}.{option}") for v in given]
    if agg.kind == "percentiles" and any(not 0 <= p <= 100 for p in out):
        raise ApiError(400, f"Aggregation '{agg.name}': percents must be between 0 and 100, got {given!r}.")
    return out


def _weighted(agg: Agg) -> tuple[str, str]:
    """weighted_avg's value and weight expressions (as DOUBLE, ``missing`` applied)."""
    assert agg.field is not None and agg.weight is not None
    parts = []
    for f, side in ((agg.field, "value"), (agg.weight, "weight")):
        column = f"CAST(t.{ident(f.column)} AS DOUBLE)"
        missing = agg.spec[side].get("missing")
        if missing is not None:
            column = f"COALESCE({column}, {num(as_float(missing, f'{agg.name}.{side}.missing'))})"
        parts.append(column)
    return parts[0], parts[1]


def _more_columns(agg: Agg) -> list[str]:
    a = agg.alias
    if agg.kind == "weighted_avg":
        v, w = _weighted(agg)
        both = f"{v} IS NOT NULL AND {w} IS NOT NULL"
        return [f"sum(CASE WHEN {both} THEN {v} * {w} END) AS {a}_vw", f"sum(CASE WHEN {both} THEN {w} END) AS {a}_w"]
    v = f"CAST({value_sql(agg)} AS DOUBLE)"
    if agg.kind == "extended_stats":
        return [f"count({v}) AS {a}_count", f"min({v}) AS {a}_min", f"max({v}) AS {a}_max", f"avg({v}) AS {a}_avg",
                f"sum({v}) AS {a}_sum", f"sum({v} * {v}) AS {a}_sq", f"var_pop({v}) AS {a}_vp",
                f"var_samp({v}) AS {a}_vs"]  # fmt: skip
    if agg.kind == "percentiles":
        return [f"percentile_cont({v}, {num(p / 100)}) AS {a}_p{i}" for i, p in enumerate(percents(agg))]
    ranks = [f"count(CASE WHEN {v} <= {num(x)} THEN 1 END) AS {a}_r{i}" for i, x in enumerate(percents(agg))]
    return [f"count({v}) AS {a}_n", *ranks]


def _empty_columns(agg: Agg) -> list[str]:
    if agg.kind == "weighted_avg":
        return [f"NULL AS {agg.alias}_vw", f"NULL AS {agg.alias}_w"]
    if agg.kind == "extended_stats":
        return [f"0 AS {agg.alias}_count"]
    if agg.kind == "percentiles":
        return [f"NULL AS {agg.alias}_p{i}" for i in range(len(percents(agg)))]
    return [f"0 AS {agg.alias}_n"]


def metric_columns(agg: Agg) -> list[str]:
    a = agg.alias
    if agg.kind == "top_metrics":
        return top_columns(agg)
    if agg.kind == "median_absolute_deviation":  # exact: every value of the bucket, in order, for top_result
        if agg.field is None:
            return [f"NULL AS {a}"]
        v = f"CAST({value_sql(agg)} AS DOUBLE)"
        return [f"array_agg({v} ORDER BY {v}) FILTER (WHERE {v} IS NOT NULL) AS {a}"]
    if agg.kind in ("extended_stats", "weighted_avg", "percentiles", "percentile_ranks"):
        present = agg.field is not None and (agg.kind != "weighted_avg" or agg.weight is not None)
        return _more_columns(agg) if present else _empty_columns(agg)
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


def _key(value: float) -> str:
    """A percent or value as Elasticsearch prints it in keys (Java's Double.toString for ordinary numbers)."""
    return repr(float(value))


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _more_result(agg: Agg, row: dict) -> dict:
    a = agg.alias
    if agg.kind == "weighted_avg":
        weight = _number(row.get(f"{a}_w"))
        value = _number(row.get(f"{a}_vw"))
        return {"value": value / weight if value is not None and weight else None}
    if agg.kind == "extended_stats":
        return _extended(agg, row)
    keys = percents(agg)
    if agg.kind == "percentiles":
        values = [_number(row.get(f"{a}_p{i}")) for i in range(len(keys))]
    else:
        count = int(row.get(f"{a}_n") or 0)
        values = [100.0 * int(row.get(f"{a}_r{i}") or 0) / count if count else None for i in range(len(keys))]
    if agg.spec.get("keyed", True) is False:
        return {"values": [{"key": k, "value": v} for k, v in zip(keys, values, strict=True)]}
    return {"values": {_key(k): v for k, v in zip(keys, values, strict=True)}}


def _extended(agg: Agg, row: dict) -> dict:
    a = agg.alias
    count = int(row.get(f"{a}_count") or 0)
    sigma = as_float(agg.spec.get("sigma", 2.0), f"{agg.name}.sigma")
    if sigma < 0:
        raise ApiError(400, f"Aggregation '{agg.name}': sigma must be 0 or more, got {sigma!r}.")
    names = ("upper", "lower", "upper_population", "lower_population", "upper_sampling", "lower_sampling")
    if count == 0:
        out: dict[str, Any] = {"count": 0, "min": None, "max": None, "avg": None, "sum": 0.0}
        out |= dict.fromkeys(("sum_of_squares", "variance", "variance_population", "variance_sampling",
                              "std_deviation", "std_deviation_population", "std_deviation_sampling"))  # fmt: skip
        return out | {"std_deviation_bounds": dict.fromkeys(names)}
    avg = float(row[f"{a}_avg"])
    population = max(0.0, float(row[f"{a}_vp"]))
    sampling = _number(row.get(f"{a}_vs")) if count > 1 else None
    std_p = math.sqrt(population)
    std_s = math.sqrt(max(0.0, sampling)) if sampling is not None else None
    bounds = [avg + sigma * std_p, avg - sigma * std_p, avg + sigma * std_p, avg - sigma * std_p]
    bounds += [avg + sigma * std_s, avg - sigma * std_s] if std_s is not None else [None, None]
    return {
        "count": count, "min": float(row[f"{a}_min"]), "max": float(row[f"{a}_max"]), "avg": avg,
        "sum": float(row[f"{a}_sum"]), "sum_of_squares": float(row[f"{a}_sq"]), "variance": population,
        "variance_population": population, "variance_sampling": sampling, "std_deviation": std_p,
        "std_deviation_population": std_p, "std_deviation_sampling": std_s,
        "std_deviation_bounds": dict(zip(names, bounds, strict=True)),
    }  # fmt: skip


def metric_result(agg: Agg, row: dict) -> dict:
    a = agg.alias
    if agg.kind in ("median_absolute_deviation", "top_metrics"):
        return top_result(agg, row)
    if agg.kind in ("extended_stats", "weighted_avg", "percentiles", "percentile_ranks"):
        return _more_result(agg, row)
    is_date = agg.field is not None and agg.field.kind == "date"
    if agg.kind == "stats":
        out = {s: row.get(f"{a}_{s}") for s in STATS}
        out["count"] = int(out["count"] or 0)
        out["sum"] = float(out["sum"] or 0)
        for s in ("min", "max", "avg"):
            value = out[s]
            out[s] = float(value) if value is not None else None
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
