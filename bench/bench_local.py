"""Local endpoint vs the bare engine, measured in the same run.

    python bench/bench_local.py [--docs N] [--batch B] [--repeat R] [--ids]

* ingest: N documents as signed NDJSON bulk requests of B documents through the
  endpoint app (in-process ASGI, SigV4 verified; ``--ids`` gives each document an
  ``_id``, which takes the upsert path), vs appending the same rows in
  the same batches to a bare engine table declared with the same column types
  (strings with a full-text index, a timestamp column);
* SQL group-by through ``POST /sql`` vs ``query_sql`` on the bare table;
* QueryDSL ``match`` through ``/{ds}/querydsl`` vs ``bm25_search`` on the bare table;
* QueryDSL aggregations (``terms`` with an ``avg``, a daily ``date_histogram``) vs the two
  group-by queries they amount to on the bare table;
* QueryDSL ``bool`` (must match, range and term filters, must_not wildcard, two should) and
  ``multi_match`` (most_fields, two fields) through ``/{ds}/querydsl`` vs the endpoint's own
  engine running the same SQL statements one after the other (recorded from one search), so
  the ratio is what planning, building the SQL, HTTP and shaping add; with the process CPU
  per search of each (engine threads included), where the cost of building the SQL shows
  even when the engine's wall time hides it.

Prints each timing and the ratio endpoint / engine. Targets: ingest within 2x,
queries within 2x + 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import infino

from infino_mcp.auth import SigV4Auth
from infino_mcp.local.app import create_app
from infino_mcp.local.services import open_services

DATASET = "bench-logs"
LEVELS = ["debug", "info", "info", "info", "warn", "error"]
SERVICES = ["api", "auth", "billing", "search", "web"]
WORDS = "request served cache miss timeout retry payment failed user login upstream slow ok".split()


def make_docs(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "@timestamp": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "level": rng.choice(LEVELS),
            "service": rng.choice(SERVICES),
            "message": " ".join(rng.choice(WORDS) for _ in range(6)),
            "latency_ms": round(rng.uniform(1, 900), 2),
            "status": rng.choice([200, 200, 200, 404, 500]),
            "bytes": rng.randrange(100, 100_000),
            "user": {"id": f"u{rng.randrange(5000)}", "country": rng.choice(["DE", "US", "FR", "JP"])},
        }
        for i in range(count)
    ]


BARE_SCHEMA = {
    "fields": [
        {"name": "@timestamp", "type": "timestamp_ms"},
        {"name": "level", "type": "large_utf8", "index": {"kind": "fts"}},
        {"name": "service", "type": "large_utf8", "index": {"kind": "fts"}},
        {"name": "message", "type": "large_utf8", "index": {"kind": "fts"}},
        {"name": "latency_ms", "type": "f64"},
        {"name": "status", "type": "i64"},
        {"name": "bytes", "type": "i64"},
        {"name": "user.id", "type": "large_utf8", "index": {"kind": "fts"}},
        {"name": "user.country", "type": "large_utf8", "index": {"kind": "fts"}},
    ]
}


BARE_COLUMNS = [field["name"] for field in BARE_SCHEMA["fields"]]


def bench_bare_ingest(path: Path, docs: list[dict], batch: int) -> tuple[float, Any]:
    conn = infino.connect(str(path))
    conn.schema("bare", BARE_SCHEMA)
    table = conn.open_table("bare")
    started = time.perf_counter()
    for start in range(0, len(docs), batch):
        table.append(docs[start : start + batch])
    return time.perf_counter() - started, conn


async def bench_endpoint_ingest(
    client: httpx2.AsyncClient, docs: list[dict], batch: int, *, ids: bool = False
) -> float:
    bodies = []
    for start in range(0, len(docs), batch):
        lines = []
        for n, doc in enumerate(docs[start : start + batch], start):
            lines.append(json.dumps({"index": {"_id": f"d{n}"}}) + "\n" if ids else '{"index":{}}\n')
            lines.append(json.dumps(doc) + "\n")
        bodies.append("".join(lines).encode())
    started = time.perf_counter()
    for body in bodies:
        response = await client.post(f"/{DATASET}/json", content=body, headers={"content-type": "application/x-ndjson"})
        response.raise_for_status()
        assert not response.json()["errors"], response.text[:500]
    return time.perf_counter() - started


QUERYDSL_SQL_LINES = {
    "QueryDSL bool (size 10)": {
        "bool": {
            "must": [{"match": {"message": "timeout retry"}}],
            "filter": [{"range": {"latency_ms": {"gte": 100, "lt": 800}}}, {"term": {"service": "api"}}],
            "must_not": [{"wildcard": {"level": "deb*"}}],
            "should": [{"match": {"message": "payment"}}, {"prefix": {"user.country": "D"}}],
        }
    },
    "QueryDSL multi_match (size 10)": {
        "multi_match": {"query": "timeout payment", "fields": ["message^2", "service"], "type": "most_fields"}
    },
}


async def bench_querydsl_sql(client: httpx2.AsyncClient, engine: Any, repeat: int, label: str, query: dict) -> bool:
    """``query`` through the endpoint vs its engine running the SQL that search sent (recorded once)."""
    body = {"query": query, "size": 10}
    statements: list[str] = []
    original = engine.query

    async def recording(sql: str) -> Any:
        statements.append(sql)
        return await original(sql)

    async def ours() -> None:
        (await client.request("GET", f"/{DATASET}/querydsl", json=body)).raise_for_status()

    engine.query = recording
    try:
        await ours()
    except httpx2.HTTPStatusError as exc:
        print(f"{label}: endpoint failed: {exc.response.text[:200]}")
        return False
    finally:
        del engine.query  # the class's method again
    cpu_before = time.process_time()
    bare = timed(repeat, lambda: [engine.query_now(sql).to_pylist() for sql in statements])
    cpu_bare = time.process_time() - cpu_before
    cpu_before = time.process_time()
    ok = report(label, await timed_async(repeat, ours), bare, unit="ms", slack=1)
    cpu_ours = time.process_time() - cpu_before
    print(
        f"{'':<28} CPU per search (process, engine threads included): endpoint {cpu_ours / (repeat + 1) * 1000:.2f} ms, "
        f"engine alone {cpu_bare / (repeat + 1) * 1000:.2f} ms, ratio {cpu_ours / cpu_bare:.2f}x"
    )
    return ok


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed_async(repeat: int, call) -> float:
    await call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def timed(repeat: int, call) -> float:
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def report(name: str, ours: float, bare: float, *, unit: str, slack: float = 0.0) -> bool:
    ratio = ours / bare if bare else float("inf")
    ok = ours <= 2 * bare + slack
    print(
        f"{name:<28} endpoint {ours:9.2f} {unit}   engine {bare:9.2f} {unit}   ratio {ratio:5.2f}x   {'OK' if ok else 'SLOW'}"
    )
    return ok


async def main(count: int, batch: int, repeat: int, ids: bool) -> int:
    docs = make_docs(count)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare_seconds, conn = bench_bare_ingest(root / "bare", docs, batch)
        services = open_services(root / "endpoint")
        try:
            access, secret = services.rbac.bootstrap_credentials()
            async with httpx2.AsyncClient(
                base_url="http://127.0.0.1:8765",
                transport=httpx2.ASGITransport(app=create_app(services)),
                auth=SigV4Auth(access, secret),
                timeout=600,
            ) as client:
                ours_seconds = await bench_endpoint_ingest(client, docs, batch, ids=ids)
                await services.engine.maintain(grace_secs=0)
                conn.open_table("bare").optimize()
                print(f"documents: {count}, batch: {batch}, query repeats: {repeat}, explicit ids: {ids}")
                results = [report("bulk ingest", ours_seconds, bare_seconds, unit="s ")]

                group_sql = "SELECT level, count(*) AS n, avg(latency_ms) AS avg FROM {t} GROUP BY level ORDER BY level"
                body = {"query": group_sql.format(t=f'"{DATASET}"')}

                async def ours_group() -> None:
                    (await client.post("/sql", json=body)).raise_for_status()

                bare_group = timed(repeat, lambda: conn.query_sql(group_sql.format(t="bare")).to_pylist())
                results.append(
                    report("SQL group-by", await timed_async(repeat, ours_group), bare_group, unit="ms", slack=1)
                )

                match = {"query": {"match": {"message": "timeout"}}, "size": 10}

                async def ours_match() -> None:
                    response = await client.request("GET", f"/{DATASET}/querydsl", json=match)
                    response.raise_for_status()

                table = conn.open_table("bare")
                bare_match = timed(
                    repeat,
                    lambda: (
                        table.bm25_search("message", "timeout", 10, projection=BARE_COLUMNS).to_pylist(),
                        table.count("message", "timeout"),
                    ),
                )
                try:
                    ours_match_ms = await timed_async(repeat, ours_match)
                    results.append(report("QueryDSL match (size 10)", ours_match_ms, bare_match, unit="ms", slack=1))
                except httpx2.HTTPStatusError as exc:
                    print(f"QueryDSL match: endpoint failed: {exc.response.text[:200]}")

                aggs = {
                    "size": 0,
                    "aggs": {
                        "levels": {"terms": {"field": "level"}, "aggs": {"latency": {"avg": {"field": "latency_ms"}}}},
                        "days": {"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}},
                    },
                }

                async def ours_aggs() -> None:
                    (await client.request("GET", f"/{DATASET}/querydsl", json=aggs)).raise_for_status()

                bare_aggs_sql = (
                    "SELECT level, count(*) AS n, avg(latency_ms) AS a FROM bare GROUP BY level ORDER BY n DESC LIMIT 10",
                    "SELECT date_trunc('day', \"@timestamp\") AS d, count(*) AS n FROM bare GROUP BY 1 ORDER BY 1",
                )
                bare_aggs = timed(repeat, lambda: [conn.query_sql(sql).to_pylist() for sql in bare_aggs_sql])
                ours_aggs_ms = await timed_async(repeat, ours_aggs)
                results.append(report("QueryDSL aggs (terms, dates)", ours_aggs_ms, bare_aggs, unit="ms", slack=1))
                for label, query in QUERYDSL_SQL_LINES.items():
                    results.append(await bench_querydsl_sql(client, services.engine, repeat, label, query))
        finally:
            await services.aclose()
    return 0 if all(results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--ids", action="store_true", help="give every document an _id (upsert path)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.docs, args.batch, args.repeat, args.ids)))
