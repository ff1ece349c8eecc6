"""Drawing charts: PNG images server-side, and the MCP App that draws them interactively.

PNG: ``render_png(spec)`` draws one ``infino_mcp.echarts.to_echarts_option``
result (``kind`` echarts, table or metric) with matplotlib's Agg canvas (no
browser, no display, no pyplot state); ``render_grid_png(panels)`` draws a dashboard's panels
in a two-column grid. matplotlib is the optional extra ``infino-mcp[charts]``:
without it ``ChartsUnavailable`` says how to install it, and the render tools
still return the chart data for the App.

Supported ECharts series: bar (grouped or stacked, vertical or horizontal),
line (area when ``areaStyle`` is set), pie, scatter and heatmap, which is what
``to_echarts_option`` produces; anything else is drawn as a line.

App: ``ui://infino/chart.html`` (``infino_mcp/apps/chart.html``) renders the
render tools' structured content with ECharts loaded from a pinned CDN URL,
which the resource's CSP declares. ``apps_extension()`` builds the ``Apps``
extension serving it; ``ui_meta(name)`` is the ``_meta`` a render tool carries.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from importlib import resources
from typing import Any

from infino_mcp.errors import InfinoError
from infino_mcp.shaping import object_at

APP_URI = "ui://infino/chart.html"
ECHARTS_VERSION = "6.1.0"
ECHARTS_CDN = "https://cdn.jsdelivr.net"
ECHARTS_URL = f"{ECHARTS_CDN}/npm/echarts@{ECHARTS_VERSION}/dist/echarts.min.js"
RENDER_TOOLS = ("render_visualization", "render_dashboard")
WIDTH, HEIGHT, DPI = 8.0, 4.5, 100
_MAX_TABLE_ROWS = 15
_MAX_LABEL = 18
_MIDNIGHT = re.compile(r"(?<=\d{4}-\d{2}-\d{2})[T ]00:00(:00(\.0+)?)?(Z|[+-]00:?00)?$")


class ChartsUnavailable(InfinoError):
    """matplotlib is not installed: PNG rendering is off."""


def app_html() -> str:
    """The App's HTML with the pinned ECharts URL filled in."""
    text = (resources.files("infino_mcp") / "apps" / "chart.html").read_text(encoding="utf-8")
    return text.replace("{{ECHARTS_URL}}", ECHARTS_URL)


def apps_extension() -> Any:
    """The MCP Apps extension serving the chart App (pass it to ``MCPServer(extensions=[...])``)."""
    from mcp.server.apps import Apps, ResourceCsp

    apps = Apps()
    apps.add_html_resource(
        APP_URI,
        app_html(),
        name="chart",
        title="Infino chart",
        description="Interactive ECharts view of render_visualization and render_dashboard results.",
        csp=ResourceCsp(resource_domains=[ECHARTS_CDN]),
        prefers_border=True,
    )
    return apps


def ui_meta(tool_name: str) -> dict[str, Any] | None:
    """The ``_meta`` binding a render tool to the App; None for every other tool."""
    if tool_name not in RENDER_TOOLS:
        return None
    return {"ui": {"resourceUri": APP_URI, "visibility": ["model", "app"]}}


def _figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas; no pyplot, so no global figure registry and no display."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartsUnavailable(
            "PNG charts need matplotlib: install infino-mcp[charts] (pip install 'infino-mcp[charts]')."
        ) from None
    return Figure(figsize=(width, height), dpi=DPI)


def _short(text: Any) -> str:
    label = _MIDNIGHT.sub("", "" if text is None else str(text))
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return math.nan
    return float(value)


def _title(spec: dict[str, Any]) -> str:
    option = spec.get("option") or {}
    title = object_at(option, "title")
    return str(title.get("text") or spec.get("title") or "")


