# Over 400 lines: one module per API category; the visualization tools and their result models.
"""Visualizations: saved charts over a dataset, their plot-ready data and ECharts options.

The models for execute-time filters and time ranges live here; the dashboards
toolset reuses them, and ``fetch_visualization`` / ``run_visualization``, for
its fan-out.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from pydantic import BaseModel, ConfigDict, Field, model_validator

from infino_mcp.client import id_segment
from infino_mcp.config import Toolset
from infino_mcp.echarts import CHART_TYPES
from infino_mcp.echarts import to_echarts_option as build_option
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, compact_json, json_size, list_at, object_at, page, pruned
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    require_object,
)
from infino_mcp.toolsets.viz_checks import QUERY_KEYS, check_patched, checked_create

VizId = Annotated[str, Field(description="The visualization's id (from list_visualizations or create_visualization).")]
PROTECTED_KEYS = ("id", "schema_version", "created_at", "created_by")

Operator = Literal[
    "is", "is_not", "is_one_of", "is_not_one_of", "exists", "does_not_exist", "is_between", "is_not_between", "contains"
]
Instant = str | int


def _instant(value: Instant, where: str) -> datetime:
    """An ISO-8601 string or epoch milliseconds as an aware UTC datetime; ValueError naming ``where``."""
    try:
        if isinstance(value, int):
            return datetime.fromtimestamp(value / 1000, UTC)
        text = value.strip()
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{where} {value!r} is not an absolute time: use ISO-8601 like '2026-04-01T00:00:00Z' or epoch milliseconds"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class TimeRange(BaseModel):
    """Absolute times: ISO-8601 or epoch ms."""

    model_config = ConfigDict(populate_by_name=True)

    start: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None

    @model_validator(mode="after")
    def _check(self) -> TimeRange:
        if self.start is None and self.to is None:
            raise ValueError("time_range needs 'from', 'to' or both")
        start = _instant(self.start, "time_range.from") if self.start is not None else None
        end = _instant(self.to, "time_range.to") if self.to is not None else None
        if start and end and start > end:
            raise ValueError("time_range.from is after time_range.to")
        return self

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Filter(BaseModel):
    """A runtime filter."""

    field: str = Field(min_length=1, description="Field name, unquoted.")
    operator: Operator
    value: Any = Field(
        None,
        description="is/is_not/contains: one value; is_one_of/is_not_one_of: a list; "
        'is_between/is_not_between: [low, high] or {"from", "to"}; exists/does_not_exist: omit.',
    )
    is_time_filter: bool = Field(default=False, description="True for a time column.")

    @model_validator(mode="after")
    def _check_value(self) -> Filter:
        op, value = self.operator, self.value
        if op in ("is", "is_not", "contains") and (value is None or isinstance(value, list | dict)):
            raise ValueError(f"operator '{op}' needs a single value (string, number or boolean)")
        if op in ("is_one_of", "is_not_one_of") and not (isinstance(value, list) and value):
            raise ValueError(f"operator '{op}' needs a non-empty list of values")
        if op in ("is_between", "is_not_between"):
            ok = (isinstance(value, list) and len(value) == 2) or (
                isinstance(value, dict) and set(value) <= {"from", "to"} and value
            )
            if not ok:
                raise ValueError(f'operator \'{op}\' needs [low, high] or {{"from": ..., "to": ...}}')
        return self

    def wire(self) -> dict[str, Any]:
        """The filter as the service expects it, every field present (the rest at their defaults)."""
        return {**self.model_dump(), "id": uuid.uuid4().hex, "enabled": True, "query_type": None, "index": None}


FiltersArg = Annotated[
    list[Filter] | None, Field(description="Runtime filters, AND-merged with the visualization's saved filters.")
]
TimeRangeArg = Annotated[
    TimeRange | None,
    Field(description='UTC window on the time column, e.g. {"from": "2026-01-01T00:00:00Z", "to": 1767225600000}.'),
]


class Envelope(BaseModel):
    """A saved object as the service stores it."""

    id: str | None
    kind: str | None = None
    created_at: Any = None
    updated_at: Any = None
    attributes: dict[str, Any] = Field(description="The full definition (title, source, chart, mapping, ...).")

    def as_text(self) -> str:
        """For the model: the definition once, without bookkeeping repeated from the envelope or empty fields."""
        definition = {k: v for k, v in self.attributes.items() if k not in _BOOKKEEPING}
        return compact_json(pruned({"id": self.id, "kind": self.kind, "updated_at": self.updated_at, **definition}))


_BOOKKEEPING = ("id", "created_at", "updated_at", "schema_version", "created_by")


def envelope(answer: Any) -> Envelope:
    if not isinstance(answer, dict):
        raise InfinoError("The service did not return an object for the saved definition; retry later.")
    attributes = answer.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {k: v for k, v in answer.items() if k not in ("id", "kind", "created_at", "updated_at")}
    return Envelope(
        id=answer.get("id") or attributes.get("id"),
        kind=answer.get("kind"),
        created_at=answer.get("created_at"),
        updated_at=answer.get("updated_at"),
        attributes=attributes,
    )


def check_patch(patch: JsonArg, what: str) -> dict[str, Any]:
    """A merge patch as an object; refuses empty patches and keys the service never lets change."""
    body = require_object(patch, "patch")
    if not body:
        raise InputError(f"patch is empty: pass the fields of the {what} to change (null removes a key).")
    protected = [key for key in PROTECTED_KEYS if key in body]
    if protected:
        raise InputError(f"{', '.join(protected)} cannot be changed; remove them from the patch.")
    return body


async def fetch_visualization(client: Any, viz_id: str) -> dict[str, Any]:
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}"
    return await client.request("GET", path, operation="get_visualization", idempotent=True)


async def run_visualization(
    client: Any, viz_id: str, filters: list[Filter] | None, time_range: TimeRange | None
) -> dict[str, Any]:
    """Execute a saved visualization (a reading POST, safe to retry)."""
    body: dict[str, Any] = {}
    if filters:
        body["filters"] = [f.wire() for f in filters]
    if time_range is not None:
        body["time_range"] = time_range.wire()
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}/data"
    answer = await client.request("POST", path, operation="execute_visualization", idempotent=True, json_body=body)
    if not isinstance(answer, dict):
        raise InfinoError("execute_visualization: the service did not return {columns, rows, metadata}; retry later.")
    return answer


async def concurrently(*calls: Callable[[], Awaitable[Any]] | None) -> list[Any]:
    """Run the given calls at once and return their results in order (``None`` for a ``None`` call).

    The first ``InfinoError`` cancels the others and is raised as itself, not
    wrapped in an exception group, so the tool decorator shows its message.
    """
    results: list[Any] = [None] * len(calls)
    failures: list[InfinoError] = []
    async with anyio.create_task_group() as tg:

        async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
            try:
                results[index] = await call()
            except InfinoError as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for index, call in enumerate(calls):
            if call is not None:
                tg.start_soon(run, index, call)
    if failures:
        raise failures[0]
    return results


@infino_tool(
    Toolset.VISUALIZATIONS, title="Create a visualization", read_only=False, destructive=False, idempotent=False
)
async def create_visualization(
    ctx: Context,
    spec: Annotated[
        JsonArg,
        Field(
            description='title, source {kind: "sql", index: dataset} and chart.type ('
            + ", ".join(CHART_TYPES)
            + "). Own SQL: source.sql.raw_query. Builder (no raw_query): "
            "mapping {x: {column, bucket?: day|hour|1h|...}, y: [{column, aggregation: count|sum|avg|min|max|"
            'cardinality}], series?: {column}}. E.g. {"title": "Orders by currency", "source": {"kind": "sql", '
            '"index": "orders", "sql": {"raw_query": "SELECT currency, COUNT(*) AS n FROM orders GROUP BY currency"}}, '
            '"chart": {"type": "bar"}}.'
        ),
    ],
) -> Envelope:
    """Save a new visualization (chart, table or metric) and return it with its id; a query that fails is refused with the engine's message and the dataset's fields."""
    body = require_object(spec, "spec")
    return envelope(await checked_create(client_of(ctx), body))


@infino_tool(Toolset.VISUALIZATIONS, title="Get a visualization", read_only=True, destructive=False, idempotent=True)
async def get_visualization(ctx: Context, viz_id: VizId) -> Envelope:
    """A saved visualization's full definition (source query, chart type, mapping, saved filters)."""
    return envelope(await fetch_visualization(client_of(ctx), viz_id))


