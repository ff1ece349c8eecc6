"""Row dicts as an Arrow table of a table's own column types (the engine's faster append input)."""

from __future__ import annotations

import pyarrow as pa


def rows_to_arrow(rows: list[dict], schema: pa.Schema) -> pa.Table | None:
    """``rows`` as an Arrow table of the table's own column types, or None when a row has a
    column the table lacks or a value Arrow cannot convert (the caller appends the rows)."""
    present: set[str] = set()
    for row in rows:
        present.update(row)
    types = {f.name: f for f in schema}
    if not present <= types.keys():
        return None
    fields, arrays = [], []
    try:
        for name in present:
            target = types[name]
            values = [row.get(name) for row in rows]
            if pa.types.is_timestamp(target.type):
                if any(type(v) is not str for v in values if v is not None):
                    return None
                utc = pa.array(values, pa.large_string()).cast(pa.timestamp("ns", tz="UTC"))
                array = utc.cast(target.type, safe=False)
            else:
                array = pa.array(values, type=target.type)
            fields.append(target)
            arrays.append(array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
        return None
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
