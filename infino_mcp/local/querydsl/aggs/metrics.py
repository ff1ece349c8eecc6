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

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.buckets import shape_key
from infino_mcp.local.querydsl.aggs.top_metrics import top_columns, top_result
from infino_mcp.local.querydsl.dates import date_ms
from infino_mcp.local.querydsl.fields import Field, as_float
from infino_mcp.local.querydsl.sqltree import alias, call, cast, column, not_null, number, ordered

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

STATS = ("count", "min", "max", "avg", "sum")
DEFAULT_PERCENTS = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


def value_sql(agg: Agg) -> exp.Expr:
    """The aggregated value of a row: dates as epoch milliseconds, ``missing`` applied."""
    assert agg.field is not None
    value: exp.Expr = column(agg.field.column)
    if agg.field.kind == "date":
        value = cast(value, "BIGINT")
    if agg.spec.get("missing") is not None and agg.kind != "terms":
        value = exp.Coalesce(this=value, expressions=[literal(agg.field, agg.spec["missing"], agg.name)])
    return value


def literal(f: Field, value: Any, name: str) -> exp.Expr:
    if f.kind == "date":
        return number(date_ms(value, f.name, name))
    found = f.value(value, name)
    return found if found is not None else exp.null()


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


def _weighted(agg: Agg) -> tuple[exp.Expr, exp.Expr]:
    """weighted_avg's value and weight expressions (as DOUBLE, ``missing`` applied)."""
    assert agg.field is not None and agg.weight is not None
    parts = []
    for f, side in ((agg.field, "value"), (agg.weight, "weight")):
        value: exp.Expr = cast(column(f.column), "DOUBLE")
        missing = agg.spec[side].get("missing")
        if missing is not None:
            value = exp.Coalesce(this=value, expressions=[number(as_float(missing, f"{agg.name}.{side}.missing"))])
        parts.append(value)
    return parts[0], parts[1]


def _count_when(condition: exp.Expr) -> exp.Count:
    return exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=number(1))]))


def _more_columns(agg: Agg) -> list[exp.Expr]:
    a = agg.alias
    if agg.kind == "weighted_avg":
        v, w = _weighted(agg)
        both = exp.and_(not_null(v), not_null(w.copy()), copy=False)
        product = exp.Mul(this=v.copy(), expression=w.copy())
        return [
            alias(exp.Sum(this=exp.Case(ifs=[exp.If(this=both, true=product)])), f"{a}_vw"),
            alias(exp.Sum(this=exp.Case(ifs=[exp.If(this=both.copy(), true=w.copy())])), f"{a}_w"),
        ]
    v = cast(value_sql(agg), "DOUBLE")
    if agg.kind == "extended_stats":
        square = exp.Mul(this=v.copy(), expression=v.copy())
        return [
            alias(exp.Count(this=v.copy()), f"{a}_count"),
            alias(exp.Min(this=v.copy()), f"{a}_min"),
            alias(exp.Max(this=v.copy()), f"{a}_max"),
            alias(exp.Avg(this=v.copy()), f"{a}_avg"),
            alias(exp.Sum(this=v.copy()), f"{a}_sum"),
            alias(exp.Sum(this=square), f"{a}_sq"),
            alias(exp.VariancePop(this=v.copy()), f"{a}_vp"),
            alias(exp.Variance(this=v.copy()), f"{a}_vs"),
        ]
    if agg.kind == "percentiles":
        # the engine's two-argument percentile_cont (sqlglot's class renders the WITHIN GROUP form)
        return [
            alias(call("percentile_cont", v.copy(), number(p / 100)), f"{a}_p{i}") for i, p in enumerate(percents(agg))
        ]
    ranks = [
        alias(_count_when(exp.LTE(this=v.copy(), expression=number(x))), f"{a}_r{i}")
        for i, x in enumerate(percents(agg))
    ]
    return [alias(exp.Count(this=v), f"{a}_n"), *ranks]


def _empty_columns(agg: Agg) -> list[exp.Expr]:
    if agg.kind == "weighted_avg":
        return [alias(exp.null(), f"{agg.alias}_vw"), alias(exp.null(), f"{agg.alias}_w")]
    if agg.kind == "extended_stats":
        return [alias(number(0), f"{agg.alias}_count")]
    if agg.kind == "percentiles":
        return [alias(exp.null(), f"{agg.alias}_p{i}") for i in range(len(percents(agg)))]
    return [alias(number(0), f"{agg.alias}_n")]


_AGGREGATES: dict[str, type[exp.AggFunc]] = {"sum": exp.Sum, "min": exp.Min, "max": exp.Max, "value_count": exp.Count}


def metric_columns(agg: Agg) -> list[exp.Expr]:
    """The metric's columns (aliased) in a GROUP BY query over the rows ``t``."""
    a = agg.alias
    if agg.kind == "top_metrics":
        return top_columns(agg)
    if agg.kind == "median_absolute_deviation":  # exact: every value of the bucket, in order, for top_result
        if agg.field is None:
            return [alias(exp.null(), a)]
        v = cast(value_sql(agg), "DOUBLE")
        in_order = exp.ArrayAgg(this=exp.Order(this=v, expressions=[ordered(v.copy(), desc=False)]))
        present = exp.Where(this=not_null(v.copy()))
        return [alias(exp.Filter(this=in_order, expression=present), a)]
    if agg.kind in ("extended_stats", "weighted_avg", "percentiles", "percentile_ranks"):
        present = agg.field is not None and (agg.kind != "weighted_avg" or agg.weight is not None)
        return _more_columns(agg) if present else _empty_columns(agg)
    if agg.field is None:
        if agg.kind == "stats":
            return [alias(number(0), f"{a}_count"), alias(exp.null(), f"{a}_min"), alias(exp.null(), f"{a}_max"),
                    alias(exp.null(), f"{a}_avg"), alias(number(0), f"{a}_sum")]  # fmt: skip
        empty = number(0) if agg.kind in ("sum", "value_count", "cardinality") else exp.null()
        return [alias(empty, a)]
    v = value_sql(agg)
    if agg.kind == "stats":
        return [alias(exp.Count(this=v.copy()), f"{a}_count"), alias(exp.Min(this=v.copy()), f"{a}_min"),
                alias(exp.Max(this=v.copy()), f"{a}_max"), alias(exp.Avg(this=cast(v.copy(), "DOUBLE")), f"{a}_avg"),
                alias(exp.Sum(this=v), f"{a}_sum")]  # fmt: skip
    if agg.kind == "avg":
        return [alias(exp.Avg(this=cast(v, "DOUBLE")), a)]
    if agg.kind == "cardinality":
        return [alias(exp.Count(this=exp.Distinct(expressions=[v])), a)]
    return [alias(_AGGREGATES[agg.kind](this=v), a)]


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
