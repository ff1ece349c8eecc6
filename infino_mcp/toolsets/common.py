"""Helpers the toolset modules share: argument parsing and the common output models."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field

from infino_mcp.errors import InputError
from infino_mcp.limits import LimitError, check_json_depth, load_yaml

JsonArg = dict[str, Any] | str
"""A JSON document given as an object or as a string of JSON."""


def parse_json_arg(value: Any, what: str, *, allow_yaml: bool = False) -> Any:
    """An object or a JSON (or, if allowed, YAML) string as a Python value.

    Invalid text is refused before any request, naming the line and column.
    """
    if not isinstance(value, str):
        return value
    try:
        check_json_depth(value, what)
    except LimitError as exc:
        raise InputError(f"{exc} Nothing was sent.") from None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        if not allow_yaml:
            raise InputError(
                f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                "Pass an object, or a string of valid JSON."
            ) from None
        json_error = exc
    try:
        parsed = load_yaml(value)
    except LimitError as exc:
        raise InputError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InputError(
            f"{what} is neither valid JSON ({json_error.msg} at line {json_error.lineno}, column {json_error.colno}) "
            f"nor valid YAML ({problem}{where})."
        ) from None
    if not isinstance(parsed, dict):
        raise InputError(f"{what} must be a JSON or YAML object (a mapping of keys to values).")
    return parsed


def require_object(value: Any, what: str) -> dict[str, Any]:
    parsed = parse_json_arg(value, what)
    if not isinstance(parsed, dict):
        raise InputError(f"{what} must be a JSON object, not {type(parsed).__name__}.")
    return parsed


class Acknowledged(BaseModel):
    """The service's acknowledgement of a change."""

    acknowledged: bool = Field(description="True when the service applied the change.")
    response: dict[str, Any] = Field(default_factory=dict, description="The service's full answer.")

    @classmethod
    def of(cls, answer: Any) -> Acknowledged:
        """Read an acknowledgement from any answer: an object (``acknowledged`` or ``deleted``), or a bare value."""
        if isinstance(answer, dict):
            return cls(acknowledged=bool(answer.get("acknowledged", answer.get("deleted", True))), response=answer)
        return cls(acknowledged=answer is not False, response={"result": answer})


class Raw(BaseModel):
    """A service answer whose shape varies; the JSON is passed through as-is."""

    result: Any = Field(description="The service's answer.")


Limit = Annotated[int, Field(ge=1, le=1000, description="Most items to return.")]
Offset = Annotated[int, Field(ge=0, description="Items to skip (for paging).")]


# Top-level keys of a QueryDSL search body; anything else at the top is taken for a bare query clause.
SEARCH_BODY_KEYS = frozenset(
    {"query", "aggs", "aggregations", "from", "size", "sort", "_source", "track_total_hits", "track_scores",
     "min_score", "post_filter", "timeout", "highlight", "fields", "search_after", "stored_fields", "explain"}
)  # fmt: skip


def querydsl_body(value: Any, what: str) -> dict[str, Any]:
    """A QueryDSL body; a bare clause such as ``{"term": {...}}`` is wrapped as ``{"query": {...}}``."""
    body = require_object(value, what)
    if body and not set(body) & SEARCH_BODY_KEYS:
        return {"query": body}
    return body


# Unix times past this are surely milliseconds (it is the year 5138 in seconds).
_MILLISECONDS_FROM = 1e11


def unix_seconds(value: float, what: str) -> float:
    """``value`` if it is plausible unix seconds; refuses milliseconds with the fix."""
    if value >= _MILLISECONDS_FROM:
        raise InputError(f"{what} {value:.0f} looks like milliseconds; pass unix seconds ({value / 1000:.3f}).")
    return value
