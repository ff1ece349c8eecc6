"""The instructions the server sends at initialization: how a model should work with Infino."""

from __future__ import annotations

from infino_mcp.config import Settings, Toolset

_BASE = """\
Infino is a search and analytics engine over datasets of JSON records and Prometheus metrics.
Work like this:
1. Find data first: get_datasets (or the infino://datasets resource) lists datasets with record counts.
2. Read a dataset's schema (get_dataset_schema or infino://datasets/{name}/schema) before writing a query:
   field names are case-sensitive; quote names with dots, dashes or @ in SQL ("@timestamp", "sample-ecommerce-data").
3. Pick the language for the question: SQL (query_dataset_in_sql) for aggregates, joins and exact filters;
   QueryDSL (query_dataset_in_querydsl) for relevance-ranked full-text search; PromQL for metrics over time.
4. Results are bounded: each tool returns at most `limit` rows and a byte budget, and says when it cut
   something and how to get the rest (offset, a narrower query, a filter). Prefer aggregates over raw rows."""


def instructions_for(settings: Settings) -> str:
    lines = [_BASE]
    if Toolset.KNOWLEDGE in settings.toolsets:
        saving = "" if settings.read_only else " When the user confirms an answer, save it with save_verified_query."
        lines.append(
            "5. Before the first query on a dataset, read its context (get_dataset_context or "
            "infino://datasets/{name}/context) and follow its instructions; find_verified_queries finds saved "
            "queries for similar questions." + saving
        )
    if Toolset.VISUALIZATIONS in settings.toolsets:
        lines.append(
            f"{len(lines) + 4}. To chart results, create_visualization with SQL, then execute_visualization or render it; "
            "dashboards group visualizations (execute_dashboard runs all panels)."
        )
    if settings.read_only:
        lines.append("This server is read-only: tools that create, change or delete anything are not available.")
    elif not settings.allow_destructive:
        lines.append("Deleting tools ask the user to confirm before they run.")
    if settings.uses_local:
        lines.append(
            "Backend: the embedded local endpoint (no Infino account). Fino answers and external source queries "
            "need Infino cloud and report that clearly."
        )
    return "\n".join(lines)
