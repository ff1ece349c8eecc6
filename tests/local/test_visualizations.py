"""Visualization and dashboard CRUD through the local endpoint's HTTP API."""

from __future__ import annotations

import json

import pytest

from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio

RAW = {
    "title": "Orders by currency",
    "source": {
        "kind": "sql",
        "index": "shop-orders.v1",
        "sql": {"raw_query": 'SELECT currency, COUNT(*) AS count FROM "shop-orders.v1" GROUP BY currency'},
    },
    "chart": {"type": "bar"},
}


async def _create(endpoint, spec=RAW, path="/visualizations"):
    response = await endpoint.post(path, json=spec)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_fills_defaults_and_returns_envelope(endpoint):
    body = await _create(endpoint, {"source": {"index": "shop-orders.v1"}, "tags": ["a"]})
    assert set(body) == {"id", "kind", "created_at", "updated_at", "attributes"}
    assert body["kind"] == "visualization"
    attributes = body["attributes"]
    assert attributes["id"] == body["id"]
    assert attributes["schema_version"] == 1
    assert attributes["created_at"] == attributes["updated_at"] == body["created_at"]
    assert attributes["created_at"].endswith("Z")
    assert attributes["created_by"]
    assert attributes["title"] == "Untitled visualization"
    assert attributes["description"] == ""
    assert attributes["source"] == {
        "kind": "sql",
        "index": "shop-orders.v1",
        "sql": {"raw_query": None, "time_column": "@timestamp", "limit": 1000, "order_by": []},
    }
    assert attributes["chart"] == {"type": "bar"}
    assert attributes["mapping"] == {"x": None, "y": [], "series": None}
    assert attributes["filters"] == []
    assert attributes["options"] == {}
    assert attributes["tags"] == ["a"]


async def test_create_normalizes_short_mapping_forms(endpoint):
    spec = {
        "source": {"index": "shop-orders.v1", "sql": {"limit": 50}},
        "mapping": {"x": "currency", "y": ["count", "price"], "series_split_by": "region"},
        "aggregation_type": "sum",
        "filters": [{"field": "currency", "operator": "is", "value": "USD"}],
    }
    attributes = (await _create(endpoint, spec))["attributes"]
    assert attributes["mapping"] == {
        "x": {"column": "currency", "bucket": None},
        "y": [{"column": "count", "aggregation": "count"}, {"column": "price", "aggregation": "sum"}],
        "series": {"column": "region"},
    }
    (saved,) = attributes["filters"]
    assert saved["id"] and saved["enabled"] is True and saved["is_time_filter"] is False
    assert saved["query_type"] is None and saved["index"] is None


async def test_raw_query_infers_the_index(endpoint):
    spec = {"source": {"sql": {"raw_query": 'SELECT a FROM "logs-2024" LIMIT 3'}}}
    attributes = (await _create(endpoint, spec))["attributes"]
    assert attributes["source"]["index"] == "logs-2024"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"title": "no source"}, "source.index is required"),
        ({**RAW, "chart": {"type": "donut3d"}}, "chart.type 'donut3d' is not supported"),
        ({**RAW, "source": {"index": "d", "kind": "promql"}}, "source.kind 'promql'"),
        ({**RAW, "source": {"index": "d", "sql": {"limit": 0}}}, "source.sql.limit must be an integer from 1"),
        ({**RAW, "source": {"index": "d", "sql": {"limit": 10_001}}}, "source.sql.limit"),
        ({**RAW, "title": 5}, "title must be a string"),
        ({**RAW, "filters": [{"field": "a", "operator": "like"}]}, "filters[0].operator 'like' is not supported"),
        ({**RAW, "filters": {"field": "a"}}, "filters must be a list"),
        ({**RAW, "mapping": {"x": {"bucket": "day"}}}, "mapping.x needs a column name"),
        ({**RAW, "mapping": {"x": {"column": "t", "bucket": "fortnight"}}}, "bucket 'fortnight' is not understood"),
        ({**RAW, "mapping": {"y": [{"column": "p", "aggregation": "median"}]}}, "aggregation 'median' is not one of"),
        (
            {"source": {"index": "d"}, "mapping": {"y": [{"column": "p", "aggregation": "sum"}, "q"]}},
            "mixes aggregated",
        ),
        (
            {"source": {"index": "d"}, "mapping": {"x": {"column": "t", "bucket": "day"}, "y": ["p"]}},
            "needs an aggregation",
        ),
        ({"source": {"index": "d", "sql": {"order_by": [{"column": "a", "direction": "up"}]}}}, "direction of 'asc'"),
        (
            {"source": {"index": "d"}, "mapping": {"x": "a", "aggregation_type": "sum"}},
            (
                "mapping has an unknown key 'aggregation_type'; the allowed keys are x, y, series, series_split_by "
                "(aggregation_type belongs at the top level of the visualization)."
            ),
        ),
        (
            {"source": {"index": "d"}, "mapping": {"y": ["a"], "colour": "red"}},
            "mapping has an unknown key 'colour'; the allowed keys are x, y, series, series_split_by.",
        ),
        (
            {"source": {"index": "d"}, "mapping": {"y": [{"column": "p", "agg": "sum"}]}},
            "mapping.y[0] has an unknown key 'agg'; the allowed keys are column, aggregation, alias.",
        ),
        (
            {"source": {"index": "d"}, "mapping": {"x": {"column": "t", "interval": "day"}}},
            "mapping.x has an unknown key 'interval'; the allowed keys are column, bucket.",
        ),
        (
            {"source": {"index": "d"}, "mapping": {"series": {"column": "t", "bucket": "day"}}},
            "mapping.series has an unknown key 'bucket'; the allowed keys are column.",
        ),
    ],
)
async def test_invalid_specs_are_400_with_the_reason(endpoint, spec, message):
    response = await endpoint.post("/visualizations", json=spec)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["reason"]


