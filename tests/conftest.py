"""Fixtures shared by the whole suite.

* ``anyio_backend``: async tests (``@pytest.mark.anyio``) run on asyncio.
* ``local_services``: a fresh local endpoint ``Services`` over ``tmp_path``
  (a real on-disk engine: ``memory://`` cannot delete or update), closed after
  the test.
* ``endpoint``: an ``httpx2.AsyncClient`` talking to the local endpoint app
  in-process (ASGI transport), every request SigV4-signed with the bootstrap
  admin's keys, like a real client of the Infino service.
* ``endpoint_as``: ``endpoint_as(access_key, secret_key)`` opens another such
  client signed with other keys (a user created in the test); closed after it.

The endpoint modules are imported inside the fixtures so that tests which do
not need the local endpoint never import the engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import hypothesis
import pytest

if TYPE_CHECKING:
    import httpx2

    from infino_mcp.local.services import Services

ENDPOINT_URL = "http://127.0.0.1:8765"

# Shared machines are noisy: no per-example deadline. CI replays the same examples every run.
hypothesis.settings.register_profile("local", deadline=None)
hypothesis.settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") else "local")

# MCP-level fixtures (a real client over the server, backed by the local endpoint): see tests/mcp_fixtures.py.
pytest_plugins = ["tests.mcp_fixtures"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def local_services(tmp_path: Path) -> AsyncIterator[Services]:
    from infino_mcp.local.services import open_services

    services = open_services(tmp_path / "local")
    try:
        yield services
    finally:
        await services.aclose()


@pytest.fixture
async def endpoint(local_services: Services) -> AsyncIterator[httpx2.AsyncClient]:
    import httpx2

    from infino_mcp.auth import SigV4Auth
    from infino_mcp.local.app import create_app

    access_key, secret_key = local_services.rbac.bootstrap_credentials()
    transport = httpx2.ASGITransport(app=create_app(local_services))
    async with httpx2.AsyncClient(
        base_url=ENDPOINT_URL,
        transport=transport,
        auth=SigV4Auth(access_key, secret_key, region=local_services.region, service=local_services.service),
        timeout=60,
    ) as client:
        yield client


@pytest.fixture
async def endpoint_as(local_services: Services) -> AsyncIterator[Callable[[str, str], httpx2.AsyncClient]]:
    import httpx2

    from infino_mcp.auth import SigV4Auth
    from infino_mcp.local.app import create_app

    clients: list[httpx2.AsyncClient] = []

    def make(access_key: str, secret_key: str) -> httpx2.AsyncClient:
        client = httpx2.AsyncClient(
            base_url=ENDPOINT_URL,
            transport=httpx2.ASGITransport(app=create_app(local_services)),
            auth=SigV4Auth(access_key, secret_key, region=local_services.region, service=local_services.service),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
