"""Query tools (SQL, QueryDSL) through an MCP client against the local endpoint."""

from __future__ import annotations

import json

import pytest

from infino_mcp.toolsets.query_shapes import trim_buckets

pytestmark = pytest.mark.anyio

LEVELS = ("info", "warn", "error")


def log_records(count: int) -> list[dict]:
    return [
        {
            "id": f"r{i:04d}",
            "level": LEVELS[i % 3],
            "message": f"request {i} served",
            "latency": i * 1.5,
            "code": 200 + i % 4,
        }
        for i in range(count)
    ]


async def seed(client, call, dataset: str = "web-logs", count: int = 30) -> None:
    answer = await call(
        client, "upload_json_to_dataset", {"dataset": dataset, "records": log_records(count), "id_field": "id"}
    )
    assert answer["succeeded"] == count, answer


# ---------------------------------------------------------------- SQL


async def test_sql_rows_come_back_plain(mcp, call):
    await seed(mcp, call, count=6)
    result = await call(mcp, "query_dataset_in_sql", {"query": 'SELECT id, level, code FROM "web-logs" ORDER BY id'})
    assert result["rows"][0] == {"id": "r0000", "level": "info", "code": 200}
    assert [c["name"] for c in result["columns"]] == ["id", "level", "code"]
    assert result["page"] == {
        "total": 6,
        "returned": 6,
        "offset": 0,
        "truncated": False,
        "next_offset": None,
        "note": None,
    }
    assert result["response"] is None


async def test_sql_aggregate(mcp, call):
    await seed(mcp, call, count=30)
    result = await call(
        mcp,
        "query_dataset_in_sql",
        {"query": 'SELECT level, COUNT(*) AS n FROM "web-logs" GROUP BY level ORDER BY level'},
    )
    assert result["rows"] == [{"level": "error", "n": 10}, {"level": "info", "n": 10}, {"level": "warn", "n": 10}]


async def test_sql_limit_cuts_with_a_note_and_offset_pages(mcp, call):
    await seed(mcp, call, count=25)
    sql = 'SELECT id FROM "web-logs" ORDER BY id'
    first = await call(mcp, "query_dataset_in_sql", {"query": sql, "limit": 10})
    assert [r["id"] for r in first["rows"]] == [f"r{i:04d}" for i in range(10)]
    assert first["page"]["truncated"] is True and first["page"]["next_offset"] == 10
    note = first["page"]["note"]
    assert "offset=10" in note and "LIMIT/OFFSET" in note and "WHERE" in note
    second = await call(mcp, "query_dataset_in_sql", {"query": sql, "limit": 10, "offset": 20})
    assert [r["id"] for r in second["rows"]] == [f"r{i:04d}" for i in range(20, 25)]
    assert second["page"]["truncated"] is False


async def test_sql_byte_budget_cuts_and_says_so(make_mcp, call):
    client = await make_mcp(max_result_bytes=2000)
    await seed(client, call, count=60)
    result = await call(client, "query_dataset_in_sql", {"query": 'SELECT * FROM "web-logs"', "limit": 1000})
    assert 0 < result["page"]["returned"] < 60
    assert "2000-byte" in result["page"]["note"]
    assert len(json.dumps(result["rows"], separators=(",", ":"))) <= 2000


async def test_sql_raw_returns_the_envelope(mcp, call):
    await seed(mcp, call, count=5)
    result = await call(
        mcp, "query_dataset_in_sql", {"query": 'SELECT id, code FROM "web-logs" ORDER BY id', "raw": True, "limit": 2}
    )
    envelope = result["response"]
    assert envelope["statement_type"] == "Select"
    assert len(envelope["rows"]) == 2
    assert envelope["rows"][0]["values"]["id"] == {"String": "r0000"}
    assert result["rows"] is None and result["columns"] is None and result["page"]["truncated"] is True