async def _orders(endpoint) -> None:
    body = '{"index":{}}\n{"currency":"USD","price":3,"geo.city":"Rome"}\n'
    response = await endpoint.post("/shop-orders.v1/json", content=body)
    assert not response.json()["errors"], response.text


async def test_builder_columns_must_be_fields_of_the_dataset(endpoint):
    await _orders(endpoint)
    fields = "its fields are: currency, geo.city, price."
    for mapping, where in [
        ({"x": "curency", "y": ["count"]}, "mapping.x.column 'curency'"),
        ({"x": "currency", "y": [{"column": "prise", "aggregation": "sum"}]}, "mapping.y[0].column 'prise'"),
        ({"x": "currency", "y": ["count"], "series_split_by": "city"}, "mapping.series.column 'city'"),
    ]:
        response = await endpoint.post(
            "/visualizations", json={"source": {"index": "shop-orders.v1"}, "mapping": mapping}
        )
        assert response.status_code == 400, response.text
        reason = response.json()["error"]["reason"]
        assert reason == f"{where} is not a field of dataset 'shop-orders.v1'; {fields}"
    # Known fields (and COUNT(*) written as "count") are accepted; so is the SDK's short form.
    good = {"source": {"index": "shop-orders.v1"}, "aggregation_type": "sum",
            "mapping": {"x": "geo.city", "y": ["count", "price"], "series_split_by": "currency"}}  # fmt: skip
    created = await _create(endpoint, good)
    # An update is checked the same way; the stored object is unchanged by a refused patch.
    patched = await endpoint.patch(f"/visualizations/{created['id']}", json={"mapping": {"x": "nope"}})
    assert patched.status_code == 400
    assert "mapping.x.column 'nope' is not a field" in patched.json()["error"]["reason"]
    current = (await endpoint.get(f"/visualizations/{created['id']}")).json()["attributes"]
    assert current["mapping"]["x"]["column"] == "geo.city"


async def test_columns_are_not_checked_for_raw_queries_or_missing_datasets(endpoint):
    await _orders(endpoint)
    raw = {**RAW, "mapping": {"x": "currency_code", "y": ["n"]}}
    await _create(endpoint, raw)
    await _create(endpoint, {"source": {"index": "not-yet"}, "mapping": {"x": "anything", "y": ["count"]}})


async def test_body_must_be_a_json_object(endpoint):
    assert (await endpoint.post("/visualizations", content=b"[1, 2]")).status_code == 400
    response = await endpoint.post("/visualizations", content=b"{nope")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["reason"]


async def test_get_and_unknown_ids(endpoint):
    created = await _create(endpoint)
    response = await endpoint.get(f"/visualizations/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    for method in ("GET", "PATCH", "DELETE"):
        missing = await endpoint.request(method, "/visualizations/nope", json={} if method == "PATCH" else None)
        assert "Visualization 'nope' not found" in not_found_reason(missing, "list_visualizations")
    not_found_reason(await endpoint.post("/visualizations/nope/data", json={}), "list_visualizations")


async def test_merge_patch(endpoint):
    created = await _create(endpoint, {**RAW, "description": "d", "options": {"legend": True, "stacked": True}})
    patch = {
        "title": "Renamed",
        "description": None,
        "source": {"sql": {"limit": 200}},
        "options": {"legend": None, "donut": True},
        "mapping": {"y": ["count"]},
    }
    response = await endpoint.patch(f"/visualizations/{created['id']}", json=patch)
    assert response.status_code == 200, response.text
    updated = response.json()
    attributes = updated["attributes"]
    assert attributes["title"] == "Renamed"
    assert attributes["description"] == ""  # removed, so the default came back
    assert attributes["source"]["sql"]["limit"] == 200
    assert attributes["source"]["sql"]["raw_query"] == RAW["source"]["sql"]["raw_query"]
    assert attributes["source"]["index"] == "shop-orders.v1"
    assert attributes["options"] == {"stacked": True, "donut": True}
    assert attributes["mapping"]["y"] == [{"column": "count", "aggregation": "count"}]
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] >= created["updated_at"]
    again = (await endpoint.get(f"/visualizations/{created['id']}")).json()
    assert again == updated


