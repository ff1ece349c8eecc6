"""Data sources: source types, connections and native queries on them, file uploads and import jobs.

``upload_file`` reads local files, so it only reads under the directories
``Settings.file_root`` names (none by default): the path is resolved (symlinks
and ``..`` included) before the check, so nothing outside can be reached.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import dataset_segment, id_segment, name_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, list_at, object_at, page
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    Raw,
    require_object,
)
from infino_mcp.toolsets.query_shapes import SourceResult, bound_native

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
"""Largest file upload_file sends in one request."""

ConnectionId = Annotated[str, Field(description="The connection's id (get_connections lists them).")]
SourceType = Annotated[str, Field(description="A source type id from get_sources, e.g. 'postgres' or 'elasticsearch'.")]
_CONTENT_TYPES = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "auto": "application/octet-stream",
}


class ItemList(BaseModel):
    """A page of the service's objects, each as the service describes it."""

    items: list[dict[str, Any]]
    page: Page


async def _list(ctx: Context, path: str, operation: str, limit: int, offset: int) -> ItemList:
    answer = await client_of(ctx).request("GET", path, operation=operation, idempotent=True)
    if isinstance(answer, dict):  # some deployments answer one object instead of a one-item list
        answer = [answer] if answer else []
    if not isinstance(answer, list):
        raise InfinoError(f"{operation}: the service did not return a list.")
    items = [i for i in answer if isinstance(i, dict)]
    kept, info = page(
        items[offset:], offset=offset, limit=limit, max_bytes=settings_of(ctx).max_result_bytes, total=len(items)
    )
    return ItemList(items=kept, page=info)


