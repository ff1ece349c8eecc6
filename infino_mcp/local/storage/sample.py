"""A small, deterministic sample dataset so a fresh local endpoint has data to explore.

``sample-ecommerce-data``: 200 orders over January 2024, generated from a fixed
seed (no network, same documents every time), each with ``@timestamp``,
``order_id``, ``customer``, ``category``, ``product``, ``currency``, ``price``,
``quantity``, ``total``, ``status``, ``payment_method`` and a nested
``geo {city, country}``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from infino_mcp.local.storage.documents import DocumentWriter, ingest_documents

SAMPLE_DATASET = "sample-ecommerce-data"
SAMPLE_SIZE = 200
_SEED = 20240101
_START = datetime(2024, 1, 1, tzinfo=UTC)

_CATALOG = {
    "electronics": [("headphones", 59.0), ("phone case", 15.0), ("charger", 25.0), ("smartwatch", 199.0)],
    "books": [("novel", 14.0), ("cookbook", 29.0), ("travel guide", 22.0)],
    "clothing": [("t-shirt", 19.0), ("jacket", 120.0), ("sneakers", 85.0), ("scarf", 24.0)],
    "home": [("lamp", 45.0), ("mug", 9.0), ("blanket", 39.0)],
    "toys": [("puzzle", 18.0), ("building blocks", 49.0), ("plush bear", 21.0)],
}
_PLACES = [
    ("Berlin", "DE", "EUR"),
    ("Paris", "FR", "EUR"),
    ("Rome", "IT", "EUR"),
    ("London", "GB", "GBP"),
    ("New York", "US", "USD"),
    ("San Francisco", "US", "USD"),
    ("Toronto", "CA", "CAD"),
    ("Tokyo", "JP", "JPY"),
]
_FIRST = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam"]
_LAST = ["Smith", "Garcia", "Muller", "Rossi", "Dubois", "Tanaka", "Brown", "Novak"]
_STATUSES = ["delivered"] * 6 + ["shipped"] * 2 + ["processing", "cancelled", "returned"]
_PAYMENTS = ["card", "card", "paypal", "bank_transfer", "gift_card"]


def sample_orders(count: int = SAMPLE_SIZE, seed: int = _SEED) -> list[tuple[str, dict[str, Any]]]:
    """``count`` (id, order) pairs, identical for the same seed."""
    rng = random.Random(seed)
    orders = []
    for n in range(count):
        category = rng.choice(sorted(_CATALOG))
        product, base_price = rng.choice(_CATALOG[category])
        city, country, currency = rng.choice(_PLACES)
        quantity = rng.choice([1, 1, 1, 2, 2, 3, 4])
        price = round(base_price * rng.uniform(0.85, 1.15), 2)
        when = _START + timedelta(minutes=rng.randrange(31 * 24 * 60))
        order_id = f"ORD-{n + 1:05d}"
        orders.append(
            (
                order_id,
                {
                    "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "order_id": order_id,
                    "customer": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    "category": category,
                    "product": product,
                    "currency": currency,
                    "price": price,
                    "quantity": quantity,
                    "total": round(price * quantity, 2),
                    "status": rng.choice(_STATUSES),
                    "payment_method": rng.choice(_PAYMENTS),
                    "geo": {"city": city, "country": country},
                },
            )
        )
    return orders


async def load_sample(writer: DocumentWriter) -> bool:
    """Create and fill the sample dataset unless it exists; True when it was loaded now."""
    if writer.catalog.exists(SAMPLE_DATASET):
        return False
    items = await ingest_documents(writer, SAMPLE_DATASET, sample_orders())
    failed = [item for item in items if "error" in item["index"]]
    if failed:
        raise RuntimeError(f"Loading {SAMPLE_DATASET} failed for {len(failed)} orders: {failed[0]['index']['error']}")
    return True
