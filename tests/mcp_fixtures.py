"""Fixtures for tool tests: a real MCP client over the server, backed by the local endpoint.

* ``sent_requests``: every HTTP request the server's ``InfinoClient`` sent in
  this test, in order (``httpx2.Request`` objects, bodies read). Assert it is
  empty to prove an input was refused before any request was made.
* ``tool_settings``: the ``Settings`` the default server uses (local, toolsets
  all, destructive tools allowed, no retry delay, no environment, no ``.env``).
* ``infino_client``: an ``InfinoClient`` signed with the local endpoint's
  bootstrap admin keys, talking to the endpoint app in-process (ASGI transport,
  wrapped by the recorder behind ``sent_requests``).
* ``mcp``: an open ``mcp.Client`` on ``build_server(tool_settings, client=infino_client)``.
* ``make_mcp``: ``await make_mcp(**settings_overrides)`` opens another client
  for another configuration (``read_only=True``, ``toolsets="query"``,
  ``allow_destructive=False``, ``file_root=[...]``...). ``transport=`` swaps the
  backend for an ``httpx2.MockTransport`` (faults the endpoint cannot produce);
  requests still land in ``sent_requests``. ``client_options=`` passes keyword arguments to
  ``mcp.Client`` (``elicitation_callback=``, ``mode="legacy"``...); ``credentials=(access, secret)``
  signs as another user (keys from create_user) instead of the bootstrap admin.
  Everything is closed after the test.
* ``call``: ``await call(client, "tool", {...})`` returns the structured content
  and fails the test with the tool's message when the call errored;
  ``call_error`` returns the error text and fails the test when it succeeded.

``local_services``, ``endpoint`` and ``anyio_backend`` come from ``tests/conftest.py``, which loads this
module as a plugin, so every test can use these fixtures without importing them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

if TYPE_CHECKING:
    from infino_mcp.local.services import Services

ENDPOINT_URL = "http://127.0.0.1:8765"


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests to ``inner`` and keeps each one (body read) in ``requests``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, requests: list[httpx2.Request]) -> None:
        self.inner = inner
        self.requests = requests

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def sent_requests() -> list[httpx2.Request]:
    return []


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """Local settings for tests: every toolset, destructive tools allowed, no retry delay, no ``.env``."""
    values: dict[str, Any] = {
        "local": True,
        "data_dir": data_dir,
        "sample_data": False,
        "toolsets": "all",
        "allow_destructive": True,
        "retry_backoff": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def tool_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith("INFINO_"):
            monkeypatch.delenv(name)
    return settings_for(tmp_path / "local")


def _client_for(
    services: Services,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport,
    requests: list[httpx2.Request],
    credentials: tuple[str, str] | None = None,
) -> InfinoClient:
    access_key, secret_key = credentials or services.rbac.bootstrap_credentials()
    return InfinoClient(
        ENDPOINT_URL, access_key, secret_key, settings=settings, transport=RecordingTransport(transport, requests)
    )


@pytest.fixture
def endpoint_app(local_services: Services) -> Any:
    from infino_mcp.local.app import create_app

    return create_app(local_services)


@pytest.fixture
async def infino_client(
    local_services: Services, endpoint_app: Any, tool_settings: Settings, sent_requests: list[httpx2.Request]
) -> AsyncIterator[InfinoClient]:
    client = _client_for(local_services, tool_settings, httpx2.ASGITransport(app=endpoint_app), sent_requests)
    async with client:
        yield client


@pytest.fixture
async def mcp(tool_settings: Settings, infino_client: InfinoClient) -> AsyncIterator[Client]:
    async with Client(build_server(tool_settings, client=infino_client)) as client:
        yield client


MakeMcp = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_mcp(
    local_services: Services, endpoint_app: Any, tool_settings: Settings, sent_requests: list[httpx2.Request]
) -> AsyncIterator[MakeMcp]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *,
            transport: httpx2.AsyncBaseTransport | None = None,
            client_options: dict[str, Any] | None = None,
            credentials: tuple[str, str] | None = None,
            **overrides: Any,
        ) -> Client:
            settings = settings_for(tool_settings.data_dir, **overrides)
            backend = transport or httpx2.ASGITransport(app=endpoint_app)
            client = await stack.enter_async_context(
                _client_for(local_services, settings, backend, sent_requests, credentials)
            )
            return await stack.enter_async_context(
                Client(build_server(settings, client=client), **(client_options or {}))
            )

        yield make


def _error_text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def _call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, f"{tool} failed: {_error_text(result)}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    return result.structured_content


async def _call_error(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return _error_text(result)


@pytest.fixture
def call() -> Callable[..., Awaitable[dict[str, Any]]]:
    return _call


@pytest.fixture
def call_error() -> Callable[..., Awaitable[str]]:
    return _call_error
