"""PromQL functions: the range-vector ones (rate, *_over_time, ...) and the
instant-vector ones (abs, round, clamp, histogram_quantile, label_replace, ...).

Range functions see one series cut to the selector's window and return one
value (or None for "no output"); the evaluator drops ``__name__`` from their
results except for ``last_over_time``/``first_over_time``, as Prometheus does.
rate/increase/delta follow Prometheus' extrapolation rules exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime

from infino_mcp.local.promql.stats import (
    bucket_fraction,
    bucket_quantile,
    kahan_sum,
    linear_regression,
    mean,
    quantile,
    variance_over_time,
)
from infino_mcp.local.promql.values import (
    NAME,
    Labels,
    Matrix,
    PromQLError,
    Sample,
    Series,
    Vector,
    compile_regex,
    drop_name,
    get_label,
    labels_text,
    make_labels,
)

RangeFn = Callable[[Series, Matrix, list[float]], "float | None"]


def _extrapolated(s: Series, m: Matrix, *, counter: bool, rate: bool) -> float | None:
    n = len(s.vals)
    if n < 2:
        return None
    first_t, last_t = s.ts[0], s.ts[-1]
    first_v = s.vals[0]
    result = s.vals[-1] - first_v
    if counter:
        previous = 0.0
        for v in s.vals:
            if v < previous:
                result += previous
            previous = v
    sampled = (last_t - first_t) / 1000
    if sampled <= 0:
        return None
    to_start = (first_t - m.start) / 1000
    to_end = (m.end - last_t) / 1000
    average = sampled / (n - 1)
    threshold = average * 1.1
    if to_start >= threshold:
        to_start = average / 2
    if counter and result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    if to_end >= threshold:
        to_end = average / 2
    factor = (sampled + to_start + to_end) / sampled
    if rate:
        factor /= m.range_ms / 1000
    return result * factor


def _instant_delta(s: Series, m: Matrix, *, rate: bool) -> float | None:
    if len(s.vals) < 2:
        return None
    last, previous = s.vals[-1], s.vals[-2]
    if rate and last < previous:
        result = last
    else:
        result = last - previous
    if not rate:
        return result
    interval = (s.ts[-1] - s.ts[-2]) / 1000
    return None if interval <= 0 else result / interval


def _deriv(s: Series, m: Matrix, params: list[float]) -> float | None:
    return None if len(s.vals) < 2 else linear_regression(s.ts, s.vals, s.ts[0])[0]


def _predict_linear(s: Series, m: Matrix, params: list[float]) -> float | None:
    """The regression's value ``params[0]`` seconds after the evaluation time (not the window's end under @)."""
    if len(s.vals) < 2:
        return None
    slope, intercept = linear_regression(s.ts, s.vals, m.eval_ms)
    return slope * params[0] + intercept


def _min(vals: list[float]) -> float:
    real = [v for v in vals if not math.isnan(v)]
    return min(real) if real else math.nan


def _max(vals: list[float]) -> float:
    real = [v for v in vals if not math.isnan(v)]
    return max(real) if real else math.nan


def _changes(vals: list[float]) -> float:
    return float(sum(1 for a, b in zip(vals, vals[1:]) if a != b and not (math.isnan(a) and math.isnan(b))))


def _resets(vals: list[float]) -> float:
    return float(sum(1 for a, b in zip(vals, vals[1:]) if b < a))


def _mad(vals: list[float]) -> float:
    if any(math.isnan(v) for v in vals):
        return math.nan
    median = quantile(0.5, vals)
    return quantile(0.5, [abs(v - median) for v in vals])


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": lambda s, m, p: _extrapolated(s, m, counter=True, rate=True),
    "increase": lambda s, m, p: _extrapolated(s, m, counter=True, rate=False),
    "delta": lambda s, m, p: _extrapolated(s, m, counter=False, rate=False),
    "irate": lambda s, m, p: _instant_delta(s, m, rate=True),
    "idelta": lambda s, m, p: _instant_delta(s, m, rate=False),
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "changes": lambda s, m, p: _changes(s.vals),
    "resets": lambda s, m, p: _resets(s.vals),
    "avg_over_time": lambda s, m, p: mean(s.vals),
    "sum_over_time": lambda s, m, p: kahan_sum(s.vals),
    "min_over_time": lambda s, m, p: _min(s.vals),
    "max_over_time": lambda s, m, p: _max(s.vals),
    "count_over_time": lambda s, m, p: float(len(s.vals)),
    "last_over_time": lambda s, m, p: s.vals[-1],
    "first_over_time": lambda s, m, p: s.vals[0],
    "present_over_time": lambda s, m, p: 1.0,
    "stddev_over_time": lambda s, m, p: math.sqrt(variance_over_time(s.vals)),
    "stdvar_over_time": lambda s, m, p: variance_over_time(s.vals),
    "quantile_over_time": lambda s, m, p: quantile(p[0], s.vals),
    "mad_over_time": lambda s, m, p: _mad(s.vals),
}

KEEP_NAME_RANGE_FUNCTIONS = frozenset({"last_over_time", "first_over_time"})


def round_to(v: float, to_nearest: float = 1.0) -> float:
    """Round to the nearest multiple of ``to_nearest`` (ties up), with Go's float results at the edges."""
    if not math.isfinite(v):
        return v
    if to_nearest == 0 or not math.isfinite(to_nearest):
        return math.nan
    inverse = 1.0 / to_nearest
    scaled = v * inverse + 0.5
    if not math.isfinite(scaled):
        return scaled / inverse
    return math.floor(scaled) / inverse


