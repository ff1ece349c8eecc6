"""The fast path for the commonest bulk request: new documents into known fields.

When every action of a bulk request is ``index``/``create`` into one existing
dataset, with ids that are generated or given once and not yet stored (checked
under the table's write lock), no document can collide with another, so the
per-document state machine of ``documents`` is not needed. Then the document
lines go straight through Arrow's JSON reader (C++, multi-threaded) with the
table's own column types as an explicit schema, are flattened (``geo.city``),
get generated ids and their original text as ``_source``, and are appended as
one Arrow batch.

The reader refuses anything the slow path would treat specially: an unknown
field, a value of another JSON type than its column (``"12"`` for an integer,
a scalar for a list...), a float for an integer column, a non-ISO date, a
non-object line, ``NaN``. Then ``fast_append`` returns None and the caller
takes the general path, which coerces, declares new fields, or refuses single
documents with per-item errors. The result is the same either way.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from infino_mcp.local.storage.catalog import DOC_ID, SOURCE, DatasetInfo, column_for
from infino_mcp.local.storage.documents import existing_ids
from infino_mcp.local.storage.engine import Engine

_BLOCK_SIZE = 4 << 20
_SUPPORTED = (pa.types.is_boolean, pa.types.is_int64, pa.types.is_float64, pa.types.is_large_string)


def _read_type(arrow_type: pa.DataType) -> pa.DataType | None:
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("ns", tz="UTC")
    if any(check(arrow_type) for check in _SUPPORTED):
        return arrow_type
    if pa.types.is_list(arrow_type) and any(check(arrow_type.value_type) for check in _SUPPORTED):
        return arrow_type
    return None


def read_schema(info: DatasetInfo, table_schema: pa.Schema) -> pa.Schema | None:
    """The nested schema documents of ``info`` are read with, None when the fields cannot be
    expressed as one (a path that is both a value and an object, JSON-text or exotic columns)."""
    types = {f.name: f.type for f in table_schema}
    tree: dict[str, Any] = {}
    for field in info.fields.values():
        if field.infino_type == "Object" or field.column not in types:
            return None
        read = _read_type(types[field.column])
        if read is None:
            return None
        node = tree
        parts = field.name.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                return None
            node = child
        if parts[-1] in node:
            return None
        node[parts[-1]] = read
    return pa.schema(_fields(tree))


def _fields(tree: dict[str, Any]) -> list[pa.Field]:
    return [
        pa.field(name, pa.struct(_fields(value)) if isinstance(value, dict) else value) for name, value in tree.items()
    ]


def fast_append(
    engine: Engine,
    info: DatasetInfo,
    sources: list[str],
    ids: list[str],
    given: Collection[str] = (),
    nan_checked: bool = False,
) -> bool:
    """Append ``sources`` (one JSON document each) under ``ids``; False when the fast path
    does not apply and nothing was written, including when one of the ``given`` ids
    already exists (that is an upsert). ``nan_checked``: the caller made sure no source
    holds ``NaN``/``Infinity`` (which the reader accepts and we store as null).
    Blocking: run it in a worker thread."""
    if not sources or not info.fields:
        return False
    if not nan_checked and any("NaN" in s or "Infinity" in s for s in sources):
        return False
    with engine.locked(info.table):
        if given and existing_ids(engine, info.table, given):
            return False
        table_schema = engine.table_schema(info.table)
        schema = read_schema(info, table_schema)
        if schema is None:
            return False
        data = "\n".join(sources).encode()
        try:
            table = pajson.read_json(
                io.BytesIO(data),
                read_options=pajson.ReadOptions(block_size=_BLOCK_SIZE),
                parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return False
        if table.num_rows != len(sources):
            return False
        batch = _to_table_columns(table, table_schema)
        if batch is None:
            return False
        batch = batch.append_column(pa.field(DOC_ID, pa.large_string()), pa.array(ids, pa.large_string()))
        batch = batch.append_column(pa.field(SOURCE, pa.large_string()), pa.array(sources, pa.large_string()))
        engine.append_now(info.table, batch)
    return True


def _to_table_columns(table: pa.Table, table_schema: pa.Schema) -> pa.Table | None:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    types = {f.name: f.type for f in table_schema}
    fields, arrays = [], []
    try:
        for path, column in zip(table.column_names, table.columns, strict=True):
            if column.null_count == len(column):
                continue
            name = column_for(path)
            target = types[name]
            if column.type != target:
                column = column.cast(target, safe=not pa.types.is_timestamp(target))
            fields.append(pa.field(name, target))
            arrays.append(column)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
