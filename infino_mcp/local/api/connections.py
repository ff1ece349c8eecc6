"""External source connections and import jobs: stored locally, never run.

The local endpoint keeps connection configurations and import job definitions
so clients can manage them, but it cannot reach external systems: querying a
source (``/source/{conn}/{ds}/dsl``, ``.../metadata``) answers 501, and import
jobs stay ``pending`` forever (each says so in its ``message``).

Permissions: connections and import jobs are account configuration without a
resource type of their own. Reading them needs ``metadata:read``; creating,
changing or deleting a connection (which holds credentials) needs the built-in
admin role; an import job needs ``record:write`` on its target dataset.
A connection's config is masked on every read, for every caller: only values
under a short list of descriptive keys (host, port, database, user, region ...)
are shown, with any password written into a URL (``scheme://user:pw@host``)
or its query string masked; every other value reads ``****``.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infino_mcp.local.api.http import json_response, read_json, require, services
from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError

LOCAL_NOTE = "Stored by the local endpoint; connecting to and querying external sources needs an Infino account."
QUERY_501 = (
    "Querying an external source needs Infino cloud: the local endpoint stores connection settings "
    "but cannot reach external systems. Import the data into a local dataset with upload_file "
    "or connect infino-mcp to an Infino account."
)
JOB_NOTE = "Stored only: the local endpoint never runs import jobs; they run on Infino cloud."
MASK = "****"
# Keys whose values are descriptive, never credentials (compared lower-cased, '-' read as '_').
VISIBLE_KEYS = frozenset(
    {
        "host",
        "hosts",
        "hostname",
        "port",
        "database",
        "db",
        "dbname",
        "user",
        "username",
        "type",
        "name",
        "region",
        "index",
        "indices",
        "schema",
        "warehouse",
        "account",
        "project",
        "project_id",
        "url",
        "uri",
        "urls",
        "endpoint",
        "node",
        "nodes",
        "bucket",
        "prefix",
        "path",
        "role",
        "catalog",
        "dataset",
        "site",
        "ssl",
        "tls",
        "sslmode",
        "use_ssl",
        "verify_certs",
        "timeout",
        "format",
        "description",
        "cluster",
    }
)
_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*://)?(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@", re.IGNORECASE)


def _source(sid: str, name: str, category: str, description: str, query_type: str, caps: list[str]) -> dict[str, Any]:
    return {
        "id": sid,
        "name": name,
        "category": category,
        "description": description,
        "capabilities": caps,
        "disabled": False,
        "query_type": query_type,
        "auth_strategy": "credentials",
        "local_support": "store-only",
    }


SOURCES: tuple[dict[str, Any], ...] = (
    _source("elasticsearch", "Elasticsearch", "Search", "Elasticsearch indices", "querydsl", ["query", "batch"]),
    _source("opensearch", "OpenSearch", "Search", "OpenSearch indices", "querydsl", ["query", "batch"]),
    _source("postgres", "PostgreSQL", "Database", "PostgreSQL tables", "sql", ["query", "batch"]),
    _source("mysql", "MySQL", "Database", "MySQL tables", "sql", ["query", "batch"]),
    _source("snowflake", "Snowflake", "Warehouse", "Snowflake tables", "sql", ["query", "batch"]),
    _source("bigquery", "BigQuery", "Warehouse", "Google BigQuery tables", "sql", ["query", "batch"]),
    _source("clickhouse", "ClickHouse", "Database", "ClickHouse tables", "sql", ["query", "batch"]),
    _source("prometheus", "Prometheus", "Observability", "Prometheus metrics", "promql", ["query"]),
    _source("datadog", "Datadog", "Observability", "Logs, metrics and traces from Datadog APIs", "none", ["batch"]),
    _source("s3", "Amazon S3", "Storage", "JSON, JSONL and CSV objects in S3 buckets", "none", ["batch"]),
)
_SOURCE_IDS = tuple(s["id"] for s in SOURCES)


def _source_type(name: str) -> str:
    if name not in _SOURCE_IDS:
        raise ApiError(400, f"Unknown source type {name!r}; get_sources lists the types: {', '.join(_SOURCE_IDS)}.")
    return name


def _masked(value: Any, key: str = "") -> Any:
    """``value`` as readers see it: descriptive keys shown (URL credentials masked), every other value masked."""
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if value in (None, ""):
        return value
    if key and key.lower().replace("-", "_") not in VISIBLE_KEYS:
        return MASK
    if isinstance(value, str):
        return _masked_url(value)
    return value if isinstance(value, (bool, int, float)) else MASK


def _masked_url(text: str) -> str:
    """``text`` with a password written as ``user:password@`` and every query-string value masked."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme') or ''}{m.group('user')}:{MASK}@", text.strip(), count=1)
    if "?" in text:
        base, _, rest = text.partition("?")
        query, hashmark, fragment = rest.partition("#")
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        text = base + "?" + "&".join(f"{urllib.parse.quote(k)}={MASK}" for k, _ in pairs) + hashmark + fragment
    return text


