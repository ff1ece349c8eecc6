"""Size limits checked on request text before any parser or engine sees it.

The parsers and the engine recurse on expression trees: a long operator chain or deep
nesting overflows their stacks (the process dies) or costs superlinear time. These
scans are linear, recurse on nothing, and raise ``LimitError`` saying what to shorten.
Both sides of the wire use them: the MCP tools before a request is sent, the local
endpoint before it parses. ``load_yaml`` reads YAML without aliases: a few hundred bytes
of nested aliases expand to gigabytes in anything that walks the result. This module
imports nothing of ours, nor sqlglot: the limits on a parsed SQL tree (values built, series
spanned, the row cap) are in ``infino_mcp.sql_limits``.

The limits are generous for real queries:

* SQL: 100,000 characters (an ``IN`` list of a few thousand ids fits), 40 levels of
  parentheses / brackets / ``CASE`` (the engine's own parser stops at 50, and the endpoint
  wraps queries in a few levels of its own), 1,000 operators (``AND``, ``OR``, ``+``,
  comparisons, ``UNION``, ``JOIN``...: a 300-condition generated filter uses about 600;
  a 1,000-term arithmetic chain already takes the engine 2 s to plan).
* PromQL: 20,000 characters, 40 levels of nesting, 200 binary operators (dashboards'
  expressions use a handful; the parser crashes near 5,000).
* JSON (request bodies, tool arguments): 100 levels of nesting (stored documents may nest
  20; a QueryDSL ``bool`` tree rarely passes 30; the MCP SDK's own parser stops at 200).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import yaml
from yaml.composer import ComposerError

MAX_SQL_CHARS = 100_000
MAX_SQL_DEPTH = 40
MAX_SQL_OPERATORS = 1_000
MAX_PROMQL_CHARS = 20_000
MAX_PROMQL_DEPTH = 40
MAX_PROMQL_OPERATORS = 200
MAX_JSON_DEPTH = 100


class LimitError(ValueError):
    """A request over one of the limits; the message says which and what to shorten."""


_SQL_TOKENS = re.compile(
    r"'(?:[^']|'')*'?"  # string literal (an unterminated one runs to the end)
    r'|"(?:[^"]|"")*"?'  # quoted identifier
    r"|`[^`]*`?"
    r"|--[^\n]*"
    r"|/\*.*?(?:\*/|\Z)"
    r"|\$\$.*?(?:\$\$|\Z)"
    r"|(?P<open>[(\[])|(?P<close>[)\]])"
    r"|(?P<op>\|\||::|[<>!=]=|<>|->>?|[-+*/%^=<>&|~])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)",
    re.DOTALL,
)
_SQL_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "UNION", "INTERSECT", "EXCEPT", "JOIN", "LIKE", "ILIKE", "IS"})

_PROMQL_TOKENS = re.compile(
    r'"(?:[^"\\]|\\.)*"?'
    r"|'(?:[^'\\]|\\.)*'?"
    r"|`[^`]*`?"
    r"|#[^\n]*"
    r"|(?P<open>[(\[{])|(?P<close>[)\]}])"
    r"|(?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>])"
    r"|(?P<word>[A-Za-z_:][A-Za-z0-9_:]*)",
    re.DOTALL,
)
_PROMQL_OPERATOR_WORDS = frozenset({"and", "or", "unless", "atan2"})

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")


@dataclass(frozen=True, slots=True)
class _Language:
    """How to scan one query language, its limits, and what each refusal tells the caller to do."""

    what: str
    tokens: re.Pattern[str]
    words: frozenset[str]
    case_end: bool  # CASE ... END nests like parentheses (SQL)
    max_chars: int
    max_depth: int
    max_operators: int
    nesting: str  # what nests, said after the depth
    operators: str  # what counts as an operator, said after the count
    too_long: str
    too_deep: str
    too_many: str


_SQL = _Language(
    "SQL statement",
    _SQL_TOKENS,
    _SQL_OPERATOR_WORDS,
    True,
    MAX_SQL_CHARS,
    MAX_SQL_DEPTH,
    MAX_SQL_OPERATORS,
    " (parentheses, subqueries, CASE)",
    " (AND, OR, +, comparisons, UNION, JOIN...)",
    "Shorten it: filter with a join or a shorter IN list, or split it into several queries.",
    "Flatten it: use WITH clauses or fewer nested subqueries and parentheses.",
    "Shorten it: use IN (...) instead of chains of OR, or split the query.",
)
_PROMQL = _Language(
    "PromQL expression",
    _PROMQL_TOKENS,
    _PROMQL_OPERATOR_WORDS,
    False,
    MAX_PROMQL_CHARS,
    MAX_PROMQL_DEPTH,
    MAX_PROMQL_OPERATORS,
    "",
    "",
    "Shorten it, or split it into several queries.",
    "Remove redundant parentheses or split it into several queries.",
    "Use a regex matcher or an aggregation (sum by (...)) instead of long chains, or split the query.",
)


def _scan(text: str, language: _Language) -> tuple[int, int]:
    """(deepest nesting, operator count) of ``text``, outside strings and comments."""
    case_end, words = language.case_end, language.words
    depth = deepest = operators = 0
    for match in language.tokens.finditer(text):
        kind = match.lastgroup
        if kind == "word":
            word = match.group("word")
            upper = word.upper() if case_end else word
            if case_end and upper == "CASE":
                kind = "open"
            elif case_end and upper == "END":
                kind = "close"
            elif (upper if case_end else word.lower()) in words:
                kind = "op"
        if kind == "open":
            depth += 1
            deepest = max(deepest, depth)
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "op":
            operators += 1
    return deepest, operators


def _check(text: str, language: _Language) -> None:
    """LimitError when ``text`` is over ``language``'s length, nesting or operator limit."""
    what = language.what
    if len(text) > language.max_chars:
        raise LimitError(
            f"The {what} is {len(text):,} characters; the limit is {language.max_chars:,}. {language.too_long}"
        )
    depth, operators = _scan(text, language)
    if depth > language.max_depth:
        raise LimitError(
            f"The {what} nests {depth} levels deep{language.nesting}; the limit is {language.max_depth}. "
            + language.too_deep
        )
    if operators > language.max_operators:
        raise LimitError(
            f"The {what} has {operators:,} operators{language.operators}; the limit is "
            f"{language.max_operators:,}. {language.too_many}"
        )


