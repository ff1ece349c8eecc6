"""The keep-alive transport our clients send through, against bare HTTP/1.1 servers that misbehave on purpose.

Connections are reused and one the server closed is not; answers are framed
by length, chunks or the connection's end; an answer over the size limit, a
silent server, a cancelled request and a kept connection closed under a
request each end the way the module promises. HTTPS verifies the server.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import Client

from infino_mcp.config import Settings
from infino_mcp.http_pool import PooledTransport, ResponseTooLarge, default_transport
from infino_mcp.server import build_server

pytestmark = pytest.mark.anyio

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Given the request's head, writes (or does not write) an answer; False closes the connection."""


def ok(body: bytes = b"ok", extra: bytes = b"") -> Answer:
    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        return True

    return answer


class _Server:
    """A bare HTTP/1.1 server: the n-th request of each connection is answered by ``answers[n]`` (the last repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = answers
        self.connections = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for n in range(1_000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length))
                if not await self.answers[min(n, len(self.answers) - 1)](head, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        self.closed.set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def test_keep_alive_connection_is_reused() -> None:
    state = _Server(ok())
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        for _ in range(5):
            assert (await http.get(url)).text == "ok"
    assert state.connections == 1


async def test_connection_closed_by_server_is_not_reused() -> None:
    """An idle connection whose peer hung up is seen as such: the next request opens a new one and succeeds."""

    async def once(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await ok()(head, writer)
        return False

    state = _Server(once)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        assert (await http.get(url)).text == "ok"
        await state.closed.wait()  # the server has closed the kept-alive connection
        assert (await http.get(url)).text == "ok"
    assert state.connections == 2


async def test_concurrent_requests_each_get_a_connection_and_keep_it() -> None:
    state = _Server(ok())
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        for _ in range(2):
            answers = await asyncio.gather(*(http.get(url) for _ in range(20)))
            assert [a.text for a in answers] == ["ok"] * 20
    assert state.connections == 20  # every one kept for the second round


async def test_chunked_gzip_and_close_delimited_answers_are_read_whole() -> None:
    packed = gzip.compress(b'{"n": 1}')

    async def chunked(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n")
        for part in (packed[:5], packed[5:]):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async def to_the_end(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        return False

    async with _Server(chunked, to_the_end) as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        assert (await http.get(url)).json() == {"n": 1}
        assert (await http.get(url)).text == "until the end"
        assert (await http.get(url)).json() == {"n": 1}  # a new connection: the last one ended with its answer


async def test_request_body_head_and_interim_answers() -> None:
    async def interim(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await ok(b"after 100")(head, writer)

    async def head_answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")  # a HEAD answer has no body
        return True

    state = _Server(interim, head_answer)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        big = b"x" * 200_000
        assert (await http.post(url, content=big)).text == "after 100"
        assert state.bodies[0] == big
        answer = await http.head(url)
        assert answer.status_code == 200 and answer.content == b""
        files = {"file": ("a.ndjson", b'{"a": 1}\n')}
        assert (await http.post(url, files=files)).status_code == 200
        assert b'{"a": 1}' in state.bodies[-1]


async def test_an_answer_over_the_limit_is_cut_off_and_its_connection_closed() -> None:
    big, small = ok(b"y" * 300_000), ok()
    calls: list[int] = []

    async def first_big(head: bytes, writer: asyncio.StreamWriter) -> bool:
        calls.append(1)
        return await (big if len(calls) == 1 else small)(head, writer)

    state = _Server(first_big)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport(max_response_bytes=100_000)) as http:
        with pytest.raises(ResponseTooLarge):
            await http.get(url)
        assert (await http.get(url)).text == "ok"
    assert state.connections == 2


async def test_a_silent_server_times_out_and_the_next_request_gets_its_own_answer() -> None:
    release = asyncio.Event()

    calls: list[bytes] = []

    async def late(head: bytes, writer: asyncio.StreamWriter) -> bool:
        calls.append(b"answer %d" % len(calls))
        mine = calls[-1]
        await release.wait()
        return await ok(mine)(head, writer)

    state = _Server(late)
    timeout = httpx2.Timeout(5, read=0.2)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport(), timeout=timeout) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(url)
        release.set()
        assert (await http.get(url)).text == "answer 1"  # the timed-out request's answer 0 is never read
    assert state.connections == 2


async def test_a_cancelled_request_leaves_no_answer_for_the_next_one() -> None:
    seen, release = asyncio.Event(), asyncio.Event()

    calls: list[bytes] = []

    async def held(head: bytes, writer: asyncio.StreamWriter) -> bool:
        calls.append(b"answer %d" % len(calls))
        mine = calls[-1]
        seen.set()
        await release.wait()
        return await ok(mine)(head, writer)

    state = _Server(held)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        task = asyncio.ensure_future(http.get(url))
        await seen.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert (await http.get(url)).text == "answer 1"  # the cancelled request's answer 0 is never read
    assert state.connections == 2


async def test_a_kept_connection_closed_under_a_request_resends_a_get_but_not_a_post() -> None:
    async def hang_up(head: bytes, writer: asyncio.StreamWriter) -> bool:
        return False  # read the request, then close without a byte of answer

    state = _Server(ok(), hang_up)
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        assert (await http.get(url)).text == "ok"
        assert (await http.get(url)).text == "ok"  # sent again on a new connection, answered there
        assert state.connections == 2
        with pytest.raises(httpx2.RemoteProtocolError, match="kept-alive"):
            await http.post(url, content=b"{}")  # it may have been applied: InfinoClient decides, not the pool
    assert len(state.heads) == 4


async def test_header_values_with_line_breaks_are_never_sent() -> None:
    state = _Server(ok())
    async with state as url, httpx2.AsyncClient(transport=PooledTransport()) as http:
        with pytest.raises((httpx2.LocalProtocolError, ValueError)):
            await http.get(url, headers={"x-id": "a\r\nx-injected: 1"})
    assert state.heads == []


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


async def test_https_verifies_the_server_and_speaks_http_1_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, key_file = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    state = _Server(ok(b"secure"))
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        async with httpx2.AsyncClient(transport=PooledTransport()) as http:
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://localhost:{port}/")  # not signed by anyone this machine trusts
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        async with httpx2.AsyncClient(transport=PooledTransport()) as http:
            assert (await http.get(f"https://localhost:{port}/")).text == "secure"
            assert (await http.get(f"https://localhost:{port}/")).text == "secure"
        assert state.connections == 1  # the refused handshake never became one; then one kept for both requests


async def test_a_tool_whose_answer_is_too_large_says_how_to_ask_for_less() -> None:
    """Through MCP: the tool fails with the limit and what to do; the server keeps answering."""
    rows = b'{"rows": [' + b",".join(b'{"v": "%s"}' % (b"z" * 1000) for _ in range(3_000)) + b"]}"

    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        body = rows if b" /sql" in head else b'{"version": "test"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        return True

    async with _Server(answer) as url:
        values: dict[str, Any] = {"endpoint": url, "access_key": "AKBIG", "secret_key": "sk", "max_response_mb": 1}
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        async with Client(build_server(settings)) as mcp:
            result = await mcp.call_tool("query_dataset_in_sql", {"query": "SELECT v FROM big"})
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert result.is_error
            assert "larger than 1 MB" in text and "INFINO_MAX_RESPONSE_MB" in text and "LIMIT" in text
            assert not (await mcp.call_tool("ping", {})).is_error


def test_proxy_variables_leave_routing_to_httpx2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert default_transport() is None
    monkeypatch.delenv("HTTPS_PROXY")
    for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(), PooledTransport)
