# Over 400 lines: builder SQL, filters and time ranges are one sqlglot tree built in steps.
"""SQL for executing a visualization: the builder-mode query, filter injection
and the row limit. Pure functions over sqlglot trees; nothing here runs SQL.

Builder mode (no ``source.sql.raw_query``) turns the normalized ``mapping``
into one SELECT over ``source.index``::

    SELECT <x>  AS "<x column>",           -- bucketed when mapping.x.bucket is set
           <series column>,                -- when mapping.series is set
           <aggregation(y)> AS "<alias>"   -- one per mapping.y entry
    FROM "<index>" GROUP BY <x>, <series> ORDER BY <x>, <series> LIMIT <limit + 1>

* ``x.bucket``: a calendar unit (``second`` ... ``year``) -> ``DATE_TRUNC``; a
  fixed interval (``"5m"``, ``"1h"``, ``"15 minutes"``) -> ``DATE_BIN``; a
  positive number (or ``{"histogram": width}``) -> numeric histogram
  ``FLOOR(x / width) * width``.
* ``y[].aggregation``: ``count`` (``COUNT(*)`` when the column is absent, ``*``
  or ``count``), ``sum``, ``avg``, ``min``, ``max``, ``cardinality``
  (``COUNT(DISTINCT col)``) or ``none`` (raw values, no GROUP BY). The alias is
  ``count`` for ``COUNT(*)``, ``<aggregation>_<column>`` otherwise, the column
  itself for ``none``, or ``y[].alias`` when given. No ``y`` means ``count``.
* ``source.sql.order_by``: ``[{column, direction}]`` replaces the default order;
  ``column`` may name an alias (``sum_revenue``) or the x/series column.

Filters are AND-merged into the WHERE clause of the SELECT that reads the
dataset: the top-level one, or the one inside a FROM subquery or CTE, each
branch of a UNION, and for a JOIN the side that is the visualization's dataset
(columns then qualified with its alias). A filter that cannot be expressed
(bad value, unknown field, other dataset) or a query sqlglot cannot parse is
reported in ``filters_skipped`` and the rest still runs.

Filter semantics: values are coerced to the field's type when that is
lossless (``"3"`` for an Integer field, ``"true"`` for a Boolean one), otherwise
the filter is skipped. Negated operators (``is_not``, ``is_not_one_of``,
``is_not_between``) also keep rows where the field is missing (NULL), as a
filter chip "is not X" does. ``contains`` is a case-sensitive substring match
(``LIKE`` with ``%``, ``_`` and ``\\`` escaped; non-string fields are compared
as text). On an array field ``is`` / ``is_one_of`` mean "has the element".
Time filters (``is_time_filter``, the time column, or a date field) accept
ISO-8601 strings or epoch milliseconds, compared in UTC; the engine's error on
a filter that still does not fit makes the query run without the filters
(reported as skipped) rather than fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from infino_mcp.local.clock import parse_iso
from infino_mcp.local.errors import ApiError
from infino_mcp.local.sql.rewrite import syntax_reason, within_limits
from infino_mcp.sql_dialect import parse_statements, render

CALENDAR_UNITS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
AGGREGATIONS = ("count", "sum", "avg", "min", "max", "cardinality", "none")
OPERATORS = (
    "is",
    "is_not",
    "is_one_of",
    "is_not_one_of",
    "exists",
    "does_not_exist",
    "is_between",
    "is_not_between",
    "contains",
)
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|sec|second|m|min|minute|h|hour|d|day|w|week)s?\s*$", re.IGNORECASE)
_INTERVAL_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "d": "day", "w": "week"}
_NUMERIC_TYPES = ("Integer", "Float", "Long", "Double")
_EPOCH = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "TIMESTAMP")

FieldTypes = Mapping[str, str]
"""Dataset field name -> infino_type ("String", "Integer", "ISO8601Date", ...)."""


class Skip(Exception):
    """A filter (or every filter) that cannot be injected; the message is the reason."""


@dataclass
class Plan:
    """What to run for one execute call, and what became of the filters."""

    sql: str
    fallbacks: list[str] = field(default_factory=list)  # to try in order if the engine rejects ``sql``
    applied: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def bucket_problem(bucket: Any) -> str | None:
    """Why ``bucket`` is not a valid ``mapping.x.bucket``, or None when it is."""
    if bucket is None:
        return None
    if isinstance(bucket, dict):
        bucket = bucket.get("histogram", bucket.get("interval"))
    if isinstance(bucket, bool):
        return "a bucket cannot be a boolean"
    if isinstance(bucket, int | float):
        return None if bucket > 0 else "a histogram bucket width must be greater than 0"
    if isinstance(bucket, str) and (bucket.lower() in CALENDAR_UNITS or _INTERVAL.match(bucket)):
        return None
    return (
        f"bucket {bucket!r} is not understood: use a calendar unit ({', '.join(CALENDAR_UNITS)}), "
        "an interval like '5m' or '1h', or a positive number for a numeric histogram"
    )


def _col(name: str, table: str | None = None) -> exp.Column:
    qualifier = exp.to_identifier(table, quoted=True) if table else None
    return exp.column(exp.to_identifier(name, quoted=True), table=qualifier)


def _bucket_expr(column: str, bucket: Any, types: FieldTypes) -> exp.Expr:
    if isinstance(bucket, dict):
        bucket = bucket.get("histogram", bucket.get("interval"))
    col = _col(column)
    if isinstance(bucket, int | float):
        width = exp.Literal.number(bucket)
        return exp.Mul(this=exp.Floor(this=exp.Div(this=col, expression=width)), expression=width.copy())
    as_time: exp.Expr = col if types.get(column) == "ISO8601Date" else exp.cast(col, "TIMESTAMP")
    unit = str(bucket).lower()
    if unit in CALENDAR_UNITS:
        return exp.func("DATE_TRUNC", exp.Literal.string(unit), as_time)
    match = _INTERVAL.match(unit)
    assert match is not None, "bucket validated by bucket_problem"
    amount, name = match.groups()
    interval = exp.Interval(this=exp.Literal.string(amount), unit=exp.var(_INTERVAL_UNITS.get(name, name).upper()))
    return exp.func("DATE_BIN", interval, as_time, _EPOCH.copy())


def y_alias(y: Mapping[str, Any]) -> str:
    """The result column name of one ``mapping.y`` entry (see the module docstring)."""
    if y.get("alias"):
        return str(y["alias"])
    column, aggregation = y.get("column"), y.get("aggregation", "none")
    if aggregation == "count" and column in (None, "*", "count"):
        return "count"
    if aggregation == "none":
        return str(column)
    return f"{aggregation}_{column}"


def _agg_expr(y: Mapping[str, Any]) -> exp.Expr:
    column, aggregation = y.get("column"), y.get("aggregation", "none")
    if aggregation == "count":
        return exp.Count(this=exp.Star() if column in (None, "*", "count") else _col(column))
    col = _col(str(column))
    if aggregation == "cardinality":
        return exp.Count(this=exp.Distinct(expressions=[col]))
    if aggregation == "none":
        return col
    return {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[aggregation](this=col)


def builder_query(index: str, mapping: Mapping[str, Any], sql: Mapping[str, Any], types: FieldTypes) -> exp.Select:
    """The SELECT for a builder-mode visualization (mapping already normalized)."""
    x, series = mapping.get("x"), mapping.get("series")
    ys = list(mapping.get("y") or []) or [{"column": None, "aggregation": "count"}]
    aggregated = any(y.get("aggregation", "none") != "none" for y in ys)
    items: list[exp.Expr] = []
    if x:
        expr = _bucket_expr(x["column"], x["bucket"], types) if x.get("bucket") is not None else _col(x["column"])
        items.append(exp.alias_(expr, exp.to_identifier(x["column"], quoted=True)))
    if series:
        items.append(_col(series["column"]))
    keys = len(items)
    items += [exp.alias_(_agg_expr(y), exp.to_identifier(y_alias(y), quoted=True)) for y in ys]
    query = exp.select(*items).from_(exp.Table(this=exp.to_identifier(index, quoted=True)))
    positions = [exp.Literal.number(i + 1) for i in range(keys)]
    if aggregated and positions:
        query = query.group_by(*positions)
    order = sql.get("order_by") or []
    if order:
        query = query.order_by(
            *(exp.Ordered(this=_col(o["column"]), desc=o.get("direction", "asc") == "desc") for o in order)
        )
    elif positions:
        query = query.order_by(*(p.copy() for p in positions))
    return query


# ---- filters -------------------------------------------------------------------------------------


def to_utc_iso(value: Any) -> str:
    """An ISO-8601 string or epoch-ms number as a UTC ISO string; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for epoch milliseconds") from None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return to_utc_iso(float(text))
        parsed = parse_iso(text)
        if parsed is None:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp")
        moment = parsed
    else:
        raise ValueError(f"{value!r} is not a timestamp")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def time_range_filter(time_range: Any, time_column: str) -> dict[str, Any]:
    """The ``is_between`` filter a ``time_range`` stands for; ApiError(400) when malformed."""
    if not isinstance(time_range, dict) or ("from" not in time_range and "to" not in time_range):
        raise ApiError(400, 'time_range must be an object {"from": ..., "to": ...} (ISO-8601 or epoch ms, UTC).')
    bounds = {}
    for key in ("from", "to"):
        if time_range.get(key) is None:
            continue
        try:
            bounds[key] = to_utc_iso(time_range[key])
        except ValueError:
            raise ApiError(
                400,
                f"time_range.{key} {time_range[key]!r} is not an absolute time: "
                "send an ISO-8601 string like '2026-04-01T00:00:00Z' or epoch milliseconds.",
            ) from None
    if not bounds:
        raise ApiError(400, "time_range needs at least one of 'from' and 'to'.")
    if len(bounds) == 2 and bounds["from"] > bounds["to"]:
        raise ApiError(400, f"time_range.from ({bounds['from']}) is after time_range.to ({bounds['to']}).")
    return {
        "id": "time_range",
        "field": time_column,
        "operator": "is_between",
        "value": bounds,
        "enabled": True,
        "is_time_filter": True,
        "query_type": None,
        "index": None,
    }


