"""SQL text helpers the aggregations still use while they move to ``sqltree`` (use that instead).

Each one renders the matching ``sqltree`` node, so there is one quoting: the dialect's.
"""

from __future__ import annotations

from infino_mcp.local.querydsl.sqltree import column, number, string
from infino_mcp.sql_dialect import render


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return render(column(name, None))


def lit(text: str) -> str:
    """A single-quoted SQL string literal (the NUL character refused)."""
    return render(string(text))


def num(value: float | int) -> str:
    """A number literal (bools as TRUE/FALSE; non-finite numbers refused)."""
    return render(number(value))
