"""Drawing charts: PNG images server-side, and the MCP App that draws them interactively.

PNG: ``render_png(spec)`` draws one ``infino_mcp.echarts.to_echarts_option``
result (``kind`` echarts, table or metric) with matplotlib's Agg canvas (no
browser, no display, no pyplot state); ``render_grid_png(panels)`` draws a dashboard's panels
in a two-column grid, under its title and a subtitle naming the filters and time range it shows;
markdown panels are drawn as text (headings bold, bullets, markup removed).
``chart_figure`` and ``grid_figure`` return the laid-out matplotlib figure
itself. Axis drawing and label placement live in ``infino_mcp.chart_axes``.
matplotlib is the optional extra ``infino-mcp[charts]``:
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

from infino_mcp.chart_axes import Fitter, draw_axes, draw_heatmap, draw_scatter, short
from infino_mcp.chart_axes import number as as_number
from infino_mcp.errors import InfinoError
from infino_mcp.shaping import object_at

APP_URI = "ui://infino/chart.html"
ECHARTS_VERSION = "6.1.0"
ECHARTS_CDN = "https://cdn.jsdelivr.net"
ECHARTS_URL = f"{ECHARTS_CDN}/npm/echarts@{ECHARTS_VERSION}/dist/echarts.min.js"
RENDER_TOOLS = ("render_visualization", "render_dashboard")
WIDTH, HEIGHT, DPI = 8.0, 4.5, 100
_MAX_TABLE_ROWS = 15


class ChartsUnavailable(InfinoError):
    """matplotlib is not installed: PNG rendering is off."""


def app_html() -> str:
    """The App's HTML with the pinned ECharts URL filled in."""
    text = (resources.files("infino_mcp") / "apps" / "chart.html").read_text(encoding="utf-8")
    return text.replace("{{ECHARTS_URL}}", ECHARTS_URL)


def apps_extension() -> Any:
    """The MCP Apps extension serving the chart App (pass it to ``MCPServer(extensions=[...])``)."""
    # Cold start: the Apps extension (about 8 ms) loads only when a render tool is selected.
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
        # Optional: matplotlib is the [charts] extra; without it the error says how to install it.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartsUnavailable(
            "PNG charts need matplotlib: install infino-mcp[charts] (pip install 'infino-mcp[charts]')."
        ) from None
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)  # attaches itself: text can be measured before saving
    return figure


def _title(spec: dict[str, Any]) -> str:
    option = spec.get("option") or {}
    title = object_at(option, "title")
    return str(title.get("text") or spec.get("title") or "")


def _pie(ax: Any, item: dict[str, Any]) -> None:
    slices = [d for d in item.get("data") or [] if isinstance(d, dict) and as_number(d.get("value")) > 0]
    radius = item.get("radius")
    ring = {"width": 0.4} if isinstance(radius, list) else None
    ax.pie(
        [as_number(d["value"]) for d in slices],
        labels=[short(d.get("name")) for d in slices],
        autopct="%1.0f%%",
        wedgeprops=ring,
        startangle=90,
        counterclock=False,
    )
    ax.axis("equal")


def _table(ax: Any, spec: dict[str, Any]) -> None:
    ax.axis("off")
    columns = [str(c.get("name") if isinstance(c, dict) else c) for c in spec.get("columns") or []]
    rows = [r for r in spec.get("rows") or [] if isinstance(r, dict)]
    if not columns and rows:
        columns = list(rows[0])
    if not rows:
        ax.text(0.5, 0.5, spec.get("reason") or "No rows", ha="center", va="center", fontsize=12, color="#666")
        return
    cells = [[short(row.get(c)) for c in columns] for row in rows[:_MAX_TABLE_ROWS]]
    table = ax.table(cellText=cells, colLabels=[short(c) for c in columns], loc="upper center", cellLoc="left")
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
    number = as_number(value)
    if math.isnan(number):
        text = str(value)
    else:
        decimals = fmt.get("decimals")
        places = decimals if isinstance(decimals, int) and 0 <= decimals <= 10 else (0 if number.is_integer() else 2)
        text = f"{number:,.{places}f}" if fmt.get("thousands_separator", True) else f"{number:.{places}f}"
    return f"{fmt.get('prefix') or ''}{text}{fmt.get('suffix') or ''}"


def draw(ax: Any, spec: dict[str, Any], title: str | None = None) -> Fitter | None:
    """Draw one rendering (echarts, table or metric) into matplotlib axes; returns its label-placing step."""
    ax.set_title(title if title is not None else _title(spec), fontsize=11)
    kind = spec.get("kind")
    if kind == "metric":
        ax.axis("off")
        ax.text(0.5, 0.5, metric_text(spec), ha="center", va="center", fontsize=36, weight="bold")
        return None
    if kind != "echarts":
        _table(ax, spec)
        return None
    option = spec.get("option") or {}
    series = [s for s in option.get("series") or [] if isinstance(s, dict)]
    types = {s.get("type") for s in series}
    if "pie" in types:
        _pie(ax, next(s for s in series if s.get("type") == "pie"))
        return None
    if "heatmap" in types:
        return draw_heatmap(ax, option, next(s for s in series if s.get("type") == "heatmap"))
    if "scatter" in types:
        return draw_scatter(ax, option, series)
    return draw_axes(ax, option, series)


