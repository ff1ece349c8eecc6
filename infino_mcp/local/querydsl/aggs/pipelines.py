"""Pipeline aggregations, computed from the shaped buckets after every query has run.

Parent pipelines live inside a multi-bucket aggregation and work on its buckets:
``cumulative_sum`` and ``derivative`` (histogram or date_histogram parents) add
a value to each bucket; ``bucket_selector`` keeps the buckets its script
accepts; ``bucket_sort`` sorts and pages them. Sibling pipelines
(``avg_bucket``, ``sum_bucket``, ``min_bucket``, ``max_bucket``) sit next to a
multi-bucket aggregation and summarize one value of each of its buckets.

``buckets_path`` follows Elasticsearch: ``agg>agg.metric``, ``_count``, ``_key``,
``agg[key]`` for one bucket of a multi-bucket step, ``pct.99`` for a percentile.
Gaps (a null or NaN value, or a bucket without documents) follow ``gap_policy``:
``skip`` (the default), ``insert_zeros`` or ``keep_values``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.aggs.model import PARENT_PIPELINES, SIBLING_PIPELINES
from infino_mcp.local.querydsl.aggs.script import compile_condition
from infino_mcp.local.querydsl.fields import as_int

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.aggs.model import Agg

_GAP_POLICIES = ("skip", "insert_zeros", "keep_values")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_UNIT_NAMES = {"second": "1s", "minute": "1m", "hour": "1h", "day": "1d", "week": "1w"}
_SORTED_LAST = ("bucket_selector", "bucket_sort")  # they remove or reorder buckets: after the value pipelines


def check_pipeline(agg: Agg) -> None:
    """Validate a pipeline's options and its place in the tree when the request is parsed."""
    parent = agg.parent
    if agg.kind in PARENT_PIPELINES:
        allowed = ("histogram", "date_histogram") if agg.kind in ("cumulative_sum", "derivative") else None
        if parent is None or not parent.bucket or parent.kind in ("filter", "missing"):
            raise ApiError(400, f"Aggregation '{agg.name}' ({agg.kind}) is a parent pipeline: put it inside a "
                           "multi-bucket aggregation's \"aggs\".")  # fmt: skip
        if allowed is not None and parent.kind not in allowed:
            raise ApiError(400, f"Aggregation '{agg.name}' ({agg.kind}) needs a histogram or date_histogram "
                           f"parent, not {parent.kind}.")  # fmt: skip
    if agg.spec.get("gap_policy", "skip") not in _GAP_POLICIES:
        raise ApiError(400, f"Aggregation '{agg.name}': gap_policy must be one of {', '.join(_GAP_POLICIES)}.")
    if agg.kind == "bucket_sort":
        _sort_specs(agg)
        return
    paths = agg.spec.get("buckets_path")
    if agg.kind == "bucket_selector":
        if not isinstance(paths, dict) or not paths or not all(isinstance(p, str) for p in paths.values()):
            raise ApiError(400, f'Aggregation \'{agg.name}\' (bucket_selector) needs "buckets_path": '
                           '{"var": "path"} and a "script" over params.var.')  # fmt: skip
        compile_condition(agg.spec.get("script"), set(paths), agg.name)
    elif not isinstance(paths, str) or not paths:
        raise ApiError(400, f'Aggregation \'{agg.name}\' ({agg.kind}) needs "buckets_path": "agg>metric".')
    if agg.kind == "derivative" and agg.spec.get("unit") is not None:
        _unit_ms(agg)


def apply_pipelines(aggs: list[Agg], container: dict) -> None:
    """Compute the pipelines of ``aggs`` (and of every bucket below) into the shaped ``container``."""
    for agg in aggs:
        if not agg.bucket or agg.name not in container:
            continue
        result = container[agg.name]
        for bucket in _bucket_list(result):
            apply_pipelines(agg.children, bucket)
        parents = [p for p in agg.children if p.kind in PARENT_PIPELINES]
        for pipeline in sorted(parents, key=lambda p: p.kind in _SORTED_LAST):
            _parent(pipeline, result)
    for pipeline in aggs:
        if pipeline.kind in SIBLING_PIPELINES:
            container[pipeline.name] = _sibling(pipeline, container)


def _bucket_list(result: dict) -> list[dict]:
    if "buckets" not in result:
        return [result]  # a single-bucket aggregation is its own bucket
    buckets = result["buckets"]
    return list(buckets.values()) if isinstance(buckets, dict) else buckets


