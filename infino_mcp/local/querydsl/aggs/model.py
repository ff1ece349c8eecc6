"""The parsed aggregation tree: one ``Agg`` per aggregation of the request, and the supported kinds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlglot import exp

from infino_mcp.local.querydsl.aggs.intervals import DateInterval
from infino_mcp.local.querydsl.fields import Field

BUCKET_AGGS = (
    "terms", "histogram", "date_histogram", "range", "date_range", "filter", "filters", "missing", "composite",
    "auto_date_histogram",
)  # fmt: skip
SINGLE_BUCKET_AGGS = ("filter", "missing")
METRIC_AGGS = (
    "avg", "sum", "min", "max", "value_count", "cardinality", "stats", "extended_stats", "weighted_avg",
    "percentiles", "percentile_ranks", "median_absolute_deviation", "top_metrics",
)  # fmt: skip
PARENT_PIPELINES = ("cumulative_sum", "derivative", "bucket_selector", "bucket_sort")
SIBLING_PIPELINES = ("avg_bucket", "sum_bucket", "min_bucket", "max_bucket")
PIPELINE_AGGS = PARENT_PIPELINES + SIBLING_PIPELINES
FIELDLESS_AGGS = ("filter", "filters", "weighted_avg", "top_hits", "composite", "top_metrics") + PIPELINE_AGGS
SUPPORTED_AGGS = BUCKET_AGGS + METRIC_AGGS + ("top_hits",) + PIPELINE_AGGS


@dataclass
class Agg:
    """One aggregation of the request tree."""

    name: str
    kind: str
    spec: dict
    field: Field | None
    alias: str
    children: list[Agg] = dataclasses.field(default_factory=list)
    parent: Agg | None = None
    date_interval: DateInterval | None = None
    filters: list[tuple[str, exp.Expr]] = dataclasses.field(default_factory=list)  # (bucket key, predicate): filter(s)
    weight: Field | None = None  # weighted_avg's weight field
    sort: list = dataclasses.field(default_factory=list)  # top_hits' SortSpecs
    sources: list[Agg] = dataclasses.field(default_factory=list)  # composite's value sources
    metric_fields: list[tuple[str, Field | None]] = dataclasses.field(default_factory=list)  # top_metrics' metrics
    top_sort: tuple = ()  # top_metrics' (sort field, descending, size)
    auto: tuple = ()  # auto_date_histogram's (interval text, bucket starts), chosen when it runs

    @property
    def pipeline(self) -> bool:
        return self.kind in PIPELINE_AGGS

    @property
    def metric(self) -> bool:
        return self.kind in METRIC_AGGS

    @property
    def bucket(self) -> bool:
        return self.kind in BUCKET_AGGS

    def path(self) -> list[Agg]:
        """Bucket ancestors from the top, then this aggregation."""
        chain: list[Agg] = []
        node: Agg | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]
