"""File uploads (``POST /import/file``) and their job status (``GET /_connectors/jobs/{run_id}``).

A multipart upload (``file``, ``index_name``, ``format``, ``batch_size``) is
parsed by ``files_import`` and written with ``documents.ingest_documents`` in
batches. With ``async=false`` the response carries the final statistics; with
``async=true`` it returns ``submitted`` at once and an asyncio task does the
work. Every run is recorded in the ``connector_jobs`` collection, updated after
each batch, so progress can be polled (``?wait_for_completion=true&timeout=30s``
waits for the run to end, like Elasticsearch's task API). A job found ``running`` that no task of
this process owns was interrupted by a restart and is reported as failed.

Permissions: ``record:write`` on the dataset, plus ``dataset:create`` when it
does not exist yet. Uploads larger than ``max_upload_bytes`` (256 MiB unless
the services say otherwise) get 413.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infino_mcp.local.api.http import json_response, require, services
from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError
from infino_mcp.local.services import Services
from infino_mcp.local.storage.catalog import validate_name
from infino_mcp.local.storage.documents import ingest_documents
from infino_mcp.local.storage.files import (
    FORMATS,
    ParseError,
    detect_format,
    parse_documents,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 100_000
MAX_REPORTED_ERRORS = 100
MAX_WAIT_SECONDS = 120.0


def _max_bytes(svc: Services) -> int:
    return svc.max_upload_bytes


def _tasks(request: Request) -> dict[str, asyncio.Task[Any]]:
    """Upload tasks of this process by run id, held by the services (shared by every app over them)."""
    return services(request).tasks


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ApiError(400, f"async={value!r} is not a boolean; use async=true or async=false.")


def _wait_timeout(value: str) -> float:
    try:
        seconds = float(value.removesuffix("s"))
    except ValueError:
        raise ApiError(400, f"timeout={value!r} is not a number of seconds (e.g. 30 or 30s).") from None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def _batch_size(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_BATCH_SIZE
    try:
        size = int(str(value))
    except ValueError:
        raise ApiError(400, f"batch_size={value!r} is not an integer.") from None
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ApiError(400, f"batch_size must be between 1 and {MAX_BATCH_SIZE}, not {size}.")
    return size


async def _read_upload(request: Request) -> tuple[str, bytes, str, str, int]:
    """(dataset, file bytes, file name, format, batch size) from the multipart form."""
    limit = _max_bytes(services(request))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The upload is {int(declared)} bytes; the limit is {limit} bytes. Split the file.")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(400, "Send the file as multipart/form-data with fields file, index_name, format, batch_size.")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as exc:
        raise ApiError(400, f"The multipart body could not be read: {str(exc.detail).rstrip('.')}.") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "The multipart form has no 'file' part; attach the file as 'file'.")
        data = await upload.read(limit + 1)
        filename = upload.filename or ""
        dataset = form.get("index_name")
        fmt = form.get("format") or "auto"
        batch = form.get("batch_size")
    finally:
        await form.close()
    if len(data) > limit:
        raise ApiError(413, f"The file is larger than the {limit}-byte limit. Split it into smaller files.")
    if not isinstance(dataset, str) or not dataset:
        raise ApiError(400, "The multipart form needs 'index_name', the target dataset.")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise ApiError(400, f"format={fmt!r} is not supported; use one of {', '.join(FORMATS)}.")
    fmt = fmt.lower()
    if fmt == "auto":
        fmt = detect_format(filename, data)
    return dataset, data, filename, fmt, _batch_size(batch)


async def _save(svc: Services, job: dict[str, Any]) -> None:
    job["updated_at"] = now_iso()
    await svc.collection("connector_jobs").aput(job["run_id"], job)


def _record_error(job: dict[str, Any], error: dict[str, Any]) -> None:
    if len(job["errors"]) < MAX_REPORTED_ERRORS:
        job["errors"].append(error)
    else:
        job["stats"]["errors_not_reported"] += 1


async def _process(svc: Services, job: dict[str, Any], data: bytes, fmt: str, batch_size: int) -> None:
    """Parse and ingest, updating ``job`` (and its stored copy) after each batch."""
    started = time.monotonic()
    stats = job["stats"]
    parsed = await anyio.to_thread.run_sync(lambda: list(parse_documents(data, fmt)))
    docs = [item for item in parsed if not isinstance(item, ParseError)]
    for item in parsed:
        if isinstance(item, ParseError):
            stats["documents_failed"] += 1
            _record_error(job, item.as_dict())
    job["progress"]["total"] = len(parsed)
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        results = await ingest_documents(svc.writer, job["dataset"], batch)
        for (doc_id, _), result in zip(batch, results, strict=False):
            outcome = next(iter(result.values()), {})
            if outcome.get("error") or int(outcome.get("status", 200)) >= 300:
                stats["documents_failed"] += 1
                reason = (outcome.get("error") or {}).get("reason", f"status {outcome.get('status')}")
                _record_error(job, {"location": f"document {outcome.get('_id', doc_id)}", "reason": reason})
            else:
                stats["documents_processed"] += 1
        stats["batches"] += 1
        job["progress"]["documents_processed"] = stats["documents_processed"]
        job["progress"]["documents_failed"] = stats["documents_failed"]
        await _save(svc, job)
    stats["duration_ms"] = int((time.monotonic() - started) * 1000)
    job["progress"]["documents_failed"] = stats["documents_failed"]
    failed_all = stats["documents_processed"] == 0 and stats["documents_failed"] > 0
    job["status"] = "failed" if failed_all else "completed"
    job["message"] = f"Imported {stats['documents_processed']} of {len(parsed)} documents into '{job['dataset']}'" + (
        f"; {stats['documents_failed']} failed (see errors)." if stats["documents_failed"] else "."
    )
    job["finished_at"] = now_iso()
    await _save(svc, job)


async def _fail(svc: Services, job: dict[str, Any], reason: str) -> None:
    job["status"] = "failed"
    job["message"] = f"The import failed: {reason}"
    job["finished_at"] = now_iso()
    _record_error(job, {"location": "job", "reason": reason})
    await _save(svc, job)


async def _run_in_background(svc: Services, job: dict[str, Any], data: bytes, fmt: str, batch_size: int) -> None:
    try:
        await _process(svc, job, data, fmt, batch_size)
    except ApiError as exc:
        await _fail(svc, job, exc.message)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            await _fail(svc, job, "the endpoint shut down before the import finished; upload the file again.")
        raise
    except Exception as exc:  # the job record is the only place this error can be reported
        log.exception("file import %s failed", job["run_id"])
        await _fail(svc, job, f"{type(exc).__name__}: {exc}")


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "user"}


async def upload_file(request: Request) -> Response:
    svc = services(request)
    run_async = _flag(request.query_params.get("async", "false"))
    dataset, data, filename, fmt, batch_size = await _read_upload(request)
    validate_name(dataset)
    if dataset not in svc.catalog.names():
        require(request, "dataset", "create", dataset)
    require(request, "record", "write", dataset)
    now = now_iso()
    job: dict[str, Any] = {
        "run_id": str(uuid.uuid4()),
        "connector_id": "file",
        "status": "running",
        "dataset": dataset,
        "filename": filename,
        "format": fmt,
        "user": request.state.principal.user,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "message": "Importing.",
        "progress": {"documents_processed": 0, "documents_failed": 0, "total": None},
        "stats": {
            "documents_processed": 0,
            "documents_failed": 0,
            "batches": 0,
            "bytes": len(data),
            "format": fmt,
            "errors_not_reported": 0,
        },
        "errors": [],
    }
    await _save(svc, job)
    tasks = _tasks(request)
    if not run_async:
        current = asyncio.current_task()
        assert current is not None
        tasks[job["run_id"]] = current
        try:
            await _process(svc, job, data, fmt, batch_size)
        except ApiError as exc:
            await _fail(svc, job, exc.message)
            raise
        finally:
            tasks.pop(job["run_id"], None)
        return json_response(_public(job))
    task = asyncio.get_running_loop().create_task(_run_in_background(svc, job, data, fmt, batch_size))
    tasks[job["run_id"]] = task
    task.add_done_callback(lambda _t, run_id=job["run_id"]: tasks.pop(run_id, None))
    return json_response(
        {
            "connector_id": "file",
            "run_id": job["run_id"],
            "status": "submitted",
            "message": f"Import of {filename or 'the file'} into '{dataset}' submitted; "
            f"poll it with get_connector_job_status (run_id {job['run_id']}).",
            "errors": [],
        }
    )


async def job_status(request: Request) -> Response:
    svc = services(request)
    run_id = request.path_params["run_id"]
    job = svc.collection("connector_jobs").get(run_id)
    principal = request.state.principal
    if job is None or (job.get("user") != principal.user and not principal.is_admin):
        raise ApiError(404, f"Connector job {run_id!r} not found; pass the run_id that upload_file returned.")
    task = _tasks(request).get(run_id)
    if task is not None and _flag(request.query_params.get("wait_for_completion", "false")):
        # asyncio.wait never cancels the task; a timeout just returns the current progress.
        await asyncio.wait({task}, timeout=_wait_timeout(request.query_params.get("timeout", "30")))
        job = svc.collection("connector_jobs").get(run_id) or job
        task = _tasks(request).get(run_id)
    if job["status"] == "running" and task is None:
        # Still "running" on disk with no task in this process: a restart cut it short.
        job = await svc.collection("connector_jobs").aupdate(run_id, _interrupted)
    return json_response(_public(job))


def _interrupted(job: dict[str, Any] | None) -> dict[str, Any]:
    if job is None:
        raise ApiError(404, "The connector job is gone; upload the file again.")
    if job["status"] == "running":
        job["status"] = "failed"
        job["message"] = "The import was interrupted by an endpoint restart; upload the file again."
        job["updated_at"] = now_iso()
    return job


routes = [
    Route("/import/file", upload_file, methods=["POST"]),
    Route("/_connectors/jobs/{run_id}", job_status, methods=["GET"]),
]
