"""PromQL aggregation operators and binary operators with vector matching.

Semantics follow Prometheus: arithmetic drops ``__name__``; comparisons filter
(keeping the left value) unless ``bool`` turns them into 0/1; vector/vector
operations match series on all labels but ``__name__`` unless ``on``/``ignoring``
say otherwise; ``group_left``/``group_right`` allow many-to-one matching;
``and``/``or``/``unless`` are set operations on the same signatures.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import xxhash

from infino_mcp.local.promql.funcs import valid_label_name
from infino_mcp.local.promql.parse import Agg, Binary
from infino_mcp.local.promql.stats import aggregate_variance, kahan_sum, mean, quantile
from infino_mcp.local.promql.values import (
    NAME,
    Labels,
    PromQLError,
    Sample,
    Scalar,
    Value,
    Vector,
    drop_name,
    format_value,
    labels_text,
    make_labels,
)

SET_OPS = frozenset({"and", "or", "unless"})


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def _pow(a: float, b: float) -> float:
    """``a ^ b`` with Go's results where Python raises (0 to a negative power, overflow, domain errors)."""
    odd_integer = float(b).is_integer() and math.fmod(b, 2) != 0
    if a == 0 and b < 0:
        return math.copysign(math.inf, a) if odd_integer else math.inf
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and odd_integer else math.inf
    except ValueError:
        return math.nan


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def _element(op: str, a: float, b: float) -> tuple[float, bool]:
    """(value, keep) for one pair of operands; comparisons keep the left value."""
    if op in COMPARE:
        return a, COMPARE[op](a, b)
    return ARITHMETIC[op](a, b), True


def _group_labels(labels: Labels, by: tuple[str, ...] | None, without: tuple[str, ...] | None) -> Labels:
    if by is not None:
        return tuple(p for p in labels if p[0] in by)
    if without is not None:
        return tuple(p for p in labels if p[0] not in without and p[0] != NAME)
    return ()


def _nan_last_key(descending: bool) -> Callable[[Sample], tuple[int, float]]:
    def key(s: Sample) -> tuple[int, float]:
        if math.isnan(s.value):
            return (1, 0.0)
        return (0, -s.value if descending else s.value)

    return key


def aggregate(node: Agg, vector: Vector, param: float | str | None) -> Vector:
    """Apply the aggregation ``node.op`` to ``vector`` at one evaluation time."""
    groups: dict[Labels, list[Sample]] = {}
    for s in vector:
        groups.setdefault(_group_labels(s.labels, node.by, node.without), []).append(s)
    op = node.op
    if op in ("topk", "bottomk"):
        assert isinstance(param, float)
        if math.isnan(param):
            raise PromQLError(f"parameter value for {op} is NaN; pass a number of series", "execution")
        k = len(vector) if param >= len(vector) else max(0, int(param))
        out: Vector = []
        for members in groups.values():
            out.extend(sorted(members, key=_nan_last_key(op == "topk"))[: max(k, 0)])
        return out
    if op == "limitk":
        assert isinstance(param, float)
        if math.isnan(param):
            raise PromQLError("parameter value for limitk is NaN; pass a number of series", "execution")
        k = min(param, len(vector))
        if k < 1:
            return []
        return [s for members in groups.values() for s in sorted(members, key=lambda s: s.labels)[: int(k)]]
    if op == "limit_ratio":
        assert isinstance(param, float)
        if math.isnan(param):
            raise PromQLError("ratio value for limit_ratio is NaN; pass a ratio between -1 and 1", "execution")
        ratio = max(-1.0, min(1.0, param))
        if ratio == 0:
            return []
        return [s for s in vector if _in_ratio(ratio, _sample_offset(s.labels))]
    if op == "count_values":
        assert isinstance(param, str)
        if not valid_label_name(param):
            raise PromQLError(f"invalid label name {param!r} for count_values")
        counts: dict[Labels, float] = {}
        for key, members in groups.items():
            for s in members:
                labels = make_labels({**dict(key), param: format_value(s.value)})
                counts[labels] = counts.get(labels, 0.0) + 1
        return [Sample(labels, n) for labels, n in counts.items()]
    result: Vector = []
    for key, members in groups.items():
        values = [s.value for s in members]
        result.append(Sample(key, _reduce(op, values, param)))
    return result


def _sample_offset(labels: Labels) -> float:
    """A series' place in [0, 1): the xxHash64 of Prometheus' label encoding (length-prefixed names and
    values, in name order) over 2^64, so limit_ratio keeps the same series as Prometheus does."""
    data = bytearray()
    for pair in labels:
        for text in pair:
            raw = text.encode()
            size = len(raw)
            data += bytes([size]) if size < 255 else bytes([255, size & 0xFF, (size >> 8) & 0xFF, size >> 16])
            data += raw
    return xxhash.xxh64_intdigest(bytes(data)) / float(2**64)


def _in_ratio(ratio: float, offset: float) -> bool:
    """A positive ratio keeps offsets below it; a negative one keeps the complement (offset >= 1 + ratio)."""
    return offset < ratio if ratio >= 0 else offset >= 1 + ratio


