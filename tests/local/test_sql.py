"""SQL through the local endpoint: names as users write them, envelopes, INSERT/UPDATE/DELETE."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


def plain(envelope: dict) -> list[dict]:
    return [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in envelope["rows"]]


async def sql(endpoint, query: str, *, method: str = "POST", status: int = 200) -> dict:
    response = await endpoint.request(method, "/sql", json={"query": query})
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
async def shop(endpoint):
    lines = []
    for i in range(6):
        lines += [
            {"index": {"_id": str(i)}},
            {
                "@timestamp": f"2024-01-0{i + 1}T00:00:00Z",
                "category": ["toys", "books"][i % 2],
                "price": 1.5 * i,
                "qty": i,
                "geo": {"city": ["Rome", "Oslo"][i % 2]},
                "score": i,
            },
        ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    assert not (await endpoint.post("/sample-ecommerce-data/json", content=body)).json()["errors"]
    body = '{"index":{"_id":"0"}}\n{"level":"info","n":1}\n{"index":{"_id":"3"}}\n{"level":"warn","n":2}\n'
    assert not (await endpoint.post("/Logs.2024/json", content=body)).json()["errors"]
    return endpoint


async def test_select_star_envelope_hides_internal_columns(shop):
    envelope = await sql(shop, 'SELECT * FROM "sample-ecommerce-data" ORDER BY qty LIMIT 2', method="GET")
    assert envelope["statement_type"] == "Select"
    assert envelope["affected_rows"] == 2
    assert envelope["has_joins"] is False
    assert envelope["limit"] == 2
    assert envelope["table_names"] == ["sample-ecommerce-data"]
    for key in ("execution_time", "aggregations", "error_message", "query_events", "order_by", "distinct",
                "group_by_columns"):  # fmt: skip
        assert key in envelope
    columns = {c["name"]["Column"]["name"]: c["data_type"] for c in envelope["columns"]}
    assert columns == {
        "@timestamp": "Date", "category": "String", "price": "Float", "qty": "Integer",
        "geo.city": "String", "score": "Integer",
    }  # fmt: skip
    first = envelope["rows"][0]["values"]
    assert first["@timestamp"] == {"Date": "2024-01-01T00:00:00.000Z"}
    assert first["category"] == {"String": "toys"}
    assert first["qty"] == {"Integer": 0}


@pytest.mark.parametrize(
    "query",
    [
        "select category, count(*) AS c from sample-ecommerce-data group by category order by category",
        "select category, count(*) AS c from `sample-ecommerce-data` group by category order by category",
        'select category, count(*) AS c from "sample-ecommerce-data" group by 1 order by 1',
    ],
)
async def test_dataset_names_as_users_write_them(shop, query):
    assert plain(await sql(shop, query)) == [{"category": "books", "c": 3}, {"category": "toys", "c": 3}]


async def test_ids_renamed_fields_and_dotted_names(shop):
    rows = plain(
        await sql(shop, 'select _id, "geo.city", score from "sample-ecommerce-data" where score > 3 order by _id')
    )
    assert rows == [{"_id": "4", "geo.city": "Rome", "score": 4}, {"_id": "5", "geo.city": "Oslo", "score": 5}]
    rows = plain(await sql(shop, 'select "Logs.2024".level from "Logs.2024" order by level'))
    assert rows == [{"level": "info"}, {"level": "warn"}]
    assert plain(await sql(shop, "select count(*) AS n from logs.2024")) == [{"n": 2}]


async def test_join_across_datasets(shop):
    envelope = await sql(
        shop,
        'select s.qty, l.level from "sample-ecommerce-data" s join Logs.2024 l on s._id = l._id order by s.qty',
    )
    assert envelope["has_joins"] is True
    assert plain(envelope) == [{"qty": 0, "level": "info"}, {"qty": 3, "level": "warn"}]


async def test_aggregates_and_time_functions(shop):
    rows = plain(
        await sql(
            shop,
            "select date_trunc('day', \"@timestamp\") AS d, sum(price) AS total, now() AS t "
            'from "sample-ecommerce-data" group by 1 order by 1 limit 1',
        )
    )
    assert rows[0]["d"] == "2024-01-01T00:00:00.000Z"
    assert rows[0]["total"] == 0.0
    assert rows[0]["t"].endswith("Z")


async def test_errors_name_datasets_not_tables(shop):
    error = (await sql(shop, 'select nocol from "Logs.2024"', status=400))["error"]["reason"]
    assert error == "Schema error: No field named nocol. Valid fields are level, n."
    missing = (await sql(shop, "select * from nosuch", status=404))["error"]["reason"]
    assert missing == "Dataset 'nosuch' not found; get_datasets lists the datasets that exist."
    assert "syntax" in (await sql(shop, "selec * from x", status=400))["error"]["reason"].lower()


FIELDS = 'Valid fields are "@timestamp", category, price, qty, "geo.city", score'
HINT = "a name with a dot, dash or @ must be double-quoted, e.g. "


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        # The list names the user's fields: no table prefix, no internal column, no storage name.
        ('SELECT nope FROM "sample-ecommerce-data"', f"Schema error: No field named nope. {FIELDS}."),
        ('SELECT s.nope FROM "sample-ecommerce-data" s', f"Schema error: No field named s.nope. {FIELDS}."),
        (
            'SELECT "sample-ecommerce-data".nope FROM "sample-ecommerce-data"',
            f'Schema error: No field named "sample-ecommerce-data".nope. {FIELDS}.',
        ),
        # A dotted, dashed or @ name written unquoted gets the quoting hint.
        (
            'SELECT geo.city FROM "sample-ecommerce-data"',
            f'Schema error: No field named geo.city. {FIELDS}; {HINT}"geo.city".',
        ),
        (
            'SELECT price FROM "sample-ecommerce-data" WHERE geo.country = 1',
            f'Schema error: No field named geo.country. {FIELDS}; {HINT}"geo.country".',
        ),
        (
            'SELECT @timestamp FROM "sample-ecommerce-data"',
            f'Error during planning: variable ["@timestamp"] has no type information; {HINT}"@timestamp".',
        ),
        # sqlglot's complaints become a short reason with the position, never a Python class.
        (
            'SELECT price * FROM "sample-ecommerce-data"',
            "SQL syntax error: nothing follows '*' at line 1, column 19 (near 'FROM'); check the statement.",
        ),
        (
            'SELECT * FROM "sample-ecommerce-data" WHERE price >',
            "SQL syntax error: nothing follows '>' at line 1, column 51; check the statement.",
        ),
        (
            'SELECT price FROM "sample-ecommerce-data" ORDER BY',
            "SQL syntax error: ORDER BY is incomplete at line 1, column 50; check the statement.",
        ),
        (
            'SELECT (price FROM "sample-ecommerce-data"',
            "SQL syntax error: expected ')' at line 1, column 18 (near 'FROM'); check the statement.",
        ),
        (
            "SELECT price FROM",
            (
                "SQL syntax error: expected table name but got the end of the statement "
                "at line 1, column 17 (near 'FROM'); check the statement."
            ),
        ),
    ],
)
async def test_error_messages_guide_the_next_query(shop, query, reason):
    assert (await sql(shop, query, status=400))["error"]["reason"] == reason


async def test_dashed_names_written_unquoted_get_the_hint(endpoint):
    body = '{"index":{}}\n{"user-name":"ann","n":1}\n'
    assert not (await endpoint.post("/people/json", content=body)).json()["errors"]
    reason = (await sql(endpoint, "SELECT user-name FROM people", status=400))["error"]["reason"]
    assert reason == f'Schema error: No field named user. Valid fields are "user-name", n; {HINT}"user-name".'


async def test_insert_update_delete(shop):
    inserted = await sql(
        shop,
        "INSERT INTO \"Logs.2024\" (_id, level, n, \"geo.city\") VALUES ('9', 'warn', 5, 'Oslo'), ('10', 'error', -2, null)",
    )
    assert inserted["statement_type"] == "Insert" and inserted["affected_rows"] == 2
    assert (await shop.get("/Logs.2024/doc/9")).json()["_source"] == {"level": "warn", "n": 5, "geo": {"city": "Oslo"}}

    updated = await sql(shop, "UPDATE \"Logs.2024\" SET n = n * 10, level = 'x' WHERE level = 'warn'")
    assert updated["statement_type"] == "Update" and updated["affected_rows"] == 2
    rows = plain(await sql(shop, 'select _id, level, n from "Logs.2024" order by _id'))
    assert rows == [
        {"_id": "0", "level": "info", "n": 1},
        {"_id": "10", "level": "error", "n": -2},
        {"_id": "3", "level": "x", "n": 20},
        {"_id": "9", "level": "x", "n": 50},
    ]
    assert (await shop.get("/Logs.2024/doc/9")).json()["_source"]["geo"] == {"city": "Oslo"}

    deleted = await sql(shop, 'DELETE FROM "Logs.2024" WHERE n < 0')
    assert deleted["affected_rows"] == 1
    assert plain(await sql(shop, 'select count(*) AS n from "Logs.2024"')) == [{"n": 3}]


async def test_insert_creates_the_dataset_and_select_feeds_insert(shop):
    await sql(shop, "INSERT INTO fresh (a, b) VALUES (1, 'x')")
    assert plain(await sql(shop, "select a, b from fresh")) == [{"a": 1, "b": "x"}]
    copied = await sql(shop, 'INSERT INTO copy (category, qty) SELECT category, qty FROM "sample-ecommerce-data"')
    assert copied["affected_rows"] == 6
    assert plain(await sql(shop, "select sum(qty) AS s from copy")) == [{"s": 15}]


async def test_sql_body_is_required(endpoint):
    assert (await endpoint.post("/sql", json={})).status_code == 400
