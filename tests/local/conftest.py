"""Fixtures for tests that put a real HTTP client in front of the local endpoint.

* ``served``: the endpoint app served by uvicorn on 127.0.0.1 at a free port;
  yields its base URL. The socket is bound before the server starts, so a
  client can connect at once (the kernel queues it) without waiting for startup.
* ``sdk``: the official ``infino_sdk.InfinoSDK`` (a client nobody here wrote)
  signed with the bootstrap admin's keys, talking to ``served``. It is
  synchronous: call it through ``anyio.to_thread.run_sync`` in async tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from infino_sdk import InfinoSDK

    from infino_mcp.local.services import Services


@pytest.fixture
async def served(local_services: Services) -> AsyncIterator[str]:
    import uvicorn

    from infino_mcp.local.app import create_app
    from infino_mcp.sockets import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    config = uvicorn.Config(create_app(local_services), lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
    sock.close()


@pytest.fixture
def sdk(served: str, local_services: Services) -> Iterator[InfinoSDK]:
    from infino_sdk import InfinoSDK

    client = InfinoSDK(*local_services.rbac.bootstrap_credentials(), served)
    yield client
    client.close()
