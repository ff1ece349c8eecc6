"""Work that grows with an answer (Arrow to JSON rows, the JSON text of thousands of rows or bulk items,
parsing a large body) takes many milliseconds at full size: ``run_sized`` runs it on a worker thread when
``size`` (rows, items, bytes / 1000) is over ``ON_LOOP_MAX``, and on the loop when it is small, where a trip
to a thread would cost more than the work. A leaf: any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

ON_LOOP_MAX = 500
"""Rows or items (or kilobytes of text) worked on the loop: about a millisecond at this size."""

T = TypeVar("T")


async def run_sized(work: Callable[..., T], *args: Any, size: int) -> T:
    if size <= ON_LOOP_MAX:
        return work(*args)
    return await anyio.to_thread.run_sync(work, *args)
