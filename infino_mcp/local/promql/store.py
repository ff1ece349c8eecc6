"""Metric samples in datasets: Prometheus exposition in, series out.

Layout: every sample is one document of the dataset, so metrics are plain rows
to SQL and QueryDSL too::

    {"__name__": "http_requests_total",            # the sample's own name (x_total, h_bucket, s_sum...)
     "labels": {"method": "get", "code": "200"},   # -> columns labels.method, labels.code
     "value": 1027.0,                              # f64; null when not finite, then
     "value_special": "NaN" | "+Inf" | "-Inf",     #   (only present on those rows)
     "@timestamp": "2024-01-01T00:00:00.000Z"}     # the sample's timestamp, or the upload time

The metric columns are declared before the first write (labels as strings,
``value`` as f64, ``@timestamp`` as a timestamp), so a label value that looks
like a date, or a first batch of NaNs, cannot give a column the wrong type.
A dataset "holds metrics" when it has the ``__name__``, ``value`` and
``@timestamp`` fields; PromQL without an index reads all such datasets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from infino_mcp.local.clock import now_ms
from infino_mcp.local.errors import ApiError
from infino_mcp.local.promql.evaluate import Window
from infino_mcp.local.promql.exposition import parse_exposition
from infino_mcp.local.promql.parse import Selector
from infino_mcp.local.promql.values import NAME, PromQLError, Series, make_labels
from infino_mcp.local.security.field_rules import FieldRules
from infino_mcp.local.storage.catalog import DatasetInfo, column_for
from infino_mcp.local.storage.documents import ingest_documents, sql_string
from infino_mcp.local.storage.values import column_spec

if TYPE_CHECKING:
    from infino_mcp.local.services import Services

NAME_FIELD = "__name__"
VALUE_FIELD = "value"
SPECIAL_FIELD = "value_special"
TIME_FIELD = "@timestamp"
LABEL_PREFIX = "labels."
DEFAULT_MAX_SAMPLES = 2_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def exposition_documents(text: str, now_ms: int) -> list[dict[str, Any]]:
    """The documents for a Prometheus text exposition body (ApiError(400) when it does not parse)."""
    docs: list[dict[str, Any]] = []
    stamps: dict[int, str] = {}  # samples of one scrape share their timestamp
    for sample in parse_exposition(text):
        ms = now_ms if sample.timestamp_ms is None else sample.timestamp_ms
        doc: dict[str, Any] = {NAME_FIELD: sample.name}
        labels = {k: v for k, v in sample.labels.items() if v != "" and k != NAME}
        if labels:
            doc["labels"] = labels
        if math.isfinite(sample.value):
            doc[VALUE_FIELD] = sample.value
        else:
            doc[VALUE_FIELD] = None
            doc[SPECIAL_FIELD] = "NaN" if math.isnan(sample.value) else ("+Inf" if sample.value > 0 else "-Inf")
        stamp = stamps.get(ms)
        if stamp is None:
            stamp = stamps[ms] = _iso(ms, sample.name)
        doc[TIME_FIELD] = stamp
        docs.append(doc)
    return docs


def _iso(ms: int, name: str) -> str:
    try:
        return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except OverflowError:
        raise ApiError(
            400,
            f"Sample {name!r} has timestamp {ms} ms, outside the years 1-9999; timestamps are milliseconds since 1970.",
        ) from None


def _missing_specs(info: DatasetInfo, docs: list[dict[str, Any]]) -> list[dict]:
    wanted: dict[str, str] = {NAME_FIELD: "large_utf8", VALUE_FIELD: "f64", TIME_FIELD: "timestamp_ms"}
    for doc in docs:
        if SPECIAL_FIELD in doc:
            wanted[SPECIAL_FIELD] = "large_utf8"
        for label in doc.get("labels", ()):
            wanted[LABEL_PREFIX + label] = "large_utf8"
    return [column_spec(column_for(name), kind) for name, kind in wanted.items() if name not in info.fields]


async def ingest_exposition(services: Services, dataset: str, text: str) -> int:
    """Store every sample of ``text`` in ``dataset`` (created if missing); returns how many."""
    docs = exposition_documents(text, now_ms())
    if not docs:
        return 0
    info = await services.catalog.aensure(dataset)
    if _missing_specs(info, docs):

        def declare() -> None:
            # Re-read under the table's write lock: a concurrent upload may have declared some already.
            with services.engine.locked(info.table):
                specs = _missing_specs(services.catalog.get(dataset), docs)
                if specs:
                    services.catalog.declare_fields(dataset, specs)

        await anyio.to_thread.run_sync(declare)
    items = await ingest_documents(services.writer, dataset, [(None, doc) for doc in docs])
    failed = [next(iter(item.values())) for item in items if "error" in next(iter(item.values()))]
    if failed:
        reason = failed[0]["error"].get("reason", "refused")
        raise ApiError(400, f"{len(failed)} of {len(items)} samples were refused by dataset '{dataset}': {reason}")
    return len(docs)


def holds_metrics(info: DatasetInfo) -> bool:
    return all(name in info.fields for name in (NAME_FIELD, TIME_FIELD)) and (
        VALUE_FIELD in info.fields or SPECIAL_FIELD in info.fields
    )


def core_fields_readable(info: DatasetInfo, rules: FieldRules) -> bool:
    """Whether field rules leave the name, value and timestamp of samples readable (PromQL needs them)."""
    core = [NAME_FIELD, VALUE_FIELD, SPECIAL_FIELD, TIME_FIELD]
    return all(rules.readable(name) for name in core if name in info.fields)


def metric_datasets(services: Services) -> list[str]:
    """The datasets that hold metric samples, by name."""
    names = []
    for name in services.catalog.names():
        try:
            info = services.catalog.get(name)
        except ApiError:
            continue
        if holds_metrics(info):
            names.append(name)
    return names


def _number(cell: Any) -> float | None:
    """A stored value as a float; None for nulls and for text that is no number (a user dataset's
    ``value`` column need not be numeric)."""
    if cell is None or isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    try:
        return float(str(cell))
    except ValueError:
        return None


def _ident(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


class EngineSource:
    """Reads the series a selector matches from metric datasets with engine SQL."""

    def __init__(
        self,
        services: Services,
        datasets: Iterable[str],
        *,
        rules: Mapping[str, FieldRules] | None = None,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        """``rules``: the caller's field rules per dataset; labels they hide or mask are left out
        (neither returned nor matched). Check ``core_fields_readable`` before adding a dataset."""
        self.services = services
        self.datasets = list(datasets)
        self.rules = dict(rules or {})
        self.max_samples = max_samples
        self._read = 0

    async def select(self, sel: Selector, window: Window) -> list[Series]:
        merged: dict[tuple, dict[int, float]] = {}
        for dataset in self.datasets:
            info = self.services.catalog.get(dataset)
            if holds_metrics(info):
                await self._select_from(info, sel, window, merged)
        return [
            Series(labels, sorted(points), [points[t] for t in sorted(points)]) for labels, points in merged.items()
        ]

    async def _names(self, info: DatasetInfo, sel: Selector) -> list[str]:
        fixed = sel.metric_name()
        if fixed is not None:
            return [fixed]
        column = _ident(info.fields[NAME_FIELD].column)
        table = await self.services.engine.query(f"SELECT DISTINCT {column} AS n FROM {_ident(info.table)}")
        name_matchers = [m for m in sel.matchers if m.name == NAME]
        return [n for n in table.column("n").to_pylist() if n and all(m.matches({NAME: n}) for m in name_matchers)]

    async def _select_from(self, info: DatasetInfo, sel: Selector, window: Window, merged: dict) -> None:
        rules = self.rules.get(info.name)
        labels = {
            f.name[len(LABEL_PREFIX) :]: f.column
            for f in info.fields.values()
            if f.name.startswith(LABEL_PREFIX) and (rules is None or rules.readable(f.name))
        }
        where = []
        for m in sel.matchers:
            if rules is not None and m.name != NAME and not rules.readable(LABEL_PREFIX + m.name):
                raise ApiError(
                    403,
                    f"Permission denied: label {m.name!r} of dataset {info.name!r} is hidden or masked for you "
                    "by field rules; remove the matcher.",
                )
            if m.op == "=" and m.name != NAME and m.value != "":
                if m.name not in labels:
                    return
                where.append(f"{_ident(labels[m.name])} = {sql_string(m.value)}")
        names = await self._names(info, sel)
        if not names:
            return
        name_col = _ident(info.fields[NAME_FIELD].column)
        ts_col = _ident(info.fields[TIME_FIELD].column)
        where.append(f"{name_col} IN ({', '.join(sql_string(n) for n in names)})")
        where.append(f"{ts_col} > to_timestamp_millis({window.start})")
        where.append(f"{ts_col} <= to_timestamp_millis({window.end})")
        select = [f"{name_col} AS n", f"CAST(to_timestamp_millis({ts_col}) AS BIGINT) AS t"]
        for field, alias in ((VALUE_FIELD, "v"), (SPECIAL_FIELD, "sv")):
            if field in info.fields:
                select.append(f"{_ident(info.fields[field].column)} AS {alias}")
        label_names = sorted(labels)
        select += [f"{_ident(labels[name])} AS l{i}" for i, name in enumerate(label_names)]
        limit = self.max_samples - self._read + 1
        sql = f"SELECT {', '.join(select)} FROM {_ident(info.table)} WHERE {' AND '.join(where)} LIMIT {limit}"
        table = await self.services.engine.query(sql)
        self._read += table.num_rows
        if self._read > self.max_samples:
            raise PromQLError(
                f"the query would read more than {self.max_samples} samples; narrow the selectors or the time range",
                "execution",
            )
        await anyio.to_thread.run_sync(self._collect, table, label_names, sel, merged)

    @staticmethod
    def _collect(table: Any, label_names: list[str], sel: Selector, merged: dict) -> None:
        columns = {name: table.column(name).to_pylist() for name in table.column_names}
        values = columns.get("v") or [None] * table.num_rows
        specials = columns.get("sv") or [None] * table.num_rows
        label_columns = [(name, columns[f"l{i}"]) for i, name in enumerate(label_names)]
        for row, (name, ts) in enumerate(zip(columns["n"], columns["t"])):
            value = _number(values[row])
            if value is None:
                value = _SPECIAL.get(specials[row] or "")
            if value is None or ts is None or not name:
                continue
            pairs = {NAME: name}
            for label, cells in label_columns:
                cell = cells[row]
                if cell is not None and cell != "":
                    pairs[label] = str(cell)
            if not sel.matches(pairs):
                continue
            merged.setdefault(make_labels(pairs), {})[ts] = value
