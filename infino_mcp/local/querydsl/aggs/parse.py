"""The request's ``aggs`` object as a tree of ``Agg``: kinds checked, fields resolved through ``Fields`` (so the
caller's field rules apply), options validated before any query runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.auto_dates import check_auto
from infino_mcp.local.querydsl.aggs.composite import source_specs
from infino_mcp.local.querydsl.aggs.hits import check_top_hits
from infino_mcp.local.querydsl.aggs.intervals import DateInterval
from infino_mcp.local.querydsl.aggs.model import FIELDLESS_AGGS, SUPPORTED_AGGS, Agg
from infino_mcp.local.querydsl.aggs.pipelines import check_pipeline
from infino_mcp.local.querydsl.aggs.selected import parse_filters
from infino_mcp.local.querydsl.aggs.top_metrics import parse_top_metrics
from infino_mcp.local.querydsl.nodes import unsupported

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.fields import Field, Fields

NUMERIC_AGGS = (
    "avg", "sum", "histogram", "range", "extended_stats", "percentiles", "percentile_ranks", "median_absolute_deviation",
)  # fmt: skip


def parse_aggs(
    spec: Any, fields: Fields, table: str, parent: Agg | None = None, counter: list[int] | None = None
) -> list[Agg]:
    """The aggregation tree of a request; ``table`` is where full-text conditions of filter(s) look."""
    counter = counter if counter is not None else [0]
    if not isinstance(spec, dict):
        raise ApiError(400, "QueryDSL 'aggs' is an object of {name: {type: {...}}}.")
    aggs = []
    for name, body in spec.items():
        if not isinstance(body, dict):
            raise ApiError(400, f'Aggregation \'{name}\' must be an object such as {{"terms": {{"field": "x"}}}}.')
        sub = body.get("aggs", body.get("aggregations"))
        kinds = [k for k in body if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise ApiError(400, f"Aggregation '{name}' must have exactly one type, got {kinds or 'none'}.")
        kind = kinds[0]
        if kind not in SUPPORTED_AGGS:
            raise unsupported("aggregation", kind, SUPPORTED_AGGS)
        options = body[kind]
        if not isinstance(options, dict):
            raise ApiError(400, f"Aggregation '{name}' ({kind}) takes an object of options.")
        counter[0] += 1
        f = _agg_field(name, kind, options, fields) if kind not in FIELDLESS_AGGS else None
        agg = Agg(name, kind, options, f, f"a{counter[0]}", parent=parent)
        if kind == "date_histogram":
            agg.date_interval = DateInterval.parse(name, options)
        elif kind in ("filter", "filters"):
            parse_filters(agg, fields, table)
        elif kind == "weighted_avg":
            agg.field, agg.weight = (_weighted_field(agg, side, fields) for side in ("value", "weight"))
        elif agg.pipeline:
            check_pipeline(agg)
        elif kind == "top_hits":
            check_top_hits(agg, fields)
        elif kind == "auto_date_histogram":
            check_auto(agg)
        elif kind == "top_metrics":
            parse_top_metrics(agg, fields)
        elif kind == "composite":
            agg.sources = [_source_agg(agg, i, *spec, fields) for i, spec in enumerate(source_specs(agg))]
        if sub:
            if not agg.bucket:
                raise ApiError(400, f"Aggregation '{name}' ({kind}) cannot have sub-aggregations: only bucket "
                               "aggregations can.")  # fmt: skip
            agg.children = parse_aggs(sub, fields, table, agg, counter)
            if kind == "composite":
                source_specs(agg)  # its children are known now
        aggs.append(agg)
    return aggs


def _source_agg(agg: Agg, i: int, name: str, kind: str, options: dict, fields: Fields) -> Agg:
    source = Agg(name, kind, options, _agg_field(agg.name, kind, options, fields), f"{agg.alias}s{i}")
    if kind == "date_histogram":
        source.date_interval = DateInterval.parse(agg.name, options)
    return source


def _weighted_field(agg: Agg, side: str, fields: Fields) -> Field | None:
    spec = agg.spec.get(side)
    if not isinstance(spec, dict):
        raise ApiError(400, f'Aggregation \'{agg.name}\' (weighted_avg) needs "{side}": {{"field": "name"}}.')
    return _agg_field(agg.name, "avg", spec, fields)


def _agg_field(name: str, kind: str, options: dict, fields: Fields) -> Field | None:
    field_name = options.get("field")
    if not isinstance(field_name, str):
        raise ApiError(400, f"Aggregation '{name}' ({kind}) needs a \"field\"; scripts are not supported.")
    f = fields.get(field_name)
    if f is None:
        return None
    scalar_array = f.kind == "array" and f.item_kind in ("string", "int", "float", "bool")
    if f.kind == "object" or (f.kind == "array" and not (kind == "terms" and scalar_array)):
        raise ApiError(400, f"Aggregation '{name}' ({kind}) on '{field_name}': the field holds {f.kind}s, which the "
                       "local endpoint aggregates with terms only; use SQL with unnest() otherwise.")  # fmt: skip
    numeric = f.kind in ("int", "float", "date")
    if kind in NUMERIC_AGGS and not numeric:
        raise ApiError(400, f"Aggregation '{name}' ({kind}) needs a numeric or date field; '{field_name}' is {f.kind}.")
    if kind in ("date_histogram", "date_range", "auto_date_histogram") and f.kind != "date":
        raise ApiError(400, f"Aggregation '{name}' ({kind}) needs a date field; '{field_name}' is {f.kind}.")
    return f
