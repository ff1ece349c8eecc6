"""``terms`` options that shape its SQL: ``include``/``exclude`` conditions and the ``order`` of its buckets
(``_count``, ``_key``, a metric sub-aggregation, a stats value, or a ``filter`` sub-aggregation's count)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.metrics import STATS, literal
from infino_mcp.local.querydsl.sqltext import lit

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg


def include_exclude(agg: Agg, key: str) -> list[str]:
    out = []
    f = agg.field
    assert f is not None
    for option, negate in (("include", False), ("exclude", True)):
        value = agg.spec.get(option)
        if value is None:
            continue
        if isinstance(value, list):
            literals = [x for x in (literal(f, v, agg.name) for v in value) if x != "NULL"]
            cond = f"{key} IN ({', '.join(literals)})" if literals else "FALSE"
        elif isinstance(value, str) and f.kind == "string":
            cond = f"regexp_like({key}, {lit('^(?:' + value + ')$')})"
        else:
            raise ApiError(400, f"Aggregation '{agg.name}': '{option}' takes a list of values or a regex string.")
        out.append(f"NOT COALESCE({cond}, FALSE)" if negate else cond)
    return out


def terms_order(agg: Agg, own: int) -> str:
    order = agg.spec.get("order", {"_count": "desc"})
    items = order if isinstance(order, list) else [order]
    metric_columns = {}
    for child in agg.children:
        if child.kind == "stats":
            for s in STATS:
                metric_columns[f"{child.name}.{s}"] = f"q.{child.alias}_{s}"
        elif child.kind in ("avg", "sum", "min", "max", "value_count", "cardinality"):
            metric_columns[child.name] = f"q.{child.alias}"
            metric_columns[f"{child.name}.value"] = f"q.{child.alias}"
        elif child.kind == "filter":
            for path in (f"{child.name}.doc_count", f"{child.name}._count", f"{child.name}>_count", child.name):
                metric_columns[path] = f"q.{child.alias}_dc"
    parts = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ApiError(400, f'Aggregation \'{agg.name}\': \'order\' is {{"_count"|"_key"|metric: "asc"|"desc"}}.')
        ((target, direction),) = item.items()
        direction = str(direction).upper()
        if direction not in ("ASC", "DESC"):
            raise ApiError(400, f"Aggregation '{agg.name}': order direction must be 'asc' or 'desc'.")
        if target == "_count":
            column = "q.__c"
        elif target in ("_key", "_term"):
            column = f"q.g{own}"
        elif target in metric_columns:
            column = metric_columns[target]
        else:
            raise ApiError(400, f"Aggregation '{agg.name}' cannot order by '{target}': use _count, _key or the "
                           "name of one of its metric sub-aggregations.")  # fmt: skip
        parts.append(f"{column} {direction} NULLS LAST")
    parts += ["q.__c DESC", f"q.g{own} ASC"]
    return ", ".join(parts)
