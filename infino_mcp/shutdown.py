"""Stopping on SIGINT or SIGTERM the way stopping on end of input does: clean-up runs to the end.

SIGTERM is how an MCP client closes a stdio server that has not exited after stdin closed, and
what ``docker stop`` and systemd send. Left to Python, SIGTERM kills the process where it stands
and SIGINT cancels the whole program mid-way; either way local mode's owner socket and engine
may be left open. Here both stop serving, and everything opened for serving is closed as on a
normal exit (exit status 0).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio
import uvicorn
from uvicorn.server import HANDLED_SIGNALS


class GracefulServer(uvicorn.Server):
    """uvicorn stopping on SIGINT or SIGTERM and returning.

    uvicorn raises a signal it stopped for again once it has stopped; with the event loop's SIGINT
    handler that cancels the clean-up that follows ``serve()`` (local mode then leaves its owner
    socket behind). Here it just returns. A second SIGINT still forces uvicorn's exit.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def until_signalled(serve: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run ``serve(*args)`` until it returns or SIGINT / SIGTERM arrives; then it is cancelled and cleans up."""
    async with anyio.create_task_group() as group:
        group.start_soon(_cancel_on_signal, group.cancel_scope)
        await serve(*args)
        group.cancel_scope.cancel()


async def _cancel_on_signal(scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                scope.cancel()
                return
    except NotImplementedError:  # Windows: the event loop takes no signal handlers; Python's own stay
        return
