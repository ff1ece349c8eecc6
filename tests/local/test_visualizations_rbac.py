"""Who may see, change and run a visualization: whoever may read its dataset's records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2
import pytest

pytestmark = pytest.mark.anyio

ROLE = {
    "Version": "2025-01-01",
    "Permissions": [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["shop-*"]}],
}


async def _ingest(client: httpx2.AsyncClient, dataset: str, docs: list[dict]) -> None:
    lines = []
    for doc in docs:
        lines += [json.dumps({"index": {}}), json.dumps(doc)]
    response = await client.post(
        f"/{dataset}/json", content="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def analyst(endpoint, endpoint_as) -> AsyncIterator[httpx2.AsyncClient]:
    """A client signed as a user who may read records of ``shop-*`` only."""
    await _ingest(endpoint, "shop-a", [{"n": 1}, {"n": 2}])
    await _ingest(endpoint, "secret", [{"n": 3}])
    assert (await endpoint.put("/role/shop-reader", json=ROLE)).status_code == 200
    user = {"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": ["shop-reader"]}
    keys = (await endpoint.put("/user/ana", json=user)).json()
    yield endpoint_as(keys["access_key"], keys["secret_key"])


def _spec(dataset: str, sql: str | None = None) -> dict:
    return {"source": {"index": dataset, "sql": {"raw_query": sql}}, "mapping": {"y": ["count"]}}


async def test_users_work_with_visualizations_of_datasets_they_can_read(endpoint, analyst):
    secret = (await endpoint.post("/visualizations", json=_spec("secret"))).json()["id"]
    denied = await analyst.post("/visualizations", json=_spec("secret"))
    assert denied.status_code == 403
    assert "secret" in denied.json()["error"]["reason"]

    created = await analyst.post("/visualizations", json=_spec("shop-a"))
    assert created.status_code == 201
    mine = created.json()
    assert mine["attributes"]["created_by"] == "ana"
    data = (await analyst.post(f"/visualizations/{mine['id']}/data", json={})).json()
    assert data["rows"] == [{"count": 2}]

    listing = (await analyst.get("/visualizations")).json()["items"]
    assert [item["id"] for item in listing] == [mine["id"]]
    assert len((await endpoint.get("/visualizations")).json()["items"]) == 2

    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/data")]:
        response = await analyst.request(method, f"/visualizations/{secret}{path}", json={})
        assert response.status_code == 403, (method, path)

    moved = await analyst.patch(f"/visualizations/{mine['id']}", json={"source": {"index": "secret"}})
    assert moved.status_code == 403
    assert (await analyst.get(f"/visualizations/{mine['id']}")).json()["attributes"]["source"]["index"] == "shop-a"


async def test_a_raw_query_runs_with_the_callers_permissions(analyst):
    sneaky = _spec("shop-a", "SELECT n FROM secret")
    viz = (await analyst.post("/visualizations", json=sneaky)).json()["id"]
    response = await analyst.post(f"/visualizations/{viz}/data", json={})
    assert response.status_code == 403


async def test_dashboards_need_only_a_signed_request(endpoint, analyst):
    viz = (await analyst.post("/visualizations", json=_spec("shop-a"))).json()["id"]
    created = await analyst.post("/dashboards", json={"title": "Mine", "panels": [{"viz_id": viz}]})
    assert created.status_code == 201
    assert (await endpoint.get(f"/dashboards/{created.json()['id']}")).status_code == 200


async def test_unknown_columns_list_only_fields_the_caller_may_see(endpoint, endpoint_as, analyst):
    bad = {"source": {"index": "secret"}, "mapping": {"x": "nope", "y": ["count"]}}
    denied = await analyst.post("/visualizations", json=bad)
    assert denied.status_code == 403  # no field list for a dataset the caller cannot read

    await _ingest(endpoint, "shop-b", [{"n": 1, "salary": 9}])
    role = {
        "Version": "2025-01-01",
        "Permissions": [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["shop-b"],
                         "Fields": {"Deny": ["salary"]}}],
    }  # fmt: skip
    assert (await endpoint.put("/role/no-salary", json=role)).status_code == 200
    user = {"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": ["no-salary"]}
    keys = (await endpoint.put("/user/bo", json=user)).json()
    bo = endpoint_as(keys["access_key"], keys["secret_key"])
    response = await bo.post("/visualizations", json={**bad, "source": {"index": "shop-b"}})
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == (
        "mapping.x.column 'nope' is not a field of dataset 'shop-b'; its fields are: n."
    )
