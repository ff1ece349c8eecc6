"""Argument mistakes get one clear line, in both protocol eras, and nothing runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_unknown_argument_is_refused_with_the_right_names(make_mcp, sent_requests, mode):
    client = await make_mcp(client_options={"mode": mode})
    result = await client.call_tool("query_dataset_in_sql", {"sql": "SELECT 1"})
    text = result.content[0].text
    assert result.is_error and "unknown argument(s) sql" in text and "Arguments: query, limit" in text
    misspelled = await client.call_tool("get_datasets", {"limits": 5})
    assert misspelled.is_error and "unknown argument(s) limits" in misspelled.content[0].text
    assert sent_requests == []


async def test_validation_errors_are_one_line_per_argument(mcp, sent_requests):
    result = await mcp.call_tool("query_dataset_in_sql", {"query": "SELECT 1", "limit": 5000})
    text = result.content[0].text
    assert result.is_error and "invalid arguments: limit: Input should be less than or equal to 1000" in text
    assert "pydantic" not in text and "Arguments" in text and "[type=" not in text
    union = await mcp.call_tool("upload_json_to_dataset", {"dataset": "x", "records": {"a": 1}})
    assert "records: Input should be a valid list" in union.content[0].text
    assert sent_requests == []
