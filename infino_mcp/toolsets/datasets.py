"""Datasets and records: create, list, inspect, load and delete."""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import dataset_segment, id_segment, is_service_error
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, page
from infino_mcp.toolsets.bulk_results import BulkResult, bulk_result
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    Raw,
    querydsl_body,
    require_object,
)

DatasetName = Annotated[str, Field(description="Dataset name, e.g. 'web-logs' or 'sample-ecommerce-data'.")]


class PingResult(BaseModel):
    version: str | None = Field(description="The service's API version.")
    endpoint: str = Field(description="The endpoint this server talks to.")
    local: str | None = Field(None, description="Local mode: where the data lives and which process serves it.")


def _served_by(answer: Any) -> str | None:
    local = answer.get("local") if isinstance(answer, dict) else None
    if not isinstance(local, dict):
        return None
    pid = local.get("pid")
    role = "this process serves it" if pid == os.getpid() else f"served by pid {pid}: other clients share it"
    return f"data in {local.get('data_dir')} ({role})"


@infino_tool(Toolset.DATASETS, title="Check Infino connectivity", read_only=True, destructive=False, idempotent=True)
async def ping(ctx: Context) -> PingResult:
    """Check that Infino answers and the credentials work. Returns the service version."""
    client = client_of(ctx)
    answer = await client.request("GET", "/")
    version = answer.get("version") if isinstance(answer, dict) else None
    return PingResult(version=version, endpoint=client.endpoint, local=_served_by(answer))


class DatasetSummary(BaseModel):
    name: str
    docs_count: int | None = Field(default=None, description="Number of records.")
    store_size: str | None = Field(default=None, description="Size on disk, e.g. '2.8kb'.")
    health: str | None = None


class DatasetList(BaseModel):
    datasets: list[DatasetSummary]
    page: Page


def _summary(row: dict[str, Any]) -> DatasetSummary:
    count = row.get("docs.count")
    try:
        docs = int(count) if count is not None else None
    except (TypeError, ValueError):
        docs = None
    return DatasetSummary(
        name=str(row.get("index", "")), docs_count=docs, store_size=row.get("store.size"), health=row.get("health")
    )


async def list_dataset_rows(client: Any) -> list[dict[str, Any]]:
    """The service's dataset rows (``GET /metadata``); also used by resources and completions."""
    rows = await client.request("GET", "/metadata", operation="get_datasets", idempotent=True)
    if not isinstance(rows, list):
        raise InfinoError("get_datasets: the service did not return a list of datasets.")
    return [row for row in rows if isinstance(row, dict)]


@infino_tool(Toolset.DATASETS, title="List datasets", read_only=True, destructive=False, idempotent=True)
async def get_datasets(
    ctx: Context,
    pattern: Annotated[str, Field(description="Glob on names, e.g. 'logs-*'. Default: all.")] = "*",
    limit: Limit = 100,
    offset: Offset = 0,
) -> DatasetList:
    """List datasets with record counts and sizes, sorted by name. Start here to find what data exists."""
    rows = await list_dataset_rows(client_of(ctx))
    summaries = sorted(
        (_summary(r) for r in rows if fnmatch.fnmatchcase(str(r.get("index", "")), pattern)), key=lambda s: s.name
    )
    kept, info = page(
        [s.model_dump() for s in summaries[offset:]],
        offset=offset,
        limit=limit,
        max_bytes=settings_of(ctx).max_result_bytes,
        total=len(summaries),
    )
    if not summaries:
        info.note = (
            "No dataset is listed. Only datasets your role may read metadata of (metadata:read) appear here; "
            "if you know a dataset's name, query it directly, or ask an admin for metadata:read."
        )
    return DatasetList(datasets=[DatasetSummary(**k) for k in kept], page=info)


@infino_tool(Toolset.DATASETS, title="Create a dataset", read_only=False, destructive=False, idempotent=True)
async def create_dataset(ctx: Context, dataset: DatasetName) -> Acknowledged:
    """Create an empty dataset. Succeeds when it already exists (nothing is changed then)."""
    path = f"/{dataset_segment(dataset)}"
    try:
        answer = await client_of(ctx).request("PUT", path)
    except InfinoError as exc:
        if not is_service_error(exc, 409):
            raise
        return Acknowledged(acknowledged=True, response={"index": dataset, "already_existed": True})
    return Acknowledged.of(answer)