def _gap(agg: Agg) -> str:
    return str(agg.spec.get("gap_policy", "skip"))


def bucket_value(bucket: dict, path: str, gap_policy: str, name: str) -> float:
    """The number ``path`` names in ``bucket``; NaN for a gap under skip, 0 under insert_zeros."""
    value = _resolve(bucket, path, name)
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)) and value is not None:
        raise ApiError(400, f"Aggregation '{name}': buckets_path '{path}' names {value!r}, not a number.")
    missing = value is None or not math.isfinite(float(value))
    if missing or bucket.get("doc_count", 1) == 0:
        if gap_policy == "insert_zeros":
            return 0.0
        if gap_policy == "keep_values" and not missing:
            return float(value)  # type: ignore[arg-type]
        return math.nan
    return float(value)  # type: ignore[arg-type]


_STEP = re.compile(r"([^>\[\].]+)(?:\[([^\]]*)\])?")


def _resolve(bucket: dict, path: str, name: str) -> Any:
    steps = path.split(">")
    node: Any = bucket
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        head, _, metric = step.partition(".") if last else (step, "", "")
        if head in ("_count", "_key") and last and not metric:
            return node.get("doc_count") if head == "_count" else node.get("key")
        m = _STEP.fullmatch(head)
        if m is None or m.group(1) not in node or not isinstance(node[m.group(1)], dict):
            raise ApiError(400, f"Aggregation '{name}': buckets_path '{path}' names no aggregation "
                           f"'{head}' here; use a sub-aggregation's name, _count or _key.")  # fmt: skip
        node = node[m.group(1)]
        if m.group(2) is not None:
            node = _pick_bucket(node, m.group(2), path, name)
        if last:
            return _metric(node, metric, path, name)
    return None


def _pick_bucket(result: dict, key: str, path: str, name: str) -> Any:
    if "values" in result:  # pct[99.0]
        return {"value": _percentile(result, key)}
    for bucket in _bucket_list(result):
        if str(bucket.get("key_as_string", bucket.get("key"))) == key.strip("'\""):
            return bucket
    raise ApiError(400, f"Aggregation '{name}': buckets_path '{path}' has no bucket '{key}'.")


def _percentile(result: dict, key: str) -> Any:
    values = result["values"]
    if isinstance(values, list):
        values = {repr(float(v["key"])): v["value"] for v in values}
    try:
        return values.get(repr(float(key)))
    except ValueError:
        return None


def _metric(node: dict, metric: str, path: str, name: str) -> Any:
    if not metric:
        if "value" in node:
            return node["value"]
        if "doc_count" in node and "buckets" not in node:
            return node["doc_count"]
    elif metric in node and not isinstance(node[metric], dict):
        return node[metric]
    elif "values" in node:
        return _percentile(node, metric)
    elif metric == "value" and "value" in node:
        return node["value"]
    raise ApiError(400, f"Aggregation '{name}': buckets_path '{path}' must end at a number: a single-value "
                   "metric, a metric's value such as stats.avg, _count or _key.")  # fmt: skip


def _parent(pipeline: Agg, result: dict) -> None:
    buckets = _bucket_list(result)
    kind, gap = pipeline.kind, _gap(pipeline)
    if kind == "cumulative_sum":
        total = 0.0
        for bucket in buckets:
            value = bucket_value(bucket, pipeline.spec["buckets_path"], "insert_zeros", pipeline.name)
            total += value if math.isfinite(value) else 0.0
            bucket[pipeline.name] = {"value": total}
    elif kind == "derivative":
        _derivative(pipeline, buckets, gap)
    elif kind == "bucket_selector":
        paths = pipeline.spec["buckets_path"]
        condition = compile_condition(pipeline.spec.get("script"), set(paths), pipeline.name)
        kept = []
        for bucket in buckets:
            params = {var: bucket_value(bucket, path, gap, pipeline.name) for var, path in paths.items()}
            if gap == "skip" and any(math.isnan(v) for v in params.values()):
                continue
            if condition(params):
                kept.append(bucket)
        _replace(result, kept)
    else:
        _replace(result, _sorted(pipeline, buckets, gap))


