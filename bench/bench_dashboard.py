"""Benchmark: execute_dashboard, ours against the official SDK's, in the same run.

A tiny HTTP endpoint on 127.0.0.1 (Starlette on uvicorn, in a child
process) answers ``GET /dashboards/{id}``, ``GET /visualizations/{id}`` and
``POST /visualizations/{id}/data`` after a fixed delay per request, and
accepts any signature. A 16-panel dashboard is then run

* through our MCP server (``build_server`` + in-memory ``mcp.Client``, the real
  tool path: our ``InfinoClient`` over HTTP to the endpoint), and
* through ``infino_sdk.InfinoSDK.execute_dashboard`` (16 worker threads).

Ours sends each panel's get and execute at once, so it should take about two
request times (dashboard, then the panels) plus overhead; the SDK sends them
one after the other, about three. Each side is also measured against a 0 ms
endpoint, so the time spent waiting (the difference) and the CPU overhead
show separately. The MCP path includes the client's validation of the result
against the tool's output schema. Run: ``python bench/bench_dashboard.py
[--delay 0.1] [--panels 16] [--runs 7]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

ACCESS_KEY, SECRET_KEY = "AKBENCHBENCHBENCH", "bench-secret-key-bench-secret-key"


def delayed_app(delay: float, panels: int) -> Starlette:
    """The fake endpoint: every answer comes after ``delay`` seconds."""
    dashboard = {
        "id": "bench",
        "kind": "dashboard",
        "attributes": {
            "id": "bench",
            "title": "Bench",
            "panels": [
                {
                    "id": f"panel_{i}",
                    "kind": "visualization",
                    "viz_id": f"viz-{i}",
                    "layout": {"x": 24 * (i % 2), "y": 8 * (i // 2), "w": 24, "h": 8},
                }
                for i in range(panels)
            ],
        },
    }

    async def get_dashboard(request: Request) -> JSONResponse:
        await asyncio.sleep(delay)
        return JSONResponse(dashboard)

    async def get_visualization(request: Request) -> JSONResponse:
        await asyncio.sleep(delay)
        viz_id = request.path_params["viz_id"]
        return JSONResponse(
            {
                "id": viz_id,
                "kind": "visualization",
                "attributes": {
                    "id": viz_id,
                    "title": f"Chart {viz_id}",
                    "chart": {"type": "bar"},
                    "source": {
                        "kind": "sql",
                        "index": "orders",
                        "sql": {"raw_query": "SELECT currency, COUNT(*) AS n FROM orders"},
                    },
                },
            }
        )

    async def execute_visualization(request: Request) -> JSONResponse:
        await request.body()
        await asyncio.sleep(delay)
        return JSONResponse(
            {
                "columns": [{"name": "currency", "type": "string"}, {"name": "n", "type": "number"}],
                "rows": [{"currency": c, "n": n} for n, c in enumerate(("EUR", "USD", "GBP", "JPY"))],
                "metadata": {"row_count": 4, "truncated": False, "took_ms": int(delay * 1000)},
            }
        )

    return Starlette(
        routes=[
            Route("/dashboards/{dashboard_id}", get_dashboard, methods=["GET"]),
            Route("/visualizations/{viz_id}", get_visualization, methods=["GET"]),
            Route("/visualizations/{viz_id}/data", execute_visualization, methods=["POST"]),
        ]
    )


class Endpoint:
    """The fake endpoint served by uvicorn in a child process (its own interpreter, so its own GIL)."""

    def __init__(self, delay: float, panels: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.command = [
            sys.executable,
            __file__,
            "--serve",
            str(self.port),
            "--delay",
            str(delay),
            "--panels",
            str(panels),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Endpoint:
        self.process = subprocess.Popen(self.command)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("the benchmark endpoint did not start") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


Timing = tuple[float, float]
"""(wall seconds, this process's CPU seconds) of one call; the endpoint runs in another process."""


def sdk_run(sdk: Any, panels: int) -> Timing:
    """One InfinoSDK.execute_dashboard (``panels`` worker threads)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = sdk.execute_dashboard("bench", max_workers=panels)
    timing = time.perf_counter() - started, time.process_time() - cpu
    if len(result) != panels or any(p["error"] for p in result):
        raise RuntimeError(f"the SDK's execute_dashboard failed: {result[:1]}")
    return timing


async def our_run(mcp: Client, panels: int) -> Timing:
    """One execute_dashboard call through our MCP server."""
    started, cpu = time.perf_counter(), time.process_time()
    result = await mcp.call_tool("execute_dashboard", {"dashboard_id": "bench", "max_concurrency": panels})
    timing = time.perf_counter() - started, time.process_time() - cpu
    content = result.structured_content or {}
    if result.is_error or content.get("succeeded") != panels:
        raise RuntimeError(f"our execute_dashboard failed: {result.content}")
    return timing


async def measure(url: str, panels: int, runs: int, data_dir: Path) -> tuple[list[Timing], list[Timing]]:
    """Interleaved runs (ours, then the SDK's, ``runs`` times) after one warm-up each."""
    from infino_sdk import InfinoSDK

    settings = Settings(
        _env_file=None,
        endpoint=url,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,  # type: ignore[call-arg]
        toolsets="dashboards",
        data_dir=data_dir,
        max_result_bytes=1_000_000,
        retry_backoff=0,
    )
    ours, theirs = [], []
    with InfinoSDK(ACCESS_KEY, SECRET_KEY, url) as sdk:
        async with InfinoClient(url, ACCESS_KEY, SECRET_KEY, settings=settings) as client:
            async with Client(build_server(settings, client=client)) as mcp:
                for run in range(runs + 1):
                    mine = await our_run(mcp, panels)
                    sdks = await anyio.to_thread.run_sync(sdk_run, sdk, panels)
                    if run:
                        ours.append(mine)
                        theirs.append(sdks)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the endpoint waits before each answer")
    parser.add_argument("--panels", type=int, default=16)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvicorn.run(
            delayed_app(args.delay, args.panels),
            host="127.0.0.1",
            port=args.serve,
            log_level="warning",
            lifespan="off",
            backlog=1024,
        )
        return

    # The SDK's requests session keeps 10 connections; 16 workers make urllib3 warn about every extra one.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    wall: dict[tuple[str, float], float] = {}
    cpu: dict[str, float] = {}
    for delay in (0.0, args.delay):
        with Endpoint(delay, args.panels) as endpoint, tempfile.TemporaryDirectory() as tmp:
            ours, sdk = anyio.run(measure, endpoint.url, args.panels, args.runs, Path(tmp))
        for name, timings in (("ours", ours), ("sdk", sdk)):
            wall[name, delay] = statistics.median(t[0] for t in timings)
            cpu[name] = statistics.median(t[1] for t in timings)
    print(
        f"{args.panels} panels, median of {args.runs} interleaved runs, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  {'':22s}  {args.delay * 1000:.0f} ms/request  0 ms/request  waiting (difference)         client CPU")
    for name, label in (("ours", "ours (MCP tool)"), ("sdk", "SDK execute_dashboard")):
        slow, fast = wall[name, args.delay], wall[name, 0.0]
        waited = slow - fast
        print(
            f"  {label:22s}  {slow * 1000:8.1f} ms   {fast * 1000:8.1f} ms   "
            f"{waited * 1000:7.1f} ms = {waited / args.delay:4.2f} request times   {cpu[name] * 1000:6.1f} ms"
        )
    print(f"  ratio ours/SDK at {args.delay * 1000:.0f} ms: {wall['ours', args.delay] / wall['sdk', args.delay]:.2f}")


if __name__ == "__main__":
    main()
