"""Dataset names <-> engine tables, and each dataset's fields.

Users name datasets freely ("sample-ecommerce-data.rel", "Logs.2024"); engine
tables must be ``[a-z0-9_-]`` (upper case is unreachable from SQL, dots are
refused). A name that is already a legal lower-case table name is used as is;
any other gets a slug plus a hash of the exact name ("logs-2024-1f2e3d4c"), so
"Logs" and "logs" stay distinct.

The registry (dataset -> table, uuid, creation time, enrichment policy, which
columns hold JSON text) is a small JSON file written atomically. The fields
themselves come from the engine's schema document, the source of truth, so a
crash between a schema change and a registry write cannot make them disagree.

Reads (``get``, ``names``, ``exists``, ``tables``, ``is_engine_table``) come from an
immutable snapshot built at open and replaced whole after each change, so they never
touch the engine, the disk or a lock: they are safe on the event loop. Changes read
the engine and write the registry (fsync); they are serialised by the catalog's lock
and run on a worker thread: async code calls ``acreate`` / ``aensure`` / ``adrop`` /
``aset_enrich_policy``, never ``create`` / ``ensure`` / ``drop`` / ``set_enrich_policy``.

Field names: nested objects are flattened to dotted paths ("geo.city"), one
column each. A path that would clash with the engine's own names (``_id``,
``score``) or ours (``_doc_id``, ``_source``), i.e. ``score`` or anything
starting with ``_`` or ``~``, is stored in a column named ``~`` + path; users
keep seeing their own names.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from infino_mcp.api_facts import RESERVED_DATASET_NAMES
from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError
from infino_mcp.local.storage.jsonstore import JsonCollection

if TYPE_CHECKING:
    from infino_mcp.local.storage.engine import Engine

DOC_ID = "_doc_id"
SOURCE = "_source"
ROW_ID = "_id"
INTERNAL_COLUMNS = frozenset({ROW_ID, DOC_ID, SOURCE})

_BAD_NAME_CHARS = re.compile(r'[\s/\\*?"<>|,#:`\x00-\x1f]')
_PLAIN_TABLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
MAX_NAME_LENGTH = 255

BASE_SCHEMA = {
    "fields": [
        {"name": DOC_ID, "type": "large_utf8", "index": {"kind": "fts"}},
        {"name": SOURCE, "type": "large_utf8"},
    ]
}

_TYPE_NAMES = {
    "large_utf8": "String",
    "utf8": "String",
    "i8": "Integer",
    "i16": "Integer",
    "i32": "Integer",
    "i64": "Integer",
    "u8": "Integer",
    "u16": "Integer",
    "u32": "Integer",
    "u64": "Integer",
    "f16": "Float",
    "f32": "Float",
    "f64": "Float",
    "bool": "Boolean",
    "list": "Array",
    "large_list": "Array",
    "struct": "Object",
    "date32": "ISO8601Date",
    "date64": "ISO8601Date",
}


def column_for(path: str) -> str:
    """The engine column that stores the user field ``path``."""
    if path == "score" or path.startswith(("_", "~")):
        return "~" + path
    return path


def field_for(column: str) -> str:
    """The user field name of an engine ``column`` (inverse of ``column_for``)."""
    return column[1:] if column.startswith("~") else column


def infino_type(engine_type: dict) -> str:
    kind: str = engine_type.get("type", "")
    if kind.startswith("timestamp"):
        return "ISO8601Date"
    return _TYPE_NAMES.get(kind, kind)


@dataclass
class FieldInfo:
    name: str
    column: str
    infino_type: str
    fts: bool
    engine_type: dict = field(default_factory=dict)


@dataclass
class DatasetInfo:
    name: str
    table: str
    fields: dict[str, FieldInfo]
    created_at: str
    enrich_policy: dict | None = None
    uuid: str = ""

    def column(self, name: str) -> str | None:
        """Engine column of user field ``name`` (None when the dataset has no such field)."""
        info = self.fields.get(name)
        return info.column if info else None


def validate_name(name: str) -> None:
    """ApiError(400) unless ``name`` can be a dataset name."""
    if not name or name in (".", ".."):
        raise ApiError(400, "A dataset name must not be empty, '.' or '..'.")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, f"Dataset name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}.")
    if name.lower() in RESERVED_DATASET_NAMES or name.startswith("_"):
        raise ApiError(
            400,
            f"'{name}' cannot be a dataset name: it is reserved by the API or starts with '_'; pick another name.",
        )
    bad = _BAD_NAME_CHARS.search(name)
    if bad:
        raise ApiError(
            400,
            f"Dataset name '{name}' contains {bad.group()!r}; use letters, digits, '.', '-', '_' and '@'.",
        )


def derive_table(name: str) -> str:
    """A legal, SQL-reachable engine table name for dataset ``name``."""
    if _PLAIN_TABLE.fullmatch(name):
        return name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "ds"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class _Snapshot:
    """What readers see; never changed in place (a change builds the next one)."""

    datasets: dict[str, DatasetInfo]
    names: tuple[str, ...]
    tables: frozenset[str]
    engine_tables: frozenset[str]


def _snapshot(datasets: dict[str, DatasetInfo], engine_tables: list[str]) -> _Snapshot:
    return _Snapshot(
        datasets=datasets,
        names=tuple(sorted(datasets)),
        tables=frozenset(info.table for info in datasets.values()),
        engine_tables=frozenset(engine_tables),
    )


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"Dataset '{name}' not found; get_datasets lists the datasets that exist.")


class Catalog:
    """The dataset registry of one endpoint process (thread-safe; see the module docstring)."""

    def __init__(self, engine: Engine, path: Path) -> None:
        """Reads every dataset's schema from the engine: open it off the event loop."""
        self._engine = engine
        self._registry = JsonCollection(path)
        self._lock = threading.RLock()
        datasets = {name: self._load(name, entry) for name, entry in self._registry.items()}
        self._view = _snapshot(datasets, engine.list_tables())

    # ----- lookups (the snapshot: no engine, no disk, no lock) ------------------------------

    def names(self) -> list[str]:
        return list(self._view.names)

    def tables(self) -> set[str]:
        """The engine tables some dataset names."""
        return set(self._view.tables)

    def exists(self, name: str) -> bool:
        return name in self._view.datasets

    def is_engine_table(self, table: str) -> bool:
        """Whether the engine holds a table named ``table`` (a dataset's or any other)."""
        return table in self._view.engine_tables

    def get(self, name: str) -> DatasetInfo:
        info = self._view.datasets.get(name)
        if info is None:
            raise _not_found(name)
        return info

    def _load(self, name: str, entry: dict) -> DatasetInfo:
        table = entry["table"]
        try:
            document = self._engine.schema(table)
        except KeyError:
            # Registered but the table is gone (a crash between drop and unregister): recreate it empty.
            document = self._engine.apply_schema(table, BASE_SCHEMA)
        json_columns = set(entry.get("json_columns", ()))
        fields: dict[str, FieldInfo] = {}
        for spec in document.get("fields", []):
            column = spec["name"]
            if column in INTERNAL_COLUMNS or spec.get("dropped"):
                continue
            kind = "Object" if column in json_columns else infino_type(spec)
            fts = (spec.get("index") or {}).get("kind") == "fts"
            fields[field_for(column)] = FieldInfo(field_for(column), column, kind, fts, dict(spec))
        return DatasetInfo(
            name=name,
            table=table,
            fields=fields,
            created_at=entry["created_at"],
            enrich_policy=entry.get("enrich_policy"),
            uuid=entry.get("uuid", ""),
        )

    def _publish(self, name: str, entry: dict | None) -> None:
        """Make ``name``'s registry ``entry`` (None: gone) what readers see, its schema read afresh
        (catalog lock held)."""
        datasets = {key: value for key, value in self._view.datasets.items() if key != name}
        if entry is not None:
            datasets[name] = self._load(name, entry)
        self._view = _snapshot(datasets, self._engine.list_tables())

    # ----- changes (blocking: worker threads only) ------------------------------------------

    def create(self, name: str) -> DatasetInfo:
        """Create an empty dataset; ApiError(409) when it exists, 400 for a bad name."""
        validate_name(name)
        with self._lock:
            if name in self._registry:
                raise ApiError(409, f"Dataset '{name}' already exists.")
            table = self._free_table(derive_table(name))
            self._engine.apply_schema(table, BASE_SCHEMA)
            entry = {
                "table": table,
                "created_at": now_iso(),
                "uuid": uuid.uuid4().hex,
                "enrich_policy": None,
                "json_columns": [],
            }
            self._registry.put(name, entry)
            self._publish(name, entry)
            return self.get(name)

    def _free_table(self, table: str) -> str:
        # Engine tables nobody registered (a crash between creating and registering one) are
        # skipped rather than reused or dropped: they may hold data.
        taken = self.tables() | set(self._engine.list_tables())
        candidate, n = table, 1
        while candidate in taken:
            n += 1
            candidate = f"{table}-{n}"
        return candidate

    def ensure(self, name: str) -> DatasetInfo:
        with self._lock:
            if name in self._registry:
                return self.get(name)
            return self.create(name)

    def drop(self, name: str) -> None:
        with self._lock:
            entry = self._registry.get(name)
            if entry is None:
                raise _not_found(name)
            folder = self._engine.drop(entry["table"])
            self._registry.delete(name)
            self._publish(name, None)
        self._engine.reclaim(folder)

    def declare_fields(self, name: str, specs: list[dict], json_columns: Sequence[str] = ()) -> DatasetInfo:
        """Add engine columns (schema patch ``specs``) and return the refreshed dataset.
        Called by the writer with the table's write lock held."""
        with self._lock:
            entry = self._registry.get(name)
            if entry is None:
                raise ApiError(404, f"Dataset '{name}' not found; it was deleted while writing.")
            if json_columns:
                entry["json_columns"] = sorted(set(entry.get("json_columns", [])) | set(json_columns))
                self._registry.put(name, entry)
            if specs:
                self._engine.apply_schema(entry["table"], {"fields": specs})
            self._publish(name, entry)
            return self.get(name)

    def set_enrich_policy(self, name: str, policy: dict[str, Any]) -> DatasetInfo:
        with self._lock:
            entry = self._registry.get(name)
            if entry is None:
                raise _not_found(name)
            entry["enrich_policy"] = policy
            self._registry.put(name, entry)
            self._publish(name, entry)
            return self.get(name)

    # ----- the async front: changes on a worker thread ---------------------------------------

    async def acreate(self, name: str) -> DatasetInfo:
        return await anyio.to_thread.run_sync(self.create, name)

    async def aensure(self, name: str) -> DatasetInfo:
        """The dataset, created when missing (a dataset that exists costs no trip to a thread)."""
        info = self._view.datasets.get(name)
        return info if info is not None else await anyio.to_thread.run_sync(self.ensure, name)

    async def adrop(self, name: str) -> None:
        await anyio.to_thread.run_sync(self.drop, name)

    async def aset_enrich_policy(self, name: str, policy: dict[str, Any]) -> DatasetInfo:
        return await anyio.to_thread.run_sync(self.set_enrich_policy, name, policy)
