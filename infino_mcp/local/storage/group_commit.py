"""Group commit: callers that arrive while a commit runs share the next one.

Each engine commit is durable and costs 10-60 ms whatever its size, so concurrent
writers to one table (or dataset) are batched: ``await GroupCommit.submit(key,
item)`` queues ``item``; whichever caller gets the key's lock first takes every
queued item and runs ``commit(key, items)`` on a worker thread, which returns one
result per item. Every caller is answered only after the commit returned. If a
shared commit fails with ``ApiError``, each item is committed alone, so one bad
item does not fail the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

from infino_mcp.local.errors import ApiError

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiter(Generic[T]):
    item: T
    result: Any = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Group:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    pending: list[_Waiter[Any]] = field(default_factory=list)


class GroupCommit(Generic[T, R]):
    def __init__(self, commit: Callable[[str, list[T]], list[R]]) -> None:
        self._commit = commit
        self._groups: dict[str, _Group] = {}

    def lock(self, key: str) -> anyio.Lock:
        """The lock commits of ``key`` run under: hold it to order other work with them."""
        return self._group(key).lock

    async def submit(self, key: str, item: T) -> R:
        group = self._group(key)
        waiter: _Waiter[T] = _Waiter(item)
        group.pending.append(waiter)
        async with group.lock:
            if not waiter.done:
                batch, group.pending = group.pending, []
                await anyio.to_thread.run_sync(self._run, key, batch)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _group(self, key: str) -> _Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        return group

    def _run(self, key: str, batch: list[_Waiter[T]]) -> None:
        try:
            for waiter, result in zip(batch, self._commit(key, [w.item for w in batch]), strict=True):
                waiter.result = result
        except ApiError as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for waiter in batch:
                    try:
                        waiter.result = self._commit(key, [waiter.item])[0]
                    except ApiError as single:
                        waiter.error = single
        finally:
            for waiter in batch:
                waiter.done = True
