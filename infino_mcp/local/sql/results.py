"""SQL results: Arrow tables from the engine -> plain JSON rows -> the service's envelope.

Temporal values become ISO-8601 strings in Arrow (``strftime``), which avoids the
nanosecond and out-of-range traps of ``to_pylist``; decimals become numbers; the
internal columns (the engine's row id, ``_doc_id``, ``_source``) are hidden and
renamed fields (``~score``) are shown under their user names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from infino_mcp.local.storage.catalog import DOC_ID, ROW_ID, SOURCE, field_for
from infino_mcp.sql_dialect import render

HIDDEN = (SOURCE, DOC_ID)


@dataclass
class SelectResult:
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    affected_rows: int | None = None
    error_message: str | None = None
    row_cap: int | None = None
    """Set when the endpoint's row cap cut the answer: the rows kept."""


# ----- Arrow -> JSON --------------------------------------------------------------------------


def _data_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "Boolean"
    if pa.types.is_integer(arrow_type):
        return "Integer"
    if pa.types.is_floating(arrow_type):
        return "Float"
    if pa.types.is_decimal(arrow_type):
        return "Integer" if arrow_type.scale == 0 else "Float"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "Date"
    if pa.types.is_null(arrow_type):
        return "Null"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return "Array"
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return "Object"
    return "String"


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if pa.types.is_timestamp(kind):
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")  # pyright: ignore[reportAttributeAccessIssue]  # generated at import, not in stubs
        return [None if v is None else v + "Z" for v in text.to_pylist()]
    if pa.types.is_date(kind):
        return pc.strftime(column, format="%Y-%m-%d").to_pylist()  # pyright: ignore[reportAttributeAccessIssue]
    if pa.types.is_time(kind) or pa.types.is_duration(kind) or pa.types.is_interval(kind):
        try:
            return [None if v is None else str(v) for v in column.to_pylist()]
        except (ValueError, OverflowError, TypeError):
            return [None if v is None else str(v) for v in pc.cast(column, pa.int64()).to_pylist()]
    try:
        values = column.to_pylist()
    except (ValueError, OverflowError):
        return [None if v is None else str(v) for v in pc.cast(column, pa.large_string()).to_pylist()]
    if pa.types.is_decimal(kind):
        return [None if v is None else (int(v) if kind.scale == 0 else float(v)) for v in values]
    return [_plain(v) for v in values]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def table_to_result(table: pa.Table, *, keep_row_id: bool = False) -> SelectResult:
    """Arrow result -> plain rows; internal columns hidden, renamed fields shown by their names."""
    names, columns = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in HIDDEN or (name == ROW_ID and pa.types.is_decimal(column.type) and not keep_row_id):
            continue
        names.append((field_for(name), column))
        columns.append(name)
    types = [(name, _data_type(column.type)) for name, column in names]
    values = [_column_values(column) for _, column in names]
    rows = [dict(zip([n for n, _ in types], row, strict=True)) for row in zip(*values, strict=True)] if values else []
    if not values:
        rows = [{} for _ in range(table.num_rows)]
    return SelectResult(columns=types, rows=rows)


# ----- statement facts for the envelope -------------------------------------------------------


def statement_info(tree: exp.Expr, datasets: list[str]) -> dict[str, Any]:
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    info: dict[str, Any] = {
        "has_joins": tree.find(exp.Join) is not None,
        "table_names": datasets,
        "order_by": [],
        "limit": None,
        "distinct": False,
        "group_by_columns": [],
    }
    if select is None:
        return info
    order = select.args.get("order") or (tree.args.get("order") if tree is not select else None)
    if order:
        info["order_by"] = [{"column": render(o.this), "ascending": not o.args.get("desc")} for o in order.expressions]
    limit = tree.args.get("limit") or select.args.get("limit")
    if limit is not None and isinstance(limit.expression, exp.Literal):
        info["limit"] = int(limit.expression.this)
    info["distinct"] = bool(select.args.get("distinct"))
    group = select.args.get("group")
    if group:
        info["group_by_columns"] = [render(g) for g in group.expressions]
    return info


def to_sql_envelope(result: SelectResult, statement_type: str = "Select", took_ms: int = 0) -> dict:
    """The service's SQL response: typed ``columns`` and ``rows`` of ``{"Type": value}`` cells."""
    types = dict(result.columns)
    info = result.info
    return {
        "has_joins": info.get("has_joins", False),
        "execution_time": took_ms,
        "statement_type": statement_type,
        "affected_rows": result.affected_rows if result.affected_rows is not None else len(result.rows),
        "columns": [
            {"alias": None, "name": {"Column": {"name": name, "table_identifier": None}}, "data_type": kind}
            for name, kind in result.columns
        ],
        "rows": [{"values": {k: _cell(types.get(k, "String"), v) for k, v in row.items()}} for row in result.rows],
        "aggregations": None,
        "error_message": result.error_message,
        "query_events": None,
        "order_by": info.get("order_by", []),
        "limit": info.get("limit"),
        "distinct": info.get("distinct", False),
        "group_by_columns": info.get("group_by_columns", []),
        "table_names": info.get("table_names", []),
    } | _cut(result)


def _cut(result: SelectResult) -> dict[str, Any]:
    if result.row_cap is None:
        return {}
    return {
        "truncated": True,
        "note": f"Only the first {result.row_cap} rows were returned (the endpoint's row cap, --max-rows); "
        "add LIMIT/OFFSET or a narrower WHERE to read the rest.",
    }


def _cell(kind: str, value: Any) -> dict:
    if value is None:
        return {"Null": None}
    if kind in ("Integer", "Float") and isinstance(value, bool):
        return {"Boolean": value}
    return {kind: value}