@infino_tool(
    Toolset.VISUALIZATIONS, title="Update a visualization", read_only=False, destructive=False, idempotent=True
)
async def update_visualization(
    ctx: Context,
    viz_id: VizId,
    patch: Annotated[
        JsonArg,
        Field(
            description="RFC 7396 merge patch: only given keys change, null removes one, arrays are replaced whole. "
            'E.g. {"title": "New", "source": {"sql": {"limit": 200}}}.'
        ),
    ],
) -> Envelope:
    """Change part of a saved visualization and return the updated definition; a patch whose query fails is refused."""
    body = check_patch(patch, "visualization")
    client = client_of(ctx)
    if any(key in body for key in QUERY_KEYS):
        await check_patched(client, envelope(await fetch_visualization(client, viz_id)).attributes, body)
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}"
    answer = await client.request("PATCH", path, json_body=body)
    return envelope(answer)


class Summary(BaseModel):
    id: str | None
    title: str | None = None
    chart_type: str | None = None
    source_kind: str | None = None
    index: str | None = Field(default=None, description="The dataset it reads.")
    updated_at: Any = None


class VisualizationList(BaseModel):
    visualizations: list[Summary]
    page: Page


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    env = envelope(item)
    attrs = env.attributes
    chart = object_at(attrs, "chart")
    source = object_at(attrs, "source")
    return Summary(
        id=env.id,
        title=attrs.get("title"),
        chart_type=chart.get("type"),
        source_kind=source.get("kind"),
        index=source.get("index"),
        updated_at=env.updated_at,
    ).model_dump()