def _sgn(v: float) -> float:
    if math.isnan(v):
        return v
    return float((v > 0) - (v < 0))


def _safe(
    fn: Callable[[float], float], *, overflow: float = math.nan, at_zero: float | None = None
) -> Callable[[float], float]:
    """Go's math returns NaN/±Inf outside a function's domain where Python raises; do the same."""

    def wrapped(v: float) -> float:
        if at_zero is not None and v == 0:
            return at_zero
        try:
            return fn(v)
        except OverflowError:
            return overflow
        except ValueError:
            return math.nan

    return wrapped


MATH_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda v: v if not math.isfinite(v) else float(math.ceil(v)),
    "floor": lambda v: v if not math.isfinite(v) else float(math.floor(v)),
    "exp": _safe(math.exp, overflow=math.inf),
    "ln": _safe(math.log, at_zero=-math.inf),
    "log2": _safe(math.log2, at_zero=-math.inf),
    "log10": _safe(math.log10, at_zero=-math.inf),
    "sqrt": _safe(math.sqrt),
    "sgn": _sgn,
    "deg": math.degrees,
    "rad": math.radians,
    "sin": _safe(math.sin),
    "cos": _safe(math.cos),
    "tan": _safe(math.tan),
    "asin": _safe(math.asin),
    "acos": _safe(math.acos),
    "atan": math.atan,
    "sinh": _safe(math.sinh, overflow=math.inf),
    "cosh": _safe(math.cosh, overflow=math.inf),
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": _safe(math.acosh),
    "atanh": _safe(math.atanh),
}


def map_values(vector: Vector, fn: Callable[[float], float]) -> Vector:
    return [Sample(drop_name(s.labels), fn(s.value)) for s in vector]


