"""Benchmark: what one MCP tool call over stdio costs, against the official SDK's direct call, same run.

    python bench/bench_calls.py [--calls 60] [--profile OUT]

``infino-mcp local-endpoint`` (with the sample dataset) serves both sides:

* direct: ``infino_sdk.InfinoSDK`` calls ``ping``, ``get_datasets`` and
  ``query_dataset_in_sql`` (a small aggregate over the sample data);
* ours: ``infino-mcp`` over stdio (cloud mode, pointed at that endpoint, as a
  user's MCP client starts it) gets the same three tool calls from
  ``mcp.Client``; each call includes the client's own work (JSON-RPC, checking
  the result against the tool's output schema).

Prints the median of each, ours / direct, and the server process's CPU per
call (from /proc, Linux only). Goals: ping <= 1.5x, SQL <= 1.2x.
``--profile OUT`` samples the server with py-spy (``pip install py-spy``;
Linux needs ptrace rights) into OUT: collapsed stacks, or a flame graph if
OUT ends in .svg. The timings are then the profiled server's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs

SQL = 'SELECT category, COUNT(*) AS n FROM "sample-ecommerce-data" GROUP BY category ORDER BY n DESC LIMIT 5'
CALLS = {
    "ping": ("ping", {}),
    "get_datasets": ("get_datasets", {}),
    "small SQL": ("query_dataset_in_sql", {"query": SQL}),
}
GOALS = {"ping": 1.5, "small SQL": 1.2}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of ``pid`` so far, or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sdk_calls(endpoint: procs.Endpoint) -> tuple[Any, dict[str, Callable[[], Any]]]:
    from infino_sdk import InfinoSDK

    sdk = InfinoSDK(endpoint.access_key, endpoint.secret_key, endpoint.url)
    return sdk, {"ping": sdk.ping, "get_datasets": sdk.get_datasets, "small SQL": lambda: sdk.query_dataset_in_sql(SQL)}


async def _measure(endpoint: procs.Endpoint, calls: int, profile: str | None) -> dict[str, dict[str, float | None]]:
    """Each call alternates with its SDK twin, so load from elsewhere on the machine hits both alike."""
    from mcp import Client, StdioServerParameters

    args = ["-m", "infino_mcp"]
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")},
        **endpoint.env(),
        "RUST_LOG": "error",
    }
    params = StdioServerParameters(command=procs.PYTHON, args=args, env=env)
    sdk, direct = _sdk_calls(endpoint)
    out: dict[str, dict[str, float | None]] = {}
    try:
        async with Client(params) as client:
            pid = _server_pid()
            spy = _profiler(pid, profile) if profile and pid else None
            for name, (tool, arguments) in CALLS.items():
                result = await client.call_tool(tool, arguments)
                if result.is_error:
                    raise SystemExit(f"{tool} failed: {result.content}")
                direct[name]()
                sdk_samples, mcp_samples, server_cpu, client_cpu = [], [], 0.0, 0.0
                for _ in range(calls):
                    start = time.perf_counter()
                    direct[name]()
                    sdk_samples.append(time.perf_counter() - start)
                    server_before, client_before = _cpu_seconds(pid), time.process_time()
                    start = time.perf_counter()
                    await client.call_tool(tool, arguments)
                    mcp_samples.append(time.perf_counter() - start)
                    client_cpu += time.process_time() - client_before
                    server_after = _cpu_seconds(pid)
                    if server_before is not None and server_after is not None:
                        server_cpu += server_after - server_before
                out[name] = {
                    "sdk": procs.median(sdk_samples),
                    "mcp": procs.median(mcp_samples),
                    "server_cpu": server_cpu / calls if pid else None,
                    "client_cpu": client_cpu / calls,
                }
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
    finally:
        sdk.close()
    return out


def _profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` into ``out`` (collapsed stacks; .svg: a flame graph) until SIGINT."""
    fmt = "flamegraph" if out.endswith(".svg") else "raw"
    argv = ["py-spy", "record", "--pid", str(pid), "--rate", "500", "--gil", "--format", fmt, "-o", out]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let it attach before the calls start
    return spy


def _server_pid() -> int | None:
    """The stdio server's pid: the youngest child of this process running infino_mcp."""
    try:
        children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    except OSError:
        return None
    for pid in reversed(children):
        try:
            if (
                b"infino_mcp" in Path(f"/proc/{pid}/cmdline").read_bytes()
                and b"local-endpoint" not in Path(f"/proc/{pid}/cmdline").read_bytes()
            ):
                return int(pid)
        except OSError:
            continue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--profile", metavar="OUT", help="sample the server with py-spy into OUT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        endpoint = procs.local_endpoint(data_dir, sample_data=True)
        try:
            measured = anyio.run(_measure, endpoint, args.calls, args.profile)
        finally:
            endpoint.child.stop()
    print(f"median of {args.calls} calls each, one at a time, alternating SDK and MCP")
    ok = True
    for name, m in measured.items():
        ratio = m["mcp"] / m["sdk"]
        goal = GOALS.get(name)
        verdict = "" if goal is None else ("ok" if ratio <= goal else f"over {goal}x")
        ok &= verdict in ("", "ok")
        cpu = f"server {procs.ms(m['server_cpu'])}, " if m["server_cpu"] is not None else ""
        print(
            f"{name:13s} SDK {procs.ms(m['sdk'])}  MCP stdio {procs.ms(m['mcp'])}  ours/SDK {ratio:5.2f}x "
            f"{verdict:9s} CPU/call: {cpu}MCP client {procs.ms(m['client_cpu'])}"
        )
    print("all goals met" if ok else "some goals NOT met")


if __name__ == "__main__":
    main()
