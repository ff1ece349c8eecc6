"""Random PromQL expressions from a small grammar: evaluation either answers or
refuses with a PromQLError (a 400/422-style message), never crashes."""

from __future__ import annotations

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infino_mcp.local.promql.query import MemorySource, instant_query, range_query
from infino_mcp.local.promql.values import PromQLError, Series, make_labels

SOURCE = MemorySource(
    [
        Series(
            make_labels({"__name__": "temp", "room": room}),
            [i * 60_000 for i in range(12)],
            [float(v + i % 4) for i in range(12)],
        )
        for room, v in (("kitchen", 20), ("hall", 15))
    ]
    + [
        Series(
            make_labels({"__name__": "reqs_total", "job": job}),
            [i * 30_000 for i in range(24)],
            [float(i * k % 50) for i in range(24)],
        )
        for job, k in (("api", 3), ("web", 7))
    ]
    + [
        Series(make_labels({"__name__": "lat_bucket", "le": le}), [600_000], [c])
        for le, c in (("1", 3.0), ("+Inf", 5.0))
    ]
)

VECTORS = st.sampled_from(["temp", 'reqs_total{job="api"}', '{__name__=~"temp|reqs_total"}', "nosuch", "lat_bucket"])
NUMBERS = st.sampled_from(["0", "1", "-2", "0.5", "NaN", "Inf", "3e2"])
RANGES = st.sampled_from(["[1m]", "[5m]", "[10m]"])
RANGE_FUNCS = st.sampled_from(
    ["rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets", "avg_over_time", "sum_over_time",
     "min_over_time", "max_over_time", "count_over_time", "last_over_time", "stddev_over_time", "present_over_time",
     "absent_over_time", "mad_over_time"]
)  # fmt: skip
AGGS = st.sampled_from(["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"])
OPS = st.sampled_from(["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "> bool", "atan2"])
MATCHING = st.sampled_from(["", " on(room)", " ignoring(job)", " on()", " ignoring(le) group_left"])


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        ranged = st.one_of(
            st.builds(lambda v, r: v + r, VECTORS, RANGES),
            st.builds(lambda e, r: f"({e}){r[:-1]}:1m]", inner, RANGES),
        )
        return st.one_of(
            st.builds(lambda f, r: f"{f}({r})", RANGE_FUNCS, ranged),
            st.builds(lambda n, r: f"quantile_over_time({n}, {r})", NUMBERS, ranged),
            st.builds(lambda r, n: f"predict_linear({r}, {n})", ranged, NUMBERS),
            st.builds(lambda a, e: f"{a}({e})", AGGS, inner),
            st.builds(lambda a, e: f"{a} by (room) ({e})", AGGS, inner),
            st.builds(lambda a, e: f"{a} without (job) ({e})", AGGS, inner),
            st.builds(lambda n, e: f"topk({n}, {e})", NUMBERS, inner),
            st.builds(lambda n, e: f"quantile({n}, {e})", NUMBERS, inner),
            st.builds(lambda e: f'count_values("v", {e})', inner),
            st.builds(lambda a, o, m, b: f"({a}) {o}{m} ({b})", inner, OPS, MATCHING, inner),
            st.builds(lambda a, o, b: f"({a}) {o} {b}", inner, st.sampled_from(["and", "or", "unless"]), inner),
            st.builds(
                lambda f, e: f"{f}({e})",
                st.sampled_from(["abs", "ceil", "ln", "sqrt", "exp", "sort", "absent", "scalar", "sgn"]),
                inner,
            ),
            st.builds(lambda n, e: f"histogram_quantile({n}, {e})", NUMBERS, inner),
            st.builds(lambda e, n: f"round({e}, {n})", inner, NUMBERS),
            st.builds(lambda e, a, b: f"clamp({e}, {a}, {b})", inner, NUMBERS, NUMBERS),
            st.builds(lambda e: f'label_replace({e}, "x", "$1-$2", "room", "(.)(.*)")', inner),
            st.builds(lambda e: f"-({e})", inner),
            st.builds(lambda e: f"vector({e})", NUMBERS),
        )

    return st.recursive(st.one_of(VECTORS, NUMBERS, st.just("time()")), extend, max_leaves=6)


async def _run(query: str) -> None:
    for call in (
        lambda: instant_query(SOURCE, query, 600_000),
        lambda: range_query(SOURCE, query, 0, 720_000, 120_000),
    ):
        try:
            await call()
        except PromQLError as exc:
            assert exc.status == 400 and exc.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_random_queries_answer_or_refuse_cleanly(query: str) -> None:
    anyio.run(_run, query)
