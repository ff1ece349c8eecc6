"""The keep-alive pool our clients send through: connections are reused, and one the server closed is not."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from infino_mcp.http_pool import PooledTransport, default_transport

pytestmark = pytest.mark.anyio


class _Server:
    """A bare HTTP/1.1 server counting connections; it closes each one after ``per_connection`` answers."""

    def __init__(self, per_connection: int) -> None:
        self.per_connection = per_connection
        self.connections = 0
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(self.per_connection):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        await writer.wait_closed()
        self.closed.set()


async def _serve(per_connection: int) -> tuple[_Server, asyncio.Server, str]:
    state = _Server(per_connection)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    return state, server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_keep_alive_connection_is_reused() -> None:
    state, server, url = await _serve(per_connection=100)
    async with server, httpx2.AsyncClient(transport=PooledTransport()) as http:
        for _ in range(5):
            assert (await http.get(url)).text == "ok"
    assert state.connections == 1


async def test_connection_closed_by_server_is_not_reused() -> None:
    """An idle connection whose peer hung up is seen as such: the next request opens a new one and succeeds."""
    state, server, url = await _serve(per_connection=1)
    async with server, httpx2.AsyncClient(transport=PooledTransport()) as http:
        assert (await http.get(url)).text == "ok"
        await state.closed.wait()  # the server has closed the kept-alive connection
        assert (await http.get(url)).text == "ok"
    assert state.connections == 2


async def test_concurrent_requests_each_get_a_connection_and_keep_it() -> None:
    state, server, url = await _serve(per_connection=100)
    async with server, httpx2.AsyncClient(transport=PooledTransport()) as http:
        for _ in range(2):
            answers = await asyncio.gather(*(http.get(url) for _ in range(20)))
            assert [a.text for a in answers] == ["ok"] * 20
    assert state.connections == 20  # every one kept for the second round


def test_proxy_variables_leave_routing_to_httpx2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert default_transport() is None
    monkeypatch.delenv("HTTPS_PROXY")
    for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(), PooledTransport)
