"""The knowledge dataset: where dataset context and verified queries live, in the user's own Infino.

One reserved dataset, ``infino-mcp-knowledge``, created on first write through
the ordinary dataset API, so a team shares it and RBAC decides who reads or
writes it. Every record has the same fields (``FIELDS``); a ``kind: schema``
record written at creation gives each field its type before any other record.

Filters use ``dataset_key`` (a hex digest of the dataset name) and ``kind``,
single lower-case tokens that match exactly under any analyzer; ``question``
is searched with full-text relevance.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from infino_mcp.client import dataset_segment, is_service_error
from infino_mcp.errors import InfinoError

KNOWLEDGE_DATASET = "infino-mcp-knowledge"
SCHEMA_VERSION = 1
MAX_READ = 500  # records of one dataset's context read at once

# field -> what it holds; the README's schema table says the same.
FIELDS = {
    "kind": "schema, description, field, instruction or query",
    "dataset": "the dataset the record is about",
    "dataset_key": "sha256 of the dataset name, first 16 hex digits (exact filter)",
    "field": "kind=field: the field described",
    "text": "the description, field description or instruction",
    "question": "kind=query: the question the query answers (full-text searched)",
    "query": "kind=query: the query text",
    "language": "kind=query: sql, querydsl or promql",
    "saved_by": "access key id that wrote the record",
    "saved_at": "when it was written (ISO-8601, UTC)",
    "schema_version": "the record layout's version",
}
_SCHEMA_ID = "schema"
_PATH = f"/{dataset_segment(KNOWLEDGE_DATASET)}"


def digest(text: str, size: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def dataset_key(dataset: str) -> str:
    return digest(dataset, 16)


def record_id(kind: str, dataset: str, suffix: str = "") -> str:
    """The stored id: one record per (kind, dataset, suffix); saving again replaces it."""
    return f"{kind}:{dataset_key(dataset)}:{suffix}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_record(client: Any, kind: str, dataset: str, **values: str) -> dict[str, Any]:
    """A full record (every field present, so the layout never varies)."""
    record: dict[str, Any] = dict.fromkeys(FIELDS, "")
    record.update(
        kind=kind,
        dataset=dataset,
        dataset_key=dataset_key(dataset),
        saved_by=client.auth.access_key_id,
        saved_at=now_iso(),
        schema_version=SCHEMA_VERSION,
        **values,
    )
    return record


def refused(exc: InfinoError, action: str) -> InfinoError:
    """A plain 403 message naming the knowledge dataset; other errors pass through."""
    if not is_service_error(exc, 403):
        return exc
    detail = getattr(exc, "detail", "") or str(exc)
    need = "record read" if action == "read" else "metadata read and record write (dataset create the first time)"
    return InfinoError(
        f"Infino refused to {action} the knowledge dataset {KNOWLEDGE_DATASET!r} (HTTP 403: {detail.rstrip('.')}). "
        f"That needs {need} on {KNOWLEDGE_DATASET!r}: ask an Infino admin. Every other tool still works."
    )


async def _ensure(client: Any) -> None:
    """Create the knowledge dataset with its schema record unless it has every field already."""
    try:
        schema = await client.request("GET", f"{_PATH}/_schema", idempotent=True)
    except InfinoError as exc:
        if not is_service_error(exc, 404):
            raise
        try:
            await client.request("PUT", _PATH, idempotent=True)
        except InfinoError as created:
            if not is_service_error(created, 409):
                raise
        schema = {}
    if isinstance(schema, dict) and set(FIELDS) <= set(schema):
        return
    layout = new_record(client, "schema", "", text="the record layout of this dataset")
    await _bulk(client, [(_SCHEMA_ID, layout)])


async def _bulk(client: Any, pairs: list[tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
    lines = []
    for doc_id, record in pairs:
        if record is None:
            lines.append(json.dumps({"delete": {"_id": doc_id}}))
        else:
            lines.append(json.dumps({"index": {"_id": doc_id}}))
            lines.append(json.dumps(record, ensure_ascii=False))
    answer = await client.request(
        "POST",
        f"{_PATH}/json",
        idempotent=True,
        content=("\n".join(lines) + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    for item in answer.get("items", []) if isinstance(answer, dict) else []:
        result = next(iter(item.values()), {}) if isinstance(item, dict) and item else {}
        if isinstance(result, dict) and result.get("error") and result.get("status") != 404:
            raise InfinoError(f"Writing to the knowledge dataset {KNOWLEDGE_DATASET!r} failed: {result['error']}")
    return answer if isinstance(answer, dict) else {}


async def write(client: Any, pairs: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Store records (id, record) and delete ids paired with None, creating the dataset on first use."""
    try:
        await _ensure(client)
        await _bulk(client, pairs)
    except InfinoError as exc:
        raise refused(exc, "write to") from exc


async def search(client: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Hits (``_id``, ``_score``, ``_source``) of a QueryDSL body; none while the dataset does not exist."""
    try:
        answer = await client.request("GET", f"{_PATH}/querydsl", idempotent=True, json_body=body)
    except InfinoError as exc:
        if is_service_error(exc, 404):
            return []
        raise refused(exc, "read") from exc
    hits = answer.get("hits", {}) if isinstance(answer, dict) else {}
    return [h for h in hits.get("hits", []) if isinstance(h, dict) and isinstance(h.get("_source"), dict)]


def about(dataset: str, *kinds: str) -> list[dict[str, Any]]:
    """Filter clauses selecting one dataset's records of ``kinds``."""
    clauses: list[dict[str, Any]] = [{"term": {"dataset_key": dataset_key(dataset)}}]
    if kinds:
        clauses.append({"terms": {"kind": list(kinds)}})
    return clauses


async def records_of(client: Any, dataset: str) -> tuple[list[dict[str, Any]], bool]:
    """A dataset's context records (sources with their ``_id``), and whether MAX_READ cut them."""
    body = {"query": {"bool": {"filter": about(dataset)}}, "size": MAX_READ + 1}
    hits = await search(client, body)
    records = [{**h["_source"], "_id": h.get("_id")} for h in hits if h["_source"].get("dataset") == dataset]
    return records[:MAX_READ], len(hits) > MAX_READ
