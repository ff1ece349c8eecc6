"""An attached process's tool call vs the owner's own, measured in the same run.

    python bench/bench_shared.py [--repeat R]

Two infino-mcp servers over stdio on one data directory (sample data loaded): the first owns
the directory (it answers its tool calls in-process), the second attaches (its requests go to the
owner over the directory's Unix socket). Each tool call is timed R times on both, interleaved so
both see the same machine load; prints the median wall times and their ratio attached / owner, and
(on Linux) the CPU time all processes spent per call (bench client, owner, attached) and its ratio.
The CPU ratio is the cost of the extra hop; the wall ratio also counts the waits for a CPU that an
extra process hop meets on a busy machine. Goal: at most 1.3x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("ping", "ping", {}),
    ("get_datasets", "get_datasets", {}),
    (
        "SQL group-by",
        "query_dataset_in_sql",
        {"query": 'SELECT category, COUNT(*) AS n, AVG(total) AS avg FROM "sample-ecommerce-data" GROUP BY category'},
    ),
    (
        "QueryDSL match",
        "query_dataset_in_querydsl",
        {"dataset": "sample-ecommerce-data", "query": {"query": {"match": {"product": "lamp"}}, "size": 5}},
    ),
    ("upload 1 record", "upload_json_to_dataset", {"dataset": "bench-writes", "records": [{"n": 1, "msg": "hi"}]}),
]


def _server(data_dir: Path) -> Client:
    env = {**os.environ, "RUST_LOG": "error"}
    args = ["-m", "infino_mcp", "--local", str(data_dir), "--toolsets", "all"]
    return Client(StdioServerParameters(command=sys.executable, args=args, env=env))


async def _time(client: Client, tool: str, args: dict[str, Any]) -> float:
    start = time.perf_counter()
    result = await client.call_tool(tool, args)
    elapsed = time.perf_counter() - start
    if result.is_error:
        raise SystemExit(f"{tool} failed: {result.content[0].text}")
    return elapsed


def _children_cpu() -> float:
    """CPU seconds used so far by this process and its child processes (Linux /proc; 0 elsewhere)."""
    total = time.process_time()
    proc = Path("/proc")
    if not proc.is_dir():
        return total
    for entry in proc.iterdir():
        fields = procs.stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == os.getpid():
            total += procs.stat_cpu(fields)
    return total


async def main(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        async with _server(data_dir) as owner:
            served = (await owner.call_tool("ping", {})).structured_content["local"]
            async with _server(data_dir) as attached:
                print(
                    f"owner:    {served}\nattached: {(await attached.call_tool('ping', {})).structured_content['local']}"
                )
                print(
                    f"{'tool call':<18} {'wall ms: owner':>15} {'attached':>9} {'ratio':>6}   {'cpu ms: owner':>14} {'attached':>9} {'ratio':>6}"
                )
                worst_wall = worst_cpu = 0.0
                for label, tool, args in CALLS:
                    for client in (owner, attached):  # warm up both paths
                        await _time(client, tool, args)
                    wall: dict[str, list[float]] = {"owner": [], "attached": []}
                    cpu = {"owner": 0.0, "attached": 0.0}
                    for _ in range(repeat):
                        for name, client in (("owner", owner), ("attached", attached)):
                            before = _children_cpu()
                            wall[name].append(await _time(client, tool, args))
                            cpu[name] += _children_cpu() - before
                    a, b = statistics.median(wall["owner"]) * 1000, statistics.median(wall["attached"]) * 1000
                    ca, cb = cpu["owner"] / repeat * 1000, cpu["attached"] / repeat * 1000
                    worst_wall, worst_cpu = max(worst_wall, b / a), max(worst_cpu, cb / ca if ca else 0.0)
                    cpu_ratio = f"{cb / ca:5.2f}x" if ca else "   n/a"
                    print(f"{label:<18} {a:15.2f} {b:9.2f} {b / a:5.2f}x   {ca:14.2f} {cb:9.2f} {cpu_ratio}")
                print(f"worst ratio: wall {worst_wall:.2f}x, cpu {worst_cpu:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    anyio.run(main, parser.parse_args().repeat)
