"""Resources and completions through the MCP client, backed by the local endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import PromptReference, ResourceTemplateReference

pytestmark = pytest.mark.anyio

DATASET = "web-logs.2026"
LOGS = [
    {"status": 200, "path": "/", "agent": "x" * 500},
    {"status": 404, "path": "/missing", "agent": "curl"},
    {"status": 200, "path": "/about", "agent": "curl"},
    {"status": 500, "path": "/api", "agent": "curl"},
]


async def _read_json(client: Client, uri: str) -> Any:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1 and contents[0].mime_type == "application/json"
    return json.loads(contents[0].text)


async def _seed(client: Client, call: Any) -> tuple[str, str]:
    await call(client, "upload_json_to_dataset", {"dataset": DATASET, "records": LOGS})
    await call(client, "create_dataset", {"dataset": "empty-one"})
    spec = {
        "title": "Requests by status",
        "source": {
            "kind": "sql",
            "index": DATASET,
            "sql": {"raw_query": f'SELECT status, COUNT(*) AS n FROM "{DATASET}" GROUP BY status'},
        },
        "chart": {"type": "bar"},
    }
    viz = await call(client, "create_visualization", {"spec": spec})
    dash = await call(client, "create_dashboard", {"spec": {"title": "Traffic", "panels": [{"viz_id": viz["id"]}]}})
    return viz["id"], dash["id"]


async def test_listing(mcp: Client) -> None:
    resources = {r.uri: r for r in (await mcp.list_resources()).resources}
    assert resources["infino://datasets"].mime_type == "application/json"
    templates = {t.uri_template: t for t in (await mcp.list_resource_templates()).resource_templates}
    for uri in ("infino://datasets/{name}/schema", "infino://visualizations/{id}", "infino://dashboards/{id}"):
        assert templates[uri].mime_type == "application/json"


async def test_datasets_schema_and_samples(mcp: Client, call: Any) -> None:
    await _seed(mcp, call)
    datasets = await _read_json(mcp, "infino://datasets")
    by_name = {d["name"]: d for d in datasets}
    assert by_name[DATASET]["docs_count"] == 4
    assert by_name["empty-one"]["docs_count"] == 0
    assert [d["name"] for d in datasets] == sorted(by_name)

    schema = await _read_json(mcp, f"infino://datasets/{DATASET}/schema")
    assert schema["dataset"] == DATASET and schema["sql_name"] == f'"{DATASET}"'
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert {"status", "path", "agent"} <= set(fields)
    assert len(schema["samples"]) == 3
    assert all({"status", "path"} <= set(row) for row in schema["samples"])
    assert all(len(str(row.get("agent", ""))) <= 203 for row in schema["samples"])


async def test_missing_dataset_is_not_found(mcp: Client) -> None:
    with pytest.raises(MCPError) as caught:
        await mcp.read_resource("infino://datasets/nope/schema")
    assert caught.value.code == -32602
    assert caught.value.message.endswith("not found; infino://datasets lists what exists.")


async def test_visualization_and_dashboard(mcp: Client, call: Any) -> None:
    viz_id, dash_id = await _seed(mcp, call)
    viz = await _read_json(mcp, f"infino://visualizations/{viz_id}")
    assert viz["id"] == viz_id and viz["attributes"]["title"] == "Requests by status"
    dash = await _read_json(mcp, f"infino://dashboards/{dash_id}")
    assert dash["id"] == dash_id and dash["attributes"]["panels"][0]["viz_id"] == viz_id
    with pytest.raises(MCPError) as caught:
        await mcp.read_resource("infino://visualizations/does-not-exist")
    assert caught.value.code == -32602 and "list_visualizations" in caught.value.message


async def test_completions_from_the_live_service(mcp: Client, call: Any) -> None:
    viz_id, dash_id = await _seed(mcp, call)
    schema_ref = ResourceTemplateReference(type="ref/resource", uri="infino://datasets/{name}/schema")
    assert (await mcp.complete(schema_ref, {"name": "name", "value": "web"})).completion.values == [DATASET]
    assert set((await mcp.complete(schema_ref, {"name": "name", "value": ""})).completion.values) >= {
        DATASET,
        "empty-one",
    }

    viz_ref = ResourceTemplateReference(type="ref/resource", uri="infino://visualizations/{id}")
    assert (await mcp.complete(viz_ref, {"name": "id", "value": viz_id[:3]})).completion.values == [viz_id]
    assert viz_id in (await mcp.complete(viz_ref, {"name": "id", "value": "status"})).completion.values
    dash_ref = ResourceTemplateReference(type="ref/resource", uri="infino://dashboards/{id}")
    assert (await mcp.complete(dash_ref, {"name": "id", "value": ""})).completion.values == [dash_id]

    prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    with_dataset = [name for name, p in prompts.items() if any(a.name == "dataset" for a in p.arguments or [])]
    assert with_dataset, "some prompt takes a dataset argument"
    prompt_ref = PromptReference(type="ref/prompt", name=with_dataset[0])
    assert (await mcp.complete(prompt_ref, {"name": "dataset", "value": "emp"})).completion.values == ["empty-one"]
    unrelated = await mcp.complete(prompt_ref, {"name": "question", "value": "a"})
    assert unrelated.completion.values == []


async def test_resources_work_on_the_legacy_protocol(tool_settings: Any, infino_client: Any, call: Any) -> None:
    from infino_mcp.server import build_server

    async with Client(build_server(tool_settings, client=infino_client), mode="legacy") as legacy:
        await call(legacy, "create_dataset", {"dataset": "legacy-ds"})
        names = [d["name"] for d in await _read_json(legacy, "infino://datasets")]
        assert "legacy-ds" in names
        ref = ResourceTemplateReference(type="ref/resource", uri="infino://datasets/{name}/schema")
        assert (await legacy.complete(ref, {"name": "name", "value": "leg"})).completion.values == ["legacy-ds"]
