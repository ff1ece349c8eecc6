"""Shaping query answers for a model: plain SQL values, bounded aggregations, PromQL floats, native results.

Pure functions over the service's JSON (no I/O), used by ``toolsets.query``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from infino_mcp.errors import InfinoError
from infino_mcp.shaping import Page, json_size, list_at, page


def _room(max_bytes: int, *parts: Any) -> int:
    """Bytes left for the paged items once the fixed parts of a result are counted."""
    return max(500, max_bytes - sum(json_size(p) for p in parts))


def fit_page(items: list[Any], *, budget: int, beside: Any = None, **kwargs: Any) -> tuple[list[Any], Page]:
    """``shaping.page`` within what ``beside`` (the rest of the result) leaves of the budget."""
    room = _room(budget, beside)
    kept, info = page(items, max_bytes=room, **kwargs)
    if info.note:
        info.note = info.note.replace(f"the {room}-byte result budget", f"the {budget}-byte result budget")
    return kept, info


def trim_buckets(aggregations: dict[str, Any], max_bytes: int) -> bool:
    """Halve the longest ``buckets`` list until ``aggregations`` fits ``max_bytes``; True if anything was cut."""
    cut = False
    while json_size(aggregations) > max_bytes:
        lists = list(_bucket_lists(aggregations))
        longest = max(lists, key=len, default=None)
        if not longest or len(longest) < 2:
            break
        del longest[(len(longest) + 1) // 2 :]
        cut = True
    return cut


def _bucket_lists(value: Any) -> Any:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "buckets" and isinstance(inner, list):
                yield inner
            yield from _bucket_lists(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _bucket_lists(inner)


class Column(BaseModel):
    name: str
    type: str | None = Field(default=None, description="The service's data type, e.g. String, Integer, Float.")


def _is_wrapped(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value))[:1].isupper()


def unwrap_value(value: Any) -> Any:
    """A wire value without its type wrapper: ``{"String": "x"}`` -> ``"x"``, ``{"Null": null}`` -> None.

    Only the wrapper is removed (and those of list items): a stored object keeps its own keys."""
    if _is_wrapped(value):
        inner = next(iter(value.values()))
        if isinstance(inner, list):
            return [next(iter(item.values())) if _is_wrapped(item) else item for item in inner]
        return inner
    if value == "Null":
        return None
    return value


def _column_name(column: Any) -> str | None:
    if isinstance(column, str):
        return column
    if not isinstance(column, dict):
        return None
    if column.get("alias"):
        return str(column["alias"])
    name = column.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, dict) and len(name) == 1:
        inner = next(iter(name.values()))
        if isinstance(inner, dict) and inner.get("name"):
            return str(inner["name"])
        if isinstance(inner, str):
            return inner
    return None


def _column_type(column: Any) -> str | None:
    kind = column.get("data_type") if isinstance(column, dict) else None
    if kind is None or isinstance(kind, str):
        return kind
    return json.dumps(kind, separators=(",", ":"))


def plain_row(row: Any) -> dict[str, Any]:
    """One envelope row (``{"values": {col: wrapped}}``) as ``{col: value}``."""
    values = row.get("values", row) if isinstance(row, dict) else {}
    return {str(k): unwrap_value(v) for k, v in values.items()} if isinstance(values, dict) else {}


def sql_columns(envelope: dict[str, Any], rows: list[dict[str, Any]]) -> list[Column]:
    """The envelope's columns (alias or name, and type), plus any the rows hold that it does not declare."""
    declared = list_at(envelope, "columns")
    columns = [Column(name=name, type=_column_type(c)) for c in declared if (name := _column_name(c))]
    known = {c.name for c in columns}
    for row in rows[:50]:
        for key in row:
            if key not in known:
                known.add(key)
                columns.append(Column(name=key))
    return columns


class Series(BaseModel):
    metric: dict[str, str] = Field(description="The series' labels.")
    value: list[float | None] | None = Field(default=None, description="Instant queries: [unix_seconds, value].")
    values: list[list[float | None]] | None = Field(
        default=None, description="Range queries: [[unix_seconds, value], ...]."
    )


class PromqlResult(BaseModel):
    result_type: str = Field(description="vector, matrix, scalar or string.")
    series: list[Series] = Field(default_factory=list)
    scalar: list[float | str | None] | None = Field(
        default=None, description="scalar/string results: [unix_seconds, value]."
    )
    points_cut: bool = Field(
        default=False, description="True when points of some series were left out to fit the budget."
    )
    page: Page
    warnings: list[str] | None = None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _point(pair: Any) -> list[float | None]:
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return [_number(pair[0]), _number(pair[1])]
    return [None, None]


