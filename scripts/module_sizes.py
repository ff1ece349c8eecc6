"""Fail when a module of infino_mcp passes 400 lines without saying why at its top.

    python scripts/module_sizes.py

The reason is a first line of the form ``# Over 400 lines: <why>.``. Run by
``python3 scripts/dev.py check``.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 400
MARK = "# Over 400 lines:"


def oversized(root: Path) -> list[tuple[Path, int]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LIMIT and not (lines and lines[0].startswith(MARK)):
            found.append((path, len(lines)))
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "infino_mcp"
    found = oversized(root)
    for path, count in found:
        print(
            f"{path.relative_to(root.parent)}: {count} lines; split it or start it with '{MARK} <why>.'",
            file=sys.stderr,
        )
    if found:
        return 1
    print(f"every module of infino_mcp is within {LIMIT} lines or says why not", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
