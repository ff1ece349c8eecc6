# Over 400 lines: the saved-object schema (visualizations and dashboards) is validated in one place.
"""Saved visualizations and dashboards: server-filled defaults, validation,
RFC 7396 merge patch and storage in the ``visualizations`` / ``dashboards``
JSON collections.

A stored object is its full attributes; the wire shape is the envelope
``{id, kind, created_at, updated_at, attributes}`` (``envelope``).

Visualization attributes (defaults filled for every omitted field)::

    id, schema_version (1), created_at, updated_at, created_by   -- server-owned
    title ("Untitled visualization"), description ("")
    source: {kind: "sql", index, sql: {raw_query (None = builder mode),
             time_column ("@timestamp"), limit (1000, at most 10000), order_by?}}
    chart: {type: "bar"}   one of infino_mcp.echarts.CHART_TYPES
    mapping: {x: {column, bucket} | None, y: [{column, aggregation, alias?}], series: {column} | None}
    filters: [{id, field, operator, value, enabled, is_time_filter, query_type, index}]
    options: {}

``mapping`` also accepts the short forms of the SDK's examples and stores them
normalized: ``x: "col"``, ``y: ["col", ...]`` with a top-level
``aggregation_type`` as the default aggregation (``"count"`` as a y column
means ``COUNT(*)``; otherwise the default is ``none``), ``series_split_by``
for ``series``, and ``source.sql.metrics: [{function, column}]``. The SQL the
builder generates from it is described in ``vizsql``. Any other key in
``mapping`` (or in its ``x``, ``y`` and ``series`` objects) is refused, and
``mapping_column_problem`` names a builder-mode column the dataset lacks.

Dashboard attributes: the same server-owned fields, ``title`` ("Untitled
dashboard"), ``description``, ``options`` ({}), and ``panels``, each
``{id ("panel_N"), kind ("visualization" | "markdown" | "divider"), viz_id |
content | label, title_override (None), layout {x, y, w, h}}``. Panels without a
complete layout flow into a 48-unit-wide grid two per row (w 24; h 18 for
charts, 8 for markdown); a divider takes a full row (h 2).

Updates are JSON merge patches: objects merge, ``null`` removes a key (its
default comes back), arrays (``panels``, ``filters``, ``mapping.y``) are
replaced whole. ``id``, ``schema_version``, ``created_at``, ``created_by``
(and ``updated_at``) are server-owned: values sent for them are ignored, on
create and on update, as the official SDK documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from infino_mcp.echarts import CHART_TYPES
from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError
from infino_mcp.local.storage.jsonstore import JsonCollection
from infino_mcp.local.viz.sql import (
    AGGREGATIONS,
    OPERATORS,
    Skip,
    bucket_problem,
    parse_select,
)
from infino_mcp.shaping import merge_patch

SCHEMA_VERSION = 1
SERVER_FIELDS = ("id", "schema_version", "created_at", "updated_at", "created_by")
PANEL_KINDS = ("visualization", "markdown", "divider")
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
GRID_WIDTH = 48


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{where} must be a JSON object, got {type(value).__name__}.")
    return dict(value)


def _text(value: Any, where: str, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"{where} must be a string, got {type(value).__name__}.")
    return value


def normalize_filter(value: Any, where: str) -> dict[str, Any]:
    """A filter with its defaults filled; ApiError(400) when it is not a usable filter."""
    if not isinstance(value, dict):
        raise ApiError(400, f"{where} must be an object with 'field' and 'operator'.")
    field, operator = value.get("field"), value.get("operator")
    if not isinstance(field, str) or not field:
        raise ApiError(400, f"{where}.field must be a non-empty field name.")
    if operator not in OPERATORS:
        raise ApiError(400, f"{where}.operator {operator!r} is not supported; use one of {', '.join(OPERATORS)}.")
    return {
        **value,
        "id": value.get("id") or uuid.uuid4().hex,
        "value": value.get("value"),
        "enabled": value.get("enabled", True) is not False,
        "is_time_filter": bool(value.get("is_time_filter", False)),
        "query_type": value.get("query_type"),
        "index": value.get("index"),
    }


def normalize_filters(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, f"{where} must be a list of filters.")
    return [normalize_filter(item, f"{where}[{i}]") for i, item in enumerate(value)]


# ---- visualizations --------------------------------------------------------------------------------


MAPPING_KEYS = ("x", "y", "series", "series_split_by")
_REF_KEYS = {"mapping.x": ("column", "bucket"), "mapping.series": ("column",)}
Y_KEYS = ("column", "aggregation", "alias")
_TOP_LEVEL = {"aggregation_type": "the top level of the visualization", "metrics": "source.sql.metrics"}


def _known_keys(value: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """ApiError(400) naming the first key of ``value`` not in ``allowed``."""
    for key in value:
        if key not in allowed:
            home = f" ({key} belongs at {_TOP_LEVEL[key]})" if where == "mapping" and key in _TOP_LEVEL else ""
            raise ApiError(400, f"{where} has an unknown key {key!r}; the allowed keys are {', '.join(allowed)}{home}.")


def _column_ref(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    ref = {"column": value} if isinstance(value, str) else _object(value, where)
    _known_keys(ref, _REF_KEYS[where], where)
    if not isinstance(ref.get("column"), str) or not ref["column"]:
        raise ApiError(400, f'{where} needs a column name ({where}: "col" or {{"column": "col"}}).')
    return ref


def _normalize_mapping(spec: dict[str, Any], sql: dict[str, Any]) -> dict[str, Any]:
    mapping = _object(spec.get("mapping"), "mapping")
    _known_keys(mapping, MAPPING_KEYS, "mapping")
    if "series_split_by" in mapping:
        legacy = mapping.pop("series_split_by")
        mapping.setdefault("series", legacy)
    default_agg = spec.get("aggregation_type") or "none"
    metrics = {m.get("column"): m.get("function") for m in sql.get("metrics") or [] if isinstance(m, dict)}
    x = _column_ref(mapping.get("x"), "mapping.x")
    if x is not None:
        x.setdefault("bucket", None)
        problem = bucket_problem(x["bucket"])
        if problem:
            raise ApiError(400, f"mapping.x.bucket: {problem}.")
    raw_y = mapping.get("y")
    if raw_y is None and metrics:
        raw_y = list(metrics)
    raw_y = [raw_y] if isinstance(raw_y, str | dict) else raw_y or []
    if not isinstance(raw_y, list):
        raise ApiError(400, "mapping.y must be a list of columns or {column, aggregation} objects.")
    ys = []
    for i, item in enumerate(raw_y):
        y = {"column": item} if isinstance(item, str) else _object(item, f"mapping.y[{i}]")
        _known_keys(y, Y_KEYS, f"mapping.y[{i}]")
        column = y.get("column")
        fallback = "count" if column in ("count", "*") else metrics.get(column) or default_agg
        y["aggregation"] = y.get("aggregation") or fallback
        if y["aggregation"] not in AGGREGATIONS:
            raise ApiError(
                400, f"mapping.y[{i}].aggregation {y['aggregation']!r} is not one of {', '.join(AGGREGATIONS)}."
            )
        if y["aggregation"] != "count" and (not isinstance(column, str) or not column):
            raise ApiError(400, f"mapping.y[{i}] needs a column for aggregation {y['aggregation']!r}.")
        ys.append(y)
    return {**mapping, "x": x, "y": ys, "series": _column_ref(mapping.get("series"), "mapping.series")}


def mapping_column_problem(attributes: dict[str, Any], fields: list[str], shown: int = 60) -> str | None:
    """What is wrong when a builder-mode mapping names a column outside ``fields`` (None if nothing).

    Raw-query visualizations are not checked: their columns are whatever the query returns.
    """
    if attributes["source"]["sql"]["raw_query"] is not None or not fields:
        return None
    mapping, known = attributes["mapping"], set(fields) | {"_id"}
    used = [("mapping.x.column", mapping["x"]), ("mapping.series.column", mapping["series"])]
    used += [(f"mapping.y[{i}].column", y) for i, y in enumerate(mapping["y"])]
    for where, ref in used:
        column = (ref or {}).get("column")
        if column is None or column in known or (column in ("count", "*") and ref.get("aggregation") == "count"):
            continue
        names = sorted(fields)
        listed = ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")
        dataset = attributes["source"]["index"]
        return f"{where} {column!r} is not a field of dataset '{dataset}'; its fields are: {listed}."
    return None


def _normalize_order(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "source.sql.order_by must be a list of {column, direction} objects.")
    out = []
    for i, item in enumerate(value):
        entry = {"column": item} if isinstance(item, str) else _object(item, f"source.sql.order_by[{i}]")
        direction = str(entry.get("direction") or "asc").lower()
        if not isinstance(entry.get("column"), str) or direction not in ("asc", "desc"):
            raise ApiError(400, f"source.sql.order_by[{i}] needs a column and a direction of 'asc' or 'desc'.")
        out.append({**entry, "direction": direction})
    return out


def _first_table(raw_query: str) -> str | None:
    try:
        tree = parse_select(raw_query)
    except Skip:
        return None
    table = tree.find(exp.Table)
    return table.name if table is not None and table.name else None


def normalize_visualization(spec: dict[str, Any]) -> dict[str, Any]:
    """The visualization attributes (minus server fields) with defaults; ApiError(400) if invalid."""
    out = {k: v for k, v in spec.items() if k not in SERVER_FIELDS}
    out["title"] = _text(spec.get("title"), "title", "Untitled visualization")
    out["description"] = _text(spec.get("description"), "description", "")
    source = _object(spec.get("source"), "source")
    source["kind"] = source.get("kind") or "sql"
    if source["kind"] != "sql":
        raise ApiError(400, f"source.kind {source['kind']!r} is not supported by this endpoint; use 'sql'.")
    sql = _object(source.get("sql"), "source.sql")
    raw = _text(sql.get("raw_query"), "source.sql.raw_query", None)
    sql["raw_query"] = raw if raw and raw.strip() else None
    sql["time_column"] = _text(sql.get("time_column"), "source.sql.time_column", "@timestamp")
    limit = sql.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"source.sql.limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}.")
    sql["limit"] = limit
    sql["order_by"] = _normalize_order(sql.get("order_by"))
    index = _text(source.get("index"), "source.index", None)
    if not index and sql["raw_query"]:
        index = _first_table(sql["raw_query"])
    if not index:
        raise ApiError(400, "source.index is required: the name of the dataset the visualization reads.")
    source.update(index=index, sql=sql)
    out["source"] = source
    chart = _object(spec.get("chart"), "chart")
    chart["type"] = chart.get("type") or "bar"
    if chart["type"] not in CHART_TYPES:
        raise ApiError(400, f"chart.type {chart['type']!r} is not supported; use one of {', '.join(CHART_TYPES)}.")
    out["chart"] = chart
    out["mapping"] = mapping = _normalize_mapping(spec, sql)
    if sql["raw_query"] is None:
        aggregated = {y["aggregation"] != "none" for y in mapping["y"]}
        if len(aggregated) > 1:
            raise ApiError(400, "mapping.y mixes aggregated and raw ('none') columns: aggregate all of them or none.")
        if aggregated == {False} and mapping["x"] and mapping["x"]["bucket"] is not None:
            raise ApiError(400, "mapping.x.bucket needs an aggregation on mapping.y (count, sum, avg, ...).")
    out["filters"] = normalize_filters(spec.get("filters"), "filters")
    out["options"] = _object(spec.get("options"), "options")
    return out


# ---- dashboards ------------------------------------------------------------------------------------


def _layout(value: Any, where: str) -> dict[str, int]:
    layout = _object(value, where)
    for key, number in layout.items():
        if key in ("x", "y", "w", "h") and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
            raise ApiError(400, f"{where}.{key} must be a non-negative integer, got {number!r}.")
    if layout.get("w") == 0 or layout.get("h") == 0 or layout.get("x", 0) + layout.get("w", 1) > GRID_WIDTH:
        raise ApiError(400, f"{where} must have w and h of at least 1 and fit the {GRID_WIDTH}-unit-wide grid.")
    return layout


def _flow(panels: list[dict[str, Any]]) -> None:
    """Give every panel without a complete layout a place in the grid (in place)."""
    x = row_y = row_h = bottom = 0
    for panel in panels:
        layout = panel["layout"]
        if all(k in layout for k in ("x", "y", "w", "h")):
            bottom = max(bottom, layout["y"] + layout["h"])
            x, row_y, row_h = 0, bottom, 0
            continue
        divider = panel["kind"] == "divider"
        w = GRID_WIDTH if divider else layout.get("w", GRID_WIDTH // 2)
        h = layout.get("h", 2 if divider else 8 if panel["kind"] == "markdown" else 18)
        if x > 0 and (divider or x + w > GRID_WIDTH):
            x, row_y, row_h = 0, row_y + row_h, 0
        panel["layout"] = {"x": x, "y": row_y, "w": w, "h": h}
        x, row_h = x + w, max(row_h, h)
        bottom = max(bottom, row_y + h)
        if divider or x >= GRID_WIDTH:
            x, row_y, row_h = 0, row_y + row_h, 0


def normalize_dashboard(spec: dict[str, Any], viz_exists: Callable[[str], bool]) -> dict[str, Any]:
    """The dashboard attributes (minus server fields) with defaults and layouts; ApiError(400) if invalid."""
    out = {k: v for k, v in spec.items() if k not in SERVER_FIELDS}
    out["title"] = _text(spec.get("title"), "title", "Untitled dashboard")
    out["description"] = _text(spec.get("description"), "description", "")
    out["options"] = _object(spec.get("options"), "options")
    if "filters" in spec:
        out["filters"] = normalize_filters(spec.get("filters"), "filters")
    raw = spec.get("panels") or []
    if not isinstance(raw, list):
        raise ApiError(400, "panels must be a list of panel objects.")
    panels: list[dict[str, Any]] = []
    given = {p.get("id") for p in raw if isinstance(p, dict) and p.get("id")}
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"panels[{i}]"
        panel = _object(item, where)
        panel["kind"] = panel.get("kind") or "visualization"
        if panel["kind"] not in PANEL_KINDS:
            raise ApiError(400, f"{where}.kind {panel['kind']!r} is not one of {', '.join(PANEL_KINDS)}.")
        pid = panel.get("id") or _free_id(i, given | seen)
        if not isinstance(pid, str) or pid in seen:
            raise ApiError(400, f"{where}.id {pid!r} is not a unique string.")
        seen.add(pid)
        panel["id"] = pid
        panel.setdefault("title_override", None)
        if panel["kind"] == "visualization":
            viz_id = panel.get("viz_id")
            if not isinstance(viz_id, str) or not viz_id:
                raise ApiError(400, f"{where} is a visualization panel and needs viz_id.")
            if not viz_exists(viz_id):
                raise ApiError(
                    400, f"{where}.viz_id {viz_id!r} is not a saved visualization: call list_visualizations."
                )
        elif panel["kind"] == "markdown":
            panel["content"] = _text(panel.get("content"), f"{where}.content", None)
            if panel["content"] is None:
                raise ApiError(400, f"{where} is a markdown panel and needs content (a markdown string).")
        else:
            panel["label"] = _text(panel.get("label"), f"{where}.label", None)
        panel["layout"] = _layout(panel.get("layout"), f"{where}.layout")
        panels.append(panel)
    _flow(panels)
    out["panels"] = panels
    return out


def _free_id(position: int, taken: set[Any]) -> str:
    candidate, n = f"panel_{position}", position
    while candidate in taken:
        n += 1
        candidate = f"panel_{n}"
    return candidate


# ---- storage ---------------------------------------------------------------------------------------


Check = Callable[[dict[str, Any]], None]


def _allow(attributes: dict[str, Any]) -> None:
    return None


def envelope(kind: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": attributes["id"],
        "kind": kind,
        "created_at": attributes["created_at"],
        "updated_at": attributes["updated_at"],
        "attributes": attributes,
    }


class SavedObjects:
    """CRUD over one collection; ``normalize`` validates and fills defaults."""

    def __init__(self, kind: str, collection: JsonCollection, normalize: Callable[[dict[str, Any]], dict[str, Any]]):
        self.kind = kind
        self._items = collection
        self._normalize = normalize

    def get(self, object_id: str) -> dict[str, Any]:
        item = self._items.get(object_id)
        if item is None:
            raise self._missing(object_id)
        return item

    def _missing(self, object_id: str) -> ApiError:
        message = f"{self.kind.capitalize()} '{object_id}' not found: list_{self.kind}s shows the saved ids."
        return ApiError(404, message)

    def exists(self, object_id: str) -> bool:
        return object_id in self._items

    def create(self, spec: Any, user: str, check: Check = _allow) -> dict[str, Any]:
        """Validate ``spec``, fill defaults, let ``check`` veto it (403), store it."""
        if not isinstance(spec, dict):
            raise ApiError(400, f"A {self.kind} spec must be a JSON object.")
        stamp = now_iso()
        server = {
            "id": str(uuid.uuid4()),
            "schema_version": SCHEMA_VERSION,
            "created_at": stamp,
            "updated_at": stamp,
            "created_by": user,
        }
        attributes = {**server, **self._normalize(spec)}
        check(attributes)
        self._items.put(attributes["id"], attributes)
        return attributes

    def update(self, object_id: str, patch: Any, check: Check = _allow) -> dict[str, Any]:
        """Merge-patch the stored object; server-owned fields in ``patch`` are ignored."""
        if not isinstance(patch, dict):
            raise ApiError(400, "An update must be a JSON object (an RFC 7396 merge patch).")
        patch = {k: v for k, v in patch.items() if k not in SERVER_FIELDS}

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            if current is None:
                raise self._missing(object_id)
            check(current)
            merged = merge_patch({k: v for k, v in current.items() if k not in SERVER_FIELDS}, patch)
            server = {k: current[k] for k in SERVER_FIELDS if k in current}
            attributes = {**server, **self._normalize(merged), "updated_at": now_iso()}
            check(attributes)
            return attributes

        # One read-merge-write under the collection's lock: concurrent patches both land.
        return self._items.update(object_id, change)

    def delete(self, object_id: str) -> None:
        if not self._items.delete(object_id):
            raise self._missing(object_id)

    def list(self, limit: int, offset: int, visible: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        items = sorted(self._items.values(), key=lambda a: (a.get("created_at", ""), a.get("id", "")))
        return [a for a in items if visible(a)][offset : offset + limit]