def _axes_chart(ax: Any, option: dict[str, Any], series: list[dict[str, Any]]) -> None:
    x_axis, y_axis = option.get("xAxis") or {}, option.get("yAxis") or {}
    horizontal = y_axis.get("type") == "category" and x_axis.get("type") != "category"
    category_axis = y_axis if horizontal else x_axis
    categories = [_short(c) for c in category_axis.get("data") or []]
    positions = list(range(len(categories)))
    bars = [s for s in series if s.get("type") == "bar"]
    stacked = any(s.get("stack") for s in bars)
    width = 0.8 if stacked or not bars else 0.8 / len(bars)
    base = [0.0] * len(categories)
    line_base = [0.0] * len(categories)
    for _index, item in enumerate(series):
        values = [_number(v) for v in item.get("data") or []][: len(categories)]
        values += [math.nan] * (len(categories) - len(values))
        name = str(item.get("name") or "")
        if item.get("type") == "bar":
            bar_index = bars.index(item)
            shift = 0.0 if stacked else (bar_index - (len(bars) - 1) / 2) * width
            where = [p + shift for p in positions]
            bottom = base if stacked else None
            clean = [0.0 if math.isnan(v) else v for v in values]
            if horizontal:
                ax.barh(where, clean, height=width, left=bottom, label=name)
            else:
                ax.bar(where, clean, width=width, bottom=bottom, label=name)
            if stacked:
                base = [b + v for b, v in zip(base, clean, strict=True)]
        else:
            lower = list(line_base) if item.get("stack") else [0.0] * len(values)
            if item.get("stack"):
                values = [b + (0.0 if math.isnan(v) else v) for b, v in zip(lower, values, strict=True)]
                line_base = values
            ax.plot(positions, values, marker="o" if len(values) <= 40 else None, label=name)
            if "areaStyle" in item:
                ax.fill_between(positions, lower, values, alpha=0.25)
    ticks = positions if len(positions) <= 30 else positions[:: math.ceil(len(positions) / 30)]
    if horizontal:
        ax.set_yticks(ticks, [categories[t] for t in ticks])
    else:
        crowded = sum(len(categories[t]) for t in ticks) > 40
        labels = [categories[t] for t in ticks]
        ax.set_xticks(ticks, labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    if category_axis.get("name"):
        (ax.set_ylabel if horizontal else ax.set_xlabel)(str(category_axis["name"]))
    value_axis = x_axis if horizontal else y_axis
    if value_axis.get("name"):
        (ax.set_xlabel if horizontal else ax.set_ylabel)(str(value_axis["name"]))
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")


def _pie(ax: Any, item: dict[str, Any]) -> None:
    slices = [d for d in item.get("data") or [] if isinstance(d, dict) and _number(d.get("value")) > 0]
    radius = item.get("radius")
    ring = {"width": 0.4} if isinstance(radius, list) else None
    ax.pie(
        [_number(d["value"]) for d in slices],
        labels=[_short(d.get("name")) for d in slices],
        autopct="%1.0f%%",
        wedgeprops=ring,
        startangle=90,
        counterclock=False,
    )
    ax.axis("equal")


def _scatter(ax: Any, option: dict[str, Any], series: list[dict[str, Any]]) -> None:
    x_axis = option.get("xAxis") or {}
    categories = x_axis.get("data") if x_axis.get("type") == "category" else None
    for item in series:
        points = [p for p in item.get("data") or [] if isinstance(p, list) and len(p) >= 2]
        if categories:
            xs = [categories.index(str(p[0])) if str(p[0]) in categories else math.nan for p in points]
        else:
            xs = [_number(p[0]) for p in points]
        ax.scatter(xs, [_number(p[1]) for p in points], label=str(item.get("name") or ""), s=18)
    if categories:
        ax.set_xticks(range(len(categories)), [_short(c) for c in categories], rotation=45, ha="right")
    for axis, setter in ((x_axis, ax.set_xlabel), (option.get("yAxis") or {}, ax.set_ylabel)):
        if axis.get("name"):
            setter(str(axis["name"]))
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")


def _heatmap(ax: Any, option: dict[str, Any], item: dict[str, Any]) -> None:
    xs = [_short(v) for v in (option.get("xAxis") or {}).get("data") or []]
    ys = [_short(v) for v in (option.get("yAxis") or {}).get("data") or []]
    grid = [[math.nan] * len(xs) for _ in ys]
    for cell in item.get("data") or []:
        if isinstance(cell, list) and len(cell) >= 3 and 0 <= cell[1] < len(ys) and 0 <= cell[0] < len(xs):
            grid[cell[1]][cell[0]] = _number(cell[2])
    image = ax.imshow(grid, aspect="auto", cmap="viridis", origin="lower")
    if len(xs) * len(ys) <= 150:
        for row, line in enumerate(grid):
            for column, amount in enumerate(line):
                if not math.isnan(amount):
                    ax.text(column, row, f"{amount:g}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(xs)), xs, rotation=45 if len(xs) > 6 else 0)
    ax.set_yticks(range(len(ys)), ys)
    ax.figure.colorbar(image, ax=ax)


def _table(ax: Any, spec: dict[str, Any]) -> None:
    ax.axis("off")
    columns = [str(c.get("name") if isinstance(c, dict) else c) for c in spec.get("columns") or []]
    rows = [r for r in spec.get("rows") or [] if isinstance(r, dict)]
    if not columns and rows:
        columns = list(rows[0])
    if not rows:
        ax.text(0.5, 0.5, spec.get("reason") or "No rows", ha="center", va="center", fontsize=12, color="#666")
        return
    cells = [[_short(row.get(c)) for c in columns] for row in rows[:_MAX_TABLE_ROWS]]
    table = ax.table(cellText=cells, colLabels=[_short(c) for c in columns], loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    if len(rows) > _MAX_TABLE_ROWS:
        ax.text(0.5, 0.0, f"{len(rows) - _MAX_TABLE_ROWS} more rows not shown", ha="center", fontsize=8, color="#666")


def metric_text(spec: dict[str, Any]) -> str:
    """A metric's value as displayed: formatting's prefix, suffix, decimals and separators applied."""
    value = spec.get("value")
    fmt = object_at(spec, "formatting")
    if value is None:
        return "–"
    number = _number(value)
    if math.isnan(number):
        text = str(value)
    else:
        decimals = fmt.get("decimals")
        places = decimals if isinstance(decimals, int) and 0 <= decimals <= 10 else (0 if number.is_integer() else 2)
        text = f"{number:,.{places}f}" if fmt.get("thousands_separator", True) else f"{number:.{places}f}"
    return f"{fmt.get('prefix') or ''}{text}{fmt.get('suffix') or ''}"


def draw(ax: Any, spec: dict[str, Any], title: str | None = None) -> None:
    """Draw one rendering (echarts, table or metric) into matplotlib axes."""
    ax.set_title(title if title is not None else _title(spec), fontsize=11)
    kind = spec.get("kind")
    if kind == "metric":
        ax.axis("off")
        ax.text(0.5, 0.5, metric_text(spec), ha="center", va="center", fontsize=36, weight="bold")
        return
    if kind != "echarts":
        _table(ax, spec)
        return
    option = spec.get("option") or {}
    series = [s for s in option.get("series") or [] if isinstance(s, dict)]
    types = {s.get("type") for s in series}
    if "pie" in types:
        _pie(ax, next(s for s in series if s.get("type") == "pie"))
    elif "heatmap" in types:
        _heatmap(ax, option, next(s for s in series if s.get("type") == "heatmap"))
    elif "scatter" in types:
        _scatter(ax, option, series)
    else:
        _axes_chart(ax, option, series)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_png(spec: dict[str, Any], *, width: float = WIDTH, height: float = HEIGHT) -> bytes:
    """One chart as PNG bytes (``width`` x ``height`` inches at 100 dpi). CPU-bound: run it in a worker thread."""
    figure = _figure(width, height)
    draw(figure.subplots(), spec)
    return _png(figure)


def render_grid_png(panels: list[tuple[str, dict[str, Any] | None, str | None]], *, title: str = "") -> bytes:
    """A dashboard as PNG: ``(title, spec, text)`` per panel; ``text`` replaces a chart (markdown, errors)."""
    columns = 1 if len(panels) <= 1 else 2
    lines = max(1, math.ceil(len(panels) / columns))
    figure = _figure(WIDTH * columns * 0.75, HEIGHT * lines * 0.8)
    grid = figure.subplots(lines, columns, squeeze=False)
    if title:
        figure.suptitle(title, fontsize=14, weight="bold")
    cells = [ax for line in grid for ax in line]
    for ax, (panel_title, spec, text) in zip(cells, panels, strict=False):
        if spec is not None:
            draw(ax, spec, panel_title)
        else:
            ax.axis("off")
            ax.set_title(panel_title, fontsize=11)
            wrapped = "\n".join(textwrap.wrap((text or "")[:600], 70)[:12])
            note = ax.text(0.02, 0.95, wrapped, ha="left", va="top", fontsize=9, transform=ax.transAxes, clip_on=True)
            note.set_in_layout(False)
    for ax in cells[len(panels) :]:
        ax.axis("off")
    return _png(figure)
