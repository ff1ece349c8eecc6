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

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.offload import run_sized
from infino_mcp.local.security.secure_view import view_sql
from infino_mcp.local.security.sql_field_rules import check_select_fields
from infino_mcp.local.sql.results import (
    SelectResult,
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
from infino_mcp.local.sql.select import authorize, execute_select, run
from infino_mcp.local.storage.catalog import DOC_ID, SOURCE, field_for
from infino_mcp.local.storage.documents import Op, sql_string
from infino_mcp.sql_dialect import render

if TYPE_CHECKING:
    from infino_mcp.local.services import Services

__all__ = ["SelectResult", "execute_select", "execute_statement", "to_sql_envelope"]


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
        result = await execute_select(services, sql, principal=principal, max_rows=services.max_rows)
        kind = "Select"
    took = int((time.perf_counter() - started) * 1000)
    return await run_sized(to_sql_envelope, result, kind, took, size=len(result.rows))


def _check_write_reads(
    services: Services, principal: Any, rewritten: Rewritten, given: list[Any], *, target: str
) -> None:
    """An UPDATE or DELETE reads what its SET values and WHERE reference: 403 unless the caller may read every
    dataset it names (the target too when ``given`` reference it) and no part touches a hidden or masked field.
    Nothing counts as a bare projection here: the values are written or counted, never filtered on output."""
    if principal is None:
        return
    parts = [p for p in given if isinstance(p, exp.Expr)]
    reads_data = any(p.find(exp.Column, exp.Table, exp.Anonymous, exp.Star) is not None for p in parts)
    names = [n for n in rewritten.datasets if n != target or reads_data]
    authorize(services, principal, names, "read")
    for name in names:
        rules = services.rbac.field_rules(principal, name)
        if not rules.identity:
            info = rewritten.datasets[name]
            check_select_fields(rewritten.tree, rules, info.fields, user=principal.user, parts=parts, allow_bare=False)


def _target(rewritten: Rewritten, node: exp.Expr) -> str:
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
        await services.catalog.aensure(dataset)
    authorize(services, principal, [dataset], "write")
    columns = [c.name for c in schema.expressions]
    source = tree.expression
    if isinstance(source, exp.Values):
        rows = [await _literal_row(services, columns, row) for row in source.expressions]
    else:
        selected = await execute_select(services, render(source), principal=principal, masked_as_is=False)
        rows = [dict(zip(columns, row.values(), strict=False)) for row in selected.rows]
    ops = []
    for row in rows:
        doc_id = row.pop("_id", None)
        ops.append(Op("index", None if doc_id is None else str(doc_id), _nest(row)))
    return _write_result(dataset, await services.writer.write(dataset, ops))


async def _literal_row(services: Services, columns: list[str], row: exp.Expr) -> dict[str, Any]:
    values = row.expressions if isinstance(row, exp.Tuple) else [row]
    if len(values) != len(columns):
        raise ApiError(400, f"A VALUES row has {len(values)} values for {len(columns)} columns.")
    out: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=True):
        out[name] = await _literal(services, value)
    return out


async def _literal(services: Services, value: exp.Expr) -> Any:
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
    table = await services.engine.query(f"SELECT {render(value)} AS v")
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


def _restricted(services: Services, principal: Any, rewritten: Rewritten) -> bool:
    """Whether field rules apply to the caller on a dataset the statement names and the caller may read
    (a dataset it may not read is refused by ``_check_write_reads`` as soon as the statement reads it)."""
    if principal is None or principal.is_admin:
        return False
    for name in rewritten.datasets:
        try:
            services.rbac.authorize(principal, "record", "read", name)
        except ApiError:
            continue
        if not services.rbac.field_rules(principal, name).identity:
            return True
    return False


def _read_back_sql(tree: exp.Expr, projection: list[str], what: str) -> str:
    """The SELECT an UPDATE or DELETE of a restricted caller runs (as the caller) to find its rows."""
    table = tree.this
    if not isinstance(table, exp.Table) or tree.args.get("from_") or tree.args.get("using"):
        raise ApiError(
            400, f"{what} with FROM or USING is not supported when field rules apply to you; use a subquery in WHERE."
        )
    where = tree.args.get("where")
    condition = f" WHERE {render(where.this)}" if where is not None else ""
    return f"SELECT {', '.join(projection)} FROM {render(table)}{condition}"


async def _sources_by_id(services: Services, info: Any, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), _ID_BATCH):
        chunk = ", ".join(sql_string(i) for i in ids[start : start + _ID_BATCH])
        table = await services.engine.query(
            f'SELECT "{DOC_ID}", "{SOURCE}" FROM "{info.table}" WHERE "{DOC_ID}" IN ({chunk})'
        )
        found.update(zip(table.column(DOC_ID).to_pylist(), table.column(SOURCE).to_pylist(), strict=True))
    return found


