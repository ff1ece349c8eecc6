"""The keep-alive pool our HTTP clients send through (to Infino, to a local endpoint's owner socket).

Before it hands out a connection, and again whenever one is released, httpx2's
pool asks every idle connection whether its socket has become readable (an idle
HTTP/1.1 socket that is readable was closed by the server). Through anyio each
question rebuilds the stream's attribute table, a ``getpeername()`` call
included: about 16 us, for every idle connection, twice per request. With the
64 connections a burst of concurrent tool calls leaves open, that was about a
millisecond of CPU per request. ``PooledTransport`` is httpx2's own transport
over a pool whose streams answer that question from the socket they keep (one
``poll``); everything else is anyio's. ``bench/bench_concurrency.py`` measures it.
"""

from __future__ import annotations

import select
import socket
import urllib.request
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
"""Every connection of a burst is kept (concurrent tool calls, a dashboard's two requests per panel):
closing the ones over a smaller keep-alive pool made the next burst connect again."""


def _readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once: data, or the end of a connection the peer closed."""
    if sock is None or sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore2.AsyncNetworkBackend):
    def __init__(self) -> None:
        # httpcore2 types AnyIOBackend as a stand-in when anyio is missing; anyio is one of our dependencies.
        self._inner: httpcore2.AsyncNetworkBackend = httpcore2.AnyIOBackend()  # type: ignore[assignment]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(
                host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PooledTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport (its request and error mapping) over ``LIMITS`` and the cheap readability check."""

    def __init__(self, *, uds: str | None = None) -> None:
        super().__init__(limits=LIMITS, uds=uds)
        # httpx2 takes no network backend, so its pool is replaced by one built the same way with ours;
        # if httpx2 ever renames the attribute, this fails here rather than silently keeping the slow pool.
        stock = self._pool
        if not isinstance(stock, httpcore2.AsyncConnectionPool):
            raise TypeError(f"httpx2's transport holds {type(stock).__name__}, not a connection pool")
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            uds=uds,
            network_backend=_Backend(),
        )


def default_transport() -> PooledTransport | None:
    """Our pool for a client of Infino; None when proxy variables are set (httpx2 then routes through them)."""
    return None if urllib.request.getproxies() else PooledTransport()
