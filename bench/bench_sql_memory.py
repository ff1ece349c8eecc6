"""Peak memory of one SQL tool call over 10 million rows with limit=5, against a baseline in the same run.

    python bench/bench_sql_memory.py [--rows N] [--limit L]

Each measurement is a fresh process (local mode: the MCP server over the embedded endpoint,
called through an in-memory MCP client) so its peak RSS is its own:

* baseline: the same process answering ``SELECT 1``;
* big: ``query_dataset_in_sql`` with ``SELECT * FROM generate_series(1, N)`` and ``limit=L``;
* capped: the same query with its own ``LIMIT N`` (the endpoint's row cap must bound it).

Prints each peak RSS in MB and big / baseline. Target: big stays well under 1 GB (the limit,
plus one row, goes into the executed query, so the rows are never all held).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import anyio, json, resource, sys
from pathlib import Path
from mcp import Client
from infino_mcp.config import Settings
from infino_mcp.server import build_server

async def main(data, query, limit):
    settings = Settings(_env_file=None, local=True, data_dir=Path(data), sample_data=False, toolsets="all")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("query_dataset_in_sql", {"query": query, "limit": limit})
        assert not result.is_error, result.content[0].text
        rows = len(result.structured_content["rows"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "peak_mb": peak}))

anyio.run(main, *sys.argv[1:3], int(sys.argv[3]))
"""


def measure(query: str, limit: int) -> dict:
    with tempfile.TemporaryDirectory() as data:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, data, query, str(limit)],
            capture_output=True,
            text=True,
            env={"RUST_LOG": "error", "PATH": "/usr/bin:/bin"},
            check=False,
        )
    if done.returncode != 0:
        return {"rows": None, "peak_mb": None, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--limit", type=int, default=5)
    args = parser.parse_args()
    series = f"SELECT * FROM generate_series(1, {args.rows})"
    runs = {
        "baseline (SELECT 1)": measure("SELECT 1", args.limit),
        f"big ({args.rows:,} rows, limit={args.limit})": measure(series, args.limit),
        f"capped (own LIMIT {args.rows:,}, limit={args.limit})": measure(f"{series} LIMIT {args.rows}", args.limit),
    }
    base = runs["baseline (SELECT 1)"]["peak_mb"]
    for name, run in runs.items():
        if run["peak_mb"] is None:
            print(f"{name:<45} failed: {run['error']}")
            continue
        ratio = f"{run['peak_mb'] / base:.2f}x baseline" if base else ""
        print(f"{name:<45} peak RSS {run['peak_mb']:8.0f} MB  rows {run['rows']}  {ratio}")


if __name__ == "__main__":
    main()
