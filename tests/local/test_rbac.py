"""RBAC management through the local endpoint's HTTP API: users, roles, keys, validation."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx2
import pytest

from infino_mcp.auth import SigV4Auth
from infino_mcp.local.app import create_app
from infino_mcp.local.services import Services
from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio

ROLE_YAML = """
Version: 2025-01-01
Permissions:
  - ResourceType: record
    Actions: [read]
    Resources: ["logs-*", "metrics-*"]
  - ResourceType: metadata
    Actions: [read]
    Resources: ["*"]
"""

ClientFactory = Callable[[str, str], httpx2.AsyncClient]


@pytest.fixture
async def client_for(local_services: Services) -> AsyncIterator[ClientFactory]:
    """Make clients of the same endpoint signed with other users' keys."""
    app = create_app(local_services)
    clients: list[httpx2.AsyncClient] = []

    def make(access_key: str, secret_key: str) -> httpx2.AsyncClient:
        client = httpx2.AsyncClient(
            base_url="http://127.0.0.1:8765",
            transport=httpx2.ASGITransport(app=app),
            auth=SigV4Auth(access_key, secret_key),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _create_role(endpoint: httpx2.AsyncClient, name: str, yaml_text: str = ROLE_YAML) -> None:
    response = await endpoint.put(f"/role/{name}", content=yaml_text, headers={"content-type": "application/yaml"})
    assert response.status_code == 200, response.text
    assert response.json() == {"acknowledged": True}


async def _create_user(endpoint: httpx2.AsyncClient, name: str, roles: list[str]) -> dict:
    response = await endpoint.put(
        f"/user/{name}", json={"Version": "2025-01-01", "Password": "S3cret-pass!", "Roles": roles}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_bootstrap_admin_is_listed_without_password(endpoint: httpx2.AsyncClient) -> None:
    users = (await endpoint.get("/users")).json()
    assert list(users) == ["admin"]
    assert users["admin"]["Roles"] == ["admin"]
    assert set(users["admin"]) == {"Version", "Roles", "account_id"}
    roles = (await endpoint.get("/roles")).json()
    assert roles["admin"]["Permissions"][0]["Resources"] == ["*"]


async def test_key_material_is_owner_only(local_services: Services) -> None:
    rbac_dir = local_services.data_dir / "rbac"
    assert stat.S_IMODE(rbac_dir.stat().st_mode) == 0o700
    files = list(rbac_dir.iterdir())
    assert any(f.name == "keys.json" for f in files)
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


async def test_user_and_role_lifecycle(endpoint: httpx2.AsyncClient, local_services: Services) -> None:
    await _create_role(endpoint, "readonly-analyst")
    role = (await endpoint.get("/role/readonly-analyst")).json()
    assert role == {
        "readonly-analyst": {
            "Version": "2025-01-01",
            "Permissions": [
                {
                    "Effect": "Allow",
                    "ResourceType": "record",
                    "Actions": ["read"],
                    "Resources": ["logs-*", "metrics-*"],
                    "Fields": {},
                },
                {"Effect": "Allow", "ResourceType": "metadata", "Actions": ["read"], "Resources": ["*"], "Fields": {}},
            ],
        }
    }
    created = await _create_user(endpoint, "analytics-agent", ["readonly-analyst"])
    assert set(created) == {"account_id", "access_key", "secret_key", "username"}
    assert created["username"] == "analytics-agent"
    assert local_services.rbac.lookup_key(created["access_key"]) == (created["secret_key"], "analytics-agent")

    user = (await endpoint.get("/user/analytics-agent")).json()
    assert user == {
        "analytics-agent": {"Version": "2025-01-01", "Roles": ["readonly-analyst"], "account_id": created["account_id"]}
    }
    stored_users = (local_services.data_dir / "rbac" / "users.json").read_text()
    assert "S3cret-pass!" not in stored_users
    assert "pbkdf2_sha256$" in stored_users

    listed = (await endpoint.get("/users")).json()
    assert set(listed) == {"admin", "analytics-agent"}

    updated = await endpoint.patch(
        "/user/analytics-agent",
        content="Roles: [readonly-analyst, admin]\n",
        headers={"content-type": "application/yaml"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["roles"] == ["readonly-analyst", "admin"]

    patched_role = await endpoint.patch(
        "/role/readonly-analyst",
        json={"Permissions": [{"ResourceType": "record", "Actions": ["read", "write"], "Resources": ["logs-*"]}]},
    )
    assert patched_role.status_code == 200, patched_role.text
    assert patched_role.json()["permissions"][0]["Actions"] == ["read", "write"]

    in_use = await endpoint.delete("/role/readonly-analyst")
    assert in_use.status_code == 409
    assert "analytics-agent" in in_use.json()["error"]["reason"]

    assert (await endpoint.delete("/user/analytics-agent")).json() == {"acknowledged": True}
    assert local_services.rbac.lookup_key(created["access_key"]) is None
    assert (await endpoint.delete("/role/readonly-analyst")).json() == {"acknowledged": True}
    not_found_reason(await endpoint.get("/role/readonly-analyst"), "list_roles")
    not_found_reason(await endpoint.get("/user/analytics-agent"), "list_users")


async def test_conflicts_and_unknown_names(endpoint: httpx2.AsyncClient) -> None:
    await _create_role(endpoint, "r1")
    again = await endpoint.put("/role/r1", json={"Permissions": []})
    assert again.status_code == 409
    await _create_user(endpoint, "u1", ["r1"])
    dup = await endpoint.put("/user/u1", json={"Roles": ["r1"]})
    assert dup.status_code == 409
    for method, path in [
        ("GET", "/user/nobody"),
        ("PATCH", "/user/nobody"),
        ("DELETE", "/user/nobody"),
        ("GET", "/role/none"),
        ("PATCH", "/role/none"),
        ("DELETE", "/role/none"),
        ("PATCH", "/user/nobody/keys"),
    ]:
        body = b'{"Roles": []}' if method == "PATCH" and "keys" not in path else b""
        response = await endpoint.request(method, path, content=body, headers={"content-type": "application/json"})
        not_found_reason(response, "list_users" if path.startswith("/user/") else "list_roles")
    missing_role = await endpoint.put("/user/u2", json={"Roles": ["r1", "ghost"]})
    assert missing_role.status_code == 400
    assert "ghost" in missing_role.json()["error"]["reason"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"Permissions": [{"ResourceType": "table", "Actions": ["read"]}]}, "metadata, dataset, record"),
        ({"Permissions": [{"ResourceType": "record", "Actions": ["select"]}]}, "read, write, create, delete"),
        ({"Permissions": [{"Effect": "Maybe", "ResourceType": "record", "Actions": ["read"]}]}, "Allow, Deny"),
        ({"Permisions": []}, "Version, Permissions"),
        (
            {"Permissions": [{"ResourceType": "record", "Actions": ["read"], "Fields": {"Mask": {"a": "blur"}}}]},
            "redact, remove, hash",
        ),
        (
            {
                "Permissions": [
                    {"Effect": "Deny", "ResourceType": "record", "Actions": ["read"], "Fields": {"Allow": ["a"]}}
                ]
            },
            "Deny statement",
        ),
        ({"Permissions": "all"}, "list"),
    ],
)
async def test_invalid_role_documents_are_rejected(endpoint: httpx2.AsyncClient, document: dict, expected: str) -> None:
    response = await endpoint.put("/role/bad", json=document)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["reason"]
    not_found_reason(await endpoint.get("/role/bad"), "list_roles")


async def test_invalid_bodies_report_the_position(endpoint: httpx2.AsyncClient) -> None:
    bad_yaml = await endpoint.put(
        "/role/r", content="Permissions:\n  - ResourceType: [record\n", headers={"content-type": "application/yaml"}
    )
    assert bad_yaml.status_code == 400
    assert "line" in bad_yaml.json()["error"]["reason"]
    bad_json = await endpoint.put("/user/u", content=b'{"Roles": [', headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert "line 1 column" in bad_json.json()["error"]["reason"]
    bad_name = await endpoint.put("/user/bad%20name", json={"Roles": []})
    assert bad_name.status_code == 400


async def test_yaml_user_and_lowercase_keys(endpoint: httpx2.AsyncClient) -> None:
    role = "version: 2025-01-01\npermissions:\n  - resource_type: RECORD\n    actions: [Read]\n    resources: logs-*\n"
    await _create_role(endpoint, "lower", role)
    got = (await endpoint.get("/role/lower")).json()["lower"]["Permissions"][0]
    assert got == {
        "Effect": "Allow",
        "ResourceType": "record",
        "Actions": ["read"],
        "Resources": ["logs-*"],
        "Fields": {},
    }
    user_yaml = "Version: 2025-01-01\nPassword: SecureP@ssw0rd123!\nRoles:\n  - lower\n"
    response = await endpoint.put("/user/yaml-user", content=user_yaml, headers={"content-type": "application/yaml"})
    assert response.status_code == 200, response.text
    assert (await endpoint.get("/user/yaml-user")).json()["yaml-user"]["Roles"] == ["lower"]


async def test_non_admin_cannot_manage_rbac(endpoint: httpx2.AsyncClient, client_for: ClientFactory) -> None:
    await _create_role(endpoint, "reader")
    keys = await _create_user(endpoint, "bob", ["reader"])
    bob = client_for(keys["access_key"], keys["secret_key"])
    for method, path, body in [
        ("GET", "/users", None),
        ("GET", "/roles", None),
        ("PUT", "/user/eve", {"Roles": ["admin"]}),
        ("PATCH", "/user/bob", {"Roles": ["admin"]}),
        ("DELETE", "/user/admin", None),
        ("PUT", "/role/mine", {"Permissions": []}),
        ("PATCH", "/role/reader", {"Permissions": []}),
        ("GET", "/user/admin", None),
        ("PATCH", "/user/admin/keys", None),
    ]:
        response = await bob.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert "bob" in response.json()["error"]["reason"]
    # Their own user document and the roles they hold are readable.
    assert (await bob.get("/user/bob")).json()["bob"]["Roles"] == ["reader"]
    assert "reader" in (await bob.get("/role/reader")).json()
    assert (await bob.patch("/user/bob", json={"Password": "another-pass"})).status_code == 200


async def test_rotating_keys_revokes_the_old_ones(endpoint: httpx2.AsyncClient, client_for: ClientFactory) -> None:
    await _create_role(endpoint, "reader")
    keys = await _create_user(endpoint, "carol", ["reader"])
    old = client_for(keys["access_key"], keys["secret_key"])
    assert (await old.get("/user/carol")).status_code == 200

    rotated = await old.patch("/user/carol/keys")
    assert rotated.status_code == 200, rotated.text
    new_keys = rotated.json()
    assert set(new_keys) == {"access_key", "secret_key"}
    assert new_keys["access_key"] != keys["access_key"]

    refused = await old.get("/user/carol")
    assert refused.status_code == 401
    assert "access key" in refused.json()["error"]["reason"]
    assert (await client_for(new_keys["access_key"], new_keys["secret_key"]).get("/user/carol")).status_code == 200

    by_admin = (await endpoint.patch("/user/carol/keys")).json()
    assert (await client_for(new_keys["access_key"], new_keys["secret_key"]).get("/user/carol")).status_code == 401
    assert (await client_for(by_admin["access_key"], by_admin["secret_key"]).get("/user/carol")).status_code == 200


async def test_builtin_role_and_bootstrap_user_are_protected(endpoint: httpx2.AsyncClient) -> None:
    assert (await endpoint.delete("/role/admin")).status_code == 400
    assert (await endpoint.patch("/role/admin", json={"Permissions": []})).status_code == 400
    assert (await endpoint.delete("/user/admin")).status_code == 400
    assert (await endpoint.patch("/user/admin", json={"Roles": []})).status_code == 400
    assert (await endpoint.get("/users")).status_code == 200


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    from infino_mcp.local.security.rbac import Rbac
    from infino_mcp.local.security.role_documents import validate_role, validate_user

    first = Rbac(tmp_path / "rbac")
    first.put_role("r", validate_role({"Permissions": []}), create=True)
    access, secret = first.create_user("dave", validate_user({"Roles": ["r"]}, partial=False))
    second = Rbac(tmp_path / "rbac")
    assert second.bootstrap_credentials() == first.bootstrap_credentials()
    assert second.lookup_key(access) == (secret, "dave")
    assert second.principal("dave").roles == ("r",)
    assert second.account_id == first.account_id