async def test_sql_raw_and_compact_agree_on_counts(mcp, call):
    await seed(mcp, call, count=12)
    sql = 'SELECT id, code FROM "web-logs" ORDER BY id'
    compact = await mcp.call_tool("query_dataset_in_sql", {"query": sql, "limit": 10})
    raw = await mcp.call_tool("query_dataset_in_sql", {"query": sql, "limit": 10, "raw": True})
    pages = [r.structured_content["page"] for r in (compact, raw)]
    assert pages[0] == pages[1]
    # Only limit + 1 rows are fetched: the total is unknown, and the page says more exist.
    assert pages[0]["returned"] == 10 and pages[0]["total"] is None and pages[0]["truncated"] is True
    assert pages[0]["next_offset"] == 10 and "more exist" in pages[0]["note"]
    assert len(compact.structured_content["rows"]) == len(raw.structured_content["response"]["rows"]) == 10
    raw_text = json.loads(raw.content[0].text)
    assert "rows" not in raw_text and "columns" not in raw_text
    assert len(raw_text["response"]["rows"]) == raw_text["page"]["returned"] == 10
    assert compact.content[0].text.startswith("10 of more rows")


async def test_sql_compact_costs_at_most_a_third_of_raw(make_mcp, call):
    """200 rows: the text the model reads costs at most a third of the raw envelope's (measured about 0.2)."""
    client = await make_mcp(max_result_bytes=1_000_000)
    await seed(client, call, count=200)
    sql = 'SELECT id, level, code, latency FROM "web-logs" ORDER BY id'
    text_bytes, structured = {}, {}
    for name, extra in {"raw": {"raw": True}, "compact": {}}.items():
        result = await client.call_tool("query_dataset_in_sql", {"query": sql, "limit": 1000, **extra})
        assert not result.is_error and result.structured_content["page"]["returned"] == 200
        text_bytes[name] = sum(len(block.text.encode()) for block in result.content)
        structured[name] = result.structured_content
    assert text_bytes["compact"] * 3 <= text_bytes["raw"], text_bytes
    print(f"200-row SQL result, text bytes: {text_bytes}")
    compact_text = (await client.call_tool("query_dataset_in_sql", {"query": sql, "limit": 2})).content[0].text
    assert compact_text.splitlines()[1] == "id,level,code,latency"
    # Programs still get {column: value} rows in the structured content.
    assert structured["compact"]["rows"][0].keys() == {"id", "level", "code", "latency"}


async def test_sql_arrays_follow_the_column_order(mcp, call):
    await seed(mcp, call, count=3)
    result = await call(
        mcp,
        "query_dataset_in_sql",
        {"query": 'SELECT code, id FROM "web-logs" ORDER BY id', "row_format": "arrays", "limit": 2},
    )
    assert [c["name"] for c in result["columns"]] == ["code", "id"]
    assert result["rows"] == [[200, "r0000"], [201, "r0001"]]
    assert result["page"]["next_offset"] == 2


@pytest.mark.parametrize("sql", ["INSERT INTO logs (a) VALUES (1)", "  -- note\n delete from logs", "DROP TABLE logs"])
async def test_sql_writes_are_refused_before_any_request(mcp, call_error, sent_requests, sql):
    message = await call_error(mcp, "query_dataset_in_sql", {"query": sql})
    assert "upsert_to_dataset" in message
    assert sent_requests == []


async def test_sql_error_from_the_service_reaches_the_model(mcp, call_error):
    message = await call_error(mcp, "query_dataset_in_sql", {"query": 'SELECT * FROM "no-such-dataset"'})
    assert "query_dataset_in_sql failed with HTTP" in message


async def test_sql_request_is_a_get_with_a_json_body(mcp, call, sent_requests):
    await seed(mcp, call, count=1)
    sent_requests.clear()
    await call(mcp, "query_dataset_in_sql", {"query": 'SELECT id FROM "web-logs"'})
    (request,) = sent_requests
    assert request.method == "GET" and request.url.path == "/sql"
    # The tool's limit (100 by default, plus one to tell whether more exist) goes into the query.
    assert json.loads(request.content) == {"query": 'SELECT id FROM "web-logs"\nLIMIT 101'}


# ---------------------------------------------------------------- QueryDSL


async def test_querydsl_hits_are_compact(mcp, call):
    await seed(mcp, call, count=9)
    result = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"query": {"term": {"level": "error"}}}}
    )
    assert result["total"] == 3
    hit = result["hits"][0]
    assert set(hit) == {"id", "score", "source", "highlight"}
    assert hit["id"].startswith("r") and hit["source"]["level"] == "error"
    assert result["response"] is None


