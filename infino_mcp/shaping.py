"""Turning service answers into bounded, compact results for a model.

Every tool that can return many items pages with ``limit``/``offset`` and
also keeps the serialized items within ``Settings.max_result_bytes``. When it
cuts anything it says so in ``note`` and says how to get the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field


class Page(BaseModel):
    """Paging facts every list-like result carries."""

    total: int | None = Field(default=None, description="How many items exist in all (when known).")
    returned: int = Field(description="How many items are in this result.")
    offset: int = Field(default=0, description="Offset of the first returned item.")
    truncated: bool = Field(description="True when more items exist than were returned.")
    next_offset: int | None = Field(default=None, description="Offset to pass to get the next items, when truncated.")
    note: str | None = Field(default=None, description="What was cut and how to get the rest.")


def compact_json(value: Any) -> str:
    """``value`` as JSON without spaces: what results cost a model is counted in these bytes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def json_size(value: Any) -> int:
    return len(compact_json(value).encode())


def fit(items: Sequence[Any], *, max_bytes: int) -> int:
    """How many leading ``items`` fit in ``max_bytes`` of compact JSON (at least one, if any)."""
    used = 2
    for count, item in enumerate(items):
        used += json_size(item) + 1
        if used > max_bytes and count > 0:
            return count
    return len(items)


def page(
    items: Sequence[Any],
    *,
    offset: int,
    limit: int,
    max_bytes: int,
    total: int | None = None,
    more_hint: str = "",
) -> tuple[list[Any], Page]:
    """Cut ``items`` (already starting at ``offset``) to ``limit`` and the byte budget.

    ``total`` is the number of items in all, when the service says so;
    otherwise ``len(items) + offset``.
    """
    total = offset + len(items) if total is None else total
    kept = list(items[:limit])
    fitting = fit(kept, max_bytes=max_bytes)
    by_bytes = fitting < len(kept)
    kept = kept[:fitting]
    notes = []
    if kept and json_size(kept[0]) > max_bytes:
        kept[0] = shortened(kept[0], max_bytes // 4)
        notes.append(
            f"A value larger than the {max_bytes}-byte result budget was cut (marked '{CUT_MARK}'); "
            "ask for a part of it to read more (in SQL: substr(column, 1, 2000))."
        )
    end = offset + len(kept)
    truncated = end < total
    if truncated:
        reason = f"the {max_bytes}-byte result budget" if by_bytes else f"limit={limit}"
        notes.insert(
            0,
            f"Returned items {offset}..{end - 1} of {total}; cut by {reason}. "
            f"Call again with offset={end} for more{more_hint}.",
        )
    note = " ".join(notes) or None
    return kept, Page(
        total=total,
        returned=len(kept),
        offset=offset,
        truncated=truncated,
        next_offset=end if truncated else None,
        note=note,
    )


CUT_MARK = "…[cut]"


def shortened(value: Any, max_bytes: int) -> Any:
    """``value`` with each string and list longer than ``max_bytes`` of JSON cut to about that size."""
    if isinstance(value, str):
        if len(value.encode()) <= max_bytes:
            return value
        return value.encode()[:max_bytes].decode(errors="ignore") + CUT_MARK
    if isinstance(value, dict):
        return {k: shortened(v, max_bytes) for k, v in value.items()}
    if isinstance(value, list):
        items = [shortened(v, max_bytes) for v in value]
        if json_size(items) <= max_bytes:
            return items
        return [*items[: fit(items, max_bytes=max_bytes)], CUT_MARK]
    return value


def pruned(value: Any) -> Any:
    """``value`` without empty members (None, "", [], {}), recursively: they tell a model nothing."""
    if isinstance(value, dict):
        kept = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: apply ``patch`` to ``target`` and return the result (inputs untouched)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def object_at(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when ``data`` is an object holding an object there, else ``{}`` (answers vary in shape)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def list_at(data: Any, key: str) -> list[Any]:
    """``data[key]`` when ``data`` is an object holding a list there, else ``[]``."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []
