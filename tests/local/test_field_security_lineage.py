"""Masked fields renamed on the way (positional column lists, CTEs, set operations, VALUES, LATERAL,
subqueries) and then filtered, sorted, grouped, joined on or aggregated: a 403 naming the field and its
rule, as the direct reference gets, never an answer computed over the mask. The same shapes over visible
fields answer correctly (expected values from plain Python over ROWS), and a renamed masked value can
still be selected (shown masked).

Role ``masker`` of the attack corpus: ``SELECT * FROM dsa`` gives ``_id, email, ip, level, n, name``
(``secret_note`` denied), so in ``AS t(c1, ..., c6)`` ``c2`` is the redacted email and ``c3`` the hashed ip.
"""

from __future__ import annotations

import pytest

from tests.local.test_field_security_attacks import ROWS, _fill, _pair, _setup

pytestmark = pytest.mark.anyio

T = "(SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6)"
POSITION = {"email": "c2", "ip": "c3"}
RULE = {"email": "Mask rule: redact", "ip": "Mask rule: hash"}

LINEAGE_ATTACKS = [
    f"SELECT {{c}} FROM {T} WHERE {{c}} = '{{v}}'",
    f"SELECT count(*) AS n FROM {T} WHERE {{c}} LIKE '{{g}}%'",
    f"SELECT count(*) AS n FROM {T} WHERE t.{{c}} LIKE '{{g}}%'",
    "WITH t(c1, c2, c3, c4, c5, c6) AS (SELECT * FROM dsa) SELECT count(*) AS n FROM t WHERE {c} LIKE '{g}%'",
    "WITH t(v) AS (SELECT {col} FROM dsa) SELECT count(*) AS n FROM t WHERE v LIKE '{g}%'",
    "WITH a(c1, c2, c3) AS (SELECT * FROM dsa), b AS (SELECT * FROM a) SELECT count(*) AS n FROM b "
    "WHERE b.{c} LIKE '{g}%'",
    f"SELECT c6 FROM {T} WHERE c6 <> '{{g}}' ORDER BY {{c}}",
    f"SELECT {{c}}, c6 FROM {T} WHERE c6 <> '{{g}}' ORDER BY 1",
    f"SELECT {{c}} AS k, count(*) AS n FROM {T} WHERE c6 <> '{{g}}' GROUP BY k",
    f"SELECT {{c}}, count(*) AS n FROM {T} WHERE c6 <> '{{g}}' GROUP BY 1",
    f"SELECT count(DISTINCT {{c}}) AS n FROM {T} WHERE c6 <> '{{g}}'",
    f"SELECT max({{c}}) AS m FROM {T} WHERE c6 <> '{{g}}'",
    f"SELECT count(*) AS n FROM {T} GROUP BY c4 HAVING max({{c}}) >= '{{g}}'",
    f"SELECT c6, rank() OVER (ORDER BY {{c}}) AS r FROM {T} WHERE c6 <> '{{g}}'",
    f"SELECT DISTINCT {{c}} FROM {T} WHERE c6 <> '{{g}}'",
    f"SELECT count(*) AS n FROM {T} WHERE CASE WHEN {{c}} LIKE '{{g}}%' THEN true ELSE false END",
    "SELECT count(*) AS n FROM (SELECT {col} FROM dsa UNION ALL SELECT name FROM dsa) AS u(v) WHERE v LIKE '{g}%'",
    f"SELECT count(*) AS n FROM (SELECT * FROM {T} UNION ALL SELECT * FROM {T.replace(' t(', ' t2(')}) AS u "
    "WHERE u.{c} LIKE '{g}%'",
    "SELECT {col} FROM dsa WHERE name <> '{g}' UNION SELECT {col} FROM dsa",
    "SELECT {col} FROM dsa WHERE name <> '{g}' INTERSECT SELECT {col} FROM dsa",
    f"SELECT count(*) AS n FROM (VALUES ('{{g}}')) AS v(x) JOIN {T} ON t.{{c}} LIKE v.x || '%'",
    f"SELECT count(*) AS n FROM {T.replace(' t(', ' a(')} JOIN (VALUES ('{{v}}')) AS b({{c}}) USING ({{c}})",
    f"SELECT count(*) AS n FROM {T}, LATERAL (SELECT t.{{c}} AS w) AS l(w2) WHERE l.w2 LIKE '{{g}}%'",
    "SELECT count(*) AS n FROM dsa WHERE (SELECT max(c) FROM (SELECT {col} FROM dsa) AS s(c)) LIKE '{g}%'",
    f"SELECT count(*) AS n FROM dsa WHERE name IN (SELECT c6 FROM {T} WHERE {{c}} LIKE '{{g}}%')",
    "SELECT count(*) AS n FROM dsa WHERE '{v}' IN (SELECT c FROM (SELECT {col} FROM dsa) AS s(c))",
    f"SELECT count(*) AS n FROM {T} WHERE EXISTS (SELECT 1 WHERE t.{{c}} LIKE '{{g}}%')",
    "SELECT count(*) AS n FROM (SELECT t.* FROM (SELECT * FROM dsa) AS t) AS u(c1, c2, c3, c4, c5, c6) "
    "WHERE {c} LIKE '{g}%'",
    "SELECT count(*) AS n FROM (VALUES (1, (SELECT max(c) FROM (SELECT {col} FROM dsa) AS s(c)))) AS v(k, x) "
    "WHERE x LIKE '{g}%'",
    "WITH RECURSIVE r(v, k) AS (SELECT {col}, 0 FROM dsa UNION ALL SELECT v, k + 1 FROM r WHERE k < 1) "
    "SELECT count(*) AS n FROM r WHERE v LIKE '{g}%'",
    "SELECT v FROM (SELECT {col} FROM dsa WHERE name <> '{g}') AS s(v) GROUP BY ALL",
    "(SELECT {col}, name FROM dsa WHERE name <> '{g}') ORDER BY 1",
    f"SELECT count(*) AS n FROM (SELECT c1, c2, c3, c4, c5, c6 FROM {T}) AS u(x1, x2, x3, x4, x5, x6) "
    "WHERE u.x{i} LIKE '{g}%'",
]


