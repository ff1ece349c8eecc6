"""QueryDSL aggregations as GROUP BY queries, reshaped into Elasticsearch buckets.

Every bucket aggregation contributes a key expression; a bucket aggregation at
depth d runs one query grouped by the keys of its d bucket ancestors and its
own, with its metric sub-aggregations as extra columns. So a tree costs one
query per bucket aggregation, not one per bucket. Depths run in order (a
``terms`` level restricts its children to the buckets it kept); aggregations at
one depth run concurrently. ``terms`` picks its top buckets per parent in SQL
with ``row_number()``; ``range`` buckets may overlap, so they come from a cross
join with the range indexes; ``terms`` on an array field groups the rows
unnested to one per distinct element. Histograms fill empty buckets
(``min_doc_count`` 0, as in Elasticsearch). ``filter``/``filters``/``missing``
keys come from ``selected``; pipelines are computed from the shaped result
afterwards (``pipelines``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.auto_dates import auto_key_sql, choose, shape_auto
from infino_mcp.local.querydsl.aggs.buckets import (
    MAX_BUCKETS,
    fill_histogram,
    key_literal,
    range_buckets,
    shape_key,
)
from infino_mcp.local.querydsl.aggs.composite import composite_sql, shape_composite
from infino_mcp.local.querydsl.aggs.hits import HitsContext, hits_result, hits_sql, shape_hits
from infino_mcp.local.querydsl.aggs.metrics import (
    literal,
    metric_columns,
    metric_result,
    value_sql,
)
from infino_mcp.local.querydsl.aggs.model import SINGLE_BUCKET_AGGS, Agg
from infino_mcp.local.querydsl.aggs.pipelines import apply_pipelines
from infino_mcp.local.querydsl.aggs.selected import filters_join, selected_key_sql, shape_selected
from infino_mcp.local.querydsl.aggs.terms import include_exclude, terms_order
from infino_mcp.local.querydsl.dates import parse_zone
from infino_mcp.local.querydsl.fields import as_float, as_int
from infino_mcp.local.querydsl.nodes import run_concurrently
from infino_mcp.local.querydsl.sqltree import (
    ROWS,
    alias,
    boolean,
    call,
    cast,
    column,
    is_true,
    name,
    not_null,
    number,
    ordered,
    paren,
    select,
    subquery,
)
from infino_mcp.sql_dialect import render

FIELDLESS_BUCKETS = ("filter", "filters", "missing", "composite")

if TYPE_CHECKING:
    from infino_mcp.local.storage.engine import Engine


# ----- SQL pieces ------------------------------------------------------------------------


def _key_sql(agg: Agg) -> exp.Expr:
    if agg.kind in ("filter", "filters", "missing"):
        return selected_key_sql(agg)
    f = agg.field
    assert f is not None
    if agg.kind == "terms":
        if f.kind == "array":
            return column(_element(agg))
        key = cast(column(f.column), "BIGINT") if f.kind == "date" else column(f.column)
        if agg.spec.get("missing") is not None:
            key = exp.Coalesce(this=key, expressions=[literal(f, agg.spec["missing"], agg.name)])
        return key
    if agg.kind == "histogram":
        interval = _positive(agg.spec.get("interval"), agg.name, "interval")
        offset = as_float(agg.spec.get("offset", 0), f"{agg.name}.offset")
        shifted = exp.Paren(this=exp.Sub(this=cast(value_sql(agg), "DOUBLE"), expression=number(offset)))
        index = exp.Floor(this=exp.Div(this=shifted, expression=number(interval), typed=True))
        return exp.Paren(this=exp.Add(this=exp.Mul(this=index, expression=number(interval)), expression=number(offset)))
    if agg.kind == "date_histogram":
        assert agg.date_interval is not None
        return agg.date_interval.key_sql(column(f.column))
    if agg.kind == "auto_date_histogram":
        return auto_key_sql(agg)
    return name("idx", f"r_{agg.alias}")


def _element(agg: Agg) -> str:
    """The column holding one element of an array field, one row per distinct element (see ``_unnested``)."""
    return f"__e_{agg.alias}"


def _unnested(source: exp.Expr, path: list[Agg]) -> exp.Expr:
    """``source`` with one row per distinct element of each array field a ``terms`` in ``path`` groups by."""
    for a in path:
        if a.field is not None and a.field.kind == "array":
            element = exp.Explode(this=call("array_distinct", column(a.field.column)))
            columns = [exp.Column(this=exp.Star(), table=exp.to_identifier(ROWS)), alias(element, _element(a))]
            source = subquery(select(columns, source), ROWS)
    return source


def _rows(source: exp.Expr, joins: list[exp.Expr], conditions: list[exp.Expr]) -> exp.Select:
    """``SELECT`` (no columns yet) ``FROM source CROSS JOIN joins WHERE conditions``."""
    rows = select([], source, joins=[exp.Join(this=join, kind="CROSS") for join in joins])
    return rows.where(*conditions, copy=False) if conditions else rows


def _positive(value: Any, name: str, option: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Aggregation '{name}' needs a positive number for '{option}', got {value!r}.") from None
    if number <= 0:
        raise ApiError(400, f"Aggregation '{name}' needs a positive number for '{option}', got {value!r}.")
    return number


# ----- running ---------------------------------------------------------------------------


@dataclass
class _State:
    """Buckets kept so far: per aggregation, parent key path -> bucket dicts."""

    top: dict[str, Any]
    kept: dict[str, dict[tuple, dict]] = field(default_factory=dict)


async def run_aggregations(
    engine: Engine, aggs: list[Agg], source: exp.Expr, where: exp.Expr, hits: HitsContext | None = None
) -> dict:
    """Run the parsed aggregation tree over the rows ``SELECT ... FROM source WHERE where`` selects (``source``
    names its rows ``t``)."""
    search = _Search(source, paren(where))
    result: dict[str, Any] = {}
    metrics = [a for a in aggs if a.metric]
    if metrics:
        columns = [c for a in metrics for c in metric_columns(a)]
        table = await engine.query(
            render(_rows(search.source(), [], search.where()).select(*columns, copy=False), copy=False)
        )
        row = table.to_pylist()[0]
        for a in metrics:
            result[a.name] = metric_result(a, row)
    state = _State(top=result)
    level = [a for a in aggs if a.bucket]
    while level:
        await run_concurrently([partial(_run_bucket_agg, engine, agg, search, state) for agg in level])
        level = [child for agg in level for child in agg.children if child.bucket]
    tops = _top_hits(aggs)
    if tops:
        await run_concurrently([partial(_run_top_hits, engine, agg, search, state, hits) for agg in tops])
    apply_pipelines(aggs, result)
    return {a.name: result[a.name] for a in aggs}


@dataclass(frozen=True)
class _Search:
    """The search's rows: where they come from (alias ``t``) and its condition. Each statement takes copies, so
    the statements hold no node shared with another tree and render without sqlglot's copy."""

    from_: exp.Expr
    condition: exp.Expr

    def source(self) -> exp.Expr:
        return self.from_.copy()

    def where(self) -> list[exp.Expr]:
        return [] if is_true(self.condition) else [self.condition.copy()]


