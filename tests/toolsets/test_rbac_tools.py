"""RBAC tools through the MCP client against the local endpoint (which enforces what it stores)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.errors import AuthenticationError
from infino_mcp.registry import specs_in
from infino_mcp.toolsets import dashboards, rbac, visualizations
from tests.mcp_fixtures import ENDPOINT_URL

pytestmark = pytest.mark.anyio

PASSWORD = "S3cret-pass-word"
READER_YAML = """\
Version: "2025-01-01"
Permissions:
  - Effect: Allow
    ResourceType: record
    Actions: [read]
    Resources: ["orders*"]
"""


async def keys_work(app: Any, settings: Settings, access_key: str, secret_key: str, user: str) -> bool:
    """Whether a request signed with these keys is accepted by the endpoint."""
    transport = httpx2.ASGITransport(app=app)
    async with InfinoClient(ENDPOINT_URL, access_key, secret_key, settings=settings, transport=transport) as client:
        try:
            answer = await client.request("GET", f"/user/{user}", operation="get_user", idempotent=True)
        except AuthenticationError:
            return False
    return user in answer


@pytest.fixture
async def reader(mcp: Client, call: Any) -> dict[str, Any]:
    await call(mcp, "create_role", {"name": "reader", "config": READER_YAML})
    return await call(mcp, "create_user", {"name": "ann", "config": {"Password": PASSWORD, "Roles": ["reader"]}})


async def test_role_sent_as_yaml_and_read_back(
    mcp: Client, call: Any, sent_requests: list, reader: dict[str, Any]
) -> None:
    put = next(r for r in sent_requests if r.method == "PUT" and r.url.path == "/role/reader")
    assert put.headers["content-type"] == "application/yaml"
    assert put.content.decode() == READER_YAML
    role = await call(mcp, "get_role", {"name": "reader"})
    assert role == {
        "name": "reader",
        "version": "2025-01-01",
        "permissions": [
            {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["orders*"], "Fields": {}}
        ],
    }


async def test_create_user_returns_working_keys(
    reader: dict[str, Any], endpoint_app: Any, tool_settings: Settings, sent_requests: list
) -> None:
    assert reader["username"] == "ann"
    assert reader["access_key"] and reader["secret_key"]
    assert "secret key" in reader["note"]
    assert PASSWORD not in json.dumps(reader)
    put = next(r for r in sent_requests if r.method == "PUT" and r.url.path == "/user/ann")
    assert put.headers["content-type"] == "application/json"
    assert await keys_work(endpoint_app, tool_settings, reader["access_key"], reader["secret_key"], "ann")


async def test_get_and_list_users_never_show_passwords(mcp: Client, call: Any, reader: dict[str, Any]) -> None:
    user = await call(mcp, "get_user", {"name": "ann"})
    assert user | {"account_id": None} == {
        "name": "ann",
        "roles": ["reader"],
        "version": "2025-01-01",
        "account_id": None,
    }
    listed = await call(mcp, "list_users", {})
    assert [u["name"] for u in listed["users"]] == ["admin", "ann"]
    first = await call(mcp, "list_users", {"limit": 1})
    assert [u["name"] for u in first["users"]] == ["admin"]
    assert first["page"]["truncated"] is True and first["page"]["next_offset"] == 1
    for result in (user, listed):
        assert PASSWORD not in json.dumps(result) and "assword" not in json.dumps(result)


async def test_update_user_with_yaml_and_json_text(
    mcp: Client, call: Any, reader: dict[str, Any], sent_requests: list
) -> None:
    await call(
        mcp,
        "create_role",
        {
            "name": "writer",
            "config": {
                "Permissions": [
                    {"Effect": "Allow", "ResourceType": "record", "Actions": ["write"], "Resources": ["orders"]}
                ]
            },
        },
    )
    updated = await call(mcp, "update_user", {"name": "ann", "config": "Roles:\n  - reader\n  - writer\n"})
    assert updated["acknowledged"] is True
    assert sent_requests[-1].headers["content-type"] == "application/yaml"
    assert (await call(mcp, "get_user", {"name": "ann"}))["roles"] == ["reader", "writer"]
    await call(mcp, "update_user", {"name": "ann", "config": '{"Roles": ["writer"]}'})
    assert sent_requests[-1].headers["content-type"] == "application/json"
    assert (await call(mcp, "get_user", {"name": "ann"}))["roles"] == ["writer"]
    result = await call(mcp, "update_user", {"name": "ann", "config": {"Password": "An0ther-password"}})
    assert "An0ther-password" not in json.dumps(result)


async def test_update_list_and_delete_roles(mcp: Client, call: Any, call_error: Any, reader: dict[str, Any]) -> None:
    doc = {"Permissions": [{"Effect": "Allow", "ResourceType": "dataset", "Actions": ["read"], "Resources": ["*"]}]}
    assert (await call(mcp, "update_role", {"name": "reader", "config": doc}))["acknowledged"] is True
    role = await call(mcp, "get_role", {"name": "reader"})
    assert role["permissions"][0]["ResourceType"] == "dataset"
    names = [r["name"] for r in (await call(mcp, "list_roles", {}))["roles"]]
    assert "reader" in names and "admin" in names
    assert (await call(mcp, "delete_user", {"name": "ann"}))["acknowledged"] is True
    assert (await call(mcp, "delete_role", {"name": "reader"}))["acknowledged"] is True
    role = await call_error(mcp, "get_role", {"name": "reader"})
    assert "HTTP 404" in role and "list_roles lists the roles that exist" in role
    user = await call_error(mcp, "get_user", {"name": "ann"})
    assert "HTTP 404" in user and "list_users lists the users that exist" in user


async def test_rotate_keys_replaces_the_pair(
    mcp: Client, call: Any, reader: dict[str, Any], endpoint_app: Any, tool_settings: Settings
) -> None:
    rotated = await call(mcp, "rotate_keys", {"username": "ann"})
    assert rotated["username"] == "ann"
    assert (rotated["access_key"], rotated["secret_key"]) != (reader["access_key"], reader["secret_key"])
    assert await keys_work(endpoint_app, tool_settings, rotated["access_key"], rotated["secret_key"], "ann")
    assert not await keys_work(endpoint_app, tool_settings, reader["access_key"], reader["secret_key"], "ann")


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("create_user", {"name": "bob", "config": "Roles: [reader\nPassword: x"}, "line"),
        ("create_role", {"name": "r", "config": "{bad: [1,"}, "neither valid JSON"),
        ("update_role", {"name": "r", "config": "- a list\n- of things\n"}, "must be a JSON or YAML object"),
        ("create_user", {"name": "bob", "config": "just text"}, "object"),
        ("create_user", {"name": "bob", "config": {}}, "empty"),
        ("create_user", {"name": "../admin", "config": {"Password": PASSWORD}}, "not a valid name"),
        ("get_user", {"name": "a/b"}, "not a valid name"),
        ("rotate_keys", {"username": ""}, "not a valid name"),
    ],
)
async def test_bad_input_refused_before_any_request(
    mcp: Client, call_error: Any, sent_requests: list, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    assert expected in await call_error(mcp, tool, arguments)
    assert sent_requests == []


async def test_service_refusals_are_reported(mcp: Client, call: Any, call_error: Any, reader: dict[str, Any]) -> None:
    message = await call_error(mcp, "create_role", {"name": "typo", "config": {"Permisions": []}})
    assert "400" in message and "Permisions" in message
    message = await call_error(mcp, "create_user", {"name": "bob", "config": {"Password": "short"}})
    assert "400" in message and "8 characters" in message
    message = await call_error(mcp, "rotate_keys", {"username": "nobody"})
    assert "HTTP 404" in message and "list_users lists the users that exist" in message


async def test_denial_is_reported(make_mcp: Any, call_error: Any) -> None:
    def as_ann(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, json={"error": {"reason": "user 'ann' may not list users"}})

    client = await make_mcp(transport=httpx2.MockTransport(as_ann))
    message = await call_error(client, "list_users", {})
    assert "403" in message and "may not list users" in message


async def test_secrets_redacted_from_unexpected_answers(make_mcp: Any, call: Any) -> None:
    def leaky(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/users":
            return httpx2.Response(200, json={"ann": {"Roles": ["r"], "Password": "leak-leak-leak"}})
        return httpx2.Response(200, json={"name": "ann", "password": "leak-leak-leak", "secret_key": "leak-leak-leak"})

    client = await make_mcp(transport=httpx2.MockTransport(leaky))
    for tool, arguments in (("list_users", {}), ("update_user", {"name": "ann", "config": {"Roles": ["r"]}})):
        result = await client.call_tool(tool, arguments)
        assert not result.is_error
        assert "leak" not in json.dumps(result.structured_content) and "leak" not in result.content[0].text


def test_destructive_tools_ask_for_confirmation() -> None:
    for module in (visualizations, dashboards, rbac):
        for spec in specs_in(module):
            if spec.name.startswith("delete_") or spec.name == "rotate_keys":
                assert spec.confirm and spec.destructive, spec.name
            if spec.name.startswith(("get_", "list_", "execute_")) or spec.name == "to_echarts_option":
                assert spec.read_only, spec.name


@pytest.mark.parametrize(("action", "rotated"), [("accept", True), ("decline", False)])
async def test_rotate_keys_asks_the_user_first(
    infino_client: InfinoClient, tool_settings: Settings, call: Any, action: str, rotated: bool
) -> None:
    from mcp.types import ElicitResult

    from infino_mcp.server import build_server
    from tests.mcp_fixtures import settings_for

    questions: list[str] = []

    async def answer(ctx: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # type: ignore[arg-type]

    settings = settings_for(tool_settings.data_dir, allow_destructive=False)
    async with Client(build_server(settings, client=infino_client), elicitation_callback=answer) as client:
        await call(client, "create_user", {"name": "ann", "config": {"Password": PASSWORD}})
        result = await client.call_tool("rotate_keys", {"username": "ann"})
    assert questions and "ann" in questions[0]
    assert result.is_error is not rotated
    if rotated:
        assert result.structured_content["access_key"]
