"""Size limits checked on request text before any parser or engine sees it.

The parsers and the engine recurse on expression trees: a long operator chain or deep
nesting overflows their stacks (the process dies) or costs superlinear time. These
scans are linear, recurse on nothing, and raise ``LimitError`` saying what to shorten.
Both sides of the wire use them: the MCP tools before a request is sent, the local
endpoint before it parses. ``load_yaml`` reads YAML without aliases: a few hundred bytes
of nested aliases expand to gigabytes in anything that walks the result. This module
imports nothing of ours.

The limits are generous for real queries:

* SQL: 100,000 characters (an ``IN`` list of a few thousand ids fits), 40 levels of
  parentheses / brackets / ``CASE`` (the engine's own parser stops at 50, and the endpoint
  wraps queries in a few levels of its own), 1,000 operators (``AND``, ``OR``, ``+``,
  comparisons, ``UNION``, ``JOIN``...: a 300-condition generated filter uses about 600;
  a 1,000-term arithmetic chain already takes the engine 2 s to plan).
* PromQL: 20,000 characters, 40 levels of nesting, 200 binary operators (dashboards'
  expressions use a handful; the parser crashes near 5,000).
* SQL values: ``repeat`` / ``lpad`` / ``rpad`` / ``space`` / ``array_repeat`` with a constant
  count building at most 100M characters (a data-driven count is refused: it could build
  anything); ``generate_series`` / ``range`` with constant bounds spanning at most 100M rows
  (10M rows count in about a second; 1e12 would run for hours).
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
MAX_SQL_VALUE_CHARS = 100_000_000


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


_TAIL_LIMIT = re.compile(r"\bLIMIT\s+(\d+)(\s+OFFSET\s+\d+)?\s*;?\s*\Z", re.IGNORECASE)


def sql_with_row_limit(sql: str, tree: Any, rows: int) -> str:
    """``sql`` producing at most ``rows`` rows, so that no more than that is ever held.

    ``tree`` is ``sql`` parsed by sqlglot. The text is kept as written (regenerating it can
    change what the engine or the service reads): ``LIMIT rows`` is appended to a query
    without a LIMIT or FETCH of its own at the top, or a larger literal LIMIT at the end is
    lowered. Anything else (not a query, a computed limit) is returned unchanged. A cap goes
    into the query's own LIMIT: ``SELECT * FROM (...) LIMIT n`` would let the engine drop the
    inner ORDER BY.
    """
    from sqlglot import exp

    if not isinstance(tree, exp.Query) or tree.args.get("fetch"):
        return sql
    current = tree.args.get("limit")
    text = sql.rstrip().rstrip(";").rstrip()
    if current is None:
        return f"{text}\nLIMIT {rows}"
    amount = current.expression
    tail = _TAIL_LIMIT.search(text)
    if not (isinstance(amount, exp.Literal) and amount.is_int) or int(amount.this) <= rows:
        return sql
    if tail is None or int(tail[1]) != int(amount.this):
        return sql
    return f"{text[: tail.start(1)]}{rows}{text[tail.end(1) :]}"


_UNKNOWN_TEXT = 1_000  # what a column or expression of unknown length is assumed to hold
_NAMES = {"Repeat": "repeat", "Pad": "lpad/rpad", "Space": "space"}
MAX_SERIES_ROWS = 100_000_000


def check_sql_values(tree: Any) -> None:
    """LimitError when the parsed SQL ``tree`` builds one value of more than ``MAX_SQL_VALUE_CHARS``
    (``repeat('a', 1500000000)`` takes the engine 6 GB) or a series of more than ``MAX_SERIES_ROWS``.

    ``repeat``, ``lpad``, ``rpad``, ``space`` and ``array_repeat`` need a constant count (one read
    from data or a subquery cannot be bounded before it runs); ``generate_series`` and ``range``
    with constant bounds may span at most ``MAX_SERIES_ROWS`` rows."""
    from sqlglot import exp

    for node in tree.find_all(exp.Repeat, exp.Pad, exp.Space, exp.GenerateSeries, exp.Anonymous):
        if isinstance(node, exp.GenerateSeries) or (isinstance(node, exp.Anonymous) and node.name.lower() == "range"):
            _check_series(node)
            continue
        if not _builds_value(node):
            continue
        name = _NAMES.get(type(node).__name__, node.name)
        size = _built_size(node)
        if size is None:
            raise LimitError(
                f"{name}(...) needs a constant count (a number written in the query): a count read from "
                "data or a subquery could build a value of any size. Write the count as a number."
            )
        if size > MAX_SQL_VALUE_CHARS:
            raise LimitError(
                f"{name}(...) would build a value of about {size:,} characters; the limit is "
                f"{MAX_SQL_VALUE_CHARS:,}. Use a smaller count."
            )


def _builds_value(node: Any) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return node.name.lower() == "array_repeat" and len(node.expressions) == 2
    return True


def _check_series(node: Any) -> None:
    from sqlglot import exp

    if isinstance(node, exp.GenerateSeries):
        bounds = [node.args.get("start"), node.args.get("end"), node.args.get("step")]
    else:
        args = list(node.expressions)
        bounds = [exp.Literal.number(0), *args] if len(args) == 1 else args
        bounds += [None] * (3 - len(bounds))
    start, end = (_constant(b) for b in bounds[:2])
    step = _constant(bounds[2]) if bounds[2] is not None else 1
    if start is None or end is None or not step:
        return
    series = isinstance(node, exp.GenerateSeries)  # generate_series includes its end, range does not
    rows = abs(end - start) // abs(step) + series
    if rows > MAX_SERIES_ROWS:
        raise LimitError(
            f"{'generate_series' if series else 'range'}(...) would make "
            f"{rows:,} rows; the limit is {MAX_SERIES_ROWS:,}. Use a narrower range or a larger step."
        )


def _built_size(node: Any) -> int | None:
    """Characters (or items) ``node`` builds; None when a count in it is not a constant."""
    from sqlglot import exp

    if isinstance(node, exp.Repeat):
        count, unit = _constant(node.args.get("times")), node.this
    elif isinstance(node, exp.Pad):
        return _constant(node.expression)
    elif isinstance(node, exp.Space):
        return _constant(node.this)
    elif isinstance(node, exp.Anonymous) and node.name.lower() == "array_repeat" and len(node.expressions) == 2:
        count, unit = _constant(node.expressions[1]), node.expressions[0]
    else:
        return None
    if count is None:
        return None
    if isinstance(unit, exp.Literal) and unit.is_string:
        return count * max(1, len(unit.this))
    inner = _built_size(unit) if isinstance(unit, exp.Repeat | exp.Pad | exp.Space | exp.Anonymous) else None
    if inner is None and isinstance(unit, exp.Repeat | exp.Pad | exp.Space):
        return None
    return count * (inner if inner is not None else _UNKNOWN_TEXT if unit.find(exp.Column) else 1)


def _constant(node: Any) -> int | None:
    """The integer a constant expression evaluates to (``10 * 1000``), or None when it reads data or is not one."""
    from sqlglot import exp
    from sqlglot.optimizer.simplify import simplify

    if node is None or node.find(exp.Column, exp.Query) is not None:
        return None
    folded, sign = simplify(node.copy()), 1
    if isinstance(folded, exp.Neg):
        folded, sign = folded.this, -1
    if isinstance(folded, exp.Cast):
        folded = folded.this
    if isinstance(folded, exp.Literal):
        try:
            return sign * int(float(folded.this))
        except ValueError:
            return None
    return None


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