async def test_querydsl_accepts_a_json_string_like_an_object(mcp, call):
    await seed(mcp, call, count=9)
    query = {"query": {"term": {"level": "warn"}}, "sort": [{"id": "asc"}]}
    as_object = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": query})
    as_text = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": json.dumps(query)})
    assert as_object == as_text
    assert [h["id"] for h in as_text["hits"]] == ["r0001", "r0004", "r0007"]


async def test_querydsl_invalid_json_is_refused_with_its_position(mcp, call_error, sent_requests):
    message = await call_error(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": '{"query": {"match_all": {}'}
    )
    assert "not valid JSON" in message and "line 1, column 27" in message
    assert sent_requests == []


async def test_querydsl_non_object_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": "[1, 2]"})
    assert "invalid arguments: query: Input should be a valid dictionary" in message
    assert sent_requests == []


async def test_querydsl_pages_with_limit_and_offset(mcp, call, sent_requests):
    await seed(mcp, call, count=12)
    query = {"query": {"match_all": {}}, "sort": [{"id": "asc"}]}
    first = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": query, "limit": 5})
    assert [h["id"] for h in first["hits"]] == [f"r{i:04d}" for i in range(5)]
    assert first["page"]["truncated"] and first["page"]["next_offset"] == 5 and "offset=5" in first["page"]["note"]
    assert json.loads(sent_requests[-1].content)["size"] == 5
    last = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": query, "limit": 5, "offset": 10}
    )
    assert [h["id"] for h in last["hits"]] == ["r0010", "r0011"]
    assert json.loads(sent_requests[-1].content)["from"] == 10
    assert last["page"]["truncated"] is False


async def test_querydsl_aggregations_and_raw(mcp, call):
    await seed(mcp, call, count=9)
    query = {"size": 0, "aggs": {"levels": {"terms": {"field": "level"}}}}
    compact = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": query})
    buckets = {b["key"]: b["doc_count"] for b in compact["aggregations"]["levels"]["buckets"]}
    assert buckets == {"info": 3, "warn": 3, "error": 3}
    assert compact["hits"] == [] and compact["total"] == 9
    assert compact["page"]["truncated"] is False and compact["page"]["note"] is None
    raw = await call(
        mcp,
        "query_dataset_in_querydsl",
        {"dataset": "web-logs", "query": {"query": {"match_all": {}}}, "raw": True, "limit": 2},
    )
    assert len(raw["response"]["hits"]["hits"]) == 2
    assert "_source" in raw["response"]["hits"]["hits"][0]
    assert raw["hits"] is None and raw["page"]["returned"] == 2 and raw["total"] == 9
    compact_page = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"query": {"match_all": {}}}, "limit": 2}
    )
    assert len(compact_page["hits"]) == compact_page["page"]["returned"] == 2
    assert compact_page["page"] == raw["page"]


async def test_querydsl_bad_size_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"size": "ten"}})
    assert "'size' must be a non-negative integer" in message
    assert sent_requests == []


async def test_querydsl_bad_dataset_name_is_refused(mcp, call_error, sent_requests):
    message = await call_error(mcp, "query_dataset_in_querydsl", {"dataset": "../metadata", "query": {}})
    assert "not a valid name" in message
    assert sent_requests == []


async def test_querydsl_unknown_dataset(mcp, call_error):
    message = await call_error(
        mcp, "query_dataset_in_querydsl", {"dataset": "missing", "query": {"query": {"match_all": {}}}}
    )
    assert "HTTP 404" in message and "get_datasets lists the datasets that exist" in message


async def test_sql_dates_and_nulls_come_back_plain(mcp, call):
    records = [
        {"id": "a", "@timestamp": "2025-01-02T03:04:05Z", "tag": "x"},
        {"id": "b", "@timestamp": "2025-01-03T00:00:00Z"},
    ]
    await call(mcp, "upload_json_to_dataset", {"dataset": "events", "records": records, "id_field": "id"})
    result = await call(mcp, "query_dataset_in_sql", {"query": 'SELECT id, "@timestamp", tag FROM events ORDER BY id'})
    first, second = result["rows"]
    assert first["tag"] == "x" and second["tag"] is None
    assert not isinstance(first["@timestamp"], dict)


