"""Field rules as pure functions: globs, nested and flat rows, masks, combining statements."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from infino_mcp.local.security.field_rules import IDENTITY, MASK_TEXT, FieldRules, compile_rules


def _statement(fields: dict, effect: str = "Allow") -> dict:
    return {"Effect": effect, "ResourceType": "record", "Actions": ["read"], "Resources": ["*"], "Fields": fields}


def test_identity_changes_nothing() -> None:
    row = {"a": 1, "b": {"c": 2}}
    assert IDENTITY.identity
    assert IDENTITY.apply(row) is row
    assert compile_rules([_statement({})]).identity


def test_deny_with_globs_on_flat_and_nested_rows() -> None:
    rules = compile_rules([_statement({"Deny": ["*_token", "secret.*", "user.password"]})])
    flat = {"name": "a", "api_token": "t", "secret.key": "k", "user.password": "p", "user.name": "n"}
    assert rules.apply(flat) == {"name": "a", "user.name": "n"}
    nested = {"name": "a", "api_token": "t", "secret": {"key": "k"}, "user": {"password": "p", "name": "n"}}
    assert rules.apply(nested) == {"name": "a", "user": {"name": "n"}}
    assert not rules.visible("secret.key")
    assert rules.visible("user.name")


def test_allow_list_keeps_metadata_and_parents() -> None:
    rules = compile_rules([_statement({"Allow": ["name", "user.n*"]})])
    row = {"_id": "1", "_score": 1.0, "name": "a", "age": 3, "user": {"name": "n", "age": 4}, "user.nick": "x"}
    assert rules.apply(row) == {"_id": "1", "_score": 1.0, "name": "a", "user": {"name": "n"}, "user.nick": "x"}
    assert rules.visible("user") and rules.visible("user.name") and not rules.visible("age")
    items = compile_rules([_statement({"Allow": ["items.name"], "Deny": ["items.secret"]})])
    row = {"items": [{"name": "a", "secret": 1, "n": 2}, {"n": 3}, 7], "other": 1}
    assert items.apply(row) == {"items": [{"name": "a"}]}


def test_masks() -> None:
    rules = compile_rules([_statement({"Mask": {"email": "redact", "ssn": "hash", "phone": "remove"}})])
    out = rules.apply({"email": "a@b", "ssn": "123", "phone": "555", "n": 1})
    assert out["email"] == MASK_TEXT
    assert out["ssn"].startswith("sha256:") and out["ssn"] == rules.apply({"ssn": "123"})["ssn"]
    assert "phone" not in out and out["n"] == 1
    assert rules.visible("email") and not rules.readable("email") and not rules.visible("phone")
    listed = compile_rules([_statement({"Mask": ["email", "user.*"]})])
    assert listed.apply({"email": "x", "user": {"a": 1}}) == {"email": MASK_TEXT, "user": {"a": MASK_TEXT}}


def test_source_is_filtered_as_dict_or_json_text() -> None:
    rules = compile_rules([_statement({"Deny": ["password"], "Mask": ["email"]})])
    doc = {"_id": "1", "found": True, "_source": {"password": "p", "email": "e", "n": 1}}
    assert rules.apply(doc)["_source"] == {"email": MASK_TEXT, "n": 1}
    as_text = {"_source": json.dumps({"password": "p", "n": 1})}
    assert json.loads(rules.apply(as_text)["_source"]) == {"n": 1}


def test_combining_statements() -> None:
    # One statement without an Allow list makes every field allowed; Deny and Mask still add up.
    open_rules = compile_rules([_statement({"Allow": ["a"]}), _statement({"Deny": ["b"]})])
    assert open_rules.allow is None and open_rules.deny == ("b",)
    lists = compile_rules([_statement({"Allow": ["a"]}), _statement({"Allow": ["b"]})])
    assert lists.apply({"a": 1, "b": 2, "c": 3}) == {"a": 1, "b": 2}
    # A Deny-effect statement with Fields contributes its Deny/Mask but never an Allow list.
    with_deny = compile_rules([_statement({}), _statement({"Deny": ["c"], "Mask": ["a"]}, effect="Deny")])
    assert with_deny.apply({"a": 1, "b": 2, "c": 3}) == {"a": MASK_TEXT, "b": 2}
    # The stronger mask wins when two roles mask the same field.
    stronger = compile_rules([_statement({"Mask": {"x": "hash"}}), _statement({"Mask": {"x": "redact"}})])
    assert stronger.apply({"x": 1}) == {"x": MASK_TEXT}


_keys = st.sampled_from(["a", "b", "password", "email", "user", "_id"])
_rows = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.none()),
    lambda inner: st.one_of(st.dictionaries(_keys, inner, max_size=4), st.lists(inner, max_size=3)),
    max_leaves=10,
).filter(lambda v: isinstance(v, dict))


@given(_rows)
def test_denied_values_never_leak(row: dict) -> None:
    rules = FieldRules(deny=("password", "*.password"), mask=(("email", "redact"), ("*.email", "redact")))
    out = rules.apply(row)

    def walk(obj: dict) -> None:
        for key, value in obj.items():
            assert key != "password", out
            if key == "email":
                assert value == MASK_TEXT
            if isinstance(value, dict):
                walk(value)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        walk(item)

    walk(out)
