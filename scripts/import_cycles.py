"""Fail when any modules of infino_mcp import each other in a circle (type-only imports included).

    python scripts/import_cycles.py

Run by ``python3 scripts/dev.py check``. Prints each circle it finds, shortest first.
"""

from __future__ import annotations

import sys

import grimp


def cycles(package: str) -> list[list[str]]:
    graph = grimp.build_graph(package, exclude_type_checking_imports=False)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            path = graph.find_shortest_chain(importer=imported, imported=module)
            if path is None:
                continue
            circle = [module, *path]
            key = frozenset(circle)
            if key not in seen:
                seen.add(key)
                found.append(circle)
    return sorted(found, key=len)


def main() -> int:
    found = cycles("infino_mcp")
    for circle in found:
        print("import cycle: " + " -> ".join(circle), file=sys.stderr)
    if found:
        print(f"{len(found)} import cycle(s) in infino_mcp", file=sys.stderr)
        return 1
    print("no import cycles in infino_mcp", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