async def test_querydsl_big_aggregations_are_cut_with_a_note(make_mcp, call):
    client = await make_mcp(max_result_bytes=2000)
    await seed(client, call, count=120)
    query = {"size": 0, "aggs": {"ids": {"terms": {"field": "id", "size": 120}}}}
    result = await call(client, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": query})
    buckets = result["aggregations"]["ids"]["buckets"]
    assert 0 < len(buckets) < 120
    assert len(json.dumps(result["aggregations"], separators=(",", ":"))) <= 1500
    assert "Aggregation buckets were cut" in result["page"]["note"]


def test_trim_buckets_halves_the_longest_list():
    aggs = {"a": {"buckets": [{"key": i} for i in range(100)]}, "b": {"buckets": [{"key": 1}]}}
    assert trim_buckets(aggs, 400) is True
    assert len(aggs["b"]["buckets"]) == 1 and 0 < len(aggs["a"]["buckets"]) < 100
    assert trim_buckets({"a": {"value": 1}}, 400) is False


async def test_rbac_denial_reaches_the_model(mcp, make_mcp, call, call_error):
    await seed(mcp, call, count=3)
    await seed(mcp, call, dataset="public-logs", count=3)
    role = {
        "Version": "2025-01-01",
        "Permissions": [
            {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["public-*"], "Fields": {}},
            {
                "Effect": "Allow",
                "ResourceType": "metadata",
                "Actions": ["read"],
                "Resources": ["public-*"],
                "Fields": {},
            },
        ],
    }
    await call(mcp, "create_role", {"name": "public-reader", "config": role})
    keys = await call(
        mcp, "create_user", {"name": "analyst", "config": {"Password": "An4lyst!pass", "Roles": ["public-reader"]}}
    )
    analyst = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    allowed = await call(analyst, "query_dataset_in_sql", {"query": 'SELECT COUNT(*) AS n FROM "public-logs"'})
    assert allowed["rows"] == [{"n": 3}]
    denied = await call_error(analyst, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {}})
    assert "HTTP 403" in denied and "roles do not allow" in denied


async def test_a_bare_clause_means_the_same_to_search_and_delete(mcp, call):
    await seed(mcp, call, count=10)
    bare = {"term": {"level": "error"}}
    wrapped = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"query": bare}})
    searched = await call(mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": bare})
    assert searched["total"] == wrapped["total"] > 0
    deleted = await call(mcp, "delete_records", {"dataset": "web-logs", "query": bare})
    assert deleted["deleted"] == wrapped["total"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("query_dataset_in_promql", {"query": "up", "time": 1795310436000}),
        ("query_dataset_in_promql_range", {"query": "up", "start": 1795310436000, "end": 1795310496000, "step": 60}),
    ],
)
async def test_promql_times_in_milliseconds_are_refused_with_the_fix(mcp, call_error, sent_requests, tool, args):
    message = await call_error(mcp, tool, args)
    assert "looks like milliseconds" in message and "1795310436" in message
    assert sent_requests == []


async def test_querydsl_note_names_the_body_size_that_cut(mcp, call):
    await seed(mcp, call, count=10)
    result = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"query": {"match_all": {}}, "size": 3}}
    )
    assert result["page"]["returned"] == 3 and "the body's size=3" in result["page"]["note"]


async def test_an_empty_search_names_fields_the_dataset_lacks(mcp, call):
    await seed(mcp, call, count=5)
    result = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"match": {"levle": "error"}}}
    )
    assert result["total"] == 0
    assert "not in 'web-logs': levle" in result["page"]["note"] and "get_dataset_schema" in result["page"]["note"]
    found = await call(
        mcp, "query_dataset_in_querydsl", {"dataset": "web-logs", "query": {"match": {"level.keyword": "nope"}}}
    )
    assert found["total"] == 0 and not found["page"].get("note")


async def test_an_empty_promql_answer_says_what_to_check(mcp, call):
    result = await call(mcp, "query_dataset_in_promql", {"query": "no_such_metric"})
    assert result["series"] == [] and "No series matched" in result["page"]["note"]