async def _run_bucket_agg(engine: Engine, agg: Agg, search: _Search, state: _State) -> None:
    path = agg.path()
    parents = path[:-1]
    parent_containers = _parent_containers(agg, state)
    if agg.kind == "composite":
        await _run_composite(engine, agg, search, state)
        return
    if (agg.field is None and agg.kind not in FIELDLESS_BUCKETS) or not parent_containers:
        for container in parent_containers.values():
            container[agg.name] = _empty(agg)
        return
    if agg.kind == "auto_date_histogram":  # the interval depends on the first and last date
        assert agg.field is not None
        value = cast(column(agg.field.column), "BIGINT")
        bounds = [alias(exp.Min(this=value), "lo"), alias(exp.Max(this=value.copy()), "hi")]
        span = await engine.query(
            render(_rows(search.source(), [], search.where()).select(*bounds, copy=False), copy=False)
        )
        choose(agg, span.column("lo")[0].as_py(), span.column("hi")[0].as_py())
    rows = (await engine.query(render(_bucket_sql(agg, search, state), copy=False))).to_pylist()
    if len(rows) > MAX_BUCKETS:
        raise ApiError(400, f"Aggregation '{agg.name}' would make more than {MAX_BUCKETS} buckets; use a larger "
                       "interval, a smaller size, or a narrower query.")  # fmt: skip
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[f"g{i}"] for i in range(len(parents)))].append(row)
    kept: dict[tuple, dict] = {}
    for parent_key, container in parent_containers.items():
        group_rows = grouped.get(parent_key, [])
        shaped = _shape(agg, group_rows)
        container[agg.name] = shaped
        for bucket_row, bucket in _bucket_pairs(agg, group_rows, shaped):
            for child in agg.children:
                if child.metric:
                    bucket[child.name] = metric_result(child, bucket_row)
            kept[(*parent_key, bucket["__k"])] = bucket
    state.kept[agg.alias] = kept
    for bucket in kept.values():
        bucket.pop("__k", None)


