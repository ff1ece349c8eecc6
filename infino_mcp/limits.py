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


def _scan(text: str, tokens: re.Pattern[str], words: frozenset[str], *, case_end: bool) -> tuple[int, int]:
    """(deepest nesting, operator count) of ``text``, outside strings and comments."""
    depth = deepest = operators = 0
    for match in tokens.finditer(text):
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


def check_sql(sql: str) -> None:
    """LimitError when ``sql`` is over the statement length, nesting or operator limit."""
    if len(sql) > MAX_SQL_CHARS:
        raise LimitError(
            f"The SQL statement is {len(sql):,} characters; the limit is {MAX_SQL_CHARS:,}. "
            "Shorten it: filter with a join or a shorter IN list, or split it into several queries."
        )
    depth, operators = _scan(sql, _SQL_TOKENS, _SQL_OPERATOR_WORDS, case_end=True)
    if depth > MAX_SQL_DEPTH:
        raise LimitError(
            f"The SQL statement nests {depth} levels deep (parentheses, subqueries, CASE); the limit is "
            f"{MAX_SQL_DEPTH}. Flatten it: use WITH clauses or fewer nested subqueries and parentheses."
        )
    if operators > MAX_SQL_OPERATORS:
        raise LimitError(
            f"The SQL statement has {operators:,} operators (AND, OR, +, comparisons, UNION, JOIN...); the "
            f"limit is {MAX_SQL_OPERATORS:,}. Shorten it: use IN (...) instead of chains of OR, or split the query."
        )


def check_promql(query: str) -> None:
    """LimitError when ``query`` is over the PromQL length, nesting or operator limit."""
    if len(query) > MAX_PROMQL_CHARS:
        raise LimitError(
            f"The PromQL expression is {len(query):,} characters; the limit is {MAX_PROMQL_CHARS:,}. "
            "Shorten it, or split it into several queries."
        )
    depth, operators = _scan(query, _PROMQL_TOKENS, _PROMQL_OPERATOR_WORDS, case_end=False)
    if depth > MAX_PROMQL_DEPTH:
        raise LimitError(
            f"The PromQL expression nests {depth} levels deep; the limit is {MAX_PROMQL_DEPTH}. "
            "Remove redundant parentheses or split it into several queries."
        )
    if operators > MAX_PROMQL_OPERATORS:
        raise LimitError(
            f"The PromQL expression has {operators:,} operators; the limit is {MAX_PROMQL_OPERATORS:,}. "
            "Use a regex matcher or an aggregation (sum by (...)) instead of long chains, or split the query."
        )


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
