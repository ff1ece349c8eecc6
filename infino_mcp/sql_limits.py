"""Limits checked on a parsed SQL tree, before the engine runs it (``LimitError`` says what to change).

* Values: ``repeat`` / ``lpad`` / ``rpad`` / ``space`` / ``array_repeat`` with a constant
  count building at most 100M characters (a data-driven count is refused: it could build
  anything); ``generate_series`` / ``range`` with constant bounds spanning at most 100M rows
  (10M rows count in about a second; 1e12 would run for hours).
* Rows: ``sql_with_row_limit`` caps what a query returns, so no more than that is ever held.

Both sides of the wire use them, like ``infino_mcp.limits`` (the text limits checked before
any parser), which stays free of sqlglot so that importing it costs nothing at start-up.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from infino_mcp.limits import LimitError

MAX_SQL_VALUE_CHARS = 100_000_000
MAX_SERIES_ROWS = 100_000_000

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


def check_sql_values(tree: Any) -> None:
    """LimitError when the parsed SQL ``tree`` builds one value of more than ``MAX_SQL_VALUE_CHARS``
    (``repeat('a', 1500000000)`` takes the engine 6 GB) or a series of more than ``MAX_SERIES_ROWS``.

    ``repeat``, ``lpad``, ``rpad``, ``space`` and ``array_repeat`` need a constant count (one read
    from data or a subquery cannot be bounded before it runs); ``generate_series`` and ``range``
    with constant bounds may span at most ``MAX_SERIES_ROWS`` rows."""
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
    if isinstance(node, exp.Anonymous):
        return node.name.lower() == "array_repeat" and len(node.expressions) == 2
    return True


def _check_series(node: Any) -> None:
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
    # Cold start: sqlglot's optimizer (about 10 ms) loads at the first count to fold, not with the server.
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
