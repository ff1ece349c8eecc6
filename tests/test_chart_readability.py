"""Charts people can read: time axes for time, labels that never overlap or leave the image, axis names in words.

The three cases an agent met (hourly points over 7 days, daily points over a year, 40 long category
names) go through the MCP client: to_echarts_option's axes, then the PNG renderer's figure for that option,
measured in pixels. Overlap is checked here with plain geometry (each label a rectangle turned by its
rotation, separated along one of its sides), not by the renderer's own test.
"""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from infino_mcp.echarts import to_echarts_option

pytestmark = pytest.mark.anyio
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="the charts extra (matplotlib) is not installed"
)

START = datetime(2026, 11, 25, 7, tzinfo=UTC)
LONG = "Noise cancelling over-ear headphones, 2026 edition, graphite"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _seed(client: Client, call: Any) -> dict[str, str]:
    logs = [
        {"@timestamp": _iso(START + timedelta(hours=h, minutes=m)), "request_id": f"r{h}-{m}"}
        for h in range(169)
        for m in range(0, 60, 20 if h % 2 else 30)
    ]
    daily = [{"@timestamp": _iso(START + timedelta(days=d)), "revenue": 100 + d % 17} for d in range(365)]
    products = [{"product": f"{LONG} #{i}" if i % 3 == 0 else f"Mouse #{i}", "units": 5 + i} for i in range(40)]
    for name, records in (("web-logs", logs), ("sales", daily), ("products", products)):
        await call(client, "upload_json_to_dataset", {"dataset": name, "records": records})
    specs = {
        "hourly": {
            "title": "Requests per hour",
            "source": {"kind": "sql", "index": "web-logs"},
            "chart": {"type": "line"},
            "mapping": {
                "x": {"column": "@timestamp", "bucket": "hour"},
                "y": [{"column": "request_id", "aggregation": "count"}],
            },
        },
        "daily": {
            "title": "Daily revenue",
            "source": {
                "kind": "sql",
                "index": "sales",
                "sql": {
                    "raw_query": "SELECT DATE_TRUNC('day', \"@timestamp\") AS day, SUM(revenue) AS revenue "
                    "FROM sales GROUP BY 1 ORDER BY 1"
                },
            },
            "chart": {"type": "bar"},
        },
        "categories": {
            "title": "Units by product",
            "source": {
                "kind": "sql",
                "index": "products",
                "sql": {
                    "raw_query": "SELECT product, SUM(units) AS units FROM products GROUP BY product ORDER BY units"
                },
            },
            "chart": {"type": "bar"},
        },
    }
    return {name: (await call(client, "create_visualization", {"spec": spec}))["id"] for name, spec in specs.items()}


async def test_axes_say_what_they_show(mcp: Client, call: Any) -> None:
    ids = await _seed(mcp, call)
    hourly = (await call(mcp, "to_echarts_option", {"viz_id": ids["hourly"]}))["option"]
    assert hourly["xAxis"]["type"] == "time" and hourly["xAxis"]["name"] == "@timestamp"
    assert hourly["yAxis"] == hourly["yAxis"] | {"type": "value", "name": "count of request_id"}
    (line,) = hourly["series"]
    assert line["name"] == "count of request_id" and len(line["data"]) == 169
    times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t, _ in line["data"]]
    assert times == sorted(times) and times[0] == START and times[-1] == START + timedelta(hours=168)
    assert [n for _, n in line["data"][:2]] == [2, 3]

    daily = (await call(mcp, "to_echarts_option", {"viz_id": ids["daily"]}))["option"]
    assert daily["xAxis"]["type"] == "time" and daily["xAxis"]["name"] == "day"
    assert daily["yAxis"]["name"] == "revenue" and len(daily["series"][0]["data"]) == 365

    bars = (await call(mcp, "to_echarts_option", {"viz_id": ids["categories"]}))["option"]
    axis = bars["xAxis"]
    assert axis["type"] == "category" and len(axis["data"]) == 40
    assert f"{LONG} #0" in axis["data"]  # the whole text stays in the data, so the axis tooltip shows it
    assert axis["axisLabel"]["overflow"] == "truncate" and axis["axisLabel"]["hideOverlap"] is True
    assert axis["axisLabel"]["rotate"] == 90 and bars["tooltip"]["trigger"] == "axis"


