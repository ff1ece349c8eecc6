"""User fields of a dataset as QueryDSL sees them: the engine column, the kind of
values it holds, and conversion of request values into typed SQL literals.

This is the one place every QueryDSL clause (queries, sorts, aggregations) resolves
a field name, so field rules live here: a field named exactly that the caller's
rules hide or mask is a 403 with the SQL path's wording (decided by the rules, not
by whether the dataset has the field); wildcards and object paths expand to the
readable fields only."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.dates import date_ms
from infino_mcp.local.querydsl.sqltree import boolean, call, number, string
from infino_mcp.local.security.sql_field_rules import check_reference

if TYPE_CHECKING:
    from infino_mcp.local.security.field_rules import FieldRules
    from infino_mcp.local.storage.catalog import DatasetInfo, FieldInfo


_KINDS = {"String": "string", "Integer": "int", "Float": "float", "Boolean": "bool", "ISO8601Date": "date"}


@dataclass(frozen=True)
class Field:
    """A user field of the dataset: its engine column and how to compare its values."""

    name: str
    column: str
    kind: str  # string | int | float | bool | date | array | object
    fts: bool
    item_kind: str = ""  # for arrays: kind of the elements

    def value(self, value: Any, what: str) -> exp.Expr | None:
        """``value`` as an SQL literal comparable with this field; None when no value of the field can equal it."""
        kind = self.item_kind if self.kind == "array" else self.kind
        if value is None:
            raise ApiError(400, f"QueryDSL '{what}' on field '{self.name}' needs a value, not null.")
        if isinstance(value, (dict, list)):
            raise ApiError(400, f"QueryDSL '{what}' on field '{self.name}' needs a single value, got {value!r}.")
        if kind == "string":
            if isinstance(value, bool):
                return string("true" if value else "false")
            return string(str(value))
        if kind in ("int", "float"):
            found = to_number(value)
            if found is None:
                raise ApiError(400, f"QueryDSL '{what}': field '{self.name}' is numeric and {value!r} is not a number.")
            return number(found)
        if kind == "bool":
            if isinstance(value, bool):
                return boolean(value)
            if str(value).lower() in ("true", "false"):
                return boolean(str(value).lower() == "true")
            raise ApiError(400, f"QueryDSL '{what}': field '{self.name}' is boolean and {value!r} is not true/false.")
        if kind == "date":
            return timestamp_ms(date_ms(value, self.name, what))
        return None


def to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value))
    except ValueError:
        try:
            number = float(str(value))
        except ValueError:
            return None
        return number if math.isfinite(number) else None


def as_float(value: Any, what: str) -> float:
    """``value`` as a finite number, or ApiError(400) naming the option ``what``."""
    number = to_number(value)
    if number is None:
        raise ApiError(400, f"QueryDSL '{what}' must be a number, got {value!r}.")
    return float(number)


def as_int(value: Any, what: str) -> int:
    """``value`` as an integer, or ApiError(400) naming the option ``what``."""
    number = to_number(value)
    if number is None or int(number) != number:
        raise ApiError(400, f"QueryDSL '{what}' must be an integer, got {value!r}.")
    return int(number)


def timestamp_ms(ms: int) -> exp.Expr:
    """The instant ``ms`` (epoch milliseconds) as the engine's timestamp."""
    return call("to_timestamp_millis", exp.Literal.number(int(ms)))


def field_kind(info: FieldInfo) -> tuple[str, str]:
    kind = _KINDS.get(info.infino_type)
    if kind:
        return kind, ""
    if info.infino_type == "Array":
        item = (info.engine_type.get("item") or {}).get("type", "")
        return "array", _item_kind(item)
    return "object", ""


def _item_kind(engine_type: str) -> str:
    if "utf8" in engine_type:
        return "string"
    if engine_type.startswith(("i", "u")):
        return "int"
    if engine_type.startswith("f"):
        return "float"
    if engine_type.startswith("bool"):
        return "bool"
    if engine_type.startswith(("timestamp", "date")):
        return "date"
    return "object"


class Fields:
    """Field lookup for one dataset under the caller's field rules (None: no rules)."""

    def __init__(self, info: DatasetInfo, rules: FieldRules | None = None, user: str = "") -> None:
        self.info = info
        self.rules = rules if rules is not None and not rules.identity else None
        self.user = user

    def check(self, name: str) -> None:
        """ApiError(403) when the rules hide or mask ``name`` (or the field ``name.keyword`` stands for)."""
        if self.rules is None:
            return
        for path in {name, name[: -len(".keyword")] if name.endswith(".keyword") else name}:
            check_reference(path, self.rules, self.user, bare=False)

    def get(self, name: str) -> Field | None:
        """The field called ``name`` (``x.keyword`` falls back to ``x``), None when unknown; 403 when hidden."""
        if not isinstance(name, str):
            raise ApiError(400, f"QueryDSL field names are strings, got {name!r}.")
        self.check(name)
        return self._lookup(name)

    def _lookup(self, name: str) -> Field | None:
        info = self.info.fields.get(name)
        if info is None and name.endswith(".keyword"):
            info = self.info.fields.get(name[: -len(".keyword")])
        if info is None or (self.rules is not None and not self.rules.readable(info.name)):
            return None
        kind, item = field_kind(info)
        return Field(info.name, info.column, kind, info.fts, item)

    def under(self, prefix: str) -> list[Field]:
        """Readable fields nested under the object path ``prefix``."""
        found = [self._lookup(n) for n in self.info.fields if n.startswith(prefix + ".")]
        return [f for f in found if f is not None]

    def matching(self, pattern: str) -> list[Field]:
        """Fields whose names match a glob such as ``title*`` or ``*`` (readable ones only; exact names too)."""
        if not any(ch in pattern for ch in "*?["):
            found = self.get(pattern)
            return [found] if found else []
        names = [n for n in self.info.fields if fnmatch.fnmatchcase(n, pattern)]
        return [f for f in (self._lookup(n) for n in sorted(names)) if f is not None]