async def _run_composite(engine: Engine, agg: Agg, search: _Search, state: _State) -> None:
    if any(s.field is None for s in agg.sources):
        state.top[agg.name] = {"buckets": []}  # a source field the dataset lacks: no document has a key
        return
    keys = [_key_sql(s) for s in agg.sources]
    metrics = [c for child in agg.children for c in metric_columns(child)]
    sql = composite_sql(agg, keys, _rows(_unnested(search.source(), agg.sources), [], search.where()), metrics)
    rows = (await engine.query(render(sql, copy=False))).to_pylist()

    def key_of(s: Agg) -> Any:
        assert s.field is not None
        kind = {"date_histogram": "date", "histogram": "histogram"}.get(s.kind, s.field.item_kind or s.field.kind)
        return lambda value: shape_key(value, kind)["key"]

    shaped = shape_composite(agg, rows, [key_of(s) for s in agg.sources])
    for bucket in shaped["buckets"]:
        row = bucket.pop("__row")
        for child in agg.children:
            bucket[child.name] = metric_result(child, row)
    state.top[agg.name] = shaped


def _top_hits(aggs: list[Agg]) -> list[Agg]:
    return [a for a in aggs if a.kind == "top_hits"] + [t for a in aggs for t in _top_hits(a.children)]


async def _run_top_hits(engine: Engine, agg: Agg, search: _Search, state: _State, ctx: HitsContext | None) -> None:
    context = ctx or HitsContext(dataset="")
    path = agg.parent.path() if agg.parent is not None else []
    containers = _parent_containers(agg, state)
    if not containers:
        return
    keys, joins, conditions = path_sql(path, search, state, agg.parent)
    rows = _rows(_unnested(search.source(), path), joins, conditions)
    table = await engine.query(render(hits_sql(agg, keys, rows, context), copy=False))
    found = shape_hits(agg, table, len(keys), context)
    totals = table.column("__tot").to_pylist()
    for key, container in containers.items():
        total = container.get("doc_count", totals[0] if totals and agg.parent is None else 0)
        container[agg.name] = hits_result(found.get(key, []), int(total))


def _parent_containers(agg: Agg, state: _State) -> dict[tuple, dict]:
    if agg.parent is None:
        return {(): state.top}
    return state.kept.get(agg.parent.alias, {})


def path_sql(
    path: list[Agg], search: _Search, state: _State, kept_from: Agg | None
) -> tuple[list[exp.Expr], list[exp.Expr], list[exp.Expr]]:
    """Key expressions, sources to cross join and conditions putting rows in the buckets of ``path`` (top
    first); terms levels are restricted to the buckets ``kept_from`` (an aggregation already run) kept."""
    keys = [_key_sql(a) for a in path]
    conditions = search.where()
    joins: list[exp.Expr] = []
    kept = state.kept.get(kept_from.alias, {}) if kept_from is not None else {}
    for depth, (a, key) in enumerate(zip(path, keys, strict=True)):
        conditions.append(not_null(key.copy()))
        if a.kind == "filters":
            join, condition = filters_join(a)
            joins.append(join)
            conditions.append(condition)
        if a.kind in ("range", "date_range"):
            ranges = range_buckets(a)
            joins.append(exp.values([(i,) for i in range(len(ranges))], alias=f"r_{a.alias}", columns=["idx"]))
            parts = []
            for i, r in enumerate(ranges):
                bounds: list[exp.Expr] = [exp.EQ(this=name("idx", f"r_{a.alias}"), expression=number(i))]
                if r.low is not None:
                    bounds.append(exp.GTE(this=value_sql(a), expression=number(r.low)))
                if r.high is not None:
                    bounds.append(exp.LT(this=value_sql(a), expression=number(r.high)))
                parts.append(exp.Paren(this=exp.and_(*bounds, copy=False)))
            conditions.append(exp.Paren(this=exp.or_(*parts, copy=False)))
        if a.kind == "terms":
            conditions.extend(include_exclude(a, key))
        if kept_from is not None and a.kind == "terms" and depth < len(kept_from.path()):
            # the kept buckets are keyed by the keys of every level down to ``kept_from``
            literals = [key_literal(k) for k in {k[depth] for k in kept}]
            conditions.append(exp.In(this=key.copy(), expressions=literals) if literals else boolean(False))
    return keys, joins, conditions