def laid_out(figure: Any, fitters: list[Fitter | None], *, top: float = 0.0) -> Any:
    """Lay the figure out below ``top`` (a fraction kept for the header), place the tick labels, lay out again."""
    steps = [f for f in fitters if f is not None]
    rect = (0.0, 0.0, 1.0, 1.0 - top)
    figure.tight_layout(rect=rect)
    for _ in range(2):
        for step in steps:
            step()
        figure.tight_layout(rect=rect)
    return figure


def _header(figure: Any, title: str, subtitle: str) -> float:
    """A figure title and a grey subtitle line (filters, time range) at the top; returns the fraction they take."""
    inches = figure.get_figheight()
    used = 0.06
    if title:
        figure.suptitle(title, y=1 - used / inches, va="top", fontsize=14, weight="bold")
        used += 0.27
    if subtitle:
        text = _wrapped(subtitle, int(figure.get_figwidth() * 15), 2)
        figure.text(0.5, 1 - used / inches, text, ha="center", va="top", fontsize=8.5, color="#555")
        used += 0.15 * (text.count("\n") + 1)
    return used / inches if title or subtitle else 0.0


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def chart_figure(spec: dict[str, Any], *, width: float = WIDTH, height: float = HEIGHT, subtitle: str = "") -> Any:
    """One chart as a laid-out matplotlib ``Figure`` (what ``render_png`` saves)."""
    figure = _figure(width, height)
    fitter = draw(figure.subplots(), spec)
    return laid_out(figure, [fitter], top=_header(figure, "", subtitle))


def render_png(spec: dict[str, Any], *, width: float = WIDTH, height: float = HEIGHT, subtitle: str = "") -> bytes:
    """One chart as PNG bytes (``width`` x ``height`` inches at 100 dpi). CPU-bound: run it in a worker thread."""
    return _png(chart_figure(spec, width=width, height=height, subtitle=subtitle))


def _wrapped(text: str, width: int, lines: int) -> str:
    cut = textwrap.wrap(text, width)
    return "\n".join(cut[:lines]) + ("…" if len(cut) > lines else "")


def grid_figure(
    panels: list[tuple[str, dict[str, Any] | None, str | None]], *, title: str = "", subtitle: str = ""
) -> Any:
    """A dashboard as a laid-out ``Figure``: ``(title, spec, text)`` per panel; ``text`` (markdown, errors) replaces a chart."""
    columns = 1 if len(panels) <= 1 else 2
    lines = max(1, math.ceil(len(panels) / columns))
    figure = _figure(WIDTH * columns * 0.75, HEIGHT * lines * 0.8 + (0.3 if subtitle else 0))
    grid = figure.subplots(lines, columns, squeeze=False)
    top = _header(figure, title, subtitle)
    cells = [ax for line in grid for ax in line]
    fitters = []
    for ax, (panel_title, spec, text) in zip(cells, panels, strict=False):
        if spec is not None:
            fitters.append(draw(ax, spec, panel_title))
        else:
            ax.axis("off")
            ax.set_title(panel_title, fontsize=11)
            _markdown(ax, text or "")
    for ax in cells[len(panels) :]:
        ax.axis("off")
    return laid_out(figure, fitters, top=top)


def render_grid_png(
    panels: list[tuple[str, dict[str, Any] | None, str | None]], *, title: str = "", subtitle: str = ""
) -> bytes:
    """A dashboard as PNG bytes (see ``grid_figure``). CPU-bound: run it in a worker thread."""
    return _png(grid_figure(panels, title=title, subtitle=subtitle))


_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~|`)(?=\S)(.+?)(?<=\S)\1")


def markdown_lines(text: str) -> list[tuple[str, str]]:
    """Markdown as ``(kind, plain text)`` lines: ``heading``, ``bullet`` or ``text``; markup removed."""
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line) or line.strip().startswith("```"):
            continue
        kind = "text"
        if heading := _HEADING.match(line.strip()):
            kind, line = "heading", heading.group(2).rstrip("#").strip()
        elif bullet := _BULLET.match(line):
            kind, line = "bullet", bullet.group(1)
        line = line.lstrip("> ").strip() if line.lstrip().startswith(">") else line.strip()
        line = _LINK.sub(r"\1", line)
        for _ in range(3):
            line = _EMPHASIS.sub(r"\2", line)
        out.append((kind, line.replace("\\", "")))
    return out


def _markdown(ax: Any, text: str) -> None:
    """A markdown panel as text: headings bold, bullets as bullets, lines wrapped to the panel."""
    y = 0.95
    height = max(ax.get_position().height * ax.figure.get_figheight(), 0.5)  # inches
    for kind, line in markdown_lines(text[:2000]):
        size = 11 if kind == "heading" else 9
        width = 60 if kind == "heading" else 75
        body = _wrapped(("• " if kind == "bullet" else "") + line, width, 3)
        step = (body.count("\n") + 1) * size * 1.5 / 72 / height
        if y - step < 0:
            ax.text(0.02, max(y, 0.0), "…", ha="left", va="top", fontsize=9, transform=ax.transAxes)
            break
        weight = "bold" if kind == "heading" else "normal"
        note = ax.text(0.02, y, body, ha="left", va="top", fontsize=size, weight=weight, transform=ax.transAxes)
        note.set_in_layout(False)
        y -= step
