"""Connections and import jobs on the local endpoint: stored, secrets masked, never run or queried."""

from __future__ import annotations

import httpx2
import pytest

from infino_mcp.local.api.connections import validate_cron
from infino_mcp.local.errors import ApiError
from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio

ES_CONFIG = {
    "config": {
        "name": "Production ES Cluster",
        "host": "https://es-cluster.example.com:9200",
        "username": "elastic",
        "password": "secret",
        "api_key": "k-123",
    }
}
SOURCE_FIELDS = {"id", "name", "category", "description", "capabilities", "disabled", "query_type", "auth_strategy"}


async def _connection(endpoint: httpx2.AsyncClient, source_type: str = "elasticsearch") -> dict:
    response = await endpoint.post(f"/source/{source_type}", json=ES_CONFIG)
    assert response.status_code == 200, response.text
    return response.json()


async def test_sources_list_documented_types(endpoint: httpx2.AsyncClient) -> None:
    sources = (await endpoint.get("/sources")).json()
    ids = {s["id"] for s in sources}
    assert {"elasticsearch", "opensearch", "postgres", "mysql", "snowflake", "bigquery", "datadog"} <= ids
    for source in sources:
        assert SOURCE_FIELDS <= set(source)
        assert source["local_support"] == "store-only"


async def test_connection_lifecycle_masks_secrets(endpoint: httpx2.AsyncClient) -> None:
    created = await _connection(endpoint)
    assert created["type"] == "elasticsearch"
    assert created["status"] == "stored"
    assert created["connection_id"] == created["id"]
    assert created["config"]["password"] == "****"
    assert created["config"]["api_key"] == "****"
    assert created["config"]["host"] == ES_CONFIG["config"]["host"]
    assert "Infino account" in created["message"]

    listed = (await endpoint.get("/sources/connections")).json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert "secret" not in str(listed)

    got = (await endpoint.get(f"/source/{created['id']}")).json()
    assert got["config"]["password"] == "****"
    assert got["name"] == "Production ES Cluster"

    # Sending the masked value back keeps the stored secret; other fields change.
    patched = await endpoint.patch(
        f"/source/{created['id']}",
        json={"config": {"host": "https://new-es:9200", "password": "****", "name": "Updated"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["host"] == "https://new-es:9200"
    assert patched.json()["name"] == "Updated"

    assert (await endpoint.delete(f"/source/{created['id']}")).json() == {"acknowledged": True}
    not_found_reason(await endpoint.get(f"/source/{created['id']}"), "get_connections")
    assert (await endpoint.get("/sources/connections")).json() == []


async def test_secrets_are_kept_on_disk_for_later(endpoint: httpx2.AsyncClient, local_services) -> None:
    created = await _connection(endpoint)
    await endpoint.patch(f"/source/{created['id']}", json={"config": {"password": "****"}})
    stored = local_services.collection("connections").get(created["id"])
    assert stored["config"]["password"] == "secret"


async def test_unknown_source_type_and_bad_config(endpoint: httpx2.AsyncClient) -> None:
    unknown = await endpoint.post("/source/oracle-9i", json=ES_CONFIG)
    assert unknown.status_code == 400
    assert "elasticsearch" in unknown.json()["error"]["reason"]
    bad = await endpoint.post("/source/postgres", json=["host"])
    assert bad.status_code == 400


async def test_querying_a_source_needs_infino_cloud(endpoint: httpx2.AsyncClient) -> None:
    conn = await _connection(endpoint)
    query = await endpoint.post(
        f"/source/{conn['id']}/logs/dsl",
        json={"query": '{"query": {"match_all": {}}}'},
        headers={"x-infino-connection-id": conn["id"]},
    )
    assert query.status_code == 501
    assert "Infino cloud" in query.json()["error"]["reason"]
    metadata = await endpoint.get(f"/source/{conn['id']}/logs/metadata")
    assert metadata.status_code == 501
    not_found_reason(await endpoint.post("/source/conn_missing/logs/dsl", json={"query": "x"}), "get_connections")
    not_found_reason(await endpoint.get("/source/conn_missing/logs/metadata"), "get_connections")


async def test_import_jobs_are_stored_but_never_run(endpoint: httpx2.AsyncClient) -> None:
    conn = await _connection(endpoint, "snowflake")
    config = {
        "connection_id": conn["id"],
        "source_dataset": "sales_data",
        "target_dataset": "sales-correlation",
        "query": "SELECT * FROM sales_data WHERE date >= '2024-01-01'",
        "schedule": "0 2 * * *",
    }
    created = await endpoint.put("/import/snowflake", json=config)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["source_id"] == conn["id"]
    assert job["target_dataset"] == "sales-correlation"
    assert job["status"] == "pending"
    assert job["schedule"] == "0 2 * * *"
    assert job["last_run"] is None
    assert "never runs" in job["message"]

    jobs = (await endpoint.get("/import/jobs")).json()
    assert [j["job_id"] for j in jobs] == [job["job_id"]]

    in_use = await endpoint.delete(f"/source/{conn['id']}")
    assert in_use.status_code == 409
    assert job["job_id"] in in_use.json()["error"]["reason"]

    assert (await endpoint.delete(f"/import/jobs/{job['job_id']}")).json() == {"acknowledged": True}
    assert (await endpoint.get("/import/jobs")).json() == []
    not_found_reason(await endpoint.delete(f"/import/jobs/{job['job_id']}"), "get_import_jobs")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"schedule": "0 2 * *"}, "5"),
        ({"schedule": "61 * * * *"}, "minute"),
        ({"schedule": "0 25 * * *"}, "hour"),
        ({"schedule": "0 0 * 13 *"}, "month"),
        ({"schedule": "*/0 * * * *"}, "step"),
        ({"target_dataset": ""}, "target_dataset"),
        ({"connection_id": None}, "connection_id"),
    ],
)
async def test_import_job_validation(endpoint: httpx2.AsyncClient, change: dict, expected: str) -> None:
    conn = await _connection(endpoint, "postgres")
    config = {"connection_id": conn["id"], "target_dataset": "t", "query": "SELECT 1", "schedule": "@daily", **change}
    response = await endpoint.put("/import/postgres", json=config)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["reason"]


async def test_import_job_needs_an_existing_matching_connection(endpoint: httpx2.AsyncClient) -> None:
    conn = await _connection(endpoint, "postgres")
    wrong_type = await endpoint.put("/import/mysql", json={"connection_id": conn["id"], "target_dataset": "t"})
    assert wrong_type.status_code == 400
    missing = await endpoint.put("/import/mysql", json={"connection_id": "conn_nope", "target_dataset": "t"})
    assert "conn_nope" in not_found_reason(missing, "get_connections")


@pytest.mark.parametrize(
    "schedule", ["* * * * *", "*/15 0-6 1,15 JAN-MAR mon-fri", "0 0 1 1 0", "0 0 * * 7", "@hourly", "5,10-20/5 * * * *"]
)
def test_valid_cron_expressions(schedule: str) -> None:
    validate_cron(schedule)


@pytest.mark.parametrize("schedule", ["", "* * * * * *", "a * * * *", "5-1 * * * *", "0 0 0 * *", "0 0 * * 8", 7])
def test_invalid_cron_expressions(schedule: object) -> None:
    with pytest.raises(ApiError) as caught:
        validate_cron(schedule)
    assert caught.value.status == 400
