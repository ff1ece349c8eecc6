"""Starting ``infino-mcp`` as a subprocess on loopback HTTP, for tests of the HTTP modes.

``start_server(args, env)`` is an async context manager yielding a ``Running``
(its announced URL and what it wrote on stderr until then); the process is
terminated after the block. ``keyed_client(url, access, secret)`` opens an
``mcp.Client`` that sends a key pair in the ``--auth infino-keys`` headers.
``local_endpoint(dir)`` runs ``infino-mcp local-endpoint`` and yields the
``INFINO_ENDPOINT`` / keys environment that reaches it; ``endpoint_sdk(dir, *flags)``
is its synchronous twin yielding the process and an official ``InfinoSDK`` on it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
from infino_sdk.lib import InfinoSDK
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**env, "RUST_LOG": "error", **extra}


@dataclass
class Running:
    url: str
    started: str
    process: anyio.abc.Process


@contextlib.asynccontextmanager
async def start_server(args: list[str], env: dict[str, str] | None = None) -> AsyncIterator[Running]:
    process = await anyio.open_process(
        [sys.executable, "-m", "infino_mcp", "--transport", "streamable-http", "--port", "0", *args],
        env=child_env(**(env or {})),
    )
    try:
        assert process.stderr is not None
        buffer = b""
        url = None
        with anyio.fail_after(60):
            async for chunk in process.stderr:
                buffer += chunk
                lines = [line for line in buffer.decode(errors="replace").splitlines() if " serving " in line]
                if lines:
                    url = lines[0].split(" on ", 1)[1].split()[0].rstrip(";")
                    break
        if url is None:
            raise AssertionError(f"server did not start: {buffer.decode(errors='replace')}")
        yield Running(url, buffer.decode(errors="replace"), process)
    finally:
        process.terminate()
        await process.wait()


async def local_admin_keys(data_dir: Path) -> tuple[str, str]:
    """The bootstrap admin's keys of a local data directory (created on first open)."""
    from infino_mcp.local.services import open_services

    services = open_services(data_dir)
    try:
        return services.rbac.bootstrap_credentials()
    finally:
        await services.aclose()


@contextlib.asynccontextmanager
async def keyed_client(url: str, access_key: str, secret_key: str, **options: object) -> AsyncIterator[Client]:
    headers = {"X-Infino-Access-Key": access_key, "X-Infino-Secret-Key": secret_key}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), **options) as client:  # type: ignore[arg-type]
            yield client


_BANNER = re.compile(r"on (http://\S+)\n.*access key: (\S+)\n\s+secret key: (\S+)", re.S)
"""What ``local-endpoint`` writes on stderr once it listens: its URL and the admin's key pair."""


def _endpoint_command(data_dir: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "infino_mcp", "local-endpoint", "--port", "0", "--data", str(data_dir),
            "--no-sample-data", *flags]  # fmt: skip


@contextlib.contextmanager
def endpoint_sdk(data_dir: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], InfinoSDK]]:
    """``infino-mcp local-endpoint`` with ``flags`` on a free port, and the official SDK signed with its admin keys."""
    process = subprocess.Popen(
        _endpoint_command(data_dir, *flags),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(),
    )
    assert process.stderr is not None
    try:
        banner = []
        for line in process.stderr:
            banner.append(line)
            if "secret key:" in line:
                break
        text = "".join(banner)
        found = _BANNER.search(text)
        assert found, text
        client = InfinoSDK(found[2], found[3], found[1])
        try:
            yield process, client
        finally:
            client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()


@contextlib.asynccontextmanager
async def local_endpoint(data_dir: Path) -> AsyncIterator[dict[str, str]]:
    """``infino-mcp local-endpoint`` on a free port: the settings replicas need to reach it."""
    process = await anyio.open_process(_endpoint_command(data_dir), env=child_env())
    try:
        assert process.stderr is not None
        text = ""
        with anyio.fail_after(60):
            async for chunk in process.stderr:
                text += chunk.decode(errors="replace")
                if "secret key:" in text and text.rstrip().endswith(")"):
                    break
        found = _BANNER.search(text)
        assert found, text
        yield {"INFINO_ENDPOINT": found[1], "INFINO_ACCESS_KEY": found[2], "INFINO_SECRET_KEY": found[3]}
    finally:
        process.terminate()
        await process.wait()
