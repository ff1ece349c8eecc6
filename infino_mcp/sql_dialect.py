"""The one SQL dialect infino-mcp reads and writes, and the one parse and render step.

Infino's SQL is PostgreSQL-flavoured, so sqlglot's ``postgres`` dialect parses what
callers send and renders every tree we build or rewrite (the MCP tools' checks, the
local endpoint's rewriting, field security, visualizations and QueryDSL). Identifiers and
literals are always sqlglot nodes (``exp.to_identifier(..., quoted=True)``,
``exp.Literal.string``): the dialect does the quoting, nobody escapes by hand. Errors
are sqlglot's (``SqlglotError``); each caller words them for its own side of the wire.
This module imports nothing of ours.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

DIALECT = "postgres"


def parse_statements(sql: str) -> list[exp.Expr]:
    """Every statement of ``sql`` (empty ones dropped); raises ``SqlglotError`` when it is not SQL."""
    return [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]


def render(node: exp.Expr, *, copy: bool = True) -> str:
    """``node`` as SQL text in the one dialect.

    Function names sqlglot does not know stay as written: the engine's table functions
    (``bm25_search``, ``token_match``) are case-sensitive, and upper-casing them (sqlglot's
    default) makes the engine answer "table function 'BM25_SEARCH' not found".

    sqlglot deep-copies the tree before generating (its dialect transforms may rewrite it),
    about half the time of rendering; ``copy=False`` skips that for a statement built for
    this one rendering that holds no node shared with another tree.
    """
    return node.sql(dialect=DIALECT, copy=copy, normalize_functions=False)