def shape_promql(answer: Any, operation: str, limit: int, budget: int) -> PromqlResult:
    """Prometheus API ``data`` as series of floats, bounded by ``limit`` series and ``budget`` bytes."""
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise InfinoError(f"{operation}: the service's answer is not a Prometheus API response.")
    if answer.get("status") == "error":
        raise InfinoError(
            f"{operation} failed: {answer.get('error') or answer.get('errorType')}. Fix the query and retry."
        )
    data = answer["data"]
    kind = str(data.get("resultType", ""))
    result = data.get("result")
    warnings = answer.get("warnings") or None
    if kind in ("scalar", "string"):
        pair = result if isinstance(result, list) else [None, None]
        shown: list[float | str | None] = (
            list(_point(pair)) if kind == "scalar" else [_number(pair[0]), pair[1] if len(pair) > 1 else None]
        )
        return PromqlResult(
            result_type=kind, scalar=shown, page=Page(returned=1, total=1, truncated=False), warnings=warnings
        )
    series = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = {"metric": {str(k): str(v) for k, v in (item.get("metric") or {}).items()}}
        if "values" in item:
            entry["values"] = [_point(p) for p in item.get("values") or []]
        else:
            entry["value"] = _point(item.get("value"))
        series.append(entry)
    shown_count = min(limit, len(series))
    points_cut = False
    if kind == "matrix" and shown_count and json_size(series[:shown_count]) > budget:
        # Keep every shown series but only its most recent points, the budget shared evenly.
        per_series = max(1, (budget // shown_count - 120) // 28)
        for entry in series[:shown_count]:
            if len(entry["values"]) > per_series:
                entry["values"] = entry["values"][-per_series:]
                points_cut = True
    hint = " (or narrow the selector, e.g. add label matchers or aggregate with sum by (...))"
    kept, info = page(series, offset=0, limit=limit, max_bytes=budget, total=len(series), more_hint=hint)
    if info.truncated:
        cause = f"limit={limit}" if len(kept) == limit else f"the {budget}-byte result budget"
        info.note = (
            f"Returned {len(kept)} of {len(series)} series, cut by {cause}. "
            "Raise limit, or narrow the selector: add label matchers or aggregate with sum by (...)."
        )
    if points_cut:
        info.note = (
            (info.note or "")
            + f" Each series kept only its most recent points to fit the {budget}-byte result budget: use a larger "
            "step or a shorter time range to see all of them."
        ).strip()
    if not series:
        info.note = (
            "No series matched: check the metric name and label matchers, the dataset, and that times are "
            "unix seconds inside the data's range."
        )
    return PromqlResult(
        result_type=kind, series=[Series(**s) for s in kept], points_cut=points_cut, page=info, warnings=warnings
    )


class SourceResult(BaseModel):
    """A source-native answer; its shape depends on the source type."""

    result: Any = Field(description="The source's answer (the largest list in it cut to fit, see note).")
    truncated: bool = False
    note: str | None = None


def bound_native(value: Any, max_bytes: int) -> SourceResult:
    """Fit a source-native answer in ``max_bytes`` by cutting its largest list, saying so."""
    if json_size(value) <= max_bytes:
        return SourceResult(result=value)
    if isinstance(value, list):
        kept, info = page(value, offset=0, limit=len(value), max_bytes=max_bytes)
        return SourceResult(
            result=kept,
            truncated=True,
            note=f"Kept {info.returned} of {len(value)} items to fit the {max_bytes}-byte result budget; narrow the query.",
        )
    if isinstance(value, dict):
        lists = [(k, v) for k, v in value.items() if isinstance(v, list)]
        if lists:
            key, items = max(lists, key=lambda kv: json_size(kv[1]))
            rest = {k: v for k, v in value.items() if k != key}
            kept, info = fit_page(items, budget=max_bytes, beside=rest, offset=0, limit=len(items))
            note = (
                f"Kept {info.returned} of {len(items)} items of {key!r} to fit the {max_bytes}-byte result budget; "
                "narrow the query (a filter or a LIMIT)."
            )
            return SourceResult(result={**rest, key: kept}, truncated=True, note=note)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return SourceResult(
        result=text[: max_bytes // 2],
        truncated=True,
        note=f"The answer is over the {max_bytes}-byte result budget and is cut as JSON text; narrow the query.",
    )


# Clauses whose keys are field names, and the option keys that name a field.
_FIELD_KEYED = ("match", "match_phrase", "match_phrase_prefix", "term", "terms", "range", "prefix", "wildcard")
_FIELD_VALUED = ("field",)


def query_fields(body: Any) -> set[str]:
    """Field names a QueryDSL body refers to (queries, sorts and aggregations)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in _FIELD_KEYED and isinstance(inner, dict) and not isinstance(inner.get("field"), str):
                    found.update(k for k in inner if k not in ("boost", "_name"))
                elif key in _FIELD_VALUED and isinstance(inner, str):
                    found.add(inner)
                elif key == "fields" and isinstance(inner, list):
                    found.update(f.split("^")[0] for f in inner if isinstance(f, str))
                elif key == "sort":
                    for item in inner if isinstance(inner, list) else [inner]:
                        if isinstance(item, str):
                            found.add(item)
                        elif isinstance(item, dict):
                            found.update(item)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(body)
    return {f for f in found if not f.startswith("_")}


def unknown_fields(referenced: set[str], schema_fields: set[str]) -> list[str]:
    """Referenced names that are not fields (``x.keyword`` counts as ``x``)."""
    return sorted(f for f in referenced if f not in schema_fields and f.removesuffix(".keyword") not in schema_fields)


def more_rows(info: Page, more: bool, answer: dict[str, Any], hint: str) -> Page:
    """Only part of the answer was fetched: the total is unknown, so say that more rows exist."""
    if not more:
        return info
    end = info.offset + info.returned
    note = info.note or ""
    value_cut = note[note.find("A value larger") :] if "A value larger" in note else ""
    service = answer["note"] if isinstance(answer.get("note"), str) else ""
    info.total, info.truncated, info.next_offset = None, True, end
    head = f"Returned rows {info.offset}..{end - 1}; more exist. Call again with offset={end} for more{hint}."
    info.note = " ".join(part for part in (head, value_cut, service) if part)
    return info
