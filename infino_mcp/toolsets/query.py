"""Queries: SQL, QueryDSL and PromQL over datasets, and native queries on connected sources.

Results are compact by default (plain SQL rows, search hits as their source
plus id and score, PromQL numbers as floats) and always bounded by ``limit``
and the byte budget; ``raw=True`` returns the service's answer as it came,
cut the same way.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import id_segment, name_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, json_size, page
from infino_mcp.toolsets.common import JsonArg, require_object

RawFlag = Annotated[bool, Field(description="Return the service's response unchanged (still bounded) instead of the compact form.")]
QueryLimit = Annotated[int, Field(ge=1, le=1000, description="Most rows to return.")]
_FORM = {"content-type": "application/x-www-form-urlencoded"}
_WRITE_VERBS = {"INSERT", "UPDATE", "DELETE", "UPSERT", "REPLACE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE"}
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)
_MAX_RANGE_POINTS = 11_000


def _room(max_bytes: int, *parts: Any) -> int:
    """Bytes left for the paged items once the fixed parts of a result are counted."""
    return max(500, max_bytes - sum(json_size(p) for p in parts))


def _fit_page(items: list[Any], *, budget: int, beside: Any = None, **kwargs: Any) -> tuple[list[Any], Page]:
    """``shaping.page`` within what ``beside`` (the rest of the result) leaves of the budget."""
    room = _room(budget, beside)
    kept, info = page(items, max_bytes=room, **kwargs)
    if info.note:
        info.note = info.note.replace(f"the {room}-byte result budget", f"the {budget}-byte result budget")
    return kept, info


# ---------------------------------------------------------------- QueryDSL


class Hit(BaseModel):
    id: str | None = Field(None, description="The record id (use with get_record).")
    score: float | None = None
    source: dict[str, Any] | None = Field(None, description="The record as stored.")
    highlight: dict[str, Any] | None = None


class SearchResult(BaseModel):
    """A QueryDSL answer: ``hits`` (compact) or ``response`` (raw=True)."""

    total: int | None = Field(None, description="Records matching the query.")
    total_is_lower_bound: bool = Field(False, description="True when the service counted only up to `total`.")
    hits: list[Hit] = Field(default_factory=list)
    aggregations: dict[str, Any] | None = None
    page: Page
    response: dict[str, Any] | None = Field(None, description="raw=True: the service's response, hits cut to the page.")


def _total(hits: dict[str, Any]) -> tuple[int | None, bool]:
    total = hits.get("total")
    if isinstance(total, dict):
        value = total.get("value")
        return (int(value) if isinstance(value, (int, float)) else None), total.get("relation") == "gte"
    return (int(total) if isinstance(total, (int, float)) else None), False


def _compact_hit(hit: dict[str, Any]) -> dict[str, Any]:
    compact: dict[str, Any] = {"id": hit.get("_id"), "score": hit.get("_score"), "source": hit.get("_source")}
    if hit.get("highlight"):
        compact["highlight"] = hit["highlight"]
    return compact


@infino_tool(Toolset.QUERY, title="Search a dataset with QueryDSL", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_querydsl(
    ctx: Context,
    dataset: Annotated[str, Field(description="Dataset name (get_datasets lists them).")],
    query: Annotated[
        JsonArg,
        Field(description='Elasticsearch-style search body, e.g. {"query": {"match": {"message": "timeout"}}, "aggs": {...}}.'),
    ],
    limit: QueryLimit = 20,
    offset: Annotated[int, Field(ge=0, description="Hits to skip (sets the body's `from`).")] = 0,
    raw: RawFlag = False,
) -> SearchResult:
    """Relevance-ranked full-text search and aggregations on one dataset with QueryDSL.

    Returns hits as {id, score, source}, the total and aggregations. Read get_dataset_schema first."""
    body = require_object(query, "query")
    for key in ("from", "size"):
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool) or body[key] < 0):
            raise InputError(f"query's {key!r} must be a non-negative integer; or leave it out and use offset/limit.")
    start = offset or body.get("from", 0)
    body["from"] = start
    body["size"] = min(body.get("size", limit), limit)
    answer = await client_of(ctx).request(
        "GET",
        f"/{name_segment(dataset, 'Dataset')}/querydsl",
        operation="query_dataset_in_querydsl",
        idempotent=True,
        json_body=body,
    )
    if not isinstance(answer, dict):
        raise InfinoError("query_dataset_in_querydsl: the service's answer is not a search response object.")
    hits_part = answer.get("hits") if isinstance(answer.get("hits"), dict) else {}
    hits = [h for h in hits_part.get("hits", []) if isinstance(h, dict)]
    total, lower_bound = _total(hits_part)
    budget = settings_of(ctx).max_result_bytes
    hint = " (or narrow the query)"
    if raw:
        rest = {k: v for k, v in answer.items() if k != "hits"}
        kept, info = _fit_page(hits, budget=budget, beside=rest, offset=start, limit=limit, total=total, more_hint=hint)
        response = {**answer, "hits": {**hits_part, "hits": kept}}
        return SearchResult(total=total, total_is_lower_bound=lower_bound, page=info, response=response)
    aggregations = answer.get("aggregations") if isinstance(answer.get("aggregations"), dict) else None
    if body["size"] == 0:  # aggregations only: no hits were asked for, so none are missing
        info = Page(total=total, returned=0, offset=start, truncated=False)
        return SearchResult(total=total, total_is_lower_bound=lower_bound, aggregations=aggregations, page=info)
    compact = [_compact_hit(h) for h in hits]
    kept, info = _fit_page(
        compact, budget=budget, beside=aggregations, offset=start, limit=limit, total=total, more_hint=hint
    )
    return SearchResult(
        total=total,
        total_is_lower_bound=lower_bound,
        hits=[Hit(**h) for h in kept],
        aggregations=aggregations,
        page=info,
    )


# ---------------------------------------------------------------- SQL


class Column(BaseModel):
    name: str
    type: str | None = Field(None, description="The service's data type, e.g. String, Integer, Float.")


class SqlResult(BaseModel):
    """A SELECT's answer: ``columns`` and ``rows`` (compact) or ``response`` (raw=True)."""

    columns: list[Column] = Field(default_factory=list)
    rows: list[dict[str, Any]] | list[list[Any]] = Field(
        default_factory=list, description="One {column: value} object per row, or with row_format=arrays a list in column order."
    )
    page: Page
    execution_time_ms: int | float | None = None
    response: dict[str, Any] | None = Field(None, description="raw=True: the service's envelope, rows cut to the page.")


