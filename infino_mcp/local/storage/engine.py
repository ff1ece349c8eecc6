"""The one embedded ``infino`` engine connection of a local endpoint process.

Engine facts this module exists for (see the engine notes):

* one ``Connection`` per process: a second connection sees other commits ~1 s late;
* appends on one connection must be serialized per table, or they fail with
  ``ConflictError``: every write here holds the table's ``threading.Lock``;
* each append is one durable commit costing 10-60 ms, so concurrent ``append``
  callers are grouped into one commit (group commit);
* many small commits grow the disk quadratically until ``optimize()`` + ``gc()``:
  a background maintenance thread compacts a table every ``maintain_every``
  commits and when writes go idle, without holding up requests (only writes to
  the table being compacted wait for it).

Two ways in: the ``async`` methods (run the blocking call in a worker thread),
the async front every coroutine uses; and the blocking methods (``*_now``,
``schema``, ``apply_schema``, ``list_tables``, ``drop``...) for code already in a
worker thread, holding ``locked(table)`` for writes (the documents writer runs a
whole write plan that way; the catalog reads schemas that way). Every call into
the engine goes through ``native.Native`` (an audit event first).
Engine errors caused by the request (bad SQL, bad predicate, refused values)
become ``ApiError(400)`` with the engine's message.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import infino
import pyarrow as pa

from infino_mcp.local.errors import ApiError
from infino_mcp.local.storage.arrow_rows import rows_to_arrow
from infino_mcp.local.storage.folders import ReadTracker, remove_tree, tree_size
from infino_mcp.local.storage.group_commit import GroupCommit
from infino_mcp.local.storage.native import Native, audit_engine

MAINTAIN_EVERY = 64
IDLE_SECONDS = 5.0
BACKGROUND_GC_GRACE = 10.0


def engine_message(exc: BaseException) -> str:
    """The engine's error text without its ``query_sql:``-style operation prefix."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = str(text)
    for prefix in ("query_sql: ", "query_sql:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.strip()


DEFAULT_MEMORY_BUDGET_MIB = 2048


def _api_error(exc: BaseException, what: str) -> ApiError:
    if isinstance(exc, infino.ConnectionMemoryBudgetError):
        if not what:  # a query: the same query would need the same memory again
            return ApiError(
                400,
                "This query needs more memory than the local endpoint allows (its --memory-budget): "
                "add LIMIT, aggregate, or narrow the WHERE.",
            )
        return ApiError(503, f"{what} needs more memory than the engine's budget allows: {engine_message(exc)}")
    return ApiError(400, f"{what} failed: {engine_message(exc)}" if what else engine_message(exc))


ENGINE_ERRORS = (ValueError, RuntimeError, KeyError, infino.InfinoError)


@dataclass
class _TableState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    commits_since_maintenance: int = 0


class Engine:
    """The process's engine connection, with per-table write locks and group commit."""

    def __init__(
        self,
        path: Path,
        *,
        maintain_every: int = MAINTAIN_EVERY,
        idle_seconds: float = IDLE_SECONDS,
        memory_budget_mib: int = DEFAULT_MEMORY_BUDGET_MIB,
    ) -> None:
        """``memory_budget_mib`` caps the connection's heap (queries and ingest together); 0: no cap."""
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        audit_engine("connect")
        self._conn = Native(infino.connect(str(path), connection_memory_budget_bytes=memory_budget_mib * 1024 * 1024))
        self._tables: dict[str, Native] = {}
        self._states: dict[str, _TableState] = {}
        self._states_lock = threading.Lock()
        self._maintain_every = maintain_every
        self._idle_seconds = idle_seconds
        self._work: queue.Queue[str | tuple[int, Path] | None] = queue.Queue()
        self._closed = False
        self.maintenance_runs = 0
        self._appends: GroupCommit[list[dict], None] = GroupCommit(self._commit_appends)
        self._maintained = threading.Condition()
        self._reads = ReadTracker()
        self._worker = threading.Thread(target=self._maintenance_loop, name="infino-maintenance", daemon=True)
        self._worker.start()

    # ----- table handles and locks -------------------------------------------------------

    def _state(self, table: str) -> _TableState:
        with self._states_lock:
            state = self._states.get(table)
            if state is None:
                state = self._states[table] = _TableState()
            return state

    @contextlib.contextmanager
    def locked(self, table: str) -> Iterator[None]:
        """Hold ``table``'s write lock (blocking): every engine write happens inside it."""
        with self._state(table).lock:
            yield

    def _table(self, table: str) -> Native:
        handle = self._tables.get(table)
        if handle is None:
            handle = self._tables[table] = Native(self._conn.open_table(table))
        return handle

    def list_tables(self) -> list[str]:
        return list(self._conn.list_tables())

    def schema(self, table: str) -> dict:
        """The engine's schema document of ``table`` (KeyError when missing)."""
        return self._conn.schema(table)

    def table_schema(self, table: str) -> pa.Schema:
        """The table's user-facing Arrow schema (its columns and their exact types)."""
        return self._table(table).schema()

    def apply_schema(self, table: str, patch: dict) -> dict:
        """Merge a schema patch (creates the table when missing); returns the new document."""
        try:
            return self._conn.schema(table, patch)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, f"Changing the schema of table '{table}'") from exc

    def drop(self, table: str) -> Path | None:
        """Unregister ``table``; returns its folder, which the caller hands to ``reclaim``."""
        with self.locked(table):
            folder = self._location(table)
            self._tables.pop(table, None)
            self._conn.drop_table(table, purge=False)
        return folder

    def reclaim(self, folder: Path | None, *, reader_wait: float = 30.0) -> None:
        """Delete a dropped table's folder once the reads in flight are done; after ``reader_wait``
        seconds the maintenance thread finishes the job (a crash leaves it to the next start)."""
        if folder is None:
            return
        cutoff = self._reads.cutoff()
        if self._reads.wait_before(cutoff, reader_wait):
            remove_tree(folder)
        else:
            self._work.put((cutoff, folder))

    def _location(self, table: str) -> Path | None:
        try:
            location = self.locations().get(table)
        except (OSError, KeyError, ValueError, TypeError):
            return None
        return self.path / location if location else None

    def locations(self) -> dict[str, str]:
        """Engine table -> its folder (relative to ``path``), from the engine's catalog document;
        raises when that document cannot be read as expected."""
        tables = json.loads((self.path / "_catalog" / "current").read_text())["tables"]
        return {name: str(entry["location"]) for name, entry in tables.items()}

    # ----- blocking calls (worker thread, table lock held for writes) ----------------------

    def query_now(self, sql: str) -> pa.Table:
        try:
            with self._reads.reading():
                return self._conn.query_sql(sql)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, "") from exc

    def exact_match_now(self, table: str, column: str, value: str, projection: list[str]) -> pa.Table:
        """Rows whose full-text-indexed ``column`` equals ``value`` exactly (an index lookup)."""
        try:
            with self._reads.reading():
                return self._table(table).exact_match(column, value, projection=projection)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, f"Looking up {column} in table '{table}'") from exc

    async def search_text(
        self, table: str, column: str, query: str, k: int, *, mode: str = "or", projection: list[str]
    ) -> pa.Table:
        """The engine's own BM25 top-``k`` over a full-text column, with ``score``."""

        def run() -> pa.Table:
            try:
                with self._reads.reading():
                    return self._table(table).bm25_search(column, query, k, mode=mode, projection=projection)
            except ENGINE_ERRORS as exc:
                raise _api_error(exc, f"Searching {column} in table '{table}'") from exc

        return await anyio.to_thread.run_sync(run)

    async def search_and_count_text(
        self, table: str, column: str, query: str, k: int, *, mode: str = "or", projection: list[str]
    ) -> tuple[pa.Table, int]:
        """``search_text`` and ``count_text`` in one trip to a worker thread (a lone match needs both)."""

        def run() -> tuple[pa.Table, int]:
            try:
                with self._reads.reading():
                    handle = self._table(table)
                    return handle.bm25_search(column, query, k, mode=mode, projection=projection), int(
                        handle.count(column, query, mode=mode)
                    )
            except ENGINE_ERRORS as exc:
                raise _api_error(exc, f"Searching {column} in table '{table}'") from exc

        return await anyio.to_thread.run_sync(run)

    async def count_text(self, table: str, column: str, query: str, *, mode: str = "or") -> int:
        """How many rows match ``query`` in a full-text column, answered from the index."""

        def run() -> int:
            try:
                with self._reads.reading():
                    return int(self._table(table).count(column, query, mode=mode))
            except ENGINE_ERRORS as exc:
                raise _api_error(exc, f"Counting matches in {column} of table '{table}'") from exc

        return await anyio.to_thread.run_sync(run)

    def append_now(self, table: str, rows: list[dict] | pa.Table) -> None:
        """Append in one commit. Row lists whose columns all exist go in as Arrow (about
        twice as fast for the engine); anything Arrow cannot hold goes in as documents."""
        if isinstance(rows, list) and not rows:
            return
        handle = self._table(table)
        batch = rows_to_arrow(rows, handle.schema()) if isinstance(rows, list) else rows
        try:
            if batch is not None:
                try:
                    handle.append(batch)
                except ENGINE_ERRORS:
                    if batch is rows:
                        raise
                    handle.append(rows)
            else:
                handle.append(rows)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, f"Appending to table '{table}'") from exc
        self._committed(table)

    def delete_now(self, table: str, predicate: str) -> int:
        try:
            stats = self._table(table).delete(predicate)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, f"Deleting from table '{table}'") from exc
        self._committed(table)
        return int(stats.n_tombstoned)

    def update_now(self, table: str, predicate: str, rows: list[dict]) -> None:
        try:
            self._table(table).update(predicate, rows)
        except ENGINE_ERRORS as exc:
            raise _api_error(exc, f"Updating table '{table}'") from exc
        self._committed(table)

    def _committed(self, table: str) -> None:
        state = self._state(table)
        state.commits_since_maintenance += 1
        if state.commits_since_maintenance >= self._maintain_every:
            state.commits_since_maintenance = 0
            self._work.put(table)

    # ----- async API -----------------------------------------------------------------------

    async def query(self, sql: str) -> pa.Table:
        """Run read-only engine SQL (real table names); ApiError(400) with the engine's message."""
        return await anyio.to_thread.run_sync(self.query_now, sql)

    async def append(self, table: str, rows: list[dict]) -> None:
        """Append rows durably. Callers arriving while a commit runs share the next commit;
        if a shared commit fails, each caller's rows are retried alone so one bad batch
        does not fail the others."""
        await self._appends.submit(table, rows)

    def _commit_appends(self, table: str, batches: list[list[dict]]) -> list[None]:
        with self.locked(table):
            self.append_now(table, [row for rows in batches for row in rows])
        return [None] * len(batches)

    async def delete(self, table: str, predicate: str) -> int:
        """Delete the rows matching an engine SQL predicate; returns how many."""

        def run() -> int:
            with self.locked(table):
                return self.delete_now(table, predicate)

        return await anyio.to_thread.run_sync(run)

    async def update(self, table: str, predicate: str, rows: list[dict]) -> None:
        """Replace the rows matching ``predicate`` with ``rows`` (1:1, one commit)."""

        def run() -> None:
            with self.locked(table):
                self.update_now(table, predicate, rows)

        await anyio.to_thread.run_sync(run)

    # ----- maintenance ---------------------------------------------------------------------

    def maintain_now(self, table: str, *, grace_secs: float = BACKGROUND_GC_GRACE) -> None:
        """Compact ``table`` (optimize) and delete unreferenced files older than ``grace_secs``."""
        with self.locked(table):
            if table not in self.list_tables():
                return
            handle = self._table(table)
            handle.optimize()
            handle.gc(grace_secs)
            self._state(table).commits_since_maintenance = 0
        with self._maintained:
            self.maintenance_runs += 1
            self._maintained.notify_all()

    def wait_for_maintenance(self, runs: int, timeout: float = 60.0) -> bool:
        """Block until ``maintenance_runs`` reaches ``runs`` (False on timeout); for tests."""
        with self._maintained:
            return self._maintained.wait_for(lambda: self.maintenance_runs >= runs, timeout)

    async def maintain(self, table: str | None = None, *, grace_secs: float = 0.0) -> None:
        """Run maintenance now (all tables when ``table`` is None) and wait for it.
        Deterministic hook for tests and benchmarks; the background thread does the same."""
        tables = [table] if table else self.list_tables()
        for name in tables:
            await anyio.to_thread.run_sync(lambda n=name: self.maintain_now(n, grace_secs=grace_secs))

    def _maintenance_loop(self) -> None:
        dirty: set[str] = set()
        while True:
            try:
                table = self._work.get(timeout=self._idle_seconds)
            except queue.Empty:
                table = ""
            if table is None:
                return
            if isinstance(table, tuple):  # a dropped table's folder, once its readers are done
                self._reads.wait_before(table[0], None)
                remove_tree(table[1])
                continue
            if table:
                dirty.discard(table)
                self._maintain_quietly(table)
                continue
            # Idle: compact tables that took commits since their last maintenance.
            with self._states_lock:
                dirty.update(name for name, st in self._states.items() if st.commits_since_maintenance > 0)
            while dirty:
                self._maintain_quietly(dirty.pop())

    def _maintain_quietly(self, table: str) -> None:
        try:
            self.maintain_now(table)
        except ENGINE_ERRORS:
            # A table dropped mid-way or a racing commit: the next round retries.
            self._state(table).commits_since_maintenance = max(1, self._state(table).commits_since_maintenance)

    # ----- sizes ---------------------------------------------------------------------------

    def store_size(self, table: str) -> int:
        """Bytes on disk under the table's directory (from the catalog's ``location``)."""
        root = self._location(table)
        return tree_size(root) if root is not None else 0

    def close_now(self) -> None:
        """Stop the maintenance thread (after the work it was given)."""
        if self._closed:
            return
        self._closed = True
        self._work.put(None)
        self._worker.join()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close_now)
