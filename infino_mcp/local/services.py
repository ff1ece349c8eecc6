"""Everything one local endpoint process holds: the engine connection, the
dataset catalog, the document writer, RBAC, and the JSON collections for
objects the engine does not store. Built once per data directory by
``open_services`` and closed on exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infino_mcp.local.security.rbac import Rbac
from infino_mcp.local.storage.catalog import Catalog
from infino_mcp.local.storage.documents import DocumentWriter
from infino_mcp.local.storage.engine import Engine
from infino_mcp.local.storage.jsonstore import JsonCollection

DEFAULT_MAX_ROWS = 10_000

COLLECTIONS = (
    "visualizations",
    "dashboards",
    "threads",
    "connections",
    "import_jobs",
    "connector_jobs",
)


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
        await self.engine.aclose()


def open_services(
    data_dir: Path, *, region: str = "us-east-1", service: str = "es", max_rows: int = DEFAULT_MAX_ROWS
) -> Services:
    """Open (or create) the endpoint state under ``data_dir``."""
    # A new data directory is the owner's alone (keys, records and connection settings live in it).
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = Engine(data_dir / "engine")
    catalog = Catalog(engine, data_dir / "catalog.json")
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
    )