def _literal(value: Any, kind: str | None, temporal: bool, field_name: str) -> exp.Expr:
    if value is None or isinstance(value, list | dict):
        raise Skip(f"value {value!r} is not a single value")
    if temporal:
        try:
            return exp.cast(exp.Literal.string(to_utc_iso(value)), "TIMESTAMP")
        except ValueError:
            raise Skip(f"{value!r} is not an ISO-8601 time or epoch milliseconds") from None
    if kind in _NUMERIC_TYPES:
        if isinstance(value, bool):
            raise Skip(f"field '{field_name}' is numeric ({kind}) but the value is a boolean")
        try:
            number = float(value) if kind != "Integer" or isinstance(value, float) else int(str(value))
        except ValueError:
            raise Skip(f"field '{field_name}' is numeric ({kind}) but {value!r} is not a number") from None
        return exp.Literal.number(number)
    if kind == "Boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise Skip(f"field '{field_name}' is Boolean but {value!r} is not true or false")
        return exp.Boolean(this=value)
    if kind is not None or isinstance(value, str):
        return exp.Literal.string(str(value).lower() if isinstance(value, bool) else str(value))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    return exp.Literal.number(value)


def _bounds(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, dict):
        low = value.get("from", value.get("gte"))
        high = value.get("to", value.get("lte"))
        return low, high
    raise Skip('is_between needs [low, high] or {"from": ..., "to": ...}')