@infino_tool(Toolset.CONNECTIONS, title="List source types", read_only=True, destructive=False, idempotent=True)
async def get_sources(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> ItemList:
    """The kinds of external data source Infino can connect to (id, category, query language). Call before create_connection."""
    return await _list(ctx, "/sources", "get_sources", limit, offset)


@infino_tool(Toolset.CONNECTIONS, title="List connections", read_only=True, destructive=False, idempotent=True)
async def get_connections(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> ItemList:
    """The configured connections to external sources, with ids, types and status (secrets masked)."""
    return await _list(ctx, "/sources/connections", "get_connections", limit, offset)


@infino_tool(Toolset.CONNECTIONS, title="Create a connection", read_only=False, destructive=False, idempotent=False)
async def create_connection(
    ctx: Context,
    source_type: SourceType,
    config: Annotated[
        JsonArg,
        Field(description='Connection settings as JSON, e.g. {"name": "prod-pg", "host": "...", "port": 5432}.'),
    ],
) -> Raw:
    """Connect Infino to an external source (database, search cluster, bucket). Returns the connection with its id."""
    body = require_object(config, "config")
    path = f"/source/{name_segment(source_type, 'Source type')}"
    return Raw(result=await client_of(ctx).request("POST", path, json_body=body))


@infino_tool(Toolset.CONNECTIONS, title="Get a connection", read_only=True, destructive=False, idempotent=True)
async def get_connection(ctx: Context, connection_id: ConnectionId) -> Raw:
    """One connection's type, status and settings (secrets masked)."""
    path = f"/source/{id_segment(connection_id, 'Connection id')}"
    return Raw(result=await client_of(ctx).request("GET", path))


@infino_tool(Toolset.CONNECTIONS, title="Update a connection", read_only=False, destructive=False, idempotent=True)
async def update_connection(
    ctx: Context,
    connection_id: ConnectionId,
    config: Annotated[JsonArg, Field(description="The settings to change, as JSON; others stay as they are.")],
) -> Raw:
    """Change a connection's settings (host, credentials, name...)."""
    body = require_object(config, "config")
    path = f"/source/{id_segment(connection_id, 'Connection id')}"
    return Raw(result=await client_of(ctx).request("PATCH", path, json_body=body))


@infino_tool(
    Toolset.CONNECTIONS, title="Delete a connection", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_connection(ctx: Context, connection_id: ConnectionId) -> Acknowledged:
    """Remove a connection. Import jobs using it must be deleted first."""
    path = f"/source/{id_segment(connection_id, 'Connection id')}"
    return Acknowledged.of(await client_of(ctx).request("DELETE", path))


@infino_tool(
    Toolset.CONNECTIONS,
    title="Get a source dataset's metadata",
    read_only=True,
    destructive=False,
    idempotent=True,
    cloud_only=True,
)
async def get_source_metadata(
    ctx: Context,
    connection_id: ConnectionId,
    dataset: Annotated[str, Field(description="Table, index or collection in the source.")],
) -> Raw:
    """Fields and types of a table or index in a connected source; read it before query_source (needs Infino cloud)."""
    conn = id_segment(connection_id, "Connection id")
    path = f"/source/{conn}/{id_segment(dataset, 'Source dataset')}/metadata"
    answer = await client_of(ctx).request("GET", path, headers={"x-infino-connection-id": connection_id})
    return Raw(result=answer)


# ---------------------------------------------------------------- file uploads


class UploadResult(BaseModel):
    run_id: str | None = Field(default=None, description="The job's id; poll it with get_connector_job_status.")
    status: str | None = Field(default=None, description="completed, failed, or submitted (async).")
    message: str | None = None
    stats: dict[str, Any] | None = Field(default=None, description="Documents processed, failed...")
    errors: list[Any] = Field(default_factory=list, description="The first errors the service reported.")
    error_count: int = 0
    file: str = Field(description="The file that was sent (resolved path).")
    bytes_sent: int


def _roots(ctx: Context) -> list[Path]:
    roots = list(settings_of(ctx).file_root)
    if not roots:
        raise InputError(
            "upload_file is disabled: no file root is configured. Allow a directory by starting the server with "
            "--file-root DIR or setting INFINO_FILE_ROOT=DIR (comma-separated for several)."
        )
    return roots


def _under(real: Path, roots: list[Path]) -> bool:
    return any(real == root or real.is_relative_to(root) for root in roots)


def _resolve_under_roots(path: str, roots: list[Path]) -> Path:
    """The real path of ``path`` (absolute, or relative to a root) if it lies inside a root.

    Refusals never say where a path outside the roots leads, nor whether it exists.
    """
    given = Path(os.path.expanduser(path))
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    candidates = [given] if given.is_absolute() else [root / given for root in real_roots]
    allowed = ", ".join(str(r) for r in real_roots)
    outside = False
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if not _under(real, real_roots):
            outside = True
        elif real.exists():
            return real
    if outside:
        raise InputError(
            f"{path!r} is outside the allowed file roots ({allowed}). Move the file under a root, "
            "or allow its directory with --file-root DIR or INFINO_FILE_ROOT=DIR."
        )
    raise InputError(f"File {path!r} not found under the allowed file roots ({allowed}). Check the name and directory.")


def _read_under_roots(real: Path, roots: list[Path]) -> bytes:
    """Open ``real`` once and read it from that descriptor, after checking what was opened.

    A path checked and then opened again by name could be swapped for a link in
    between; so the opened file itself must be a regular file inside a root.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        raise InputError(
            f"{real} could not be opened: pass the path of one readable JSON, JSONL or CSV file."
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(f"{real} is not a regular file (a directory?): pass the path of one JSON, JSONL or CSV file.")
    with os.fdopen(fd, "rb") as handle:
        opened = Path(f"/proc/self/fd/{fd}")
        if opened.exists() and not _under(Path(os.readlink(opened)), [Path(os.path.realpath(r)) for r in roots]):
            raise InputError("The file changed while it was being opened and now lies outside the allowed file roots.")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise InputError(
                f"{real} is {info.st_size} bytes, over the {MAX_UPLOAD_BYTES}-byte upload limit: split it into smaller files."
            )
        if info.st_size == 0:
            raise InputError(f"{real} is empty: nothing to upload.")
        return handle.read(MAX_UPLOAD_BYTES + 1)[:MAX_UPLOAD_BYTES]


@infino_tool(
    Toolset.DATASETS, title="Upload a file into a dataset", read_only=False, destructive=False, idempotent=False
)
async def upload_file(
    ctx: Context,
    dataset: Annotated[str, Field(description="Target dataset (created if missing).")],
    path: Annotated[str, Field(description="The file: absolute, or relative to an allowed file root.")],
    format: Annotated[
        Literal["auto", "json", "jsonl", "csv"], Field(description="File format; auto detects it.")
    ] = "auto",
    batch_size: Annotated[int | None, Field(ge=1, le=100_000, description="Documents per ingest batch.")] = None,
    async_mode: Annotated[bool, Field(description="Return at once with a run_id instead of waiting.")] = False,
    wait: Annotated[
        bool, Field(description="With async_mode: follow the run to its end, reporting progress as it goes.")
    ] = False,
) -> UploadResult:
    """Load a local JSON, JSONL or CSV file into a dataset. Only files under the server's allowed file roots can be read."""
    dataset_segment(dataset)
    roots = _roots(ctx)
    real = await anyio.to_thread.run_sync(_resolve_under_roots, path, roots)
    content = await anyio.to_thread.run_sync(_read_under_roots, real, roots)
    data = {"index_name": dataset, "format": format}
    if batch_size is not None:
        data["batch_size"] = str(batch_size)
    answer = await client_of(ctx).request(
        "POST",
        "/import/file",
        params={"async": "true" if async_mode else "false"},
        files={"file": (real.name, content, _CONTENT_TYPES[format])},
        data=data,
    )
    if not isinstance(answer, dict):
        raise InfinoError("upload_file: the service's answer is not an object.")
    if async_mode and wait and answer.get("run_id"):
        answer = {**answer, **await _follow_run(ctx, str(answer["run_id"]))}
    errors = list_at(answer, "errors")
    return UploadResult(
        run_id=answer.get("run_id"),
        status=answer.get("status"),
        message=answer.get("message"),
        stats=(nested if isinstance(nested := answer.get("stats"), dict) else None),
        errors=errors[:20],
        error_count=len(errors),
        file=str(real),
        bytes_sent=len(content),
    )


FINISHED = ("completed", "failed")
POLL_SECONDS = 1.0


async def _follow_run(ctx: Context, run_id: str) -> dict[str, Any]:
    """Poll a file import until it ends, reporting progress; the answer's last status.

    The local endpoint can hold each answer until the run ends or a few seconds
    pass (``wait_for_completion``, not part of the service's API); the service
    is polled about once a second. Cancelling the call stops the polling; the
    import itself goes on (get_connector_job_status shows it).
    """
    path = f"/_connectors/jobs/{id_segment(run_id, 'Run id')}"
    params = {"wait_for_completion": "true", "timeout": "5s"} if settings_of(ctx).uses_local else None
    while True:
        started = anyio.current_time()
        status = await client_of(ctx).request(
            "GET", path, operation="get_connector_job_status", idempotent=True, params=params
        )
        if not isinstance(status, dict):
            raise InfinoError("upload_file: the job status is not an object; call get_connector_job_status.")
        progress = object_at(status, "progress")
        done = progress.get("documents_processed") or (status.get("stats") or {}).get("documents_processed") or 0
        total = progress.get("total")
        await ctx.report_progress(
            float(done), float(total) if total else None, f"{status.get('status')}: {done} documents"
        )
        if status.get("status") in FINISHED:
            return status
        await anyio.sleep(max(0.0, POLL_SECONDS - (anyio.current_time() - started)))


@infino_tool(Toolset.DATASETS, title="Get an import run's status", read_only=True, destructive=False, idempotent=True)
async def get_connector_job_status(
    ctx: Context, run_id: Annotated[str, Field(description="The run_id upload_file returned.")]
) -> Raw:
    """Status (running, completed, failed) and stats of a file upload started with async_mode."""
    path = f"/_connectors/jobs/{id_segment(run_id, 'Run id')}"
    return Raw(result=await client_of(ctx).request("GET", path))


# ---------------------------------------------------------------- import jobs


@infino_tool(Toolset.CONNECTIONS, title="Create an import job", read_only=False, destructive=False, idempotent=False)
async def create_import_job(
    ctx: Context,
    source_type: SourceType,
    config: Annotated[
        JsonArg,
        Field(
            description='Job as JSON: {"connection_id", "source_dataset", "target_dataset", "query", "schedule": "0 * * * *"}.'
        ),
    ],
) -> Raw:
    """Schedule copying data from a connected source into a dataset (cron schedule). Create the connection first."""
    body = require_object(config, "config")
    path = f"/import/{name_segment(source_type, 'Source type')}"
    return Raw(result=await client_of(ctx).request("PUT", path, json_body=body))


@infino_tool(Toolset.CONNECTIONS, title="List import jobs", read_only=True, destructive=False, idempotent=True)
async def get_import_jobs(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> ItemList:
    """Import jobs with their source, target dataset, schedule and status."""
    return await _list(ctx, "/import/jobs", "get_import_jobs", limit, offset)


@infino_tool(
    Toolset.CONNECTIONS, title="Delete an import job", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def delete_import_job(
    ctx: Context, job_id: Annotated[str, Field(description="The job's id (get_import_jobs).")]
) -> Acknowledged:
    """Delete an import job; data already imported stays."""
    path = f"/import/jobs/{id_segment(job_id, 'Job id')}"
    return Acknowledged.of(await client_of(ctx).request("DELETE", path))


# ---------------------------------------------------------------- connected sources


@infino_tool(
    Toolset.CONNECTIONS,
    title="Query a connected source natively",
    read_only=True,
    destructive=False,
    idempotent=True,
    cloud_only=True,
)
async def query_source(
    ctx: Context,
    connection_id: Annotated[str, Field(description="The connection's id (get_connections lists them).")],
    dataset: Annotated[str, Field(description="Table, index or collection in the source.")],
    query: Annotated[
        str | dict[str, Any],
        Field(
            description="The query in the source's language: SQL text, or a QueryDSL object for Elasticsearch/OpenSearch."
        ),
    ],
) -> SourceResult:
    """Run a query on an external source through its connection, in the source's own language."""
    text = query if isinstance(query, str) else json.dumps(query, ensure_ascii=False)
    if not text.strip():
        raise InputError("query is empty: pass the query text in the source's language.")
    conn = id_segment(connection_id, "Connection id")
    answer = await client_of(ctx).request(
        "POST",
        f"/source/{conn}/{id_segment(dataset, 'Source dataset')}/dsl",
        json_body={"query": text},
        headers={"x-infino-connection-id": connection_id},
    )
    return bound_native(answer, settings_of(ctx).max_result_bytes)