def _first_keyword(sql: str) -> str:
    rest = _LEADING_NOISE.sub("", sql, count=1)
    match = re.match(r"[A-Za-z]+", rest)
    return match.group(0).upper() if match else ""


def unwrap_value(value: Any) -> Any:
    """A wire value without its type wrapper: ``{"String": "x"}`` -> ``"x"``, ``"Null"`` -> None."""
    if isinstance(value, dict) and len(value) == 1:
        kind, inner = next(iter(value.items()))
        if kind[:1].isupper():
            return unwrap_value(inner)
    if isinstance(value, list):
        return [unwrap_value(v) for v in value]
    if value == "Null":
        return None
    return value


def _column_name(column: Any) -> str | None:
    if isinstance(column, str):
        return column
    if not isinstance(column, dict):
        return None
    if column.get("alias"):
        return str(column["alias"])
    name = column.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, dict) and len(name) == 1:
        inner = next(iter(name.values()))
        if isinstance(inner, dict) and inner.get("name"):
            return str(inner["name"])
        if isinstance(inner, str):
            return inner
    return None


def _column_type(column: Any) -> str | None:
    kind = column.get("data_type") if isinstance(column, dict) else None
    if kind is None or isinstance(kind, str):
        return kind
    return json.dumps(kind, separators=(",", ":"))


