"""The knowledge toolset through the MCP client: profiles, dataset context, verified queries, RBAC."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from infino_mcp.config import DEFAULT_TOOLSETS
from infino_mcp.local.storage.sample import SAMPLE_DATASET, load_sample, sample_orders

pytestmark = pytest.mark.anyio

KNOWLEDGE = "infino-mcp-knowledge"


KNOWLEDGE_TOOLS = {
    "profile_dataset",
    "get_dataset_context",
    "set_dataset_context",
    "remove_dataset_context",
    "save_verified_query",
    "find_verified_queries",
}
MODEL_VISIBLE_BUDGET = 3 * 1024  # what the knowledge toolset may add to the default selection


async def test_the_knowledge_tools_add_at_most_3_kb_of_name_description_and_input_schema(make_mcp):
    client = await make_mcp(toolsets=",".join(t.value for t in DEFAULT_TOOLSETS), allow_destructive=False)
    listed = (await client.list_tools()).tools
    assert KNOWLEDGE_TOOLS <= {t.name for t in listed}
    visible = sum(
        len(t.name.encode())
        + len((t.description or "").encode())
        + len(json.dumps(t.input_schema, separators=(",", ":"), ensure_ascii=False).encode())
        for t in listed
        if t.name in KNOWLEDGE_TOOLS
    )
    print(f"\nknowledge tools, model-visible bytes: {visible}")
    assert visible <= MODEL_VISIBLE_BUDGET


def _flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_profile_of_the_sample_matches_plain_python(local_services, mcp, call):
    await load_sample(local_services.writer)
    rows = [_flat(order) for _, order in sample_orders()]
    profile = await call(mcp, "profile_dataset", {"dataset": SAMPLE_DATASET})
    assert profile["records"] == profile["profiled"] == len(rows) and profile["sampled"] is False
    by_field = {f["field"]: f for f in profile["fields"]}
    assert set(by_field) == set(rows[0])
    for name, got in by_field.items():
        values = [r[name] for r in rows if r.get(name) is not None]
        assert got["count"] == len(values), name
        assert got["null_share"] == pytest.approx(1 - len(values) / len(rows)), name
        assert got["distinct"] == len(set(values)), name
        same = _instant if name == "@timestamp" else (lambda v: v)
        assert got["examples"] and all(same(e) in {same(v) for v in values} for e in got["examples"]), name
        if isinstance(values[0], (int, float)):
            assert (got["min"], got["max"]) == (min(values), max(values)), name
        elif name == "@timestamp":
            instants = [_instant(v) for v in values]
            assert (_instant(got["min"]), _instant(got["max"])) == (min(instants), max(instants))
        elif len(set(values)) == len(values):
            assert got["top"] is None, name  # every value distinct: examples say more than counts of 1
        else:
            counts = Counter(values)
            expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            assert [(t["value"], t["count"]) for t in got["top"]] == expected, name
    assert by_field["price"]["type"] == "Float" and by_field["@timestamp"]["type"] == "ISO8601Date"
    read = await mcp.read_resource(f"infino://datasets/{SAMPLE_DATASET}/profile")
    resource = json.loads(read.contents[0].text)
    assert resource["cached"] is True  # the tool's profile, from the cache
    assert resource["fields"] == [{k: v for k, v in f.items() if v is not None} for f in profile["fields"]]


async def test_null_share_and_distinct_count_missing_values(endpoint, mcp, call):
    docs = [{"a": 1, "b": "x"}, {"a": 2}, {"b": "y"}, {"a": 2, "b": "x"}, {"c": True}, {"a": 5, "c": False}]
    body = "".join('{"index":{}}\n' + json.dumps(d) + "\n" for d in docs)
    assert (await endpoint.post("/gappy/json", content=body)).status_code == 200
    profile = await call(mcp, "profile_dataset", {"dataset": "gappy"})
    for got in profile["fields"]:
        values = [d[got["field"]] for d in docs if got["field"] in d]
        assert got["count"] == len(values)
        assert got["null_share"] == pytest.approx(round(1 - len(values) / len(docs), 4))
        assert got["distinct"] == len(set(values))
    by_field = {f["field"]: f for f in profile["fields"]}
    assert (by_field["a"]["min"], by_field["a"]["max"]) == (1, 5)
    assert [(t["value"], t["count"]) for t in by_field["b"]["top"]] == [("x", 2), ("y", 1)]
    assert by_field["c"]["top"] is None and set(by_field["c"]["examples"]) == {True, False}  # all distinct


async def test_profile_text_reads_per_field_and_only_named_fields(local_services, mcp):
    await load_sample(local_services.writer)
    result = await mcp.call_tool("profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["currency", "price"]})
    text = result.content[0].text
    lines = text.splitlines()
    assert lines[0] == f"{SAMPLE_DATASET}: 200 records, all profiled"
    assert lines[1].startswith("currency String: 200 values; 0.0% null; 5 distinct; top ")
    assert lines[2].startswith("price Float: 200 values") and "min " in lines[2]
    assert len(lines) == 3


async def test_profile_refuses_unknown_fields_and_missing_datasets(local_services, mcp, call_error):
    await load_sample(local_services.writer)
    error = await call_error(mcp, "profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["prize"]})
    assert "'prize' not in" in error and "price" in error
    error = await call_error(mcp, "profile_dataset", {"dataset": "no-such-data"})
    assert "404" in error and "get_datasets" in error


async def test_profile_is_cached_for_the_configured_time(local_services, make_mcp, call, endpoint):
    await load_sample(local_services.writer)
    cached = await make_mcp(profile_cache_seconds=600)
    fresh = await make_mcp(profile_cache_seconds=0)
    first = await call(cached, "profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["status"]})
    assert first["cached"] is False
    body = json.dumps({"index": {}}) + "\n" + json.dumps({"status": "lost"}) + "\n"
    answer = await endpoint.post(
        f"/{SAMPLE_DATASET}/json", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert answer.status_code == 200 and not answer.json()["errors"]
    again = await call(cached, "profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["status"]})
    assert again["cached"] is True and again["records"] == 200
    now = await call(fresh, "profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["status"]})
    assert now["cached"] is False and now["records"] == 201


async def test_a_large_dataset_is_sampled_and_says_how(endpoint, mcp, call, sent_requests):
    from infino_mcp.toolsets.profiling import SAMPLE_ROWS

    total = SAMPLE_ROWS + 2_000
    lines = []
    for n in range(total):
        lines.append('{"index":{}}')
        lines.append(json.dumps({"n": n, "kind": "even" if n % 2 == 0 else "odd"}))
    answer = await endpoint.post("/big-data/json", content="\n".join(lines) + "\n")
    assert answer.status_code == 200 and not answer.json()["errors"]
    sent_requests.clear()
    profile = await call(mcp, "profile_dataset", {"dataset": "big-data"})
    assert profile["sampled"] is True and profile["records"] == total and profile["profiled"] == SAMPLE_ROWS
    assert f"first {SAMPLE_ROWS} records" in profile["sampling"]
    by_field = {f["field"]: f for f in profile["fields"]}
    assert by_field["n"]["count"] == SAMPLE_ROWS
    assert sum(t["count"] for t in by_field["kind"]["top"]) == SAMPLE_ROWS
    statements = [json.loads(r.content)["query"] for r in sent_requests if r.url.path == "/sql"]
    scans = [s for s in statements if "COUNT(" in s and s != 'SELECT COUNT(*) AS n FROM "big-data"']
    assert scans and all(f"LIMIT {SAMPLE_ROWS}) AS profiled" in s for s in scans)
    assert all(s.endswith("LIMIT 20") for s in statements if "COUNT(" not in s)


async def test_context_round_trips(local_services, mcp, call, call_error):
    await load_sample(local_services.writer)
    saved = await call(
        mcp,
        "set_dataset_context",
        {
            "dataset": SAMPLE_DATASET,
            "description": "Web shop orders, one record per order.",
            "fields": {"total": "price times quantity, in the row's currency", "status": "order state"},
            "instructions": [
                "Amounts are in the row's currency: group by currency before summing.",
                "Revenue excludes cancelled and returned orders.",
            ],
        },
    )
    assert saved["saved"][:3] == ["description", "field:total", "field:status"] and len(saved["saved"]) == 5
    saved = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert saved["description"] == "Web shop orders, one record per order."
    assert saved["fields"] == {"status": "order state", "total": "price times quantity, in the row's currency"}
    assert [i["text"] for i in saved["instructions"]] == [
        "Amounts are in the row's currency: group by currency before summing.",
        "Revenue excludes cancelled and returned orders.",
    ]
    # Only what is given changes; the same instruction twice is kept once.
    await call(
        mcp,
        "set_dataset_context",
        {"dataset": SAMPLE_DATASET, "fields": {"status": "delivered, shipped, processing, cancelled or returned"},
         "instructions": ["Revenue excludes cancelled and returned orders."]},
    )  # fmt: skip
    context = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["description"] == saved["description"] and len(context["instructions"]) == 2
    assert context["fields"]["status"].startswith("delivered")
    resource = json.loads((await mcp.read_resource(f"infino://datasets/{SAMPLE_DATASET}/context")).contents[0].text)
    assert resource == {k: v for k, v in context.items() if v is not None}
    schema = json.loads((await mcp.read_resource(f"infino://datasets/{SAMPLE_DATASET}/schema")).contents[0].text)
    assert schema["context"] == f"infino://datasets/{SAMPLE_DATASET}/context"
    # Removing by the ids the context shows.
    rule = next(i["id"] for i in context["instructions"] if i["text"].startswith("Revenue"))
    removed = await call(
        mcp, "remove_dataset_context", {"dataset": SAMPLE_DATASET, "ids": [rule, "field:total", "field:nope"]}
    )
    assert removed == {"removed": [rule, "field:total"], "not_found": ["field:nope"]}
    after = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert list(after["fields"]) == ["status"] and [i["id"] for i in after["instructions"]] != [rule]
    assert len(after["instructions"]) == 1
    # Stored in Infino: a new server process would read the same records.
    stored = await call(mcp, "get_dataset_schema", {"dataset": KNOWLEDGE})
    assert {"kind", "dataset", "dataset_key", "question", "query", "language", "saved_by", "saved_at"} <= {
        f["field"] for f in stored["fields"]
    }
    error = await call_error(mcp, "set_dataset_context", {"dataset": SAMPLE_DATASET, "fields": {"totl": "x"}})
    assert "'totl' not in" in error and "total" in error
    error = await call_error(mcp, "get_dataset_context", {"dataset": KNOWLEDGE})
    assert "holds the knowledge itself" in error
    error = await call_error(mcp, "set_dataset_context", {"dataset": "no-such-data", "description": "typo"})
    assert "404" in error and "get_datasets" in error
    error = await call_error(mcp, "set_dataset_context", {"dataset": SAMPLE_DATASET, "instructions": ["x"] * 101})
    assert "At most 100" in error
    error = await call_error(mcp, "set_dataset_context", {"dataset": SAMPLE_DATASET})
    assert "Nothing to set" in error


async def test_context_of_a_dataset_without_any(local_services, mcp, call):
    await load_sample(local_services.writer)
    context = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["instructions"] == [] and context["verified_query_count"] == 0
    assert "Nothing saved" in context["note"]


SAVED = {
    "What is the total revenue per currency?": (
        f'SELECT currency, SUM(total) AS revenue FROM "{SAMPLE_DATASET}" GROUP BY currency'
    ),
    "How many orders were placed each day?": (
        f'SELECT date_trunc(\'day\', "@timestamp") AS day, COUNT(*) AS orders FROM "{SAMPLE_DATASET}" GROUP BY 1'
    ),
    "Which product category sells the most units?": (
        f'SELECT category, SUM(quantity) AS units FROM "{SAMPLE_DATASET}" GROUP BY category ORDER BY units DESC'
    ),
    "Which payment method do customers use most often?": (
        f'SELECT payment_method, COUNT(*) AS n FROM "{SAMPLE_DATASET}" GROUP BY payment_method ORDER BY n DESC'
    ),
    "Which city has the most cancelled orders?": (
        f'SELECT "geo.city", COUNT(*) AS n FROM "{SAMPLE_DATASET}" WHERE status = \'cancelled\' GROUP BY 1 ORDER BY n DESC'
    ),
}
PARAPHRASES = {
    "revenue broken down by currency": "What is the total revenue per currency?",
    "number of orders per day": "How many orders were placed each day?",
    "what category sold the most units": "Which product category sells the most units?",
    "most popular payment method among customers": "Which payment method do customers use most often?",
    "cancelled orders by city, which is highest": "Which city has the most cancelled orders?",
}


async def test_find_verified_queries_puts_the_paraphrased_question_first(local_services, mcp, call):
    await load_sample(local_services.writer)
    for question, query in SAVED.items():
        saved = await call(
            mcp,
            "save_verified_query",
            {"dataset": SAMPLE_DATASET, "question": question, "query": query, "language": "sql"},
        )
        assert saved["question"] == question and saved["saved_by"] and saved["saved_at"].endswith("Z")
    for paraphrase, expected in PARAPHRASES.items():
        found = await call(mcp, "find_verified_queries", {"dataset": SAMPLE_DATASET, "question": paraphrase})
        assert found["queries"], paraphrase
        best = found["queries"][0]
        assert best["question"] == expected, (paraphrase, [q["question"] for q in found["queries"]])
        assert best["query"] == SAVED[expected] and best["language"] == "sql"
        assert len(found["queries"]) <= 3
    # Other datasets' queries never leak in.
    other = await call(mcp, "find_verified_queries", {"dataset": "other-data", "question": "revenue per currency"})
    assert other["queries"] == []
    context = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["verified_query_count"] == len(SAVED)


async def test_saving_reruns_the_query_and_refuses_a_failing_one(local_services, mcp, call, call_error):
    await load_sample(local_services.writer)
    error = await call_error(
        mcp,
        "save_verified_query",
        {"dataset": SAMPLE_DATASET, "question": "Revenue?", "query": f'SELECT SUM(revnue) FROM "{SAMPLE_DATASET}"', "language": "sql"},
    )  # fmt: skip
    assert "Not saved: the query failed when run" in error and "revnue" in error
    error = await call_error(
        mcp,
        "save_verified_query",
        {"dataset": SAMPLE_DATASET, "question": "Spam?", "query": '{"query": {"nope": {}}}', "language": "querydsl"},
    )
    assert "Not saved: the query failed when run" in error
    context = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["verified_query_count"] == 0
    dsl = await call(
        mcp,
        "save_verified_query",
        {"dataset": SAMPLE_DATASET, "question": "Orders paid by gift card", "language": "querydsl",
         "query": '{"query": {"term": {"payment_method": "gift_card"}}}'},
    )  # fmt: skip
    again = await call(
        mcp,
        "save_verified_query",
        {"dataset": SAMPLE_DATASET, "question": "orders paid by  GIFT card", "language": "querydsl",
         "query": '{"query": {"match": {"payment_method": "gift_card"}}}'},
    )  # fmt: skip
    assert again["id"] == dsl["id"]  # the same question replaces the old query
    context = await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["verified_query_count"] == 1 and "match" in context["verified_queries"][0]["query"]


async def test_a_user_without_access_to_the_knowledge_dataset_gets_a_plain_403(
    local_services, mcp, make_mcp, call, call_error
):
    await load_sample(local_services.writer)
    await call(mcp, "set_dataset_context", {"dataset": SAMPLE_DATASET, "description": "Orders."})
    role = {
        "Version": "2025-01-01",
        "Permissions": [
            {"Effect": "Allow", "ResourceType": rt, "Actions": ["read"], "Resources": ["sample-*"], "Fields": {}}
            for rt in ("record", "metadata")
        ],
    }
    await call(mcp, "create_role", {"name": "sample-reader", "config": role})
    keys = await call(
        mcp, "create_user", {"name": "analyst", "config": {"Password": "An4lyst!pass", "Roles": ["sample-reader"]}}
    )
    analyst = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    for tool, arguments in [
        ("get_dataset_context", {"dataset": SAMPLE_DATASET}),
        ("find_verified_queries", {"dataset": SAMPLE_DATASET, "question": "revenue"}),
        ("save_verified_query", {"dataset": SAMPLE_DATASET, "question": "How many orders?", "language": "sql",
                                 "query": f'SELECT COUNT(*) FROM "{SAMPLE_DATASET}"'}),
    ]:  # fmt: skip
        error = await call_error(analyst, tool, arguments)
        assert (
            "HTTP 403" in error
            and f"'{KNOWLEDGE}'" in error
            and "ask an Infino admin" in error
            and "other tool still works" in error
        ), (tool, error)
    rows = await call(analyst, "query_dataset_in_sql", {"query": f'SELECT COUNT(*) AS n FROM "{SAMPLE_DATASET}"'})
    assert rows["rows"] == [{"n": 200}]
    profile = await call(analyst, "profile_dataset", {"dataset": SAMPLE_DATASET, "fields": ["status"]})
    assert profile["records"] == 200
    read = await analyst.read_resource(f"infino://datasets/{SAMPLE_DATASET}/schema")
    assert json.loads(read.contents[0].text)["fields"]
    # Granting read on the knowledge dataset lets the analyst read it, still not write it.
    role["Permissions"] += [
        {"Effect": "Allow", "ResourceType": rt, "Actions": ["read"], "Resources": [KNOWLEDGE], "Fields": {}}
        for rt in ("record", "metadata")
    ]
    await call(mcp, "update_role", {"name": "sample-reader", "config": role})
    context = await call(analyst, "get_dataset_context", {"dataset": SAMPLE_DATASET})
    assert context["description"] == "Orders."
    error = await call_error(analyst, "set_dataset_context", {"dataset": SAMPLE_DATASET, "description": "Mine."})
    assert "HTTP 403" in error and "record write" in error
    assert (await call(mcp, "get_dataset_context", {"dataset": SAMPLE_DATASET}))["description"] == "Orders."