@infino_tool(
    Toolset.DATASETS, title="Delete a dataset", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_dataset(ctx: Context, dataset: DatasetName) -> Acknowledged:
    """Delete a dataset and every record in it. Cannot be undone."""
    path = f"/{dataset_segment(dataset)}"
    answer = await client_of(ctx).request("DELETE", path)
    return Acknowledged.of(answer)


@infino_tool(Toolset.DATASETS, title="Get dataset metadata", read_only=True, destructive=False, idempotent=True)
async def get_dataset_metadata(ctx: Context, dataset: DatasetName) -> Raw:
    """Status, health, record count and size of one dataset."""
    path = f"/{dataset_segment(dataset)}/metadata"
    answer = await client_of(ctx).request("GET", path)
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    return Raw(result=answer)


class FieldType(BaseModel):
    field: str
    infino_type: str = Field(description="String, Integer, Float, Boolean, ISO8601Date, ...")
    source: str | None = None


class DatasetSchema(BaseModel):
    dataset: str
    fields: list[FieldType]


async def fetch_schema(client: Any, dataset: str) -> DatasetSchema:
    """A dataset's fields and types; also used by the schema resource."""
    path = f"/{dataset_segment(dataset)}/_schema"
    answer = await client.request("GET", path, operation="get_dataset_schema", idempotent=True)
    fields = [
        FieldType(field=name, infino_type=str(info.get("infino_type", "")), source=info.get("source"))
        for name, info in sorted(answer.items())
        if isinstance(info, dict)
    ]
    return DatasetSchema(dataset=dataset, fields=fields)


@infino_tool(Toolset.DATASETS, title="Get dataset schema", read_only=True, destructive=False, idempotent=True)
async def get_dataset_schema(ctx: Context, dataset: DatasetName) -> DatasetSchema:
    """Field names and types of a dataset. Read it before writing SQL or QueryDSL against the dataset."""
    return await fetch_schema(client_of(ctx), dataset)


def _bulk_payload(records: list[dict[str, Any]] | str, id_field: str | None) -> str:
    if isinstance(records, str):
        lines = [line for line in records.splitlines() if line.strip()]
        for number, line in enumerate(lines, 1):
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"NDJSON line {number} is not valid JSON: {exc.msg} at column {exc.colno}.") from None
        return "\n".join(lines) + "\n"
    out = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise InputError(f"Record {number} is not a JSON object.")
        action: dict[str, Any] = {}
        if id_field:
            if record.get(id_field) is None:
                raise InputError(
                    f"id_field {id_field!r} is missing from record {number}; give every record that field."
                )
            action["_id"] = str(record[id_field])
        out.append(json.dumps({"index": action}, ensure_ascii=False))
        out.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(out) + "\n"