async def test_patch_replaces_lists_whole(endpoint):
    spec = {**RAW, "filters": [{"field": "a", "operator": "exists"}, {"field": "b", "operator": "exists"}]}
    created = await _create(endpoint, spec)
    patch = {"filters": [{"field": "c", "operator": "does_not_exist"}]}
    attributes = (await endpoint.patch(f"/visualizations/{created['id']}", json=patch)).json()["attributes"]
    assert [f["field"] for f in attributes["filters"]] == ["c"]


async def test_patch_ignores_server_owned_fields(endpoint):
    created = await _create(endpoint)
    patch = {
        "id": "hijack",
        "schema_version": 99,
        "created_at": "1999-01-01T00:00:00Z",
        "created_by": "mallory",
        "updated_at": "1999-01-01T00:00:00Z",
        "title": "T",
    }
    response = await endpoint.patch(f"/visualizations/{created['id']}", json=patch)
    assert response.status_code == 200
    attributes = response.json()["attributes"]
    assert attributes["title"] == "T"
    for key in ("id", "schema_version", "created_at", "created_by"):
        assert attributes[key] == created["attributes"][key]
    assert attributes["updated_at"] != "1999-01-01T00:00:00Z"
    not_found_reason(await endpoint.get("/visualizations/hijack"), "list_visualizations")


async def test_invalid_patch_is_400_and_changes_nothing(endpoint):
    created = await _create(endpoint)
    response = await endpoint.patch(f"/visualizations/{created['id']}", json={"chart": {"type": "nope"}})
    assert response.status_code == 400
    assert (await endpoint.patch(f"/visualizations/{created['id']}", content=b'"x"')).status_code == 400
    assert (await endpoint.get(f"/visualizations/{created['id']}")).json() == created


async def test_create_ignores_server_owned_fields(endpoint):
    body = await _create(endpoint, {**RAW, "id": "mine", "created_by": "mallory", "schema_version": 7})
    assert body["id"] != "mine"
    assert body["attributes"]["created_by"] != "mallory"
    assert body["attributes"]["schema_version"] == 1


async def test_delete(endpoint):
    created = await _create(endpoint)
    response = await endpoint.delete(f"/visualizations/{created['id']}")
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    not_found_reason(await endpoint.get(f"/visualizations/{created['id']}"), "list_visualizations")
    not_found_reason(await endpoint.delete(f"/visualizations/{created['id']}"), "list_visualizations")


async def test_list_paging(endpoint):
    ids = [(await _create(endpoint, {**RAW, "title": f"v{i}"}))["id"] for i in range(5)]
    everything = (await endpoint.get("/visualizations")).json()
    assert set(everything) == {"items"}
    assert [item["id"] for item in everything["items"]] == ids
    assert all(item["kind"] == "visualization" and "attributes" in item for item in everything["items"])
    page = (await endpoint.get("/visualizations", params={"limit": 2, "offset": 1})).json()["items"]
    assert [item["id"] for item in page] == ids[1:3]
    tail = (await endpoint.get("/visualizations", params={"limit": 1000, "offset": 4})).json()["items"]
    assert [item["id"] for item in tail] == ids[4:]
    assert (await endpoint.get("/visualizations", params={"offset": 9})).json() == {"items": []}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"offset": -1}])
async def test_list_rejects_bad_paging(endpoint, params):
    response = await endpoint.get("/visualizations", params=params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]["reason"]


async def test_objects_survive_a_restart(tmp_path):
    from infino_mcp.local.services import open_services
    from infino_mcp.local.viz.objects import SavedObjects, normalize_visualization

    services = open_services(tmp_path / "d")
    store = SavedObjects("visualization", services.collection("visualizations"), normalize_visualization)
    saved = store.create(RAW, "admin")
    await services.aclose()
    reopened = open_services(tmp_path / "d")
    try:
        again = SavedObjects("visualization", reopened.collection("visualizations"), normalize_visualization)
        assert again.get(saved["id"]) == json.loads(json.dumps(saved))
    finally:
        await reopened.aclose()


