"""HTTP routes for visualizations and dashboards, and executing a visualization.

* ``POST /visualizations`` (201), ``GET /visualizations?limit=&offset=``
  (``{"items": [envelope, ...]}``; limit 1..1000, default 500),
  ``GET | PATCH | DELETE /visualizations/{id}``; the same under ``/dashboards``.
* ``POST /visualizations/{id}/data`` with ``{filters?, time_range?}`` runs the
  visualization and returns ``{columns, rows, metadata}``.

Permissions: a visualization is readable and runnable by whoever may read
records of its ``source.index`` (``record``/``read``); the list shows only
those. Changing or deleting one also needs to be its creator (``created_by``)
or an admin. The SQL itself runs with the caller's identity, so a raw query
reading another dataset is checked too, and field rules apply to the rows.
A dashboard is readable by its creator, an admin, or whoever may read every
visualization on it; creating one needs read access to its visualizations,
and changing or deleting one needs to be its creator or an admin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infino_mcp.local.api.http import json_response, read_json, require, services, sized_json_response
from infino_mcp.local.errors import ApiError
from infino_mcp.local.sql.execute import SelectResult, execute_select
from infino_mcp.local.sql.rewrite import normalize as normalize_sql
from infino_mcp.local.viz import sql as vizsql
from infino_mcp.local.viz.objects import (
    Check,
    SavedObjects,
    envelope,
    mapping_column_problem,
    normalize_dashboard,
    normalize_visualization,
)

MAX_PAGE, DEFAULT_PAGE = 1000, 500
_TYPES = {
    "String": "string",
    "Integer": "number",
    "Float": "number",
    "Long": "number",
    "Double": "number",
    "Decimal": "number",
    "Boolean": "boolean",
    "Date": "date",
    "ISO8601Date": "date",
    "Timestamp": "date",
    "Null": "null",
    "Object": "object",
    "Array": "object",
}


def _visualizations(request: Request) -> SavedObjects:
    return SavedObjects(
        "visualization", services(request).collection("visualizations"), lambda spec: _checked(request, spec)
    )


def _checked(request: Request, spec: dict[str, Any]) -> dict[str, Any]:
    """Normalize a visualization and refuse builder-mode mapping columns its dataset lacks.

    The fields are listed only to a caller who may read the dataset, and only those
    its field rules let the caller see.
    """
    attributes = normalize_visualization(spec)
    svc, index = services(request), attributes["source"]["index"]
    if attributes["source"]["sql"]["raw_query"] is not None or not svc.catalog.exists(index):
        return attributes
    require(request, "record", "read", index)
    rules = svc.rbac.field_rules(request.state.principal, index)
    fields = [f.name for f in svc.catalog.get(index).fields.values() if rules.identity or rules.visible(f.name)]
    problem = mapping_column_problem(attributes, fields)
    if problem:
        raise ApiError(400, problem)
    return attributes


def _dashboards(request: Request) -> SavedObjects:
    vizs = _visualizations(request)
    return SavedObjects(
        "dashboard", services(request).collection("dashboards"), lambda spec: normalize_dashboard(spec, vizs.exists)
    )


def _can_read(request: Request) -> Check:
    def check(attributes: dict[str, Any]) -> None:
        require(request, "record", "read", attributes["source"]["index"])

    return check


def _user(request: Request) -> str:
    return getattr(request.state.principal, "user", "")


def _is_owner(request: Request, attributes: dict[str, Any]) -> bool:
    """The caller created the object, or is an admin (or the in-process client, which has no principal)."""
    principal = request.state.principal
    return principal is None or principal.is_admin or attributes.get("created_by") == principal.user


def _owned(request: Request, kind: str, check: Check) -> Check:
    """``check``, and 403 unless the caller created the object or is an admin."""

    def owned(attributes: dict[str, Any]) -> None:
        check(attributes)
        if not _is_owner(request, attributes):
            raise ApiError(
                403,
                f"Permission denied: only the creator of this {kind} ({attributes.get('created_by') or 'unknown'}) "
                "or an admin may change or delete it.",
            )

    return owned


def _can_change_viz(request: Request) -> Check:
    return _owned(request, "visualization", _can_read(request))


def _can_read_panels(request: Request) -> Check:
    """403 unless the caller may read every visualization on the dashboard."""
    vizs = services(request).collection("visualizations")

    def check(attributes: dict[str, Any]) -> None:
        for panel in attributes.get("panels") or []:
            viz = vizs.get(panel.get("viz_id")) if panel.get("kind") == "visualization" else None
            if viz is not None:
                require(request, "record", "read", viz["source"]["index"])

    return check


def _can_read_dashboard(request: Request) -> Check:
    panels = _can_read_panels(request)

    def check(attributes: dict[str, Any]) -> None:
        if not _is_owner(request, attributes):
            panels(attributes)

    return check


def _can_change_dashboard(request: Request) -> Check:
    return _owned(request, "dashboard", _can_read_dashboard(request))


def _page(request: Request) -> tuple[int, int]:
    values = {}
    for name, default, low, high in (("limit", DEFAULT_PAGE, 1, MAX_PAGE), ("offset", 0, 0, None)):
        text = request.query_params.get(name)
        try:
            value = default if text in (None, "") else int(text)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer, got {text!r}.") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ApiError(400, f"{name} must be {bound}, got {value}.")
        values[name] = value
    return values["limit"], values["offset"]


def _crud_routes(
    prefix: str,
    store_for: Callable[[Request], SavedObjects],
    check_for: Callable[[Request], Check],
    change_check_for: Callable[[Request], Check],
    create_check_for: Callable[[Request], Check] | None = None,
) -> list[Route]:
    """Create/list/get/patch/delete routes for one kind of saved object.

    ``check_for`` vetoes reads (get, list), ``change_check_for`` patches (before and after)
    and deletes, ``create_check_for`` (default ``check_for``) new objects.

    Writes run in a worker thread: the store fsyncs its file before returning.
    """

    async def create(request: Request) -> Response:
        store, spec = store_for(request), await read_json(request)
        check = (create_check_for or check_for)(request)
        attributes = await anyio.to_thread.run_sync(store.create, spec, _user(request), check)
        return json_response(envelope(store.kind, attributes), 201)

    async def listing(request: Request) -> Response:
        store, check = store_for(request), check_for(request)
        limit, offset = _page(request)

        def visible(attributes: dict[str, Any]) -> bool:
            try:
                check(attributes)
            except ApiError as exc:
                if exc.status != 403:
                    raise
                return False
            return True

        items = store.list(limit, offset, visible)
        return json_response({"items": [envelope(store.kind, a) for a in items]})

    async def get(request: Request) -> Response:
        store = store_for(request)
        attributes = store.get(request.path_params["object_id"])
        check_for(request)(attributes)
        return json_response(envelope(store.kind, attributes))

    async def patch(request: Request) -> Response:
        store, patch_doc = store_for(request), await read_json(request)
        object_id = request.path_params["object_id"]
        attributes = await anyio.to_thread.run_sync(store.update, object_id, patch_doc, change_check_for(request))
        return json_response(envelope(store.kind, attributes))

    async def delete(request: Request) -> Response:
        store = store_for(request)
        object_id = request.path_params["object_id"]
        change_check_for(request)(store.get(object_id))
        await anyio.to_thread.run_sync(store.delete, object_id)
        return json_response({"id": object_id, "kind": store.kind, "deleted": True})

    return [
        Route(prefix, create, methods=["POST"]),
        Route(prefix, listing, methods=["GET"]),
        Route(prefix + "/{object_id}", get, methods=["GET"]),
        Route(prefix + "/{object_id}", patch, methods=["PATCH"]),
        Route(prefix + "/{object_id}", delete, methods=["DELETE"]),
    ]


def _runtime_filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("filters")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise ApiError(400, "filters must be a list of filter objects {field, operator, value}.")
    return [{"enabled": True, "is_time_filter": False, "index": None, **f} for f in raw]


def _binding(viz: dict[str, Any], columns: list[dict[str, str]], builder: bool) -> dict[str, Any]:
    """Which result columns are x, y, series and the single value (the renderer's contract).

    Builder mode knows its aliases. For raw SQL the mapping's columns are used
    when the result has them; otherwise the first column is x and the next one y.
    """
    mapping = viz["mapping"]
    names = [c["name"] for c in columns]
    x = mapping["x"]["column"] if mapping.get("x") else None
    series = mapping["series"]["column"] if mapping.get("series") else None
    if builder:
        ys = [vizsql.y_alias(y) for y in mapping["y"]] or ["count"]
    else:
        ys = []
        for y in mapping["y"]:
            found = [n for n in (y.get("alias"), y.get("column"), vizsql.y_alias(y)) if n in names]
            if found:
                ys.append(found[0])
        x = x if x in names else (names[0] if names else None)
        series = series if series in names else None
        if not ys:
            ys = [n for n in names if n not in (x, series)][:1]
    numeric = [c["name"] for c in columns if c["type"] == "number"]
    value = ys[0] if ys else (numeric[0] if numeric else x)
    return {"x": x, "y": ys, "series": series, "value": value}


async def _run(request: Request, sql_text: str) -> SelectResult:
    box = services(request)
    return await execute_select(box, sql_text, principal=request.state.principal, max_rows=box.max_rows)


async def _run_plan(request: Request, plan: vizsql.Plan) -> tuple[SelectResult, str]:
    """Run the planned SQL; if the engine rejects it, its fallbacks (filters then count as skipped)."""
    try:
        return await _run(request, plan.sql), plan.sql
    except ApiError as exc:
        if exc.status != 400 or not plan.fallbacks:
            raise
        first_error = exc
    for i, text in enumerate(plan.fallbacks):
        try:
            result = await _run(request, text)
        except ApiError as exc:
            if exc.status != 400 or i == len(plan.fallbacks) - 1:
                raise
            continue
        reason = f"the engine rejected the filtered query ({first_error.message}); the query ran without filters"
        plan.skipped += [{"field": name, "reason": reason} for name in plan.applied]
        plan.applied = []
        return result, text
    raise first_error


async def execute(request: Request) -> Response:
    """Run a saved visualization with its saved filters plus the request's filters and time_range."""
    svc = services(request)
    viz = _visualizations(request).get(request.path_params["object_id"])
    source = viz["source"]
    index, sql_spec = source["index"], source["sql"]
    require(request, "record", "read", index)
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object {filters?, time_range?}.")
    filters = list(viz.get("filters") or []) + _runtime_filters(body)
    if body.get("time_range") is not None:
        filters.append(vizsql.time_range_filter(body["time_range"], sql_spec["time_column"]))
    types = {name: info.infino_type for name, info in svc.catalog.get(index).fields.items()}
    builder = sql_spec.get("raw_query") is None
    if builder:
        query: Any = vizsql.builder_query(index, viz["mapping"], sql_spec, types)
    else:
        query = normalize_sql(sql_spec["raw_query"], svc.catalog)
    limit = sql_spec["limit"]
    plan = vizsql.plan(
        query, index=index, filters=filters, types=types, time_column=sql_spec["time_column"], limit=limit
    )
    started = time.monotonic()
    result, executed = await _run_plan(request, plan)
    took_ms = int((time.monotonic() - started) * 1000)
    rows = result.rows[:limit]
    columns = [{"name": name, "type": _TYPES.get(kind, "string")} for name, kind in result.columns]
    metadata = {
        "source_kind": source["kind"],
        "row_count": len(rows),
        "truncated": len(result.rows) > limit,
        "took_ms": took_ms,
        "executed_query": executed,
        "filters_applied": plan.applied,
        "filters_skipped": plan.skipped,
        "binding": _binding(viz, columns, builder),
    }
    return await sized_json_response({"columns": columns, "rows": rows, "metadata": metadata}, size=len(rows))


routes = [
    Route("/visualizations/{object_id}/data", execute, methods=["POST"]),
    *_crud_routes("/visualizations", _visualizations, _can_read, _can_change_viz),
    *_crud_routes("/dashboards", _dashboards, _can_read_dashboard, _can_change_dashboard, _can_read_panels),
]
