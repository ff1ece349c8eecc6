"""Local mode: an InfinoClient whose transport is the local endpoint, in-process.

The same signed client and code path as the cloud: requests are signed with
the local endpoint's bootstrap admin key and verified by its SigV4 middleware.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator

import httpx2

from infino_mcp.auth import request_keys
from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.local.app import create_app
from infino_mcp.local.services import open_services
from infino_mcp.local.storage.sample import load_sample

log = logging.getLogger(__name__)

LOCAL_BASE_URL = "http://infino.local"


@contextlib.asynccontextmanager
async def embedded_client(settings: Settings) -> AsyncIterator[InfinoClient]:
    """Open the local endpoint on ``settings.data_dir`` and yield a client wired to it."""
    data_dir = settings.data_dir.expanduser().resolve()
    services = open_services(data_dir, region=settings.region, service=settings.service)
    try:
        if settings.sample_data:
            await load_sample(services.writer)
        print(
            f"infino-mcp: local mode, no Infino account needed; data lives in {data_dir}",
            file=sys.stderr,
            flush=True,
        )
        transport = httpx2.ASGITransport(app=create_app(services))
        # Keys are read at every request: rotating the admin's keys must not lock this client out.
        # Per-user HTTP modes sign with each caller's keys instead, and never with the admin's.
        credentials = request_keys if settings.per_user else services.rbac.bootstrap_credentials
        async with InfinoClient(
            LOCAL_BASE_URL, "", "", settings=settings, transport=transport, credentials=credentials
        ) as client:
            yield client
    finally:
        await services.aclose()
