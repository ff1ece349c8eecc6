"""profile_dataset's cost against a plain COUNT(*), measured in the same run.

    python bench/bench_profile.py [--docs N ...] [--repeat R]

For each size N (default 20000, 200000 and 1000000 records of 7 fields, 8 columns), against the
local endpoint in-process (signed requests, the same path every tool takes):

* ``COUNT(*)``: the baseline, one SQL statement through ``/sql``;
* the sampled profile (what profile_dataset computes: past 10,000 records it
  profiles the first 10,000);
* the full profile (the same statistics over every record), to show what
  sampling saves.

Prints each median and the ratios profile / COUNT(*). The goal: the sampled
profile's ratio stays about flat as N grows, while the full profile's grows.
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

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.local.app import create_app
from infino_mcp.local.services import open_services
from infino_mcp.toolsets.profiling import SAMPLE_ROWS, compute_profile
from infino_mcp.toolsets.query import run_select

LEVELS = ["debug", "info", "info", "info", "warn", "error"]
SERVICES = ["api", "auth", "billing", "search", "web"]


def make_docs(count: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    return [
        {
            "@timestamp": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "level": rng.choice(LEVELS),
            "service": rng.choice(SERVICES),
            "latency_ms": round(rng.uniform(1, 900), 2),
            "status": rng.choice([200, 200, 200, 404, 500]),
            "bytes": rng.randrange(100, 100_000),
            "user": {"id": f"u{rng.randrange(5000)}", "country": rng.choice(["DE", "US", "FR", "JP"])},
        }
        for i in range(count)
    ]


async def load(client: InfinoClient, dataset: str, docs: list[dict[str, Any]], batch: int = 20_000) -> None:
    for start in range(0, len(docs), batch):
        lines = []
        for doc in docs[start : start + batch]:
            lines.append('{"index":{}}')
            lines.append(json.dumps(doc))
        answer = await client.request(
            "POST",
            f"/{dataset}/json",
            operation="bench",
            idempotent=False,
            content=("\n".join(lines) + "\n").encode(),
            headers={"content-type": "application/x-ndjson"},
        )
        assert not answer.get("errors"), "bulk load failed"


async def median_ms(repeat: int, fn: Any, *args: Any, **kwargs: Any) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn(*args, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = open_services(Path(tmp) / "local")
        settings = Settings(_env_file=None, local=True, data_dir=Path(tmp), sample_data=False)  # type: ignore[call-arg]
        access, secret = services.rbac.bootstrap_credentials()
        transport = httpx2.ASGITransport(app=create_app(services))
        try:
            async with InfinoClient("http://127.0.0.1:1", access, secret, settings=settings, transport=transport) as c:
                print(f"sample rule: past {SAMPLE_ROWS} records, the first {SAMPLE_ROWS}; median of {args.repeat}")
                print(f"{'records':>9} {'COUNT(*) ms':>12} {'sampled ms':>11} {'ratio':>7} {'full ms':>9} {'ratio':>7}")
                for count in args.docs:
                    dataset = f"bench-profile-{count}"
                    await load(c, dataset, make_docs(count))
                    sql = f'SELECT COUNT(*) AS n FROM "{dataset}"'
                    base = await median_ms(args.repeat, run_select, c, sql)
                    sampled = await median_ms(args.repeat, compute_profile, c, dataset, None)
                    full = await median_ms(args.repeat, compute_profile, c, dataset, None, sample_rows=count)
                    print(
                        f"{count:>9} {base:>12.1f} {sampled:>11.1f} {sampled / base:>6.1f}x {full:>9.1f} {full / base:>6.1f}x"
                    )
        finally:
            await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
