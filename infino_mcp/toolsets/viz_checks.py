"""Catching a broken visualization when it is saved, not when it is drawn.

``checked_create`` and ``check_patched`` run the visualization over an empty
time window (zero rows where the dataset has the time column; the
visualization's own row limit otherwise) through the ordinary execute call, so
it works the same against Infino cloud and the local endpoint. A query the engine rejects becomes an
``InputError`` carrying the engine's message and the dataset's fields.
"""

from __future__ import annotations

from typing import Any

from infino_mcp.client import id_segment
from infino_mcp.errors import BadRequestError, InfinoError, InputError, NotFoundError
from infino_mcp.shaping import merge_patch, object_at
from infino_mcp.toolsets.datasets import fetch_schema

# An empty window: from and to at the epoch.
EMPTY_WINDOW = {"from": 0, "to": 0}
# Patch keys that change what the query returns.
QUERY_KEYS = ("source", "mapping", "filters")
SERVER_FIELDS = ("id", "schema_version", "created_at", "updated_at", "created_by")
_MAX_FIELDS = 60


async def query_problem(client: Any, viz_id: str) -> str | None:
    """The engine's message when the saved visualization's query fails, or None when it runs.

    Tried over an empty time window first (no rows to read); when that fails it is tried once without the
    window, so a dataset without the time column is not mistaken for a broken query.
    """
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}/data"
    problem = None
    for body in ({"time_range": EMPTY_WINDOW}, {}):
        try:
            await client.request("POST", path, operation="execute_visualization", idempotent=True, json_body=body)
        except (BadRequestError, NotFoundError) as exc:
            problem = (exc.detail or exc.message).strip().rstrip(".")
            continue
        return None
    return problem


async def fields_text(client: Any, attributes: dict[str, Any]) -> str:
    """``Fields of 'ds': a, b, ...`` for the visualization's dataset, or a sentence saying it is missing."""
    source = object_at(attributes, "source")
    dataset = source.get("index")
    if not isinstance(dataset, str) or not dataset:
        return "Name the dataset in source.index."
    try:
        schema = await fetch_schema(client, dataset)
    except NotFoundError:
        return f"Dataset {dataset!r} does not exist; call get_datasets to see the datasets that exist."
    except InfinoError:
        return f"Call get_dataset_schema for {dataset!r}'s fields."
    names = [f.field for f in schema.fields]
    shown = ", ".join(names[:_MAX_FIELDS]) + (
        f" (and {len(names) - _MAX_FIELDS} more)" if len(names) > _MAX_FIELDS else ""
    )
    return f"Fields of {dataset!r}: {shown or '(none: the dataset is empty)'}."


async def refusal(client: Any, attributes: dict[str, Any], problem: str, *, tool: str, kept: str) -> InputError:
    """The error a model reads: what failed, the engine's words, the valid fields and what to do."""
    fields = "" if "valid fields" in problem.lower() else await fields_text(client, attributes) + " "
    return InputError(
        f"{tool}: the visualization's query fails, so {kept}. The engine said: {problem}. {fields}"
        "Fix source.sql.raw_query (or mapping) and call again."
    )


async def delete_quietly(client: Any, viz_id: str) -> bool:
    """Delete a visualization this call made; False (never an error) when that failed."""
    path = f"/visualizations/{id_segment(viz_id, 'Visualization id')}"
    try:
        await client.request("DELETE", path, operation="delete_visualization", idempotent=True)
    except InfinoError:
        return False
    return True


async def checked_create(client: Any, body: dict[str, Any]) -> Any:
    """Create the visualization, try its query, and delete it again (refusing) when the query fails."""
    answer = await client.request(
        "POST", "/visualizations", operation="create_visualization", idempotent=False, json_body=body
    )
    viz_id = answer.get("id") if isinstance(answer, dict) else None
    problem = await query_problem(client, str(viz_id)) if viz_id else None
    if problem is None:
        return answer
    attributes = nested if isinstance(nested := answer.get("attributes"), dict) else body
    if await delete_quietly(client, str(viz_id)):
        kept = "nothing was saved"
    else:
        kept = f"it is saved as {viz_id} but broken (delete_visualization removes it)"
    raise await refusal(client, attributes, problem, tool="create_visualization", kept=kept)


async def check_patched(client: Any, current: dict[str, Any], patch: dict[str, Any]) -> None:
    """Try the query ``patch`` would give ``current`` on a short-lived copy; refuse when it fails."""
    if not any(key in patch for key in QUERY_KEYS):
        return
    merged = merge_patch({k: v for k, v in current.items() if k not in SERVER_FIELDS}, patch)
    try:
        trial = await client.request(
            "POST", "/visualizations", operation="update_visualization", idempotent=False, json_body=merged
        )
    except BadRequestError as exc:
        detail = (exc.detail or exc.message).strip().rstrip(".")
        raise InputError(
            f"update_visualization: the patched visualization is not valid, so nothing was changed: {detail}."
        ) from None
    trial_id = str(trial.get("id")) if isinstance(trial, dict) and trial.get("id") else None
    if trial_id is None:
        return
    try:
        problem = await query_problem(client, trial_id)
    finally:
        await delete_quietly(client, trial_id)
    if problem is not None:
        raise await refusal(client, merged, problem, tool="update_visualization", kept="nothing was changed")
