"""What the SQL read tool refuses before anything is sent: statements over the size limits, and writes.

The statement is parsed (sqlglot, PostgreSQL dialect, the closest to Infino's SQL) and must be
one query that reads: a SELECT (set operations, WITH, VALUES), DESCRIBE or SHOW. Anything
that writes anywhere in it is refused, whatever comments or nesting hide it: a data-modifying
CTE (``WITH d AS (DELETE ...) SELECT``), ``SELECT ... INTO``, row locks, DDL, COPY, several
statements. This holds with and without ``--read-only``: the tool is declared read-only.
"""

from __future__ import annotations

import functools

from sqlglot import exp
from sqlglot.errors import SqlglotError

from infino_mcp.errors import InputError
from infino_mcp.limits import LimitError, check_sql
from infino_mcp.sql_dialect import parse_statements
from infino_mcp.sql_limits import check_sql_values

_WRITES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Copy", "Into",
        "Lock", "Command", "Set", "Grant", "Revoke", "Use", "Transaction", "Commit", "Rollback", "LoadData",
    )
    if hasattr(exp, name)
)  # fmt: skip
_SIDE_EFFECT_FUNCTIONS = frozenset(
    {"nextval", "setval", "set_config", "lo_import", "lo_export", "pg_terminate_backend", "pg_cancel_backend",
     "pg_reload_conf", "dblink_exec"}
)  # fmt: skip
_WRITE_HINT = (
    "query_dataset_in_sql only reads; use upsert_to_dataset to add or change records and delete_records to delete."
)


def check_read_query(sql: str) -> exp.Expr:
    """The parsed statement; InputError unless ``sql`` is one statement, within the size limits, that writes nothing."""
    try:
        check_sql(sql)
    except LimitError as exc:
        raise InputError(f"{exc} Nothing was sent.") from None
    try:
        statements = parse_statements(sql)
    except SqlglotError as exc:
        reason = str(exc).splitlines()[0][:200]
        raise InputError(f"query is not SQL this tool can check ({reason}); fix the syntax and retry.") from None
    except RecursionError:
        raise InputError("query nests too deeply to check; flatten its subqueries and parentheses.") from None
    if len(statements) != 1:
        raise InputError(f"query must be exactly one statement (got {len(statements)}); send each in its own call.")
    tree = statements[0]
    nodes = list(tree.walk())  # one walk serves every check below (breadth first, as find() is)
    kinds = [_kind(type(node)) for node in nodes]
    if _BUILDS in kinds:
        try:
            check_sql_values(tree)
        except LimitError as exc:
            raise InputError(f"{exc} Nothing was sent.") from None
    if _is_show(tree):
        return tree
    if not isinstance(tree, exp.Query | exp.Values | exp.Describe):
        raise InputError(f"query is a {tree.key.upper()} statement. {_WRITE_HINT}")
    if _WRITE in kinds:
        write = nodes[kinds.index(_WRITE)]
        raise InputError(f"query contains a {write.key.upper()} (it would write). {_WRITE_HINT}")
    for call, kind in zip(nodes, kinds, strict=True):
        if kind not in (_CALL, _BUILDS) or not isinstance(call, exp.Anonymous | exp.Func):
            continue
        name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).lower()
        if name in _SIDE_EFFECT_FUNCTIONS:
            raise InputError(f"query calls {name}(), which changes state. {_WRITE_HINT}")
    return tree


_WRITE, _BUILDS, _CALL, _OTHER = range(4)
_VALUE_BUILDERS = (exp.Repeat, exp.Pad, exp.Space, exp.GenerateSeries, exp.Anonymous)  # what check_sql_values reads


@functools.cache
def _kind(node_type: type[exp.Expr]) -> int:
    """What the checks make of a node of this type, decided once per type (isinstance over 20 write
    types for every node of every query cost more than the rest of the checks)."""
    if issubclass(node_type, _WRITES):
        return _WRITE
    if issubclass(node_type, _VALUE_BUILDERS):
        return _BUILDS
    if issubclass(node_type, exp.Anonymous | exp.Func):
        return _CALL
    return _OTHER


def _is_show(tree: exp.Expr) -> bool:
    show = getattr(exp, "Show", None)
    return (isinstance(tree, exp.Command) and str(tree.this).upper() == "SHOW") or (
        show is not None and isinstance(tree, show)
    )
