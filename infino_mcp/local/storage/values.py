"""Turning JSON documents into rows the engine stores, and refusing what it cannot.

The engine refuses many things a JSON document can carry (NaN, a float into an
integer column, a scalar where it holds a list, an ISO string it cannot parse
into a timestamp column, a field it has never seen declared with an index
afterwards...). Here each document is flattened to dotted paths, new fields are
typed (ISO-8601 strings become timestamps, strings get a full-text index), and
every value is coerced to its column's type or refused with a message for that
document alone (``ValueRefused``), so one bad document never fails a batch.

Arrays of scalars of one kind become list columns; arrays of objects, nested or
mixed arrays are kept as JSON text (the original document is always kept whole
in ``_source`` anyway).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from infino_mcp.local.clock import iso_ms, parse_iso
from infino_mcp.local.storage.catalog import DOC_ID, SOURCE, DatasetInfo, column_for

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
JSON_TEXT = "json"
CANONICAL_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z")


class ValueRefused(ValueError):
    """A value that cannot be stored in its column; the message names the field."""


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted paths (``{"geo": {"city": "X"}}`` -> ``{"geo.city": "X"}``)."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path + "."))
        elif isinstance(value, dict):
            continue
        else:
            flat[path] = value
    return flat


# ----- typing new fields ----------------------------------------------------------------


def _scalar_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "i64" if INT_MIN <= value <= INT_MAX else "f64"
    if isinstance(value, float):
        return "f64" if math.isfinite(value) else None
    if isinstance(value, str):
        return "timestamp_ms" if parse_iso(value) else "large_utf8"
    return JSON_TEXT


def infer_type(value: Any) -> str | None:
    """Engine type for a new field from one value: a scalar type, ``list:<type>``,
    ``json`` (kept as JSON text), or None when the value says nothing (null, [])."""
    if isinstance(value, list):
        kinds = {_scalar_type(v) for v in value if v is not None} - {None}
        if not kinds:
            return None
        if kinds == {"timestamp_ms"} or kinds == {"timestamp_ms", "large_utf8"}:
            kinds = {"large_utf8"}
        if kinds <= {"i64", "f64"}:
            return "list:f64" if "f64" in kinds else "list:i64"
        if len(kinds) == 1 and kinds < {"large_utf8", "bool"}:
            return f"list:{kinds.pop()}"
        return JSON_TEXT
    return _scalar_type(value)


def column_spec(column: str, kind: str) -> dict:
    """Schema-patch entry declaring ``column`` as ``kind`` (strings get an FTS index)."""
    if kind in ("large_utf8", JSON_TEXT):
        return {"name": column, "type": "large_utf8", "index": {"kind": "fts"}}
    if kind.startswith("list:"):
        item = kind[5:]
        return {"name": column, "type": "list", "item": {"name": "item", "type": item, "nullable": True}}
    return {"name": column, "type": kind}


def spec_kind(spec: dict, json_columns: set[str]) -> str:
    """Our short type name of an existing engine column spec."""
    kind = spec.get("type", "")
    if spec.get("name") in json_columns:
        return JSON_TEXT
    if kind in ("large_utf8", "utf8"):
        return "large_utf8"
    if kind.startswith("timestamp"):
        return "timestamp_ms"
    if kind in ("list", "large_list"):
        return "list:" + spec_kind(spec.get("item", {}), set())
    if kind[:1] in ("i", "u") and kind[1:].isdigit():
        return "i64"
    if kind.startswith("f") and kind[1:].isdigit():
        return "f64"
    return kind


def needs_widening(kind: str, value: Any) -> bool:
    """True when an integer column meets a float that is not a whole number."""
    if kind == "i64":
        return isinstance(value, float) and math.isfinite(value) and not value.is_integer()
    if kind == "list:i64" and isinstance(value, list):
        return any(needs_widening("i64", v) for v in value)
    return False


# ----- coercion -------------------------------------------------------------------------


def coerce(field: str, kind: str, value: Any) -> Any:
    """``value`` converted for a column of ``kind``; ValueRefused when it cannot be stored."""
    if value is None:
        return None
    if kind == JSON_TEXT:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, allow_nan=False)
    if kind.startswith("list:"):
        items = value if isinstance(value, list) else [value]
        return [coerce(field, kind[5:], item) for item in items]
    if isinstance(value, (list, dict)):
        shape = "an array" if isinstance(value, list) else "an object"
        if isinstance(value, list) and len(value) == 1:
            return coerce(field, kind, value[0])
        raise ValueRefused(f"field [{field}] holds {_label(kind)} values; the document carries {shape}")
    converter = _CONVERTERS.get(kind)
    return converter(field, value) if converter else value


def _label(kind: str) -> str:
    return {"large_utf8": "String", "i64": "Integer", "f64": "Float", "bool": "Boolean", "timestamp_ms": "date"}.get(
        kind, kind
    )


def _refuse(field: str, kind: str, value: Any) -> ValueRefused:
    return ValueRefused(f"field [{field}] of type {_label(kind)} cannot hold {json.dumps(value, default=str)[:80]}")


def _to_string(field: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    raise _refuse(field, "large_utf8", value)


def _to_int(field: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise _refuse(field, "i64", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _refuse(field, "i64", value) from None
    if isinstance(value, int) and INT_MIN <= value <= INT_MAX:
        return value
    raise _refuse(field, "i64", value)


def _to_float(field: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise _refuse(field, "f64", value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _refuse(field, "f64", value) from None
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    raise _refuse(field, "f64", value)


def _to_bool(field: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _refuse(field, "bool", value)


def _to_timestamp(field: str, value: Any) -> Any:
    if isinstance(value, str):
        parsed = parse_iso(value.strip())
        if parsed is None:
            raise ValueRefused(f"field [{field}] is a date; {value[:60]!r} is not an ISO-8601 date or date-time")
        return iso_ms(parsed)
    if isinstance(value, bool):
        raise _refuse(field, "timestamp_ms", value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        millis = int(value)
        if abs(millis) > 253402300799999:  # beyond year 9999: unreadable later
            raise _refuse(field, "timestamp_ms", value)
        return millis
    raise _refuse(field, "timestamp_ms", value)


_CONVERTERS = {
    "large_utf8": _to_string,
    "i64": _to_int,
    "f64": _to_float,
    "bool": _to_bool,
    "timestamp_ms": _to_timestamp,
}


# ----- documents -> rows ---------------------------------------------------------------


class RowPlan:
    """Documents of one write batch turned into engine rows, in order: new fields get their
    type from their first value (collected in ``new_columns`` and declared before the rows
    are appended), integer columns that meet fractions are widened to floats."""

    def __init__(self, info: DatasetInfo, json_columns: set[str]) -> None:
        self.info = info
        self.kinds: dict[str, str] = {f.column: spec_kind(f.engine_type, json_columns) for f in info.fields.values()}
        self.existing_columns = set(self.kinds)
        self.new_columns: dict[str, str] = {}
        self.widen: set[str] = set()
        self._columns: dict[str, str] = {}

    def row(self, doc_id: str, document: dict, source: str | None = None) -> dict:
        """The engine row for ``document`` (``source``: its JSON text when already known);
        ValueRefused leaves the plan untouched. Hot path of every write: kept flat."""
        if source is None:
            source = json.dumps(document, ensure_ascii=False, allow_nan=False)
        row: dict[str, Any] = {DOC_ID: doc_id, SOURCE: source}
        kinds, columns = self.kinds, self._columns
        changed: dict[str, str] = {}
        widen: list[str] = []
        flat = flatten(document) if any(type(v) is dict for v in document.values()) else document
        for path, value in flat.items():
            if value is None:
                continue
            column = columns.get(path)
            if column is None:
                column = columns[path] = column_for(path)
            kind = changed.get(column) or kinds.get(column)
            if kind is None:
                kind = infer_type(value)
                if kind is None:
                    continue
                changed[column] = kind
            t = type(value)
            if t is str:
                ok = kind == "large_utf8" or (kind == "timestamp_ms" and CANONICAL_UTC.fullmatch(value) is not None)
            elif t is int:
                ok = kind == "i64" and INT_MIN <= value <= INT_MAX
            elif t is float:
                ok = kind == "f64" and value - value == 0.0
            else:
                ok = t is bool and kind == "bool"
            if not ok:
                if needs_widening(kind, value):
                    kind = changed[column] = "f64" if kind == "i64" else "list:f64"
                    widen.append(column)
                value = coerce(path, kind, value)
                if value is None:
                    continue
            row[column] = value
        for column, kind in changed.items():
            if column not in self.existing_columns:
                self.new_columns[column] = kind
            elif column in widen:
                self.widen.add(column)
            kinds[column] = kind
        return row

    def schema_specs(self) -> tuple[list[dict], list[str]]:
        specs = [column_spec(c, k) for c, k in self.new_columns.items()]
        specs += [column_spec(c, self.kinds[c]) for c in self.widen]
        json_columns = [c for c, k in self.new_columns.items() if k == JSON_TEXT]
        return specs, json_columns
