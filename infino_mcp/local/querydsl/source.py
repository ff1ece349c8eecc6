"""Hit shaping for QueryDSL searches: ``_source`` filtering and ``sort``.

``_source`` accepts what Elasticsearch does: ``true``/``false``, a pattern, a
list of patterns, or ``{"includes": [...], "excludes": [...]}``; patterns are
globs over dotted paths (``user.*``) and naming an object covers its contents.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.sqltree import column

if TYPE_CHECKING:
    from infino_mcp.local.querydsl.fields import Fields


@dataclass(frozen=True)
class SourceFilter:
    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @staticmethod
    def parse(value: Any) -> SourceFilter:
        if value is True or value is None:
            return SourceFilter()
        if value is False:
            return SourceFilter(enabled=False)
        if isinstance(value, str):
            return SourceFilter(includes=(value,))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return SourceFilter(includes=tuple(value))
        if isinstance(value, dict):
            extra = set(value) - {"includes", "include", "excludes", "exclude"}
            if not extra:
                return SourceFilter(
                    includes=_patterns(value.get("includes", value.get("include"))),
                    excludes=_patterns(value.get("excludes", value.get("exclude"))),
                )
        raise ApiError(400, "QueryDSL '_source' takes true, false, a field pattern, a list of patterns, "
                       "or {\"includes\": [...], \"excludes\": [...]}.")  # fmt: skip

    def apply(self, source: dict) -> dict | None:
        """The filtered ``_source``, None when it is not returned at all."""
        if not self.enabled:
            return None
        if not self.includes and not self.excludes:
            return source
        return self._walk(source, "", included=not self.includes)

    def _walk(self, obj: dict, base: str, included: bool) -> dict:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            path = base + key
            if _hit(path, self.excludes):
                continue
            here = included or _hit(path, self.includes)
            if isinstance(value, dict):
                inner = self._walk(value, path + ".", here)
                if inner or (here and not value):
                    out[key] = inner
            elif here:
                out[key] = value
        return out


def _patterns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ApiError(400, f"QueryDSL '_source' patterns must be strings, got {value!r}.")


def _hit(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


@dataclass(frozen=True)
class SortSpec:
    """One sort key: the score, index order (``_doc``), or a field column (``key``)."""

    score: bool = False
    doc: bool = False
    desc: bool = True
    key: exp.Expr | None = None  # the field column's tree
    missing_first: bool = False


def parse_sort(value: Any, fields: Fields) -> list[SortSpec]:
    """Elasticsearch ``sort``: a key, ``{key: order}``, ``{key: {order, missing}}``, or a list of those."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    specs: list[SortSpec] = []
    for item in items:
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ((name, options),) = item.items()
            if isinstance(options, str):
                options = {"order": options}
            if not isinstance(options, dict):
                raise ApiError(400, f'QueryDSL sort on \'{name}\' takes "asc"/"desc" or an object of options.')
        else:
            raise ApiError(400, f"QueryDSL 'sort' entries are a field name or {{field: order}}, got {item!r}.")
        order = str(options.get("order", "desc" if name == "_score" else "asc")).lower()
        if order not in ("asc", "desc"):
            raise ApiError(400, f"QueryDSL sort order for '{name}' must be 'asc' or 'desc', got {order!r}.")
        desc = order == "desc"
        if name == "_score":
            specs.append(SortSpec(score=True, desc=desc))
            continue
        if name == "_doc":
            specs.append(SortSpec(doc=True, desc=desc))
            continue
        missing = options.get("missing", "_last")
        if missing not in ("_first", "_last"):
            raise ApiError(400, "QueryDSL sort 'missing' supports only '_first' and '_last' on the local endpoint.")
        key = _sort_column(name, options, fields)
        specs.append(SortSpec(desc=desc, key=key, missing_first=missing == "_first"))
    return specs


def _sort_column(name: str, options: dict, fields: Fields) -> exp.Expr:
    if name in ("_id", "_doc_id"):
        return column("_doc_id")
    f = fields.get(name)
    if f is None:
        if "unmapped_type" in options:
            return exp.Null()
        raise ApiError(400, f"No field '{name}' to sort on in this dataset; check the schema "
                       "with get_dataset_schema or pass \"unmapped_type\".")  # fmt: skip
    if f.kind in ("array", "object"):
        raise ApiError(400, f"Field '{name}' holds {f.kind}s and cannot be sorted on; sort on a scalar field.")
    return column(f.column)


def sort_value(column: pa.ChunkedArray) -> list[Any]:
    """Sort values as Elasticsearch reports them (dates as epoch milliseconds)."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    return column.to_pylist()
