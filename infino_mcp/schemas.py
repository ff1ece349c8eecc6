"""Compacting the JSON schemas in ``tools/list``: the same validation, fewer bytes.

Every tool's schemas are sent on every request, so the wire form drops what
only repeats or restates (pydantic's generated titles; ``default: null``) and
writes ``anyOf: [{type: X}, {type: null}]`` as ``type: [X, "null"]``. Output
schemas also drop descriptions: the result itself is self-describing, and the
tool's docstring says what it returns. Property names are never touched.
"""

from __future__ import annotations

from typing import Any

_NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")


def compact_schema(schema: Any, *, keep_descriptions: bool) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: compact_schema(sub, keep_descriptions=keep_descriptions) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [compact_schema(sub, keep_descriptions=keep_descriptions) for sub in value]
        elif key in _SCHEMA_VALUES:
            out[key] = compact_schema(value, keep_descriptions=keep_descriptions)
        elif key == "title" and isinstance(value, str):
            continue
        elif key == "description" and not keep_descriptions and isinstance(value, str):
            continue
        elif key == "default" and value is None:
            continue
        else:
            out[key] = value
    return _nullable_as_type_list(out)


def _nullable_as_type_list(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return schema
    other = options[0] if options[1] == {"type": "null"} else options[1]
    if set(other) != {"type"} or not isinstance(other["type"], str):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {"type": [other["type"], "null"], **rest}
