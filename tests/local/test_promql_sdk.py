"""The official Infino SDK uploads metrics and runs PromQL against the local
endpoint served over real HTTP (its request encoding is not ours to choose)."""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
import pytest
from infino_sdk import InfinoSDK

pytestmark = pytest.mark.anyio


async def test_sdk_uploads_metrics_and_queries_promql(sdk: InfinoSDK) -> None:
    now = int(time.time())
    payload = "# TYPE jobs_total counter\n" + "".join(
        f'jobs_total{{queue="mail box"}} {6 * i} {(now - 300 + 60 * i) * 1000}\n' for i in range(6)
    )
    assert await anyio.to_thread.run_sync(sdk.upload_metrics_to_dataset, "sdk-metrics", payload) == [
        "Successfully added exposition metrics."
    ]
    instant = await anyio.to_thread.run_sync(
        sdk.query_dataset_in_promql, 'rate(jobs_total{queue="mail box"}[5m])', "sdk-metrics"
    )
    assert instant["status"] == "success"
    [sample] = instant["data"]["result"]
    assert sample["metric"] == {"queue": "mail box"}
    assert float(sample["value"][1]) == pytest.approx(0.1, rel=0.05)

    ranged = await anyio.to_thread.run_sync(
        sdk.query_dataset_in_promql_range, "sum(jobs_total) + 1", now - 240, now, 120, "sdk-metrics"
    )
    assert ranged["data"]["resultType"] == "matrix"
    assert [v for _, v in ranged["data"]["result"][0]["values"]] == ["7", "19", "31"]
