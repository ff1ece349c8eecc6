"""Field security as a restricted user meets it: through the MCP tools and through the official SDK over HTTP.

The same roles and rows as ``tests/local/test_field_security_attacks.py``; each attack is
sent with a true and a false guess, and the answers must match and leak nothing.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.local.test_field_security_attacks import GUESSES, ROWS, SECRETS, _fill, _setup

pytestmark = pytest.mark.anyio

TOOL_ATTACKS = [
    ("query_dataset_in_sql", {"query": "SELECT * FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6) "
                              "WHERE c1 LIKE '{g}%' OR c2 LIKE '{g}%' OR c3 LIKE '{g}%' OR c4 LIKE '{g}%' "
                              "OR c5 LIKE '{g}%' OR c6 LIKE '{g}%'"}),
    ("query_dataset_in_sql", {"query": "SELECT count(*) AS n FROM dsa WHERE {col} LIKE '{g}%'"}),
    ("query_dataset_in_sql", {"query": "SELECT name FROM dsa UNION ALL SELECT {col} FROM dsa WHERE name <> '{g}' ORDER BY 1"}),
    ("query_dataset_in_sql", {"query": "SELECT t.* FROM dsa t WHERE t.name <> '{g}'"}),
    ("query_dataset_in_querydsl", {"dataset": "dsa", "query": {"query": {"prefix": {"{col}": "{g}"}}}}),
    ("query_dataset_in_querydsl", {"dataset": "dsa", "query": {"size": 0, "aggs": {"a": {"terms": {"field": "{col}"}}},
                                   "query": {"bool": {"must_not": {"term": {"name": "{g}"}}}}}}),
    ("delete_records", {"dataset": "dsa", "query": {"prefix": {"{col}": "{g}"}}}),
    ("upsert_to_dataset", {"query": "UPDATE dsa SET level = 'x' WHERE {col} LIKE '{g}%'"}),
    ("upsert_to_dataset", {"query": "INSERT INTO dsa (_id, name) SELECT 'c-' || name, {col} FROM dsa "
                           "WHERE name <> '{g}'"}),
]  # fmt: skip


def _text(result) -> str:
    parts = [getattr(block, "text", "") for block in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return " ".join(parts)


@pytest.mark.parametrize("role", ["masker", "allower"])
@pytest.mark.parametrize("col", list(GUESSES))
@pytest.mark.parametrize(("tool", "arguments"), TOOL_ATTACKS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(TOOL_ATTACKS)])
async def test_tool_attack(endpoint, endpoint_as, make_mcp, role, col, tool, arguments) -> None:
    _, keys = await _setup(endpoint, endpoint_as, role, ["read", "write", "delete"])
    client = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    answers = []
    for guess in GUESSES[col]:
        result = await client.call_tool(tool, _fill(arguments, col, guess))
        text = _text(result)
        value = next((r[col] for r in ROWS if r[col].startswith(guess)), guess + "0")
        blanked = re.sub(r'"execution_time_ms": \d+|"took": \d+', "", text.replace(value, "<v>").replace(guess, "<g>"))
        for secret in SECRETS:
            assert secret not in blanked, f"{secret!r} leaked: {text[:300]}"
        answers.append((result.is_error, blanked))
    assert answers[0] == answers[1]
    rows = await endpoint.post("/sql", json={"query": "SELECT count(*) AS n FROM dsa"})
    assert rows.json()["rows"][0]["values"]["n"] == {"Integer": len(ROWS)}


async def test_masked_field_in_querydsl_tool_says_why(endpoint, endpoint_as, make_mcp, call_error) -> None:
    _, keys = await _setup(endpoint, endpoint_as, "masker", ["read"])
    client = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    message = await call_error(client, "query_dataset_in_querydsl", {"dataset": "dsa", "query": {"term": {"ip": "x"}}})
    assert "'ip' is masked for user 'masker-user' (Mask rule: hash)" in message


async def test_empty_dataset_list_says_it_may_be_hidden(endpoint, endpoint_as, make_mcp, call) -> None:
    await _setup(endpoint, endpoint_as, "masker", ["read"])
    role = {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["dsa"]}
    assert (await endpoint.put("/role/blind", json={"Version": "2025-01-01", "Permissions": [role]})).status_code == 200
    keys = (await endpoint.put("/user/blind-user", json={"Roles": ["blind"]})).json()
    client = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    listed = await call(client, "get_datasets", {})
    assert listed["datasets"] == []
    assert "metadata:read" in listed["page"]["note"]
    rows = await call(client, "query_dataset_in_sql", {"query": "SELECT count(*) AS n FROM dsa"})
    assert rows["rows"] == [{"n": len(ROWS)}]


async def test_misspelled_aggregation_field_gets_a_note(endpoint, endpoint_as, make_mcp, call) -> None:
    _, keys = await _setup(endpoint, endpoint_as, "masker", ["read"])
    client = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    body = {"size": 0, "aggs": {"a": {"terms": {"field": "levle"}}}}
    result = await call(client, "query_dataset_in_querydsl", {"dataset": "dsa", "query": body})
    assert "levle" in result["page"]["note"] and "get_dataset_schema" in result["page"]["note"]


@pytest.mark.parametrize("col", list(GUESSES))
async def test_execute_visualization_tool_attack(endpoint, endpoint_as, make_mcp, col) -> None:
    """A visualization someone else saved, run by the restricted user with a filter guessing a protected value."""
    _, keys = await _setup(endpoint, endpoint_as, "masker", ["read"])
    spec = {"source": {"index": "dsa", "sql": {"raw_query": None}}, "mapping": {"y": ["count"]}}
    viz = (await endpoint.post("/visualizations", json=spec)).json()["id"]
    client = await make_mcp(credentials=(keys["access_key"], keys["secret_key"]))
    answers = []
    for guess in GUESSES[col]:
        value = next((r[col] for r in ROWS if r[col].startswith(guess)), guess + "0")
        filters = [{"field": col, "operator": "is", "value": value}]
        result = await client.call_tool("execute_visualization", {"viz_id": viz, "filters": filters})
        text = re.sub(r'"took_ms": \d+|"execution_time_ms": \d+', "", _text(result).replace(value, "<v>"))
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked: {text[:300]}"
        answers.append((result.is_error, text))
    assert answers[0] == answers[1]