def _reduce(op: str, values: list[float], param: float | str | None) -> float:
    if op == "sum":
        return kahan_sum(values)
    if op == "avg":
        return mean(values)
    if op == "count":
        return float(len(values))
    if op == "group":
        return 1.0
    if op in ("min", "max"):
        real = [v for v in values if not math.isnan(v)]
        if not real:
            return math.nan
        return min(real) if op == "min" else max(real)
    if op in ("stddev", "stdvar"):
        var = aggregate_variance(values)
        return math.sqrt(var) if op == "stddev" else var
    if op == "quantile":
        assert isinstance(param, float)
        return quantile(param, values)
    raise PromQLError(f"aggregation {op!r} is not supported")


def binary(node: Binary, lhs: Value, rhs: Value) -> Value:
    """Evaluate ``lhs node.op rhs`` for scalars and instant vectors."""
    op = node.op
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        value, keep = _element(op, lhs.value, rhs.value)
        if op in COMPARE:
            value = 1.0 if keep else 0.0
        return Scalar(value)
    if isinstance(lhs, list) and isinstance(rhs, Scalar):
        return _vector_scalar(node, lhs, rhs.value, swapped=False)
    if isinstance(lhs, Scalar) and isinstance(rhs, list):
        return _vector_scalar(node, rhs, lhs.value, swapped=True)
    if isinstance(lhs, list) and isinstance(rhs, list):
        if op in SET_OPS:
            return _set_op(node, lhs, rhs)
        return _vector_vector(node, lhs, rhs)
    raise PromQLError(f"operator {op!r} needs scalar or instant vector operands")


def _vector_scalar(node: Binary, vector: Vector, scalar: float, *, swapped: bool) -> Vector:
    op = node.op
    out: Vector = []
    for s in vector:
        a, b = (scalar, s.value) if swapped else (s.value, scalar)
        value, keep = _element(op, a, b)
        if op in COMPARE and swapped:
            value = s.value
        if node.return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if not keep:
            continue
        labels = drop_name(s.labels) if op in ARITHMETIC or node.return_bool else s.labels
        out.append(Sample(labels, value))
    return out


def _signature(node: Binary, labels: Labels) -> Labels:
    if node.on is not None:
        return tuple(p for p in labels if p[0] in node.on)
    ignored = set(node.ignoring or ()) | {NAME}
    return tuple(p for p in labels if p[0] not in ignored)


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    right = {_signature(node, s.labels) for s in rhs}
    if node.op == "and":
        return [s for s in lhs if _signature(node, s.labels) in right]
    if node.op == "unless":
        return [s for s in lhs if _signature(node, s.labels) not in right]
    left = {_signature(node, s.labels) for s in lhs}
    return lhs + [s for s in rhs if _signature(node, s.labels) not in left]


def _result_labels(node: Binary, many: Labels, one: Labels) -> Labels:
    labels = dict(many)
    if node.op in ARITHMETIC or node.return_bool:
        labels.pop(NAME, None)
    if node.card == "one-to-one":
        if node.on is not None:
            labels = {k: v for k, v in labels.items() if k in node.on}
        else:
            for name in node.ignoring or ():
                labels.pop(name, None)
    one_map = dict(one)
    for name in node.include:
        if one_map.get(name):
            labels[name] = one_map[name]
        else:
            labels.pop(name, None)
    return make_labels(labels)


def _vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    if node.card == "many-to-many":
        raise PromQLError(f"many-to-many matching is only allowed for and/or/unless, not {node.op!r}")
    swapped = node.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    one_side: dict[Labels, Sample] = {}
    for s in one:
        sig = _signature(node, s.labels)
        if sig in one_side:
            side = "left" if swapped else "right"
            raise PromQLError(
                f"found duplicate series for the match group {labels_text(sig)} on the {side} hand-side of the "
                "operation; many-to-many matching not allowed: matching labels must be unique on one side",
                "execution",
            )
        one_side[sig] = s
    matched: set[Labels] = set()
    produced: set[Labels] = set()
    out: Vector = []
    for s in many:
        sig = _signature(node, s.labels)
        partner = one_side.get(sig)
        if partner is None:
            continue
        if node.card == "one-to-one":
            if sig in matched:
                raise PromQLError(
                    f"multiple matches for labels {labels_text(sig)}: many-to-one matching must be explicit "
                    "(group_left/group_right)",
                    "execution",
                )
            matched.add(sig)
        a, b = (partner.value, s.value) if swapped else (s.value, partner.value)
        value, keep = _element(node.op, a, b)
        if node.return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if not keep:
            continue
        labels = _result_labels(node, s.labels, partner.labels)
        if labels in produced and node.card != "one-to-one":
            raise PromQLError(
                f"multiple matches for labels {labels_text(labels)}: grouping labels must ensure unique matches",
                "execution",
            )
        produced.add(labels)
        out.append(Sample(labels, value))
    return out
