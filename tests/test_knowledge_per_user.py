"""The knowledge toolset with several callers through one server (``--auth infino-keys`` over HTTP).

The profile cache is the one piece of knowledge kept in the process: it is
keyed by the caller's access key, so one caller never gets another's profile
(fields their role hides stay hidden); verified queries say who saved them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.http_servers import keyed_client, local_admin_keys, start_server

pytestmark = pytest.mark.anyio

SAMPLE = "sample-ecommerce-data"
ROLE = {
    "Version": "2025-01-01",
    "Permissions": [
        {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["sample-*"],
         "Fields": {"Deny": ["customer"]}},
        {"Effect": "Allow", "ResourceType": "metadata", "Actions": ["read"], "Resources": ["sample-*"], "Fields": {}},
    ],
}  # fmt: skip


async def _call(client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content}"
    return result.structured_content


async def test_each_caller_gets_their_own_profile_and_knowledge_access(tmp_path: Path) -> None:
    admin_keys = await local_admin_keys(tmp_path)
    args = ["--local", str(tmp_path), "--auth", "infino-keys", "--toolsets", "all", "--profile-cache-seconds", "600"]
    async with start_server(args) as server:
        async with keyed_client(server.url, *admin_keys) as admin:
            full = await _call(admin, "profile_dataset", {"dataset": SAMPLE})
            assert "customer" in {f["field"] for f in full["fields"]} and full["cached"] is False
            again = await _call(admin, "profile_dataset", {"dataset": SAMPLE})
            assert again["cached"] is True
            await _call(admin, "create_role", {"name": "no-names", "config": ROLE})
            made = await _call(admin, "create_user", {"name": "clerk", "config": {"Roles": ["no-names"]}})
            saved = await _call(
                admin,
                "save_verified_query",
                {"dataset": SAMPLE, "question": "How many orders?", "query": f'SELECT COUNT(*) FROM "{SAMPLE}"',
                 "language": "sql"},
            )  # fmt: skip
            assert saved["saved_by"] == admin_keys[0]
        async with keyed_client(server.url, made["access_key"], made["secret_key"]) as clerk:
            seen = await _call(clerk, "profile_dataset", {"dataset": SAMPLE})
            assert seen["cached"] is False and seen["records"] == 200
            assert "customer" not in {f["field"] for f in seen["fields"]}
            denied = await clerk.call_tool("find_verified_queries", {"dataset": SAMPLE, "question": "orders"})
            text = " ".join(getattr(b, "text", "") for b in denied.content)
            assert denied.is_error and "HTTP 403" in text and "infino-mcp-knowledge" in text
