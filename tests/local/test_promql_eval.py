"""PromQL evaluation over in-memory series (no engine): selectors, functions,
aggregations, operators, range queries and the refusals.

Expected values are worked out by hand from Prometheus' rules (3.x windows:
left-open ranges, 5 minute lookback, rate extrapolation)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from infino_mcp.local.promql.query import MemorySource, instant_query, range_query
from infino_mcp.local.promql.values import (
    PromQLError,
    Series,
    format_value,
    make_labels,
)

MIN = 60_000


def series(name: str, labels: dict[str, str], points: list[tuple[float, float]]) -> Series:
    """``points`` as (seconds, value)."""
    return Series(
        make_labels({"__name__": name, **labels}), [round(t * 1000) for t, _ in points], [v for _, v in points]
    )


def every(step_s: float, values: list[float], start_s: float = 0) -> list[tuple[float, float]]:
    return [(start_s + i * step_s, v) for i, v in enumerate(values)]


@pytest.fixture
def source() -> MemorySource:
    return MemorySource(
        [
            # counters every 5m from 0 to 50m
            series("http_requests_total", {"job": "api", "instance": "a"}, every(300, [10.0 * i for i in range(11)])),
            series(
                "http_requests_total", {"job": "api", "instance": "b"}, every(300, [1.0 + 20 * i for i in range(11)])
            ),
            series("http_requests_total", {"job": "web", "instance": "a"}, every(300, [5.0 * i for i in range(11)])),
            # a counter that resets after 25m
            series("resets_total", {"job": "api"}, every(300, [0, 10, 20, 30, 40, 50, 0, 10, 20, 30, 40])),
            # gauges every minute from 0 to 10m
            series("temp", {"room": "kitchen"}, every(60, [20, 21, 23, 22, 25, 24, 26, 21, 20, 19, 18])),
            series("temp", {"room": "hall"}, every(60, [15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20])),
            series("limit", {"room": "kitchen"}, every(60, [22.0] * 11)),
            series("limit", {"room": "hall"}, every(60, [16.0] * 11)),
            series("room_info", {"room": "kitchen", "floor": "1"}, every(60, [1.0] * 11)),
            series("room_info", {"room": "hall", "floor": "0"}, every(60, [1.0] * 11)),
            # a classic histogram at 10m
            series("lat_bucket", {"le": "0.1"}, [(600, 10.0)]),
            series("lat_bucket", {"le": "0.5"}, [(600, 30.0)]),
            series("lat_bucket", {"le": "1"}, [(600, 40.0)]),
            series("lat_bucket", {"le": "+Inf"}, [(600, 40.0)]),
        ]
    )


async def vec(source: MemorySource, query: str, at_s: float) -> dict[tuple, float]:
    data = await instant_query(source, query, round(at_s * 1000))
    assert data["resultType"] == "vector", data
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}


def key(**labels: str) -> tuple:
    return tuple(sorted(labels.items()))


@pytest.mark.anyio
async def test_instant_selector_takes_the_newest_sample_within_the_lookback(source: MemorySource) -> None:
    assert await vec(source, 'temp{room="kitchen"}', 330) == {key(__name__="temp", room="kitchen"): 24.0}
    # the last sample (600 s) is still seen 299 s later, not 300 s later
    assert await vec(source, 'temp{room="kitchen"}', 899) == {key(__name__="temp", room="kitchen"): 18.0}
    assert await vec(source, 'temp{room="kitchen"}', 900) == {}
    data = await instant_query(source, "temp", 330_000)
    assert data["result"][0] == {"metric": {"__name__": "temp", "room": "hall"}, "value": [330, "17"]}


@pytest.mark.anyio
async def test_label_matchers_are_fully_anchored(source: MemorySource) -> None:
    at = 3000
    assert set(await vec(source, 'http_requests_total{job="api"}', at)) == {
        key(__name__="http_requests_total", job="api", instance="a"),
        key(__name__="http_requests_total", job="api", instance="b"),
    }
    assert len(await vec(source, 'http_requests_total{job!="api"}', at)) == 1
    assert await vec(source, 'http_requests_total{job=~"ap"}', at) == {}
    assert len(await vec(source, 'http_requests_total{job=~"ap.*|we."}', at)) == 3
    assert len(await vec(source, 'http_requests_total{job!~"a.*", instance=~"a"}', at)) == 1
    assert len(await vec(source, '{__name__=~"temp|limit"}', 600)) == 4
    assert await vec(source, 'temp{nosuch=""}', 600) != {}


@pytest.mark.anyio
async def test_rate_and_increase_extrapolate_like_prometheus(source: MemorySource) -> None:
    # window (0, 50m]: samples 5m..50m = 10..100 (instance a); extrapolated to the full 50m -> 100
    result = await vec(source, "increase(http_requests_total[50m])", 3000)
    assert result[key(job="api", instance="a")] == pytest.approx(100.0)
    assert result[key(job="api", instance="b")] == pytest.approx(200.0)
    rates = await vec(source, "rate(http_requests_total[50m])", 3000)
    assert rates[key(job="web", instance="a")] == pytest.approx(50.0 / 3000)
    # start extrapolation limited by "the counter was zero": 10..50 at 5m..25m over (0, 25m]
    assert (await vec(source, 'increase(http_requests_total{instance="a",job="api"}[25m])', 1500))[
        key(job="api", instance="a")
    ] == pytest.approx(50.0)
    # a window with a counter reset: 10..50, 0..40 at 5m..50m: raw 30 + 50 reset, first 10 -> zero point 5.6m away
    assert (await vec(source, "increase(resets_total[50m])", 3000))[key(job="api")] == pytest.approx(80 * 50 / 45)
    # one sample in the window gives nothing
    assert await vec(source, "rate(http_requests_total[5m])", 3000) == {}


@pytest.mark.anyio
async def test_irate_delta_and_over_time_functions(source: MemorySource) -> None:
    kitchen = key(room="kitchen")
    at = 600  # window (5m, 10m] of the kitchen gauge: 26, 21, 20, 19, 18
    # irate treats the last drop (19 -> 18) as a counter reset
    assert (await vec(source, "irate(temp[5m])", at))[kitchen] == pytest.approx(18 / 60)
    assert (await vec(source, "idelta(temp[5m])", at))[kitchen] == -1
    assert (await vec(source, "avg_over_time(temp[5m])", at))[kitchen] == pytest.approx((26 + 21 + 20 + 19 + 18) / 5)
    assert (await vec(source, "sum_over_time(temp[5m])", at))[kitchen] == 104
    assert (await vec(source, "min_over_time(temp[5m])", at))[kitchen] == 18
    assert (await vec(source, "max_over_time(temp[5m])", at))[kitchen] == 26
    assert (await vec(source, "count_over_time(temp[5m])", at))[kitchen] == 5
    assert (await vec(source, "last_over_time(temp[5m])", at)) == {
        key(__name__="temp", room="kitchen"): 18,
        key(__name__="temp", room="hall"): 20,
    }
    assert (await vec(source, "quantile_over_time(0.5, temp[5m])", at))[kitchen] == 20
    assert (await vec(source, "changes(temp[10m])", at))[kitchen] == 9
    assert (await vec(source, "resets(resets_total[50m])", 3000))[key(job="api")] == 1
    assert (await vec(source, "stddev_over_time(limit[5m])", at))[kitchen] == 0
    assert (await vec(source, "present_over_time(temp[1m])", at)) == {kitchen: 1, key(room="hall"): 1}
    assert (await vec(source, 'deriv(http_requests_total{job="web"}[50m])', 3000)) == {
        key(job="web", instance="a"): pytest.approx(5 / 300)
    }
    assert (await vec(source, 'predict_linear(http_requests_total{job="web"}[50m], 600)', 3000)) == {
        key(job="web", instance="a"): pytest.approx(60)
    }
    assert (await vec(source, "delta(limit[5m])", at))[kitchen] == 0


@pytest.mark.anyio
async def test_aggregations_by_and_without(source: MemorySource) -> None:
    at = 3000
    assert await vec(source, "sum by (job) (http_requests_total)", at) == {
        key(job="api"): 100 + 201,
        key(job="web"): 50,
    }
    assert await vec(source, "sum without (instance) (http_requests_total)", at) == {
        key(job="api"): 301,
        key(job="web"): 50,
    }
    assert await vec(source, "sum(http_requests_total)", at) == {(): 351}
    assert await vec(source, "avg by (instance) (http_requests_total)", at) == {
        key(instance="a"): 75,
        key(instance="b"): 201,
    }
    assert await vec(source, "count(http_requests_total)", at) == {(): 3}
    assert await vec(source, "max(http_requests_total)", at) == {(): 201}
    assert await vec(source, "min by (job) (http_requests_total)", at) == {key(job="api"): 100, key(job="web"): 50}
    assert await vec(source, "group by (job) (http_requests_total)", at) == {key(job="api"): 1, key(job="web"): 1}
    assert await vec(source, "quantile(0.5, http_requests_total)", at) == {(): 100}
    assert await vec(source, "stddev(limit)", 600) == {(): 3}
    assert await vec(source, 'count_values("v", limit)', 600) == {key(v="22"): 1, key(v="16"): 1}


@pytest.mark.anyio
async def test_topk_keeps_labels_and_order(source: MemorySource) -> None:
    data = await instant_query(source, "topk(2, http_requests_total)", 3_000_000)
    assert [r["metric"]["instance"] + r["metric"]["job"] for r in data["result"]] == ["bapi", "aapi"]
    assert data["result"][0]["metric"]["__name__"] == "http_requests_total"
    data = await instant_query(source, "bottomk by (job) (1, http_requests_total)", 3_000_000)
    assert sorted(r["value"][1] for r in data["result"]) == ["100", "50"]


@pytest.mark.anyio
async def test_scalar_arithmetic_and_comparisons(source: MemorySource) -> None:
    at = 600
    assert await vec(source, 'temp{room="hall"} * 2 + 1', at) == {key(room="hall"): 41}
    assert await vec(source, "temp > 19", at) == {key(__name__="temp", room="hall"): 20}
    assert await vec(source, "25 > temp", at) == {
        key(__name__="temp", room="kitchen"): 18,
        key(__name__="temp", room="hall"): 20,
    }
    assert await vec(source, "temp > bool 19", at) == {key(room="hall"): 1, key(room="kitchen"): 0}
    assert await vec(source, "-limit", at) == {key(room="kitchen"): -22, key(room="hall"): -16}
    data = await instant_query(source, "1 + 2 * 3 ^ 2", 0)
    assert data == {"resultType": "scalar", "result": [0, "19"]}
    data = await instant_query(source, "2 > bool 1", 5_500)
    assert data == {"resultType": "scalar", "result": [5.5, "1"]}


@pytest.mark.anyio
async def test_vector_matching(source: MemorySource) -> None:
    at = 600
    assert await vec(source, "temp - limit", at) == {key(room="kitchen"): -4, key(room="hall"): 4}
    assert await vec(source, "temp > limit", at) == {key(__name__="temp", room="hall"): 20}
    assert await vec(source, "temp >= bool limit", at) == {key(room="kitchen"): 0, key(room="hall"): 1}
    assert await vec(source, "temp / on(room) limit", at) == {key(room="kitchen"): 18 / 22, key(room="hall"): 20 / 16}
    assert await vec(source, "temp * ignoring(floor) group_left(floor) room_info", at) == {
        key(room="kitchen", floor="1"): 18,
        key(room="hall", floor="0"): 20,
    }
    assert await vec(source, 'temp and on(room) room_info{floor="0"}', at) == {key(__name__="temp", room="hall"): 20}
    assert await vec(source, 'temp unless on(room) room_info{floor="0"}', at) == {
        key(__name__="temp", room="kitchen"): 18
    }
    assert len(await vec(source, 'temp{room="hall"} or limit', at)) == 2
    with pytest.raises(PromQLError, match=r"many-to-many|duplicate"):
        await vec(source, "temp + on() limit", at)


@pytest.mark.anyio
async def test_functions_on_instant_vectors(source: MemorySource) -> None:
    at = 600
    assert await vec(source, "abs(-limit)", at) == {key(room="kitchen"): 22, key(room="hall"): 16}
    assert await vec(source, "clamp_max(temp, 19)", at) == {key(room="kitchen"): 18, key(room="hall"): 19}
    assert await vec(source, "round(temp / 7, 0.5)", at) == {key(room="kitchen"): 2.5, key(room="hall"): 3}
    assert await vec(source, "histogram_quantile(0.5, lat_bucket)", at) == {(): pytest.approx(0.1 + 0.4 * 10 / 20)}
    assert await vec(source, "histogram_quantile(0.99, lat_bucket)", at) == {(): pytest.approx(0.5 + 0.5 * 9.6 / 10)}
    assert await vec(source, 'absent(nosuch{job="x"})', at) == {key(job="x"): 1}
    assert await vec(source, "absent(temp)", at) == {}
    replaced = await vec(source, 'label_replace(limit, "where", "in-$1", "room", "(k.*)")', at)
    assert replaced[key(__name__="limit", room="kitchen", where="in-kitchen")] == 22
    assert key(__name__="limit", room="hall") in replaced
    joined = await vec(source, 'label_join(room_info, "both", "/", "room", "floor")', at)
    assert key(__name__="room_info", room="hall", floor="0", both="hall/0") in joined
    data = await instant_query(source, "sort_desc(http_requests_total)", 3_000_000)
    assert [r["value"][1] for r in data["result"]] == ["201", "100", "50"]
    assert await instant_query(source, "scalar(limit{room='hall'})", 600_000) == {
        "resultType": "scalar",
        "result": [600, "16"],
    }
    assert await instant_query(source, "time()", 600_000) == {"resultType": "scalar", "result": [600, "600"]}
    assert await vec(source, "vector(3)", at) == {(): 3}
    assert await vec(source, "hour(vector(7200))", at) == {(): 2}
    assert await vec(source, 'timestamp(temp{room="hall"})', 630) == {key(room="hall"): 600}
    assert await vec(source, "timestamp(vector(1))", 630) == {(): 630}
    data = await instant_query(source, 'sort_by_label_desc(http_requests_total, "job", "instance")', 3_000_000)
    assert [(r["metric"]["job"], r["metric"]["instance"]) for r in data["result"]] == [
        ("web", "a"),
        ("api", "b"),
        ("api", "a"),
    ]


@pytest.mark.anyio
async def test_offset_at_and_subqueries(source: MemorySource) -> None:
    assert await vec(source, 'temp{room="kitchen"} offset 5m', 600) == {key(__name__="temp", room="kitchen"): 24}
    assert await vec(source, 'temp{room="kitchen"} @ 120', 600) == {key(__name__="temp", room="kitchen"): 23}
    # instance a goes up 10 per 5m: the rate over every 5m window is 10/300
    result = await vec(source, 'max_over_time(rate(http_requests_total{job="web"}[10m])[30m:5m])', 3000)
    assert result == {key(instance="a", job="web"): pytest.approx(5 / 300)}


@pytest.mark.anyio
async def test_instant_query_of_a_range_selector_returns_a_matrix(source: MemorySource) -> None:
    data = await instant_query(source, 'temp{room="hall"}[2m]', 600_000)
    assert data == {
        "resultType": "matrix",
        "result": [{"metric": {"__name__": "temp", "room": "hall"}, "values": [[540, "19"], [600, "20"]]}],
    }


@pytest.mark.anyio
async def test_range_query_returns_a_matrix_per_series(source: MemorySource) -> None:
    data = await range_query(source, "sum by (job) (rate(http_requests_total[10m]))", 1_200_000, 1_800_000, 300_000)
    assert data["resultType"] == "matrix"
    assert [r["metric"] for r in data["result"]] == [{"job": "api"}, {"job": "web"}]
    api = data["result"][0]["values"]
    assert [t for t, _ in api] == [1200, 1500, 1800]
    assert all(float(v) == pytest.approx(30 / 300) for _, v in api)
    scalar = await range_query(source, "1 + 1", 0, 120_000, 60_000)
    assert scalar == {"resultType": "matrix", "result": [{"metric": {}, "values": [[0, "2"], [60, "2"], [120, "2"]]}]}
    gaps = await range_query(source, 'temp{room="hall"}', 0, 1_200_000, 300_000)
    # nothing after 600 s + 5 min of lookback
    assert [t for t, _ in gaps["result"][0]["values"]] == [0, 300, 600]


@pytest.mark.anyio
async def test_refusals_name_the_problem(source: MemorySource) -> None:
    cases: dict[str, Any] = {
        "sum(": "parse error",
        "double_exponential_smoothing(temp[5m], 0.5, 0.5)": "'double_exponential_smoothing' is experimental",
        "temp + on() fill(0) limit": "fill modifiers",
        "": "empty",
        'temp{a=~"("}': "regex",
    }
    for query, message in cases.items():
        with pytest.raises(PromQLError, match=message) as caught:
            await instant_query(source, query, 0)
        assert caught.value.status == 400
    with pytest.raises(PromQLError, match="range vector"):
        await range_query(source, "temp[5m]", 0, 60_000, 60_000)
    with pytest.raises(PromQLError, match="maximum resolution"):
        await range_query(source, "temp", 0, 100_000_000, 1_000)
    with pytest.raises(PromQLError, match="step"):
        await range_query(source, "temp", 0, 100_000, 0)
    with pytest.raises(PromQLError, match="same labelset"):
        await instant_query(source, "rate({__name__=~'temp|limit'}[5m])", 600_000)


def test_values_print_like_prometheus() -> None:
    assert [format_value(v) for v in (1.0, 0.1, 1e21, 1.5e-7, -0.0, math.nan, math.inf, -math.inf, 123456789.25)] == [
        "1",
        "0.1",
        "1000000000000000000000",
        "0.00000015",
        "-0",
        "NaN",
        "+Inf",
        "-Inf",
        "123456789.25",
    ]