@infino_tool(Toolset.DATASETS, title="Upload JSON records", read_only=False, destructive=False, idempotent=False)
async def upload_json_to_dataset(
    ctx: Context,
    dataset: DatasetName,
    records: Annotated[
        list[dict[str, Any]] | str,
        Field(description="A list of JSON objects, or bulk NDJSON text (action line, then document line)."),
    ],
    id_field: Annotated[
        str | None, Field(description="With a list: the field whose value becomes each record's id (upsert).")
    ] = None,
) -> BulkResult:
    """Add records to a dataset (created if missing). Records with an existing id replace it.

    Returns each record's id and result (created, updated or its error) and the counts."""
    if not records:
        raise InputError("records is empty: pass at least one JSON object.")
    payload = _bulk_payload(records, id_field)
    answer = await client_of(ctx).request(
        "POST",
        f"/{dataset_segment(dataset)}/json",
        content=payload.encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    return bulk_result(answer, settings_of(ctx).max_result_bytes)


class SqlWriteResult(BaseModel):
    statement_type: str | None
    affected_rows: int | None
    error_message: str | None = None


@infino_tool(
    Toolset.DATASETS, title="Insert or update rows with SQL", read_only=False, destructive=False, idempotent=False
)
async def upsert_to_dataset(
    ctx: Context,
    query: Annotated[
        str, Field(description="An SQL INSERT or UPDATE, e.g. INSERT INTO \"logs\" (level, msg) VALUES ('info', 'hi').")
    ],
) -> SqlWriteResult:
    """Insert or update records with one SQL INSERT or UPDATE statement. For SELECT use query_dataset_in_sql."""
    verb = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
    if verb not in ("INSERT", "UPDATE"):
        raise InputError("upsert_to_dataset takes an INSERT or UPDATE statement; use query_dataset_in_sql for SELECT.")
    answer = await client_of(ctx).request("POST", "/sql", json_body={"query": query})
    return SqlWriteResult(
        statement_type=answer.get("statement_type"),
        affected_rows=answer.get("affected_rows"),
        error_message=answer.get("error_message"),
    )


@infino_tool(Toolset.DATASETS, title="Upload Prometheus metrics", read_only=False, destructive=False, idempotent=False)
async def upload_metrics_to_dataset(
    ctx: Context,
    dataset: DatasetName,
    metrics: Annotated[
        str,
        Field(
            description="Prometheus text exposition, e.g. 'http_requests_total{code=\"200\"} 1027'; "
            "optional sample timestamps are in milliseconds (default: now)."
        ),
    ],
) -> Raw:
    """Store Prometheus-format metric samples in a dataset; query them with query_dataset_in_promql."""
    if not metrics.strip():
        raise InputError("metrics is empty: pass Prometheus text exposition lines.")
    answer = await client_of(ctx).request(
        "POST",
        f"/{dataset_segment(dataset)}/metrics",
        content=metrics.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    return Raw(result=answer)


class Record(BaseModel):
    id: str
    found: bool
    source: dict[str, Any] | None = Field(default=None, description="The record as stored.")


@infino_tool(Toolset.DATASETS, title="Get a record by id", read_only=True, destructive=False, idempotent=True)
async def get_record(
    ctx: Context,
    dataset: DatasetName,
    record_id: Annotated[str, Field(description="The record's id (the _id of a search hit).")],
) -> Record:
    """Fetch one record by its id. found is false when there is no such record."""
    path = f"/{dataset_segment(dataset)}/doc/{id_segment(record_id, 'Record id')}"
    try:
        answer = await client_of(ctx).request("GET", path)
    except InfinoError as exc:
        if is_service_error(exc, 404) and '"found":false' in getattr(exc, "detail", "").replace(" ", ""):
            return Record(id=record_id, found=False)
        raise
    return Record(
        id=str(answer.get("_id", record_id)), found=bool(answer.get("found", True)), source=answer.get("_source")
    )


class DeleteCount(BaseModel):
    deleted: int = Field(description="How many records were deleted.")


@infino_tool(
    Toolset.DATASETS, title="Delete records by query", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_records(
    ctx: Context,
    dataset: DatasetName,
    query: Annotated[
        JsonArg, Field(description='QueryDSL selecting the records, e.g. {"query": {"term": {"status": "spam"}}}.')
    ],
) -> DeleteCount:
    """Delete every record matching a QueryDSL query. Cannot be undone; check the query with a search first."""
    body = querydsl_body(query, "query")
    answer = await client_of(ctx).request("PATCH", f"/{dataset_segment(dataset)}", json_body=body)
    if isinstance(answer, dict):
        answer = answer.get("deleted", answer.get("count", 0))
    return DeleteCount(deleted=int(answer or 0))


@infino_tool(
    Toolset.DATASETS, title="Set a dataset's enrichment policy", read_only=False, destructive=False, idempotent=True
)
async def enrich_dataset(
    ctx: Context,
    dataset: DatasetName,
    policy: Annotated[
        JsonArg,
        Field(
            description='The policy, e.g. {"enrich_policy": {"match_field": "user_id", "enrich_fields": ["email", "name"]}}.'
        ),
    ],
) -> Raw:
    """Set the enrichment policy that configures field matching and enrichment for a dataset."""
    body = require_object(policy, "policy")
    answer = await client_of(ctx).request(
        "POST",
        f"/{dataset_segment(dataset)}/enrich_dataset",
        json_body=body,
    )
    return Raw(result=answer)
