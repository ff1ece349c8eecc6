"""SQL field checks: hidden and masked fields cannot be read through aliases, expressions or filters."""

from __future__ import annotations

import pytest
import sqlglot

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import IDENTITY, compile_rules
from infino_mcp.local.security.sql_field_rules import check_select_fields

FIELDS = ["name", "email", "password", "ssn", "user.city", "user.token", "age", "_id"]
RULES = compile_rules(
    [
        {
            "Effect": "Allow",
            "ResourceType": "record",
            "Actions": ["read"],
            "Resources": ["*"],
            "Fields": {"Deny": ["password", "user.token"], "Mask": {"email": "redact", "ssn": "remove"}},
        }
    ]
)


def _check(sql: str, rules=RULES) -> None:
    check_select_fields(sqlglot.parse_one(sql, read="postgres"), rules, FIELDS, user="bob")


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT * FROM "logs-1"',
        'SELECT name, email FROM "logs-1" WHERE age > 3 ORDER BY name',
        'SELECT email AS email, "user.city" FROM "logs-1" l',
        'SELECT l.email, l.name FROM "logs-1" AS l',
        'SELECT name AS n FROM "logs-1" ORDER BY n',
        'SELECT COUNT(*) AS c, age FROM "logs-1" GROUP BY age',
        'SELECT _id, name FROM "logs-1"',
        'SELECT "user" FROM "logs-1"',
        'SELECT email FROM (SELECT email, name FROM "logs-1") t',
        # an alias the query defines is its own name (the secure view holds no hidden value to reach)
        'SELECT name AS password FROM "logs-1" ORDER BY password',
    ],
)
def test_allowed_queries(sql: str) -> None:
    _check(sql)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT password FROM "logs-1"', "'password' is hidden"),
        ('SELECT password AS p FROM "logs-1"', "'password' is hidden"),
        ("SELECT name FROM \"logs-1\" WHERE password = 'hunter2'", "'password' is hidden"),
        ('SELECT * FROM (SELECT password AS x FROM "logs-1") t', "'password' is hidden"),
        ('SELECT "user.token" FROM "logs-1"', "'user.token' is hidden"),
        ('SELECT ssn FROM "logs-1"', "'ssn' is hidden"),
        ('SELECT upper(email) AS e FROM "logs-1"', "'email' is masked"),
        ('SELECT email AS e FROM "logs-1"', "'email' is masked"),
        ('SELECT name FROM "logs-1" ORDER BY email', "'email' is masked"),
        ('SELECT COUNT(*) FROM "logs-1" GROUP BY email', "'email' is masked"),
        ("SELECT name FROM \"logs-1\" WHERE email LIKE 'a%'", "'email' is masked"),
        ('SELECT name FROM "logs-1" WHERE "user" IS NOT NULL', "hide or mask parts of 'user'"),
        ('SELECT _source FROM "logs-1"', "_source"),
        ('SELECT nosuchfield FROM "logs-1" WHERE "password.x" = 1', "'password.x' is hidden"),
        ("SELECT * FROM bm25_search('logs-1', 'password', 'hunter2')", "'password' is hidden"),
    ],
)
def test_refused_queries(sql: str, expected: str) -> None:
    with pytest.raises(ApiError) as caught:
        _check(sql)
    assert caught.value.status == 403
    assert expected in caught.value.message
    assert "bob" in caught.value.message


def test_identity_rules_allow_everything() -> None:
    _check("SELECT password AS p, upper(email) FROM \"logs-1\" WHERE ssn = '1'", rules=IDENTITY)


def test_allow_list_hides_other_fields() -> None:
    rules = compile_rules(
        [
            {
                "Effect": "Allow",
                "ResourceType": "record",
                "Actions": ["read"],
                "Resources": ["*"],
                "Fields": {"Allow": ["name", "user.city"]},
            }
        ]
    )
    _check('SELECT name, "user.city" FROM "logs-1" WHERE name = \'a\'', rules=rules)
    with pytest.raises(ApiError):
        _check('SELECT name FROM "logs-1" WHERE age > 1', rules=rules)
