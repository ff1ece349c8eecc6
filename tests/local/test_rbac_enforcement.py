"""RBAC enforced on data routes: dataset globs, Deny over Allow, field Deny/Allow/Mask in results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest

from infino_mcp.auth import SigV4Auth
from infino_mcp.local.app import create_app
from infino_mcp.local.services import Services

pytestmark = pytest.mark.anyio

PEOPLE = [
    {
        "_id": "1",
        "name": "ann",
        "email": "ann@example.com",
        "password": "hunter2",
        "ssn": "123-45-6789",
        "user": {"city": "Oslo", "token": "t-1"},
    },
    {
        "_id": "2",
        "name": "bo",
        "email": "bo@example.com",
        "password": "swordfish",
        "ssn": "987-65-4321",
        "user": {"city": "Rome", "token": "t-2"},
    },
]

UserFactory = Callable[[list[dict]], Awaitable[httpx2.AsyncClient]]


async def _bulk(client: httpx2.AsyncClient, dataset: str, docs: list[dict]) -> httpx2.Response:
    lines = []
    for doc in docs:
        body = {k: v for k, v in doc.items() if k != "_id"}
        lines += [json.dumps({"index": {"_id": doc["_id"]}}), json.dumps(body)]
    return await client.post(
        f"/{dataset}/json", content="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"}
    )


async def _sql(client: httpx2.AsyncClient, query: str) -> httpx2.Response:
    return await client.request("GET", "/sql", json={"query": query})


def _rows(response: httpx2.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [{k: next(iter(cell.values())) for k, cell in row["values"].items()} for row in response.json()["rows"]]


@pytest.fixture
async def seeded(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    for dataset in ("logs-1", "logs-2", "secrets-1"):
        response = await _bulk(endpoint, dataset, PEOPLE)
        assert response.status_code == 200, response.text
        assert response.json()["errors"] is False
    return endpoint


@pytest.fixture
async def user_with(
    seeded: httpx2.AsyncClient, endpoint_as: Callable[[str, str], httpx2.AsyncClient]
) -> AsyncIterator[UserFactory]:
    """A client for a new user whose only role has the given permission statements."""
    clients: list[httpx2.AsyncClient] = []

    async def make(permissions: list[dict]) -> httpx2.AsyncClient:
        name = f"user{len(clients)}"
        response = await seeded.put(f"/role/{name}-role", json={"Version": "2025-01-01", "Permissions": permissions})
        assert response.status_code == 200, response.text
        keys = (await seeded.put(f"/user/{name}", json={"Roles": [f"{name}-role"]})).json()
        client = endpoint_as(keys["access_key"], keys["secret_key"])
        clients.append(client)
        return client

    yield make


async def test_dataset_globs_limit_reads_and_writes(user_with: UserFactory) -> None:
    reader = await user_with(
        [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["logs-*"]}]
    )
    rows = _rows(await _sql(reader, 'SELECT name FROM "logs-1" ORDER BY name'))
    assert [r["name"] for r in rows] == ["ann", "bo"]

    other = await _sql(reader, 'SELECT name FROM "secrets-1"')
    assert other.status_code == 403
    reason = other.json()["error"]["reason"]
    assert "user0" in reason and "read" in reason and "record" in reason and "secrets-1" in reason

    joined = await _sql(reader, 'SELECT a.name FROM "logs-1" a JOIN "secrets-1" b ON a.name = b.name')
    assert joined.status_code == 403

    insert = await _sql(reader, "INSERT INTO \"logs-1\" (name) VALUES ('eve')")
    assert insert.status_code == 403
    assert "write" in insert.json()["error"]["reason"]
    bulk = await _bulk(reader, "logs-1", [{"_id": "3", "name": "eve"}])
    assert bulk.status_code == 403
    assert (await reader.delete("/logs-1")).status_code == 403

    assert (await reader.get("/logs-1/doc/1")).status_code == 200
    assert (await reader.get("/secrets-1/doc/1")).status_code == 403


async def test_deny_wins_over_allow(user_with: UserFactory) -> None:
    client = await user_with(
        [
            {"ResourceType": "record", "Actions": ["read"], "Resources": ["*"]},
            {"Effect": "Deny", "ResourceType": "record", "Actions": ["read"], "Resources": ["secrets-*"]},
        ]
    )
    assert len(_rows(await _sql(client, 'SELECT name FROM "logs-2"'))) == 2
    denied = await _sql(client, 'SELECT name FROM "secrets-1"')
    assert denied.status_code == 403
    assert "denies" in denied.json()["error"]["reason"]


async def test_field_deny_and_mask_in_sql_and_get_record(user_with: UserFactory) -> None:
    client = await user_with(
        [
            {
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-*"],
                "Fields": {"Deny": ["password", "user.token"], "Mask": {"email": "redact", "ssn": "hash"}},
            }
        ]
    )
    rows = _rows(await _sql(client, 'SELECT * FROM "logs-1" ORDER BY name'))
    assert len(rows) == 2
    for row in rows:
        assert "password" not in row
        assert "user.token" not in row
        assert row["email"] == "****"
        assert row["ssn"].startswith("sha256:") and "6789" not in row["ssn"]
        assert row["user.city"] in ("Oslo", "Rome")
    assert rows[0]["ssn"] != rows[1]["ssn"]

    source = (await client.get("/logs-1/doc/1")).json()["_source"]
    assert source["name"] == "ann"
    assert source["email"] == "****"
    assert "password" not in source
    assert source["user"] == {"city": "Oslo"}
    assert "hunter2" not in json.dumps(source)


async def test_field_allow_list(user_with: UserFactory) -> None:
    client = await user_with(
        [
            {
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-1"],
                "Fields": {"Allow": ["name", "user.city"]},
            }
        ]
    )
    rows = _rows(await _sql(client, 'SELECT * FROM "logs-1" ORDER BY name'))
    assert [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows] == [
        {"name": "ann", "user.city": "Oslo"},
        {"name": "bo", "user.city": "Rome"},
    ]
    record = (await client.get("/logs-1/doc/2")).json()
    assert record["_id"] == "2"
    assert record["_source"] == {"name": "bo", "user": {"city": "Rome"}}


async def test_field_rules_from_two_roles_combine(seeded: httpx2.AsyncClient, local_services: Services) -> None:
    """Allow lists add up across roles; a Deny statement with Fields hides fields without denying the dataset."""
    for name, permissions in {
        "names": [
            {"ResourceType": "record", "Actions": ["read"], "Resources": ["logs-*"], "Fields": {"Allow": ["name"]}}
        ],
        "emails": [
            {
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-*"],
                "Fields": {"Allow": ["email", "ssn"]},
            }
        ],
        "no-ssn": [
            {
                "Effect": "Deny",
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["*"],
                "Fields": {"Deny": ["ssn"]},
            }
        ],
    }.items():
        assert (await seeded.put(f"/role/{name}", json={"Permissions": permissions})).status_code == 200
    keys = (await seeded.put("/user/multi", json={"Roles": ["names", "emails", "no-ssn"]})).json()
    async with httpx2.AsyncClient(
        base_url="http://127.0.0.1:8765",
        transport=httpx2.ASGITransport(app=create_app(local_services)),
        auth=SigV4Auth(keys["access_key"], keys["secret_key"]),
    ) as client:
        source = (await client.get("/logs-2/doc/1")).json()["_source"]
    assert source == {"name": "ann", "email": "ann@example.com"}


async def test_admin_sees_everything(seeded: httpx2.AsyncClient) -> None:
    rows = _rows(await _sql(seeded, 'SELECT * FROM "secrets-1" ORDER BY name'))
    assert rows[0]["password"] == "hunter2"
    assert (await seeded.get("/secrets-1/doc/1")).json()["_source"] == {
        k: v for k, v in PEOPLE[0].items() if k != "_id"
    }


async def test_hidden_fields_do_not_leak_through_sql_expressions(user_with: UserFactory) -> None:
    client = await user_with(
        [
            {
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-*"],
                "Fields": {"Deny": ["password"], "Mask": ["email"]},
            }
        ]
    )
    for query in [
        'SELECT password AS p FROM "logs-1"',
        'SELECT upper(email) AS e FROM "logs-1"',
        "SELECT name FROM \"logs-1\" WHERE password = 'hunter2'",
    ]:
        response = await _sql(client, query)
        assert response.status_code == 403, (query, response.text)
