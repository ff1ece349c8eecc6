"""The sample dataset: deterministic, loaded once, queryable."""

from __future__ import annotations

import pytest

from infino_mcp.local.storage.sample import (
    SAMPLE_DATASET,
    SAMPLE_SIZE,
    load_sample,
    sample_orders,
)

pytestmark = pytest.mark.anyio


def test_sample_is_deterministic():
    assert sample_orders() == sample_orders()
    orders = sample_orders()
    assert len(orders) == SAMPLE_SIZE
    assert len({order_id for order_id, _ in orders}) == SAMPLE_SIZE
    _, first = orders[0]
    assert set(first) >= {"@timestamp", "customer", "category", "currency", "price", "quantity", "status", "geo"}
    assert set(first["geo"]) == {"city", "country"}


async def test_load_sample_is_idempotent(local_services, endpoint):
    assert await load_sample(local_services.writer) is True
    assert await load_sample(local_services.writer) is False
    metadata = (await endpoint.get(f"/{SAMPLE_DATASET}/metadata")).json()
    assert metadata["docs.count"] == str(SAMPLE_SIZE)
    schema = (await endpoint.get(f"/{SAMPLE_DATASET}/_schema")).json()
    assert schema["@timestamp"]["infino_type"] == "ISO8601Date"
    assert schema["geo.city"]["infino_type"] == "String"
    query = f'SELECT category, count(*) AS n FROM "{SAMPLE_DATASET}" GROUP BY category ORDER BY category'
    envelope = (await endpoint.post("/sql", json={"query": query})).json()
    assert sum(row["values"]["n"]["Integer"] for row in envelope["rows"]) == SAMPLE_SIZE
