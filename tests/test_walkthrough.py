"""A new user's first session, end to end: the server as a subprocess on stdio, local mode, sample data.

Read the datasets resource and a schema, follow the "answer a question in SQL"
prompt, get a bounded result that says what was cut, build a visualization and
see its PNG, be asked before a delete, and watch a dashboard's progress.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ElicitResult

SAMPLE = "sample-ecommerce-data"


@pytest.mark.anyio
async def test_first_session_on_the_local_endpoint(tmp_path: Path) -> None:
    asked: list[str] = []
    answers = iter(["decline", "accept"])

    async def confirm(ctx: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        action = next(answers)
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "infino_mcp", "--local", str(tmp_path)], env={**env, "RUST_LOG": "error"}
    )
    async with Client(params, elicitation_callback=confirm) as client:
        # 1. What data is there?
        listing = json.loads((await client.read_resource("infino://datasets")).contents[0].text)
        names = json.dumps(listing)
        assert SAMPLE in names
        # 2. Its schema, with sample records.
        schema = json.loads((await client.read_resource(f"infino://datasets/{SAMPLE}/schema")).contents[0].text)
        fields = {f["name"] for f in schema["fields"]}
        assert {"currency", "price"} <= fields and schema["samples"]
        # 3. The SQL prompt's steps.
        prompt = await client.get_prompt("answer_with_sql", {"question": "Revenue by currency?", "dataset": SAMPLE})
        text = prompt.messages[0].content.text
        assert "get_dataset_schema" in text and "query_dataset_in_sql" in text
        answer = await client.call_tool(
            "query_dataset_in_sql",
            {"query": f'SELECT currency, SUM(price) AS revenue FROM "{SAMPLE}" GROUP BY currency ORDER BY currency'},
        )
        assert not answer.is_error and answer.structured_content["rows"]
        # 4. A bounded result that says what was cut and how to get the rest.
        rows = await client.call_tool("query_dataset_in_sql", {"query": f'SELECT * FROM "{SAMPLE}"', "limit": 5})
        page = rows.structured_content["page"]
        assert page["returned"] == 5 and page["truncated"] and "offset=5" in page["note"]
        assert page["note"] in rows.content[0].text
        # 5. A visualization, and its PNG.
        viz = await client.call_tool(
            "create_visualization",
            {
                "spec": {
                    "title": "Revenue by currency",
                    "source": {
                        "kind": "sql",
                        "index": SAMPLE,
                        "sql": {
                            "raw_query": f'SELECT currency, SUM(price) AS revenue FROM "{SAMPLE}" GROUP BY currency'
                        },
                    },
                    "chart": {"type": "bar"},
                }
            },
        )
        assert not viz.is_error, viz.content
        viz_id = viz.structured_content["id"]
        picture = await client.call_tool("render_visualization", {"viz_id": viz_id})
        images = [block for block in picture.content if block.type == "image"]
        assert images and images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data)[:8] == b"\x89PNG\r\n\x1a\n"
        # 6. A dashboard, and its progress panel by panel.
        second = await client.call_tool(
            "create_visualization",
            {
                "spec": {
                    "title": "Orders",
                    "source": {
                        "kind": "sql",
                        "index": SAMPLE,
                        "sql": {"raw_query": f'SELECT COUNT(*) AS orders FROM "{SAMPLE}"'},
                    },
                    "chart": {"type": "metric"},
                }
            },
        )
        dash = await client.call_tool(
            "create_dashboard",
            {"spec": {"title": "Shop", "panels": [{"viz_id": viz_id}, {"viz_id": second.structured_content["id"]}]}},
        )
        progress: list[tuple[float, float | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total))

        run = await client.call_tool(
            "execute_dashboard", {"dashboard_id": dash.structured_content["id"]}, progress_callback=on_progress
        )
        assert not run.is_error and run.structured_content["succeeded"] == 2
        assert progress[-1] == (2, 2) and len(progress) >= 2
        # 7. Asked before a delete: declined changes nothing, accepted deletes.
        declined = await client.call_tool("delete_visualization", {"viz_id": viz_id})
        assert declined.is_error and "nothing was changed" in declined.content[0].text
        assert not (await client.call_tool("get_visualization", {"viz_id": viz_id})).is_error
        accepted = await client.call_tool("delete_visualization", {"viz_id": viz_id})
        assert not accepted.is_error
        assert (await client.call_tool("get_visualization", {"viz_id": viz_id})).is_error
        assert len(asked) == 2 and viz_id in asked[0]
