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

import functools

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

DIALECT = "postgres"


@functools.cache
def _dialect() -> Dialect:
    """The dialect object, looked up once (render runs per statement) and at first use (cold start)."""
    return Dialect.get_or_raise(DIALECT)


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
    this one rendering from plain nodes (columns, literals, calls, operators, SELECT without
    QUALIFY or SEMI/ANTI joins). The dialect's generator rewrites in place only other shapes
    (those transforms, array subscripts, bounded type parameters) and reads a node's parent
    only for qualified function names, LIKE ANY and simulated NULL ordering, so such a tree
    may share subtrees with another one. A parsed tree that is kept or rewritten later keeps
    the copy.
    """
    return _dialect().generate(node, copy=copy, normalize_functions=False)