async def delete_ids(services: Services, dataset: str, ids: list[str]) -> int:
    """Delete the documents with these ids (in batches); how many rows went."""
    count = 0
    for start in range(0, len(ids), _ID_BATCH):
        chunk = ", ".join(sql_string(i) for i in ids[start : start + _ID_BATCH])
        count += await services.writer.delete_where(dataset, f'"{DOC_ID}" IN ({chunk})')
    return count


async def delete_matching(services: Services, dataset: str, predicate: str, rules: Any) -> int:
    """Delete the rows matching an engine ``predicate`` we compiled (delete-by-query); for a caller with
    field rules the predicate is evaluated over the secure view, so it cannot test a hidden value."""
    if rules is None or rules.identity:
        return await services.writer.delete_where(dataset, predicate)
    info = services.catalog.get(dataset)
    table = await services.engine.query(f'SELECT "{DOC_ID}" FROM ({view_sql(info, rules)}) AS v WHERE {predicate}')
    return await delete_ids(services, dataset, [i for i in table.column(DOC_ID).to_pylist() if i is not None])


_ID_BATCH = 500


async def _restricted_update(services: Services, sql: str, principal: Any, dataset: str) -> SelectResult:
    tree = parse(normalize(sql, services.catalog))
    rules = services.rbac.field_rules(principal, dataset)
    projection, paths = ["_id"], []
    for i, assignment in enumerate(tree.expressions):
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            raise ApiError(400, "UPDATE needs assignments like SET field = expression.")
        path = field_for(assignment.this.name)
        if not rules.readable(path):
            raise ApiError(
                403,
                f"Permission denied: field {path!r} is hidden or masked for user {principal.user!r}; it cannot be set.",
            )
        paths.append(path)
        projection.append(f'{render(assignment.expression)} AS "__set_{i}"')
    selected = await execute_select(
        services, _read_back_sql(tree, projection, "UPDATE"), principal=principal, masked_as_is=False
    )
    ids = [str(row["_id"]) for row in selected.rows]
    sources = await _sources_by_id(services, services.catalog.get(dataset), ids)
    ops = []
    for row in selected.rows:
        raw = sources.get(str(row["_id"]))
        if raw is None:
            continue
        document = json.loads(raw)
        for i, path in enumerate(paths):
            _set_path(document, path, row[f"__set_{i}"])
        ops.append(Op("index", str(row["_id"]), document))
    if not ops:
        return SelectResult(columns=[], rows=[], affected_rows=0, info={"table_names": [dataset]})
    return _write_result(dataset, await services.writer.write(dataset, ops))


async def execute_update(services: Services, sql: str, *, principal: Any = None) -> SelectResult:
    rewritten = rewrite(sql, services.catalog)
    if _restricted(services, principal, rewritten):
        dataset = _target(rewritten, parse(normalize(sql, services.catalog)).this)
        authorize(services, principal, [dataset], "write")
        return await _restricted_update(services, sql, principal, dataset)
    tree = parse(rewritten.sql)
    dataset = _target(rewritten, parse(normalize(sql, services.catalog)).this)
    authorize(services, principal, [dataset], "write")
    user_tree = rewritten.tree
    reads = [a.expression if isinstance(a, exp.EQ) else a for a in user_tree.expressions]
    reads += [user_tree.args.get("from"), user_tree.args.get("where"), *(user_tree.args.get("joins") or [])]
    _check_write_reads(services, principal, rewritten, reads, target=dataset)
    info = rewritten.datasets[dataset]
    sets = []
    for i, assignment in enumerate(tree.expressions):
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            raise ApiError(400, "UPDATE needs assignments like SET field = expression.")
        sets.append((field_for(assignment.this.name), f'{render(assignment.expression)} AS "__set_{i}"'))
    where = tree.args.get("where")
    condition = f" WHERE {render(where.this)}" if where is not None else ""
    projection = ", ".join([f'"{DOC_ID}"', f'"{SOURCE}"', *(expr for _, expr in sets)])
    selected = await run(
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
    if _restricted(services, principal, rewritten):
        user = parse(normalize(sql, services.catalog))
        selected = await execute_select(
            services, _read_back_sql(user, ["_id"], "DELETE"), principal=principal, masked_as_is=False
        )
        count = await delete_ids(services, dataset, [str(r["_id"]) for r in selected.rows if r["_id"] is not None])
        return SelectResult(columns=[], rows=[], affected_rows=count, info={"table_names": [dataset]})
    user_tree = rewritten.tree
    reads = [user_tree.args.get(k) for k in ("using", "where")]
    _check_write_reads(services, principal, rewritten, reads, target=dataset)
    where = tree.args.get("where")
    predicate = render(where.this) if where is not None else "TRUE"
    try:
        count = await services.writer.delete_where(dataset, predicate)
    except ApiError as exc:
        raise ApiError(exc.status, engine_names_to_user(exc.message, rewritten.datasets, rewritten.sql)) from None
    return SelectResult(columns=[], rows=[], affected_rows=count, info={"table_names": [dataset]})
