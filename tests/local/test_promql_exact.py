"""PromQL results that must equal Prometheus' to the last bit on float samples: compensated sums, the
incremental mean, exact-zero variances, NaN in quantiles, predict_linear under @, absent()'s labels,
histogram_quantile/histogram_fraction, RE2 regexes, the subquery default step, pi(), limitk and
limit_ratio, staleness markers.

Expected values come from the Prometheus documentation's definitions, worked out by hand or with
exact rational arithmetic (``fractions``) in the test, never by running our evaluator twice."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import httpx2
import pytest

from infino_mcp.local.promql.query import MemorySource, instant_query, range_query
from infino_mcp.local.promql.values import PromQLError, Series, make_labels

pytestmark = pytest.mark.anyio
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def flat(name: str, value: float, **labels: str) -> Series:
    """One sample a minute from 0 to 10m, all equal to ``value``."""
    return Series(make_labels({"__name__": name, **labels}), [60_000 * i for i in range(11)], [value] * 11)


def points(name: str, values: list[float], step_s: int = 60, **labels: str) -> Series:
    return Series(
        make_labels({"__name__": name, **labels}), [step_s * 1000 * i for i in range(len(values))], list(values)
    )


async def values(source: MemorySource, query: str, at_s: float = 600) -> dict[tuple, float]:
    data = await instant_query(source, query, round(at_s * 1000))
    if data["resultType"] == "scalar":
        return {(): float(data["result"][1])}
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}


async def one(source: MemorySource, query: str, at_s: float = 600) -> float:
    result = await values(source, query, at_s)
    assert len(result) == 1, result
    return next(iter(result.values()))


async def test_sums_and_averages_are_compensated() -> None:
    big = MemorySource([flat("x", 1e100, i="a"), flat("x", 1.0, i="b"), flat("x", -1e100, i="c")])
    assert await one(big, "sum(x)") == 1.0  # a plain left-to-right sum gives 0
    assert await one(big, "avg(x)") == 1 / 3
    over_time = MemorySource([points("y", [1e100, 1.0, -1e100])])
    assert await one(over_time, "sum_over_time(y[5m])", 120) == 1.0
    assert await one(over_time, "avg_over_time(y[5m])", 120) == 1 / 3


async def test_an_average_whose_sum_overflows_switches_to_the_incremental_mean() -> None:
    huge = [1.5e308, 1.5e308, -1e308]
    exact = float(sum(Fraction(v) for v in huge) / 3)
    across = MemorySource([flat("x", v, i=str(n)) for n, v in enumerate(huge)])
    over_time = MemorySource([points("y", huge)])
    for got in (await one(across, "avg(x)"), await one(over_time, "avg_over_time(y[5m])", 120)):
        assert math.isfinite(got)  # sum/count would be +Inf
        assert math.isclose(got, exact, rel_tol=1e-15)


async def test_variance_of_equal_values_is_exactly_zero() -> None:
    # 0.1 has no exact binary form: mean-then-deviations leaves a residue of about 1e-17.
    across = MemorySource([flat("x", 0.1, i=str(n)) for n in range(3)])
    assert await one(across, "stddev(x)") == 0.0
    assert await one(across, "stdvar(x)") == 0.0
    over_time = MemorySource([points("y", [0.1] * 3)])
    assert await one(over_time, "stddev_over_time(y[5m])", 120) == 0.0
    assert await one(over_time, "stdvar_over_time(y[5m])", 120) == 0.0
    # and a non-constant input still gives the population variance: (1, 2, 3, 4) -> 1.25
    assert await one(MemorySource([points("z", [1, 2, 3, 4])]), "stdvar_over_time(z[5m])", 180) == 1.25


async def test_quantile_orders_nan_below_every_number() -> None:
    source = MemorySource([flat("x", math.nan, i="a"), flat("x", 1.0, i="b"), flat("x", 2.0, i="c")])
    # sorted: NaN, 1, 2; rank = phi * (n - 1)
    assert math.isnan(await one(source, "quantile(0, x)"))
    assert await one(source, "quantile(0.5, x)") == 1.0
    assert await one(source, "quantile(0.75, x)") == 1.5
    assert await one(source, "quantile(1, x)") == 2.0
    over_time = MemorySource([points("y", [2.0, math.nan, 1.0])])
    assert await one(over_time, "quantile_over_time(0.5, y[5m])", 120) == 1.0


async def test_predict_linear_under_at_extrapolates_from_the_evaluation_time() -> None:
    source = MemorySource([points("x", [float(60 * i) for i in range(11)])])  # value = seconds: slope 1/s
    # the window is pinned at 600 s, the prediction starts from the evaluation time (1200 s) + 60 s
    assert await one(source, "predict_linear(x[10m] @ 600, 60)", 1200) == 1260.0
    assert await one(source, "predict_linear(x[10m] offset 5m, 60)", 900) == 960.0
    assert await one(source, "deriv(x[10m] @ 600)", 1200) == 1.0


async def test_absent_keeps_only_labels_fixed_by_a_single_equality_matcher() -> None:
    empty = MemorySource([])
    assert await values(empty, 'absent(nope{job="a", job=~"b", foo="bar"})') == {(("foo", "bar"),): 1.0}
    assert await values(empty, 'absent(nope{job="a", job="a"})') == {(): 1.0}
    assert await values(empty, 'absent(nope{job=~"b", job="a"})') == {(("job", "a"),): 1.0}
    assert await values(empty, 'absent_over_time(nope{job="a", instance=~".+"}[5m])') == {(("job", "a"),): 1.0}


def buckets(name: str, counts: dict[str, float], **labels: str) -> list[Series]:
    return [Series(make_labels({"__name__": name, "le": le, **labels}), [600_000], [n]) for le, n in counts.items()]


LATENCY = {"0.1": 10.0, "0.5": 30.0, "1": 40.0, "+Inf": 40.0}


async def test_histogram_functions_refuse_two_histograms_with_the_same_labels() -> None:
    source = MemorySource(buckets("a_bucket", LATENCY, job="x") + buckets("b_bucket", LATENCY, job="x"))
    for query in ('histogram_quantile(0.5, {__name__=~".+_bucket"})', 'histogram_fraction(0, 1, {__name__=~".+"})'):
        with pytest.raises(PromQLError, match="same labelset"):
            await instant_query(source, query, 600_000)
    # one of them alone: the 20th of 40 observations lies in (0.1, 0.5]: 0.1 + 0.4 * (20 - 10) / 20 = 0.3
    assert await one(source, "histogram_quantile(0.5, a_bucket)") == pytest.approx(0.3, rel=1e-15)


async def test_histogram_fraction_interpolates_within_buckets() -> None:
    source = MemorySource(buckets("lat_bucket", LATENCY))
    # cumulative count at 0.3 = 10 + (30 - 10) * (0.3 - 0.1) / (0.5 - 0.1) = 20 of 40
    assert await one(source, "histogram_fraction(0, 0.3, lat_bucket)") == pytest.approx(0.5, rel=1e-15)
    assert await one(source, "histogram_fraction(0.5, +Inf, lat_bucket)") == 0.25
    assert await one(source, "histogram_fraction(-Inf, 0.1, lat_bucket)") == 0.25
    assert await one(source, "histogram_fraction(1, 0.5, lat_bucket)") == 0.0  # lower >= upper


async def test_regexes_are_re2_with_go_syntax() -> None:
    source = MemorySource([flat("x", 1.0, group="production"), flat("x", 2.0, group="canary")])
    assert await values(source, 'x{group=~".*((?i)DUC).*"}') == {(("__name__", "x"), ("group", "production")): 1.0}
    assert await values(source, r'x{group=~"\\pL+"}') == {
        (("__name__", "x"), ("group", "canary")): 2.0,
        (("__name__", "x"), ("group", "production")): 1.0,
    }
    with pytest.raises(PromQLError, match="regex"):
        await instant_query(source, 'x{group=~"(?=prod).*"}', 600_000)  # RE2 has no look-ahead
    replaced = await values(source, 'label_replace(x, "env", "$1", "group", "((?i)PROD)uction")')
    assert replaced[(("__name__", "x"), ("env", "prod"), ("group", "production"))] == 1.0


async def test_a_subquery_without_a_step_uses_the_default_interval_in_range_queries() -> None:
    data = await range_query(MemorySource([]), "count_over_time(vector(1)[10m:])", 600_000, 1_200_000, 300_000)
    (series,) = data["result"]
    # subquery points at whole minutes in (t - 10m, t]: ten of them, not two at the query's 5m step
    assert [v for _, v in series["values"]] == ["10", "10", "10"]


async def test_pi() -> None:
    assert await one(MemorySource([]), "pi()") == math.pi


async def test_limitk_and_limit_ratio_sample_series_without_changing_them() -> None:
    inputs = {f"s{n}": float(n) for n in range(20)}
    source = MemorySource([flat("x", v, i=name) for name, v in inputs.items()])
    everything = await values(source, "x")
    picked = await values(source, "limitk(3, x)")
    assert len(picked) == 3 and all(everything[k] == v for k, v in picked.items())
    assert await values(source, "limitk(50, x)") == everything
    assert await values(source, "limitk(0, x)") == {}
    by_group = await values(source, 'limitk by (i) (1, x{i=~"s1|s2"})')
    assert by_group == {k: v for k, v in everything.items() if dict(k)["i"] in ("s1", "s2")}

    half = await values(source, "limit_ratio(0.5, x)")
    rest = await values(source, "limit_ratio(-0.5, x)")
    # a negative ratio is the complement of the positive one: together they are every series, once
    assert set(half).isdisjoint(rest) and {**half, **rest} == everything
    assert await values(source, "limit_ratio(1, x)") == everything
    assert await values(source, "limit_ratio(0, x)") == {}
    # the choice depends on the labels only, so it is the same at every step of a range query
    data = await range_query(source, "limit_ratio(0.5, x)", 0, 600_000, 60_000)
    assert {tuple(sorted(s["metric"].items())) for s in data["result"]} == set(half)
    assert all(len(s["values"]) == 11 for s in data["result"])


async def test_staleness_markers_end_a_series() -> None:
    source = MemorySource([points("x", [1.0, 2.0, STALE, 4.0])])
    assert await values(source, "x", 90) == {(("__name__", "x"),): 2.0}
    assert await values(source, "x", 150) == {}  # the newest sample is the marker: no lookback past it
    assert await one(source, "count_over_time(x[5m])", 200) == 3.0


async def test_through_the_endpoint(endpoint: httpx2.AsyncClient) -> None:
    """Exposition upload then /promql/query: compensated sum and an RE2-only matcher."""
    text = "".join(
        f'm{{g="{g}"}} {v} 1700000000000\n' for g, v in (("Production", 1e100), ("prod-2", 1.0), ("PRODx", -1e100))
    )
    response = await endpoint.post("/metrics-exact/metrics", content=text)
    assert response.status_code == 200, response.text
    form = {"query": 'sum(m{g=~"((?i)prod).*"})', "time": "1700000000"}
    response = await endpoint.post("/promql/query", data=form)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["result"][0]["value"][1] == "1"
