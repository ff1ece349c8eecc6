"""``terms`` options that shape its SQL: ``include``/``exclude`` conditions and the ``order`` of its buckets
(``_count``, ``_key``, a metric sub-aggregation, a stats value, or a ``filter`` sub-aggregation's count)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.metrics import STATS, literal
from infino_mcp.local.querydsl.sqltree import boolean, name, ordered, regex_like

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg


def include_exclude(agg: Agg, key: exp.Expr) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    f = agg.field
    assert f is not None
    for option, negate in (("include", False), ("exclude", True)):
        value = agg.spec.get(option)
        if value is None:
            continue
        cond: exp.Expr
        if isinstance(value, list):
            literals = [x for x in (literal(f, v, agg.name) for v in value) if not isinstance(x, exp.Null)]
            cond = exp.In(this=key.copy(), expressions=literals) if literals else boolean(False)
        elif isinstance(value, str) and f.kind == "string":
            cond = regex_like(key.copy(), "^(?:" + value + ")$")
        else:
            raise ApiError(400, f"Aggregation '{agg.name}': '{option}' takes a list of values or a regex string.")
        out.append(exp.Not(this=exp.Coalesce(this=cond, expressions=[boolean(False)])) if negate else cond)
    return out


def terms_order(agg: Agg, own: int) -> list[exp.Ordered]:
    """ORDER BY of the buckets of one parent, over the grouped rows ``q``."""
    order = agg.spec.get("order", {"_count": "desc"})
    items = order if isinstance(order, list) else [order]
    metric_columns = {}
    for child in agg.children:
        if child.kind == "stats":
            for s in STATS:
                metric_columns[f"{child.name}.{s}"] = f"{child.alias}_{s}"
        elif child.kind in ("avg", "sum", "min", "max", "value_count", "cardinality"):
            metric_columns[child.name] = child.alias
            metric_columns[f"{child.name}.value"] = child.alias
        elif child.kind == "filter":
            for path in (f"{child.name}.doc_count", f"{child.name}._count", f"{child.name}>_count", child.name):
                metric_columns[path] = f"{child.alias}_dc"
    parts = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ApiError(400, f'Aggregation \'{agg.name}\': \'order\' is {{"_count"|"_key"|metric: "asc"|"desc"}}.')
        ((target, direction),) = item.items()
        direction = str(direction).upper()
        if direction not in ("ASC", "DESC"):
            raise ApiError(400, f"Aggregation '{agg.name}': order direction must be 'asc' or 'desc'.")
        if target == "_count":
            column = "__c"
        elif target in ("_key", "_term"):
            column = f"g{own}"
        elif target in metric_columns:
            column = metric_columns[target]
        else:
            raise ApiError(400, f"Aggregation '{agg.name}' cannot order by '{target}': use _count, _key or the "
                           "name of one of its metric sub-aggregations.")  # fmt: skip
        parts.append(ordered(name(column, "q"), desc=direction == "DESC", nulls_first=False))
    parts += [ordered(name("__c", "q"), desc=True), ordered(name(f"g{own}", "q"), desc=False)]
    return parts
