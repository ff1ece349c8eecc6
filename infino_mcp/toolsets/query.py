"""Queries: SQL, QueryDSL and PromQL over datasets (query_source, for connected sources, is in connections).

Results are compact by default (plain SQL rows, search hits as their source
plus id and score, PromQL numbers as floats) and always bounded by ``limit``
and the byte budget; ``raw=True`` returns the service's answer as it came,
cut the same way. The pure shaping functions live in ``query_shapes``.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import dataset_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.limits import LimitError, check_promql
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, compact_json, list_at, object_at
from infino_mcp.toolsets.common import (
    JsonArg,
    querydsl_body,
    unix_seconds,
)
from infino_mcp.toolsets.datasets import fetch_schema
from infino_mcp.toolsets.query_shapes import (
    Column,
    PromqlResult,
    fit_page,
    more_rows,
    plain_row,
    query_fields,
    shape_promql,
    sql_columns,
    trim_buckets,
    unknown_fields,
)

RawFlag = Annotated[
    bool, Field(description="Return the service's response unchanged (still bounded) instead of the compact form.")
]
QueryLimit = Annotated[int, Field(ge=1, le=1000, description="Most rows to return.")]
_FORM = {"content-type": "application/x-www-form-urlencoded"}
_MAX_RANGE_POINTS = 11_000


# ---------------------------------------------------------------- QueryDSL


class Hit(BaseModel):
    id: str | None = Field(default=None, description="The record id (use with get_record).")
    score: float | None = None
    source: dict[str, Any] | None = Field(default=None, description="The record as stored.")
    highlight: dict[str, Any] | None = None


class SearchResult(BaseModel):
    """A QueryDSL answer: ``hits`` (compact) or ``response`` (raw=True)."""

    total: int | None = Field(default=None, description="Records matching the query.")
    total_is_lower_bound: bool = Field(default=False, description="True when the service counted only up to `total`.")
    hits: list[Hit] | None = Field(default=None, description="Compact results (raw=False) only.")
    aggregations: dict[str, Any] | None = None
    page: Page
    response: dict[str, Any] | None = Field(
        default=None, description="raw=True: the service's response, hits cut to the page."
    )


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
        Field(
            description='Elasticsearch-style search body, e.g. {"query": {"match": {"message": "timeout"}}, "aggs": {...}}; a bare clause is wrapped in "query".'
        ),
    ],
    limit: QueryLimit = 20,
    offset: Annotated[int, Field(ge=0, description="Hits to skip (sets the body's `from`).")] = 0,
    raw: RawFlag = False,
) -> SearchResult:
    """Relevance-ranked full-text search and aggregations on one dataset with QueryDSL.

    Returns hits as {id, score, source}, the total and aggregations. Read get_dataset_schema first."""
    body = querydsl_body(query, "query")
    for key in ("from", "size"):
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool) or body[key] < 0):
            raise InputError(f"query's {key!r} must be a non-negative integer; or leave it out and use offset/limit.")
    start = offset or body.get("from", 0)
    body["from"] = start
    body["size"] = min(body.get("size", limit), limit)
    answer = await client_of(ctx).request(
        "GET",
        f"/{dataset_segment(dataset)}/querydsl",
        json_body=body,
    )
    if not isinstance(answer, dict):
        raise InfinoError("query_dataset_in_querydsl: the service's answer is not a search response object.")
    hits_part = object_at(answer, "hits")
    hits = [h for h in hits_part.get("hits", []) if isinstance(h, dict)]
    total, lower_bound = _total(hits_part)
    budget = settings_of(ctx).max_result_bytes
    aggregations = nested if isinstance(nested := answer.get("aggregations"), dict) else None
    buckets_cut = aggregations is not None and trim_buckets(aggregations, budget * 3 // 4)
    hint = " (or narrow the query)"
    size = body["size"]  # the page asked for: the body's size when smaller than limit
    if raw:
        rest = {k: v for k, v in answer.items() if k != "hits"}
        kept, info = fit_page(hits, budget=budget, beside=rest, offset=start, limit=size, total=total, more_hint=hint)
        response = {**answer, "hits": {**hits_part, "hits": kept}}
        result = SearchResult(total=total, total_is_lower_bound=lower_bound, page=info, response=response)
    else:
        compact = [_compact_hit(h) for h in hits]
        kept, info = fit_page(
            compact, budget=budget, beside=aggregations, offset=start, limit=size, total=total, more_hint=hint
        )
        result = SearchResult(
            total=total,
            total_is_lower_bound=lower_bound,
            hits=[Hit(**h) for h in kept],
            aggregations=aggregations,
            page=info,
        )
    if result.page.note and size < limit:
        result.page.note = result.page.note.replace(f"limit={size}", f"the body's size={size}")
    if body["size"] == 0:  # aggregations only: no hits were asked for, so none are missing
        result.page = Page(total=total, returned=0, offset=start, truncated=False)
    if buckets_cut:
        result.page.note = (
            (result.page.note or "") + " Aggregation buckets were cut to fit the result budget: "
            "lower the aggregation's size or narrow the query."
        ).strip()
    aggs = body.get("aggs") or body.get("aggregations")
    if not total or aggs:
        await _explain_unknown(ctx, dataset, body if not total else {"aggs": aggs}, result, empty=not total)
    return result


async def _explain_unknown(
    ctx: Context, dataset: str, body: dict[str, Any], result: SearchResult, *, empty: bool
) -> None:
    """Nothing matched, or aggregations ran: if they name fields the dataset lacks, say so (a misspelling
    returns no error, only zeros or no buckets)."""
    referenced = query_fields(body)
    if not referenced:
        return
    try:
        schema = await fetch_schema(client_of(ctx), dataset)
    except InfinoError:
        return
    missing = unknown_fields(referenced, {f.field for f in schema.fields})
    if missing:
        head = "No match, and these fields are not" if empty else "These aggregation fields are not"
        result.page.note = (
            (result.page.note or "") + f" {head} in {dataset!r}: "
            f"{', '.join(missing)}; get_dataset_schema lists its fields."
        ).strip()


# ---------------------------------------------------------------- SQL


class SqlResult(BaseModel):
    """A SELECT's answer: ``columns`` and ``rows`` (compact) or ``response`` (raw=True)."""

    columns: list[Column] | None = Field(default=None, description="Compact results (raw=False) only.")
    rows: list[dict[str, Any]] | list[list[Any]] | None = Field(
        default=None,
        description="One {column: value} object per row, or with row_format=arrays a list in column order; "
        "raw=True puts the rows in response.rows instead.",
    )
    page: Page
    execution_time_ms: int | float | None = None
    response: dict[str, Any] | None = Field(
        default=None, description="raw=True: the service's envelope, rows cut to the page."
    )

    def as_text(self) -> str:
        """What the model reads: the rows as a CSV table, then the paging note."""
        if self.response is not None:
            return compact_json(self.model_dump(mode="json", exclude_none=True))
        columns = self.columns or []
        names = [c.name for c in columns]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for row in self.rows or []:
            values = [row.get(n) for n in names] if isinstance(row, dict) else row
            writer.writerow([_cell(v) for v in values])
        total = (
            self.page.total if self.page.total is not None else "more" if self.page.truncated else self.page.returned
        )
        head = (
            f"{self.page.returned} of {total} rows (columns: " + ", ".join(f"{c.name} {c.type}" for c in columns) + ")"
        )
        note = f"\n{self.page.note}" if self.page.note else ""
        return f"{head}\n{out.getvalue()}{note}".rstrip("\n")