def _lineage(template: str, col: str) -> str:
    return template.replace("{c}", POSITION[col]).replace("{i}", POSITION[col][1:])


@pytest.mark.parametrize("col", list(POSITION))
@pytest.mark.parametrize("template", LINEAGE_ATTACKS)
async def test_renamed_masked_field_used_is_refused(endpoint, endpoint_as, col: str, template: str) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    statuses = []

    async def send(guess: str):
        response = await user.post("/sql", json={"query": _fill(_lineage(template, col), col, guess)})
        statuses.append(response.status_code)
        reason = response.json()["error"]["reason"] if response.status_code == 403 else response.text
        assert f"field {col!r} is masked for user 'masker-user' ({RULE[col]})" in reason, reason
        return response

    await _pair(send, col)
    assert statuses == [403, 403]


def _values(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [{k: next(iter(v.values())) for k, v in row["values"].items()} for row in response.json()["rows"]]


LEVELS = sorted({r["level"] for r in ROWS})
CONTROLS = [
    (f"SELECT count(*) AS n FROM {T} WHERE c4 = 'info'", [{"n": sum(r["level"] == "info" for r in ROWS)}]),
    (f"SELECT count(*) AS n FROM {T}", [{"n": len(ROWS)}]),
    (
        "WITH t(c1, c2, c3, c4, c5, c6) AS (SELECT * FROM dsa) SELECT c6 FROM t WHERE c5 > 4 ORDER BY c6",
        [{"c6": r["name"]} for r in sorted(ROWS, key=lambda r: r["name"]) if r["n"] > 4],
    ),
    (
        f"SELECT c4, sum(c5) AS s FROM {T} GROUP BY c4 ORDER BY 1",
        [{"c4": lv, "s": sum(r["n"] for r in ROWS if r["level"] == lv)} for lv in LEVELS],
    ),
    (
        "SELECT count(*) AS n FROM (SELECT name FROM dsa UNION ALL SELECT level FROM dsa) AS u(v) WHERE v LIKE 'i%'",
        [{"n": sum(v.startswith("i") for r in ROWS for v in (r["name"], r["level"]))}],
    ),
    (
        "SELECT v FROM dsa AS d, (SELECT level FROM dsa UNION SELECT level FROM dsa) AS u(v) "
        "WHERE d.name = 'ann' ORDER BY v",
        [{"v": lv} for lv in LEVELS],
    ),
    (
        f"SELECT t.c6 AS name FROM (VALUES ('error')) AS v(x) JOIN {T} ON t.c4 = v.x",
        [{"name": r["name"]} for r in ROWS if r["level"] == "error"],
    ),
    (
        f"SELECT max(c5) AS m FROM {T} WHERE c6 IN (SELECT name FROM dsa WHERE level = 'info')",
        [{"m": max(r["n"] for r in ROWS if r["level"] == "info")}],
    ),
    (
        f"SELECT c2, c6 FROM {T} ORDER BY c6",
        [{"c2": "****", "c6": r["name"]} for r in sorted(ROWS, key=lambda r: r["name"])],
    ),
    (
        "WITH t(e, who) AS (SELECT email, name FROM dsa) SELECT e, who FROM t ORDER BY who",
        [{"e": "****", "who": r["name"]} for r in sorted(ROWS, key=lambda r: r["name"])],
    ),
]


@pytest.mark.parametrize(("query", "expected"), CONTROLS)
async def test_same_shapes_over_visible_fields_answer(endpoint, endpoint_as, query: str, expected) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    assert _values(await user.post("/sql", json={"query": query})) == expected


async def test_renamed_hashed_value_is_shown_hashed(endpoint, endpoint_as) -> None:
    user, _ = await _setup(endpoint, endpoint_as, "masker", ["read"])
    rows = _values(await user.post("/sql", json={"query": f"SELECT c3 AS h, c6 AS name FROM {T}"}))
    assert sorted(r["name"] for r in rows) == sorted(r["name"] for r in ROWS)
    assert all(r["h"].startswith("sha256:") and r["h"] != row["ip"] for r, row in zip(rows, ROWS, strict=True))
