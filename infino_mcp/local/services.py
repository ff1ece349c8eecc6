"""Everything one local endpoint process holds: the data directory's lock, the
engine connection, the dataset catalog, the document writer, RBAC, and the JSON
collections for objects the engine does not store. Built once per data directory
by ``open_services`` (only by the process that takes the lock) and closed on exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.rbac import Rbac
from infino_mcp.local.storage.catalog import Catalog
from infino_mcp.local.storage.documents import DocumentWriter
from infino_mcp.local.storage.engine import DEFAULT_MEMORY_BUDGET_MIB, Engine
from infino_mcp.local.storage.folders import remove_tree, tree_size
from infino_mcp.local.storage.jsonstore import JsonCollection
from infino_mcp.local.storage.ownership import OwnerLock

DEFAULT_MAX_ROWS = 10_000

COLLECTIONS = (
    "visualizations",
    "dashboards",
    "threads",
    "connections",
    "import_jobs",
    "connector_jobs",
)


@dataclass(frozen=True)
class Reclaimed:
    """What the owner removed at start: leftovers of a crash no dataset names."""

    folders: int = 0
    bytes: int = 0
    kept: tuple[str, ...] = ()
    """Engine tables no dataset names that hold rows: left in place, never deleted."""

    def describe(self) -> str:
        text = ""
        if self.folders:
            text = f"reclaimed {self.bytes / 1_000_000:.1f} MB from {self.folders} engine folder(s) no dataset names"
        if self.kept:
            text += ("; " if text else "") + f"kept engine table(s) {', '.join(self.kept)}: no dataset names them"
        return text


@dataclass
class Services:
    data_dir: Path
    region: str
    service: str
    engine: Engine
    catalog: Catalog
    writer: DocumentWriter
    rbac: Rbac
    collections: dict[str, JsonCollection] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    """Background uploads by run id (files_api); cancelled on close."""
    max_upload_bytes: int = 256 * 1024 * 1024
    max_rows: int = DEFAULT_MAX_ROWS
    """Most rows one SQL answer (``/sql``, visualizations) carries; the answer says when it was cut."""
    lock: OwnerLock | None = None
    """The data directory's lock: held from open to close, released last."""
    reclaimed: Reclaimed = field(default_factory=Reclaimed)

    def collection(self, name: str) -> JsonCollection:
        return self.collections[name]

    async def aclose(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            try:
                await task
            except asyncio.CancelledError:
                pass
        try:
            await self.engine.aclose()
        finally:
            if self.lock is not None:
                self.lock.release()


def open_services(
    data_dir: Path,
    *,
    region: str = "us-east-1",
    service: str = "es",
    max_rows: int = DEFAULT_MAX_ROWS,
    memory_budget_mib: int = DEFAULT_MEMORY_BUDGET_MIB,
) -> Services:
    """Open (or create) the endpoint state under ``data_dir``, taking its lock first.

    Raises ``DirectoryOwned`` when another process holds the lock (it serves the directory)."""
    # A new data directory is the owner's alone (keys, records and connection settings live in it).
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = OwnerLock.acquire(data_dir)
    try:
        engine = Engine(data_dir / "engine", memory_budget_mib=memory_budget_mib)
    except BaseException:
        lock.release()
        raise
    try:
        catalog = Catalog(engine, data_dir / "catalog.json")
        reclaimed = reclaim_orphans(engine, catalog)
        objects = data_dir / "objects"
        return Services(
            data_dir=data_dir,
            region=region,
            service=service,
            engine=engine,
            catalog=catalog,
            writer=DocumentWriter(engine, catalog),
            rbac=Rbac(data_dir / "rbac"),
            collections={name: JsonCollection(objects / f"{name}.json") for name in COLLECTIONS},
            max_rows=max_rows,
            lock=lock,
            reclaimed=reclaimed,
        )
    except BaseException:
        engine.close_now()
        lock.release()
        raise


def reclaim_orphans(engine: Engine, catalog: Catalog) -> Reclaimed:
    """Remove what a crash left behind: empty engine tables no dataset names, and engine folders
    no table uses. Unnamed tables holding rows are kept (and reported): nothing is ever lost."""
    named = catalog.tables()
    kept: list[str] = []
    for table in engine.list_tables():
        if table in named:
            continue
        try:
            rows = engine.query_now(f'SELECT count(*) AS c FROM "{table}"').to_pylist()[0]["c"]
        except ApiError:
            rows = 1
        if rows:
            kept.append(table)
        else:
            engine.drop(table)
    try:
        used = set(engine.locations().values())
    except (OSError, KeyError, ValueError, TypeError):
        return Reclaimed(kept=tuple(kept))  # the engine's catalog is not what we know: remove nothing
    if not set(engine.list_tables()) <= engine.locations().keys() or any(Path(u).name != u for u in used):
        return Reclaimed(kept=tuple(kept))
    folders = freed = 0
    for entry in engine.path.iterdir():
        if entry.name.startswith(("_", ".")) or entry.name in used or not entry.is_dir():
            continue
        freed += tree_size(entry)
        remove_tree(entry)
        folders += 1
    return Reclaimed(folders=folders, bytes=freed, kept=tuple(kept))
