"""Local mode: an InfinoClient whose transport is the local endpoint.

The same signed client and code path as the cloud: requests are signed with the
local endpoint's bootstrap admin key (or, in per-user HTTP modes, each caller's)
and verified by its SigV4 middleware, in this process when it owns the data
directory, or by the owning process over the directory's Unix socket (``owner``).

Given ``later`` (a server's start-up work, ``infino_mcp.startup``), the client is
yielded at once and the endpoint is opened by a job handed to ``later``: the
engine and the endpoint's app are imported in a worker thread, the data
directory opened, and requests meanwhile are held by the server's start-up gate.
If opening fails, stderr says why in one line and every request gets that cause.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread
import httpx2

from infino_mcp.auth import request_keys
from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.errors import ConfigError

if TYPE_CHECKING:
    from infino_mcp.local.owner import LocalEndpoint

LOCAL_BASE_URL = "http://infino.local"


def _endpoint_opener() -> Callable[..., contextlib.AbstractAsyncContextManager[LocalEndpoint]]:
    # deferred: cold start (the engine, pyarrow, sqlglot and the endpoint's app are loaded only to open it)
    from infino_mcp.local.owner import local_endpoint

    return local_endpoint


def _endpoint_options(settings: Settings) -> dict[str, Any]:
    return {
        "region": settings.region,
        "service": settings.service,
        "sample_data": settings.sample_data,
        "attach_timeout": settings.connect_timeout,
        "memory_budget_mib": settings.memory_budget,
        "max_response_bytes": settings.max_response_mb * 1024 * 1024,
    }


class _Opening(httpx2.AsyncBaseTransport):
    """The local endpoint's transport and keys once a start-up job has opened it; its failure after."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.local: LocalEndpoint | None = None
        self.failure: str | None = None

    def _opened(self) -> LocalEndpoint:
        if self.local is None:
            raise ConfigError(
                f"local mode could not open {self.data_dir}: {self.failure}. Fix that and restart infino-mcp, "
                "or choose another data directory with --local DIR."
                if self.failure
                else f"local mode is still opening {self.data_dir}; retry in a moment."
            )
        return self.local

    def credentials(self) -> tuple[str, str]:
        return self._opened().credentials()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._opened().transport.handle_async_request(request)

    async def open(self, settings: Settings, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The start-up job: open the endpoint, report it ready, hold it open until cancelled."""
        started = False
        try:
            opener = await anyio.to_thread.run_sync(_endpoint_opener)
            async with opener(self.data_dir, **_endpoint_options(settings)) as local:
                self.local = local
                started = True
                task_status.started()
                await anyio.sleep_forever()
        except Exception as exc:
            while isinstance(exc, ExceptionGroup) and exc.exceptions:  # the endpoint's task group wraps the cause
                exc = exc.exceptions[0]
            self.local = None
            self.failure = f"{type(exc).__name__}: {exc}"
            print(
                f"infino-mcp: local mode could not open {self.data_dir} ({self.failure})", file=sys.stderr, flush=True
            )
            if not started:
                task_status.started()


@contextlib.asynccontextmanager
async def embedded_client(
    settings: Settings, *, later: Callable[[Callable[..., Any]], None] | None = None
) -> AsyncIterator[InfinoClient]:
    """Serve or attach to the local endpoint on ``settings.data_dir`` and yield a client wired to it.

    With ``later``, the endpoint is opened by the job passed to it, not before the client is yielded.
    """
    data_dir = settings.data_dir.expanduser().resolve()
    if later is not None:
        opening = _Opening(data_dir)

        async def open_endpoint(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            await opening.open(settings, task_status=task_status)

        later(open_endpoint)
        credentials = request_keys if settings.per_user else opening.credentials
        async with InfinoClient(
            LOCAL_BASE_URL, "", "", settings=settings, transport=opening, credentials=credentials
        ) as client:
            yield client
        return
    async with _endpoint_opener()(data_dir, **_endpoint_options(settings)) as local:
        # Keys are read at every request: rotating the admin's keys must not lock this client out.
        # Per-user HTTP modes sign with each caller's keys instead, and never with the admin's.
        credentials = request_keys if settings.per_user else local.credentials
        async with InfinoClient(
            LOCAL_BASE_URL, "", "", settings=settings, transport=local.transport, credentials=credentials
        ) as client:
            yield client
