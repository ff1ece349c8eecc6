"""Rendering saved visualizations and dashboards: a PNG image plus the data for the interactive App.

Each render tool returns a PNG image block (drawn server-side by
``infino_mcp.charts``, when the ``charts`` extra is installed), one short text
line for the model, and structured content the MCP App
(``ui://infino/chart.html``) draws with ECharts in hosts that support Apps.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, Field

from infino_mcp.charts import ChartsUnavailable, render_grid_png, render_png
from infino_mcp.client import id_segment
from infino_mcp.config import Toolset
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import object_at
from infino_mcp.toolsets.dashboards import DashboardId, PanelResult, run_panel
from infino_mcp.toolsets.visualizations import (
    ChartSpec,
    Filter,
    FiltersArg,
    TimeRange,
    TimeRangeArg,
    VizId,
    concurrently,
    envelope,
    fetch_visualization,
    render,
    run_visualization,
)

MAX_ROWS = 1000
CAP = f"the render tools' {MAX_ROWS}-row cap"


class ChartView(BaseModel):
    viz_id: str
    title: str
    subtitle: str | None = Field(default=None, description="The runtime filters and time range shown.")
    kind: str = Field(description="echarts, table or metric.")
    series: int = Field(description="Series drawn (1 for a metric, 0 for a table).")
    spec: dict[str, Any] = Field(description="What the App draws: the ECharts option, table or metric.")
    image: bool = Field(description="True when a PNG image of the chart is attached.")
    note: str | None = Field(default=None, description="Rows left out, or why there is no image.")


class PanelView(BaseModel):
    title: str
    kind: str | None = None
    viz_id: str | None = None
    spec: dict[str, Any] | None = None
    text: str | None = Field(default=None, description="Markdown panels: the text.")
    error: str | None = None


class DashboardView(BaseModel):
    dashboard_id: str
    title: str
    subtitle: str | None = Field(default=None, description="The runtime filters and time range shown.")
    panels: list[PanelView]
    image: bool = Field(description="True when a PNG image of the dashboard is attached.")
    note: str | None = None


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return f"{value.get('from', '…')} to {value.get('to', '…')}"
    return str(value)


def subtitle_of(filters: list[Filter] | None, time_range: TimeRange | None) -> str | None:
    """What a rendering was narrowed to, in words: ``Filters: status is 500 · Time: 2026-01-01 to 2026-01-08``."""
    parts = []
    if filters:
        said = [
            f"{f.field} {f.operator.replace('_', ' ')}" + ("" if f.value is None else f" {_value_text(f.value)}")
            for f in filters
        ]
        parts.append("Filters: " + "; ".join(said))
    if time_range is not None:
        parts.append(f"Time (UTC): {_moment_text(time_range.start)} to {_moment_text(time_range.to)}")
    return " · ".join(parts) or None


def _moment_text(value: Any) -> str:
    if value is None:
        return "any"
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def spec_of(chart: ChartSpec) -> dict[str, Any]:
    """The rendering as the App and the PNG renderer read it (``to_echarts_option``'s shape)."""
    known = chart.model_dump(exclude={"other", "rows_used", "rows_total", "note"}, exclude_none=True)
    return {**chart.other, **known}


def series_count(spec: dict[str, Any]) -> int:
    if spec.get("kind") == "metric":
        return 1
    option = object_at(spec, "option")
    return len(option.get("series") or [])


def _result(view: BaseModel, summary: str, png: bytes | None) -> CallToolResult:
    content: list[Any] = []
    if png is not None:
        content.append(ImageContent(type="image", data=base64.b64encode(png).decode("ascii"), mime_type="image/png"))
    content.append(TextContent(type="text", text=summary))
    return CallToolResult(content=content, structured_content=view.model_dump(mode="json"))


async def _png(draw: Any, *args: Any, **kwargs: Any) -> tuple[bytes | None, str | None]:
    try:
        return await anyio.to_thread.run_sync(lambda: draw(*args, **kwargs)), None
    except ChartsUnavailable as exc:
        return None, str(exc)


@infino_tool(Toolset.VISUALIZATIONS, title="Render a visualization", read_only=True, destructive=False, idempotent=True)
async def render_visualization(
    ctx: Context, viz_id: VizId, filters: FiltersArg = None, time_range: TimeRangeArg = None
) -> Annotated[CallToolResult, ChartView]:
    """Draw a saved visualization: a PNG image, and an interactive chart in clients that support MCP Apps."""
    client = client_of(ctx)
    viz, data = await concurrently(
        lambda: fetch_visualization(client, viz_id), lambda: run_visualization(client, viz_id, filters, time_range)
    )
    attributes = envelope(viz).attributes
    chart = render(attributes, data, max_rows=MAX_ROWS, max_bytes=settings_of(ctx).max_result_bytes, cap=CAP)
    spec = spec_of(chart)
    subtitle = subtitle_of(filters, time_range)
    png, missing = await _png(render_png, spec, subtitle=subtitle or "")
    title = str(attributes.get("title") or viz_id)
    view = ChartView(
        viz_id=viz_id,
        title=title,
        subtitle=subtitle,
        kind=chart.kind,
        series=series_count(spec),
        spec=spec,
        image=png is not None,
        note=" ".join(n for n in (chart.note, missing) if n) or None,
    )
    shape = f"{view.kind}, {view.series} series, {chart.rows_used} rows" if view.kind == "echarts" else view.kind
    summary = f"Rendered '{title}' ({shape})." + (" PNG attached." if png else f" No image: {missing}")
    if chart.note:
        summary += f" {chart.note}"
    return _result(view, summary, png)


def _panel_view(panel: PanelResult, max_bytes: int) -> PanelView:
    viz = panel.viz or {}
    title = panel.title_override or str(viz.get("title") or panel.label or panel.viz_id or "")
    view = PanelView(title=title, kind=panel.kind, viz_id=panel.viz_id)
    if panel.error is not None:
        view.error = panel.error.message
    elif panel.kind == "visualization" and panel.viz is not None and panel.data is not None:
        view.spec = spec_of(render(panel.viz, panel.data, max_rows=MAX_ROWS, max_bytes=max_bytes, cap=CAP))
    elif panel.kind == "markdown":
        view.text = panel.content or ""
    return view


@infino_tool(Toolset.VISUALIZATIONS, title="Render a dashboard", read_only=True, destructive=False, idempotent=True)
async def render_dashboard(
    ctx: Context, dashboard_id: DashboardId, filters: FiltersArg = None, time_range: TimeRangeArg = None
) -> Annotated[CallToolResult, DashboardView]:
    """Draw every panel of a dashboard: one PNG grid image, and interactive charts in clients that support MCP Apps."""
    client = client_of(ctx)
    settings = settings_of(ctx)
    path = f"/dashboards/{id_segment(dashboard_id, 'Dashboard id')}"
    dashboard = envelope(await client.request("GET", path, operation="get_dashboard", idempotent=True))
    panels = [p for p in dashboard.attributes.get("panels") or [] if isinstance(p, dict)]
    results: list[PanelResult | None] = [None] * len(panels)
    limiter = anyio.CapacityLimiter(settings.dashboard_concurrency)
    done = 0

    async def run(index: int, panel: dict[str, Any]) -> None:
        nonlocal done
        async with limiter:
            results[index] = await run_panel(client, panel, filters, time_range)
        done += 1
        await ctx.report_progress(done, len(panels), f"panel {done}/{len(panels)} ready")

    async with anyio.create_task_group() as tg:
        for index, panel in enumerate(panels):
            tg.start_soon(run, index, panel)
    share = max(settings.max_result_bytes // max(len(panels), 1), 1000)
    views = [_panel_view(p, share) for p in results if p is not None and p.kind != "divider"]
    title = str(dashboard.attributes.get("title") or dashboard_id)
    drawn = [(v.title, v.spec, v.text if v.error is None else f"Error: {v.error}") for v in views]
    subtitle = subtitle_of(filters, time_range)
    if views:
        png, missing = await _png(render_grid_png, drawn, title=title, subtitle=subtitle or "")
    else:
        png, missing = None, "the dashboard has no panels"
    failed = sum(1 for v in views if v.error)
    view = DashboardView(
        dashboard_id=dashboard_id, title=title, subtitle=subtitle, panels=views, image=png is not None, note=missing
    )
    summary = f"Rendered dashboard '{title}': {len(views)} panels" + (f", {failed} failed" if failed else "") + "."
    summary += " PNG attached." if png else f" No image: {missing}"
    return _result(view, summary, png)
