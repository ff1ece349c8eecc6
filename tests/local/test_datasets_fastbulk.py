"""Bulk requests of new, id-less documents (the Arrow fast path) give the same results as
the general path: values, per-item refusals, new fields, malformed bodies."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


FILL = [{"msg": "fill"}] * 70  # the fast path takes requests of 64 documents or more


def body(docs: list[dict | str]) -> str:
    return "".join('{"index":{}}\n' + (d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs)


async def post(endpoint, dataset: str, docs: list[dict | str]) -> dict:
    response = await endpoint.post(f"/{dataset}/json", content=body(docs))
    assert response.status_code == 200, response.text
    return response.json()


def plain(envelope: dict) -> list[dict]:
    return [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in envelope["rows"]]


SEED = {"@timestamp": "2024-01-01T00:00:00Z", "msg": "seed", "n": 1, "x": 0.5, "ok": True,
        "geo": {"city": "Rome"}, "tags": ["a"], "score": 1}  # fmt: skip


async def test_known_fields_round_trip(endpoint):
    await post(endpoint, "fast", [SEED])
    docs = [
        {"@timestamp": "2024-01-02T02:00:00+02:00", "msg": "two", "n": 2, "x": 3, "ok": False,
         "geo": {"city": "Oslo"}, "tags": ["b", "c"], "score": 2},
        {"msg": "sparse"},
        {"@timestamp": "2024-01-03", "n": None, "tags": [], "geo": {}},
    ]  # fmt: skip
    result = await post(endpoint, "fast", docs + FILL)
    assert result["errors"] is False
    ids = [item["index"]["_id"] for item in result["items"]][:3]
    assert len(set(ids)) == 3 and all(item["index"]["status"] == 201 for item in result["items"])
    assert all(len(i) == 32 for i in ids)
    for doc_id, doc in zip(ids, docs, strict=True):
        assert (await endpoint.get(f"/fast/doc/{doc_id}")).json()["_source"] == doc
    query = (
        'SELECT "@timestamp", msg, n, x, ok, "geo.city", tags, score FROM fast '
        "WHERE coalesce(msg, '') NOT IN ('seed', 'fill') ORDER BY coalesce(msg, 'zzz')"
    )
    rows = plain((await endpoint.post("/sql", json={"query": query})).json())
    assert rows == [
        {"@timestamp": None, "msg": "sparse", "n": None, "x": None, "ok": None, "geo.city": None, "tags": None,
         "score": None},
        {"@timestamp": "2024-01-02T00:00:00.000Z", "msg": "two", "n": 2, "x": 3.0, "ok": False, "geo.city": "Oslo",
         "tags": ["b", "c"], "score": 2},
        {"@timestamp": "2024-01-03T00:00:00.000Z", "msg": None, "n": None, "x": None, "ok": None, "geo.city": None,
         "tags": [], "score": None},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "status"),
    [
        ({"n": "7"}, 201),  # coerced by the general path
        ({"n": "seven"}, 400),
        ({"tags": "solo"}, 201),  # a scalar into a list column becomes a one-item list
        ('{"x": NaN}', 201),
        ({"brand_new": "field"}, 201),
        ({"n": 2.5}, 201),  # widens the integer column
    ],
)
async def test_documents_the_fast_path_cannot_take_fall_back(endpoint, doc, status):
    await post(endpoint, "mixed", [SEED])
    result = await post(endpoint, "mixed", [{"msg": "before"}, doc, {"msg": "after"}, *FILL])
    assert [item["index"]["status"] for item in result["items"]][:3] == [201, status, 201]
    assert all(item["index"]["status"] == 201 for item in result["items"][3:])
    count = plain((await endpoint.post("/sql", json={"query": "SELECT count(*) AS c FROM mixed"})).json())
    assert count == [{"c": 73 + (status == 201)}]


async def test_large_request_into_a_new_dataset_learns_fields_then_goes_fast(endpoint):
    docs = [{"i": i, "kind": "even" if i % 2 == 0 else "odd"} for i in range(1200)]
    docs[900]["late"] = "2024-05-01T00:00:00Z"
    result = await post(endpoint, "learned", docs)
    assert result["errors"] is False and len(result["items"]) == 1200
    schema = (await endpoint.get("/learned/_schema")).json()
    assert {k: v["infino_type"] for k, v in schema.items()} == {"i": "Integer", "kind": "String", "late": "ISO8601Date"}
    query = "SELECT count(*) AS c, sum(i) AS s, count(late) AS l FROM learned"
    assert plain((await endpoint.post("/sql", json={"query": query})).json()) == [{"c": 1200, "s": 719400, "l": 1}]


async def test_malformed_line_writes_nothing(endpoint):
    await post(endpoint, "strict", [SEED])
    response = await endpoint.post("/strict/json", content=body([{"msg": "ok"}, "{broken", {"msg": "ok2"}, *FILL]))
    assert response.status_code == 400 and "Line [4]" in response.json()["error"]["reason"]
    count = plain((await endpoint.post("/sql", json={"query": "SELECT count(*) AS c FROM strict"})).json())
    assert count == [{"c": 1}]


async def test_given_ids_take_the_fast_path_only_when_new(endpoint):
    await post(endpoint, "ids", [SEED])
    lines = [{"index": {"_id": "Ab"}}, {"msg": "upper"}, {"index": {"_id": "ab"}}, {"msg": "lower"}]
    first = await endpoint.post("/ids/json", content="".join(json.dumps(x) + "\n" for x in lines))
    assert [i["index"]["result"] for i in first.json()["items"]] == ["created", "created"]
    lines = [{"index": {"_id": "ab"}}, {"msg": "again"}, {"create": {"_id": "new"}}, {"msg": "new"}]
    second = await endpoint.post("/ids/json", content="".join(json.dumps(x) + "\n" for x in lines))
    assert [i["index" if "index" in i else "create"]["result"] for i in second.json()["items"]] == [
        "updated",
        "created",
    ]
    many = [line for n in range(80) for line in ({"index": {"_id": f"m{n}"}}, {"msg": "many", "n": n})]
    third = await endpoint.post("/ids/json", content="".join(json.dumps(x) + "\n" for x in many))
    assert [i["index"]["_id"] for i in third.json()["items"]] == [f"m{n}" for n in range(80)]
    assert (await endpoint.get("/ids/doc/m79")).json()["_source"] == {"msg": "many", "n": 79}
    again = await endpoint.post("/ids/json", content="".join(json.dumps(x) + "\n" for x in many))
    assert {i["index"]["result"] for i in again.json()["items"]} == {"updated"}
    assert (await endpoint.get("/ids/doc/Ab")).json()["_source"] == {"msg": "upper"}
    assert (await endpoint.get("/ids/doc/ab")).json()["_source"] == {"msg": "again"}
    count = plain((await endpoint.post("/sql", json={"query": "SELECT count(*) AS c FROM ids"})).json())
    assert count == [{"c": 84}]
    dup = [{"index": {"_id": "x1"}}, {"msg": "1"}, {"index": {"_id": "x1"}}, {"msg": "2"}]
    result = await endpoint.post("/ids/json", content="".join(json.dumps(x) + "\n" for x in dup))
    assert [i["index"]["result"] for i in result.json()["items"]] == ["created", "updated"]
    assert (await endpoint.get("/ids/doc/x1")).json()["_source"] == {"msg": "2"}
