"""Benchmark: what one MCP tool call over stdio costs, against the official SDK's direct call, same run.

    python bench/bench_calls.py [--calls 100] [--profile OUT] [--floor]

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
``--floor`` also measures ``bare_server.py``, a bare ``MCPServer`` whose
tools send the same signed requests with none of our layers, in the same
loop: what the SDK and the HTTP client alone cost, below which no change of
ours can go; and the bare server's ``no_request`` tool, which sends nothing, in
the same loop: an MCP round trip alone. The SDK's time plus that round trip
(the line ``SDK+round trip``) is what any MCP server would take here if its
HTTP request cost nothing.
"""

from __future__ import annotations

import argparse
import contextlib
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
ALONE = "SDK+round trip"
BARE_SERVER = str(Path(__file__).resolve().parent / "bare_server.py")


def _sdk_calls(endpoint: procs.Endpoint) -> tuple[Any, dict[str, Callable[[], Any]]]:
    from infino_sdk import InfinoSDK

    sdk = InfinoSDK(endpoint.access_key, endpoint.secret_key, endpoint.url)
    return sdk, {"ping": sdk.ping, "get_datasets": sdk.get_datasets, "small SQL": lambda: sdk.query_dataset_in_sql(SQL)}


async def _measure(
    endpoint: procs.Endpoint, calls: int, profile: str | None, floor: bool
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each call alternates with its SDK twin (and the floor's), so load from elsewhere hits all alike."""
    from mcp import Client, StdioServerParameters

    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")},
        **endpoint.env(),
        "RUST_LOG": "error",
    }
    servers = {"MCP stdio": ["-m", "infino_mcp"]}
    if floor:
        servers["bare MCPServer"] = [BARE_SERVER]
    sdk, direct = _sdk_calls(endpoint)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            clients: dict[str, tuple[Any, int | None]] = {}
            for label, args in servers.items():
                params = StdioServerParameters(command=procs.PYTHON, args=args, env=env)
                clients[label] = (await stack.enter_async_context(Client(params)), _server_pid(args[-1]))
            pid = clients["MCP stdio"][1]
            spy = _profiler(pid, profile) if profile and pid else None
            for name, (tool, arguments) in CALLS.items():
                for client, _ in clients.values():
                    result = await client.call_tool(tool, arguments)
                    if result.is_error:
                        raise SystemExit(f"{tool} failed: {result.content}")
                direct[name]()
                sdk_samples: list[float] = []
                samples = {label: _Samples() for label in clients}
                if floor:
                    samples[ALONE] = _Samples()
                for _ in range(calls):
                    start = time.perf_counter()
                    direct[name]()
                    sdk_samples.append(time.perf_counter() - start)
                    for label, (client, server_pid) in clients.items():
                        await samples[label].call(client, server_pid, tool, arguments)
                    if floor:
                        await samples[ALONE].call(*clients["bare MCPServer"], "no_request", {})
                out[name] = {label: s.summary(procs.median(sdk_samples), calls) for label, s in samples.items()}
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
    finally:
        sdk.close()
    return out


class _Samples:
    """One server's wall times and CPU (its own, from /proc, and this client's) over the calls."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.server_cpu: float | None = 0.0
        self.client_cpu = 0.0

    async def call(self, client: Any, pid: int | None, tool: str, arguments: dict[str, Any]) -> None:
        server_before, client_before = procs.cpu_seconds(pid) if pid else None, time.process_time()
        start = time.perf_counter()
        await client.call_tool(tool, arguments)
        self.wall.append(time.perf_counter() - start)
        self.client_cpu += time.process_time() - client_before
        server_after = procs.cpu_seconds(pid) if pid else None
        if server_before is None or server_after is None or self.server_cpu is None:
            self.server_cpu = None
        else:
            self.server_cpu += server_after - server_before

    def summary(self, sdk: float, calls: int) -> dict[str, float | None]:
        return {
            "sdk": sdk,
            "mcp": procs.median(self.wall),
            "server_cpu": None if self.server_cpu is None else self.server_cpu / calls,
            "client_cpu": self.client_cpu / calls,
        }


def _profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` into ``out`` (collapsed stacks; .svg: a flame graph) until SIGINT."""
    fmt = "flamegraph" if out.endswith(".svg") else "raw"
    argv = ["py-spy", "record", "--pid", str(pid), "--rate", "500", "--gil", "--format", fmt, "-o", out]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let it attach before the calls start
    return spy


def _server_pid(marker: str) -> int | None:
    """The pid of the youngest child of this process whose command line holds ``marker`` (not the endpoint)."""
    try:
        children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    except OSError:
        return None
    for pid in reversed(children):
        try:
            if (
                marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
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
    parser.add_argument("--floor", action="store_true", help="also measure a bare MCPServer (bare_server.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        endpoint = procs.local_endpoint(data_dir, sample_data=True)
        try:
            measured = anyio.run(_measure, endpoint, args.calls, args.profile, args.floor)
        finally:
            endpoint.child.stop()
    print(f"median of {args.calls} calls each, one at a time, alternating SDK and MCP; load average {_load()}")
    ok = True
    for name, servers in measured.items():
        for label, m in servers.items():
            # The round trip alone sends no request: the SDK's time plus it is the least any MCP server adds.
            ratio = (m["sdk"] + m["mcp"]) / m["sdk"] if label == ALONE else m["mcp"] / m["sdk"]
            goal = GOALS.get(name) if label == "MCP stdio" else None
            verdict = "" if goal is None else ("ok" if ratio <= goal else f"over {goal}x")
            ok &= verdict in ("", "ok")
            cpu = f"server {procs.ms(m['server_cpu'])}, " if m["server_cpu"] is not None else ""
            print(
                f"{name:13s} SDK {procs.ms(m['sdk'])}  {label:14s} {procs.ms(m['mcp'])}  /SDK {ratio:5.2f}x "
                f"{verdict:9s} CPU/call: {cpu}MCP client {procs.ms(m['client_cpu'])}"
            )
    print("all goals met" if ok else "some goals NOT met")


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
