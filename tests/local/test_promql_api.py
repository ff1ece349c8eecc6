"""Metrics through the local endpoint's HTTP API: exposition upload, PromQL
instant and range queries, dataset selection, permissions and error bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from infino_mcp.auth import SigV4Auth
from infino_mcp.local.app import create_app
from infino_mcp.local.services import Services

FORM = {"content-type": "application/x-www-form-urlencoded"}
T0 = 1_700_000_000  # seconds; every sample below is stamped relative to it

COUNTERS = "".join(
    f'http_requests_total{{job="api",code="200"}} {10 * i} {(T0 + 60 * i) * 1000}\n'
    f'http_requests_total{{job="api",code="500"}} {i} {(T0 + 60 * i) * 1000}\n'
    for i in range(11)
)
HISTOGRAM = "".join(
    f"# TYPE latency_seconds histogram\n"
    f'latency_seconds_bucket{{le="0.1"}} {10 * i} {(T0 + 60 * i) * 1000}\n'
    f'latency_seconds_bucket{{le="0.5"}} {30 * i} {(T0 + 60 * i) * 1000}\n'
    f'latency_seconds_bucket{{le="+Inf"}} {40 * i} {(T0 + 60 * i) * 1000}\n'
    f"latency_seconds_sum {7 * i} {(T0 + 60 * i) * 1000}\n"
    f"latency_seconds_count {40 * i} {(T0 + 60 * i) * 1000}\n"
    for i in range(11)
)
SUMMARY = f"""# TYPE rpc_seconds summary
rpc_seconds{{quantile="0.5"}} 0.25 {T0 * 1000}
rpc_seconds{{quantile="0.99"}} NaN {T0 * 1000}
rpc_seconds_sum 12.5 {T0 * 1000}
rpc_seconds_count 50 {T0 * 1000}
# TYPE temperature gauge
temperature{{room="kitchen",since="2024-01-01"}} 21.5 {T0 * 1000}
temperature{{room="cellar"}} -Inf {T0 * 1000}
"""


async def upload(client: httpx2.AsyncClient, dataset: str, text: str) -> httpx2.Response:
    return await client.post(f"/{dataset}/metrics", content=text, headers=FORM)


async def promql(client: httpx2.AsyncClient, path: str, **params: str | int) -> httpx2.Response:
    """POST a form, as the SDK does."""
    form = str(httpx2.QueryParams({k: str(v) for k, v in params.items()}))
    return await client.post(f"/promql/{path}", content=form, headers=FORM)


@pytest.fixture
async def loaded(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    for dataset, text in (("metrics-a", COUNTERS + HISTOGRAM), ("metrics-b", SUMMARY)):
        response = await upload(endpoint, dataset, text)
        assert response.status_code == 200, response.text
        assert response.json() == ["Successfully added exposition metrics."]
    return endpoint


@pytest.mark.anyio
async def test_instant_query_has_the_prometheus_shape(loaded: httpx2.AsyncClient) -> None:
    response = await promql(loaded, "query", query='http_requests_total{code="500"}', time=T0 + 600, index="metrics-a")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "http_requests_total", "code": "500", "job": "api"}, "value": [T0 + 600, "10"]}
            ],
        },
    }


@pytest.mark.anyio
async def test_rate_sum_and_histogram_quantile(loaded: httpx2.AsyncClient) -> None:
    at = T0 + 600
    rates = (await promql(loaded, "query", query="sum by (code) (rate(http_requests_total[5m]))", time=at)).json()
    assert {r["metric"]["code"]: float(r["value"][1]) for r in rates["data"]["result"]} == {
        "200": pytest.approx(10 / 60),
        "500": pytest.approx(1 / 60),
    }
    quantile = (
        await promql(loaded, "query", query="histogram_quantile(0.5, rate(latency_seconds_bucket[5m]))", time=at)
    ).json()
    assert [(r["metric"], float(r["value"][1])) for r in quantile["data"]["result"]] == [({}, pytest.approx(0.3))]
    mean = (
        await promql(loaded, "query", query="rate(latency_seconds_sum[5m]) / rate(latency_seconds_count[5m])", time=at)
    ).json()
    assert float(mean["data"]["result"][0]["value"][1]) == pytest.approx(7 / 40)
    ratio = (
        await promql(
            loaded,
            "query",
            time=at,
            query=('sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > bool 0.05'),
        )
    ).json()
    assert ratio["data"]["result"] == [{"metric": {}, "value": [at, "1"]}]


@pytest.mark.anyio
async def test_range_query_returns_a_matrix(loaded: httpx2.AsyncClient) -> None:
    response = await promql(
        loaded,
        "query_range",
        query='increase(http_requests_total{code="200"}[2m])',
        start=T0 + 120,
        end=T0 + 600,
        step=240,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["resultType"] == "matrix"
    assert data["result"] == [
        {"metric": {"code": "200", "job": "api"}, "values": [[T0 + 120, "20"], [T0 + 360, "20"], [T0 + 600, "20"]]}
    ]
    durations = await promql(loaded, "query_range", query="vector(1)", start=T0, end=T0 + 60, step="30s")
    assert len(durations.json()["data"]["result"][0]["values"]) == 3
    # samples every 60 s: a 20 s lookback leaves gaps
    gappy = await promql(loaded, "query_range", query='http_requests_total{code="500"}', start=T0 + 540, end=T0 + 600,
                         step=15, lookback_delta="20s")  # fmt: skip
    assert [t for t, _ in gappy.json()["data"]["result"][0]["values"]] == [T0 + 540, T0 + 555, T0 + 600]


@pytest.mark.anyio
async def test_summary_gauges_and_special_values(loaded: httpx2.AsyncClient) -> None:
    data = (await promql(loaded, "query", query='{__name__=~"rpc_seconds.*|temperature"}', time=T0 + 1)).json()["data"]
    got = {(r["metric"]["__name__"], r["metric"].get("quantile", r["metric"].get("room", ""))): r["value"][1]
           for r in data["result"]}  # fmt: skip
    assert got == {
        ("rpc_seconds", "0.5"): "0.25",
        ("rpc_seconds", "0.99"): "NaN",
        ("rpc_seconds_sum", ""): "12.5",
        ("rpc_seconds_count", ""): "50",
        ("temperature", "kitchen"): "21.5",
        ("temperature", "cellar"): "-Inf",
    }
    kitchen = next(r for r in data["result"] if r["metric"].get("room") == "kitchen")
    assert kitchen["metric"]["since"] == "2024-01-01"  # a date-like label stays a string


@pytest.mark.anyio
async def test_samples_are_rows_for_sql_too(loaded: httpx2.AsyncClient) -> None:
    response = await loaded.request(
        "GET", "/sql", json={"query": 'SELECT "__name__", value FROM "metrics-b" WHERE "labels.room" = \'kitchen\''}
    )
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert rows == [{"values": {"__name__": {"String": "temperature"}, "value": {"Float": 21.5}}}]


@pytest.mark.anyio
async def test_samples_without_timestamp_are_stamped_now(endpoint: httpx2.AsyncClient) -> None:
    assert (await upload(endpoint, "live", '# TYPE up gauge\nup{job="x"} 1\n')).status_code == 200
    data = (await promql(endpoint, "query", query="up")).json()["data"]
    assert [(r["metric"], r["value"][1]) for r in data["result"]] == [({"__name__": "up", "job": "x"}, "1")]


@pytest.mark.anyio
async def test_without_index_every_metric_dataset_is_read(loaded: httpx2.AsyncClient) -> None:
    other = f'http_requests_total{{job="batch",code="200"}} 7 {(T0 + 600) * 1000}\n'
    assert (await upload(loaded, "metrics-c", other)).status_code == 200
    plain = await loaded.post("/logs/json", content='{"index":{}}\n{"message":"hello","value":1}\n',
                              headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert plain.status_code == 200, plain.text
    everywhere = (await promql(loaded, "query", query="count(http_requests_total)", time=T0 + 600)).json()
    assert everywhere["data"]["result"][0]["value"][1] == "3"
    only_c = (
        await promql(loaded, "query", query="count(http_requests_total)", time=T0 + 600, index="metrics-c")
    ).json()
    assert only_c["data"]["result"][0]["value"][1] == "1"
    both = await promql(loaded, "query", query="count(http_requests_total)", time=T0 + 600, index="metrics-a,metrics-c")
    assert both.json()["data"]["result"][0]["value"][1] == "3"
    not_metrics = (await promql(loaded, "query", query="http_requests_total", time=T0 + 600, index="logs")).json()
    assert not_metrics["data"]["result"] == []


@pytest.mark.anyio
async def test_get_with_query_string_works_too(loaded: httpx2.AsyncClient) -> None:
    response = await loaded.get(
        "/promql/query", params={"query": "scalar(vector(2)) * 3", "time": "2023-11-14T22:13:20Z"}
    )
    assert response.json() == {"status": "success", "data": {"resultType": "scalar", "result": [T0, "6"]}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("query", {"query": "sum(rate(x[5m])"}, 400, "parse error"),
        ("query", {"query": "info(up)"}, 400, "'info' is experimental"),
        ("query", {}, 400, "missing parameter 'query'"),
        ("query", {"query": "up", "time": "yesterday"}, 400, "'time'"),
        ("query", {"query": "up", "index": "nosuch"}, 404, "'nosuch' not found; get_datasets lists"),
        ("query_range", {"query": "up", "start": T0, "end": T0 + 10}, 400, "missing parameter 'step'"),
        ("query_range", {"query": "up", "start": T0, "end": T0 - 10, "step": 1}, 400, "end timestamp"),
        ("query_range", {"query": "up", "start": T0, "end": T0 + 10, "step": "-5"}, 400, "step"),
        ("query", {"query": "up", "lookback_delta": "soon"}, 400, "lookback_delta"),
        ("query_range", {"query": "up[5m]", "start": T0, "end": T0 + 10, "step": 5}, 400, "range vector"),
    ],
)
async def test_query_errors_use_the_prometheus_error_body(
    loaded: httpx2.AsyncClient, path: str, params: dict, status: int, fragment: str
) -> None:
    response = await promql(loaded, path, **params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["errorType"] in ("bad_data", "not_found", "execution")
    assert fragment in body["error"]


@pytest.mark.anyio
async def test_bad_exposition_is_refused(endpoint: httpx2.AsyncClient) -> None:
    response = await upload(endpoint, "m", 'broken{job="x" 1\n')
    assert response.status_code == 400
    assert "exposition" in response.json()["error"]["reason"]


@pytest.fixture
async def client_for(local_services: Services) -> AsyncIterator[Callable[[dict], httpx2.AsyncClient]]:
    """Clients signed with the keys of a user created with ``roles``."""
    app = create_app(local_services)
    clients: list[httpx2.AsyncClient] = []

    def make(keys: dict) -> httpx2.AsyncClient:
        client = httpx2.AsyncClient(base_url="http://127.0.0.1:8765", transport=httpx2.ASGITransport(app=app),
                                    auth=SigV4Auth(keys["access_key"], keys["secret_key"]))  # fmt: skip
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.mark.anyio
async def test_permissions_limit_what_promql_reads_and_writes(
    loaded: httpx2.AsyncClient, client_for: Callable[[dict], httpx2.AsyncClient]
) -> None:
    role = {"Version": "2025-01-01", "Permissions": [
        {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["metrics-a"],
         "Fields": {"Deny": ["labels.code"]}},
    ]}  # fmt: skip
    assert (await loaded.put("/role/metrics-reader", json=role)).status_code == 200
    created = await loaded.put(
        "/user/viewer", json={"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": ["metrics-reader"]}
    )
    assert created.status_code == 200, created.text
    viewer = client_for(created.json())

    denied = await promql(viewer, "query", query="up", index="metrics-b")
    assert denied.status_code == 403
    assert denied.json()["status"] == "error"
    # without an index, only the readable dataset counts, and the denied label is invisible
    names = (await promql(viewer, "query", query='{__name__=~"http_requests_total|temperature"}', time=T0 + 600)).json()
    metrics = [r["metric"] for r in names["data"]["result"]]
    assert metrics and all(m == {"__name__": "http_requests_total", "job": "api"} for m in metrics)
    # a hidden label cannot be probed with matchers either: a clear refusal, whatever the value
    for probe in ('http_requests_total{code="500"}', 'http_requests_total{code=~"5.."}', 'x{code="none"}'):
        probed = await promql(viewer, "query", query=probe, time=T0 + 600)
        assert probed.status_code == 403, probe
        assert "label 'code'" in probed.json()["error"], probe
    assert (await upload(viewer, "metrics-a", "x 1\n")).status_code == 403
    assert (await upload(viewer, "brand-new", "x 1\n")).status_code == 403


@pytest.mark.anyio
async def test_datasets_shaped_like_metrics_by_hand_are_read_defensively(endpoint: httpx2.AsyncClient) -> None:
    stamp = "2023-11-14T22:13:20Z"  # T0
    docs = "".join(
        '{"index":{}}\n' + json.dumps({"__name__": "x", "value": value, "@timestamp": stamp, "labels": {"n": n}}) + "\n"
        for value, n in (("high", 1), ("2.5", 2))
    )
    response = await endpoint.post("/handmade/json", content=docs, headers={"content-type": "application/x-ndjson"})
    assert response.json()["errors"] is False, response.text
    data = (await promql(endpoint, "query", query="x", time=T0 + 1)).json()["data"]
    assert data["result"] == [{"metric": {"__name__": "x", "n": "2"}, "value": [T0 + 1, "2.5"]}]
    refused = await upload(endpoint, "handmade", 'x{n="not a number"} 1\n')
    assert refused.status_code == 400
    assert "samples were refused" in refused.json()["error"]["reason"]
