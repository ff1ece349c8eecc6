"""Local mode: an InfinoClient whose transport is the local endpoint.

The same signed client and code path as the cloud: requests are signed with the
local endpoint's bootstrap admin key (or, in per-user HTTP modes, each caller's)
and verified by its SigV4 middleware, in this process when it owns the data
directory, or by the owning process over the directory's Unix socket (``owner``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from infino_mcp.auth import request_keys
from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.local.owner import local_endpoint

LOCAL_BASE_URL = "http://infino.local"


@contextlib.asynccontextmanager
async def embedded_client(settings: Settings) -> AsyncIterator[InfinoClient]:
    """Serve or attach to the local endpoint on ``settings.data_dir`` and yield a client wired to it."""
    data_dir = settings.data_dir.expanduser().resolve()
    async with local_endpoint(
        data_dir,
        region=settings.region,
        service=settings.service,
        sample_data=settings.sample_data,
        attach_timeout=settings.connect_timeout,
        memory_budget_mib=settings.memory_budget,
    ) as local:
        # Keys are read at every request: rotating the admin's keys must not lock this client out.
        # Per-user HTTP modes sign with each caller's keys instead, and never with the admin's.
        credentials = request_keys if settings.per_user else local.credentials
        async with InfinoClient(
            LOCAL_BASE_URL, "", "", settings=settings, transport=local.transport, credentials=credentials
        ) as client:
            yield client
