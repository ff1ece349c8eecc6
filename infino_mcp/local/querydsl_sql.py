"""Building blocks for compiling QueryDSL into engine SQL.

* quoting: identifiers and string literals (the engine has no bind parameters,
  so every user value goes through ``lit``/``ident``/``like_pattern``);
* ``Field``: a user field resolved against the dataset (its column and kind),
  with value conversion into a typed SQL literal;
* dates: ISO strings, epoch numbers and Elasticsearch date math
  (``now-1d/d``, ``2024-01-01||+1M``) to epoch milliseconds;
* ``Pred``: an SQL predicate built from text and full-text leaves, rendered
  later in the way each query needs (joined BM25 source, ``token_match``
  subquery, or a regex approximation where subqueries are not allowed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from infino_mcp.local.http import ApiError
from infino_mcp.local.values import parse_iso

if TYPE_CHECKING:
    from infino_mcp.local.catalog import DatasetInfo, FieldInfo

# ----- quoting ---------------------------------------------------------------------------


def ident(name: str) -> str:
    """A double-quoted SQL identifier (any character allowed, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A single-quoted SQL string literal; the engine reads backslashes literally."""
    if "\x00" in text:
        raise ApiError(400, "QueryDSL values cannot contain the NUL character (\\u0000).")
    return "'" + text.replace("'", "''") + "'"


def like_pattern(text: str, *, wildcard: bool = False) -> str:
    """``text`` escaped for LIKE (backslash is the engine's only escape character).

    With ``wildcard`` the Elasticsearch wildcard characters ``*`` and ``?``
    become ``%`` and ``_``; every other character is matched literally.
    """
    out = []
    for ch in text:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif wildcard and ch == "*":
            out.append("%")
        elif wildcard and ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


_BOUNDARY = r"\b"
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def regex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def num(value: float | int) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"QueryDSL number {value!r} is not finite.")
    return repr(value) if isinstance(value, float) else str(int(value))


# ----- tokens ----------------------------------------------------------------------------

# Approximates the engine's Unicode word segmentation: letters/digits, joined by
# the in-word punctuation that keeps a word whole (it's, 3.14, foo.bar).
_WORD = re.compile(r"\w+(?:[.'’:]\w+)*")


def tokens(text: str) -> list[str]:
    """The words of a full-text query, without any operator syntax (+, -, quotes)."""
    return _WORD.findall(text)


# ----- predicates ------------------------------------------------------------------------


@dataclass(frozen=True)
class TextLeaf:
    """A full-text condition on an FTS column: the rows ``token_match`` finds."""

    column: str
    query: str  # tokens joined by spaces, no operator syntax
    mode: str  # "or" | "and"

    def tvf(self, kind: str, table: str, k: int | None = None) -> str:
        args = [lit(table), lit(self.column), lit(self.query)]
        if k is not None:
            args.append(str(k))
        if self.mode == "and":
            args.append("'and'")
        return f"{kind}({', '.join(args)})"

    def approx(self) -> str:
        """A regex approximation usable where TVFs and subqueries are not (delete predicates)."""
        words = self.query.split()
        column = ident(self.column)
        parts = [f"regexp_like({column}, {lit(_BOUNDARY + regex_escape(w) + _BOUNDARY)}, 'i')" for w in words]
        glue = " AND " if self.mode == "and" else " OR "
        return "(" + glue.join(parts) + ")" if parts else "FALSE"


@dataclass(frozen=True)
class ScoreRef:
    """The BM25 score of a ``TextLeaf`` (0 where it does not match), rendered per query."""

    leaf: TextLeaf


Part = str | TextLeaf | ScoreRef


class Pred:
    """An SQL expression made of text pieces and ``TextLeaf``/``ScoreRef`` placeholders.

    ``TRUE``/``FALSE`` are folded so trivial clauses vanish. SQL NULLs only come
    from leaves on missing values, which must count as "no match", so every NOT
    wraps its operand in ``COALESCE(..., FALSE)``.
    """

    __slots__ = ("parts",)

    def __init__(self, *parts: Part) -> None:
        self.parts: tuple[Part, ...] = parts

    @property
    def is_true(self) -> bool:
        return self.parts == ("TRUE",)

    @property
    def is_false(self) -> bool:
        return self.parts == ("FALSE",)

    def leaves(self) -> list[TextLeaf]:
        return [p for p in self.parts if isinstance(p, TextLeaf)]

    def score_refs(self) -> list[TextLeaf]:
        return [p.leaf for p in self.parts if isinstance(p, ScoreRef)]

    def render(self, leaf: Callable[[TextLeaf], str], score: Callable[[TextLeaf], str] | None = None) -> str:
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, TextLeaf):
                out.append(leaf(p))
            elif score is None:
                raise ValueError("a score expression was rendered without a score source")
            else:
                out.append(score(p.leaf))
        return "".join(out)

    @staticmethod
    def join(preds: list[Pred], op: str) -> Pred:
        unit, zero = (TRUE, FALSE) if op == "AND" else (FALSE, TRUE)
        kept: list[Pred] = []
        for p in preds:
            if p.parts == zero.parts:
                return zero
            if p.parts != unit.parts:
                kept.append(p)
        if not kept:
            return unit
        if len(kept) == 1:
            return kept[0]
        parts: list[Part] = ["("]
        for i, p in enumerate(kept):
            if i:
                parts.append(f" {op} ")
            parts.extend(p.parts)
        parts.append(")")
        return Pred(*parts)

    def negate(self) -> Pred:
        if self.is_true:
            return FALSE
        if self.is_false:
            return TRUE
        return Pred("(NOT COALESCE(", *self.parts, ", FALSE))")

    def as_int(self) -> Pred:
        """1 when the predicate holds, else 0 (for minimum_should_match counting)."""
        if self.is_true:
            return Pred("1")
        if self.is_false:
            return Pred("0")
        return Pred("(CASE WHEN ", *self.parts, " THEN 1 ELSE 0 END)")


TRUE = Pred("TRUE")
FALSE = Pred("FALSE")


def at_least(preds: list[Pred], n: int) -> Pred:
    """At least ``n`` of ``preds`` hold."""
    if n <= 0:
        return TRUE
    if n > len(preds):
        return FALSE
    if n == 1:
        return Pred.join(preds, "OR")
    if n == len(preds):
        return Pred.join(preds, "AND")
    parts: list[Part] = ["(("]
    for i, p in enumerate(preds):
        if i:
            parts.append(" + ")
        parts.extend(p.as_int().parts)
    parts.append(f") >= {n})")
    return Pred(*parts)


# ----- fields ----------------------------------------------------------------------------

_KINDS = {"String": "string", "Integer": "int", "Float": "float", "Boolean": "bool", "ISO8601Date": "date"}


@dataclass(frozen=True)
class Field:
    """A user field of the dataset: its engine column and how to compare its values."""

    name: str
    column: str
    kind: str  # string | int | float | bool | date | array | object
    fts: bool
    item_kind: str = ""  # for arrays: kind of the elements

    def literal(self, value: Any, what: str) -> str | None:
        """``value`` as an SQL literal comparable with this field; None when no value of the field can equal it."""
        kind = self.item_kind if self.kind == "array" else self.kind
        if value is None:
            raise ApiError(400, f"QueryDSL '{what}' on field '{self.name}' needs a value, not null.")
        if isinstance(value, (dict, list)):
            raise ApiError(400, f"QueryDSL '{what}' on field '{self.name}' needs a single value, got {value!r}.")
        if kind == "string":
            if isinstance(value, bool):
                return lit("true" if value else "false")
            return lit(str(value))
        if kind in ("int", "float"):
            number = to_number(value)
            if number is None:
                raise ApiError(400, f"QueryDSL '{what}': field '{self.name}' is numeric and {value!r} is not a number.")
            return num(number)
        if kind == "bool":
            if isinstance(value, bool):
                return "TRUE" if value else "FALSE"
            if str(value).lower() in ("true", "false"):
                return str(value).upper()
            raise ApiError(400, f"QueryDSL '{what}': field '{self.name}' is boolean and {value!r} is not true/false.")
        if kind == "date":
            return ts_literal(date_ms(value, self.name, what))
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


def ts_literal(ms: int) -> str:
    return f"to_timestamp_millis({int(ms)})"


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
    if engine_type.startswith("timestamp") or engine_type.startswith("date"):
        return "date"
    return "object"


class Fields:
    """Field lookup for one dataset, hiding fields the caller may not read."""

    def __init__(self, info: DatasetInfo, readable: Callable[[str], bool] | None = None) -> None:
        self.info = info
        self._readable = readable or (lambda _path: True)

    def get(self, name: str) -> Field | None:
        """The field called ``name`` (``x.keyword`` falls back to ``x``), None when unknown or hidden."""
        if not isinstance(name, str):
            raise ApiError(400, f"QueryDSL field names are strings, got {name!r}.")
        info = self.info.fields.get(name)
        if info is None and name.endswith(".keyword"):
            info = self.info.fields.get(name[: -len(".keyword")])
        if info is None or not self._readable(info.name):
            return None
        kind, item = field_kind(info)
        return Field(info.name, info.column, kind, info.fts, item)

    def under(self, prefix: str) -> list[Field]:
        """Fields nested under the object path ``prefix``."""
        found = [self.get(n) for n in self.info.fields if n.startswith(prefix + ".")]
        return [f for f in found if f is not None]

    def matching(self, pattern: str) -> list[Field]:
        """Fields whose names match a glob such as ``title*`` or ``*`` (exact names too)."""
        import fnmatch

        if not any(ch in pattern for ch in "*?["):
            found = self.get(pattern)
            return [found] if found else []
        names = [n for n in self.info.fields if fnmatch.fnmatchcase(n, pattern)]
        return [f for f in (self.get(n) for n in sorted(names)) if f is not None]


# ----- dates -----------------------------------------------------------------------------

_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}


def date_ms(value: Any, field: str, what: str, *, round_up: bool = False, fmt: str | None = None) -> int:
    """Epoch milliseconds of a date value: epoch number, ISO string or date math."""
    if isinstance(value, bool):
        raise ApiError(400, f"QueryDSL '{what}': {value!r} is not a date (field '{field}').")
    if isinstance(value, (int, float)):
        return int(value * 1000) if fmt == "epoch_second" else int(value)
    text = str(value).strip()
    if fmt in ("epoch_millis", "epoch_second") and re.fullmatch(r"-?\d+(\.\d+)?", text):
        number = float(text)
        return int(number * 1000) if fmt == "epoch_second" else int(number)
    if text.startswith("now"):
        anchor, rest = datetime.now(UTC), text[3:]
    else:
        head, sep, rest = text.partition("||")
        if not sep:
            rest = ""
        if re.fullmatch(r"-?\d{5,}", head):
            anchor = datetime.fromtimestamp(int(head) / 1000, UTC)
        else:
            parsed = parse_iso(head) if head else None
            if parsed is None and re.fullmatch(r"\d{4}(-\d{2})?", head):
                parsed = datetime.strptime(head + ("-01-01" if len(head) == 4 else "-01"), "%Y-%m-%d").replace(tzinfo=UTC)
            if parsed is None:
                raise ApiError(
                    400,
                    f"QueryDSL '{what}': {value!r} is not a date for field '{field}'; use ISO-8601 "
                    "(2024-01-31T12:00:00Z), epoch milliseconds, or date math (now-1d/d).",
                )
            anchor = parsed
    return int(_apply_math(anchor, rest, value, what, round_up).timestamp() * 1000)


def _apply_math(moment: datetime, expr: str, value: Any, what: str, round_up: bool) -> datetime:
    pos = 0
    while pos < len(expr):
        m = _MATH.match(expr, pos)
        if not m:
            raise ApiError(400, f"QueryDSL '{what}': cannot read the date math in {value!r}.")
        pos = m.end()
        if m.group(4):
            moment = _round(moment, m.group(4), round_up)
            continue
        amount = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
        unit = m.group(3)
        if unit in "yM":
            months = moment.month - 1 + amount * (12 if unit == "y" else 1)
            year, month = moment.year + months // 12, months % 12 + 1
            moment = moment.replace(year=year, month=month, day=min(moment.day, _days_in(year, month)))
        else:
            moment += timedelta(seconds=amount * _UNIT_SECONDS[unit])
    return moment


def _days_in(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _round(moment: datetime, unit: str, up: bool) -> datetime:
    if unit == "y":
        start = moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    elif unit == "M":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = _apply_math(start, "+1M", "", "", False)
    elif unit == "w":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        step = _UNIT_SECONDS[unit]
        epoch = int(moment.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % step, UTC)
        end = start + timedelta(seconds=step)
    return end - timedelta(milliseconds=1) if up else start


def iso_from_ms(ms: int | float) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
