"""Knowledge that compounds: dataset profiles, business context and verified queries.

Context (description, field descriptions, instructions) and verified queries
are records of the reserved dataset ``infino-mcp-knowledge`` in the user's
own Infino (see ``knowledge_store``); profiles are computed with SQL through
the normal query path (see ``profiling``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import dataset_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, running, settings_of
from infino_mcp.state import app_state
from infino_mcp.toolsets import knowledge_store as store
from infino_mcp.toolsets import (
    query as query_tools,  # the module: so that specs_in(knowledge) does not list the query tools
)
from infino_mcp.toolsets.datasets import fetch_schema
from infino_mcp.toolsets.profiling import DatasetProfile, compute_profile

Dataset = Annotated[str, Field(description="Dataset name.")]
Language = Annotated[Literal["sql", "querydsl", "promql"], Field(description="The query's language.")]
NEWEST_QUERIES = 5
MAX_ITEMS = 100
_LIMITS = {"description": 2000, "field description": 500, "instruction": 1000, "question": 500, "query": 20_000}


def _check(dataset: str) -> None:
    dataset_segment(dataset)
    if dataset == store.KNOWLEDGE_DATASET:
        raise InputError(f"{dataset!r} holds the knowledge itself; pass the dataset it describes.")


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InputError(f"{what} is empty: pass the text.")
    if len(value) > _LIMITS[what]:
        raise InputError(f"{what} is {len(value)} characters; the limit is {_LIMITS[what]}. Shorten it.")
    return value


# ---------------------------------------------------------------- profiles


async def profile_of(ctx: Context, dataset: str, fields: list[str] | None = None) -> DatasetProfile:
    """A dataset's profile, from the cache while it is fresh; also used by the profile resource."""
    _check(dataset)
    client = client_of(ctx)
    key = (client.auth.access_key_id, dataset, tuple(fields or ()))
    max_age = settings_of(ctx).profile_cache_seconds
    cache = app_state(ctx).profiles
    found = cache.get(key, max_age) if max_age else None
    if found is not None:
        return found.model_copy(update={"cached": True})
    profile = await compute_profile(client, dataset, fields)
    if max_age:
        cache.put(key, profile)
    return profile


@infino_tool(Toolset.KNOWLEDGE, title="Profile a dataset", read_only=True, destructive=False, idempotent=True)
async def profile_dataset(
    ctx: Context,
    dataset: Dataset,
    fields: Annotated[list[str] | None, Field(description="Fields to profile. Default: all.")] = None,
) -> DatasetProfile:
    """Per field: type, count, null share, distinct count, min/max, top values, examples.

    Large datasets are sampled (it says how); results are cached a few minutes."""
    return await profile_of(ctx, dataset, fields)


# ---------------------------------------------------------------- context


class Instruction(BaseModel):
    id: str = Field(description="For remove_dataset_context.")
    text: str


class VerifiedQuery(BaseModel):
    id: str = Field(description="For remove_dataset_context.")
    question: str
    query: str
    language: str
    saved_by: str
    saved_at: str
    score: float | None = Field(default=None, description="Relevance to the question asked.")


class DatasetContext(BaseModel):
    dataset: str
    description: str | None = None
    fields: dict[str, str] = Field(default_factory=dict, description="Field descriptions (ids: field:<name>).")
    instructions: list[Instruction] = Field(default_factory=list, description="Rules every query must follow.")
    verified_queries: list[VerifiedQuery] = Field(default_factory=list, description="The newest saved queries.")
    verified_query_count: int = 0
    note: str | None = None


def _item_id(record: dict[str, Any]) -> str:
    kind = record.get("kind", "")
    if kind == "description":
        return "description"
    if kind == "field":
        return f"field:{record.get('field', '')}"
    return f"{kind}:{str(record.get('_id', '')).rsplit(':', 1)[-1]}"


def _verified(record: dict[str, Any], score: float | None = None) -> VerifiedQuery:
    return VerifiedQuery(
        id=_item_id(record),
        question=str(record.get("question", "")),
        query=str(record.get("query", "")),
        language=str(record.get("language", "")),
        saved_by=str(record.get("saved_by", "")),
        saved_at=str(record.get("saved_at", "")),
        score=score,
    )