async def list_page(
    ctx: Context,
    path: str,
    operation: str,
    limit: int,
    offset: int,
    summarize: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], Page]:
    """One page of ``{"items": [...]}`` from the service as summaries, cut to the byte budget.

    One more item than asked is requested (when the service allows it) to know whether more exist.
    """
    want = min(limit + 1, 1000)
    answer = await client_of(ctx).request(
        "GET", path, operation=operation, idempotent=True, params={"limit": str(want), "offset": str(offset)}
    )
    items = answer.get("items", []) if isinstance(answer, dict) else answer if isinstance(answer, list) else []
    items = [item for item in items if isinstance(item, dict)]
    surely_more = len(items) > limit
    maybe_more = surely_more or (want == limit and len(items) == limit)
    kept, info = page(
        [summarize(item) for item in items[:limit]],
        offset=offset,
        limit=limit,
        max_bytes=settings_of(ctx).max_result_bytes,
    )
    if maybe_more:
        end = offset + len(kept)
        exist = "More items exist" if surely_more else "More items may exist"
        cause = (
            f"limit={limit}" if len(kept) == limit else f"the {settings_of(ctx).max_result_bytes}-byte result budget"
        )
        exist += f" (cut by {cause})"
        info = Page(
            total=None,
            returned=len(kept),
            offset=offset,
            truncated=True,
            next_offset=end,
            note=f"{exist}; call again with offset={end}.",
        )
    return kept, info


@infino_tool(Toolset.VISUALIZATIONS, title="List visualizations", read_only=True, destructive=False, idempotent=True)
async def list_visualizations(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> VisualizationList:
    """List saved visualizations (id, title, chart type, dataset). Use get_visualization for one's full definition."""
    kept, info = await list_page(ctx, "/visualizations", "list_visualizations", limit, offset, _summary)
    return VisualizationList(visualizations=[Summary(**k) for k in kept], page=info)


@infino_tool(
    Toolset.VISUALIZATIONS,
    title="Delete a visualization",
    read_only=False,
    destructive=True,
    idempotent=True,
    confirm=True,
)
async def delete_visualization(ctx: Context, viz_id: VizId) -> Acknowledged:
    """Delete a saved visualization. Dashboard panels that show it will report an error. Cannot be undone."""
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}"
    answer = await client_of(ctx).request("DELETE", path)
    return Acknowledged.of(answer)


class VizData(BaseModel):
    columns: list[dict[str, Any]] = Field(description="[{name, type}] in display order.")
    rows: list[dict[str, Any]] = Field(description="Plot-ready rows {column: value}.")
    metadata: dict[str, Any] = Field(
        description="row_count, truncated, took_ms, executed_query, filters_applied, filters_skipped, binding (x, y, series)."
    )
    page: Page


def bound_rows(data: dict[str, Any], *, offset: int, limit: int, max_bytes: int) -> tuple[dict[str, Any], Page]:
    """``data`` with its rows cut to ``offset``/``limit`` and what fits in ``max_bytes`` beside columns and metadata."""
    rows = [row for row in data.get("rows") or [] if isinstance(row, dict)]
    columns = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    metadata = object_at(data, "metadata")
    room = max(max_bytes - json_size(columns) - json_size(metadata), 500)
    kept, info = page(rows[offset:], offset=offset, limit=limit, max_bytes=room, total=len(rows))
    if metadata.get("truncated"):
        cut = (
            "The visualization's own row limit cut the query result; raise source.sql.limit with update_visualization."
        )
        info.note = f"{info.note} {cut}" if info.note else cut
    return {"columns": columns, "rows": kept, "metadata": metadata}, info


@infino_tool(Toolset.VISUALIZATIONS, title="Run a visualization", read_only=True, destructive=False, idempotent=True)
async def execute_visualization(
    ctx: Context,
    viz_id: VizId,
    filters: FiltersArg = None,
    time_range: TimeRangeArg = None,
    limit: Annotated[int, Field(ge=1, le=10000, description="Most rows to return.")] = 100,
    offset: Annotated[int, Field(ge=0, description="Rows to skip (for paging).")] = 0,
) -> VizData:
    """Run a saved visualization's query and return plot-ready rows; metadata.binding names the x, y and series columns."""
    data = await run_visualization(client_of(ctx), viz_id, filters, time_range)
    shaped, info = bound_rows(data, offset=offset, limit=limit, max_bytes=settings_of(ctx).max_result_bytes)
    return VizData(**shaped, page=info)


