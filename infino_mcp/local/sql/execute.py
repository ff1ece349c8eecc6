"""SQL over datasets: SELECT through the engine, INSERT / UPDATE / DELETE emulated.

The engine's SQL is read-only, so writes are parsed (sqlglot) and turned into
document writes through the same writer as bulk requests:

* ``INSERT INTO ds (a, b) VALUES (...), (...)`` or ``INSERT INTO ds (a, b) SELECT ...``
  appends one document per row (an ``_id`` column sets the document id);
* ``UPDATE ds SET a = expr WHERE pred`` selects the matching documents with the
  new values computed by the engine, sets the fields in each original document
  and writes them back under the same ids;
* ``DELETE FROM ds WHERE pred`` deletes the matching documents.

Results: temporal values become ISO-8601 strings in Arrow (no nanosecond or
out-of-range trap), the internal columns are hidden from ``SELECT *`` (the
engine's row id, ``_doc_id`` and ``_source``), and ``_id`` written in a query
means the document id.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.sql_field_rules import check_select_fields
from infino_mcp.local.sql.results import (
    SelectResult,
    statement_info,
    table_to_result,
    to_sql_envelope,
)
from infino_mcp.local.sql.rewrite import (
    SEARCH_FUNCTIONS,
    Rewritten,
    engine_names_to_user,
    normalize,
    parse,
    qualified_start,
    rewrite,
)
from infino_mcp.local.storage.catalog import DOC_ID, SOURCE, field_for
from infino_mcp.local.storage.documents import Op

if TYPE_CHECKING:
    from infino_mcp.local.services import Services

__all__ = ["SelectResult", "execute_select", "execute_statement", "to_sql_envelope"]


# ----- SELECT ---------------------------------------------------------------------------------


def _authorize(services: Services, principal: Any, datasets: list[str], action: str) -> None:
    if principal is None:
        return
    resource = "record"
    for name in datasets:
        services.rbac.authorize(principal, resource, action, name)


async def _run(services: Services, rewritten: Rewritten) -> pa.Table:
    try:
        return await services.engine.query(rewritten.sql)
    except ApiError as exc:
        raise ApiError(exc.status, engine_names_to_user(exc.message, rewritten.datasets, rewritten.sql)) from None


async def execute_select(services: Services, sql: str, *, principal: Any = None) -> SelectResult:
    """Run a read query written with dataset names; rows as plain JSON values."""
    rewritten = rewrite(sql, services.catalog)
    if not isinstance(rewritten.tree, (exp.Query, exp.Describe)) and rewritten.tree.key not in ("select", "union"):
        raise ApiError(
            400,
            "Only SELECT queries can be run here; change records with upsert_to_dataset (INSERT or UPDATE) "
            "or delete_records.",
        )
    names = list(rewritten.datasets)
    _authorize(services, principal, names, "read")
    if principal is not None:
        _check_field_references(services, principal, rewritten)
    result = table_to_result(await _run(services, rewritten))
    if principal is not None:
        result.rows = _apply_field_rules(services, principal, names, result.rows)
    result.info = statement_info(rewritten.tree, names)
    return result


def _check_field_references(services: Services, principal: Any, rewritten: Rewritten) -> None:
    """403 when the query reads fields the caller's rules hide or mask other than as a bare
    output column (see ``rbac_sql``): the row filter alone cannot see through aliases,
    expressions, filters, grouping or sorting."""
    for name, info in rewritten.datasets.items():
        rules = services.rbac.field_rules(principal, name)
        if not rules.identity:
            check_select_fields(rewritten.tree, rules, info.fields, user=principal.user)


def _apply_field_rules(services: Services, principal: Any, names: list[str], rows: list[dict]) -> list[dict]:
    rules = [services.rbac.field_rules(principal, name) for name in names]
    active = [r for r in rules if not r.identity]
    if not active:
        return rows
    if len(names) > 1:
        raise ApiError(
            403,
            "Field-level rules apply to some of these datasets, so they can only be queried one at a time with SQL.",
        )
    return [active[0].apply(row) for row in rows]


# ----- writes ---------------------------------------------------------------------------------


async def execute_statement(services: Services, sql: str, *, principal: Any = None) -> dict:
    """Any supported statement -> the service envelope."""
    started = time.perf_counter()
    if not sql.strip():
        raise ApiError(400, 'The query is empty; send {"query": "SELECT ..."}.')
    tree = parse(normalize(sql, services.catalog))
    if isinstance(tree, exp.Insert):
        result, kind = await execute_insert(services, sql, principal=principal), "Insert"
    elif isinstance(tree, exp.Update):
        result, kind = await execute_update(services, sql, principal=principal), "Update"
    elif isinstance(tree, exp.Delete):
        result, kind = await execute_delete(services, sql, principal=principal), "Delete"
    else:
        result, kind = await execute_select(services, sql, principal=principal), "Select"
    return to_sql_envelope(result, kind, int((time.perf_counter() - started) * 1000))


def _check_write_reads(
    services: Services, principal: Any, rewritten: Rewritten, parts: list[exp.Expression], *, target: str
) -> None:
    """An UPDATE or DELETE reads what its SET values and WHERE reference: 403 unless the caller may read every
    dataset it names (the target too when ``parts`` reference it) and no part touches a hidden or masked field.
    Nothing counts as a bare projection here: the values are written or counted, never filtered on output."""
    if principal is None:
        return
    parts = [p for p in parts if isinstance(p, exp.Expression)]
    reads_data = any(p.find(exp.Column, exp.Table, exp.Anonymous, exp.Star) is not None for p in parts)
    names = [n for n in rewritten.datasets if n != target or reads_data]
    _authorize(services, principal, names, "read")
    for name in names:
        rules = services.rbac.field_rules(principal, name)
        if not rules.identity:
            info = rewritten.datasets[name]
            check_select_fields(rewritten.tree, rules, info.fields, user=principal.user, parts=parts, allow_bare=False)


def _target(rewritten: Rewritten, node: exp.Expression) -> str:
    table = node if isinstance(node, exp.Table) else node.find(exp.Table)
    name = table.name if table is not None else ""
    for dataset in rewritten.datasets:
        if dataset == name or dataset.lower() == name.lower():
            return dataset
    raise ApiError(400, "Could not tell which dataset the statement writes to.")


def _write_result(dataset: str, items: list[dict]) -> SelectResult:
    errors = [next(iter(i.values())).get("error", {}).get("reason") for i in items]
    errors = [e for e in errors if e]
    done = len(items) - len(errors)
    if errors and not done:
        raise ApiError(400, f"No row was written to '{dataset}': {errors[0]}")
    message = f"{len(errors)} row(s) refused; first: {errors[0]}" if errors else None
    return SelectResult(columns=[], rows=[], affected_rows=done, error_message=message, info={"table_names": [dataset]})


async def execute_insert(services: Services, sql: str, *, principal: Any = None) -> SelectResult:
    tree = parse(normalize(sql, services.catalog))
    schema = tree.this
    if not isinstance(schema, exp.Schema) or not schema.expressions:
        raise ApiError(400, "Name the columns: INSERT INTO dataset (col1, col2) VALUES (...).")
    table = schema.this
    qualified_start(table)  # 400 for a schema other than public
    dataset = table.name
    if not services.catalog.exists(dataset):
        if principal is not None:
            services.rbac.authorize(principal, "dataset", "create", dataset)
        services.catalog.ensure(dataset)
    _authorize(services, principal, [dataset], "write")
    columns = [c.name for c in schema.expressions]
    source = tree.expression
    if isinstance(source, exp.Values):
        rows = [await _literal_row(services, columns, row) for row in source.expressions]
    else:
        selected = await execute_select(services, source.sql(dialect="postgres"), principal=principal)
        rows = [dict(zip(columns, row.values(), strict=False)) for row in selected.rows]
    ops = []
    for row in rows:
        doc_id = row.pop("_id", None)
        ops.append(Op("index", None if doc_id is None else str(doc_id), _nest(row)))
    return _write_result(dataset, await services.writer.write(dataset, ops))


async def _literal_row(services: Services, columns: list[str], row: exp.Expression) -> dict[str, Any]:
    values = row.expressions if isinstance(row, exp.Tuple) else [row]
    if len(values) != len(columns):
        raise ApiError(400, f"A VALUES row has {len(values)} values for {len(columns)} columns.")
    out: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=True):
        out[name] = await _literal(services, value)
    return out


async def _literal(services: Services, value: exp.Expression) -> Any:
    if isinstance(value, exp.Null):
        return None
    if isinstance(value, exp.Boolean):
        return bool(value.this)
    if isinstance(value, exp.Literal):
        if value.is_string:
            return value.this
        text = value.this
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal) and not value.this.is_string:
        return -(await _literal(services, value.this))
    if isinstance(value, exp.Array):
        return [await _literal(services, v) for v in value.expressions]
    # Anything else (CAST, functions, TIMESTAMP '...'): let the engine evaluate it, as long as it reads no data.
    if value.find(exp.Query, exp.Subquery, exp.Table, exp.Column, exp.Star, exp.Identifier) is not None or any(
        str(f.this).lower() in SEARCH_FUNCTIONS for f in value.find_all(exp.Anonymous)
    ):
        raise ApiError(
            400,
            "VALUES takes constants and expressions over them only; to copy data from a dataset use "
            "INSERT INTO dataset (col1, ...) SELECT ...",
        )
    table = await services.engine.query(f"SELECT {value.sql(dialect='postgres')} AS v")
    return table_to_result(table).rows[0]["v"]


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Columns named with dots (``geo.city``) become nested objects, as bulk documents are."""
    document: dict[str, Any] = {}
    for key, value in flat.items():
        _set_path(document, key, value)
    return document


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    if path in document or "." not in path:
        document[path] = value
        return
    head, rest = path.split(".", 1)
    child = document.get(head)
    if not isinstance(child, dict):
        child = document[head] = {}
    _set_path(child, rest, value)


