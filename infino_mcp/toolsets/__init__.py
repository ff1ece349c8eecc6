"""One module per Infino API category; each declares its tools with ``@infino_tool``.

A server imports only the modules its selected toolsets need (cold start): ``MODULE_TOOLSETS`` says
which toolsets each module declares tools of, in catalog order (a test checks it against the
declarations).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from infino_mcp.config import Toolset

MODULE_TOOLSETS: dict[str, frozenset[Toolset]] = {
    "datasets": frozenset({Toolset.DATASETS}),
    "query": frozenset({Toolset.QUERY}),
    "connections": frozenset({Toolset.CONNECTIONS, Toolset.DATASETS}),
    "visualizations": frozenset({Toolset.VISUALIZATIONS}),
    "charts": frozenset({Toolset.VISUALIZATIONS}),
    "dashboards": frozenset({Toolset.DASHBOARDS}),
    "fino": frozenset({Toolset.FINO}),
    "fino_stream": frozenset({Toolset.FINO}),
    "rbac": frozenset({Toolset.RBAC}),
    "knowledge": frozenset({Toolset.KNOWLEDGE}),
}


def toolset_modules(toolsets: Iterable[Toolset] | None = None) -> list[ModuleType]:
    """The toolset modules in catalog order: all of them, or those declaring tools of one of ``toolsets``."""
    wanted = None if toolsets is None else frozenset(toolsets)
    return [
        importlib.import_module(f"{__name__}.{name}")
        for name, declared in MODULE_TOOLSETS.items()
        if wanted is None or declared & wanted
    ]