# ---- dashboards -------------------------------------------------------------------------------------


async def test_dashboard_defaults_and_auto_layout(endpoint):
    a, b, c = [(await _create(endpoint))["id"] for _ in range(3)]
    spec = {
        "title": "Overview",
        "panels": [
            {"viz_id": a},
            {"viz_id": b},
            {"kind": "divider", "label": "Details"},
            {"kind": "markdown", "content": "# Notes"},
            {"viz_id": c, "layout": {"w": 48}},
        ],
    }
    body = await _create(endpoint, spec, "/dashboards")
    assert body["kind"] == "dashboard"
    attributes = body["attributes"]
    assert attributes["schema_version"] == 1 and attributes["options"] == {} and attributes["description"] == ""
    panels = attributes["panels"]
    assert [p["id"] for p in panels] == ["panel_0", "panel_1", "panel_2", "panel_3", "panel_4"]
    assert [p["kind"] for p in panels] == ["visualization", "visualization", "divider", "markdown", "visualization"]
    assert all(p["title_override"] is None for p in panels)
    assert panels[2]["label"] == "Details" and panels[3]["content"] == "# Notes"
    assert [p["layout"] for p in panels] == [
        {"x": 0, "y": 0, "w": 24, "h": 18},
        {"x": 24, "y": 0, "w": 24, "h": 18},
        {"x": 0, "y": 18, "w": 48, "h": 2},
        {"x": 0, "y": 20, "w": 24, "h": 8},
        {"x": 0, "y": 28, "w": 48, "h": 18},
    ]


async def test_dashboard_keeps_explicit_layouts_and_flows_after_them(endpoint):
    a = (await _create(endpoint))["id"]
    spec = {"panels": [{"viz_id": a, "layout": {"x": 12, "y": 0, "w": 36, "h": 10}, "id": "big"}, {"viz_id": a}]}
    attributes = (await _create(endpoint, spec, "/dashboards"))["attributes"]
    assert attributes["title"] == "Untitled dashboard"
    assert [p["id"] for p in attributes["panels"]] == ["big", "panel_1"]
    assert attributes["panels"][0]["layout"] == {"x": 12, "y": 0, "w": 36, "h": 10}
    assert attributes["panels"][1]["layout"] == {"x": 0, "y": 10, "w": 24, "h": 18}


@pytest.mark.parametrize(
    ("panels", "message"),
    [
        ([{"kind": "visualization"}], "needs viz_id"),
        ([{"viz_id": "missing"}], "'missing' is not a saved visualization"),
        ([{"kind": "markdown"}], "needs content"),
        ([{"kind": "chart"}], "kind 'chart' is not one of"),
        ([{"kind": "divider", "id": "x"}, {"kind": "divider", "id": "x"}], "not a unique string"),
        ([{"kind": "divider", "layout": {"x": 40, "y": 0, "w": 10, "h": 2}}], "fit the 48-unit-wide grid"),
        ([{"kind": "divider", "layout": {"w": -1}}], "non-negative integer"),
        ("nope", "panels must be a list"),
    ],
)
async def test_invalid_dashboards_are_400(endpoint, panels, message):
    response = await endpoint.post("/dashboards", json={"panels": panels})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["reason"]


async def test_dashboard_patch_list_and_delete(endpoint):
    a, b = [(await _create(endpoint))["id"] for _ in range(2)]
    created = await _create(endpoint, {"title": "D", "panels": [{"viz_id": a}]}, "/dashboards")
    url = f"/dashboards/{created['id']}"
    renamed = (await endpoint.patch(url, json={"title": "Q3", "id": "other"})).json()
    assert renamed["attributes"]["title"] == "Q3"
    assert renamed["id"] == created["id"]
    assert renamed["attributes"]["panels"] == created["attributes"]["panels"]
    panels = [*renamed["attributes"]["panels"], {"viz_id": b}]
    grown = (await endpoint.patch(url, json={"panels": panels})).json()["attributes"]["panels"]
    assert [p["viz_id"] for p in grown] == [a, b]
    assert grown[1]["layout"] == {"x": 0, "y": 18, "w": 24, "h": 18}
    listing = (await endpoint.get("/dashboards", params={"limit": 10})).json()["items"]
    assert [d["id"] for d in listing] == [created["id"]]
    assert (await endpoint.get(url)).json()["attributes"]["title"] == "Q3"
    assert (await endpoint.delete(url)).status_code == 200
    assert "Dashboard" in not_found_reason(await endpoint.get(url), "list_dashboards")
