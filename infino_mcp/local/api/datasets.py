"""Dataset and record routes: create/delete/list datasets, metadata and schema,
NDJSON bulk writes (``bulk.py``), get by id, delete by QueryDSL query, enrichment policy.

``fixed_routes`` (``/`` and ``/metadata``) are mounted before every other
module's routes; ``dataset_routes`` (``/{ds}...``) after all of them, so a
dataset name never shadows a fixed path (the catalog refuses such names).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from infino_mcp.local.api.bulk import bulk
from infino_mcp.local.api.http import json_response, read_json, require, services
from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl import search as querydsl
from infino_mcp.local.services import Services
from infino_mcp.local.sql.execute import delete_matching
from infino_mcp.local.storage.catalog import DatasetInfo
from infino_mcp.local.storage.documents import get_document

API_VERSION = "2025-06-30"
SCHEMA_SOURCE = "Logs"


def format_size(size: int) -> str:
    """Bytes the way the ES cat API prints them (``812b``, ``2.8kb``, ``1.1mb``)."""
    if size < 1024:
        return f"{size}b"
    value = float(size)
    for unit in ("kb", "mb", "gb", "tb"):
        value /= 1024
        if value < 1024 or unit == "tb":
            return f"{value:.1f}{unit}"
    return f"{size}b"


async def dataset_row(svc: Services, info: DatasetInfo) -> dict[str, Any]:
    """One ``_cat/indices``-like row: every value a string, as the service sends it."""
    count = (await svc.engine.query(f'SELECT count(*) AS n FROM "{info.table}"')).column(0)[0].as_py()
    size = format_size(await anyio.to_thread.run_sync(svc.engine.store_size, info.table))
    return {
        "health": "green",
        "status": "open",
        "index": info.name,
        "uuid": info.uuid or f"{info.name}-uuid",
        "pri": "1",
        "rep": "0",
        "docs.count": str(count),
        "docs.deleted": "0",
        "store.size": size,
        "pri.store.size": size,
    }


# ----- fixed paths -----------------------------------------------------------------------------


async def ping(request: Request) -> Response:
    # Which process serves this data directory: several local-mode processes may share it.
    served = {"data_dir": str(services(request).data_dir), "pid": os.getpid()}
    return json_response({"version": API_VERSION, "local": served})


async def list_datasets(request: Request) -> Response:
    svc = services(request)
    rows = []
    for name in svc.catalog.names():
        try:
            require(request, "metadata", "read", name)
        except ApiError as exc:
            if exc.status == 403:
                continue
            raise
        rows.append(await dataset_row(svc, svc.catalog.get(name)))
    return json_response(rows)


# ----- /{ds} -------------------------------------------------------------------------------------


async def create_dataset(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "dataset", "create", name)
    await services(request).catalog.acreate(name)
    return json_response({"acknowledged": True, "shards_acknowledged": True, "index": name})


async def delete_dataset(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "dataset", "delete", name)
    await services(request).catalog.adrop(name)
    return json_response({"acknowledged": True})


async def dataset_metadata(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "metadata", "read", name)
    svc = services(request)
    info = svc.catalog.get(name)
    row = await dataset_row(svc, info)
    row["creation_date"] = info.created_at
    row["enrich_policy"] = info.enrich_policy
    return json_response(row)


async def dataset_schema(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "metadata", "read", name)
    info = services(request).catalog.get(name)
    rules = services(request).rbac.field_rules(request.state.principal, name)
    return json_response(
        {
            field.name: {"source": SCHEMA_SOURCE, "infino_type": field.infino_type}
            for field in sorted(info.fields.values(), key=lambda f: f.name)
            if rules.identity or rules.visible(field.name)
        }
    )


async def get_record(request: Request) -> Response:
    name, doc_id = request.path_params["ds"], request.path_params["id"]
    require(request, "record", "read", name)
    svc = services(request)
    svc.catalog.get(name)
    source = await get_document(svc.writer, name, doc_id)
    if source is None:
        return json_response({"_index": name, "_id": doc_id, "found": False}, 404)
    rules = svc.rbac.field_rules(request.state.principal, name)
    return json_response(
        {
            "_index": name,
            "_id": doc_id,
            "_version": 1,
            "_seq_no": 0,
            "_primary_term": 1,
            "found": True,
            "_source": source if rules.identity else rules.apply({"_source": source})["_source"],
        }
    )


async def delete_by_query(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "record", "delete", name)
    svc = services(request)
    info = svc.catalog.get(name)
    body = await read_json(request, required=False) or {"query": {"match_all": {}}}
    if not isinstance(body, dict):
        raise ApiError(400, 'The body must be a QueryDSL object such as {"query": {"term": {...}}}.')
    query = body.get("query", body)
    principal = request.state.principal
    rules = svc.rbac.field_rules(principal, name) if principal is not None else None
    predicate = querydsl.where_sql(query, info, rules, getattr(principal, "user", ""))
    return json_response(await delete_matching(svc, name, predicate, rules))


async def enrich_dataset(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "dataset", "write", name)
    policy = await read_json(request)
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError:
            raise ApiError(400, "The enrichment policy must be a JSON object.") from None
    if not isinstance(policy, dict):
        raise ApiError(400, "The enrichment policy must be a JSON object.")
    await services(request).catalog.aset_enrich_policy(name, policy)
    return json_response({"acknowledged": True, "index": name, "enrich_policy": policy})


fixed_routes: list[BaseRoute] = [
    Route("/", ping, methods=["GET"]),
    Route("/metadata", list_datasets, methods=["GET"]),
]

dataset_routes: list[BaseRoute] = [
    Route("/{ds}", create_dataset, methods=["PUT"]),
    Route("/{ds}", delete_dataset, methods=["DELETE"]),
    Route("/{ds}", delete_by_query, methods=["PATCH"]),
    Route("/{ds}/metadata", dataset_metadata, methods=["GET"]),
    Route("/{ds}/_schema", dataset_schema, methods=["GET"]),
    Route("/{ds}/json", bulk, methods=["POST"]),
    Route("/{ds}/doc/{id:path}", get_record, methods=["GET"]),
    Route("/{ds}/enrich_dataset", enrich_dataset, methods=["POST"]),
]
routes: list[BaseRoute] = [*fixed_routes, *dataset_routes]