async def context_of(ctx: Context, dataset: str) -> DatasetContext:
    """Everything saved about ``dataset``; also used by the context resource."""
    _check(dataset)
    records, cut = await store.records_of(client_of(ctx), dataset)
    result = DatasetContext(dataset=dataset)
    queries = []
    for record in records:
        kind = record.get("kind")
        if kind == "description":
            result.description = record.get("text")
        elif kind == "field":
            result.fields[str(record.get("field"))] = str(record.get("text", ""))
        elif kind == "instruction":
            result.instructions.append(Instruction(id=_item_id(record), text=str(record.get("text", ""))))
        elif kind == "query":
            queries.append(_verified(record))
    queries.sort(key=lambda q: q.saved_at, reverse=True)
    result.verified_queries = queries[:NEWEST_QUERIES]
    result.verified_query_count = len(queries)
    result.instructions.sort(key=lambda i: i.text)
    result.fields = dict(sorted(result.fields.items()))
    if len(queries) > NEWEST_QUERIES:
        result.note = "find_verified_queries finds the saved queries closest to a question."
    if cut:
        result.note = f"Only the first {store.MAX_READ} records were read."
    if not records:
        result.note = "Nothing saved for this dataset yet: set_dataset_context and save_verified_query add to it."
    return result


@infino_tool(Toolset.KNOWLEDGE, title="Get a dataset's context", read_only=True, destructive=False, idempotent=True)
async def get_dataset_context(ctx: Context, dataset: Dataset) -> DatasetContext:
    """The team's description, field descriptions, instructions and newest verified queries for a dataset.

    Read it before the first query on a dataset and follow its instructions."""
    return await context_of(ctx, dataset)


class Saved(BaseModel):
    saved: list[str] = Field(description="Ids of the items saved.")


@infino_tool(Toolset.KNOWLEDGE, title="Set a dataset's context", read_only=False, destructive=False, idempotent=True)
async def set_dataset_context(
    ctx: Context,
    dataset: Dataset,
    description: Annotated[str | None, Field(description="What the dataset holds (replaces the old one).")] = None,
    fields: Annotated[dict[str, str] | None, Field(description="{field: what it means, its unit}.")] = None,
    instructions: Annotated[
        list[str] | None, Field(description="Rules to add, e.g. 'revenue excludes refunds'.")
    ] = None,
) -> Saved:
    """Save shared knowledge about a dataset for every later session; only what is given changes."""
    _check(dataset)
    if description is None and not fields and not instructions:
        raise InputError("Nothing to set: pass description, fields or instructions.")
    if len(fields or ()) + len(instructions or ()) > MAX_ITEMS:
        raise InputError(f"At most {MAX_ITEMS} fields and instructions per call: split them over several calls.")
    client = client_of(ctx)
    pairs: list[tuple[str, dict[str, Any] | None]] = []
    known = {f.field for f in (await fetch_schema(client, dataset)).fields}  # the dataset must exist
    if description is not None:
        text = _text(description, "description")
        pairs.append(
            (store.record_id("description", dataset), store.new_record(client, "description", dataset, text=text))
        )
    if fields:
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InputError(
                f"{', '.join(map(repr, unknown))} not in {dataset!r}; its fields: {', '.join(sorted(known))}."
            )
        for name, meaning in fields.items():
            record = store.new_record(client, "field", dataset, field=name, text=_text(meaning, "field description"))
            pairs.append((store.record_id("field", dataset, store.digest(name)), record))
    for rule in instructions or []:
        text = _text(rule, "instruction")
        pairs.append(
            (
                store.record_id("instruction", dataset, store.digest(text)),
                store.new_record(client, "instruction", dataset, text=text),
            )
        )
    await store.write(client, pairs)
    return Saved(saved=[_item_id({**record, "_id": doc_id}) for doc_id, record in pairs if record])


class Removed(BaseModel):
    removed: list[str]
    not_found: list[str] = Field(default_factory=list)


