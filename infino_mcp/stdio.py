"""MCP over stdio on the event loop itself, without a worker thread per line.

The SDK's stdio transport reads each line and writes (and flushes) each reply
in a worker thread: three thread round trips per tool call, about a fifth of
the server's CPU per call and the wake-up latency of each. When stdin and
stdout are pipes, sockets or terminals we hand the SDK's transport line
streams served by asyncio pipe transports instead; anything else (a regular
file, Windows) keeps the SDK's own path.

As in the SDK, while serving fd 0 reads the null device and fd 1 goes to
stderr, so stray output from libraries cannot corrupt the wire; both are
restored afterwards. A line longer than ``MAX_LINE`` is dropped with a
message on stderr instead of growing memory without bound; one nesting deeper
than the SDK's parser allows is cut first (``nesting.shallower``) so it gets an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator

from mcp.server import MCPServer
from mcp.server.stdio import stdio_server

from infino_mcp.nesting import shallower, stdin_through_guard

MAX_LINE = 64 * 1024 * 1024


class _Lines:
    """Lines of stdin as ``str``, read by an asyncio pipe transport (what the SDK's reader iterates)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while True:
            try:
                return _guarded(await self._reader.readuntil(b"\n"))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    return _guarded(exc.partial)
                raise StopAsyncIteration from None
            except asyncio.LimitOverrunError:
                await self._skip_line()
                print(f"infino-mcp: dropped a stdin message over {MAX_LINE} bytes", file=sys.stderr, flush=True)

    async def _skip_line(self) -> None:
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await self._reader.readexactly(exc.consumed)
            except asyncio.IncompleteReadError:
                return


def _guarded(line: bytes) -> str:
    """A line as the SDK reads it; one nesting too deep for its parser arrives cut (see ``nesting``)."""
    cut = shallower(line.rstrip(b"\r\n"))
    return (line if cut is None else cut + b"\n").decode("utf-8", errors="replace")


class _Writer:
    """What the SDK's writer calls (``write``, ``flush``), over an asyncio pipe transport."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


def _pollable(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@contextlib.asynccontextmanager
async def _claimed_std_fds() -> AsyncIterator[tuple[int, int]]:
    """Private duplicates of fd 0 and 1 for the wire; meanwhile fd 0 reads /dev/null and fd 1 writes to stderr."""
    import fcntl  # POSIX only: on Windows run_stdio never gets here

    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    flags = (fcntl.fcntl(wire_in, fcntl.F_GETFL), fcntl.fcntl(wire_out, fcntl.F_GETFL))
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        sys.stdout.flush()
        os.dup2(devnull, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        os.close(devnull)
        for fd, std_fd, saved in ((wire_in, 0, flags[0]), (wire_out, 1, flags[1])):
            with contextlib.suppress(OSError):
                # asyncio made the wire non-blocking; a terminal shared with the shell must get its flags back.
                fcntl.fcntl(fd, fcntl.F_SETFL, saved)
                os.dup2(fd, std_fd)
            os.close(fd)


async def run_stdio(server: MCPServer) -> None:
    """Serve ``server`` on stdin/stdout until stdin closes."""
    if sys.platform == "win32" or not (_pollable(0) and _pollable(1)):
        if sys.platform != "win32":
            stdin_through_guard()
        await server.run_stdio_async()
        return
    loop = asyncio.get_running_loop()
    async with _claimed_std_fds() as (wire_in, wire_out):
        reader = asyncio.StreamReader(limit=MAX_LINE)
        in_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(wire_in), "rb", buffering=0)
        )
        out_transport, out_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(os.dup(wire_out), "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(out_transport, out_protocol, None, loop)
        try:
            async with stdio_server(stdin=_Lines(reader), stdout=_Writer(writer)) as (read_stream, write_stream):  # type: ignore[arg-type]
                lowlevel = server._lowlevel_server
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        finally:
            in_transport.close()
            out_transport.close()
