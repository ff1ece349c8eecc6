"""Facts of the Infino HTTP API that both sides of the wire share: the MCP client and the local endpoint.

Plain constants only: importing this module costs nothing and imports nothing of ours.
"""

from __future__ import annotations

# Top-level paths of the API: a dataset with one of these names would collide with them.
RESERVED_DATASET_NAMES = frozenset(
    {"metadata", "sql", "promql", "visualizations", "dashboards", "fino", "sources", "source",
     "import", "users", "user", "roles", "role"}
)  # fmt: skip
