"""Local mode shared by many processes: the owner of a data directory serves it, the others attach.

A ``LocalEndpoint`` is what one local-mode process holds. If it can take the directory's lock it is
the owner: it opens the services, answers its own requests in-process, and serves the same app on
the directory's Unix socket to every other process. Otherwise it attaches: its requests go over the
socket to the owner, signed with the same keys, through the same client.

Takeover: when the owner goes (exit, crash, ``kill -9``) its socket stops answering. The next
request then takes the lock if it is free (this process becomes the owner) or waits for the process
that took it, and is sent again; it never reached the old owner, so that is safe for any request. A
request cut off half-way is not resent here: the client retries it when it is idempotent and
otherwise says it may have been applied.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx2
import uvicorn

from infino_mcp.http_pool import DEFAULT_MAX_RESPONSE_BYTES, PooledTransport
from infino_mcp.local.app import create_app
from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.rbac import read_bootstrap_credentials
from infino_mcp.local.services import Services, open_services
from infino_mcp.local.storage.engine import DEFAULT_MEMORY_BUDGET_MIB
from infino_mcp.local.storage.ownership import (
    DirectoryOwned,
    OwnerInfo,
    OwnerLock,
    read_owner,
    socket_address,
    socket_path,
)
from infino_mcp.local.storage.sample import load_sample

_POLL = 0.02


def bind_owner_socket(lock: OwnerLock) -> socket.socket:
    """Bind and listen on the directory's socket (mode 0600), publishing the owner record first,
    so that whoever can connect also reads the current owner. The caller holds the lock."""
    data_dir = lock.data_dir
    with contextlib.suppress(FileNotFoundError):
        socket_path(data_dir).unlink()  # a dead owner's socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(socket_address(data_dir))
        os.chmod(socket_path(data_dir), 0o600)
        lock.publish()
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class SocketServer(uvicorn.Server):
    """uvicorn for the owner socket, inside a process that handles its own signals."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


# Idle connections are closed by the client (httpx keeps them 5 s) well before the server would:
# a server closing one as the client reuses it would cut off a request that may not be resent.
KEEP_ALIVE = 60


def socket_server(services: Services) -> SocketServer:
    config = uvicorn.Config(
        create_app(services),
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=5,
    )
    return SocketServer(config)


def _say(text: str) -> None:
    print(f"infino-mcp: {text}", file=sys.stderr, flush=True)


