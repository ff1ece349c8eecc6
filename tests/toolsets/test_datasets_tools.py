"""Dataset and record tools (the lead's datasets.py) through an MCP client against the local endpoint."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp.types import ElicitResult

pytestmark = pytest.mark.anyio

PRODUCTS = [
    {"sku": "p1", "name": "Laptop", "price": 1200.0, "category": "computers"},
    {"sku": "p2", "name": "Mouse", "price": 25.5, "category": "accessories"},
    {"sku": "p3", "name": "Monitor", "price": 300.0, "category": "computers"},
]


async def load_products(client, call, dataset: str = "products") -> None:
    answer = await call(client, "upload_json_to_dataset", {"dataset": dataset, "records": PRODUCTS, "id_field": "sku"})
    assert {k: answer[k] for k in ("errors", "succeeded", "failed", "results")} == {
        "errors": False,
        "succeeded": 3,
        "failed": 0,
        "results": {"created": 3},
    }
    assert answer["items"] == [{"record": n, "id": f"p{n}", "result": "created", "error": None} for n in (1, 2, 3)]


async def test_ping(mcp, call):
    answer = await call(mcp, "ping")
    assert answer["version"] and answer["endpoint"] == "http://127.0.0.1:8765"


async def test_create_is_idempotent_and_listed(mcp, call):
    first = await call(mcp, "create_dataset", {"dataset": "web-logs"})
    assert first["acknowledged"] is True
    again = await call(mcp, "create_dataset", {"dataset": "web-logs"})
    assert again["acknowledged"] is True
    listed = await call(mcp, "get_datasets")
    assert [d["name"] for d in listed["datasets"]] == ["web-logs"]
    assert listed["datasets"][0]["docs_count"] == 0


async def test_get_datasets_pattern_and_paging(mcp, call):
    for name in ("logs-a", "logs-b", "logs-c", "metrics-a"):
        await call(mcp, "create_dataset", {"dataset": name})
    only_logs = await call(mcp, "get_datasets", {"pattern": "logs-*"})
    assert [d["name"] for d in only_logs["datasets"]] == ["logs-a", "logs-b", "logs-c"]
    page = await call(mcp, "get_datasets", {"limit": 2, "offset": 1})
    assert [d["name"] for d in page["datasets"]] == ["logs-b", "logs-c"]
    assert page["page"]["total"] == 4 and page["page"]["next_offset"] == 3 and "offset=3" in page["page"]["note"]


async def test_invalid_dataset_name_is_refused(mcp, call_error, sent_requests):
    for name in ("../sql", "a/b", "", "-x"):
        message = await call_error(mcp, "create_dataset", {"dataset": name})
        assert "not a valid name" in message
    assert sent_requests == []


async def test_upload_then_metadata_schema_and_record(mcp, call):
    await load_products(mcp, call)
    meta = await call(mcp, "get_dataset_metadata", {"dataset": "products"})
    assert meta["result"]["index"] == "products" and str(meta["result"]["docs.count"]) == "3"
    schema = await call(mcp, "get_dataset_schema", {"dataset": "products"})
    types = {f["field"]: f["infino_type"] for f in schema["fields"]}
    assert types["name"] == "String" and types["price"] == "Float"
    record = await call(mcp, "get_record", {"dataset": "products", "record_id": "p2"})
    assert record["found"] is True and record["source"]["name"] == "Mouse"


async def test_get_record_missing_is_not_found_not_an_error(mcp, call):
    await load_products(mcp, call)
    assert await call(mcp, "get_record", {"dataset": "products", "record_id": "nope"}) == {
        "id": "nope",
        "found": False,
        "source": None,
    }


async def test_get_record_bad_id_is_refused(mcp, call_error, sent_requests):
    assert "not a valid id" in await call_error(mcp, "get_record", {"dataset": "products", "record_id": "a/../b"})
    assert sent_requests == []


async def test_metadata_of_unknown_dataset(mcp, call_error):
    message = await call_error(mcp, "get_dataset_metadata", {"dataset": "missing"})
    assert "HTTP 404" in message and "get_datasets" in message


async def test_upload_ndjson_text(mcp, call, sent_requests):
    payload = '{"index": {"_id": "a"}}\n{"n": 1}\n{"index": {}}\n{"n": 2}'
    answer = await call(mcp, "upload_json_to_dataset", {"dataset": "nd", "records": payload})
    assert answer["succeeded"] == 2
    request = sent_requests[-1]
    assert request.headers["content-type"] == "application/x-ndjson" and request.content.endswith(b"\n")


async def test_upload_records_as_json_text(mcp, call):
    answer = await call(mcp, "upload_json_to_dataset", {"dataset": "txt", "records": json.dumps(PRODUCTS)})
    assert answer["succeeded"] == 3


async def test_upload_invalid_ndjson_is_refused_with_its_line(mcp, call_error, sent_requests):
    message = await call_error(mcp, "upload_json_to_dataset", {"dataset": "x", "records": '{"index": {}}\n{"n": 1,}'})
    assert "line 2" in message and "column 9" in message
    assert sent_requests == []


async def test_upload_empty_is_refused(mcp, call_error, sent_requests):
    assert "records is empty" in await call_error(mcp, "upload_json_to_dataset", {"dataset": "x", "records": []})
    assert sent_requests == []


async def test_upsert_insert_and_update(mcp, call):
    await load_products(mcp, call)
    inserted = await call(
        mcp, "upsert_to_dataset", {"query": "INSERT INTO products (sku, name, price) VALUES ('p4', 'Desk', 150.0)"}
    )
    assert inserted["affected_rows"] == 1
    updated = await call(mcp, "upsert_to_dataset", {"query": "UPDATE products SET price = 20.0 WHERE sku = 'p2'"})
    assert updated["affected_rows"] == 1
    rows = await call(mcp, "query_dataset_in_sql", {"query": "SELECT sku, price FROM products ORDER BY sku"})
    assert {r["sku"]: r["price"] for r in rows["rows"]} == {"p1": 1200.0, "p2": 20.0, "p3": 300.0, "p4": 150.0}


async def test_upsert_refuses_select(mcp, call_error, sent_requests):
    message = await call_error(mcp, "upsert_to_dataset", {"query": "SELECT * FROM products"})
    assert "query_dataset_in_sql" in message
    assert sent_requests == []


async def test_upload_metrics(mcp, call, call_error):
    await call(mcp, "create_dataset", {"dataset": "metrics"})
    answer = await call(mcp, "upload_metrics_to_dataset", {"dataset": "metrics", "metrics": 'up{job="api"} 1\n'})
    assert answer["result"]
    assert "metrics is empty" in await call_error(
        mcp, "upload_metrics_to_dataset", {"dataset": "metrics", "metrics": " "}
    )


async def test_delete_records_with_json_string_query(mcp, call):
    await load_products(mcp, call)
    deleted = await call(
        mcp, "delete_records", {"dataset": "products", "query": '{"query": {"term": {"category": "computers"}}}'}
    )
    assert deleted == {"deleted": 2}
    left = await call(mcp, "query_dataset_in_sql", {"query": "SELECT sku FROM products"})
    assert left["rows"] == [{"sku": "p2"}]


async def test_delete_records_invalid_json_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "delete_records", {"dataset": "products", "query": '{"query": {"term": }}'})
    assert "not valid JSON" in message and "line 1, column 20" in message
    assert sent_requests == []


async def test_enrich_dataset(mcp, call, call_error, sent_requests):
    await load_products(mcp, call)
    policy = {"match_field": "sku", "enrich_fields": ["name"]}
    answer = await call(mcp, "enrich_dataset", {"dataset": "products", "policy": json.dumps(policy)})
    assert answer["result"] is not None
    assert json.loads(sent_requests[-1].content) == policy
    sent_requests.clear()
    assert "not valid JSON" in await call_error(mcp, "enrich_dataset", {"dataset": "products", "policy": "{policy"})
    assert sent_requests == []


async def test_delete_dataset(mcp, call):
    await load_products(mcp, call)
    assert (await call(mcp, "delete_dataset", {"dataset": "products"}))["acknowledged"] is True
    assert (await call(mcp, "get_datasets"))["datasets"] == []


async def test_delete_without_confirmation_capability_does_not_run(make_mcp, call, call_error, sent_requests):
    client = await make_mcp(allow_destructive=False)
    await call(client, "create_dataset", {"dataset": "keep-me"})
    sent_requests.clear()
    message = await call_error(client, "delete_dataset", {"dataset": "keep-me"})
    assert "Nothing was changed" in message and "--allow-destructive" in message
    assert sent_requests == []


@pytest.mark.parametrize(("action", "deleted"), [("accept", True), ("decline", False)])
async def test_delete_asks_the_user_first(make_mcp, call, sent_requests, action, deleted):
    asked = []

    async def answer(context, params):
        asked.append(params.message)
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)

    client = await make_mcp(allow_destructive=False, client_options={"elicitation_callback": answer})
    await call(client, "create_dataset", {"dataset": "maybe"})
    sent_requests.clear()
    await client.call_tool("delete_dataset", {"dataset": "maybe"})
    assert len(asked) == 1 and "maybe" in asked[0]
    assert bool([r for r in sent_requests if r.method == "DELETE"]) is deleted


async def test_server_error_is_retried_then_reported(make_mcp, call_error, sent_requests):
    def storm(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, json={"error": {"reason": "overloaded"}})

    client = await make_mcp(transport=httpx2.MockTransport(storm), max_retries=2)
    message = await call_error(client, "get_datasets")
    assert "HTTP 503" in message and "overloaded" in message
    assert len(sent_requests) == 3


async def test_invalid_json_answer_is_reported(make_mcp, call_error):
    def broken(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"{not json", headers={"content-type": "application/json"})

    client = await make_mcp(transport=httpx2.MockTransport(broken))
    assert "not valid JSON" in await call_error(client, "ping")


async def test_read_only_hides_writers(make_mcp):
    client = await make_mcp(read_only=True, toolsets="datasets")
    names = {t.name for t in (await client.list_tools()).tools}
    assert names == {
        "ping",
        "get_datasets",
        "get_dataset_metadata",
        "get_dataset_schema",
        "get_record",
        "get_connector_job_status",
    }


async def test_an_id_field_missing_from_a_record_is_refused(mcp, call_error, sent_requests):
    message = await call_error(
        mcp, "upload_json_to_dataset", {"dataset": "ids", "records": [{"id": "a"}, {"name": "b"}], "id_field": "id"}
    )
    assert "id_field 'id' is missing from record 2" in message
    assert sent_requests == []


async def test_upload_keeps_each_records_id_and_result(mcp, call):
    await load_products(mcp, call)
    payload = "\n".join(
        [
            '{"index": {"_id": "p1"}}',
            '{"sku": "p1", "name": "Laptop", "price": 999.0}',
            '{"create": {"_id": "p2"}}',
            '{"sku": "p2"}',
            '{"index": {}}',
            '{"sku": "p9", "name": "Cable"}',
        ]
    )
    result = await mcp.call_tool("upload_json_to_dataset", {"dataset": "products", "records": payload})
    answer = result.structured_content
    assert answer["errors"] is True and (answer["succeeded"], answer["failed"]) == (2, 1)
    assert answer["results"] == {"updated": 1, "error": 1, "created": 1}
    first, second, third = answer["items"]
    assert first == {"record": 1, "id": "p1", "result": "updated", "error": None}
    assert second["record"] == 2 and second["id"] == "p2" and second["result"] == "error"
    assert second["error"]["type"] == "version_conflict_engine_exception"
    assert third["record"] == 3 and third["result"] == "created" and len(third["id"]) >= 8
    record = await call(mcp, "get_record", {"dataset": "products", "record_id": third["id"]})
    assert record["found"] is True and record["source"]["name"] == "Cable"
    text = result.content[0].text.splitlines()
    assert text[0] == "2 succeeded, 1 failed (1 updated, 1 error, 1 created)."
    assert text[1:5] == ["record,id,result", "1,p1,updated", "2,p2,error", f"3,{third['id']},created"]
    assert text[5].startswith("record 2 error: ") and "version_conflict" in text[5]


async def test_upload_results_cut_to_the_budget_keep_failures_and_counts(make_mcp, call):
    client = await make_mcp(max_result_bytes=2000)
    lines = []
    for n in range(300):
        lines += ['{"create": {"_id": "dup"}}' if n == 250 else '{"index": {"_id": "r%d"}}' % n, '{"n": %d}' % n]
    lines[0] = '{"index": {"_id": "dup"}}'
    answer = await call(client, "upload_json_to_dataset", {"dataset": "many", "records": "\n".join(lines)})
    assert (answer["succeeded"], answer["failed"]) == (299, 1)
    assert answer["results"] == {"created": 299, "error": 1}
    assert 10 < len(answer["items"]) < 300
    assert answer["items"][0]["record"] == 251 and answer["items"][0]["result"] == "error"
    assert [i["record"] for i in answer["items"][1:4]] == [1, 2, 3]
    assert answer["page"]["truncated"] is True and answer["page"]["total"] == 300
    note = answer["page"]["note"]
    assert f"Listed {len(answer['items'])} of 300 items (failures first)" in note and "2000-byte result budget" in note
