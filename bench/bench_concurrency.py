"""Benchmark: concurrent tool calls over streamable HTTP against a fixed-delay endpoint, same run.

    python bench/bench_concurrency.py [--delay 0.05] [--calls 64] [--sessions 8] [--runs 5]

A stand-in Infino endpoint (a bare asyncio HTTP/1.1 responder in its own
process, so that its own CPU is next to nothing) answers every request after
``--delay`` seconds with a ``ping`` answer and accepts any signature.
``infino-mcp --transport streamable-http`` (cloud mode, pointed at it) then gets

* one ``ping`` tool call at a time (the baseline: one call's time),
* ``--calls`` concurrent calls in one MCP session,
* ``--calls`` concurrent calls spread over ``--sessions`` sessions,

from ``mcp.Client`` in this process. Prints the medians and elapsed / one
call's time; the goal is <= 1.5x, i.e. the calls overlap rather than queue.
Whatever CPU each call costs (server and client, on this machine's cores) is
paid ``--calls`` times in the concurrent runs, so the ratio also shows how much
per-call CPU is left: each line says how much the server and the client spent
per call (Linux: from /proc). ``mcp.Client`` spends about as much CPU per
call as the server, on the other core, so it bounds the ratio too: a last
pair of lines sends the same calls (revision 2026-07-28 POSTs, one keep-alive
connection each) from a bare asyncio client whose CPU is next to nothing,
which shows the server alone. The same runs, interleaved, go to a bare
``MCPServer`` whose ``ping`` tool makes the same HTTP call, served the SDK's
way (``streamable_http_app`` under uvicorn): the floor the SDK itself sets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs

GOAL = 1.5


def _serve_delayed(delay: float) -> None:
    """A bare asyncio HTTP/1.1 responder (keep-alive, any request): next to no CPU, so ours is what is measured."""
    body = b'{"version":"bench"}'
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                if length:
                    await reader.readexactly(length)
                await asyncio.sleep(delay)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)  # asyncio sets TCP_NODELAY
        port = server.sockets[0].getsockname()[1]
        print(f"delayed endpoint on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
        await server.serve_forever()

    asyncio.run(serve())


class Ping(BaseModel):
    """What the floor's ping tool answers (ours answers the same fields and more)."""

    version: str | None
    endpoint: str


def _serve_floor(endpoint: str) -> None:
    """A bare MCPServer whose ping tool GETs ``endpoint`` through one keep-alive client, served the SDK's way."""
    # Only this child process (--serve-floor) serves: the parent, which measures, never imports the server side.
    import httpx2
    import uvicorn
    from mcp.server import MCPServer

    from infino_mcp.sockets import listening_socket  # the same no-delay listener (no 40 ms stall)

    server = MCPServer("floor")
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)

    async def serve() -> None:
        async with httpx2.AsyncClient(base_url=endpoint, limits=limits) as http:

            @server.tool()
            async def ping() -> Ping:
                """Check that the endpoint answers."""
                answer = (await http.get("/")).raise_for_status().json()
                return Ping(version=answer.get("version"), endpoint=endpoint)

            sock = listening_socket("127.0.0.1", 0)
            port = sock.getsockname()[1]
            print(f"floor: serving streamable-http on http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)
            config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
            await uvicorn.Server(config).serve(sockets=[sock])

    anyio.run(serve)


async def _one_at_a_time(url: str, runs: int) -> float:
    from mcp import Client

    async with Client(url) as client:
        await client.call_tool("ping", {})
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            result = await client.call_tool("ping", {})
            samples.append(time.perf_counter() - start)
            assert not result.is_error, result.content
    return procs.median(samples)


async def _concurrent(url: str, calls: int, sessions: int, server_cpu: Callable[[], float | None]) -> Burst:
    """``calls`` ping calls at once over ``sessions`` sessions (opened and warmed beforehand)."""
    from contextlib import AsyncExitStack

    from mcp import Client

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url)) for _ in range(sessions)]
        for client in clients:
            await client.call_tool("ping", {})
        errors: list[str] = []

        async def call(client: Client) -> None:
            result = await client.call_tool("ping", {})
            if result.is_error:
                errors.append(str(result.content))

        cpu_before, client_before, start = server_cpu(), time.process_time(), time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(call, clients[i % sessions])
        elapsed = time.perf_counter() - start
        client_cpu, cpu_after = time.process_time() - client_before, server_cpu()
        if errors:
            raise SystemExit(f"{len(errors)} calls failed, e.g. {errors[0]}")
    spent = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Burst(elapsed, spent, client_cpu, calls)


_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def _bare_call(url: str, stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], call_id: int) -> None:
    """One ``ping`` tool call POSTed on a kept-alive connection; the reply must be a result that is not an error."""
    reader, writer = stream
    parts = urlsplit(url)
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": call_id,
            "method": "tools/call",
            "params": {"name": "ping", "arguments": {}, "_meta": _META},
        }
    ).encode()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\naccept: application/json, text/event-stream\r\n"
        "content-type: application/json\r\nmcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\n"
        f"mcp-name: ping\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    reply = json.loads(await reader.readexactly(length))
    if "result" not in reply or reply["result"].get("isError"):
        raise SystemExit(f"bare call failed: {reply}")


