"""The cost of field security: the same SQL and QueryDSL as the admin and as a user with field rules.

    python bench/bench_field_security.py [--docs N] [--repeat R]

The restricted user's SQL reads the dataset through its secure view (hidden fields
absent, masked ones masked inside the view); the admin reads the table directly, as
before. Prints the median time of each query for both callers and the ratio
restricted / admin, all measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx2

from infino_mcp.auth import SigV4Auth
from infino_mcp.local.app import create_app
from infino_mcp.local.services import open_services
from infino_mcp.local.storage.documents import Op

QUERIES = {
    "sql group-by": ("POST", "/sql", {"query": "SELECT level, count(*) AS c, avg(n) AS a FROM bench GROUP BY level"}),
    "sql filter": ("POST", "/sql", {"query": "SELECT name, email FROM bench WHERE n > 900 ORDER BY name LIMIT 20"}),
    "querydsl term": ("GET", "/bench/querydsl", {"query": {"term": {"level": "error"}}, "size": 20}),
}
RULES = {"Deny": ["secret_note"], "Mask": {"email": "redact", "ip": "hash"}}


async def _once(client: httpx2.AsyncClient, method: str, path: str, body: dict) -> float:
    started = time.perf_counter()
    response = await client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def _medians(clients: list[httpx2.AsyncClient], method: str, path: str, body: dict, repeat: int) -> list[float]:
    """Median time per client, the clients' runs interleaved so that machine noise hits both alike."""
    times: list[list[float]] = [[] for _ in clients]
    for _ in range(repeat):
        for i, client in enumerate(clients):
            times[i].append(await _once(client, method, path, body))
    return [statistics.median(t) for t in times]


async def main(docs: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = open_services(Path(tmp) / "local")
        try:
            levels = ("info", "warn", "error")
            ops = [
                Op("index", str(i), {"name": f"user-{i}", "level": levels[i % 3], "n": i % 1000,
                                     "email": f"u{i}@example.com", "ip": f"10.0.{i % 250}.{i % 200}",
                                     "secret_note": f"note {i}"})
                for i in range(docs)
            ]  # fmt: skip
            for start in range(0, docs, 5000):
                await services.writer.write("bench", ops[start : start + 5000])
            app = create_app(services)

            def client(access: str, secret: str) -> httpx2.AsyncClient:
                auth = SigV4Auth(access, secret, region=services.region, service=services.service)
                return httpx2.AsyncClient(base_url="http://127.0.0.1:8765", transport=httpx2.ASGITransport(app=app),
                                          auth=auth, timeout=120)  # fmt: skip

            async with client(*services.rbac.bootstrap_credentials()) as admin:
                permission = {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"],
                              "Resources": ["bench"], "Fields": RULES}  # fmt: skip
                role = await admin.put("/role/bench", json={"Version": "2025-01-01", "Permissions": [permission]})
                assert role.status_code == 200, role.text
                keys = (await admin.put("/user/bench-user", json={"Roles": ["bench"]})).json()
                async with client(keys["access_key"], keys["secret_key"]) as user:
                    print(f"{docs} documents, median of {repeat} runs")
                    for name, (method, path, body) in QUERIES.items():
                        await _medians([admin, user], method, path, body, 2)  # warm caches
                        plain, secured = await _medians([admin, user], method, path, body, repeat)
                        print(f"{name:>14}: admin {plain * 1000:7.1f} ms, restricted {secured * 1000:7.1f} ms, "
                              f"ratio {secured / plain:.2f}")  # fmt: skip
                    print(json.dumps({"restricted_rows_masked": (await user.post("/sql", json=QUERIES["sql filter"][2]))
                                      .json()["rows"][0]}))  # fmt: skip
        finally:
            await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.docs, args.repeat))
