"""Benchmark: no per-request stall on the wire (TCP_NODELAY), ours against a stock-bound server, same run.

    python bench/bench_wire.py [--calls 40]

Two local endpoints run side by side, each in its own process and data directory:

* ours: ``infino-mcp local-endpoint --port 0`` as a user starts it;
* stock: the same endpoint app handed to uvicorn on a socket made the usual
  way, ``socket.socket(AF_INET, SOCK_STREAM)``, which is how both of our
  servers bound before (asyncio then never sets ``TCP_NODELAY``).

Each is pinged by the official SDK (requests) and by our ``InfinoClient``
(httpx2; its connections are the ones we open). Then the same comparison for
MCP over streamable HTTP: ``infino-mcp --transport streamable-http`` against a
stock-bound copy of the same server, both backed by our local endpoint,
measured with a ``ping`` tool call from ``mcp.Client``.

Prints the median of each and ours / stock. With the stall, stock answers in
about 40 ms more than ours; the check is ours / stock <= 0.5 (or stock at
least 30 ms slower, on a loaded machine) wherever stock stalls (stock > 20 ms),
and ours / stock <= 1.2 otherwise.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs


def _stock_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


async def _serve_stock_endpoint(data_dir: str) -> None:
    import uvicorn

    from infino_mcp.local.app import create_app
    from infino_mcp.local.services import open_services

    services = open_services(Path(data_dir))
    try:
        access_key, secret_key = services.rbac.bootstrap_credentials()
        sock = _stock_socket()
        print(f"local endpoint on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr)
        print(f"access key: {access_key}\nsecret key: {secret_key}", file=sys.stderr, flush=True)
        await uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning")).serve(sockets=[sock])
    finally:
        await services.aclose()


async def _serve_stock_mcp() -> None:
    import uvicorn

    from infino_mcp.cli import parse_settings
    from infino_mcp.server import build_server, open_client
    from infino_mcp.transports import http_app

    settings = parse_settings(["--transport", "streamable-http"])
    async with open_client(settings) as client:
        app = http_app(build_server(settings, client=client), settings)
        sock = _stock_socket()
        print(f"serving streamable-http on http://127.0.0.1:{sock.getsockname()[1]}/mcp", file=sys.stderr, flush=True)
        await uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock])


async def _timed(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    await call()  # connect and warm up
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return procs.median(samples)


async def _endpoint_pings(endpoint: procs.Endpoint, calls: int) -> dict[str, float]:
    from infino_sdk import InfinoSDK

    from infino_mcp.client import InfinoClient
    from infino_mcp.config import Settings

    sdk = InfinoSDK(endpoint.access_key, endpoint.secret_key, endpoint.url)
    settings = Settings(**{k.removeprefix("INFINO_").lower(): v for k, v in endpoint.env().items()})
    try:
        # The SDK is synchronous: one call at a time, on this thread, is what a user of it does.
        sdk_ms = await _timed(lambda: _sync(sdk.ping), calls)
        async with InfinoClient(endpoint.url, endpoint.access_key, endpoint.secret_key, settings=settings) as ours:
            ours_ms = await _timed(lambda: ours.request("GET", "/", operation="ping", idempotent=True), calls)
    finally:
        sdk.close()
    return {"SDK ping (requests)": sdk_ms, "InfinoClient ping (httpx2)": ours_ms}


async def _sync(fn: Callable[[], Any]) -> Any:
    return fn()


async def _mcp_pings(url: str, calls: int) -> dict[str, float]:
    from mcp import Client

    async with Client(url) as client:
        return {"ping tool over streamable HTTP": await _timed(lambda: client.call_tool("ping", {}), calls)}


def _report(stock: dict[str, float], ours: dict[str, float]) -> bool:
    ok = True
    for name, stock_s in stock.items():
        ratio = ours[name] / stock_s
        # The stall is additive (~40 ms): on a loaded machine both times grow, so its removal also counts.
        stalled = stock_s > 0.020
        removed = ratio <= 0.5 or stock_s - ours[name] >= 0.030
        verdict = "ok" if (removed if stalled else ratio <= 1.2) else "FAIL"
        ok &= verdict == "ok"
        print(f"{name:32s} stock {procs.ms(stock_s)}  ours {procs.ms(ours[name])}  ours/stock {ratio:5.2f}x  {verdict}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--stock-endpoint", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--stock-mcp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stock_endpoint:
        return anyio.run(_serve_stock_endpoint, args.stock_endpoint)
    if args.stock_mcp:
        return anyio.run(_serve_stock_mcp)

    children: list[procs.Child] = []
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as stock_dir:
        try:
            ours_ep = procs.local_endpoint(ours_dir)
            children.append(ours_ep.child)
            stock_ep = procs.read_endpoint(procs.start([procs.PYTHON, __file__, "--stock-endpoint", stock_dir]))
            children.append(stock_ep.child)
            ours_mcp, ours_url = procs.mcp_http(ours_ep.env())
            children.append(ours_mcp)
            stock_mcp = procs.start([procs.PYTHON, __file__, "--stock-mcp"], ours_ep.env())
            children.append(stock_mcp)
            stock_url = stock_mcp.wait_for(r"serving streamable-http on (http://\S+/mcp)")[1]

            print(f"median of {args.calls} calls each, one at a time")
            ok = _report(
                anyio.run(_endpoint_pings, stock_ep, args.calls), anyio.run(_endpoint_pings, ours_ep, args.calls)
            )
            ok &= _report(anyio.run(_mcp_pings, stock_url, args.calls), anyio.run(_mcp_pings, ours_url, args.calls))
        finally:
            for child in children:
                child.stop()
    print("all checks ok" if ok else "some checks FAILED")


if __name__ == "__main__":
    main()
