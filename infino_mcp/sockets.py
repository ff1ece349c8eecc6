"""The TCP sockets we serve on (local endpoint, HTTP transports): ``TCP_NODELAY`` on every connection.

Without it a small HTTP response written in two pieces (headers, then body)
waits for the peer's delayed ACK: about 40 ms per request on Linux. asyncio
sets the option on the connections it accepts only when the listening socket
was created with ``proto=IPPROTO_TCP``; ``socket.socket(AF_INET, SOCK_STREAM)``
has proto 0, so a pre-bound socket handed to uvicorn gets no option at all.
We create it with the protocol and also set the option on the listener,
which Linux and the BSDs copy to every accepted connection. Connections we
open (httpx2, websockets) go through asyncio's ``create_connection``, which
sets the option itself. ``bench/bench_wire.py`` checks both sides.
"""

from __future__ import annotations

import socket


def listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port) and listening, no-delay on every connection.

    The backlog is uvicorn's own default: a burst of clients connecting at once (each concurrent call of an
    HTTP client opens its own keep-alive connection) must not overflow it, or the kernel drops their SYNs and
    they retry a second later.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
