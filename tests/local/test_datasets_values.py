"""Unit tests of document normalization: dates, flattening, typing, coercion."""

from __future__ import annotations

import math

import pytest

from infino_mcp.local.errors import ApiError
from infino_mcp.local.storage.catalog import column_for, derive_table, field_for, validate_name
from infino_mcp.local.storage.values import (
    ValueRefused,
    coerce,
    flatten,
    infer_type,
    iso_ms,
    parse_iso,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00+0000", "2024-01-01T00:00:00.000Z"),
        ("2024-03-05", "2024-03-05T00:00:00.000Z"),
        ("2024-03-05 10:00:00", "2024-03-05T10:00:00.000Z"),
        ("2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00.123Z"),
    ],
)
def test_iso_dates_are_normalized(text, expected):
    parsed = parse_iso(text)
    assert parsed is not None and iso_ms(parsed) == expected


@pytest.mark.parametrize("text", ["hello", "2024-13-01", "1704067200", "2024/01/01", "01-01-2024"])
def test_non_dates(text):
    assert parse_iso(text) is None


def test_flatten_and_infer():
    assert flatten({"a": {"b": 1, "c": {}}, "d": [1]}) == {"a.b": 1, "d": [1]}
    assert infer_type("2024-01-01T00:00:00Z") == "timestamp_ms"
    assert infer_type("x") == "large_utf8"
    assert infer_type(2**70) == "f64"
    assert infer_type([1, 2.5]) == "list:f64"
    assert infer_type([{"a": 1}]) == "json"
    assert infer_type([1, "a"]) == "json"
    assert infer_type([]) is None and infer_type(math.nan) is None


def test_coercion():
    assert coerce("f", "f64", 3) == 3.0
    assert coerce("f", "f64", math.inf) is None
    assert coerce("i", "i64", 2.0) == 2
    assert coerce("s", "large_utf8", True) == "true"
    assert coerce("l", "list:i64", 5) == [5]
    assert coerce("t", "timestamp_ms", "2024-01-01T01:00:00+01:00") == "2024-01-01T00:00:00.000Z"
    assert coerce("j", "json", {"a": [1]}) == '{"a": [1]}'
    for kind, value in [
        ("i64", True),
        ("i64", "x"),
        ("bool", "maybe"),
        ("timestamp_ms", "soon"),
        ("large_utf8", [1, 2]),
    ]:
        with pytest.raises(ValueRefused):
            coerce("field", kind, value)


def test_reserved_field_names_round_trip():
    for name in ("score", "_id", "_meta", "~x"):
        assert column_for(name).startswith("~") and field_for(column_for(name)) == name
    assert column_for("geo.city") == "geo.city"


def test_dataset_names_and_tables():
    assert derive_table("web-logs") == "web-logs"
    assert derive_table("Logs.2024") != derive_table("logs.2024")
    assert derive_table("Logs.2024").startswith("logs-2024-")
    for bad in ("", "a/b", "with space", "_x", "sql", "Metadata"):
        with pytest.raises(ApiError):
            validate_name(bad)
    validate_name("sample-ecommerce-data.rel")