def _utc(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _days_in_month(d: datetime) -> float:
    nxt = d.replace(year=d.year + (d.month == 12), month=d.month % 12 + 1, day=1)
    return float((nxt - d.replace(day=1)).days)


DATE_FUNCTIONS: dict[str, Callable[[datetime], float]] = {
    "minute": lambda d: float(d.minute),
    "hour": lambda d: float(d.hour),
    "day_of_week": lambda d: float((d.weekday() + 1) % 7),
    "day_of_month": lambda d: float(d.day),
    "day_of_year": lambda d: float(d.timetuple().tm_yday),
    "days_in_month": _days_in_month,
    "month": lambda d: float(d.month),
    "year": lambda d: float(d.year),
}


def date_function(name: str, vector: Vector) -> Vector:
    fn = DATE_FUNCTIONS[name]
    out = []
    for s in vector:
        if not math.isfinite(s.value):
            continue
        try:
            out.append(Sample(drop_name(s.labels), fn(_utc(s.value))))
        except (OverflowError, ValueError, OSError):
            continue
    return out


def clamp(vector: Vector, low: float, high: float) -> Vector:
    if high < low:
        return []
    return [
        Sample(drop_name(s.labels), s.value if math.isnan(s.value) else max(low, min(high, s.value))) for s in vector
    ]


def sort_vector(vector: Vector, descending: bool) -> Vector:
    """Sorted by value; NaN always last, like Prometheus."""
    real = [s for s in vector if not math.isnan(s.value)]
    nans = [s for s in vector if math.isnan(s.value)]
    return sorted(real, key=lambda s: s.value, reverse=descending) + nans


def _natural_key(text: str) -> list[tuple[int, int | str]]:
    """Digits compare as numbers ("a2" < "a10"), the rest as text."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def sort_by_label(vector: Vector, names: list[str], descending: bool) -> Vector:
    """Sorted by the values of the given labels (natural order), then by the whole label set."""
    return sorted(
        vector,
        key=lambda s: ([_natural_key(get_label(s.labels, n)) for n in names], s.labels),
        reverse=descending,
    )


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def valid_label_name(name: str) -> bool:
    return _LABEL_NAME.fullmatch(name) is not None


def _check_label_name(name: str) -> None:
    if not valid_label_name(name):
        raise PromQLError(f"invalid destination label name in label_replace/label_join: {name!r}")


_TEMPLATE_REF = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def _expand(match: re.Match[str], template: str) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${name}``, ``$$``; unknown groups expand to nothing."""

    def reference(ref: re.Match[str]) -> str:
        if ref.group(1) == "$":
            return "$"
        name = ref.group(2) or ref.group(3)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return _TEMPLATE_REF.sub(reference, template)


def label_replace(vector: Vector, dst: str, replacement: str, src: str, pattern: str) -> Vector:
    regex = compile_regex(pattern, "in label_replace()")
    _check_label_name(dst)
    out = []
    for s in vector:
        match = regex.fullmatch(get_label(s.labels, src))
        if match is None:
            out.append(s)
            continue
        labels = dict(s.labels)
        labels[dst] = _expand(match, replacement)
        out.append(Sample(make_labels(labels), s.value))
    return out


def label_join(vector: Vector, dst: str, separator: str, sources: list[str]) -> Vector:
    _check_label_name(dst)
    out = []
    for s in vector:
        labels = dict(s.labels)
        labels[dst] = separator.join(get_label(s.labels, src) for src in sources)
        out.append(Sample(make_labels(labels), s.value))
    return out


def _classic_histograms(vector: Vector) -> dict[Labels, list[tuple[float, float]]]:
    """Bucket series grouped by every label but ``le`` (the metric name included), keyed by their output
    labels (no name, no ``le``); two metrics whose buckets share those labels is an error, as in Prometheus."""
    groups: dict[Labels, list[tuple[float, float]]] = {}
    names: dict[Labels, str] = {}
    for s in vector:
        try:
            bound = float(get_label(s.labels, "le"))
        except ValueError:
            continue
        key = tuple(p for p in s.labels if p[0] not in ("le", NAME))
        name = get_label(s.labels, NAME)
        if names.setdefault(key, name) != name:
            raise PromQLError(
                f"vector cannot contain metrics with the same labelset {labels_text(key)}: buckets of "
                f"{names[key]!r} and {name!r} would merge; select one histogram's buckets",
                "execution",
            )
        groups.setdefault(key, []).append((bound, s.value))
    return groups


def histogram_quantile(phi: float, vector: Vector) -> Vector:
    """Quantile from classic ``_bucket`` series (``le`` label), grouped by their other labels."""
    return [Sample(key, bucket_quantile(phi, buckets)) for key, buckets in _classic_histograms(vector).items()]


def histogram_fraction(lower: float, upper: float, vector: Vector) -> Vector:
    """Estimated share of observations between ``lower`` and ``upper`` from classic buckets."""
    return [Sample(key, bucket_fraction(lower, upper, buckets)) for key, buckets in _classic_histograms(vector).items()]


SPECIAL_FUNCTIONS = frozenset(
    {
        "absent",
        "absent_over_time",
        "scalar",
        "vector",
        "time",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "sort",
        "sort_desc",
        "sort_by_label",
        "sort_by_label_desc",
        "timestamp",
        "label_replace",
        "label_join",
        "histogram_quantile",
        "histogram_fraction",
        "pi",
    }
)

SUPPORTED_FUNCTIONS = (
    frozenset(RANGE_FUNCTIONS) | frozenset(MATH_FUNCTIONS) | frozenset(DATE_FUNCTIONS) | SPECIAL_FUNCTIONS
)
