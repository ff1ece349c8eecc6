"""SELECT over datasets for a caller: authorization, field rules (secure views and explicit checks), rows.

For a caller with field rules every protected dataset is read through its secure
view (``security.secure_view``) after the explicit checks of ``sql_field_rules``;
admins and the in-process client read the tables directly.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.offload import run_sized
from infino_mcp.local.security.masked_lineage import check_masked_lineage
from infino_mcp.local.security.sql_field_rules import check_select_fields
from infino_mcp.local.sql.results import SelectResult, statement_info, table_to_result
from infino_mcp.local.sql.rewrite import Rewritten, engine_names_to_user, parse, rewrite
from infino_mcp.local.storage.catalog import DOC_ID, ROW_ID, SOURCE, field_for
from infino_mcp.sql_limits import sql_with_row_limit

if TYPE_CHECKING:
    from infino_mcp.local.services import Services


def authorize(services: Services, principal: Any, datasets: list[str], action: str) -> None:
    if principal is None:
        return
    resource = "record"
    for name in datasets:
        services.rbac.authorize(principal, resource, action, name)


async def run(services: Services, rewritten: Rewritten) -> pa.Table:
    try:
        return await services.engine.query(rewritten.sql)
    except ApiError as exc:
        raise ApiError(exc.status, engine_names_to_user(exc.message, rewritten.datasets, rewritten.sql)) from None


async def execute_select(
    services: Services, sql: str, *, principal: Any = None, masked_as_is: bool = True, max_rows: int | None = None
) -> SelectResult:
    """Run a read query written with dataset names; rows as plain JSON values.

    ``max_rows`` caps the rows the engine produces (pushed into the query's own LIMIT, so a
    query over millions of rows holds no more than the cap) and marks the result cut.

    For a caller with field rules, every protected dataset is read through its secure
    view (``security.secure_view``), after the explicit checks of ``sql_field_rules``;
    ``masked_as_is=False`` (a write reading values) refuses masked fields even selected as they are."""
    rewritten = rewrite(sql, services.catalog, _rules_for(services, principal))
    if not isinstance(rewritten.tree, (exp.Query, exp.Describe)) and rewritten.tree.key not in ("select", "union"):
        raise ApiError(
            400,
            "Only SELECT queries can be run here; change records with upsert_to_dataset (INSERT or UPDATE) "
            "or delete_records.",
        )
    names = list(rewritten.datasets)
    authorize(services, principal, names, "read")
    if principal is not None:
        _check_field_references(services, principal, rewritten, masked_as_is)
    if max_rows is not None and isinstance(rewritten.tree, exp.Query):
        capped = sql_with_row_limit(rewritten.sql, parse(rewritten.sql), max_rows + 1)
        rewritten = dataclasses.replace(rewritten, sql=capped)
    table = await run(services, rewritten)
    cut = max_rows is not None and table.num_rows > max_rows
    kept = table.slice(0, max_rows) if cut else table
    result = await run_sized(table_to_result, kept, size=kept.num_rows)
    result.row_cap = max_rows if cut else None
    if isinstance(rewritten.tree, exp.Describe):
        result.rows = _described(result.rows)
    result.info = statement_info(rewritten.tree, names)
    return result


def _rules_for(services: Services, principal: Any) -> Any:
    """The caller's field rules per dataset, read permission checked first (None for admins)."""
    if principal is None or principal.is_admin:
        return None

    def rules(dataset: str) -> Any:
        services.rbac.authorize(principal, "record", "read", dataset)
        return services.rbac.field_rules(principal, dataset)

    return rules


def _described(rows: list[dict]) -> list[dict]:
    """DESCRIBE rows without the internal columns, fields under their user names."""
    out = []
    for row in rows:
        name = row.get("column_name")
        if name in (ROW_ID, SOURCE):
            continue
        out.append({**row, "column_name": "_id" if name == DOC_ID else field_for(str(name))})
    return out


def _check_field_references(services: Services, principal: Any, rewritten: Rewritten, masked_as_is: bool) -> None:
    """403 when the query uses fields the caller's rules hide or mask other than as a bare output
    column (see ``sql_field_rules``), however renamed on the way (``masked_lineage``); the secure views
    already keep their values out of reach."""
    masked = {}
    for name, info in rewritten.datasets.items():
        rules = services.rbac.field_rules(principal, name)
        if not rules.identity:
            check_select_fields(rewritten.tree, rules, info.fields, user=principal.user, allow_bare=masked_as_is)
            if rules.mask:
                masked[info.table] = (rules, principal.user)
    if masked:
        check_masked_lineage(rewritten.engine_tree or parse(rewritten.sql), masked, allow_bare=masked_as_is)