async def execute_update(services: Services, sql: str, *, principal: Any = None) -> SelectResult:
    rewritten = rewrite(sql, services.catalog)
    tree = parse(rewritten.sql)
    dataset = _target(rewritten, parse(normalize(sql, services.catalog)).this)
    _authorize(services, principal, [dataset], "write")
    user_tree = rewritten.tree
    reads = [a.expression if isinstance(a, exp.EQ) else a for a in user_tree.expressions]
    reads += [user_tree.args.get("from"), user_tree.args.get("where"), *(user_tree.args.get("joins") or [])]
    _check_write_reads(services, principal, rewritten, reads, target=dataset)
    info = rewritten.datasets[dataset]
    sets = []
    for i, assignment in enumerate(tree.expressions):
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            raise ApiError(400, "UPDATE needs assignments like SET field = expression.")
        sets.append(
            (field_for(assignment.this.name), f'{assignment.expression.sql(dialect="postgres")} AS "__set_{i}"')
        )
    where = tree.args.get("where")
    condition = f" WHERE {where.this.sql(dialect='postgres')}" if where is not None else ""
    projection = ", ".join([f'"{DOC_ID}"', f'"{SOURCE}"', *(expr for _, expr in sets)])
    selected = await _run(
        services,
        Rewritten(sql=f'SELECT {projection} FROM "{info.table}"{condition}', tree=tree, datasets=rewritten.datasets),
    )
    values = table_to_result(selected, keep_row_id=True)
    ids = selected.column(DOC_ID).to_pylist()
    sources = selected.column(SOURCE).to_pylist()
    ops = []
    for doc_id, source, row in zip(ids, sources, values.rows, strict=True):
        document = json.loads(source) if source else {}
        for i, (path, _) in enumerate(sets):
            _set_path(document, path, row[f"__set_{i}"])
        ops.append(Op("index", doc_id, document))
    if not ops:
        return SelectResult(columns=[], rows=[], affected_rows=0, info={"table_names": [dataset]})
    return _write_result(dataset, await services.writer.write(dataset, ops))


async def execute_delete(services: Services, sql: str, *, principal: Any = None) -> SelectResult:
    rewritten = rewrite(sql, services.catalog)
    tree = parse(rewritten.sql)
    dataset = _target(rewritten, parse(normalize(sql, services.catalog)).this)
    if principal is not None:
        services.rbac.authorize(principal, "record", "delete", dataset)
    user_tree = rewritten.tree
    reads = [user_tree.args.get(k) for k in ("using", "where")]
    _check_write_reads(services, principal, rewritten, reads, target=dataset)
    where = tree.args.get("where")
    predicate = where.this.sql(dialect="postgres") if where is not None else "TRUE"
    try:
        count = await services.writer.delete_where(dataset, predicate)
    except ApiError as exc:
        raise ApiError(exc.status, engine_names_to_user(exc.message, rewritten.datasets, rewritten.sql)) from None
    return SelectResult(columns=[], rows=[], affected_rows=count, info={"table_names": [dataset]})
