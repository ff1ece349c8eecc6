"""Bulk write results: each record's id and result (created, updated, error) and the counts, within the byte budget."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from infino_mcp.shaping import Page, compact_json, page


class BulkItem(BaseModel):
    record: int = Field(description="1-based position of the record in the request.")
    id: str | None = Field(default=None, description="The id the record has (given or assigned by the service).")
    result: str = Field(description="created, updated, ... or error.")
    error: Any = Field(default=None, description="For result=error: what the service said.")


class BulkResult(BaseModel):
    errors: bool = Field(description="True when at least one item failed.")
    succeeded: int
    failed: int
    results: dict[str, int] = Field(description="How many items got each result (created, updated, error...).")
    items: list[BulkItem] = Field(description="Each record's id and result in request order; when cut, failures first.")
    page: Page
    took_ms: int | None = None

    def as_text(self) -> str:
        """Counts, then one ``record,id,result`` line per item, then each error and the paging note."""
        counts = ", ".join(f"{n} {result}" for result, n in self.results.items())
        lines = [f"{self.succeeded} succeeded, {self.failed} failed ({counts or 'no items'}).", "record,id,result"]
        lines += [f"{i.record},{i.id if i.id is not None else ''},{i.result}" for i in self.items]
        lines += [f"record {i.record} error: {compact_json(i.error)}" for i in self.items if i.error is not None]
        if self.page.note:
            lines.append(self.page.note)
        return "\n".join(lines)


def bulk_result(answer: Any, max_bytes: int) -> BulkResult:
    """A bulk answer (``{took, errors, items}``) with every item's id and result, cut to ``max_bytes``."""
    raw = answer.get("items", []) if isinstance(answer, dict) else []
    items = []
    for number, item in enumerate(raw, 1):
        outcome = next(iter(item.values()), {}) if isinstance(item, dict) and item else {}
        outcome = outcome if isinstance(outcome, dict) else {}
        error = outcome.get("error")
        doc_id = outcome.get("_id")
        result = "error" if error else str(outcome.get("result") or outcome.get("status") or "unknown")
        items.append(BulkItem(record=number, id=None if doc_id is None else str(doc_id), result=result, error=error))
    results: dict[str, int] = {}
    for item in items:
        results[item.result] = results.get(item.result, 0) + 1
    failed = results.get("error", 0)
    ordered = [i for i in items if i.error is not None] + [i for i in items if i.error is None]
    kept, info = page(
        [i.model_dump(exclude_none=True) for i in ordered], offset=0, limit=len(ordered), max_bytes=max_bytes
    )
    if info.truncated:
        info.note = (
            f"Listed {len(kept)} of {len(items)} items (failures first), cut by the {max_bytes}-byte result budget; "
            "the counts cover every item. Send fewer records per call to see every id."
        )
        info.next_offset = None
    shown = [BulkItem(**k) for k in kept]
    if not info.truncated:
        shown.sort(key=lambda i: i.record)
    return BulkResult(
        errors=bool(answer.get("errors")) if isinstance(answer, dict) else bool(failed),
        succeeded=len(items) - failed,
        failed=failed,
        results=results,
        items=shown,
        page=info,
        took_ms=answer.get("took") if isinstance(answer, dict) else None,
    )