def _rectangles_apart(a: tuple[float, float, float, float, float], b: tuple[float, float, float, float, float]) -> bool:
    """Two labels as (anchor x, anchor y, width, height, angle) rectangles hanging right-and-down from the anchor
    along their angle (how matplotlib places ha=right / va=top tick labels with rotation_mode=anchor)."""

    def corners(r: tuple[float, float, float, float, float]) -> list[tuple[float, float]]:
        x, y, w, h, angle = r
        u, n = (math.cos(angle), math.sin(angle)), (-math.sin(angle), math.cos(angle))
        return [(x + p * u[0] + q * n[0], y + p * u[1] + q * n[1]) for p in (-w, 0) for q in (-h, 0)]

    ca, cb = corners(a), corners(b)
    for angle in (a[4], a[4] + math.pi / 2):
        axis = (math.cos(angle), math.sin(angle))
        pa = [px * axis[0] + py * axis[1] for px, py in ca]
        pb = [px * axis[0] + py * axis[1] for px, py in cb]
        if max(pa) <= min(pb) or max(pb) <= min(pa):
            return True
    return False


def _label_boxes(figure: Any) -> list[tuple[str, list[tuple[float, float, float, float, float]], list[Any]]]:
    renderer = figure.canvas.get_renderer()
    found = []
    for ax in figure.axes:
        if not ax.axison:  # axes switched off (text panels) draw no ticks
            continue
        for which, texts in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
            at = 0 if which == "x" else 1  # matplotlib keeps labels for ticks outside the view; they are not drawn
            shown = [t for t in texts if t.get_visible() and t.get_text() and low <= t.get_position()[at] <= high]
            rects = []
            for text in shown:
                width, height, _ = renderer.get_text_width_height_descent(
                    text.get_text(), text.get_fontproperties(), ismath=False
                )
                box = text.get_window_extent(renderer)
                angle = math.radians(text.get_rotation())
                if angle:  # turned about its anchor, its top-right corner (ha=right, va=top)
                    assert text.get_ha() == "right" and text.get_va() == "top" and text.get_rotation_mode() == "anchor"
                    x, y = text.get_transform().transform(text.get_position())
                else:
                    x, y, width, height = box.x1, box.y1, box.width, box.height
                rects.append((float(x), float(y), width, height, angle))
            found.append((which, rects, [t.get_window_extent(renderer) for t in shown]))
    return found


def assert_labels_fit(figure: Any) -> None:
    width, height = figure.bbox.width, figure.bbox.height
    for which, rects, boxes in _label_boxes(figure):
        for box in boxes:
            assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, (which, box)
        for first, second in zip(rects, rects[1:], strict=False):
            assert _rectangles_apart(first, second), (which, first, second)


@needs_matplotlib
async def test_pngs_of_the_three_cases_have_labels_that_fit(mcp: Client, call: Any) -> None:
    from infino_mcp.charts import chart_figure

    ids = await _seed(mcp, call)
    for name, viz_id in ids.items():
        result = await mcp.call_tool("render_visualization", {"viz_id": viz_id})
        assert not result.is_error and [b.type for b in result.content] == ["image", "text"], name
        figure = chart_figure(result.structured_content["spec"])
        assert_labels_fit(figure)
        (ax,) = figure.axes
        if name in ("hourly", "daily"):
            assert "Date" in type(ax.xaxis.get_major_formatter()).__name__, name
            assert "Date" in type(ax.xaxis.get_major_locator()).__name__, name


