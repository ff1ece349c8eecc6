"""The query tools hold at most a page, refuse what would crash a parser, and the SQL tool never writes.

Through a real MCP client against the local endpoint. Refusals happen before any request
(``sent_requests`` stays empty); the server answers the next call.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio

WRITES = [
    "DELETE FROM people",
    "-- a comment first\nDELETE FROM people",
    "/* SELECT */ DELETE/**/FROM people",
    "dElEtE FROM people WHERE true",
    "WITH d AS (DELETE FROM people RETURNING *) SELECT * FROM d",
    "/* x */ WITH d AS (UPDATE people SET name = 'x' RETURNING *) SELECT count(*) FROM d",
    "WITH a AS (SELECT 1 AS n) INSERT INTO people (name) SELECT 'x' FROM a",
    "WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r; DROP TABLE people",
    "SELECT 1; DELETE FROM people",
    "SELECT * INTO copied FROM people",
    "SELECT * FROM people FOR UPDATE",
    "MERGE INTO people USING people AS p ON people.name = p.name WHEN MATCHED THEN DELETE",
    "CREATE TABLE t AS SELECT * FROM people",
    "DROP TABLE people",
    "ALTER TABLE people ADD COLUMN x int",
    "TRUNCATE people",
    "COPY people TO '/tmp/out'",
    "EXPLAIN ANALYZE DELETE FROM people",
    "INSERT INTO people (name) VALUES ('x')",
    "UPDATE people SET name = 'x'",
    "SELECT setval('s', 1)",
]
READS = [
    "SELECT name FROM people ORDER BY name",
    "SELECT name FROM people /* ; DELETE FROM people */ ORDER BY name",
    "SELECT name FROM people WHERE name <> '; DELETE FROM people' ORDER BY name",
    "-- DELETE FROM people\nSELECT name FROM people ORDER BY name",
    "WITH d AS (SELECT name FROM people) SELECT name FROM d ORDER BY name",
    "SELECT name FROM people ORDER BY name;",
]


async def _people(client, call) -> None:
    records = [{"name": "ann"}, {"name": "bo"}]
    answer = await call(client, "upload_json_to_dataset", {"dataset": "people", "records": records})
    assert answer["succeeded"] == 2


@pytest.mark.parametrize("read_only", [True, False])
async def test_the_sql_tool_refuses_every_write_in_both_modes(make_mcp, call, call_error, sent_requests, read_only):
    writer = await make_mcp()
    await _people(writer, call)
    client = await make_mcp(read_only=read_only)
    for query in WRITES:
        sent_requests.clear()
        message = await call_error(client, "query_dataset_in_sql", {"query": query})
        assert "only reads" in message or "exactly one statement" in message, (query, message)
        assert sent_requests == [], query
    for query in READS:
        rows = (await call(client, "query_dataset_in_sql", {"query": query}))["rows"]
        assert [r["name"] for r in rows] == ["ann", "bo"], query
    assert (await call(client, "query_dataset_in_sql", {"query": "SELECT count(*) AS n FROM people"}))["rows"] == [
        {"n": 2}
    ]


async def test_the_limit_is_pushed_into_the_query(mcp, call, sent_requests):
    sent_requests.clear()
    answer = await call(
        mcp, "query_dataset_in_sql", {"query": "SELECT * FROM generate_series(1, 10000000)", "limit": 5}
    )
    assert [next(iter(r.values())) for r in answer["rows"]] == [1, 2, 3, 4, 5]
    assert answer["page"]["truncated"] is True and answer["page"]["total"] is None
    assert "more exist" in answer["page"]["note"] and "offset=5" in answer["page"]["note"]
    (request,) = sent_requests
    assert json.loads(request.content)["query"].endswith("LIMIT 6")
    ordered = "SELECT x FROM generate_series(1, 1000) AS t(x) ORDER BY x DESC LIMIT 500"
    answer = await call(mcp, "query_dataset_in_sql", {"query": ordered, "limit": 3, "offset": 2})
    assert [r["x"] for r in answer["rows"]] == [998, 997, 996]
    small = await call(mcp, "query_dataset_in_sql", {"query": "SELECT * FROM generate_series(1, 3)", "limit": 5})
    assert small["page"]["truncated"] is False and small["page"]["total"] == 3


async def test_the_endpoint_row_cap_is_said(mcp, call):
    query = "SELECT x FROM generate_series(1, 10000000) AS t(x)"
    answer = await call(mcp, "query_dataset_in_sql", {"query": query, "limit": 5, "offset": 9_998})
    assert [r["x"] for r in answer["rows"]] == [9_999, 10_000]
    assert answer["page"]["truncated"] is True
    assert "row cap" in answer["page"]["note"]


async def test_a_value_larger_than_the_budget_is_cut(mcp):
    result = await mcp.call_tool("query_dataset_in_sql", {"query": "SELECT repeat('a', 5000000) AS big"})
    assert not result.is_error
    text = result.content[0].text
    assert len(text) < 30_000
    assert "…[cut]" in text and "larger than the" in text
    page = result.structured_content["page"]
    assert "was cut" in page["note"]


@pytest.mark.parametrize(
    ("tool", "query", "said"),
    [
        ("query_dataset_in_sql", "SELECT " + " + ".join(["1"] * 20_000), "operators"),
        ("query_dataset_in_sql", "SELECT " + "(" * 5_000 + "1" + ")" * 5_000, "levels deep"),
        ("query_dataset_in_promql", "+".join(["1"] * 5_000), "operators"),
        ("query_dataset_in_promql", "(" * 5_000 + "up" + ")" * 5_000, "levels deep"),
    ],
)
async def test_oversized_queries_are_refused_before_sending(mcp, call, call_error, sent_requests, tool, query, said):
    sent_requests.clear()
    message = await call_error(mcp, tool, {"query": query})
    assert said in message and len(message) < 1_000
    assert sent_requests == []
    assert (await call(mcp, "query_dataset_in_sql", {"query": "SELECT 1 AS one"}))["rows"] == [{"one": 1}]