class ChartSpec(BaseModel):
    """What to render: an ECharts option, a table or a single metric."""

    kind: str = Field(description="'echarts', 'table' or 'metric'.")
    title: str | None = None
    option: dict[str, Any] | None = Field(default=None, description="kind=echarts: pass to echarts.setOption as-is.")
    columns: list[Any] | None = Field(default=None, description="kind=table: the columns.")
    rows: list[Any] | None = Field(default=None, description="kind=table: the rows.")
    value: Any = Field(default=None, description="kind=metric: the single value.")
    formatting: dict[str, Any] | None = Field(default=None, description="kind=metric: prefix, suffix, decimals...")
    reason: str | None = Field(default=None, description="Why a chart fell back to a table.")
    other: dict[str, Any] = Field(default_factory=dict, description="Any further keys of the rendering.")
    rows_used: int = Field(description="Data rows that went into the rendering.")
    rows_total: int = Field(description="Data rows available.")
    note: str | None = Field(default=None, description="Set when rows were left out, naming what cut them.")


def render(
    viz: dict[str, Any], data: dict[str, Any], *, max_rows: int, max_bytes: int, cap: str | None = None
) -> ChartSpec:
    """Render with ``infino_mcp.echarts``, halving the rows until the result fits ``max_bytes``.

    ``cap`` names what ``max_rows`` is in notes (default ``max_rows=N``)."""
    attributes = nested if isinstance(nested := viz.get("attributes"), dict) else viz
    rows = list_at(data, "rows")
    used = min(len(rows), max_rows)
    while True:
        spec = build_option(attributes, {**data, "rows": rows[:used]})
        if json_size(spec) <= max_bytes or used <= 1:
            break
        used //= 2
    known = {"kind", "title", "option", "columns", "rows", "value", "formatting", "reason"}
    notes = []
    if used < len(rows):
        cause = f"the {max_bytes}-byte result budget" if used < max_rows else cap or f"max_rows={max_rows}"
        notes.append(
            f"Rendered {used} of {len(rows)} rows, cut by {cause}; aggregate or LIMIT the "
            "visualization's query (update_visualization) to chart everything."
        )
    metadata = object_at(data, "metadata")
    if metadata.get("truncated"):
        notes.append("The visualization's own row limit (source.sql.limit) cut the query result.")
    note = " ".join(notes) or None
    return ChartSpec(
        kind=str(spec.get("kind", "")),
        title=spec.get("title"),
        reason=spec.get("reason"),
        option=spec.get("option"),
        columns=spec.get("columns"),
        rows=spec.get("rows"),
        value=spec.get("value"),
        formatting=spec.get("formatting"),
        other={k: v for k, v in spec.items() if k not in known},
        rows_used=used,
        rows_total=len(rows),
        note=note,
    )


@infino_tool(
    Toolset.VISUALIZATIONS, title="Build an ECharts option", read_only=True, destructive=False, idempotent=True
)
async def to_echarts_option(
    ctx: Context,
    viz_id: Annotated[
        str | None, Field(description="A saved visualization; fetched and run when visualization/data are omitted.")
    ] = None,
    visualization: Annotated[
        JsonArg | None, Field(description="A visualization definition (or get_visualization's answer).")
    ] = None,
    data: Annotated[
        JsonArg | None, Field(description="execute_visualization's answer {columns, rows, metadata}.")
    ] = None,
    filters: FiltersArg = None,
    time_range: TimeRangeArg = None,
    max_rows: Annotated[int, Field(ge=1, le=10000, description="Most data rows to chart.")] = 1000,
) -> ChartSpec:
    """Turn a visualization and its data into a renderable ECharts option (or a table / metric). Pass just viz_id to fetch both."""
    viz = require_object(visualization, "visualization") if visualization is not None else None
    rows = require_object(data, "data") if data is not None else None
    if viz_id is None and (viz is None or rows is None):
        raise InputError("Pass viz_id, or both visualization and data.")
    if rows is not None and (filters or time_range is not None):
        raise InputError(
            "filters and time_range apply only when the data is fetched: omit data, or apply them yourself."
        )
    if viz_id is not None and (viz is None or rows is None):
        client = client_of(ctx)
        viz_or_none, data_or_none = await concurrently(
            (lambda: fetch_visualization(client, viz_id)) if viz is None else None,
            (lambda: run_visualization(client, viz_id, filters, time_range)) if rows is None else None,
        )
        viz = viz if viz is not None else viz_or_none
        rows = rows if rows is not None else data_or_none
    assert viz is not None and rows is not None
    return render(viz, rows, max_rows=max_rows, max_bytes=settings_of(ctx).max_result_bytes)