def _plain_row(row: Any) -> dict[str, Any]:
    values = row.get("values", row) if isinstance(row, dict) else {}
    return {str(k): unwrap_value(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _columns(envelope: dict[str, Any], rows: list[dict[str, Any]]) -> list[Column]:
    declared = envelope.get("columns") if isinstance(envelope.get("columns"), list) else []
    columns = [Column(name=name, type=_column_type(c)) for c in declared if (name := _column_name(c))]
    known = {c.name for c in columns}
    for row in rows[:50]:
        for key in row:
            if key not in known:
                known.add(key)
                columns.append(Column(name=key))
    return columns


@infino_tool(Toolset.QUERY, title="Query datasets with SQL", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_sql(
    ctx: Context,
    query: Annotated[
        str,
        Field(description='A SELECT, e.g. SELECT status, COUNT(*) AS n FROM "web-logs" GROUP BY status. Quote names with - . @.'),
    ],
    limit: QueryLimit = 100,
    offset: Annotated[int, Field(ge=0, description="Rows of the answer to skip before returning `limit` rows.")] = 0,
    raw: RawFlag = False,
    row_format: Annotated[
        Literal["objects", "arrays"],
        Field(description="objects: {column: value} per row; arrays: values in `columns` order (about half the size)."),
    ] = "objects",
) -> SqlResult:
    """Run a SQL SELECT over one or more datasets (joins and aggregates allowed); rows come back as {column: value}.

    Read get_dataset_schema first; prefer aggregates and LIMIT over fetching raw rows."""
    if not query.strip():
        raise InputError("query is empty: pass a SELECT statement.")
    if _first_keyword(query) in _WRITE_VERBS:
        raise InputError("query_dataset_in_sql only reads; use upsert_to_dataset for INSERT/UPDATE and delete_records to delete.")
    answer = await client_of(ctx).request(
        "GET", "/sql", operation="query_dataset_in_sql", idempotent=True, json_body={"query": query}
    )
    if not isinstance(answer, dict):
        raise InfinoError("query_dataset_in_sql: the service's answer is not a SQL result envelope.")
    if answer.get("error_message"):
        raise InfinoError(f"query_dataset_in_sql: the service reported: {answer['error_message']}. Fix the query and retry.")
    rows = answer.get("rows") if isinstance(answer.get("rows"), list) else []
    budget = settings_of(ctx).max_result_bytes
    hint = ", or add LIMIT/OFFSET or a narrower WHERE to the SQL"
    elapsed = answer.get("execution_time")
    if raw:
        rest = {k: v for k, v in answer.items() if k != "rows"}
        kept, info = _fit_page(
            rows[offset:], budget=budget, beside=rest, offset=offset, limit=limit, total=len(rows), more_hint=hint
        )
        return SqlResult(page=info, execution_time_ms=elapsed, response={**answer, "rows": kept})
    plain = [_plain_row(r) for r in rows]
    columns = _columns(answer, plain)
    shaped: list[Any] = plain
    if row_format == "arrays":
        shaped = [[row.get(c.name) for c in columns] for row in plain]
    kept, info = _fit_page(
        shaped[offset:], budget=budget, beside=[c.model_dump() for c in columns], offset=offset, limit=limit,
        total=len(plain), more_hint=hint,
    )
    return SqlResult(columns=columns, rows=kept, page=info, execution_time_ms=elapsed)


# ---------------------------------------------------------------- PromQL


class Series(BaseModel):
    metric: dict[str, str] = Field(description="The series' labels.")
    value: list[float | None] | None = Field(None, description="Instant queries: [unix_seconds, value].")
    values: list[list[float | None]] | None = Field(None, description="Range queries: [[unix_seconds, value], ...].")


class PromqlResult(BaseModel):
    result_type: str = Field(description="vector, matrix, scalar or string.")
    series: list[Series] = Field(default_factory=list)
    scalar: list[float | str | None] | None = Field(None, description="scalar/string results: [unix_seconds, value].")
    points_cut: bool = Field(False, description="True when points of some series were left out to fit the budget.")
    page: Page
    warnings: list[str] | None = None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _point(pair: Any) -> list[float | None]:
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return [_number(pair[0]), _number(pair[1])]
    return [None, None]


def _shape_promql(ctx: Context, answer: Any, operation: str, limit: int) -> PromqlResult:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise InfinoError(f"{operation}: the service's answer is not a Prometheus API response.")
    if answer.get("status") == "error":
        raise InfinoError(f"{operation} failed: {answer.get('error') or answer.get('errorType')}. Fix the query and retry.")
    data = answer["data"]
    kind = str(data.get("resultType", ""))
    result = data.get("result")
    warnings = answer.get("warnings") or None
    if kind in ("scalar", "string"):
        pair = result if isinstance(result, list) else [None, None]
        shown = _point(pair) if kind == "scalar" else [_number(pair[0]), pair[1] if len(pair) > 1 else None]
        return PromqlResult(result_type=kind, scalar=shown, page=Page(returned=1, total=1, truncated=False), warnings=warnings)
    series = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = {"metric": {str(k): str(v) for k, v in (item.get("metric") or {}).items()}}
        if "values" in item:
            entry["values"] = [_point(p) for p in item.get("values") or []]
        else:
            entry["value"] = _point(item.get("value"))
        series.append(entry)
    budget = settings_of(ctx).max_result_bytes
    shown_count = min(limit, len(series))
    points_cut = False
    if kind == "matrix" and shown_count and json_size(series[:shown_count]) > budget:
        # Keep every shown series but only its most recent points, the budget shared evenly.
        per_series = max(1, (budget // shown_count - 120) // 28)
        for entry in series[:shown_count]:
            if len(entry["values"]) > per_series:
                entry["values"] = entry["values"][-per_series:]
                points_cut = True
    hint = " (or narrow the selector, e.g. add label matchers or aggregate with sum by (...))"
    kept, info = page(series, offset=0, limit=limit, max_bytes=budget, total=len(series), more_hint=hint)
    if info.truncated:
        info.note = (
            f"Returned {len(kept)} of {len(series)} series (limit={limit} or the byte budget). "
            "Raise limit, or narrow the selector: add label matchers or aggregate with sum by (...)."
        )
    if points_cut:
        info.note = ((info.note or "") + " Each series kept only its most recent points to fit the budget: use a larger "
                     "step or a shorter time range to see all of them.").strip()
    return PromqlResult(
        result_type=kind, series=[Series(**s) for s in kept], points_cut=points_cut, page=info, warnings=warnings
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


PromqlText = Annotated[str, Field(description='A PromQL expression, e.g. sum by (job) (rate(http_requests_total[5m])).')]
PromqlDataset = Annotated[str | None, Field(description="Dataset holding the metrics. Default: all metric datasets.")]
SeriesLimit = Annotated[int, Field(ge=1, le=1000, description="Most series to return.")]


async def _promql(ctx: Context, path: str, operation: str, form: dict[str, str], dataset: str | None) -> Any:
    if not form["query"].strip():
        raise InputError("query is empty: pass a PromQL expression such as up or rate(x[5m]).")
    if dataset:
        name_segment(dataset, "Dataset")
        form["index"] = dataset
    return await client_of(ctx).request(
        "POST", path, operation=operation, idempotent=True, content=urlencode(form).encode(), headers=_FORM
    )


@infino_tool(Toolset.QUERY, title="Evaluate PromQL at one instant", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_promql(
    ctx: Context,
    query: PromqlText,
    dataset: PromqlDataset = None,
    time: Annotated[float | None, Field(description="Evaluation time, unix seconds. Default: now.")] = None,
    limit: SeriesLimit = 100,
) -> PromqlResult:
    """Evaluate a PromQL expression at one instant over metrics uploaded with upload_metrics_to_dataset.

    Returns each series' labels and [time, value]."""
    form = {"query": query}
    if time is not None:
        form["time"] = _seconds(time)
    answer = await _promql(ctx, "/promql/query", "query_dataset_in_promql", form, dataset)
    return _shape_promql(ctx, answer, "query_dataset_in_promql", limit)


@infino_tool(Toolset.QUERY, title="Evaluate PromQL over a time range", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_promql_range(
    ctx: Context,
    query: PromqlText,
    start: Annotated[float, Field(description="Range start, unix seconds.")],
    end: Annotated[float, Field(description="Range end, unix seconds (>= start).")],
    step: Annotated[float, Field(gt=0, description="Seconds between points, e.g. 60.")],
    dataset: PromqlDataset = None,
    limit: SeriesLimit = 100,
) -> PromqlResult:
    """Evaluate a PromQL expression from start to end every step seconds; returns each series' [[time, value], ...]."""
    if end < start:
        raise InputError(f"end ({_seconds(end)}) is before start ({_seconds(start)}): pass end >= start.")
    if (end - start) / step > _MAX_RANGE_POINTS:
        raise InputError(
            f"start..end every {_seconds(step)}s is more than {_MAX_RANGE_POINTS} points per series: "
            "use a larger step or a shorter range."
        )
    form = {"query": query, "start": _seconds(start), "end": _seconds(end), "step": _seconds(step)}
    answer = await _promql(ctx, "/promql/query_range", "query_dataset_in_promql_range", form, dataset)
    return _shape_promql(ctx, answer, "query_dataset_in_promql_range", limit)


# ---------------------------------------------------------------- connected sources


class SourceResult(BaseModel):
    """A source-native answer; its shape depends on the source type."""

    result: Any = Field(description="The source's answer (the largest list in it cut to fit, see note).")
    truncated: bool = False
    note: str | None = None


def bound_native(value: Any, max_bytes: int) -> SourceResult:
    """Fit a source-native answer in ``max_bytes`` by cutting its largest list, saying so."""
    if json_size(value) <= max_bytes:
        return SourceResult(result=value)
    if isinstance(value, list):
        kept, info = page(value, offset=0, limit=len(value), max_bytes=max_bytes)
        return SourceResult(result=kept, truncated=True, note=f"Kept {info.returned} of {len(value)} items; narrow the query.")
    if isinstance(value, dict):
        lists = [(k, v) for k, v in value.items() if isinstance(v, list)]
        if lists:
            key, items = max(lists, key=lambda kv: json_size(kv[1]))
            rest = {k: v for k, v in value.items() if k != key}
            kept, info = _fit_page(items, budget=max_bytes, beside=rest, offset=0, limit=len(items))
            note = f"Kept {info.returned} of {len(items)} items of {key!r}; narrow the query (a filter or a LIMIT)."
            return SourceResult(result={**rest, key: kept}, truncated=True, note=note)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return SourceResult(
        result=text[: max_bytes // 2], truncated=True, note="The answer was too large and is cut as JSON text; narrow the query."
    )


@infino_tool(Toolset.QUERY, title="Query a connected source natively", read_only=True, destructive=False, idempotent=True)
async def query_source(
    ctx: Context,
    connection_id: Annotated[str, Field(description="The connection's id (get_connections lists them).")],
    dataset: Annotated[str, Field(description="Table, index or collection in the source.")],
    query: Annotated[
        str | dict[str, Any],
        Field(description="The query in the source's language: SQL text, or a QueryDSL object for Elasticsearch/OpenSearch."),
    ],
) -> SourceResult:
    """Run a query on an external source through its connection, in the source's own language (needs Infino cloud)."""
    text = query if isinstance(query, str) else json.dumps(query, ensure_ascii=False)
    if not text.strip():
        raise InputError("query is empty: pass the query text in the source's language.")
    conn = id_segment(connection_id, "Connection id")
    answer = await client_of(ctx).request(
        "POST",
        f"/source/{conn}/{id_segment(dataset, 'Source dataset')}/dsl",
        operation="query_source",
        idempotent=True,
        json_body={"query": text},
        headers={"x-infino-connection-id": connection_id},
    )
    return bound_native(answer, settings_of(ctx).max_result_bytes)
