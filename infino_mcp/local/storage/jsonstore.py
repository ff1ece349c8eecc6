"""A small durable store of JSON objects keyed by id, one file per collection.

Used for what the engine does not hold: visualizations, dashboards, Fino
threads, connections, import jobs, users and roles. Every write replaces the
file atomically (write, fsync, rename), so an acknowledged write survives a
crash and a torn write is never read. Files are private to the owner (0600, in a
0700 directory): connections hold credentials, the rest is private data too.

Reads come from an in-memory snapshot that writers replace whole once the file
is written, so a read never waits for a write (nor its fsync) and never sees a
change before it is durable: reads are safe on the event loop. Writes are
serialised by the store's lock; async code writes through ``aput`` /
``aupdate`` / ``adelete``, which run the write (and its fsync) on a worker
thread, never through ``put`` / ``update`` / ``delete``. A read-modify-write
goes through ``aupdate`` so no other write can come between the read and the
write.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread


class JsonCollection:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._write_lock = threading.Lock()
        self._items: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        """The current snapshot: replaced whole by writers, never changed in place."""

    def get(self, key: str) -> Any | None:
        return copy.deepcopy(self._items.get(key))

    def values(self) -> list[Any]:
        return copy.deepcopy(list(self._items.values()))

    def items(self) -> list[tuple[str, Any]]:
        return copy.deepcopy(list(self._items.items()))

    def keys(self) -> list[str]:
        return list(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def put(self, key: str, value: Any) -> None:
        with self._write_lock:
            self._replace({**self._items, key: copy.deepcopy(value)})

    def update(self, key: str, change: Callable[[Any], Any]) -> Any:
        """Atomically replace the item at ``key`` with ``change(current)`` (current is None when missing).

        An exception raised by ``change`` leaves the item as it was.
        """
        with self._write_lock:
            new = change(copy.deepcopy(self._items.get(key)))
            self._replace({**self._items, key: copy.deepcopy(new)})
            return copy.deepcopy(new)

    def delete(self, key: str) -> bool:
        with self._write_lock:
            if key not in self._items:
                return False
            self._replace({k: v for k, v in self._items.items() if k != key})
            return True

    def _replace(self, items: dict[str, Any]) -> None:
        """Write ``items`` durably, then make them the snapshot readers see (write lock held)."""
        self._flush(items)
        self._items = items

    def _flush(self, items: dict[str, Any]) -> None:
        directory = self._path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            os.chmod(directory, 0o700)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(items, fh, ensure_ascii=False, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)

    async def aput(self, key: str, value: Any) -> None:
        await anyio.to_thread.run_sync(self.put, key, value)

    async def aupdate(self, key: str, change: Callable[[Any], Any]) -> Any:
        """``update`` off the event loop: ``change`` runs on the worker thread, under the store's lock."""
        return await anyio.to_thread.run_sync(self.update, key, change)

    async def adelete(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.delete, key)
