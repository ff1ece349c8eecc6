"""The parsed aggregation tree: one ``Agg`` per aggregation of the request, and the supported kinds."""

from __future__ import annotations

from dataclasses import dataclass, field

from infino_mcp.local.querydsl.aggs.intervals import DateInterval
from infino_mcp.local.querydsl.fields import Field

BUCKET_AGGS = ("terms", "histogram", "date_histogram", "range")
METRIC_AGGS = ("avg", "sum", "min", "max", "value_count", "cardinality", "stats")
SUPPORTED_AGGS = BUCKET_AGGS + METRIC_AGGS


@dataclass
class Agg:
    """One aggregation of the request tree."""

    name: str
    kind: str
    spec: dict
    field: Field | None
    alias: str
    children: list[Agg] = field(default_factory=list)
    parent: Agg | None = None
    date_interval: DateInterval | None = None

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