class LocalEndpoint:
    """The local endpoint as one process sees it: owned here, or reached over the owner's socket."""

    def __init__(
        self,
        data_dir: Path,
        group: anyio.abc.TaskGroup,
        *,
        region: str,
        service: str,
        attach_timeout: float,
        memory_budget_mib: int = DEFAULT_MEMORY_BUDGET_MIB,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.data_dir = data_dir
        self.memory_budget_mib = memory_budget_mib
        self.region = region
        self.service = service
        self.services: Services | None = None
        self.owner: OwnerInfo | None = None
        self.transport = LocalTransport(self)
        self.current: httpx2.AsyncBaseTransport | None = None
        self._group = group
        self._attach_timeout = attach_timeout
        self._max_response_bytes = max_response_bytes
        self._settling = anyio.Lock()
        self._retired: list[httpx2.AsyncBaseTransport] = []
        self._server: SocketServer | None = None
        self._server_done = anyio.Event()
        self._keys: tuple[tuple[int, int, int], tuple[str, str]] | None = None

    def describe(self) -> str:
        """Which process serves the data, in the words stderr and ping use."""
        if self.services is not None:
            return f"data in {self.data_dir} (this process serves it)"
        pid = self.owner.pid if self.owner else "?"
        return f"data in {self.data_dir} (served by pid {pid})"

    def credentials(self) -> tuple[str, str]:
        """The bootstrap admin's keys, read at each request (rotation must not lock this process out)."""
        if self.services is not None:
            return self.services.rbac.bootstrap_credentials()
        # Read when attaching (off the loop); here again only after the owner rotated them.
        stamp = self._keys_stamp()
        if self._keys is None or self._keys[0] != stamp:
            self._keys = (stamp, read_bootstrap_credentials(self.data_dir / "rbac"))
        return self._keys[1]

    def _keys_stamp(self) -> tuple[int, int, int]:
        try:
            info = os.stat(self.data_dir / "rbac" / "keys.json")
        except OSError:
            return (0, 0, 0)
        return (info.st_mtime_ns, info.st_ino, info.st_size)

    def _read_keys(self) -> None:
        with contextlib.suppress(ApiError, OSError):  # not there yet: the first request reads them
            self._keys = (self._keys_stamp(), read_bootstrap_credentials(self.data_dir / "rbac"))

    # ----- becoming the owner or attaching ---------------------------------------------------

    async def start(self, *, sample_data: bool) -> None:
        await self._settle(first=True)
        if self.services is not None and sample_data:
            await load_sample(self.services.writer)

    async def recover(self, failed: httpx2.AsyncBaseTransport) -> None:
        """The owner's socket refused a connection: find or become the new owner (once for all callers)."""
        async with self._settling:
            if self.current is failed:
                await self._settle(first=False)

    async def _settle(self, *, first: bool) -> None:
        previous = self.owner.pid if self.owner else None
        deadline = time.monotonic() + self._attach_timeout
        while True:
            try:
                # Shielded: a cancelled caller must not leave services (and the lock) open in a thread.
                with anyio.CancelScope(shield=True):
                    services = await anyio.to_thread.run_sync(
                        lambda: open_services(
                            self.data_dir,
                            region=self.region,
                            service=self.service,
                            memory_budget_mib=self.memory_budget_mib,
                        )
                    )
            except DirectoryOwned as exc:
                if exc.owner is not None and await self._reachable():
                    owner = await anyio.to_thread.run_sync(read_owner, self.data_dir)
                    await self._attach(owner or exc.owner, first=first)
                    return
                if time.monotonic() > deadline:
                    who = exc.owner.describe() if exc.owner else "a process that is still starting"
                    raise httpx2.ConnectError(
                        f"{self.data_dir} is locked by {who}, but its socket does not answer"
                    ) from None
                await anyio.sleep(_POLL)
                continue
            await self._own(services, first=first, previous=previous)
            return

    async def _reachable(self) -> bool:
        try:
            # socket_address may make the short alias of a long path (a directory and a symlink).
            stream = await anyio.connect_unix(await anyio.to_thread.run_sync(socket_address, self.data_dir))
        except OSError:
            return False
        await stream.aclose()
        return True

    async def _attach(self, owner: OwnerInfo, *, first: bool) -> None:
        address = await anyio.to_thread.run_sync(socket_address, self.data_dir)
        await anyio.to_thread.run_sync(self._read_keys)
        if self.current is not None:
            self._retired.append(self.current)
        self.owner = owner
        self.current = PooledTransport(uds=address, max_response_bytes=self._max_response_bytes)
        _say(f"local mode{', no Infino account needed' if first else ''}: {self.describe()}")

    async def _own(self, services: Services, *, first: bool, previous: int | None) -> None:
        assert services.lock is not None
        try:
            sock = await anyio.to_thread.run_sync(bind_owner_socket, services.lock)
        except BaseException:
            await services.aclose()
            raise
        self.services = services
        if self.current is not None:
            self._retired.append(self.current)
        self.current = httpx2.ASGITransport(app=create_app(services))
        self.owner = OwnerInfo(pid=os.getpid(), socket=str(socket_path(self.data_dir)))
        self._server = socket_server(services)
        self._group.start_soon(self._serve, self._server, sock)
        note = ", no Infino account needed" if first else ""
        took_over = "" if first or previous is None else f"; took over from pid {previous}"
        _say(f"local mode{note}: data in {self.data_dir} (this process serves it{took_over})")
        if services.reclaimed.describe():
            _say(services.reclaimed.describe())

    async def _serve(self, server: SocketServer, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
            self._server_done.set()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._server is not None:
                self._server.should_exit = True
                await self._server_done.wait()
            for transport in [*self._retired, self.current]:
                if transport is not None:
                    await transport.aclose()
            if self.services is not None:
                await self.services.aclose()


class LocalTransport(httpx2.AsyncBaseTransport):
    """Sends each request to whoever serves the data now (this process, or the owner's socket)."""

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self._endpoint = endpoint

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        for _ in range(3):
            target = self._endpoint.current
            assert target is not None, "the local endpoint is not started"
            try:
                return await target.handle_async_request(request)
            except httpx2.ConnectError:
                if isinstance(target, httpx2.ASGITransport):
                    raise
                await self._endpoint.recover(target)
        raise httpx2.ConnectError(f"no process serves {self._endpoint.data_dir}")


@contextlib.asynccontextmanager
async def local_endpoint(
    data_dir: Path,
    *,
    region: str = "us-east-1",
    service: str = "es",
    sample_data: bool = False,
    attach_timeout: float = 10.0,
    memory_budget_mib: int = DEFAULT_MEMORY_BUDGET_MIB,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> AsyncIterator[LocalEndpoint]:
    """Serve ``data_dir`` from this process, or attach to the process that does; closed on exit."""
    async with anyio.create_task_group() as group:
        endpoint = LocalEndpoint(
            data_dir,
            group,
            region=region,
            service=service,
            attach_timeout=attach_timeout,
            memory_budget_mib=memory_budget_mib,
            max_response_bytes=max_response_bytes,
        )
        try:
            await endpoint.start(sample_data=sample_data)
            yield endpoint
        finally:
            await endpoint.aclose()