def check_sql(sql: str) -> None:
    """LimitError when ``sql`` is over the statement length, nesting or operator limit."""
    _check(sql, _SQL)


def check_promql(query: str) -> None:
    """LimitError when ``query`` is over the PromQL length, nesting or operator limit."""
    _check(query, _PROMQL)


def json_depth(text: str | bytes) -> int:
    """How deep the arrays and objects of the JSON ``text`` nest (0 for a scalar), without parsing it."""
    data = text.encode() if isinstance(text, str) else text
    if b"[" not in data and b"{" not in data:
        return 0
    steps = _JSON_STRING.sub(b"", data).translate(_JSON_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b"), initial=0))


def check_json_depth(text: str | bytes, what: str) -> None:
    """LimitError when the JSON ``text`` nests deeper than ``MAX_JSON_DEPTH``."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise LimitError(f"{what} nests {depth:,} levels deep; the limit is {MAX_JSON_DEPTH}. Send a flatter document.")


def value_depth(value: object) -> int:
    """How deep the lists and dicts of an already-parsed ``value`` nest; past the encoder's recursion
    limit (about 1,000 levels) it answers that limit. Encoding in C then scanning beats a Python walk."""
    if type(value) not in (dict, list):
        return 0
    try:
        text = json.dumps(value, default=str, ensure_ascii=False).encode()
    except RecursionError:
        return sys.getrecursionlimit()
    return json_depth(text)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing aliases (``*name``, ``<<: *name``) with the alias's position."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, "aliases (*name) are not accepted; write the value out", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` without aliases; raises ``yaml.YAMLError`` (with ``problem_mark``) when invalid."""
    if len(text) > 1_000_000:
        raise LimitError(f"The YAML document is {len(text):,} characters; the limit is 1,000,000.")
    return yaml.load(text, Loader=_NoAliasLoader)