def _derivative(pipeline: Agg, buckets: list[dict], gap: str) -> None:
    unit = _unit_ms(pipeline) if pipeline.spec.get("unit") is not None else None
    last_value: float | None = None
    last_key: Any = None
    for bucket in buckets:
        value = bucket_value(bucket, pipeline.spec["buckets_path"], gap, pipeline.name)
        if last_value is not None:
            gradient = value - last_value
            out: dict[str, Any] = {"value": gradient if math.isfinite(gradient) else None}
            if unit is not None:
                steps = (bucket["key"] - last_key) / unit
                normalized = gradient / steps if steps > 0 else math.nan
                out["normalized_value"] = normalized if math.isfinite(normalized) else None
            bucket[pipeline.name] = out
        last_value, last_key = value, bucket.get("key")


def _unit_ms(agg: Agg) -> float:
    text = str(agg.spec["unit"])
    text = _UNIT_NAMES.get(text, text)
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    if m is None or int(m.group(1)) == 0:
        raise ApiError(400, f"Aggregation '{agg.name}': derivative unit {agg.spec['unit']!r} must be a fixed length "
                       "such as 1s, 1m, 1h, 1d or 1w.")  # fmt: skip
    return float(int(m.group(1)) * _UNIT_MS[m.group(2)])


def _sort_specs(agg: Agg) -> list[tuple[str, bool]]:
    """bucket_sort's (path, descending) pairs."""
    given = agg.spec.get("sort", [])
    items = given if isinstance(given, list) else [given]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append((item, False))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise ApiError(400, f'Aggregation \'{agg.name}\' (bucket_sort): each sort is "path" or '
                           '{"path": {"order": "asc"|"desc"}}.')  # fmt: skip
        ((path, order),) = item.items()
        order = order.get("order", "asc") if isinstance(order, dict) else order
        if str(order).lower() not in ("asc", "desc"):
            raise ApiError(400, f"Aggregation '{agg.name}' (bucket_sort): order must be asc or desc.")
        out.append((str(path), str(order).lower() == "desc"))
    for option in ("from", "size"):
        if agg.spec.get(option) is not None and as_int(agg.spec[option], f"{agg.name}.{option}") < 0:
            raise ApiError(400, f"Aggregation '{agg.name}' (bucket_sort): {option} must be 0 or more.")
    return out


def _sorted(pipeline: Agg, buckets: list[dict], gap: str) -> list[dict]:
    specs = _sort_specs(pipeline)
    rows = []
    for bucket in buckets:
        keys = []
        for path, _ in specs:
            value = bucket.get("key") if path == "_key" else bucket_value(bucket, path, gap, pipeline.name)
            keys.append(value)
        if gap == "skip" and any(isinstance(k, float) and math.isnan(k) for k in keys):
            continue
        rows.append((keys, bucket))
    for i in reversed(range(len(specs))):  # stable sorts, last key first
        rows.sort(key=lambda row, i=i: row[0][i], reverse=specs[i][1])
    start = as_int(pipeline.spec.get("from", 0), "from")
    size = pipeline.spec.get("size")
    end = None if size is None else start + as_int(size, "size")
    return [bucket for _, bucket in rows][start:end]


def _replace(result: dict, kept: list[dict]) -> None:
    if isinstance(result.get("buckets"), dict):
        names = {id(b): k for k, b in result["buckets"].items()}
        result["buckets"] = {names[id(b)]: b for b in kept}
    else:
        result["buckets"] = kept


def _sibling(pipeline: Agg, container: dict) -> dict:
    path = pipeline.spec["buckets_path"]
    first, sep, rest = path.partition(">")
    target = container.get(first)
    if not isinstance(target, dict) or "buckets" not in target or not sep:
        raise ApiError(400, f"Aggregation '{pipeline.name}' ({pipeline.kind}): buckets_path '{path}' must start at "
                       "a sibling multi-bucket aggregation, as in \"sales_per_month>sales\".")  # fmt: skip
    pairs = []
    for bucket in _bucket_list(target):
        value = bucket_value(bucket, rest, _gap(pipeline), pipeline.name)
        if not math.isnan(value):
            pairs.append((value, str(bucket.get("key_as_string", bucket.get("key")))))
    values = [v for v, _ in pairs]
    if pipeline.kind == "sum_bucket":
        return {"value": math.fsum(values)}
    if pipeline.kind == "avg_bucket":
        return {"value": math.fsum(values) / len(values) if values else None}
    if not values:
        return {"value": None, "keys": []}
    best = max(values) if pipeline.kind == "max_bucket" else min(values)
    return {"value": best, "keys": [k for v, k in pairs if v == best]}
