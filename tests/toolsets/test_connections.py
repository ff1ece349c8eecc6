"""Connection and import-job tools through an MCP client against the local endpoint."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def new_connection(client, call, source_type: str = "postgres", **config) -> str:
    answer = await call(client, "create_connection", {"source_type": source_type, "config": {"name": "prod", **config}})
    return answer["result"]["id"]


async def test_get_sources_lists_types(mcp, call):
    result = await call(mcp, "get_sources")
    ids = {s["id"] for s in result["items"]}
    assert {"postgres", "elasticsearch", "s3"} <= ids
    assert result["page"]["total"] == len(result["items"])


async def test_get_sources_paging(mcp, call):
    result = await call(mcp, "get_sources", {"limit": 3, "offset": 1})
    assert len(result["items"]) == 3 and result["page"]["offset"] == 1 and result["page"]["next_offset"] == 4


async def test_connection_lifecycle_with_json_text_config(mcp, call):
    created = await call(
        mcp,
        "create_connection",
        {"source_type": "postgres", "config": '{"name": "prod", "host": "db", "password": "s3cret"}'},
    )
    conn = created["result"]
    assert conn["type"] == "postgres" and conn["config"]["host"] == "db"
    assert conn["config"]["password"] == "****"

    listed = await call(mcp, "get_connections")
    assert [c["id"] for c in listed["items"]] == [conn["id"]]
    assert "s3cret" not in json.dumps(listed)

    fetched = await call(mcp, "get_connection", {"connection_id": conn["id"]})
    assert fetched["result"]["config"]["host"] == "db"

    updated = await call(mcp, "update_connection", {"connection_id": conn["id"], "config": {"host": "db2"}})
    assert updated["result"]["config"]["host"] == "db2"

    deleted = await call(mcp, "delete_connection", {"connection_id": conn["id"]})
    assert deleted["acknowledged"] is True
    assert (await call(mcp, "get_connections"))["items"] == []


async def test_create_connection_invalid_json_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "create_connection", {"source_type": "postgres", "config": '{"host": "db",}'})
    assert "config is not valid JSON" in message and "line 1, column 15" in message
    assert sent_requests == []


async def test_create_connection_unknown_type(mcp, call_error):
    message = await call_error(mcp, "create_connection", {"source_type": "oracle9", "config": {}})
    assert "HTTP 400" in message and "oracle9" in message


async def test_create_connection_bad_type_name_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "create_connection", {"source_type": "a/b", "config": {}})
    assert "not a valid name" in message
    assert sent_requests == []


async def test_get_unknown_connection(mcp, call_error):
    message = await call_error(mcp, "get_connection", {"connection_id": "conn_missing"})
    assert "HTTP 404" in message and "get_connections lists them" in message


async def test_source_metadata_needs_infino_cloud(mcp, call, call_error, sent_requests):
    conn_id = await new_connection(mcp, call)
    sent_requests.clear()
    message = await call_error(mcp, "get_source_metadata", {"connection_id": conn_id, "dataset": "public.orders"})
    assert "HTTP 501" in message and "Infino cloud" in message
    (request,) = sent_requests
    assert request.method == "GET" and request.headers["x-infino-connection-id"] == conn_id


async def test_import_job_lifecycle(mcp, call, call_error):
    conn_id = await new_connection(mcp, call)
    job = (
        await call(
            mcp,
            "create_import_job",
            {
                "source_type": "postgres",
                "config": json.dumps(
                    {
                        "connection_id": conn_id,
                        "target_dataset": "orders",
                        "query": "SELECT * FROM orders",
                        "schedule": "0 * * * *",
                    }
                ),
            },
        )
    )["result"]
    assert job["status"] == "pending" and job["target_dataset"] == "orders"

    jobs = await call(mcp, "get_import_jobs")
    assert [j["job_id"] for j in jobs["items"]] == [job["job_id"]]

    blocked = await call_error(mcp, "delete_connection", {"connection_id": conn_id})
    assert "HTTP 409" in blocked and job["job_id"] in blocked

    assert (await call(mcp, "delete_import_job", {"job_id": job["job_id"]}))["acknowledged"] is True
    assert (await call(mcp, "get_import_jobs"))["items"] == []
    assert (await call(mcp, "delete_connection", {"connection_id": conn_id}))["acknowledged"] is True


async def test_import_job_bad_schedule(mcp, call, call_error):
    conn_id = await new_connection(mcp, call)
    message = await call_error(
        mcp,
        "create_import_job",
        {
            "source_type": "postgres",
            "config": {"connection_id": conn_id, "target_dataset": "orders", "schedule": "every hour"},
        },
    )
    assert "HTTP 400" in message and "cron" in message


async def test_delete_unknown_import_job(mcp, call_error):
    message = await call_error(mcp, "delete_import_job", {"job_id": "job_missing"})
    assert "HTTP 404" in message and "get_import_jobs lists them" in message


async def test_connection_tools_annotations(mcp):
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    for name in ("delete_connection", "delete_import_job"):
        assert tools[name].annotations.destructive_hint is True
    for name in (
        "get_sources",
        "get_connections",
        "get_connection",
        "get_source_metadata",
        "get_import_jobs",
        "get_connector_job_status",
    ):
        assert tools[name].annotations.read_only_hint is True
    assert tools["upload_file"].annotations.read_only_hint is False


async def test_destructive_connection_tools_need_confirmation(make_mcp, call, call_error, sent_requests):
    client = await make_mcp(allow_destructive=False)
    conn_id = await new_connection(client, call)
    sent_requests.clear()
    assert "Nothing was changed" in await call_error(client, "delete_connection", {"connection_id": conn_id})
    assert "Nothing was changed" in await call_error(client, "delete_import_job", {"job_id": "job_x"})
    assert sent_requests == []