def _cell(value: Any) -> str:
    """A CSV cell: text and numbers as they are, everything else (null, booleans, lists, objects) as JSON."""
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return str(value)
    return compact_json(value)


async def run_select(client: Any, query: str, operation: str = "query_dataset_in_sql") -> dict[str, Any]:
    """The service's envelope for one SELECT; an error it reports in the envelope is raised."""
    answer = await client.request("GET", "/sql", operation=operation, idempotent=True, json_body={"query": query})
    if not isinstance(answer, dict):
        raise InfinoError(f"{operation}: the service's answer is not a SQL result envelope.")
    if answer.get("error_message"):
        raise InfinoError(f"{operation}: the service reported: {answer['error_message']}. Fix the query and retry.")
    return answer


@infino_tool(Toolset.QUERY, title="Query datasets with SQL", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_sql(
    ctx: Context,
    query: Annotated[
        str,
        Field(
            description='A SELECT, e.g. SELECT status, COUNT(*) AS n FROM "web-logs" GROUP BY status. Quote names with - . @.'
        ),
    ],
    limit: QueryLimit = 100,
    offset: Annotated[int, Field(ge=0, description="Rows of the answer to skip before returning `limit` rows.")] = 0,
    raw: RawFlag = False,
    row_format: Annotated[
        Literal["objects", "arrays"],
        Field(description="Structured content only: objects ({column: value}) or arrays (values in `columns` order)."),
    ] = "objects",
) -> SqlResult:
    """Run a SQL SELECT over one or more datasets (joins and aggregates allowed); rows come back as a CSV table.

    Read get_dataset_schema first; prefer aggregates and LIMIT over fetching raw rows."""
    if not query.strip():
        raise InputError("query is empty: pass a SELECT statement.")
    wanted = offset + limit + 1  # one more row than the page: it tells whether more exist
    # deferred: cold start (sqlglot is imported on the first SQL call, not at server start)
    from infino_mcp.sql_limits import sql_with_row_limit
    from infino_mcp.toolsets.sql_checks import check_read_query

    sent = sql_with_row_limit(query, check_read_query(query), wanted)
    answer = await run_select(client_of(ctx), sent)
    rows = list_at(answer, "rows")
    more = (sent != query and len(rows) >= wanted) or answer.get("truncated") is True
    budget = settings_of(ctx).max_result_bytes
    hint = ", or add LIMIT/OFFSET or a narrower WHERE to the SQL"
    elapsed = answer.get("execution_time")
    if raw:
        rest = {k: v for k, v in answer.items() if k != "rows"}
        kept, info = fit_page(
            rows[offset:], budget=budget, beside=rest, offset=offset, limit=limit, total=len(rows), more_hint=hint
        )
        return SqlResult(
            page=more_rows(info, more, answer, hint), execution_time_ms=elapsed, response={**answer, "rows": kept}
        )
    plain = [plain_row(r) for r in rows]
    columns = sql_columns(answer, plain)
    shaped: list[Any] = plain
    if row_format == "arrays":
        shaped = [[row.get(c.name) for c in columns] for row in plain]
    kept, info = fit_page(
        shaped[offset:],
        budget=budget,
        beside=[c.model_dump() for c in columns],
        offset=offset,
        limit=limit,
        total=len(plain),
        more_hint=hint,
    )
    return SqlResult(columns=columns, rows=kept, page=more_rows(info, more, answer, hint), execution_time_ms=elapsed)


# ---------------------------------------------------------------- PromQL


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


PromqlText = Annotated[
    str, Field(description="A PromQL expression, e.g. sum by (job) (rate(http_requests_total[5m])).")
]
PromqlDataset = Annotated[str | None, Field(description="Dataset holding the metrics. Default: all metric datasets.")]
SeriesLimit = Annotated[int, Field(ge=1, le=1000, description="Most series to return.")]


async def _promql(ctx: Context, path: str, operation: str, form: dict[str, str], dataset: str | None) -> Any:
    if not form["query"].strip():
        raise InputError("query is empty: pass a PromQL expression such as up or rate(x[5m]).")
    try:
        check_promql(form["query"])
    except LimitError as exc:
        raise InputError(f"{exc} Nothing was sent.") from None
    if dataset:
        dataset_segment(dataset)
        form["index"] = dataset
    return await client_of(ctx).request(
        "POST", path, operation=operation, idempotent=True, content=urlencode(form).encode(), headers=_FORM
    )


@infino_tool(Toolset.QUERY, title="Evaluate PromQL at one instant", read_only=True, destructive=False, idempotent=True)
async def query_dataset_in_promql(
    ctx: Context,
    query: PromqlText,
    dataset: PromqlDataset = None,
    time: Annotated[
        float | None,
        Field(description="Evaluation time, unix seconds. Default: now (the service may only evaluate at now)."),
    ] = None,
    limit: SeriesLimit = 100,
) -> PromqlResult:
    """Evaluate a PromQL expression at one instant over metrics uploaded with upload_metrics_to_dataset.

    Returns each series' labels and [time, value]."""
    form = {"query": query}
    if time is not None:
        form["time"] = _seconds(unix_seconds(time, "time"))
    answer = await _promql(ctx, "/promql/query", "query_dataset_in_promql", form, dataset)
    return shape_promql(answer, "query_dataset_in_promql", limit, settings_of(ctx).max_result_bytes)


@infino_tool(
    Toolset.QUERY, title="Evaluate PromQL over a time range", read_only=True, destructive=False, idempotent=True
)
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
    start, end = unix_seconds(start, "start"), unix_seconds(end, "end")
    if end < start:
        raise InputError(f"end ({_seconds(end)}) is before start ({_seconds(start)}): pass end >= start.")
    if (end - start) / step > _MAX_RANGE_POINTS:
        raise InputError(
            f"start..end every {_seconds(step)}s is more than {_MAX_RANGE_POINTS} points per series: "
            "use a larger step or a shorter range."
        )
    form = {"query": query, "start": _seconds(start), "end": _seconds(end), "step": _seconds(step)}
    answer = await _promql(ctx, "/promql/query_range", "query_dataset_in_promql_range", form, dataset)
    return shape_promql(answer, "query_dataset_in_promql_range", limit, settings_of(ctx).max_result_bytes)