async def _bare(url: str, calls: int, server_cpu: Callable[[], float | None]) -> tuple[float, Burst]:
    """One call at a time (median of 20), then ``calls`` at once, each on its own warmed keep-alive connection."""
    parts = urlsplit(url)
    streams = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(calls)]
    try:
        await asyncio.gather(*(_bare_call(url, stream, i) for i, stream in enumerate(streams)))
        samples = []
        for i in range(20):
            start = time.perf_counter()
            await _bare_call(url, streams[0], i)
            samples.append(time.perf_counter() - start)
        cpu_before, client_before, start = server_cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(_bare_call(url, stream, i) for i, stream in enumerate(streams)))
        elapsed = time.perf_counter() - start
        client_cpu, cpu_after = time.process_time() - client_before, server_cpu()
    finally:
        for _, writer in streams:
            writer.close()
    spent = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return procs.median(samples), Burst(elapsed, spent, client_cpu, calls)


class Burst:
    """One concurrent run: its elapsed time and the CPU the server and this process spent on it."""

    def __init__(self, elapsed: float, server_cpu: float | None, client_cpu: float, calls: int) -> None:
        self.elapsed, self.server_cpu, self.client_cpu, self.calls = elapsed, server_cpu, client_cpu, calls


def _summary(bursts: list[Burst], one: float) -> tuple[float, str]:
    """The median elapsed time and a line: the ratio to one call, CPU per call of the server and the client."""
    elapsed = procs.median([b.elapsed for b in bursts])
    server = [b.server_cpu for b in bursts if b.server_cpu is not None]
    per_call = f"server {procs.median(server) / bursts[0].calls * 1000:4.2f} ms/call" if server else "server n/a"
    client = procs.median([b.client_cpu for b in bursts]) / bursts[0].calls * 1000
    return (
        elapsed,
        f"{procs.ms(elapsed)}  elapsed/one call {elapsed / one:5.2f}x  CPU: {per_call}, client {client:4.2f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the endpoint waits before answering")
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5, help="concurrent runs of each kind (median)")
    parser.add_argument("--serve-delayed", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_delayed is not None:
        return _serve_delayed(args.serve_delayed)
    if args.serve_floor is not None:
        return _serve_floor(args.serve_floor)

    children: list[procs.Child] = []
    kinds = {"single": (args.calls, 1), "spread": (args.calls, args.sessions)}
    try:
        endpoint = procs.start([procs.PYTHON, __file__, "--serve-delayed", str(args.delay)])
        children.append(endpoint)
        endpoint_url = endpoint.wait_for(r"delayed endpoint on (http://\S+)")[1]
        env = {"INFINO_ENDPOINT": endpoint_url, "INFINO_ACCESS_KEY": "AKBENCH", "INFINO_SECRET_KEY": "bench-secret"}
        server, url = procs.mcp_http(env)
        children.append(server)
        floor = procs.start([procs.PYTHON, __file__, "--serve-floor", endpoint_url])
        children.append(floor)
        floor_url = floor.wait_for(r"floor: serving streamable-http on (http://\S+)")[1]
        targets = {"ours": (url, server.proc.pid), "floor": (floor_url, floor.proc.pid)}

        one = {name: anyio.run(_one_at_a_time, target, 20) for name, (target, _) in targets.items()}
        bursts: dict[tuple[str, str], list[Burst]] = {(n, k): [] for n in targets for k in [*kinds, "bare"]}
        bare_one: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.runs):  # interleaved, so that a change in the machine's load hits both alike
            for kind, (calls, sessions) in kinds.items():
                for name, (target, pid) in targets.items():
                    burst = anyio.run(_concurrent, target, calls, sessions, lambda pid=pid: procs.cpu_seconds(pid))
                    bursts[name, kind].append(burst)
            for name, (target, pid) in targets.items():
                single, burst = asyncio.run(_bare(target, args.calls, lambda pid=pid: procs.cpu_seconds(pid)))
                bare_one[name].append(single)
                bursts[name, "bare"].append(burst)
    finally:
        for child in children:
            child.stop()
    print(
        f"endpoint delay {args.delay * 1000:.0f} ms; median of {args.runs} runs; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'one call at a time':36s} {procs.ms(one['ours'])}   (bare MCPServer: {procs.ms(one['floor']).strip()})")
    ok = True
    for kind, name in (
        ("single", f"{args.calls} at once, 1 session"),
        ("spread", f"{args.calls} at once, {args.sessions} sessions"),
    ):
        elapsed, line = _summary(bursts["ours", kind], one["ours"])
        ratio = elapsed / one["ours"]
        ok &= ratio <= GOAL
        print(f"{name:36s} {line}  {'ok' if ratio <= GOAL else f'over {GOAL}x'}")
        floor_elapsed, floor_line = _summary(bursts["floor", kind], one["floor"])
        print(
            f"{'  bare MCPServer (the SDK floor)':36s} {floor_line}  ours/floor {ratio / (floor_elapsed / one['floor']):4.2f}"
        )
    ours_one, floor_one = procs.median(bare_one["ours"]), procs.median(bare_one["floor"])
    elapsed, line = _summary(bursts["ours", "bare"], ours_one)
    print(
        f"{'bare client: one call at a time':36s} {procs.ms(ours_one)}   (bare MCPServer: {procs.ms(floor_one).strip()})"
    )
    print(f"{f'bare client: {args.calls} at once':36s} {line}")
    floor_elapsed, floor_line = _summary(bursts["floor", "bare"], floor_one)
    ratio = (elapsed / ours_one) / (floor_elapsed / floor_one)
    print(f"{'  bare MCPServer (the SDK floor)':36s} {floor_line}  ours/floor {ratio:4.2f}")
    print("all goals met" if ok else "some goals NOT met")


if __name__ == "__main__":
    main()
