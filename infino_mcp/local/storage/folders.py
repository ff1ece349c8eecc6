"""Engine table folders: their size, their removal, and the reads a removal waits for."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path


def tree_size(root: Path) -> int:
    """Bytes in the files under ``root`` (files vanishing meanwhile count as 0)."""
    total = 0
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_size
    return total


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class ReadTracker:
    """Reads in flight, by ticket: a dropped table's folder goes once the reads begun before the drop end."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0
        self._active: set[int] = set()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next
            self._next += 1
            self._active.add(ticket)
        try:
            yield
        finally:
            with self._changed:
                self._active.discard(ticket)
                self._changed.notify_all()

    def cutoff(self) -> int:
        """The ticket the next read will get: every read already begun has a smaller one."""
        with self._changed:
            return self._next

    def wait_before(self, cutoff: int, timeout: float | None) -> bool:
        """Block until no read with a ticket below ``cutoff`` is in flight (False on timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: all(t >= cutoff for t in self._active), timeout)
