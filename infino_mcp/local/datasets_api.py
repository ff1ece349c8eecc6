"""Dataset and record routes: create/delete/list datasets, metadata and schema,
NDJSON bulk writes, get by id, delete by QueryDSL query, enrichment policy.

``fixed_routes`` (``/`` and ``/metadata``) are mounted before every other
module's routes; ``dataset_routes`` (``/{ds}...``) after all of them, so a
dataset name never shadows a fixed path (the catalog refuses such names).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from infino_mcp.local.catalog import DatasetInfo
from infino_mcp.local.documents import ACTIONS, Op, apply_operations, bulk_response, get_document, id_generator
from infino_mcp.local.fastbulk import fast_append
from infino_mcp.local.http import ApiError, json_response, read_json, require, services
from infino_mcp.local.services import Services

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


async def _dataset(svc: Services, name: str) -> DatasetInfo:
    return await anyio.to_thread.run_sync(svc.catalog.get, name)


# ----- fixed paths -----------------------------------------------------------------------------


async def ping(request: Request) -> Response:
    return json_response({"version": API_VERSION})


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
        rows.append(await dataset_row(svc, await _dataset(svc, name)))
    return json_response(rows)


# ----- /{ds} -------------------------------------------------------------------------------------


async def create_dataset(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "dataset", "create", name)
    await anyio.to_thread.run_sync(services(request).catalog.create, name)
    return json_response({"acknowledged": True, "shards_acknowledged": True, "index": name})


async def delete_dataset(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "dataset", "delete", name)
    await anyio.to_thread.run_sync(services(request).catalog.drop, name)
    return json_response({"acknowledged": True})


async def dataset_metadata(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "metadata", "read", name)
    svc = services(request)
    info = await _dataset(svc, name)
    row = await dataset_row(svc, info)
    row["creation_date"] = info.created_at
    row["enrich_policy"] = info.enrich_policy
    return json_response(row)


async def dataset_schema(request: Request) -> Response:
    name = request.path_params["ds"]
    require(request, "metadata", "read", name)
    info = await _dataset(services(request), name)
    rules = services(request).rbac.field_rules(request.state.principal, name)
    return json_response(
        {
            field.name: {"source": SCHEMA_SOURCE, "infino_type": field.infino_type}
            for field in sorted(info.fields.values(), key=lambda f: f.name)
            if rules.identity or rules.visible(field.name)
        }
    )


def parse_bulk(body: bytes, default_index: str, *, documents: bool = True) -> list[tuple[str, Op]]:
    """NDJSON action/document pairs as (dataset, Op); ApiError(400) naming the bad line.
    With ``documents=False`` the document lines are kept as text only (``Op.source``)."""
    lines = body.decode("utf-8", errors="replace").split("\n")
    if not documents:
        uniform = _uniform_pairs(lines, default_index)
        if uniform is not None:
            return uniform
    parsed: list[tuple[str, Op]] = []
    actions: dict[str, tuple[str, str | None, str]] = {}  # repeated action lines are parsed once
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        known = actions.get(line)
        if known is None:
            simple = _SIMPLE_ACTION.fullmatch(line)
            if simple:
                known = (simple[1], simple[2], default_index)
            else:
                known = actions[line] = _action(line, i, default_index)
        action, doc_id, index = known
        document = source = None
        if action != "delete":
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i >= len(lines):
                raise ApiError(400, f"The {action} action on line [{i}] has no document line after it.")
            i += 1
            source = lines[i - 1].strip()
            document = _json_line(source, i) if documents else None
        parsed.append((index, Op(action, doc_id, document, source if action != "update" else None)))
    return parsed


# {"index": {"_id": "abc"}} and friends with a plain id: the commonest action line, matched
# without a JSON parse (ids with escapes or any other key take json.loads).
_SIMPLE_ACTION = re.compile(r'\{\s*"(index|create|update|delete)"\s*:\s*\{\s*"_id"\s*:\s*"([^"\\]*)"\s*\}\s*\}')


def _uniform_pairs(lines: list[str], default_index: str) -> list[tuple[str, Op]] | None:
    """The usual shape, handled with slicing: strictly alternating action/document lines
    whose action lines carry no id (so a few distinct texts); None for anything else."""
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if not lines or len(lines) % 2 or "" in lines:
        return None
    texts = set(lines[0::2])
    if len(texts) > 4:
        return None
    actions = {text: _action(text.strip(), 1, default_index) for text in texts}
    if any(action == "delete" or doc_id is not None for action, doc_id, _ in actions.values()):
        return None
    return [
        (actions[text][2], Op(actions[text][0], None, None, source.strip()))
        for text, source in zip(lines[0::2], lines[1::2], strict=True)
    ]


def _action(line: str, number: int, default_index: str) -> tuple[str, str | None, str]:
    action_line = _json_line(line, number)
    if not isinstance(action_line, dict) or len(action_line) != 1:
        raise ApiError(400, f"Malformed action line [{number}]: expected one object with one of {list(ACTIONS)}.")
    action, meta = next(iter(action_line.items()))
    if action not in ACTIONS:
        raise ApiError(400, f"Malformed action line [{number}]: expected one of {list(ACTIONS)} but found [{action}].")
    meta = meta if isinstance(meta, dict) else {}
    doc_id = meta.get("_id")
    return action, None if doc_id is None else str(doc_id), str(meta.get("_index") or default_index)


def _json_line(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"Line [{number}] of the NDJSON body is not JSON: {exc.msg} (column {exc.colno}).") from None


async def bulk(request: Request) -> Response:
    started = time.perf_counter()
    name = request.path_params["ds"]
    svc = services(request)
    body = await request.body()
    ops = await anyio.to_thread.run_sync(lambda: parse_bulk(body, name, documents=False))
    fast = await _fast_bulk(request, svc, ops)
    if fast is not None:
        return json_response(bulk_response(fast, started))
    ops = await anyio.to_thread.run_sync(parse_bulk, body, name)
    if _fast_candidate(ops) and len(ops) > LEARN_FIRST:
        # New fields: the general path types them from the first documents, then the
        # rest can usually take the fast path (same result as the general path for all).
        dataset = ops[0][0]
        if not svc.catalog.exists(dataset):
            require(request, "dataset", "create", dataset)
        require(request, "record", "write", dataset)
        head = await apply_operations(svc, dataset, [op for _, op in ops[:LEARN_FIRST]])
        rest = await _fast_bulk(request, svc, ops[LEARN_FIRST:])
        if rest is None:
            rest = await apply_operations(svc, dataset, [op for _, op in ops[LEARN_FIRST:]])
        return json_response(bulk_response(head + rest, started))
    by_dataset: dict[str, list[int]] = {}
    for position, (dataset, _) in enumerate(ops):
        by_dataset.setdefault(dataset, []).append(position)
    for dataset in by_dataset:
        if not svc.catalog.exists(dataset):
            require(request, "dataset", "create", dataset)
        require(request, "record", "write", dataset)
    items: list[dict] = [{}] * len(ops)
    for dataset, positions in by_dataset.items():
        results = await apply_operations(svc, dataset, [ops[p][1] for p in positions])
        for position, result in zip(positions, results, strict=True):
            items[position] = result
    return json_response(bulk_response(items, started))


LEARN_FIRST = 500


def _fast_candidate(ops: list[tuple[str, Op]]) -> bool:
    """Only index/create actions for one dataset, no id given twice."""
    if not ops or not all(dataset == ops[0][0] and op.action in ("index", "create") for dataset, op in ops):
        return False
    given = [op.id for _, op in ops if op.id is not None]
    return len(given) == len(set(given))


async def _fast_bulk(request: Request, svc: Services, ops: list[tuple[str, Op]]) -> list[dict] | None:
    """Items of a request of only new documents into one existing dataset written through
    ``fastbulk``; None when that path does not apply (nothing written then)."""
    if not _fast_candidate(ops):
        return None
    dataset = ops[0][0]
    if not svc.catalog.exists(dataset):
        return None
    require(request, "record", "write", dataset)
    info = await _dataset(svc, dataset)
    new_id = id_generator()
    ids = [op.id if op.id is not None else new_id() for _, op in ops]
    given = [op.id for _, op in ops if op.id is not None]
    sources = [op.source or "" for _, op in ops]
    if not await anyio.to_thread.run_sync(fast_append, svc.engine, info, sources, ids, given):
        return None
    return [
        {op.action: {"_index": dataset, "_id": doc_id, "result": "created", "status": 201, "_version": 1}}
        for (_, op), doc_id in zip(ops, ids, strict=True)
    ]


async def get_record(request: Request) -> Response:
    name, doc_id = request.path_params["ds"], request.path_params["id"]
    require(request, "record", "read", name)
    svc = services(request)
    await _dataset(svc, name)
    source = await get_document(svc, name, doc_id)
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
            "_source": source if rules.identity else rules.apply(source),
        }
    )


async def delete_by_query(request: Request) -> Response:
    from infino_mcp.local import querydsl
    from infino_mcp.local.documents import delete_where

    name = request.path_params["ds"]
    require(request, "record", "delete", name)
    svc = services(request)
    info = await _dataset(svc, name)
    body = await read_json(request, required=False) or {"query": {"match_all": {}}}
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a QueryDSL object such as {\"query\": {\"term\": {...}}}.")
    query = body.get("query", body)
    predicate = querydsl.where_sql(query, info)
    return json_response(await delete_where(svc, name, predicate))


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
    await anyio.to_thread.run_sync(services(request).catalog.set_enrich_policy, name, policy)
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
