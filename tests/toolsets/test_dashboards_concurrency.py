"""execute_dashboard's fan-out, checked with a mock backend that holds requests until their partners arrive.

No sleeps and no timing: each handler waits on an ``anyio.Event`` that is set
only when the requests it needs are in flight together. An implementation that
sent them one after the other would never set it; the ``fail_after`` guard then
turns that into a failed panel (and a failed test) instead of a hang.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import anyio
import httpx2
import pytest

pytestmark = pytest.mark.anyio

GUARD_SECONDS = 10
_VIZ_PATH = re.compile(r"^/visualizations/(?P<viz>[^/]+)(?P<data>/data)?$")


def dashboard(viz_ids: list[str], *, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    panels = [
        {"id": f"panel_{i}", "kind": "visualization", "viz_id": v, "layout": {"x": 0, "y": i, "w": 24, "h": 8}}
        for i, v in enumerate(viz_ids)
    ]
    return {
        "id": "d1",
        "kind": "dashboard",
        "attributes": {"id": "d1", "title": "Ops", "panels": panels + (extra or [])},
    }


class Backend:
    """A fake Infino that answers get/execute for visualizations and records what was in flight together."""

    def __init__(
        self,
        viz_ids: list[str],
        *,
        failing: frozenset[str] = frozenset(),
        wait_for_all: bool = False,
        extra_panels: list[dict[str, Any]] | None = None,
    ) -> None:
        self.dashboard = dashboard(viz_ids, extra=extra_panels)
        self.failing = failing
        self.in_flight: dict[str, set[str]] = defaultdict(set)
        self.seen_together: dict[str, set[str]] = {}
        self.pair_ready = {v: anyio.Event() for v in viz_ids}
        self.expected_total = 2 * len(viz_ids)
        self.arrived = 0
        self.all_ready = anyio.Event()
        self.wait_for_all = wait_for_all
        self.max_in_flight = 0
        self.current = 0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/dashboards/d1":
            return httpx2.Response(200, json=self.dashboard)
        match = _VIZ_PATH.match(request.url.path)
        assert match, request.url.path
        viz, part = match["viz"], "data" if match["data"] else "get"
        self.in_flight[viz].add(part)
        self.current += 1
        self.max_in_flight = max(self.max_in_flight, self.current)
        self.arrived += 1
        if self.in_flight[viz] == {"get", "data"}:
            self.seen_together[viz] = set(self.in_flight[viz])
            self.pair_ready[viz].set()
        if self.arrived == self.expected_total:
            self.all_ready.set()
        try:
            with anyio.fail_after(GUARD_SECONDS):
                await (self.all_ready if self.wait_for_all else self.pair_ready[viz]).wait()
        finally:
            self.in_flight[viz].discard(part)
            self.current -= 1
        if viz in self.failing:
            return httpx2.Response(404, json={"error": {"reason": f"Visualization '{viz}' not found"}})
        if part == "get":
            return httpx2.Response(
                200,
                json={
                    "id": viz,
                    "kind": "visualization",
                    "attributes": {"id": viz, "title": f"title {viz}", "chart": {"type": "bar"}},
                },
            )
        body = json.loads(request.content)
        return httpx2.Response(
            200,
            json={
                "columns": [{"name": "x", "type": "string"}, {"name": "n", "type": "number"}],
                "rows": [{"x": "a", "n": 1}, {"x": "b", "n": 2}],
                "metadata": {"row_count": 2, "truncated": False, "sent": body},
            },
        )


async def test_both_requests_of_a_panel_are_in_flight_at_once(make_mcp: Any) -> None:
    backend = Backend(["v1", "v2", "v3"], failing=frozenset({"v3"}))
    client = await make_mcp(transport=httpx2.MockTransport(backend))
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    result = await client.call_tool("execute_dashboard", {"dashboard_id": "d1"}, progress_callback=on_progress)
    assert not result.is_error, result.content
    run = result.structured_content
    assert backend.seen_together == {v: {"get", "data"} for v in ("v1", "v2", "v3")}
    panels = run["panels"]
    assert [p["viz_id"] for p in panels] == ["v1", "v2", "v3"]
    ok, failed = panels[:2], panels[2]
    assert all(p["error"] is None and p["data"]["rows"] == [{"x": "a", "n": 1}, {"x": "b", "n": 2}] for p in ok)
    assert [p["viz"]["title"] for p in ok] == ["title v1", "title v2"]
    assert failed["error"]["status"] == 404 and "not found" in failed["error"]["message"]
    assert "list_visualizations" in failed["error"]["message"]
    assert failed["data"] is None and failed["viz"] is None
    assert (run["succeeded"], run["failed"]) == (2, 1)
    assert sorted(progress) == [(1, 3), (2, 3), (3, 3)]


async def test_panels_run_concurrently(make_mcp: Any) -> None:
    backend = Backend(["v1", "v2", "v3", "v4"], wait_for_all=True)
    client = await make_mcp(transport=httpx2.MockTransport(backend))
    result = await client.call_tool("execute_dashboard", {"dashboard_id": "d1"})
    assert not result.is_error, result.content
    assert backend.max_in_flight == 8
    assert result.structured_content["succeeded"] == 4


async def test_max_concurrency_bounds_panels_in_flight(make_mcp: Any) -> None:
    backend = Backend(["v1", "v2", "v3", "v4", "v5"])
    client = await make_mcp(transport=httpx2.MockTransport(backend))
    result = await client.call_tool("execute_dashboard", {"dashboard_id": "d1", "max_concurrency": 2})
    assert not result.is_error, result.content
    assert backend.max_in_flight <= 4
    assert result.structured_content["succeeded"] == 5


async def test_setting_bounds_panels_in_flight(make_mcp: Any) -> None:
    backend = Backend(["v1", "v2", "v3"])
    client = await make_mcp(transport=httpx2.MockTransport(backend), dashboard_concurrency=1)
    result = await client.call_tool("execute_dashboard", {"dashboard_id": "d1"})
    assert not result.is_error, result.content
    assert backend.max_in_flight == 2


async def test_filters_and_time_range_reach_every_panel(make_mcp: Any) -> None:
    backend = Backend(["v1", "v2"])
    client = await make_mcp(transport=httpx2.MockTransport(backend))
    arguments = {
        "dashboard_id": "d1",
        "filters": [{"field": "region", "operator": "is", "value": "eu"}],
        "time_range": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
    }
    result = await client.call_tool("execute_dashboard", arguments)
    assert not result.is_error, result.content
    for panel in result.structured_content["panels"]:
        sent = panel["data"]["metadata"]["sent"]
        assert sent["time_range"] == arguments["time_range"]
        assert sent["filters"][0] | {"id": "x"} == {
            "id": "x",
            "field": "region",
            "operator": "is",
            "value": "eu",
            "enabled": True,
            "is_time_filter": False,
            "query_type": None,
            "index": None,
        }


async def test_cancelling_the_call_cancels_the_panels(make_mcp: Any) -> None:
    cancelled = anyio.Event()
    started = anyio.Event()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/dashboards/d1":
            return httpx2.Response(200, json=dashboard(["v1"]))
        started.set()
        try:
            await anyio.Event().wait()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    client = await make_mcp(transport=httpx2.MockTransport(handler))
    scope = anyio.CancelScope()

    async def run() -> None:
        with scope:
            await client.call_tool("execute_dashboard", {"dashboard_id": "d1"})

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(GUARD_SECONDS):
            await started.wait()
        scope.cancel()
        with anyio.fail_after(GUARD_SECONDS):
            await cancelled.wait()
