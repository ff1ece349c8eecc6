"""The numeric kernels PromQL results depend on, computed the way Prometheus computes them.

Exactness here means the same float result as Prometheus, not the exact real
number: sums use Kahan-Neumaier compensation, averages switch from sum/count to
an incremental mean only when the running sum would overflow, variances use
Welford's update (so equal inputs give exactly 0), quantiles order NaN below
every number, and the classic-histogram estimators (``histogram_quantile``,
``histogram_fraction``) interpolate within buckets after merging equal bounds
and forcing the cumulative counts to be monotonic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """Add ``inc`` to the compensated sum (``total``, ``c``); returns the new pair."""
    t = total + inc
    if math.isinf(t):
        c = 0.0
    elif abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def kahan_sum(values: Iterable[float]) -> float:
    total = c = 0.0
    for v in values:
        total, c = kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def mean(values: Sequence[float]) -> float:
    """sum/count with compensation while the sum stays finite, then an incremental mean."""
    total, c = values[0], 0.0
    running = 0.0
    incremental = False
    for i, v in enumerate(values[1:]):
        count = float(i + 2)
        if not incremental:
            new_total, new_c = kahan_inc(v, total, c)
            if not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental = True
            running = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        running, c = kahan_inc(v / count, q * running, q * c)
    if incremental:
        return running + c
    n = float(len(values))
    return total / n + c / n


def aggregate_variance(values: Sequence[float]) -> float:
    """stdvar() across series: Welford's update; a NaN or infinite first value makes it NaN."""
    first = values[0]
    running_mean = first
    acc = math.nan if not math.isfinite(first) else 0.0
    count = 1.0
    for v in values[1:]:
        count += 1
        delta = v - running_mean
        running_mean += delta / count
        acc += delta * (v - running_mean)
    return acc / count


def variance_over_time(values: Sequence[float]) -> float:
    """stdvar_over_time(): Welford's update with compensated mean and sum of squares."""
    count = 0.0
    m = cm = aux = caux = 0.0
    for v in values:
        count += 1
        delta = v - (m + cm)
        m, cm = kahan_inc(delta / count, m, cm)
        aux, caux = kahan_inc(delta * (v - (m + cm)), aux, caux)
    return (aux + caux) / count


def linear_regression(ts: Sequence[int], vals: Sequence[float], intercept_ms: int) -> tuple[float, float]:
    """Least-squares slope (per second) and the value at ``intercept_ms``; a constant series is flat."""
    first = vals[0]
    if all(v == first for v in vals):
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    n = float(len(vals))
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    for t, y in zip(ts, vals):
        x = (t - intercept_ms) / 1e3
        sx, cx = kahan_inc(x, sx, cx)
        sy, cy = kahan_inc(y, sy, cy)
        sxy, cxy = kahan_inc(x * y, sxy, cxy)
        sx2, cx2 = kahan_inc(x * x, sx2, cx2)
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = cov / var if var != 0 else (math.nan if cov == 0 else math.copysign(math.inf, cov))
    return slope, sy / n - slope * sx / n


def quantile(phi: float, values: Sequence[float]) -> float:
    """Linear interpolation between the closest ranks; NaN sorts below every number."""
    if not values or math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v if not math.isnan(v) else 0.0))
    rank = phi * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _cumulative(buckets: list[tuple[float, float]]) -> list[list[float]] | None:
    """Sorted by bound, equal bounds merged, counts made monotonic; None without a +Inf bucket."""
    buckets.sort(key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return None
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    for i in range(1, len(merged)):
        merged[i][1] = max(merged[i][1], merged[i - 1][1])
    return merged


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile() over classic (upper bound, cumulative count) buckets."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged = _cumulative(buckets)
    if merged is None or len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


def bucket_fraction(lower: float, upper: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_fraction(): the share of observations between ``lower`` and ``upper``, interpolated."""
    merged = _cumulative(buckets)
    if merged is None:
        return math.nan
    total = merged[-1][1]
    if total == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0

    def rank_at(v: float) -> float:
        """Cumulative count at value ``v``, linear within a finite bucket."""
        rank = 0.0
        low = 0.0 if merged[0][0] > 0 else -math.inf
        for i, (bound, count) in enumerate(merged):
            if i > 0:
                low = merged[i - 1][0]
            if low >= v:
                return rank
            if v < bound:
                if math.isinf(low):
                    return count
                return rank + (count - rank) * (v - low) / (bound - low)
            rank = count
        return total

    return (min(rank_at(upper), total) - min(rank_at(lower), total)) / total
