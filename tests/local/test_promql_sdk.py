"""The official Infino SDK uploads metrics and runs PromQL against the local
endpoint served over real HTTP (its request encoding is not ours to choose)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.to_thread
import pytest
import uvicorn
from infino_sdk import InfinoSDK

from infino_mcp.local.app import create_app
from infino_mcp.local.services import Services

pytestmark = pytest.mark.anyio


@pytest.fixture
async def served(local_services: Services) -> AsyncIterator[str]:
    """The endpoint on a free 127.0.0.1 port (socket bound before the server starts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(local_services), lifespan="off", log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
    sock.close()


@pytest.fixture
def sdk(served: str, local_services: Services) -> Iterator[InfinoSDK]:
    client = InfinoSDK(*local_services.rbac.bootstrap_credentials(), served)
    yield client
    client.close()


async def test_sdk_uploads_metrics_and_queries_promql(sdk: InfinoSDK) -> None:
    now = int(time.time())
    payload = "# TYPE jobs_total counter\n" + "".join(
        f'jobs_total{{queue="mail box"}} {6 * i} {(now - 300 + 60 * i) * 1000}\n' for i in range(6)
    )
    assert await anyio.to_thread.run_sync(sdk.upload_metrics_to_dataset, "sdk-metrics", payload) == [
        "Successfully added exposition metrics."
    ]
    instant = await anyio.to_thread.run_sync(sdk.query_dataset_in_promql, 'rate(jobs_total{queue="mail box"}[5m])', "sdk-metrics")
    assert instant["status"] == "success"
    [sample] = instant["data"]["result"]
    assert sample["metric"] == {"queue": "mail box"}
    assert float(sample["value"][1]) == pytest.approx(0.1, rel=0.05)

    ranged = await anyio.to_thread.run_sync(
        sdk.query_dataset_in_promql_range, "sum(jobs_total) + 1", now - 240, now, 120, "sdk-metrics"
    )
    assert ranged["data"]["resultType"] == "matrix"
    assert [v for _, v in ranged["data"]["result"][0]["values"]] == ["7", "19", "31"]