def _or_missing(condition: exp.Expr, col: exp.Expr) -> exp.Expr:
    return exp.paren(exp.or_(condition, exp.Is(this=col.copy(), expression=exp.Null())))


def filter_condition(
    flt: Mapping[str, Any], types: FieldTypes | None, time_column: str, table: str | None = None
) -> exp.Expr:
    """One enabled filter as a SQL condition; Skip(reason) when it cannot be expressed."""
    name, op, value = flt.get("field"), flt.get("operator"), flt.get("value")
    if not isinstance(name, str) or not name:
        raise Skip("the filter has no field")
    if op not in OPERATORS:
        raise Skip(f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if types is not None and name not in types:
        known = ", ".join(sorted(types)[:25])
        if name == time_column:
            raise Skip(
                f"the time column '{name}' is not in the dataset: set source.sql.time_column "
                f"to the dataset's time field (fields: {known})"
            )
        raise Skip(f"field '{name}' is not in the dataset (fields: {known})")
    kind = types.get(name) if types is not None else None
    temporal = bool(flt.get("is_time_filter")) or name == time_column or kind == "ISO8601Date"
    col = _col(name, table)
    if op == "exists":
        return exp.not_(exp.Is(this=col, expression=exp.Null()))
    if op == "does_not_exist":
        return exp.Is(this=col, expression=exp.Null())
    if kind == "Array":
        return _array_condition(op, value, col, name)
    if op in ("is", "is_not"):
        if value is None:
            raise Skip(f"'{op}' needs a value; use exists or does_not_exist to test for a missing field")
        equal = exp.EQ(this=col, expression=_literal(value, kind, temporal, name))
        return equal if op == "is" else _or_missing(exp.not_(equal), col)
    if op in ("is_one_of", "is_not_one_of"):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise Skip(f"'{op}' needs at least one value")
        member = exp.In(this=col, expressions=[_literal(v, kind, temporal, name) for v in values])
        return member if op == "is_one_of" else _or_missing(exp.not_(member), col)
    if op == "contains":
        if value is None or isinstance(value, list | dict):
            raise Skip("'contains' needs a single string, number or boolean")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        target = col if kind in (None, "String") else exp.cast(col, "VARCHAR")
        like = exp.Like(this=target, expression=exp.Literal.string(f"%{escaped}%"))
        return exp.Escape(this=like, expression=exp.Literal.string("\\"))
    low, high = _bounds(value)
    parts = []
    if low is not None:
        parts.append(exp.GTE(this=col.copy(), expression=_literal(low, kind, temporal, name)))
    if high is not None:
        parts.append(exp.LTE(this=col.copy(), expression=_literal(high, kind, temporal, name)))
    if not parts:
        raise Skip(f"'{op}' needs at least one bound")
    between = exp.and_(*parts) if len(parts) == 2 else parts[0]
    return between if op == "is_between" else _or_missing(exp.not_(exp.paren(between)), col)


def _array_condition(op: str, value: Any, col: exp.Column, name: str) -> exp.Expr:
    """Operators on an array field test its elements: ``is`` means "has this element"."""
    if op not in ("is", "is_not", "is_one_of", "is_not_one_of"):
        raise Skip(f"'{op}' is not supported on the array field '{name}'; use is, is_one_of or their negations")
    values = value if isinstance(value, list) else [value]
    if not values or any(v is None for v in values):
        raise Skip(f"'{op}' on an array field needs one or more values")
    has = [exp.Anonymous(this="array_has", expressions=[col.copy(), _literal(v, None, False, name)]) for v in values]
    condition = exp.or_(*has) if len(has) > 1 else has[0]
    return condition if op in ("is", "is_one_of") else _or_missing(exp.not_(exp.paren(condition)), col)


# ---- injection -----------------------------------------------------------------------------------


def _ctes(root: exp.Expr) -> dict[str, exp.Expr]:
    found: dict[str, exp.Expr] = {}
    for cte in root.find_all(exp.CTE):
        found[cte.alias_or_name.lower()] = cte.this
    return found


def _targets(
    node: exp.Expr, index: str, ctes: dict[str, exp.Expr], depth: int = 0
) -> list[tuple[exp.Select, str | None]]:
    """The SELECTs reading the dataset, each with the table alias to qualify columns (JOINs only)."""
    if depth > 16:
        raise Skip("the query nests too deeply to place filters")
    if isinstance(node, exp.SetOperation):
        return _targets(node.this, index, ctes, depth + 1) + _targets(node.expression, index, ctes, depth + 1)
    if isinstance(node, exp.Subquery | exp.Paren):
        return _targets(node.this, index, ctes, depth + 1)
    if not isinstance(node, exp.Select):
        raise Skip(f"filters can only be placed in a SELECT, not {node.key.upper()}")
    source = node.args.get("from_")
    if source is None:
        raise Skip("the query reads no table")
    relation = source.this
    if node.args.get("joins"):
        tables = [relation] + [join.this for join in node.args["joins"]]
        for table in tables:
            if isinstance(table, exp.Table) and table.name.lower() == index.lower():
                return [(node, table.alias_or_name)]
        raise Skip(f"the query joins several tables and none of them is the dataset '{index}'")
    if isinstance(relation, exp.Subquery):
        return _targets(relation.this, index, ctes, depth + 1)
    if isinstance(relation, exp.Table) and not relation.args.get("db") and relation.name.lower() in ctes:
        return _targets(ctes[relation.name.lower()], index, ctes, depth + 1)
    return [(node, None)]


def parse_select(text: str) -> exp.Query:
    """``text`` as one sqlglot query; Skip with the parser's message when it is not one."""
    within_limits(text)
    try:
        statements = parse_statements(text)
    except SqlglotError as exc:
        raise Skip(f"the SQL could not be parsed for filtering: {syntax_reason(exc)}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise Skip("the SQL is not a single SELECT query")
    return statements[0]


def _apply_limit(query: exp.Query, limit: int) -> exp.Query:
    """Cap the rows at ``limit + 1`` (one extra row tells truncation) unless the query asks for fewer."""
    current = query.args.get("limit")
    if current is not None:
        amount = current.expression
        if isinstance(amount, exp.Literal) and amount.is_int and int(amount.this) <= limit + 1:
            return query
        if not (isinstance(amount, exp.Literal) and amount.is_int):
            return query
    return query.limit(limit + 1, copy=False)


def plan(
    query: exp.Query | str,
    *,
    index: str,
    filters: list[dict[str, Any]],
    types: FieldTypes | None,
    time_column: str,
    limit: int,
) -> Plan:
    """Inject ``filters`` (enabled ones) and the row limit into ``query``.

    ``query`` is raw SQL text or a builder SELECT. ``fallbacks`` are what to run
    if the engine rejects the rewritten text: the query with the limit but no
    filters, then the original text as written.
    """
    original = query if isinstance(query, str) else render(query)
    active = [f for f in filters if f.get("enabled", True) is not False]
    try:
        tree = parse_select(query) if isinstance(query, str) else query.copy()
    except Skip as exc:
        return Plan(sql=original, skipped=[_skip(f, str(exc)) for f in active])
    result = Plan(sql="")
    unfiltered = render(_apply_limit(tree.copy(), limit))
    if active:
        try:
            targets = _targets(tree, index, _ctes(tree))
        except Skip as exc:
            targets = []
            result.skipped = [_skip(f, str(exc)) for f in active]
        for flt in active if targets else []:
            if flt.get("index") and str(flt["index"]) != index:
                reason = f"the filter is for dataset '{flt['index']}', this chart reads '{index}'"
                result.skipped.append(_skip(flt, reason))
                continue
            try:
                conditions = [filter_condition(flt, types, time_column, alias) for _, alias in targets]
            except Skip as exc:
                result.skipped.append(_skip(flt, str(exc)))
                continue
            for (select, _), condition in zip(targets, conditions, strict=True):
                select.where(condition, append=True, copy=False)
            result.applied.append(str(flt.get("field")))
    result.sql = render(_apply_limit(tree, limit))
    result.fallbacks = [text for text in dict.fromkeys((unfiltered, original)) if text != result.sql]
    return result


def _skip(flt: Mapping[str, Any], reason: str) -> dict[str, str]:
    return {"field": str(flt.get("field")), "reason": reason}
