"""``POST /{ds}/json``: NDJSON bulk writes, ES-style ``{took, errors, items}``.

Three ways through, all with the same outcome (see ``fastbulk`` and ``documents``);
the first two only for requests of at least ``FAST_MIN_DOCS`` documents:

1. a *uniform* request (alternating lines, the same id-less ``index``/``create``
   action on every pair, the usual shape of bulk ingest) into an existing dataset:
   the document lines go to ``fastbulk`` without being parsed in Python, and the
   response is rendered from a template;
2. other requests of only new documents (ids given once, not stored yet): also
   ``fastbulk``; when a request brings new fields, its first ``LEARN_FIRST``
   documents go through the general path (which declares the fields), the rest
   through ``fastbulk``;
3. everything else, and whatever ``fastbulk`` refuses: the general path.

A malformed line fails the whole request with 400 before anything is written.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from infino_mcp.local.api.http import require, services, sized_json_response
from infino_mcp.local.errors import ApiError
from infino_mcp.local.services import Services
from infino_mcp.local.storage.documents import (
    ACTIONS,
    Op,
    bulk_response,
    id_generator,
)
from infino_mcp.local.storage.fastbulk import fast_append

LEARN_FIRST = 500
# Smaller requests take the general path, whose writer groups concurrent requests into one
# commit; the fast path commits each request on its own.
FAST_MIN_DOCS = 64

# {"index": {"_id": "abc"}} and friends with a plain id: the commonest action line, matched
# without a JSON parse (ids with escapes or any other key take json.loads).
_SIMPLE_ACTION = re.compile(r'\{\s*"(index|create|update|delete)"\s*:\s*\{\s*"_id"\s*:\s*"([^"\\]*)"\s*\}\s*\}')


_SIMPLE_ACTIONS = re.compile(
    r'^[ \t]*\{[ \t]*"(index|create)"[ \t]*:[ \t]*\{[ \t]*"_id"[ \t]*:[ \t]*"([^"\\\n]*)"[ \t]*\}[ \t]*\}[ \t]*$',
    re.MULTILINE,
)


@dataclass
class Uniform:
    """A request whose every pair is the same index/create action on one dataset, either
    all without ids or all with a plain id given once (``ids``)."""

    dataset: str
    action: str
    sources: list[str]
    ids: list[str] | None = None


def _lines(body: bytes) -> list[str]:
    return body.decode("utf-8", errors="replace").split("\n")


def uniform_request(body: bytes, default_index: str) -> Uniform | None:
    """The request as a ``Uniform`` when it has that shape (found by slicing, no per-line
    parsing), None otherwise. Bodies with ``NaN``/``Infinity`` anywhere are not uniform."""
    if b"NaN" in body or b"Infinity" in body or b"\r" in body:
        return None
    lines = _lines(body)
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or len(lines) % 2 or "" in lines:
        return None
    texts = set(lines[0::2])
    if len(texts) == len(lines) // 2 > 1:
        return _uniform_with_ids(lines, default_index)
    if len(texts) != 1:
        return None
    try:
        action, doc_id, dataset = _action(texts.pop().strip(), 1, default_index)
    except ApiError:
        return None
    if action not in ("index", "create") or doc_id is not None:
        return None
    return Uniform(dataset, action, lines[1::2])


def _uniform_with_ids(lines: list[str], default_index: str) -> Uniform | None:
    matches = _SIMPLE_ACTIONS.findall("\n".join(lines[0::2]))
    if len(matches) != len(lines) // 2 or len({action for action, _ in matches}) != 1:
        return None
    ids = [doc_id for _, doc_id in matches]
    if len(set(ids)) != len(ids):
        return None
    return Uniform(default_index, matches[0][0], lines[1::2], ids)


def parse_bulk(body: bytes, default_index: str, *, documents: bool = True) -> list[tuple[str, Op]]:
    """NDJSON action/document pairs as (dataset, Op); ApiError(400) naming the bad line.
    With ``documents=False`` the document lines are kept as text only (``Op.source``)."""
    lines = _lines(body)
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
        raise ApiError(
            400, f"Line [{number}] of the NDJSON body is not JSON: {exc.msg} (column {exc.colno})."
        ) from None


# ----- the route ------------------------------------------------------------------------------


async def bulk(request: Request) -> Response:
    started = time.perf_counter()
    name = request.path_params["ds"]
    svc = services(request)
    body = await request.body()
    uniform = await anyio.to_thread.run_sync(uniform_request, body, name)
    if uniform is not None:
        fast = await _fast_uniform(request, svc, uniform, started)
        if fast is not None:
            return fast
    else:
        ops = await anyio.to_thread.run_sync(lambda: parse_bulk(body, name, documents=False))
        items = await _fast_ops(request, svc, ops)
        if items is not None:
            return await sized_json_response(bulk_response(items, started), size=len(items))
    ops = await anyio.to_thread.run_sync(parse_bulk, body, name)
    if _fast_candidate(ops) and len(ops) > LEARN_FIRST:
        # New fields: the general path types them from the first documents, then the
        # rest can usually take the fast path (same result as the general path for all).
        dataset = ops[0][0]
        _require_write(request, svc, dataset)
        head = await svc.writer.write(dataset, [op for _, op in ops[:LEARN_FIRST]])
        rest = await _fast_ops(request, svc, ops[LEARN_FIRST:])
        if rest is None:
            rest = await svc.writer.write(dataset, [op for _, op in ops[LEARN_FIRST:]])
        return await sized_json_response(bulk_response(head + rest, started), size=len(ops))
    by_dataset: dict[str, list[int]] = {}
    for position, (dataset, _) in enumerate(ops):
        by_dataset.setdefault(dataset, []).append(position)
    for dataset in by_dataset:
        _require_write(request, svc, dataset)
    items = [{}] * len(ops)
    for dataset, positions in by_dataset.items():
        results = await svc.writer.write(dataset, [ops[p][1] for p in positions])
        for position, result in zip(positions, results, strict=True):
            items[position] = result
    return await sized_json_response(bulk_response(items, started), size=len(items))


def _require_write(request: Request, svc: Services, dataset: str) -> None:
    if not svc.catalog.exists(dataset):
        require(request, "dataset", "create", dataset)
    require(request, "record", "write", dataset)


async def _fast_uniform(request: Request, svc: Services, uniform: Uniform, started: float) -> Response | None:
    if len(uniform.sources) < FAST_MIN_DOCS or not svc.catalog.exists(uniform.dataset):
        return None
    require(request, "record", "write", uniform.dataset)
    info = svc.catalog.get(uniform.dataset)
    if uniform.ids is None:
        new_id = id_generator()
        ids, given = [new_id() for _ in uniform.sources], []
    else:
        ids = given = uniform.ids
    if not await anyio.to_thread.run_sync(fast_append, svc.engine, info, uniform.sources, ids, given, True):
        return None
    # Generated ids are hex digits and given ones matched without quotes, backslashes or
    # newlines: safe inside JSON quotes as they are.
    head = '{"%s":{"_index":%s,"_id":"' % (uniform.action, json.dumps(uniform.dataset, ensure_ascii=False))
    tail = '","result":"created","status":201,"_version":1}}'
    took = int((time.perf_counter() - started) * 1000)
    text = '{"took":%d,"errors":false,"items":[%s]}' % (took, ",".join(head + i + tail for i in ids))
    return Response(text.encode(), media_type="application/json")


def _fast_candidate(ops: list[tuple[str, Op]]) -> bool:
    """Only index/create actions for one dataset, no id given twice."""
    if not ops or not all(dataset == ops[0][0] and op.action in ("index", "create") for dataset, op in ops):
        return False
    given = [op.id for _, op in ops if op.id is not None]
    return len(given) == len(set(given))


async def _fast_ops(request: Request, svc: Services, ops: list[tuple[str, Op]]) -> list[dict] | None:
    """Items of a request of only new documents into one existing dataset written through
    ``fastbulk``; None when that path does not apply (nothing written then)."""
    if len(ops) < FAST_MIN_DOCS or not _fast_candidate(ops):
        return None
    dataset = ops[0][0]
    if not svc.catalog.exists(dataset):
        return None
    require(request, "record", "write", dataset)
    info = svc.catalog.get(dataset)
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
