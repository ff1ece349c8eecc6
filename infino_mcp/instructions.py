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


# Toolsets outside the default selection: what they hold, and what of it needs Infino cloud in local mode.
_OPT_IN = {
    Toolset.CONNECTIONS: (
        "connections (external sources, import jobs, query_source",
        "querying a source needs Infino cloud",
    ),
    Toolset.FINO: ("fino (the Fino assistant and its threads", "its answers need Infino cloud"),
    Toolset.RBAC: ("rbac (users, roles, access keys", ""),
}
_CLOUD_TOOLS = {Toolset.FINO: "ask_fino, send_message", Toolset.CONNECTIONS: "query_source, get_source_metadata"}


def instructions_for(settings: Settings) -> str:
    lines = [_BASE]
    step = 5
    if Toolset.KNOWLEDGE in settings.toolsets:
        saving = "" if settings.read_only else " When the user confirms an answer, save it with save_verified_query."
        lines.append(
            f"{step}. Before the first query on a dataset, read its context (get_dataset_context or "
            "infino://datasets/{name}/context) and follow its instructions; find_verified_queries finds saved "
            "queries for similar questions." + saving
        )
        step += 1
    if Toolset.DATASETS in settings.toolsets and not settings.read_only:
        lines.append(
            f"{step}. Load data with upload_json_to_dataset (records in the call) or, for files and large loads, "
            "upload_file (a CSV, JSON or JSONL file under a directory the operator allowed with --file-root)."
        )
        step += 1
    if Toolset.VISUALIZATIONS in settings.toolsets:
        lines.append(
            f"{step}. To chart results, create_visualization with SQL, then execute_visualization or render it; "
            "dashboards group visualizations (execute_dashboard runs all panels)."
        )
    if settings.read_only:
        lines.append("This server is read-only: tools that create, change or delete anything are not available.")
    elif not settings.allow_destructive:
        lines.append("Deleting tools ask the user to confirm before they run.")
    if settings.uses_local:
        cloud = [tools for toolset, tools in _CLOUD_TOOLS.items() if toolset in settings.toolsets]
        needs = f": {', '.join(cloud)} need Infino cloud and say so" if cloud else ""
        lines.append(f"Backend: the embedded local endpoint (no Infino account){needs}.")
    missing = [
        text + (f"; {cloud})" if cloud and settings.uses_local else ")")
        for toolset, (text, cloud) in _OPT_IN.items()
        if toolset not in settings.toolsets
    ]
    if missing:
        lines.append(f"Not loaded (the operator adds them with --toolsets): {', '.join(missing)}.")
    return "\n".join(lines)
