"""Attack corpus for field-level security: no leaked value, no oracle.

Two restricted roles read dataset ``dsa``: ``masker`` (Deny ``secret_note``, Mask
``email`` redact and ``ip`` hash) and ``allower`` (Allow ``name``, ``level``, ``n``
only). Every attack is sent twice, with a true guess about a protected value and a
false one; the two answers must be the same (after the guess itself is blanked out
of any echo) and neither may contain a protected value. Control queries check that
what the caller may see is still answered correctly, against plain Python over ROWS.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

pytestmark = pytest.mark.anyio

ROWS = [
    {"_id": "1", "name": "ann", "level": "info", "n": 3, "email": "ann@example.com", "ip": "10.0.6.77",
     "secret_note": "SN-A1 launch codes"},
    {"_id": "2", "name": "bo", "level": "error", "n": 5, "email": "bo@example.com", "ip": "10.0.9.12",
     "secret_note": "SN-B2 salary list"},
    {"_id": "3", "name": "cy", "level": "info", "n": 8, "email": "cy@corp.test", "ip": "192.168.4.4",
     "secret_note": "SN-C3 merger plan"},
]  # fmt: skip
SECRETS = [v for r in ROWS for v in (r["email"], r["ip"], r["secret_note"])] + ["SN-", "example.com", "10.0.", "launch"]
MASKER = {"Deny": ["secret_note"], "Mask": {"email": "redact", "ip": "hash"}}
ALLOWER = {"Allow": ["name", "level", "n"]}
# column -> (true guess, false guess): a prefix or value that is / is not in the data
GUESSES = {"secret_note": ("SN-A", "QX-Z"), "email": ("cy@corp", "cy@nope"), "ip": ("10.0.6", "10.7.7")}
PROTECTED = list(GUESSES)

SQL_ATTACKS = [
    "SELECT count(*) AS n FROM dsa WHERE {col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM dsa WHERE \"{col}\" LIKE '{g}%'",
    'SELECT count(*) AS n FROM dsa WHERE "dsa"."{col}" LIKE \'{g}%\'',
    "SELECT count(*) AS n FROM dsa t WHERE t.{col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM dsa WHERE {COL} LIKE '{g}%'",
    "SELECT count(*) AS n FROM public.dsa WHERE upper({col}) LIKE upper('{g}%')",
    "SELECT {col} AS x FROM dsa WHERE name <> '{g}'",
    "SELECT t.* FROM dsa t WHERE t.name <> '{g}'",
    "SELECT * FROM dsa WHERE name <> '{g}' ORDER BY name",
    "SELECT * FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6, c7, c8, c9) WHERE c1 <> '{g}'",
    "SELECT count(*) AS n FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6) "
    "WHERE c1 LIKE '{g}%' OR c2 LIKE '{g}%' OR c3 LIKE '{g}%' OR c4 LIKE '{g}%' OR c5 LIKE '{g}%' OR c6 LIKE '{g}%'",
    "WITH c(a1, a2, a3, a4, a5, a6) AS (SELECT * FROM dsa) SELECT count(*) AS n FROM c "
    "WHERE a1 LIKE '{g}%' OR a2 LIKE '{g}%' OR a3 LIKE '{g}%' OR a4 LIKE '{g}%' OR a5 LIKE '{g}%' OR a6 LIKE '{g}%'",
    "SELECT name AS v FROM dsa UNION ALL SELECT {col} FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM (SELECT name AS v FROM dsa UNION ALL SELECT {col} FROM dsa) u WHERE v LIKE '{g}%'",
    "SELECT (SELECT max({col}) FROM dsa WHERE {col} LIKE '{g}%') AS x",
    "SELECT count(*) AS n FROM dsa WHERE name IN (SELECT name FROM dsa WHERE {col} LIKE '{g}%')",
    "SELECT count(*) AS n FROM dsa WHERE EXISTS (SELECT 1 FROM dsa d2 WHERE d2.{col} LIKE '{g}%')",
    "SELECT count(*) AS n FROM dsa a, LATERAL (SELECT a.{col} AS v) l WHERE l.v LIKE '{g}%'",
    "SELECT count(DISTINCT {col}) AS n FROM dsa WHERE name <> '{g}'",
    "SELECT {col}, count(*) AS n FROM dsa WHERE name <> '{g}' GROUP BY 1",
    "SELECT name FROM dsa WHERE name <> '{g}' ORDER BY {col}",
    "SELECT name, row_number() OVER (ORDER BY {col}) AS r FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM dsa WHERE strpos(_source, '{g}') > 0",
    "SELECT _source FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM dsa a JOIN dsa b ON a.name = b.name WHERE b.{col} LIKE '{g}%'",
    "SELECT named_struct('v', t.{col}) AS s FROM dsa t WHERE t.name <> '{g}'",
    "SELECT array_agg({col}) AS a FROM dsa WHERE name <> '{g}'",
    "SELECT string_agg({col}, ',') AS a FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM bm25_search('dsa', '{col}', '{g}', 10)",
    "SELECT count(*) AS n FROM dsa WHERE _id IN (SELECT _id FROM token_match('dsa', '{col}', '{g}'))",
    "SELECT count(*) AS n FROM dsa WHERE CASE WHEN {col} LIKE '{g}%' THEN true ELSE false END",
    "SELECT max(length({col})) AS n FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM dsa WHERE regexp_like({col}, '^{g}')",
    "SELECT count(*) AS n FROM (SELECT {col} FROM dsa) s WHERE s.{col} LIKE '{g}%'",
    "WITH s AS (SELECT {col} FROM dsa) SELECT count(*) AS n FROM s WHERE {col} LIKE '{g}%'",
    "WITH s AS (SELECT * FROM dsa) SELECT count(*) AS n FROM s WHERE s.{col} LIKE '{g}%'",
    "SELECT name FROM dsa ORDER BY CASE WHEN {col} LIKE '{g}%' THEN 0 ELSE 1 END LIMIT 1",
    "SELECT count(*) AS n FROM dsa HAVING max({col}) >= '{g}'",
    "WITH dsa AS (SELECT * FROM dsa) SELECT count(*) AS n FROM dsa WHERE {col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM (SELECT * FROM dsa) AS t(x) WHERE x LIKE '{g}%'",
    "SELECT count(*) AS n FROM information_schema.columns WHERE column_name = '{col}' AND table_name <> '{g}'",
    "SELECT first_value({col}) OVER (ORDER BY name) AS v FROM dsa WHERE name <> '{g}'",
    "SELECT name FROM dsa WHERE name <> '{g}' UNION SELECT CAST({col} AS VARCHAR) FROM dsa",
    "EXPLAIN ANALYZE SELECT count(*) AS n FROM dsa WHERE {col} LIKE '{g}%'",
    "EXPLAIN SELECT count(*) AS n FROM dsa WHERE {col} LIKE '{g}%'",
    "SELECT dsa FROM dsa WHERE name <> '{g}'",
    "SELECT count(*) AS n FROM dsa d1 NATURAL JOIN dsa d2 WHERE d2.{col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM dsa WHERE {col} IN (SELECT '{g}' || '%')",
    "SELECT count(*) AS n FROM dsa GROUP BY {col} HAVING {col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM datafusion.public.dsa WHERE datafusion.public.dsa.{col} LIKE '{g}%'",
    "SELECT count(*) AS n FROM (VALUES ('{g}')) v(x), dsa WHERE starts_with(dsa.{col}, v.x)",
    "SELECT count(*) AS n FROM dsa WHERE to_hex(sha256({col})) <> '{g}'",
    "SELECT count(*) AS n FROM dsa, unnest(make_array({col})) u(x) WHERE x LIKE '{g}%'",
]
QUERYDSL_ATTACKS = [
    {"query": {"term": {"{col}": "{v}"}}},
    {"query": {"term": {"{col}.keyword": "{v}"}}},
    {"query": {"match": {"{col}": "{g}"}}},
    {"query": {"prefix": {"{col}": "{g}"}}},
    {"query": {"wildcard": {"{col}": "{g}*"}}},
    {"query": {"regexp": {"{col}": "{g}.*"}}},
    {"query": {"fuzzy": {"{col}": "{g}"}}},
    {"query": {"exists": {"field": "{col}"}}, "post_filter": {"term": {"name": "{g}"}}},
    {"query": {"range": {"{col}": {"gte": "{g}"}}}},
    {"query": {"terms": {"{col}": ["{v}"]}}},
    {"query": {"bool": {"must": [{"prefix": {"{col}": "{g}"}}]}}},
    {"query": {"bool": {"must_not": [{"prefix": {"{col}": "{g}"}}]}}},
    {"query": {"bool": {"should": [{"prefix": {"{col}": "{g}"}}, {"term": {"name": "zz"}}]}}},
    {"query": {"match_all": {}}, "post_filter": {"prefix": {"{col}": "{g}"}}},
    {"query": {"multi_match": {"query": "{g}", "fields": ["{col}"]}}},
    {"query": {"multi_match": {"query": "{g}", "fields": ["*"]}}},
    {"query": {"query_string": {"query": "{col}:{g}*"}}},
    {"query": {"match_phrase": {"{col}": "{g}"}}},
    {"sort": ["{col}"], "query": {"term": {"name": "{g}"}}},
    {"sort": [{"{col}": "desc"}], "size": 1, "query": {"match_all": {}}, "post_filter": {"term": {"name": "{g}"}}},
    {"size": 0, "aggs": {"a": {"terms": {"field": "{col}"}}}, "query": {"term": {"name": "{g}"}}},
    {"size": 0, "aggs": {"a": {"cardinality": {"field": "{col}"}}}, "query": {"term": {"name": "{g}"}}},
    {"size": 0, "aggs": {"a": {"max": {"field": "{col}"}}}, "query": {"term": {"name": "{g}"}}},
    {"size": 0, "aggs": {"a": {"top_hits": {"size": 1, "sort": ["{col}"]}}}, "query": {"term": {"name": "{g}"}}},
    {"size": 0, "aggs": {"a": {"filters": {"filters": {"x": {"prefix": {"{col}": "{g}"}}}}}}},
    {"_source": ["{col}"], "query": {"term": {"name": "{g}"}}},
    {"_source": {"includes": ["*"]}, "query": {"bool": {"must_not": {"term": {"name": "{g}"}}}}},
    {"fields": ["{col}"], "query": {"term": {"name": "{g}"}}},
    {"docvalue_fields": ["{col}"], "query": {"term": {"name": "{g}"}}},
    {"highlight": {"fields": {"{col}": {}}}, "query": {"match": {"{col}": "{g}"}}},
    {"script_fields": {"x": {"script": "doc['{col}'].value"}}, "query": {"term": {"name": "{g}"}}},
    {"query": {"script": {"script": "doc['{col}'].value.startsWith('{g}')"}}},
]
DELETE_ATTACKS = [
    {"query": {"prefix": {"{col}": "{g}"}}},
    {"query": {"term": {"{col}": "{v}"}}},
    {"query": {"wildcard": {"{col}": "{g}*"}}},
    {"query": {"exists": {"field": "{col}"}}},
    {"query": {"range": {"{col}": {"gte": "{g}"}}}},
    {"query": {"match": {"{col}": "{g}"}}},
    {"query": {"bool": {"must": [{"term": {"name": "ann"}}, {"prefix": {"{col}": "{g}"}}]}}},
    {"prefix": {"{col}": "{g}"}},
]
SQL_WRITE_ATTACKS = [
    "DELETE FROM dsa WHERE {col} LIKE '{g}%'",
    "DELETE FROM dsa WHERE name IN (SELECT name FROM dsa WHERE {col} LIKE '{g}%')",
    "DELETE FROM dsa WHERE name IN (SELECT c1 FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6) "
    "WHERE c2 LIKE '{g}%' OR c3 LIKE '{g}%' OR c4 LIKE '{g}%' OR c5 LIKE '{g}%' OR c6 LIKE '{g}%')",
    "UPDATE dsa SET level = 'x' WHERE {col} LIKE '{g}%'",
    "UPDATE dsa SET level = {col} WHERE name <> '{g}'",
    "UPDATE dsa SET level = (SELECT max({col}) FROM dsa) WHERE name <> '{g}'",
    "INSERT INTO dsa (_id, name) SELECT 'copy-' || name, {col} FROM dsa WHERE name <> '{g}'",
]

ClientFactory = Callable[[str, str], httpx2.AsyncClient]


def _fill(template: Any, col: str, guess: str) -> Any:
    value = next((r[col] for r in ROWS if r[col].startswith(guess)), guess + "0")
    text = json.dumps(template) if not isinstance(template, str) else template
    text = text.replace("{col}", col).replace("{COL}", col.upper()).replace("{g}", guess).replace("{v}", value)
    return json.loads(text) if not isinstance(template, str) else text


def _outcome(response: httpx2.Response, col: str, guess: str) -> tuple[int, Any]:
    """What the caller learns, with the guess (and the value built from it) blanked out of echoes."""
    value = next((r[col] for r in ROWS if r[col].startswith(guess)), guess + "0")
    text = response.text.replace(value, "<v>").replace(guess, "<g>")
    body = json.loads(text) if text.startswith(("{", "[")) else text
    if isinstance(body, dict):
        body.pop("took", None)
        body.pop("execution_time", None)
        if isinstance(body.get("rows"), list):  # unordered queries (UNION ALL) may come back in any order
            body["rows"] = sorted(body["rows"], key=lambda r: json.dumps(r, sort_keys=True))
    return response.status_code, body


def _assert_no_leak(response: httpx2.Response, guess: str) -> None:
    text = response.text
    for secret in SECRETS:
        if secret.startswith(guess) or guess.startswith(secret):
            text = text.replace(guess, "")  # the attacker's own guess may be echoed back
        assert secret not in text, f"{secret!r} leaked: {response.text[:400]}"
    assert response.status_code < 500, response.text


async def _setup(admin: httpx2.AsyncClient, endpoint_as: ClientFactory, role: str, actions: list[str]):
    lines = []
    for row in ROWS:
        doc = {k: v for k, v in row.items() if k != "_id"}
        lines += [json.dumps({"index": {"_id": row["_id"]}}), json.dumps(doc)]
    bulk = await admin.post(
        "/dsa/json", content="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"}
    )
    assert bulk.status_code == 200 and not bulk.json()["errors"], bulk.text
    fields = MASKER if role == "masker" else ALLOWER
    permissions = [
        {"Effect": "Allow", "ResourceType": "record", "Actions": actions, "Resources": ["dsa"], "Fields": fields},
        {"Effect": "Allow", "ResourceType": "metadata", "Actions": ["read"], "Resources": ["dsa"]},
    ]
    response = await admin.put(f"/role/{role}", json={"Version": "2025-01-01", "Permissions": permissions})
    assert response.status_code == 200, response.text
    keys = (await admin.put(f"/user/{role}-user", json={"Roles": [role]})).json()
    return endpoint_as(keys["access_key"], keys["secret_key"]), keys


async def _remaining(admin: httpx2.AsyncClient) -> list[dict]:
    response = await admin.post("/sql", json={"query": "SELECT _id, name, level, secret_note FROM dsa ORDER BY _id"})
    assert response.status_code == 200, response.text
    return [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in response.json()["rows"]]


async def _pair(send, col: str) -> None:
    true_guess, false_guess = GUESSES[col]
    answers = []
    for guess in (true_guess, false_guess):
        response = await send(guess)
        _assert_no_leak(response, guess)
        answers.append(_outcome(response, col, guess))
    assert answers[0] == answers[1], f"oracle: {answers[0]} != {answers[1]}"


# ----- SQL reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["masker", "allower"])
@pytest.mark.parametrize("col", PROTECTED)
@pytest.mark.parametrize("template", SQL_ATTACKS)
async def test_sql_attack(endpoint, endpoint_as, role: str, col: str, template: str) -> None:
    user, _ = await _setup(endpoint, endpoint_as, role, ["read"])
    await _pair(lambda g: user.post("/sql", json={"query": _fill(template, col, g)}), col)


# ----- QueryDSL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["masker", "allower"])
@pytest.mark.parametrize("col", PROTECTED)
@pytest.mark.parametrize("template", QUERYDSL_ATTACKS, ids=lambda t: json.dumps(t)[:60])
async def test_querydsl_attack(endpoint, endpoint_as, role: str, col: str, template: dict) -> None:
    user, _ = await _setup(endpoint, endpoint_as, role, ["read"])
    await _pair(lambda g: user.request("GET", "/dsa/querydsl", json=_fill(template, col, g)), col)


@pytest.mark.parametrize(
    "body",
    [
        {"query": {"term": {"email": "ann@example.com"}}},
        {"query": {"prefix": {"email": "ann"}}},
        {"query": {"exists": {"field": "email"}}},
        {"size": 0, "aggs": {"a": {"terms": {"field": "email"}}}},
        {"size": 0, "aggs": {"a": {"cardinality": {"field": "ip"}}}},
        {"sort": ["email"]},
    ],
)
async def test_querydsl_masked_field_gets_the_sql_refusal(endpoint, endpoint_as, body: dict) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    response = await user.request("GET", "/dsa/querydsl", json=body)
    assert response.status_code == 403, response.text
    assert "is masked for user 'masker-user' (Mask rule:" in response.json()["error"]["reason"]
    sql = await user.post("/sql", json={"query": "SELECT count(*) AS n FROM dsa WHERE email = 'x'"})
    assert sql.status_code == 403 and "is masked for user 'masker-user'" in sql.json()["error"]["reason"]


# ----- writes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["masker", "allower"])
@pytest.mark.parametrize("col", PROTECTED)
@pytest.mark.parametrize("template", DELETE_ATTACKS, ids=lambda t: json.dumps(t)[:50])
async def test_delete_by_query_attack(endpoint, endpoint_as, role: str, col: str, template: dict) -> None:
    user, _ = await _setup(endpoint, endpoint_as, role, ["read", "delete"])
    before = await _remaining(endpoint)

    async def send(guess: str) -> httpx2.Response:
        response = await user.patch("/dsa", json=_fill(template, col, guess))
        assert await _remaining(endpoint) == before, "a delete on a protected field removed records"
        return response

    await _pair(send, col)


@pytest.mark.parametrize("role", ["masker", "allower"])
@pytest.mark.parametrize("col", PROTECTED)
@pytest.mark.parametrize("template", SQL_WRITE_ATTACKS)
async def test_sql_write_attack(endpoint, endpoint_as, role: str, col: str, template: str) -> None:
    user, _ = await _setup(endpoint, endpoint_as, role, ["read", "write", "delete"])
    before = await _remaining(endpoint)

    async def send(guess: str) -> httpx2.Response:
        response = await user.post("/sql", json={"query": _fill(template, col, guess)})
        after = await _remaining(endpoint)
        assert after == before, f"the write went through: {response.text}"
        return response

    await _pair(send, col)


async def test_allowed_writes_of_a_restricted_caller(endpoint, endpoint_as) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read", "write", "delete"])
    updated = await user.post("/sql", json={"query": "UPDATE dsa SET level = upper(level) WHERE n > 4"})
    assert updated.status_code == 200 and updated.json()["affected_rows"] == 2, updated.text
    deleted = await user.patch("/dsa", json={"query": {"term": {"name": "ann"}}})
    assert deleted.status_code == 200, deleted.text
    rows = await _remaining(endpoint)
    expected = [
        {"_id": r["_id"], "name": r["name"], "level": r["level"].upper() if r["n"] > 4 else r["level"],
         "secret_note": r["secret_note"]}
        for r in ROWS if r["name"] != "ann"
    ]  # fmt: skip
    assert rows == expected  # the hidden field survives the caller's update untouched
    sql_delete = await user.post("/sql", json={"query": "DELETE FROM dsa WHERE name = 'bo'"})
    assert sql_delete.status_code == 200 and sql_delete.json()["affected_rows"] == 1, sql_delete.text


# ----- what the caller may see ---------------------------------------------------------------------


def _hash(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


async def _sql_rows(client: httpx2.AsyncClient, query: str) -> list[dict]:
    response = await client.post("/sql", json={"query": query})
    assert response.status_code == 200, response.text
    return [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in response.json()["rows"]]


async def test_masked_and_allowed_values_through_sql(endpoint, endpoint_as) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    rows = await _sql_rows(user, "SELECT * FROM dsa ORDER BY name")
    assert rows == [
        {"email": "****", "ip": _hash(r["ip"]), "level": r["level"], "n": r["n"], "name": r["name"]}
        for r in sorted(ROWS, key=lambda r: r["name"])
    ]
    joined = await _sql_rows(
        user, "SELECT a.name, b.email FROM dsa a JOIN dsa b ON a.name = b.name WHERE a.n > 4 ORDER BY a.name"
    )
    assert joined == [{"name": r["name"], "email": "****"} for r in ROWS if r["n"] > 4]
    by_level = await _sql_rows(user, "SELECT level, count(*) AS c FROM dsa GROUP BY 1 ORDER BY 1")
    counts: dict[str, int] = {}
    for r in ROWS:
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    assert by_level == [{"level": k, "c": v} for k, v in sorted(counts.items())]
    doc = (await user.get("/dsa/doc/1")).json()["_source"]
    assert doc == {"name": "ann", "level": "info", "n": 3, "email": "****", "ip": _hash("10.0.6.77")}


async def test_describe_schema_and_star_show_only_what_the_caller_may_see(endpoint, endpoint_as) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "allower", ["read"])
    described = await _sql_rows(user, "DESCRIBE dsa")
    assert sorted(r["column_name"] for r in described) == ["_id", "level", "n", "name"]
    schema = (await user.get("/dsa/_schema")).json()
    assert sorted(schema) == ["level", "n", "name"]
    star = await user.post("/sql", json={"query": "SELECT * FROM dsa"})
    names = [c["name"]["Column"]["name"] for c in star.json()["columns"]]
    assert sorted(names) == ["level", "n", "name"]
    admin_described = await _sql_rows(endpoint, "DESCRIBE dsa")
    assert "_source" not in {r["column_name"] for r in admin_described}
    assert "secret_note" in {r["column_name"] for r in admin_described}


@pytest.mark.parametrize("name", ["secret_note", "no_such_field"])
async def test_refusals_do_not_tell_whether_a_hidden_field_exists(endpoint, endpoint_as, name: str) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "allower", ["read"])
    sql = await user.post("/sql", json={"query": f"SELECT count(*) AS n FROM dsa WHERE {name} = 'x'"})
    dsl = await user.request("GET", "/dsa/querydsl", json={"query": {"term": {name: "x"}}})
    for response in (sql, dsl):
        assert response.status_code == 403
        reason = response.json()["error"]["reason"]
        assert re.sub(name, "<f>", reason).endswith(
            "is hidden from user 'allower-user' (not in the Allow list); remove it from the query."
        )


# ----- PromQL and visualizations ------------------------------------------------------------------

METRICS = "".join(
    f'requests_total{{job="api",secret="tok-{i % 2}"}} {i} {(1_700_000_000 + 60 * i) * 1000}\n' for i in range(5)
)


@pytest.mark.parametrize(
    "query",
    [
        'requests_total{{secret=~"{g}.*"}}',
        'count(requests_total{{secret="{g}"}})',
        'requests_total{{job="api", secret!="{g}"}}',
        'count by (secret) (requests_total{{job!="{g}"}})',
        'sum without (job) (requests_total{{job!="{g}"}})',
    ],
)
async def test_promql_hidden_labels(endpoint, endpoint_as, query: str) -> None:
    upload = await endpoint.post(
        "/metrics-x/metrics", content=METRICS, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert upload.status_code == 200, upload.text
    role = {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["metrics-x"],
            "Fields": {"Deny": ["labels.secret"]}}  # fmt: skip
    assert (await endpoint.put("/role/prom", json={"Version": "2025-01-01", "Permissions": [role]})).status_code == 200
    keys = (await endpoint.put("/user/prom-user", json={"Roles": ["prom"]})).json()
    user = endpoint_as(keys["access_key"], keys["secret_key"])
    answers = []
    for guess in ("tok-1", "zzz-9"):
        form = str(httpx2.QueryParams({"query": query.format(g=guess), "time": "1700000300", "index": "metrics-x"}))
        response = await user.post(
            "/promql/query", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert "tok-" not in response.text.replace(guess, ""), response.text
        answers.append((response.status_code, response.text.replace(guess, "<g>")))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("col", PROTECTED)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT {col} AS x, count(*) AS count FROM dsa GROUP BY 1",
        "SELECT name, count(*) AS count FROM dsa WHERE {col} LIKE '{g}%' GROUP BY name",
        "SELECT c1 AS x, count(*) AS count FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6) "
        "WHERE c2 LIKE '{g}%' OR c3 LIKE '{g}%' OR c4 LIKE '{g}%' OR c5 LIKE '{g}%' OR c6 LIKE '{g}%' GROUP BY 1",
    ],
)
async def test_visualization_attack(endpoint, endpoint_as, col: str, sql: str) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])

    async def send(guess: str) -> httpx2.Response:
        spec = {"source": {"index": "dsa", "sql": {"raw_query": _fill(sql, col, guess)}}, "mapping": {"y": ["count"]}}
        created = await endpoint.post("/visualizations", json=spec)  # the admin's, run by the restricted user
        assert created.status_code == 201, created.text
        return await user.post(f"/visualizations/{created.json()['id']}/data", json={})

    await _pair(send, col)


async def test_visualization_filter_on_a_hidden_field(endpoint, endpoint_as) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    spec = {"source": {"index": "dsa", "sql": {"raw_query": None}}, "mapping": {"y": ["count"]}}
    viz = (await endpoint.post("/visualizations", json=spec)).json()["id"]
    answers = []
    for guess in ("SN-A1 launch codes", "nothing at all"):
        body = {"filters": [{"field": "secret_note", "operator": "is", "value": guess}]}
        response = await user.post(f"/visualizations/{viz}/data", json=body)
        _assert_no_leak(response, guess)
        answers.append((response.status_code, response.text.replace(guess, "<g>")))
    assert answers[0] == answers[1]