def _merge_config(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Shallow-merge ``new`` into ``old``; a masked value sent back keeps the stored secret."""
    merged = dict(old)
    for key, value in new.items():
        if key in old and (value == MASK or (value != old[key] and value == _masked(old[key], key))):
            continue  # a masked value sent back as read
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merged[key] = _merge_config(old[key], value)
        else:
            merged[key] = value
    return merged


def _config_from(body: Any) -> dict[str, Any]:
    """Accept ``{"config": {...}}`` (as the SDK examples send) or the settings themselves."""
    if not isinstance(body, dict):
        raise ApiError(400, 'The connection configuration must be a JSON object, e.g. {"config": {"host": ...}}.')
    if "config" not in body:
        return body
    if not isinstance(body["config"], dict):
        raise ApiError(400, "'config' must be a JSON object of connection settings.")
    return {**{k: v for k, v in body.items() if k != "config"}, **body["config"]}


def _view(conn: dict[str, Any]) -> dict[str, Any]:
    return {**conn, "config": _masked(conn["config"]), "message": LOCAL_NOTE}


def _connection(request: Request, conn_id: str) -> dict[str, Any]:
    conn = services(request).collection("connections").get(conn_id)
    if conn is None:
        raise ApiError(404, f"Connection {conn_id!r} not found; get_connections lists them.")
    return conn


async def list_sources(request: Request) -> Response:
    return json_response(list(SOURCES))


async def list_connections(request: Request) -> Response:
    require(request, "metadata", "read")
    conns = sorted(services(request).collection("connections").values(), key=lambda c: c["created_at"])
    return json_response([_view(c) for c in conns])


async def create_connection(request: Request) -> Response:
    source_type = _source_type(request.path_params["name"])
    services(request).rbac.require_admin(request.state.principal, "create connections")
    config = _config_from(await read_json(request))
    conn_id = f"conn_{uuid.uuid4().hex[:16]}"
    now = now_iso()
    conn = {
        "id": conn_id,
        "connection_id": conn_id,
        "type": source_type,
        "name": config.get("name", conn_id),
        "status": "stored",
        "created_at": now,
        "updated_at": now,
        "config": config,
    }
    await services(request).collection("connections").aput(conn_id, conn)
    return json_response(_view(conn))


async def get_connection(request: Request) -> Response:
    require(request, "metadata", "read")
    return json_response(_view(_connection(request, request.path_params["name"])))


async def update_connection(request: Request) -> Response:
    services(request).rbac.require_admin(request.state.principal, "change connections")
    conn_id = request.path_params["name"]
    _connection(request, conn_id)
    changes = _config_from(await read_json(request))

    def change(conn: dict[str, Any] | None) -> dict[str, Any]:
        if conn is None:
            raise ApiError(404, f"Connection {conn_id!r} not found; get_connections lists them.")
        conn["config"] = _merge_config(conn["config"], changes)
        conn["name"] = conn["config"].get("name", conn["name"])
        conn["updated_at"] = now_iso()
        return conn

    return json_response(_view(await services(request).collection("connections").aupdate(conn_id, change)))


async def delete_connection(request: Request) -> Response:
    services(request).rbac.require_admin(request.state.principal, "delete connections")
    conn = _connection(request, request.path_params["name"])
    jobs = services(request).collection("import_jobs").values()
    using = sorted(job["job_id"] for job in jobs if job["source_id"] == conn["id"])
    if using:
        raise ApiError(
            409, f"Connection {conn['id']!r} is used by import job(s) {', '.join(using)}; delete them first."
        )
    await services(request).collection("connections").adelete(conn["id"])
    return json_response({"acknowledged": True})


async def query_source(request: Request) -> Response:
    _connection(request, request.path_params["conn"])
    require(request, "record", "read", request.path_params["ds"])
    raise ApiError(501, QUERY_501)


async def source_metadata(request: Request) -> Response:
    _connection(request, request.path_params["conn"])
    require(request, "metadata", "read", request.path_params["ds"])
    raise ApiError(501, QUERY_501)


def _required_text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"The import job needs {key!r} (a non-empty string).")
    return value


async def create_import_job(request: Request) -> Response:
    source_type = _source_type(request.path_params["source_type"])
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "The import job must be a JSON object with connection_id, target_dataset, query, schedule.")
    conn_id = body.get("connection_id", body.get("source_id"))
    if not isinstance(conn_id, str):
        raise ApiError(400, "The import job needs 'connection_id' (from create_connection).")
    conn = _connection(request, conn_id)
    if conn["type"] != source_type:
        raise ApiError(400, f"Connection {conn_id!r} is a {conn['type']} connection, not {source_type}.")
    target = _required_text(body, "target_dataset")
    require(request, "record", "write", target)
    schedule = body.get("schedule")
    if schedule is not None:
        validate_cron(schedule)
    job_id = f"job_{uuid.uuid4().hex[:16]}"
    job = {
        "job_id": job_id,
        "source_id": conn_id,
        "source_type": source_type,
        "source_dataset": body.get("source_dataset"),
        "target_dataset": target,
        "query": body.get("query"),
        "status": "pending",
        "schedule": schedule,
        "created_at": now_iso(),
        "created_by": request.state.principal.user,
        "last_run": None,
        "next_run": None,
        "message": JOB_NOTE,
    }
    await services(request).collection("import_jobs").aput(job_id, job)
    return json_response(job)


async def list_import_jobs(request: Request) -> Response:
    require(request, "metadata", "read")
    jobs = sorted(services(request).collection("import_jobs").values(), key=lambda j: j["created_at"])
    return json_response(jobs)


async def delete_import_job(request: Request) -> Response:
    jobs = services(request).collection("import_jobs")
    job = jobs.get(request.path_params["job_id"])
    if job is None:
        raise ApiError(
            404,
            f"Import job {request.path_params['job_id']!r} not found; get_import_jobs lists them.",
        )
    require(request, "record", "write", job["target_dataset"])
    await jobs.adelete(job["job_id"])
    return json_response({"acknowledged": True})


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {
    3: {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())},
    4: {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())},
}
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def validate_cron(schedule: Any) -> None:
    """Accept a standard 5-field cron expression (or a macro like ``@daily``); 400 saying what is wrong."""
    if not isinstance(schedule, str):
        raise ApiError(400, "schedule must be a cron expression string such as '0 2 * * *'.")
    if schedule.strip().lower() in _CRON_MACROS:
        return
    fields = schedule.split()
    if len(fields) != 5:
        raise ApiError(
            400,
            f"schedule {schedule!r} has {len(fields)} fields; "
            "cron needs 5: minute hour day-of-month month day-of-week.",
        )
    for index, (text, (label, low, high)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        for item in text.split(","):
            _cron_item(schedule, item, index, label, low, high)


def _cron_item(schedule: str, item: str, index: int, label: str, low: int, high: int) -> None:
    def bad(why: str) -> ApiError:
        return ApiError(400, f"schedule {schedule!r}: {label} field {item!r} {why} (allowed {low}-{high}).")

    base, _, step = item.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise bad("has an invalid step")
    if base == "*":
        return
    bounds = base.split("-")
    if len(bounds) > 2 or not all(bounds):
        raise bad("is not a number, range or '*'")
    values = []
    for bound in bounds:
        value = _CRON_NAMES.get(index, {}).get(bound.upper()) if not bound.isdigit() else int(bound)
        if value is None:
            raise bad("is not a number, range or '*'")
        if not low <= value <= high:
            raise bad("is out of range")
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        raise bad("is a range whose start is after its end")


routes = [
    Route("/sources", list_sources, methods=["GET"]),
    Route("/sources/connections", list_connections, methods=["GET"]),
    Route("/source/{conn}/{ds}/dsl", query_source, methods=["POST"]),
    Route("/source/{conn}/{ds}/metadata", source_metadata, methods=["GET"]),
    Route("/source/{name}", create_connection, methods=["POST"]),
    Route("/source/{name}", get_connection, methods=["GET"]),
    Route("/source/{name}", update_connection, methods=["PATCH"]),
    Route("/source/{name}", delete_connection, methods=["DELETE"]),
    Route("/import/jobs", list_import_jobs, methods=["GET"]),
    Route("/import/jobs/{job_id}", delete_import_job, methods=["DELETE"]),
    Route("/import/{source_type}", create_import_job, methods=["PUT"]),
]
