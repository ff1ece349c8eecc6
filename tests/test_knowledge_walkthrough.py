"""Knowledge that outlives a session: ask, answer, save; then, in a fresh server process, a paraphrase finds it.

Both sessions are the real server on stdio over the same local data directory,
as a user would run it on two different days.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

SAMPLE = "sample-ecommerce-data"
QUESTION = "What was the revenue per currency, not counting cancelled orders?"
PARAPHRASE = "revenue by currency without the cancelled orders"
QUERY = (
    f'SELECT currency, SUM(total) AS revenue FROM "{SAMPLE}" '
    "WHERE status <> 'cancelled' GROUP BY currency ORDER BY currency"
)
OTHERS = {
    "How many orders were cancelled per city?": (
        f'SELECT "geo.city", COUNT(*) AS n FROM "{SAMPLE}" WHERE status = \'cancelled\' GROUP BY 1 ORDER BY n DESC'
    ),
    "Which currency has the most orders?": (
        f'SELECT currency, COUNT(*) AS n FROM "{SAMPLE}" GROUP BY currency ORDER BY n DESC LIMIT 1'
    ),
}


def _server(data_dir: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "infino_mcp", "--local", str(data_dir)], env={**env, "RUST_LOG": "error"}
    )


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content}"
    return result.structured_content


@pytest.mark.anyio
async def test_a_confirmed_query_comes_back_first_for_a_paraphrase_in_a_fresh_session(tmp_path: Path) -> None:
    async with Client(_server(tmp_path)) as first:
        assert "get_dataset_context" in (first.instructions or "")
        prompt = await first.get_prompt("answer_with_sql", {"question": QUESTION, "dataset": SAMPLE})
        steps = prompt.messages[0].content.text
        assert "get_dataset_context" in steps and "save_verified_query" in steps
        context = await _call(first, "get_dataset_context", {"dataset": SAMPLE})
        assert context["verified_query_count"] == 0
        answer = await _call(first, "query_dataset_in_sql", {"query": QUERY})
        assert answer["rows"]
        # The user confirms the answer; the model saves it (and two other confirmed ones).
        for question, query in {QUESTION: QUERY, **OTHERS}.items():
            await _call(
                first,
                "save_verified_query",
                {"dataset": SAMPLE, "question": question, "query": query, "language": "sql"},
            )

    async with Client(_server(tmp_path)) as second:
        found = await _call(second, "find_verified_queries", {"dataset": SAMPLE, "question": PARAPHRASE})
        best = found["queries"][0]
        assert best["question"] == QUESTION and best["query"] == QUERY and best["language"] == "sql"
        assert best["saved_by"] and best["saved_at"]
        again = await _call(second, "query_dataset_in_sql", {"query": best["query"]})
        assert again["rows"] == answer["rows"]
        context = json.loads((await second.read_resource(f"infino://datasets/{SAMPLE}/context")).contents[0].text)
        assert context["verified_query_count"] == 3 and QUESTION in {q["question"] for q in context["verified_queries"]}