def _bucket_sql(agg: Agg, search: _Search, state: _State) -> exp.Select:
    path = agg.path()
    keys, joins, conditions = path_sql(path, search, state, path[-2] if len(path) > 1 else None)
    metrics = [c for child in agg.children if child.metric for c in metric_columns(child)]
    if agg.kind == "terms":  # a filter child's count, for ordering terms by it
        for c in agg.children:
            if c.kind == "filter":
                matching = exp.Case(ifs=[exp.If(this=c.filters[0][1].copy(), true=number(1))])
                metrics.append(alias(exp.Count(this=matching), f"{c.alias}_dc"))
    selects = [alias(key, f"g{i}") for i, key in enumerate(keys)]
    selects += [alias(exp.Count(this=exp.Star()), "__c"), *metrics]
    inner = _rows(_unnested(search.source(), path), joins, conditions).select(*selects, copy=False)
    inner = inner.group_by(*(number(i + 1) for i in range(len(keys))), copy=False)
    min_count = as_int(agg.spec.get("min_doc_count", 1 if agg.kind == "terms" else 0), f"{agg.name}.min_doc_count")
    if min_count > 1:
        inner = inner.having(exp.GTE(this=exp.Count(this=exp.Star()), expression=number(min_count)), copy=False)
    if agg.kind != "terms":
        return inner.limit(MAX_BUCKETS + 1, copy=False)  # more is refused, not cut
    size = max(as_int(agg.spec.get("size", 10), f"{agg.name}.size"), 0)
    partition = [name(f"g{i}", "q") for i in range(len(keys) - 1)]
    order = exp.Order(expressions=terms_order(agg, len(keys) - 1))
    total = exp.Window(this=exp.Sum(this=name("__c", "q")), partition_by=[p.copy() for p in partition])
    ranked = [
        exp.Column(this=exp.Star(), table=exp.to_identifier("q")),
        alias(exp.Window(this=exp.RowNumber(), partition_by=partition, order=order), "__rn"),
        alias(total, "__tot"),
    ]
    within = select(ranked, subquery(inner, "q"))
    kept = exp.LTE(this=name("__rn"), expression=number(size))
    return select([exp.Star()], subquery(within, "ranked"), where=kept, order=[ordered(name("__rn"), desc=False)])


# ----- shaping ---------------------------------------------------------------------------


def _empty(agg: Agg) -> dict:
    if agg.kind == "terms":
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []}
    if agg.kind in ("range", "date_range", "auto_date_histogram"):
        return _shape(agg, [])
    return {"buckets": []}


def _shape(agg: Agg, rows: list[dict]) -> dict:
    own = len(agg.path()) - 1
    f = agg.field
    kind = (f.item_kind if f.kind == "array" else f.kind) if f is not None else "string"
    if agg.kind == "terms":
        buckets = [{**shape_key(r[f"g{own}"], kind), "doc_count": int(r["__c"]), "__k": r[f"g{own}"]} for r in rows]
        shown = sum(b["doc_count"] for b in buckets)
        total = int(rows[0]["__tot"]) if rows else 0
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": total - shown, "buckets": buckets}
    if agg.kind in ("filter", "filters", "missing"):
        return shape_selected(agg, {r[f"g{own}"]: int(r["__c"]) for r in rows})
    if agg.kind in ("range", "date_range"):
        counts = {r[f"g{own}"]: int(r["__c"]) for r in rows}
        buckets = []
        zone = parse_zone(agg.spec.get("time_zone"), agg.name) if agg.kind == "date_range" else None
        fmt = agg.spec.get("format") if agg.kind == "date_range" else None
        for i, r in enumerate(range_buckets(agg)):
            buckets.append({**r.describe(kind == "date", fmt, zone), "doc_count": counts.get(i, 0), "__k": i})
        return _keyed(agg, buckets)
    found = {r[f"g{own}"]: int(r["__c"]) for r in rows}
    if agg.kind == "auto_date_histogram":
        return shape_auto(agg, found)
    key_kind = "date" if agg.kind == "date_histogram" else "histogram"
    keys = fill_histogram(agg.name, agg.kind, agg.spec, agg.date_interval, found)
    zone = agg.date_interval.zone if agg.date_interval is not None else None
    fmt = agg.spec.get("format")
    buckets = [{**shape_key(k, key_kind, fmt, zone), "doc_count": found.get(k, 0), "__k": k} for k in keys]
    return _keyed(agg, buckets)


def _keyed(agg: Agg, buckets: list[dict]) -> dict:
    if agg.spec.get("keyed"):
        return {"buckets": {str(b.get("key_as_string", b["key"])): b for b in buckets}}
    return {"buckets": buckets}


def _bucket_pairs(agg: Agg, rows: list[dict], shaped: dict) -> list[tuple[dict, dict]]:
    """Each output bucket with its SQL row (an empty row for filled-in buckets)."""
    own = len(agg.path()) - 1
    by_key = {r[f"g{own}"]: r for r in rows}
    if agg.kind in SINGLE_BUCKET_AGGS:
        return [(by_key.get(0, {}), shaped)]
    buckets = shaped["buckets"]
    items = buckets.values() if isinstance(buckets, dict) else buckets
    return [(by_key.get(b["__k"], {}), b) for b in items]
