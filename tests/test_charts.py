"""render_visualization / render_dashboard: PNG images from real local data, and the MCP App in headless Chromium."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from infino_mcp.charts import (
    APP_URI,
    ECHARTS_URL,
    ECHARTS_VERSION,
    app_html,
    metric_text,
)

pytestmark = pytest.mark.anyio
image = pytest.importorskip("PIL.Image", reason="the charts extra (matplotlib, pillow) is not installed")
needs_png = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="the charts extra (matplotlib) is not installed"
)

SALES = [
    {"day": f"2026-03-0{d}", "region": region, "amount": amount, "units": units}
    for d, region, amount, units in [
        (1, "north", 120, 3),
        (1, "south", 80, 2),
        (2, "north", 150, 4),
        (2, "south", 95, 3),
        (3, "north", 90, 2),
        (3, "south", 130, 5),
        (4, "north", 160, 6),
        (4, "south", 70, 1),
    ]
]
BY_DAY_REGION = "SELECT day, region, SUM(amount) AS amount FROM sales GROUP BY day, region ORDER BY day, region"
BY_REGION = "SELECT region, SUM(amount) AS amount FROM sales GROUP BY region ORDER BY region"
TOTAL = "SELECT SUM(amount) AS total FROM sales"
POINTS = "SELECT units, amount FROM sales"
SPLIT = {"mapping": {"x": {"column": "day"}, "y": [{"column": "amount"}], "series": {"column": "region"}}}


def _viz(title: str, query: str, chart: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "source": {"kind": "sql", "index": "sales", "sql": {"raw_query": query}},
        "chart": {"type": chart},
        **extra,
    }


async def _seed(client: Client, call: Any) -> dict[str, str]:
    await call(client, "upload_json_to_dataset", {"dataset": "sales", "records": SALES})
    specs = {
        "line": _viz("Sales by day and region", BY_DAY_REGION, "line", **SPLIT),
        "bar": _viz("Sales by region", BY_REGION, "bar"),
        "horizontalBar": _viz("Sales by region (h)", BY_REGION, "horizontalBar"),
        "area": _viz("Stacked area", BY_DAY_REGION, "area", options={"stacked": True}, **SPLIT),
        "pie": _viz("Share by region", BY_REGION, "pie"),
        "heatmap": _viz("Day x region", BY_DAY_REGION, "heatmap", **SPLIT),
        "scatter": _viz("Units vs amount", POINTS, "scatter"),
        "table": _viz("Raw", BY_REGION, "table"),
        "metric": _viz("Total", TOTAL, "metric", options={"metric_formatting": {"prefix": "$", "decimals": 0}}),
    }
    return {name: (await call(client, "create_visualization", {"spec": spec}))["id"] for name, spec in specs.items()}


def _png(result: Any) -> Any:
    blocks = [b for b in result.content if b.type == "image"]
    assert len(blocks) == 1 and blocks[0].mime_type == "image/png"
    return image.open(io.BytesIO(base64.b64decode(blocks[0].data))).convert("RGB")


def _not_blank(picture: Any) -> None:
    colors = picture.getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 20, "the image is (nearly) one colour"
    background = max(colors)[0] / (picture.width * picture.height)
    assert background < 0.995, f"{background:.1%} of the image is background"


@needs_png
async def test_every_chart_type_renders_to_png(mcp: Client, call: Any) -> None:
    ids = await _seed(mcp, call)
    expected_series = {
        "line": 2,
        "bar": 1,
        "horizontalBar": 1,
        "area": 2,
        "pie": 1,
        "heatmap": 1,
        "scatter": 1,
        "table": 0,
        "metric": 1,
    }
    for name, viz_id in ids.items():
        result = await mcp.call_tool("render_visualization", {"viz_id": viz_id})
        assert not result.is_error, f"{name}: {result.content}"
        view = result.structured_content
        assert view["image"] is True and view["viz_id"] == viz_id
        assert view["series"] == expected_series[name], name
        assert view["kind"] == {"table": "table", "metric": "metric"}.get(name, "echarts")
        picture = _png(result)
        assert picture.size == (800, 450)
        if os.environ.get("H8_DUMP"):
            picture.save(f"/tmp/h8_{name}.png")
        _not_blank(picture)
        text = [b.text for b in result.content if b.type == "text"]
        assert len(text) == 1 and view["title"] in text[0] and len(text[0]) < 300
    metric = await mcp.call_tool("render_visualization", {"viz_id": ids["metric"]})
    assert metric_text(metric.structured_content["spec"]) == "$895"


@needs_png
async def test_dashboard_renders_as_a_grid_and_isolates_a_broken_panel(mcp: Client, call: Any) -> None:
    ids = await _seed(mcp, call)
    panels = [
        {"kind": "markdown", "content": "Sales **overview**"},
        {"viz_id": ids["line"]},
        {"viz_id": ids["pie"]},
        {"kind": "divider", "label": "More"},
        {"viz_id": ids["metric"]},
        {"viz_id": ids["table"]},
    ]
    dash = await call(mcp, "create_dashboard", {"spec": {"title": "Sales", "panels": panels}})
    await call(mcp, "delete_visualization", {"viz_id": ids["table"]})
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    result = await mcp.call_tool("render_dashboard", {"dashboard_id": dash["id"]}, progress_callback=on_progress)
    assert not result.is_error, result.content
    view = result.structured_content
    assert [p["kind"] for p in view["panels"]] == [
        "markdown",
        "visualization",
        "visualization",
        "visualization",
        "visualization",
    ]
    assert view["panels"][0]["text"] == "Sales **overview**"
    assert view["panels"][1]["spec"]["kind"] == "echarts"
    assert view["panels"][4]["error"] and view["panels"][4]["spec"] is None
    assert progress == [1, 2, 3, 4, 5, 6]
    picture = _png(result)
    if os.environ.get("H8_DUMP"):
        picture.save("/tmp/h8_dashboard.png")
    assert picture.width >= 1000 and picture.height >= 900
    _not_blank(picture)
    assert "1 failed" in next(b.text for b in result.content if b.type == "text")


async def test_app_resource_and_tool_binding(mcp: Client) -> None:
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    for name in ("render_visualization", "render_dashboard"):
        assert tools[name].meta == {"ui": {"resourceUri": APP_URI, "visibility": ["model", "app"]}}
        assert tools[name].output_schema is not None
    assert mcp.server_capabilities.extensions == {EXTENSION_ID: {}}
    content = (await mcp.read_resource(APP_URI)).contents[0]
    assert content.mime_type == APP_MIME_TYPE
    assert content.meta["ui"]["csp"] == {"resourceDomains": ["https://cdn.jsdelivr.net"]}
    assert f'<script src="{ECHARTS_URL}"></script>' in content.text
    assert f"echarts@{ECHARTS_VERSION}/" in ECHARTS_URL


async def test_apps_capable_client_gets_the_same_result(tool_settings: Any, infino_client: Any, call: Any) -> None:
    from infino_mcp.server import build_server

    host = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
    async with Client(build_server(tool_settings, client=infino_client), extensions=host, mode="legacy") as client:
        ids = await _seed(client, call)
        result = await client.call_tool("render_visualization", {"viz_id": ids["bar"]})
        assert not result.is_error and result.structured_content["series"] == 1


# ---- the App in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def echarts_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned ECharts build from npm, installed into a temp dir (never vendored)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed; it is needed to fetch the echarts package for the browser test")
    prefix = tmp_path_factory.mktemp("echarts")
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), f"echarts@{ECHARTS_VERSION}", "--no-audit", "--no-fund", "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    script = prefix / "node_modules" / "echarts" / "dist" / "echarts.min.js"
    if done.returncode != 0 or not script.exists():
        pytest.skip(f"npm install echarts@{ECHARTS_VERSION} failed (no registry access?): {done.stderr[-300:]}")
    return script


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("no headless Chromium: install it with `apt-get install -y chromium`")
    return found


def _browser(chromium: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        f"--user-data-dir={page.parent / 'profile'}",
        "--virtual-time-budget=10000",
        "--window-size=1000,700",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "HOME": str(page.parent)}
    )


def _js(value: Any) -> str:
    """A value as a JavaScript literal that is safe inside an inline <script>."""
    return json.dumps(value).replace("</", "<\\/")


def _local_app(echarts_js: Path) -> str:
    html = app_html()
    assert ECHARTS_URL in html
    return html.replace(ECHARTS_URL, echarts_js.as_uri())


async def test_app_draws_the_chart_in_headless_chromium(
    mcp: Client, call: Any, echarts_js: Path, chromium: str, tmp_path: Path
) -> None:
    ids = await _seed(mcp, call)
    result = await mcp.call_tool("render_visualization", {"viz_id": ids["line"]})
    content = result.structured_content
    inline = _js(content)
    page = tmp_path / "chart.html"
    page.write_text(
        _local_app(echarts_js).replace(
            '<script type="application/json" id="infino-data"></script>',
            f'<script type="application/json" id="infino-data">{inline}</script>',
        ),
        encoding="utf-8",
    )
    dom = _browser(chromium, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert "<title>rendered:2</title>" in dom.stdout
    assert 'data-series="2"' in dom.stdout and 'data-charts="1"' in dom.stdout
    assert "<canvas" in dom.stdout

    shot = tmp_path / "shot.png"
    taken = _browser(chromium, page, f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-1000:]
    _not_blank(image.open(shot).convert("RGB"))


async def test_app_speaks_the_apps_bridge_with_a_host(
    mcp: Client, call: Any, echarts_js: Path, chromium: str, tmp_path: Path
) -> None:
    """A minimal host page: answers ui/initialize, sends the tool result, reads what the App drew."""
    ids = await _seed(mcp, call)
    dash = await call(
        mcp,
        "create_dashboard",
        {"spec": {"title": "Sales", "panels": [{"viz_id": ids["line"]}, {"viz_id": ids["pie"]}]}},
    )
    result = await mcp.call_tool("render_dashboard", {"dashboard_id": dash["id"]})
    tool_result = {"content": [], "structuredContent": result.structured_content, "isError": False}
    host = tmp_path / "host.html"
    host.write_text(
        "<!doctype html><html><head><title>waiting</title></head><body><iframe id=app width=900 height=600></iframe>"
        "<script>\n"
        f"var app = {_js(_local_app(echarts_js))};\n"
        f"var result = {_js(tool_result)};\n"
        "var frame = document.getElementById('app'); var steps = [];\n"
        "window.addEventListener('message', function (e) {\n"
        "  var m = e.data; steps.push(m.method || 'reply');\n"
        "  if (m.method === 'ui/initialize') frame.contentWindow.postMessage({jsonrpc: '2.0', id: m.id, result: {\n"
        "    protocolVersion: m.params.protocolVersion, hostInfo: {name: 'test-host', version: '1'},\n"
        "    hostCapabilities: {}, hostContext: {}}}, '*');\n"
        "  if (m.method === 'ui/notifications/initialized') frame.contentWindow.postMessage({jsonrpc: '2.0',\n"
        "    method: 'ui/notifications/tool-result', params: result}, '*');\n"
        "  if (m.method === 'ui/notifications/size-changed') {\n"
        "    var root = frame.contentDocument.getElementById('root');\n"
        "    document.title = 'series=' + root.getAttribute('data-series') + ' charts=' + root.getAttribute('data-charts')\n"
        "      + ' steps=' + steps.join(',');\n"
        "  }\n"
        "});\n"
        "frame.srcdoc = app;\n"
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = _browser(chromium, host, "--dump-dom", "--enable-logging=stderr")
    if os.environ.get("H8_DUMP"):
        shutil.copy(host, "/tmp/h8_host.html")
        Path("/tmp/h8_host.log").write_text(dom.stderr)
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert (
        "<title>series=3 charts=2 steps=ui/initialize,ui/notifications/initialized,ui/notifications/size-changed</title>"
        in dom.stdout
    )


async def test_unknown_visualization_is_a_clear_error(mcp: Client) -> None:
    result = await mcp.call_tool("render_visualization", {"viz_id": "missing-viz"})
    assert result.is_error
    text = " ".join(getattr(b, "text", "") for b in result.content)
    assert "missing-viz" in text and "list_visualizations" in text
