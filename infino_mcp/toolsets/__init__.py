"""One module per Infino API category; each declares its tools with ``@infino_tool``."""

from infino_mcp.toolsets import (
    charts,
    connections,
    dashboards,
    datasets,
    fino,
    fino_stream,
    knowledge,
    query,
    rbac,
    visualizations,
)

TOOLSET_MODULES = (datasets, query, connections, visualizations, charts, dashboards, fino, fino_stream, rbac, knowledge)
