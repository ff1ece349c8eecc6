"""Regressions for authorization bypasses found in review: each test is an attack that used to work.

* SQL names: schema-qualified tables, a comment before a search function's dataset
  argument, and CTEs named like a dataset reached datasets nobody authorized.
* SQL writes: INSERT VALUES subqueries, UPDATE/DELETE subqueries and field rules.
* Field rules: unquoted names in another case (``PASSWORD``) slipped past Deny/Mask.
* Connections: secrets under unlisted keys or inside URLs were shown; files were world-readable.
* Visualizations and dashboards: anyone could change or delete them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable

import httpx2
import pytest

from infino_mcp.local.services import Services
from tests.local.test_rbac_enforcement import PEOPLE, _bulk, _rows, _sql
from tests.local.test_visualizations import RAW

pytestmark = pytest.mark.anyio

ClientFactory = Callable[[str, str], httpx2.AsyncClient]
FIELD_RULES = {"Deny": ["password", "user.token"], "Mask": {"email": "redact", "ssn": "remove"}}


async def _user(
    admin: httpx2.AsyncClient, endpoint_as: ClientFactory, name: str, permissions: list[dict]
) -> httpx2.AsyncClient:
    response = await admin.put(f"/role/{name}-role", json={"Version": "2025-01-01", "Permissions": permissions})
    assert response.status_code == 200, response.text
    keys = (await admin.put(f"/user/{name}", json={"Roles": [f"{name}-role"]})).json()
    return endpoint_as(keys["access_key"], keys["secret_key"])


async def _seed(admin: httpx2.AsyncClient, *datasets: str) -> None:
    for dataset in datasets:
        response = await _bulk(admin, dataset, PEOPLE)
        assert response.status_code == 200 and response.json()["errors"] is False, response.text


def _no_leak(response: httpx2.Response, status: int) -> None:
    assert response.status_code == status, response.text
    for secret in ("hunter2", "swordfish", "123-45-6789", "ann@example.com", "t-1"):
        assert secret not in response.text


# ----- 1. table names in SQL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        'SELECT * FROM public."secrets-1"',
        'SELECT * FROM datafusion.public."secrets-1"',
        'SELECT * FROM DATAFUSION.PUBLIC."secrets-1"',
        'SELECT name FROM "logs-1" UNION ALL SELECT name FROM public."secrets-1"',
        "SELECT * FROM bm25_search('secrets-1', 'name', 'ann', 10)",
        "SELECT * FROM bm25_search(/**/'secrets-1', 'name', 'ann', 10)",
        "SELECT * FROM BM25_SEARCH(/* x */ 'secrets-1', 'name', 'ann', 10)",
        'WITH "secrets-1" AS (SELECT * FROM "secrets-1") SELECT * FROM "secrets-1"',
        (
            'SELECT name FROM "secrets-1" UNION ALL '
            'SELECT name FROM (WITH "secrets-1" AS (SELECT name FROM "logs-1") SELECT name FROM "secrets-1") t'
        ),
    ],
)
async def test_sql_cannot_reach_an_unauthorized_dataset(endpoint, endpoint_as, query) -> None:
    await _seed(endpoint, "logs-1", "secrets-1")
    reader = await _user(
        endpoint,
        endpoint_as,
        "reader",
        [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["logs-*"]}],
    )
    response = await _sql(reader, query)
    _no_leak(response, 403)
    assert "secrets-1" in response.json()["error"]["reason"]


async def test_sql_schemas_other_than_public_and_odd_search_arguments_are_refused(endpoint) -> None:
    await _seed(endpoint, "logs-1")
    for query in (
        'SELECT * FROM other."logs-1"',
        "SELECT * FROM information_schema.tables",
        'SELECT * FROM otherdb.public."logs-1"',
        "SELECT * FROM bm25_search(\"logs-1\", 'name', 'ann', 10)",
        "SELECT * FROM bm25_search(concat('logs', '-1'), 'name', 'ann', 10)",
    ):
        assert (await _sql(endpoint, query)).status_code == 400, query


async def test_sql_public_schema_and_ctes_still_work(endpoint, endpoint_as) -> None:
    await _seed(endpoint, "logs-1", "secrets-1")
    reader = await _user(
        endpoint,
        endpoint_as,
        "reader",
        [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["logs-*"]}],
    )
    for query in (
        'SELECT name FROM public."logs-1" ORDER BY name',
        'SELECT name FROM datafusion.public."logs-1" ORDER BY name',
        'WITH s AS (SELECT name FROM "logs-1") SELECT name FROM s ORDER BY name',
    ):
        assert [r["name"] for r in _rows(await _sql(reader, query))] == ["ann", "bo"], query
    hits = _rows(await _sql(reader, "SELECT name FROM bm25_search(/**/'logs-1', 'name', 'ann', 10)"))
    assert [r["name"] for r in hits] == ["ann"]


# ----- 2. INSERT / UPDATE / DELETE ---------------------------------------------------------------


@pytest.fixture
async def writer(endpoint: httpx2.AsyncClient, endpoint_as: ClientFactory) -> httpx2.AsyncClient:
    await _seed(endpoint, "logs-1", "secrets-1")
    return await _user(
        endpoint,
        endpoint_as,
        "writer",
        [
            {
                "Effect": "Allow",
                "ResourceType": "record",
                "Actions": ["read", "write", "delete"],
                "Resources": ["logs-*"],
                "Fields": FIELD_RULES,
            }
        ],
    )


@pytest.mark.parametrize(
    ("statement", "status"),
    [
        ('INSERT INTO "logs-1" (_id, name) VALUES (\'x1\', (SELECT ssn FROM "secrets-1" LIMIT 1))', 400),
        ('INSERT INTO "logs-1" (_id, name) VALUES (\'x1\', (SELECT password FROM "logs-1" LIMIT 1))', 400),
        ('INSERT INTO "logs-1" (_id, name) SELECT _id, password FROM "logs-1"', 403),
        ('INSERT INTO "logs-1" (_id, name) SELECT _id, name FROM "secrets-1"', 403),
        ("UPDATE \"logs-1\" SET name = (SELECT email FROM \"secrets-1\" WHERE name = 'bo') WHERE name = 'bo'", 403),
        ("UPDATE \"logs-1\" SET name = (SELECT email FROM \"logs-1\" WHERE name = 'bo') WHERE name = 'bo'", 403),
        ("UPDATE \"logs-1\" SET name = password WHERE name = 'ann'", 403),
        ("UPDATE \"logs-1\" SET name = upper(PASSWORD) WHERE name = 'ann'", 403),
        ("UPDATE \"logs-1\" SET name = email WHERE name = 'ann'", 403),
        ("UPDATE \"logs-1\" SET age = 1 WHERE password = 'hunter2'", 403),
        ('UPDATE public."logs-1" SET age = 1 WHERE name IN (SELECT name FROM "secrets-1")', 403),
        ("DELETE FROM \"logs-1\" WHERE password = 'hunter2'", 403),
        ('DELETE FROM "logs-1" WHERE name IN (SELECT name FROM "secrets-1" WHERE password = \'hunter2\')', 403),
        ('DELETE FROM "logs-1" WHERE name IN (SELECT name FROM public."secrets-1")', 403),
    ],
)
async def test_writes_cannot_read_what_the_caller_may_not(endpoint, writer, statement, status) -> None:
    response = await writer.post("/sql", json={"query": statement})
    _no_leak(response, status)
    names = _rows(await _sql(endpoint, 'SELECT _id, name FROM "logs-1" ORDER BY _id'))
    assert names == [{"_id": "1", "name": "ann"}, {"_id": "2", "name": "bo"}]


async def test_allowed_writes_still_work(endpoint, writer) -> None:
    inserted = await writer.post(
        "/sql", json={"query": "INSERT INTO \"logs-1\" (_id, name, age) VALUES ('3', 'cy', CAST('7' AS INT))"}
    )
    assert inserted.status_code == 200, inserted.text
    updated = await writer.post("/sql", json={"query": "UPDATE \"logs-1\" SET name = upper(name) WHERE name = 'bo'"})
    assert updated.status_code == 200 and updated.json()["affected_rows"] == 1, updated.text
    deleted = await writer.post("/sql", json={"query": "DELETE FROM \"logs-1\" WHERE name = 'ann'"})
    assert deleted.status_code == 200 and deleted.json()["affected_rows"] == 1, deleted.text
    rows = _rows(await _sql(endpoint, 'SELECT _id, name, age FROM "logs-1" ORDER BY _id'))
    assert rows == [{"_id": "2", "name": "BO", "age": None}, {"_id": "3", "name": "cy", "age": 7}]


async def test_write_only_callers_need_read_to_filter(endpoint, endpoint_as) -> None:
    await _seed(endpoint, "logs-1")
    blind = await _user(
        endpoint,
        endpoint_as,
        "blind",
        [{"Effect": "Allow", "ResourceType": "record", "Actions": ["write", "delete"], "Resources": ["logs-*"]}],
    )
    oracle = await blind.post("/sql", json={"query": "DELETE FROM \"logs-1\" WHERE password = 'hunter2'"})
    assert oracle.status_code == 403, oracle.text
    assert (await blind.post("/sql", json={"query": "UPDATE \"logs-1\" SET name = 'z'"})).status_code == 200


# ----- 3. identifier case in field rules ---------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        'SELECT upper(PASSWORD) AS x FROM "logs-1"',
        "SELECT name FROM \"logs-1\" WHERE PASSWORD = 'hunter2'",
        'SELECT Password AS password FROM "logs-1"',
        'SELECT upper(EMAIL) AS x FROM "logs-1"',
        'SELECT EMAIL AS e FROM "logs-1"',
        'SELECT name FROM "logs-1" ORDER BY Email',
        'SELECT upper(T.PASSWORD) AS x FROM "logs-1" t',
        'SELECT upper(public."logs-1".password) AS x FROM public."logs-1"',
        "SELECT name FROM bm25_search('logs-1', 'PASSWORD', 'hunter2', 10)",
    ],
)
async def test_field_rules_see_unquoted_names_as_the_engine_does(endpoint, endpoint_as, query) -> None:
    await _seed(endpoint, "logs-1")
    reader = await _user(
        endpoint,
        endpoint_as,
        "reader",
        [
            {
                "Effect": "Allow",
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-*"],
                "Fields": FIELD_RULES,
            }
        ],
    )
    response = await _sql(reader, query)
    _no_leak(response, 403)
    field = "password" if "password" in query.lower() else "email"
    assert f"field {field!r} is" in response.json()["error"]["reason"], response.text


async def test_masked_field_in_another_case_is_still_masked(endpoint, endpoint_as) -> None:
    await _seed(endpoint, "logs-1")
    reader = await _user(
        endpoint,
        endpoint_as,
        "reader",
        [
            {
                "Effect": "Allow",
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["logs-*"],
                "Fields": FIELD_RULES,
            }
        ],
    )
    response = await _sql(reader, 'SELECT name, EMAIL FROM "logs-1" ORDER BY name')
    _no_leak(response, 200)
    assert [r["name"] for r in _rows(response)] == ["ann", "bo"]


# ----- 4. connections ----------------------------------------------------------------------------

CONFIG = {
    "host": "db.internal",
    "port": 5432,
    "user": "app",
    "uri": "postgresql://app:S3cretPw@db.internal:5432/prod?sslpassword=K3yPass&sslmode=require",
    "pwd": "S3cretPw",
    "key": "AZURE-ACCOUNT-KEY==",
    "password": "S3cretPw",
    "extra": {"sas": "sv=2024&sig=SIGNATURE", "host": "h"},
}


async def test_connection_configs_show_no_secret(endpoint, endpoint_as, local_services: Services) -> None:
    created = await endpoint.post("/source/postgres", json={"config": CONFIG})
    assert created.status_code == 200, created.text
    viewer = await _user(
        endpoint,
        endpoint_as,
        "viewer",
        [{"Effect": "Allow", "ResourceType": "metadata", "Actions": ["read"], "Resources": ["*"]}],
    )
    for client in (endpoint, viewer):
        listed = await client.get("/sources/connections")
        assert listed.status_code == 200, listed.text
        for secret in ("S3cretPw", "AZURE-ACCOUNT-KEY", "SIGNATURE", "K3yPass"):
            assert secret not in listed.text
        config = listed.json()[0]["config"]
        assert config["host"] == "db.internal" and config["port"] == 5432 and config["user"] == "app"
        assert config["uri"].startswith("postgresql://app:****@db.internal:5432/prod?")
        assert config["pwd"] == config["key"] == config["password"] == config["extra"]["sas"] == "****"
    # Sending back what was read keeps the stored secrets.
    conn_id = created.json()["id"]
    patched = await endpoint.patch(f"/source/{conn_id}", json={"config": created.json()["config"]})
    assert patched.status_code == 200, patched.text
    stored = local_services.collection("connections").get(conn_id)["config"]
    assert stored["uri"] == CONFIG["uri"] and stored["pwd"] == "S3cretPw"


async def test_stored_objects_are_private_files(endpoint, local_services: Services) -> None:
    assert (await endpoint.post("/source/postgres", json={"config": CONFIG})).status_code == 200
    objects = local_services.data_dir / "objects"
    assert stat.S_IMODE(objects.stat().st_mode) == 0o700
    files = list(objects.glob("*.json"))
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


# ----- 5. visualizations and dashboards ----------------------------------------------------------


async def test_visualizations_and_dashboards_change_only_by_creator_or_admin(endpoint, endpoint_as) -> None:
    index = RAW["source"]["index"]
    await _seed(endpoint, index)
    viz = (await endpoint.post("/visualizations", json=RAW)).json()
    dash = (await endpoint.post("/dashboards", json={"title": "KPIs", "panels": [{"viz_id": viz["id"]}]})).json()
    eve = await _user(
        endpoint,
        endpoint_as,
        "eve",
        [{"Effect": "Allow", "ResourceType": "metadata", "Actions": ["read"], "Resources": ["nothing-*"]}],
    )
    rita = await _user(
        endpoint,
        endpoint_as,
        "rita",
        [{"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": [index]}],
    )

    # No access to the dashboard's data: the dashboard is neither listed, readable nor changeable.
    assert (await eve.get("/dashboards")).json()["items"] == []
    assert (await eve.get(f"/dashboards/{dash['id']}")).status_code == 403
    assert (await eve.patch(f"/dashboards/{dash['id']}", json={"title": "defaced", "panels": []})).status_code == 403
    assert (await eve.delete(f"/dashboards/{dash['id']}")).status_code == 403
    assert (await eve.post("/dashboards", json={"panels": [{"viz_id": viz["id"]}]})).status_code == 403

    # Read access to the data: can read both, change neither (someone else created them).
    assert (await rita.get(f"/dashboards/{dash['id']}")).status_code == 200
    assert [d["id"] for d in (await rita.get("/dashboards")).json()["items"]] == [dash["id"]]
    assert (await rita.get(f"/visualizations/{viz['id']}")).status_code == 200
    assert (await rita.patch(f"/visualizations/{viz['id']}", json={"title": "x"})).status_code == 403
    assert (await rita.delete(f"/visualizations/{viz['id']}")).status_code == 403
    assert (await rita.patch(f"/dashboards/{dash['id']}", json={"title": "x"})).status_code == 403
    assert (await rita.delete(f"/dashboards/{dash['id']}")).status_code == 403
    assert (await endpoint.get(f"/dashboards/{dash['id']}")).json()["attributes"]["title"] == "KPIs"

    # What rita creates, rita may change and delete; an admin may change anything.
    mine = (await rita.post("/visualizations", json={**RAW, "title": "mine"})).json()
    board = (await rita.post("/dashboards", json={"title": "mine", "panels": [{"viz_id": mine["id"]}]})).json()
    assert (await rita.patch(f"/visualizations/{mine['id']}", json={"title": "mine 2"})).status_code == 200
    assert (await rita.patch(f"/dashboards/{board['id']}", json={"title": "mine 2"})).status_code == 200
    assert (await endpoint.patch(f"/dashboards/{board['id']}", json={"title": "admin"})).status_code == 200
    assert (await rita.delete(f"/dashboards/{board['id']}")).status_code == 200
    assert (await rita.delete(f"/visualizations/{mine['id']}")).status_code == 200
    assert (await endpoint.patch(f"/visualizations/{viz['id']}", json={"title": "admin"})).status_code == 200
    assert (await endpoint.delete(f"/dashboards/{dash['id']}")).status_code == 200