@infino_tool(
    Toolset.KNOWLEDGE, title="Remove dataset context", read_only=False, destructive=True, idempotent=True, confirm=True
)
async def remove_dataset_context(
    ctx: Context,
    dataset: Dataset,
    ids: Annotated[
        list[str],
        Field(description="Ids from get_dataset_context: description, field:<name>, instruction:<id>, query:<id>."),
    ],
) -> Removed:
    """Remove saved descriptions, instructions or verified queries of a dataset."""
    _check(dataset)
    if not ids:
        raise InputError("ids is empty: pass ids that get_dataset_context shows.")
    present = {_item_id(r): r["_id"] for r in (await store.records_of(client_of(ctx), dataset))[0]}
    wanted = list(dict.fromkeys(ids))
    found = [i for i in wanted if i in present]
    if found:
        await store.write(client_of(ctx), [(present[i], None) for i in found])
    return Removed(removed=found, not_found=[i for i in wanted if i not in present])


# ---------------------------------------------------------------- verified queries


async def _run_once(ctx: Context, dataset: str, query: str, language: str) -> None:
    """Run ``query`` once with its language's tool; InputError with the service's message when it fails."""
    try:
        if language == "sql":
            with running(query_tools.query_dataset_in_sql):
                await query_tools.query_dataset_in_sql(
                    ctx, query=query, limit=1, offset=0, raw=False, row_format="objects"
                )
        elif language == "querydsl":
            with running(query_tools.query_dataset_in_querydsl):
                await query_tools.query_dataset_in_querydsl(
                    ctx, dataset=dataset, query=query, limit=1, offset=0, raw=False
                )
        else:
            with running(query_tools.query_dataset_in_promql):
                await query_tools.query_dataset_in_promql(ctx, query=query, dataset=dataset, time=None, limit=1)
    except InfinoError as exc:
        raise InputError(f"Not saved: the query failed when run: {exc}") from None


@infino_tool(Toolset.KNOWLEDGE, title="Save a verified query", read_only=False, destructive=False, idempotent=True)
async def save_verified_query(
    ctx: Context,
    dataset: Dataset,
    question: Annotated[str, Field(description="The user's question, in their words.")],
    query: Annotated[str, Field(description="The query that answered it.")],
    language: Language,
) -> VerifiedQuery:
    """Save a question and the query whose answer the user confirmed, for later sessions to reuse.

    Runs the query once and refuses one that fails. Saving the same question again replaces it."""
    _check(dataset)
    question, query = _text(question, "question"), _text(query, "query")
    client = client_of(ctx)
    await fetch_schema(client, dataset)  # the dataset must exist
    await _run_once(ctx, dataset, query, language)
    record = store.new_record(client, "query", dataset, question=question, query=query, language=language)
    doc_id = store.record_id("query", dataset, store.digest(" ".join(question.lower().split())))
    await store.write(client, [(doc_id, record)])
    return _verified({**record, "_id": doc_id})


class VerifiedQueries(BaseModel):
    queries: list[VerifiedQuery]
    note: str | None = None


@infino_tool(Toolset.KNOWLEDGE, title="Find verified queries", read_only=True, destructive=False, idempotent=True)
async def find_verified_queries(
    ctx: Context,
    dataset: Dataset,
    question: Annotated[str, Field(description="The question to answer.")],
    limit: Annotated[int, Field(ge=1, le=20, description="Most queries to return.")] = 3,
) -> VerifiedQueries:
    """Saved queries whose questions best match this one (full-text relevance), best first.

    Reuse or adapt one before writing a new query."""
    _check(dataset)
    body = {
        "query": {
            "bool": {
                "must": [{"match": {"question": _text(question, "question")}}],
                "filter": store.about(dataset, "query"),
            }
        },
        "size": limit,
    }
    hits = await store.search(client_of(ctx), body)
    found = [
        _verified({**h["_source"], "_id": h.get("_id")}, h.get("_score"))
        for h in hits
        if h["_source"].get("dataset") == dataset
    ]
    return VerifiedQueries(queries=found, note=None if found else "No saved question matches; write the query.")
