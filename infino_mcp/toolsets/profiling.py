"""Dataset profiles: per-field statistics computed with SQL through the normal query path.

Cost is bounded: a dataset of more than ``SAMPLE_ROWS`` records is profiled
over its first ``SAMPLE_ROWS`` records as the endpoint returns them
(``SELECT ... LIMIT SAMPLE_ROWS`` in a subquery), and the profile says so. One
query counts the records, one computes count, distinct, min and max of every
field, one per string or boolean field finds its most common values (unless
every value is distinct), and one reads a few records for examples. Profiles are cached per caller (access key)
for ``profile_cache_seconds``: that cache is the only knowledge kept in the
server process.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from pydantic import BaseModel, Field

from infino_mcp.errors import InputError
from infino_mcp.shaping import compact_json
from infino_mcp.toolsets.datasets import fetch_schema
from infino_mcp.toolsets.query import run_select
from infino_mcp.toolsets.query_shapes import plain_row

SAMPLE_ROWS = 10_000
MAX_FIELDS = 40
TOP_VALUES = 5
EXAMPLES = 3
_MAX_TEXT = 60
_CONCURRENCY = 4
_ORDERED = {"Integer", "Float", "ISO8601Date"}  # min and max are reported
_CATEGORICAL = {"String", "Boolean"}  # most common values are reported
_SCALAR = _ORDERED | _CATEGORICAL


class ValueCount(BaseModel):
    value: Any
    count: int


class FieldProfile(BaseModel):
    field: str
    type: str
    count: int = Field(description="Records with a value.")
    null_share: float = Field(description="Share of records without a value (0 to 1).")
    distinct: int | None = None
    min: Any = None
    max: Any = None
    top: list[ValueCount] | None = Field(default=None, description="Most common values, with counts.")
    examples: list[Any] = Field(default_factory=list)


class DatasetProfile(BaseModel):
    dataset: str
    records: int = Field(description="Records in the dataset.")
    profiled: int = Field(description="Records the statistics are computed over.")
    sampled: bool
    sampling: str | None = Field(default=None, description="How the records were sampled, when they were.")
    fields: list[FieldProfile]
    computed_at: float = Field(description="Unix time the profile was computed.")
    cached: bool = Field(default=False, description="True when served from the cache.")
    note: str | None = None

    def as_text(self) -> str:
        """One line per field: what the model needs to write a correct query."""
        head = f"{self.dataset}: {self.records} records"
        head += f"; {self.sampling}" if self.sampled else ", all profiled"
        if self.cached:
            head += f" (cached from {time.strftime('%H:%M:%SZ', time.gmtime(self.computed_at))})"
        lines = [head]
        for f in self.fields:
            parts = [f"{f.count} values", f"{f.null_share:.1%} null"]
            if f.distinct is not None:
                parts.append(f"{f.distinct} distinct")
            if f.min is not None:
                parts.append(f"min {_show(f.min)}, max {_show(f.max)}")
            if f.top:
                parts.append("top " + ", ".join(f"{_show(t.value)} ({t.count})" for t in f.top))
            elif f.examples:
                parts.append("e.g. " + ", ".join(_show(v) for v in f.examples))
            lines.append(f"{f.field} {f.type}: " + "; ".join(parts))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else compact_json(value)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "..."
    if isinstance(value, list | dict):
        text = compact_json(value)
        return value if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
    return value


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _rows(client: Any, sql: str) -> list[dict[str, Any]]:
    answer = await run_select(client, sql, "profile_dataset")
    return [plain_row(r) for r in answer.get("rows") or []]


async def compute_profile(
    client: Any, dataset: str, fields: list[str] | None, sample_rows: int = SAMPLE_ROWS
) -> DatasetProfile:
    """The profile of ``dataset`` (or only ``fields`` of it), sampled past ``sample_rows`` records."""
    schema = await fetch_schema(client, dataset)
    types = {f.field: f.infino_type for f in schema.fields}
    note = None
    if fields:
        unknown = [f for f in fields if f not in types]
        if unknown:
            raise InputError(
                f"{', '.join(map(repr, unknown))} not in {dataset!r}; its fields: {', '.join(sorted(types))}."
            )
        chosen = list(dict.fromkeys(fields))
    else:
        chosen = sorted(types)
    if len(chosen) > MAX_FIELDS:
        note = f"Profiled the first {MAX_FIELDS} of {len(chosen)} fields; pass fields=[...] for the others."
        chosen = chosen[:MAX_FIELDS]
    table = _ident(dataset)
    counted = await _rows(client, f"SELECT COUNT(*) AS n FROM {table}")
    records = int(counted[0].get("n") or 0) if counted else 0
    sampled = records > sample_rows

    def source(columns: list[str]) -> str:
        """The records profiled: the table, or its first ``sample_rows`` (only ``columns`` read)."""
        if not sampled:
            return table
        return f"(SELECT {', '.join(map(_ident, columns)) or '*'} FROM {table} LIMIT {sample_rows}) AS profiled"

    stats = await _stats(client, source(chosen), chosen, types)
    profiled = int(stats.get("n") or 0)
    profiles = [_field(name, types[name], i, stats, profiled) for i, name in enumerate(chosen)]
    if profiled:
        await _top_values(client, source, profiles)
        await _examples(client, table, profiles)
    return DatasetProfile(
        dataset=dataset,
        records=records,
        profiled=profiled,
        sampled=sampled,
        sampling=f"sampled: the first {sample_rows} records as the endpoint returns them (no ORDER BY)"
        if sampled
        else None,
        fields=profiles,
        computed_at=time.time(),
        note=note,
    )


async def _stats(client: Any, source: str, chosen: list[str], types: dict[str, str]) -> dict[str, Any]:
    parts = ["COUNT(*) AS n"]
    for i, name in enumerate(chosen):
        col = _ident(name)
        parts.append(f"COUNT({col}) AS c{i}")
        if types[name] in _SCALAR:
            parts.append(f"COUNT(DISTINCT {col}) AS d{i}")
        if types[name] in _ORDERED:
            parts.append(f"MIN({col}) AS lo{i}, MAX({col}) AS hi{i}")
    rows = await _rows(client, f"SELECT {', '.join(parts)} FROM {source}")
    return rows[0] if rows else {}


def _field(name: str, kind: str, i: int, stats: dict[str, Any], profiled: int) -> FieldProfile:
    count = int(stats.get(f"c{i}") or 0)
    distinct = stats.get(f"d{i}")
    return FieldProfile(
        field=name,
        type=kind,
        count=count,
        null_share=round(1 - count / profiled, 4) if profiled else 0.0,
        distinct=int(distinct) if distinct is not None else None,
        min=stats.get(f"lo{i}"),
        max=stats.get(f"hi{i}"),
    )


async def _top_values(client: Any, source: Any, profiles: list[FieldProfile]) -> None:
    limiter = anyio.CapacityLimiter(_CONCURRENCY)

    async def one(profile: FieldProfile) -> None:
        col = _ident(profile.field)
        sql = (
            f"SELECT {col} AS v, COUNT(*) AS n FROM {source([profile.field])} WHERE {col} IS NOT NULL "
            f"GROUP BY {col} ORDER BY n DESC, v LIMIT {TOP_VALUES}"
        )
        async with limiter:
            rows = await _rows(client, sql)
        profile.top = [ValueCount(value=_short(r.get("v")), count=int(r.get("n") or 0)) for r in rows]

    async with anyio.create_task_group() as group:
        for profile in profiles:
            if profile.type in _CATEGORICAL and profile.count and profile.distinct != profile.count:
                group.start_soon(one, profile)


async def _examples(client: Any, table: str, profiles: list[FieldProfile]) -> None:
    columns = ", ".join(_ident(p.field) for p in profiles)
    rows = await _rows(client, f"SELECT {columns} FROM {table} LIMIT 20")
    for profile in profiles:
        seen: list[Any] = []
        for row in rows:
            value = row.get(profile.field)
            if value is not None and value not in seen:
                seen.append(value)
            if len(seen) == EXAMPLES:
                break
        profile.examples = [_short(v) for v in seen]
