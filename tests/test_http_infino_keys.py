"""``--auth infino-keys`` over streamable HTTP: each client's own keys sign its calls, so each sees what its roles allow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.http_servers import keyed_client, local_admin_keys, start_server

pytestmark = pytest.mark.anyio

LOGS = [{"host": f"web-{i}", "status": 200 + i % 3} for i in range(7)]
SECRETS = [{"name": "db", "value": "hunter2"}, {"name": "api", "value": "swordfish"}]


def _role(pattern: str) -> dict[str, Any]:
    return {"Permissions": [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": [pattern]}]}


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_two_users_see_what_their_roles_allow(tmp_path: Path) -> None:
    admin = await local_admin_keys(tmp_path)
    args = ["--local", str(tmp_path), "--no-sample-data", "--auth", "infino-keys", "--toolsets", "all"]
    async with start_server(args) as server:
        assert "X-Infino-Access-Key" in server.started  # the start-up line says what clients send
        async with httpx2.AsyncClient() as raw:
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            none = await raw.post(server.url, json=ping)
            assert none.status_code == 401
            assert "X-Infino-Access-Key and X-Infino-Secret-Key" in none.json()["error_description"]
            partial = await raw.post(server.url, json=ping, headers={"X-Infino-Access-Key": admin[0]})
            assert partial.status_code == 401
            assert partial.json()["error_description"].startswith("Missing X-Infino-Secret-Key.")
            assert admin[0] not in partial.text
            assert (
                await raw.get(server.url.replace("/mcp", "/.well-known/oauth-protected-resource"))
            ).status_code == 404

        keys: dict[str, tuple[str, str]] = {}
        async with keyed_client(server.url, *admin) as client:
            for dataset, records in (("logs-1", LOGS), ("secrets-1", SECRETS)):
                uploaded = await client.call_tool("upload_json_to_dataset", {"dataset": dataset, "records": records})
                assert not uploaded.is_error, _text(uploaded)
            for user, pattern in (("alice", "logs-*"), ("bob", "secrets-*")):
                role = await client.call_tool("create_role", {"name": f"{user}-role", "config": _role(pattern)})
                assert not role.is_error, _text(role)
                made = await client.call_tool("create_user", {"name": user, "config": {"Roles": [f"{user}-role"]}})
                assert not made.is_error, _text(made)
                keys[user] = (made.structured_content["access_key"], made.structured_content["secret_key"])

        # Both users at once through the one server process: each call signed with its own caller's keys.
        async with keyed_client(server.url, *keys["alice"]) as alice, keyed_client(server.url, *keys["bob"]) as bob:
            for _ in range(2):
                rows = await alice.call_tool(
                    "query_dataset_in_sql", {"query": 'SELECT host FROM "logs-1" ORDER BY host'}
                )
                assert not rows.is_error, _text(rows)
                assert [r["host"] for r in rows.structured_content["rows"]] == sorted(r["host"] for r in LOGS)
                denied = await alice.call_tool("query_dataset_in_sql", {"query": 'SELECT name FROM "secrets-1"'})
                assert denied.is_error
                assert "HTTP 403" in _text(denied) and "alice" in _text(denied) and "secrets-1" in _text(denied)

                rows = await bob.call_tool(
                    "query_dataset_in_sql", {"query": 'SELECT name FROM "secrets-1" ORDER BY name'}
                )
                assert not rows.is_error, _text(rows)
                assert [r["name"] for r in rows.structured_content["rows"]] == sorted(r["name"] for r in SECRETS)
                denied = await bob.call_tool("query_dataset_in_sql", {"query": 'SELECT host FROM "logs-1"'})
                assert denied.is_error and "HTTP 403" in _text(denied) and "bob" in _text(denied)

        async with keyed_client(server.url, keys["alice"][0], "not-alices-secret") as impostor:
            refused = await impostor.call_tool("get_datasets", {})
            assert refused.is_error and "HTTP 401" in _text(refused)
            # The next step names the keys this caller sent, not the server's environment.
            assert "X-Infino-Access-Key" in _text(refused) and "INFINO_ACCESS_KEY" not in _text(refused)
            assert keys["alice"][1] not in _text(refused)
