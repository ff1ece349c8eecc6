"""Benchmark: concurrent tool calls over streamable HTTP against a fixed-delay endpoint, same run.

    python bench/bench_concurrency.py [--delay 0.05] [--calls 64] [--sessions 8] [--runs 3]

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
per-call CPU is left: see bench_calls.py for that alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import anyio

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


async def _concurrent(url: str, calls: int, sessions: int) -> float:
    """Seconds for ``calls`` ping calls at once over ``sessions`` sessions (opened and warmed beforehand)."""
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

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(call, clients[i % sessions])
        elapsed = time.perf_counter() - start
        if errors:
            raise SystemExit(f"{len(errors)} calls failed, e.g. {errors[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the endpoint waits before answering")
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="concurrent runs of each kind (median)")
    parser.add_argument("--serve-delayed", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_delayed is not None:
        return _serve_delayed(args.serve_delayed)

    children: list[procs.Child] = []
    try:
        endpoint = procs.start([procs.PYTHON, __file__, "--serve-delayed", str(args.delay)])
        children.append(endpoint)
        endpoint_url = endpoint.wait_for(r"delayed endpoint on (http://\S+)")[1]
        env = {"INFINO_ENDPOINT": endpoint_url, "INFINO_ACCESS_KEY": "AKBENCH", "INFINO_SECRET_KEY": "bench-secret"}
        server, url = procs.mcp_http(env)
        children.append(server)

        one = anyio.run(_one_at_a_time, url, 20)
        single = procs.median([anyio.run(_concurrent, url, args.calls, 1) for _ in range(args.runs)])
        spread = procs.median([anyio.run(_concurrent, url, args.calls, args.sessions) for _ in range(args.runs)])
    finally:
        for child in children:
            child.stop()
    print(f"endpoint delay {args.delay * 1000:.0f} ms; median of {args.runs} runs")
    print(f"{'one call at a time':36s} {procs.ms(one)}")
    ok = True
    for name, elapsed in (
        (f"{args.calls} at once, 1 session", single),
        (f"{args.calls} at once, {args.sessions} sessions", spread),
    ):
        ratio = elapsed / one
        ok &= ratio <= GOAL
        print(
            f"{name:36s} {procs.ms(elapsed)}  elapsed/one call {ratio:5.2f}x  {'ok' if ratio <= GOAL else f'over {GOAL}x'}"
        )
    print("all goals met" if ok else "some goals NOT met")


if __name__ == "__main__":
    main()