def _bars(count: int, label: str) -> dict[str, Any]:
    rows = [{"name": f"{label} {i}", "n": i} for i in range(count)]
    columns = [{"name": "name", "type": "string"}, {"name": "n", "type": "number"}]
    return {"columns": columns, "rows": rows, "metadata": {"binding": {"x": "name", "y": ["n"]}}}


def _points(count: int, step: timedelta) -> dict[str, Any]:
    rows = [{"t": _iso(START + i * step), "n": i % 7} for i in range(count)]
    columns = [{"name": "t", "type": "date"}, {"name": "n", "type": "number"}]
    return {"columns": columns, "rows": rows, "metadata": {"binding": {"x": "t", "y": ["n"]}}}


@needs_matplotlib
@pytest.mark.parametrize("chart", ["bar", "horizontalBar"])
@pytest.mark.parametrize("count", [3, 40, 250])
@pytest.mark.parametrize("label", ["x", "A rather long category name that goes on"])
def test_category_labels_fit_at_any_count(chart: str, count: int, label: str) -> None:
    from infino_mcp.charts import chart_figure

    spec = to_echarts_option({"title": "t", "chart": {"type": chart}}, _bars(count, label))
    assert_labels_fit(chart_figure(spec))


@needs_matplotlib
@pytest.mark.parametrize(
    ("count", "step"),
    [(2, timedelta(hours=1)), (169, timedelta(hours=1)), (365, timedelta(days=1)), (2000, timedelta(minutes=5))],
)
def test_time_labels_fit_at_any_count(count: int, step: timedelta) -> None:
    from infino_mcp.charts import chart_figure

    spec = to_echarts_option({"title": "t", "chart": {"type": "line"}}, _points(count, step))
    assert spec["option"]["xAxis"]["type"] == "time"
    assert_labels_fit(chart_figure(spec))


@needs_matplotlib
async def test_dashboard_png_says_what_it_shows_and_draws_markdown_as_text(mcp: Client, call: Any) -> None:
    from infino_mcp.charts import grid_figure, markdown_lines

    ids = await _seed(mcp, call)
    note = "# About\n\nTraffic of the **web tier** ([docs](https://example.com)).\n\n- hourly `requests`\n- __units__"
    dashboard = await call(
        mcp,
        "create_dashboard",
        {"spec": {"title": "Traffic", "panels": [{"kind": "markdown", "content": note}, {"viz_id": ids["hourly"]}]}},
    )
    filters = [
        {"field": "request_id", "operator": "exists"},
        {"field": "status", "operator": "is_one_of", "value": [200, 404]},
    ]
    window = {"from": "2026-11-26T00:00:00Z", "to": 1795996800000}
    result = await mcp.call_tool(
        "render_dashboard", {"dashboard_id": dashboard["id"], "filters": filters, "time_range": window}
    )
    assert not result.is_error and result.content[0].type == "image", result.content[-1].text
    view = result.structured_content
    expected = (
        "Filters: request_id exists; status is one of [200, 404] · "
        "Time (UTC): 2026-11-26T00:00:00Z to 2026-11-30T00:00:00Z"
    )
    assert view["subtitle"] == expected
    assert markdown_lines(view["panels"][0]["text"]) == [
        ("heading", "About"),
        ("text", "Traffic of the web tier (docs)."),
        ("bullet", "hourly requests"),
        ("bullet", "units"),
    ]
    panels = [(p["title"], p.get("spec"), p.get("text")) for p in view["panels"]]
    figure = grid_figure(panels, title=view["title"], subtitle=view["subtitle"])
    drawn = [t.get_text() for t in figure.texts] + [t.get_text() for ax in figure.axes for t in ax.texts]
    assert expected in drawn
    assert "• hourly requests" in drawn and "About" in drawn
    assert not [t for t in drawn if "**" in t or "](" in t or t.startswith("#")]
    assert_labels_fit(figure)
