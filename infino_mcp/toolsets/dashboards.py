"""Dashboards: saved panel layouts, and running every panel of one at once.

``execute_dashboard`` is client-side like the official SDK's, but each
visualization panel sends its get and its execute together, so a dashboard
costs about two request times instead of three; panels run concurrently
under a bound, and one failing panel becomes an error entry, not a failed call.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import id_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError, ServiceError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, compact_json, json_size, list_at, object_at, pruned
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    require_object,
)
from infino_mcp.toolsets.visualizations import (
    Envelope,
    Filter,
    FiltersArg,
    TimeRange,
    TimeRangeArg,
    check_patch,
    concurrently,
    envelope,
    fetch_visualization,
    list_page,
    run_visualization,
)

DashboardId = Annotated[str, Field(description="The dashboard's id (from list_dashboards or create_dashboard).")]


def _path(dashboard_id: str) -> str:
    return f"/dashboards/{id_segment(dashboard_id, 'Dashboard id')}"


@infino_tool(Toolset.DASHBOARDS, title="Create a dashboard", read_only=False, destructive=False, idempotent=False)
async def create_dashboard(
    ctx: Context,
    spec: Annotated[
        JsonArg,
        Field(
            description='A title (recommended) and panels: {"viz_id": ...}, {"kind": "markdown", "content": ...} or '
            '{"kind": "divider", "label": ...}, laid out in a 2-column grid unless layout is given. '
            'E.g. {"title": "Revenue", "panels": [{"viz_id": "v1"}]}.'
        ),
    ],
) -> Envelope:
    """Save a new dashboard of visualization, markdown and divider panels; returns it with its id."""
    body = require_object(spec, "spec")
    answer = await client_of(ctx).request("POST", "/dashboards", json_body=body)
    return envelope(answer)


@infino_tool(Toolset.DASHBOARDS, title="Get a dashboard", read_only=True, destructive=False, idempotent=True)
async def get_dashboard(ctx: Context, dashboard_id: DashboardId) -> Envelope:
    """A dashboard's definition: title, panels (with viz_id, layout) and options. execute_dashboard runs its panels."""
    answer = await client_of(ctx).request("GET", _path(dashboard_id))
    return envelope(answer)


@infino_tool(Toolset.DASHBOARDS, title="Update a dashboard", read_only=False, destructive=False, idempotent=True)
async def update_dashboard(
    ctx: Context,
    dashboard_id: DashboardId,
    patch: Annotated[
        JsonArg,
        Field(
            description="RFC 7396 merge patch: given keys change, null removes one. panels is replaced whole: "
            "send the full list to add or remove one."
        ),
    ],
) -> Envelope:
    """Change part of a dashboard (title, panels, options) and return the updated definition."""
    body = check_patch(patch, "dashboard")
    answer = await client_of(ctx).request("PATCH", _path(dashboard_id), json_body=body)
    return envelope(answer)


class DashboardSummary(BaseModel):
    id: str | None
    title: str | None = None
    panels: int = Field(default=0, description="Number of panels.")
    updated_at: Any = None


class DashboardList(BaseModel):
    dashboards: list[DashboardSummary]
    page: Page


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    env = envelope(item)
    panels = env.attributes.get("panels")
    return DashboardSummary(
        id=env.id,
        title=env.attributes.get("title"),
        panels=len(panels) if isinstance(panels, list) else 0,
        updated_at=env.updated_at,
    ).model_dump()


