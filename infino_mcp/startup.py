"""Start-up work a server does after its initialize reply, so that the reply never waits for it.

Opening the local endpoint (importing the engine, opening the data directory) takes a few hundred
milliseconds, and the start-up check (one signed ping, ``infino_mcp.probe``) a network round trip.
A server that opens its own client (stdio, an in-memory client) hands them to ``Startup``, which
starts them at the first message after ``initialize`` (the client's ``notifications/initialized``,
or any request): the client reads the reply while they run. ``startup_gate`` holds every request
that may reach Infino (a tool call, a resource read, a prompt, a completion) until they are done,
so no call is answered before the data is open, and a call after a failed start names the cause.
Servers given a ready client (the HTTP transports open theirs before listening) have no ``Startup``.
This module imports nothing of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

log = logging.getLogger(__name__)

Job = Callable[..., Coroutine[Any, Any, None]]
"""An ``async def job(*, task_status)``: calls ``task_status.started()`` once its part is ready, and may
keep running (holding what it opened) until the server stops."""

# Answered from what the server itself holds: these never wait for the start-up work.
_SERVED_LOCALLY = frozenset(
    {"ping", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "logging/setLevel"}
)


class Startup:
    """The jobs one server runs once, in order, in ``group``: begun by ``begin``, awaited by ``wait``."""

    def __init__(self, group: anyio.abc.TaskGroup) -> None:
        self._group = group
        self._jobs: list[Job] = []
        self._begun = False
        self._done = anyio.Event()

    def add(self, job: Job) -> None:
        self._jobs.append(job)

    def begin(self) -> None:
        if not self._begun:
            self._begun = True
            self._group.start_soon(self._run)

    async def wait(self) -> None:
        self.begin()
        await self._done.wait()

    async def _run(self) -> None:
        try:
            for job in self._jobs:
                try:
                    await self._group.start(job)
                except Exception:  # a job reports its own failures; this is a bug in one, never fatal to the server
                    log.exception("start-up job %r failed", job)
        finally:
            self._done.set()


async def startup_gate(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: begin the start-up work after ``initialize``; hold requests that need it until done."""
    startup = getattr(ctx.lifespan_context, "startup", None)
    if isinstance(startup, Startup) and ctx.method != "initialize":
        if ctx.method in _SERVED_LOCALLY or ctx.method.startswith("notifications/"):
            startup.begin()
        else:
            await startup.wait()
    return await call_next(ctx)
