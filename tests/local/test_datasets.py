"""Datasets and records through the local endpoint's HTTP API (signed, in-process)."""

from __future__ import annotations

import json

import pytest

from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio


def ndjson(*lines: dict) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


async def bulk(endpoint, dataset: str, *lines: dict) -> dict:
    response = await endpoint.post(
        f"/{dataset}/json", content=ndjson(*lines), headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_ping(endpoint):
    response = await endpoint.get("/")
    assert response.status_code == 200
    assert "version" in response.json()


async def test_create_conflict_list_and_delete(endpoint):
    created = await endpoint.put("/Logs.2024")
    assert created.status_code == 200
    assert created.json() == {"acknowledged": True, "shards_acknowledged": True, "index": "Logs.2024"}
    assert (await endpoint.put("/Logs.2024")).status_code == 409
    assert (await endpoint.put("/logs.2024")).status_code == 200  # names are case-sensitive

    listing = (await endpoint.get("/metadata")).json()
    assert [row["index"] for row in listing] == ["Logs.2024", "logs.2024"]
    row = listing[0]
    assert set(row) == {
        "health", "status", "index", "uuid", "pri", "rep",
        "docs.count", "docs.deleted", "store.size", "pri.store.size",
    }  # fmt: skip
    assert all(isinstance(value, str) for value in row.values())
    assert row["docs.count"] == "0"

    assert (await endpoint.delete("/Logs.2024")).json() == {"acknowledged": True}
    missing = await endpoint.get("/Logs.2024/metadata")
    assert "not found" in not_found_reason(missing, "get_datasets")
    not_found_reason(await endpoint.delete("/Logs.2024"), "get_datasets")


@pytest.mark.parametrize("name", ["metadata", "sql", "users", "roles", "fino", "sources", "_connectors", "_hidden"])
async def test_reserved_names_are_refused(endpoint, name):
    response = await endpoint.put(f"/{name}")
    assert response.status_code == 400, response.text


async def test_bulk_actions_and_item_results(endpoint):
    result = await bulk(
        endpoint,
        "orders",
        {"index": {"_id": "1"}},
        {"item": "lamp", "qty": 1, "geo": {"city": "Rome"}},
        {"index": {}},
        {"item": "desk", "qty": 2},
        {"create": {"_id": "1"}},
        {"item": "dup"},
        {"update": {"_id": "1"}},
        {"doc": {"geo": {"country": "IT"}, "qty": 3}},
        {"update": {"_id": "missing"}},
        {"doc": {"qty": 1}},
        {"delete": {"_id": "nope"}},
        {"index": {"_id": "bad"}},
        {"qty": "not a number"},
    )
    assert result["errors"] is True
    items = result["items"]
    assert [next(iter(i)) for i in items] == ["index", "index", "create", "update", "update", "delete", "index"]
    assert items[0]["index"]["result"] == "created" and items[0]["index"]["status"] == 201
    generated = items[1]["index"]["_id"]
    assert len(generated) == 32
    assert items[2]["create"]["status"] == 409
    assert items[2]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert items[3]["update"]["result"] == "updated"
    assert items[4]["update"]["status"] == 404
    assert items[5]["delete"]["result"] == "not_found"
    assert items[6]["index"]["status"] == 400 and "qty" in items[6]["index"]["error"]["reason"]

    got = (await endpoint.get("/orders/doc/1")).json()
    assert got["found"] is True and got["_id"] == "1" and got["_index"] == "orders"
    assert got["_source"] == {"item": "lamp", "qty": 3, "geo": {"city": "Rome", "country": "IT"}}
    assert (await endpoint.get(f"/orders/doc/{generated}")).json()["_source"] == {"item": "desk", "qty": 2}
    missing = await endpoint.get("/orders/doc/bad")
    assert missing.status_code == 404 and missing.json()["found"] is False
    assert (await endpoint.get("/orders/metadata")).json()["docs.count"] == "2"


async def test_index_is_an_upsert_and_delete_removes(endpoint):
    await bulk(endpoint, "kv", {"index": {"_id": "a"}}, {"v": 1}, {"index": {"_id": "b"}}, {"v": 2})
    result = await bulk(endpoint, "kv", {"index": {"_id": "a"}}, {"v": 10, "extra": "x"}, {"delete": {"_id": "b"}})
    assert result["errors"] is False
    assert result["items"][0]["index"]["result"] == "updated"
    assert result["items"][1]["delete"]["result"] == "deleted"
    assert (await endpoint.get("/kv/doc/a")).json()["_source"] == {"v": 10, "extra": "x"}
    assert (await endpoint.get("/kv/doc/b")).status_code == 404
    assert (await endpoint.get("/kv/metadata")).json()["docs.count"] == "1"


async def test_original_document_round_trips(endpoint):
    document = {
        "@timestamp": "2024-03-05T10:00:00+02:00",
        "score": 7,
        "_meta": {"owner": "ops"},
        "a.b": "dotted key",
        "tags": ["x", "y"],
        "items": [{"k": 1}, {"k": 2, "v": "b"}],
        "nothing": None,
        "empty": [],
        "é/ü": "unicode",
    }
    await bulk(endpoint, "fidelity", {"index": {"_id": "id with spaces/é"}}, document)
    got = await endpoint.get("/fidelity/doc/id%20with%20spaces%2F%C3%A9")
    assert got.status_code == 200, got.text
    assert got.json()["_source"] == document


async def test_schema_types_and_reserved_field_names(endpoint):
    await bulk(
        endpoint,
        "typed",
        {"index": {}},
        {"@timestamp": "2024-01-01T00:00:00Z", "msg": "hi", "n": 1, "x": 2.5, "ok": True, "score": 3,
         "_private": "p", "geo": {"city": "Rome"}, "tags": ["a"], "objs": [{"a": 1}]},
        {"index": {}},
        {"n": 2.5},
    )  # fmt: skip
    schema = (await endpoint.get("/typed/_schema")).json()
    types = {name: spec["infino_type"] for name, spec in schema.items()}
    assert types == {
        "@timestamp": "ISO8601Date", "msg": "String", "n": "Float", "x": "Float", "ok": "Boolean",
        "score": "Integer", "_private": "String", "geo.city": "String", "tags": "Array", "objs": "Object",
    }  # fmt: skip
    assert all(spec["source"] for spec in schema.values())


async def test_values_are_normalized_or_refused_per_item(endpoint):
    result = await bulk(
        endpoint,
        "norm",
        {"index": {"_id": "1"}},
        {"i": 1, "f": 1.5, "s": "text", "b": True, "t": "2024-01-01T00:00:00Z", "l": [1, 2]},
        {"index": {"_id": "2"}},
        {"i": 2.0, "f": 3, "s": 12, "b": "false", "t": "2024-01-02", "l": 5},
        {"index": {"_id": "3"}},
        {"t": "yesterday"},
        {"index": {"_id": "4"}},
        {"b": "maybe"},
        {"index": {"_id": "5"}},
        {"i": 2**70},
        {"index": {"_id": "6"}},
        {"f": float("nan"), "i": None},
    )
    statuses = [item["index"]["status"] for item in result["items"]]
    assert statuses == [201, 201, 400, 400, 400, 201]
    rows = await endpoint.post("/sql", json={"query": "SELECT _id, i, f, s, b, t, l FROM norm ORDER BY _id"})
    assert rows.status_code == 200, rows.text
    values = [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in rows.json()["rows"]]
    assert values[1] == {"_id": "2", "i": 2, "f": 3.0, "s": "12", "b": False, "t": "2024-01-02T00:00:00.000Z", "l": [5]}
    assert values[2]["_id"] == "6" and values[2]["f"] is None
    assert (await endpoint.get("/norm/doc/6")).json()["_source"] == {"f": None, "i": None}


async def test_bulk_refuses_malformed_bodies(endpoint):
    bad_json = await endpoint.post("/x/json", content='{"index": {}}\n{not json}\n')
    assert bad_json.status_code == 400 and "Line [2]" in bad_json.json()["error"]["reason"]
    bad_action = await endpoint.post("/x/json", content='{"upsert": {}}\n{}\n')
    assert bad_action.status_code == 400 and "upsert" in bad_action.json()["error"]["reason"]


async def test_delete_by_query(endpoint):
    pytest.importorskip("infino_mcp.local.querydsl.search")
    await bulk(
        endpoint,
        "logs",
        *[
            line
            for i in range(10)
            for line in ({"index": {"_id": str(i)}}, {"level": "error" if i < 4 else "info", "n": i})
        ],
    )
    response = await endpoint.patch("/logs", json={"query": {"term": {"level": "error"}}})
    assert response.status_code == 200, response.text
    assert response.json() == 4
    assert (await endpoint.get("/logs/metadata")).json()["docs.count"] == "6"


async def test_enrich_policy_is_stored_and_reported(endpoint):
    await endpoint.put("/people")
    policy = {"match_field": "email", "enrich_fields": ["name"]}
    response = await endpoint.post("/people/enrich_dataset", json=policy)
    assert response.status_code == 200 and response.json()["acknowledged"] is True
    assert (await endpoint.get("/people/metadata")).json()["enrich_policy"] == policy
    assert (await endpoint.post("/people/enrich_dataset", content="[1]")).status_code == 400


async def test_unknown_dataset_errors(endpoint):
    not_found_reason(await endpoint.get("/nope/_schema"), "get_datasets")
    not_found_reason(await endpoint.get("/nope/doc/1"), "get_datasets")


async def test_unsigned_requests_are_refused(endpoint):
    import httpx2

    async with httpx2.AsyncClient(transport=endpoint._transport, base_url=str(endpoint.base_url)) as anonymous:
        assert (await anonymous.get("/metadata")).status_code == 401