@infino_tool(Toolset.DASHBOARDS, title="List dashboards", read_only=True, destructive=False, idempotent=True)
async def list_dashboards(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> DashboardList:
    """List saved dashboards (id, title, panel count)."""
    kept, info = await list_page(ctx, "/dashboards", "list_dashboards", limit, offset, _summary)
    return DashboardList(dashboards=[DashboardSummary(**k) for k in kept], page=info)


@infino_tool(
    Toolset.DASHBOARDS, title="Delete a dashboard", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_dashboard(ctx: Context, dashboard_id: DashboardId) -> Acknowledged:
    """Delete a dashboard (its visualizations stay). Cannot be undone."""
    answer = await client_of(ctx).request("DELETE", _path(dashboard_id))
    return Acknowledged.of(answer)


class PanelError(BaseModel):
    status: int | None = Field(description="HTTP status, when the service answered.")
    message: str


class PanelResult(BaseModel):
    id: str | None = None
    kind: str | None = Field(default=None, description="visualization, markdown or divider.")
    layout: dict[str, Any] | None = None
    title_override: str | None = None
    viz_id: str | None = None
    viz: dict[str, Any] | None = Field(default=None, description="The visualization's definition (attributes).")
    data: dict[str, Any] | None = Field(
        default=None, description="{columns, rows, metadata} as execute_visualization returns."
    )
    rows_total: int | None = Field(
        default=None, description="Rows the panel's query returned (data.rows may hold fewer)."
    )
    content: str | None = Field(default=None, description="Markdown panels: the text.")
    label: str | None = Field(default=None, description="Divider panels: the label.")
    error: PanelError | None = Field(default=None, description="Set when this panel failed; the others are unaffected.")


class DashboardRun(BaseModel):
    dashboard_id: str
    title: str | None = None
    panels: list[PanelResult] = Field(description="In dashboard order.")
    succeeded: int = Field(description="Visualization panels that ran.")
    failed: int = Field(description="Visualization panels with an error.")
    note: str | None = Field(default=None, description="What was cut to fit the result budget and how to get it.")

    def as_text(self) -> str:
        """For the model: each panel's title, chart type, binding and rows; definitions stay in structured content."""
        panels = []
        for panel in self.panels:
            viz, data = panel.viz or {}, panel.data or {}
            metadata = data.get("metadata") or {}
            panels.append(
                {
                    "id": panel.id,
                    "kind": panel.kind,
                    "viz_id": panel.viz_id,
                    "title": panel.title_override or viz.get("title"),
                    "chart": (viz.get("chart") or {}).get("type"),
                    "binding": metadata.get("binding"),
                    "columns": [c.get("name") for c in data.get("columns") or [] if isinstance(c, dict)],
                    "rows": data.get("rows"),
                    "rows_total": panel.rows_total,
                    "content": panel.content,
                    "label": panel.label,
                    "error": panel.error.model_dump() if panel.error else None,
                }
            )
        head = {
            "dashboard_id": self.dashboard_id,
            "title": self.title,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }
        return compact_json(pruned({**head, "panels": panels, "note": self.note}))


def _panel_error(exc: InfinoError) -> PanelError:
    status = exc.status if isinstance(exc, ServiceError) else 400 if isinstance(exc, InputError) else None
    return PanelError(status=status, message=str(exc))


async def run_panel(
    client: Any, panel: dict[str, Any], filters: list[Filter] | None, time_range: TimeRange | None
) -> PanelResult:
    """One panel resolved: a visualization's definition and data fetched together, or its text."""
    kind = panel.get("kind") or ("visualization" if panel.get("viz_id") else None)
    result = PanelResult(
        id=panel.get("id"),
        kind=kind,
        layout=panel.get("layout"),
        title_override=panel.get("title_override"),
    )
    if kind == "markdown":
        result.content = panel.get("content")
    elif kind == "divider":
        result.label = panel.get("label")
    elif kind == "visualization":
        viz_id = panel.get("viz_id")
        result.viz_id = viz_id
        if not isinstance(viz_id, str) or not viz_id:
            result.error = PanelError(status=400, message="The panel has no viz_id; set one with update_dashboard.")
            return result
        try:
            viz, data = await concurrently(
                lambda: fetch_visualization(client, viz_id),
                lambda: run_visualization(client, viz_id, filters, time_range),
            )
        except InfinoError as exc:
            result.error = _panel_error(exc)
            return result
        result.viz = envelope(viz).attributes
        rows = list_at(data, "rows")
        result.data = {**data, "rows": rows}
        result.rows_total = len(rows)
    return result


_KEPT_METADATA = ("row_count", "truncated", "binding", "filters_skipped")
_HEADER_BYTES = 600


def _shrink(panels: list[PanelResult], rows_per_panel: int, max_bytes: int) -> str | None:
    """Fit the panels in ``max_bytes``; returns a note saying what was cut.

    In order, as long as the result is too large: rows cut to ``rows_per_panel``;
    definitions and metadata shortened (get_visualization has them); rows halved;
    then whole panels' data left out, from the last panel up.
    """
    budget = max(max_bytes - _HEADER_BYTES, 500)
    notes = []

    def size() -> int:
        return json_size([p.model_dump() for p in panels])

    def cap_rows(cap: int) -> None:
        for p in panels:
            if p.data is not None:
                p.data["rows"] = p.data["rows"][:cap]

    cap = rows_per_panel
    cap_rows(cap)
    if size() > budget:
        for p in panels:
            if p.viz is not None:
                source = object_at(p.viz, "source")
                p.viz = {
                    "title": p.viz.get("title"),
                    "chart": p.viz.get("chart"),
                    "source": {"kind": source.get("kind"), "index": source.get("index")},
                }
            if p.data is not None and isinstance(p.data.get("metadata"), dict):
                p.data["metadata"] = {k: v for k, v in p.data["metadata"].items() if k in _KEPT_METADATA}
        notes.append("Definitions and metadata shortened; get_visualization(viz_id) has a panel's full definition.")
    while size() > budget and cap > 0:
        cap //= 2
        cap_rows(cap)
    if any(p.rows_total is not None and p.data is not None and p.rows_total > len(p.data["rows"]) for p in panels):
        cause = f"rows_per_panel={rows_per_panel}" if cap == rows_per_panel else f"the {max_bytes}-byte result budget"
        notes.append(
            f"Rows cut to at most {cap} per panel by {cause}; execute_visualization(viz_id) pages through a panel's rows."
        )
    dropped = []
    for p in reversed(panels):
        if size() <= budget:
            break
        if p.data is not None or p.viz is not None or p.content:
            p.data, p.viz, p.content = None, None, None
            dropped.append(p.id or p.viz_id or "?")
    if dropped:
        notes.append(
            f"Data of {len(dropped)} panel(s) left out to fit the {max_bytes}-byte result budget "
            f"({', '.join(reversed(dropped))}); "
            "run them with execute_visualization."
        )
    return " ".join(notes) or None


@infino_tool(Toolset.DASHBOARDS, title="Run a dashboard", read_only=True, destructive=False, idempotent=True)
async def execute_dashboard(
    ctx: Context,
    dashboard_id: DashboardId,
    filters: FiltersArg = None,
    time_range: TimeRangeArg = None,
    max_concurrency: Annotated[
        int | None, Field(ge=1, le=64, description="Panels run at once (default: the server's setting, 16).")
    ] = None,
    rows_per_panel: Annotated[int, Field(ge=0, le=1000, description="Most data rows kept per panel.")] = 20,
) -> DashboardRun:
    """Run all panels of a dashboard at once: each one's visualization definition and rows, in order; a failing panel gets its own error."""
    client = client_of(ctx)
    settings = settings_of(ctx)
    dashboard = envelope(await client.request("GET", _path(dashboard_id), operation="get_dashboard", idempotent=True))
    panels = [p for p in dashboard.attributes.get("panels") or [] if isinstance(p, dict)]
    results: list[PanelResult | None] = [None] * len(panels)
    limiter = anyio.CapacityLimiter(max_concurrency or settings.dashboard_concurrency)
    total = len(panels)
    done = 0

    async def resolve(index: int, panel: dict[str, Any]) -> None:
        nonlocal done
        async with limiter:
            results[index] = outcome = await run_panel(client, panel, filters, time_range)
        done += 1
        state = "failed" if outcome.error else "ready"
        await ctx.report_progress(done, total, f"panel {outcome.id or index} {state} ({done}/{total})")

    async with anyio.create_task_group() as tg:
        for index, panel in enumerate(panels):
            tg.start_soon(resolve, index, panel)
    finished = [r for r in results if r is not None]
    note = _shrink(finished, rows_per_panel, settings.max_result_bytes)
    visual = [p for p in finished if p.kind == "visualization"]
    failed = sum(1 for p in visual if p.error is not None)
    return DashboardRun(
        dashboard_id=dashboard.id or dashboard_id,
        title=dashboard.attributes.get("title"),
        panels=finished,
        succeeded=len(visual) - failed,
        failed=failed,
        note=note,
    )
