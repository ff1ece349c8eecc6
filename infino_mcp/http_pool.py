"""The keep-alive HTTP/1.1 transport our clients send through (to Infino, to a local endpoint's owner socket).

``PooledTransport`` is an ``httpx2`` transport: the client above it (auth,
URLs, headers, decoding) is httpx2's own. Below it, each connection is an
asyncio protocol that feeds what arrives to httptools (the llhttp parser
uvicorn uses) and completes one future per response. httpx2's own transport
(httpcore2 over h11 and anyio) cost about 0.9 ms of CPU per request here,
more than a tool's own work; this one about 0.1 ms (``bench/bench_calls.py``).

What it does and does not do:

* every answer is read whole (our client never streams); one over
  ``max_response_bytes`` is cut off with ``ResponseTooLarge`` and its
  connection closed, so no answer can take unbounded memory;
* the read timeout is a silence timeout: it fires when nothing has arrived
  for that long, as httpcore2's did; the connect timeout covers TCP and TLS;
* an idle connection the peer closed is dropped as soon as the close
  arrives, not found out by the next request; one kept longer than
  ``KEEPALIVE_EXPIRY`` is closed, well before our local endpoints' 60 s;
* a GET or HEAD that finds its reused connection closed before any byte of
  the answer is sent once more on a new connection; anything else raises,
  and ``InfinoClient`` decides (it knows which operations may be repeated);
* HTTPS offers only ``http/1.1`` by ALPN; with proxy variables set,
  ``default_transport`` returns None and httpx2 builds its own transports.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request

import httptools
import httpx2

MAX_CONNECTIONS = 100
"""At once, per transport; every connection of a burst is kept (concurrent tool calls, a dashboard's panels)."""

KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept; our local endpoints keep theirs 60 s (``local/owner.KEEP_ALIVE``)."""

DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
"""INFINO_MAX_RESPONSE_MB's default, in bytes."""

_REPLAYABLE = frozenset({b"GET", b"HEAD"})


class ResponseTooLarge(httpx2.TransportError):
    """The answer grew past the transport's ``max_response_bytes``; its connection was closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit:,} bytes")
        self.limit = limit


class _Stale(Exception):
    """A reused connection closed before any byte of the answer arrived."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: at most one request in flight, the answer collected by parser callbacks."""

    def __init__(self, max_response: int) -> None:
        self._max = max_response
        self._transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[httpx2.Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._silence = 0.0
        self._size = 0
        self._received = False
        self._head_request = False
        self._new_answer()
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0

    def _new_answer(self) -> None:
        """Forget what the parser collected: before a request, and after an interim (1xx) answer."""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._framed = False  # the answer says where it ends (content-length or chunked)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted again
            return
        self._received = True
        self._size += len(data)
        if self._size > self._max:
            self._fail(ResponseTooLarge(self._max))
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(self._silence, self._timed_out)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"the server's answer is not valid HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        self._ended(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        if not self.lost.done():
            self.lost.set_result(None)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head_request:
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows on this connection
            self._new_answer()
            return
        self._complete(reusable=self._parser.should_keep_alive())

    # one exchange

    async def exchange(self, head: bytes, body: bytes, *, silence: float | None, head_request: bool) -> httpx2.Response:
        """Send one request and wait for its whole answer; the connection is left reusable or closed."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._new_answer()
        self._size, self._received, self._head_request = 0, False, head_request
        self.reusable = False
        if silence is not None:
            self._silence = silence
            self._timer = loop.call_later(silence, self._timed_out)
        if len(body) < 65_536:
            self._transport.write(head + body)  # one segment
        else:
            self._transport.write(head)  # a large body is not copied to be joined
            self._transport.write(body)
        try:
            return await self._answer
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self.reusable:
                self.close()  # cancelled, failed, or told to close: never handed out again

    def _complete(self, *, reusable: bool) -> None:
        if self._answer is None or self._answer.done():
            return
        version = self._parser.get_http_version()
        self._answer.set_result(
            httpx2.Response(
                self._parser.get_status_code(),
                headers=self._headers,
                stream=httpx2.ByteStream(b"".join(self._body)),
                extensions={"http_version": f"HTTP/{version}".encode()},
            )
        )
        self.reusable = reusable and not self.closed

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            self.close()
            return
        if self._headers_done and not self._framed:
            self._complete(reusable=False)  # an answer that ends where the connection does
        elif not self._received:
            answer.set_exception(_Stale())
        elif exc is not None:
            answer.set_exception(httpx2.ReadError(f"the connection was lost mid-answer: {exc}"))
        else:
            answer.set_exception(httpx2.RemoteProtocolError("the server closed the connection mid-answer"))

    def _timed_out(self) -> None:
        self._fail(httpx2.ReadTimeout(f"no answer for {self._silence:g}s"))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def close(self) -> None:
        """Close the socket; the connection is never handed out again."""
        self.closed = True
        self.reusable = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def _head(request: httpx2.Request, body: bytes) -> bytes:
    """The request line and headers; a body httpx2 framed as chunked is sent as one chunk."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise httpx2.LocalProtocolError(f"header {name[:40]!r} holds a line break or colon; nothing was sent")
        if name.lower() == b"transfer-encoding":
            chunked = True
            continue
        lines.append(b"%s: %s" % (name, value))
    if chunked:
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


class PooledTransport(httpx2.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections to the origins it is asked for (or to one Unix socket ``uds``)."""

    def __init__(self, *, uds: str | None = None, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._uds = uds
        self._max_response = max_response_bytes
        self._idle: dict[tuple[bytes, bytes, int | None], list[_Connection]] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._closed:
            raise httpx2.ConnectError("the transport is closed")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _head(request, body)
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        head_request = request.method == "HEAD"
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx2.PoolTimeout(f"all {MAX_CONNECTIONS} connections stayed busy") from None
        try:
            connection = self._kept(origin)
            if connection is not None:
                try:
                    return await connection.exchange(
                        head, body, silence=timeouts.get("read"), head_request=head_request
                    )
                except _Stale:
                    if request.method.encode() not in _REPLAYABLE:
                        raise httpx2.RemoteProtocolError(
                            "the server closed a kept-alive connection as the request was sent"
                        ) from None
            connection = await self._connect(origin, timeouts.get("connect"))
            try:
                return await connection.exchange(head, body, silence=timeouts.get("read"), head_request=head_request)
            except _Stale:
                raise httpx2.RemoteProtocolError("the server closed the connection without answering") from None
        finally:
            self._slots.release()
            if connection is not None and connection.reusable:
                connection.idle_since = time.monotonic()
                self._idle.setdefault(origin, []).append(connection)

    def _kept(self, origin: tuple[bytes, bytes, int | None]) -> _Connection | None:
        """The most recently used idle connection that is still open and fresh; stale ones are closed."""
        idle = self._idle.get(origin)
        oldest = time.monotonic() - KEEPALIVE_EXPIRY
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= oldest:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: tuple[bytes, bytes, int | None], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(self._max_response)
        try:
            async with asyncio.timeout(timeout):
                if self._uds is not None:
                    await loop.create_unix_connection(lambda: connection, self._uds)
                else:
                    tls = scheme == b"https"
                    name = host.decode("ascii")
                    await loop.create_connection(
                        lambda: connection,
                        name,
                        port or (443 if tls else 80),
                        ssl=self._context() if tls else None,
                        server_hostname=name if tls else None,
                    )
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"no connection within {timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(str(exc) or type(exc).__name__) from None
        return connection

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    async def aclose(self) -> None:
        """Close every idle connection and wait until their sockets are closed."""
        self._closed = True
        connections = [connection for idle in self._idle.values() for connection in idle]
        self._idle.clear()
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait([connection.lost for connection in connections], timeout=1.0)


def default_transport(max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> PooledTransport | None:
    """Our pool for a client of Infino; None when proxy variables are set (httpx2 then routes through them)."""
    return None if urllib.request.getproxies() else PooledTransport(max_response_bytes=max_response_bytes)
