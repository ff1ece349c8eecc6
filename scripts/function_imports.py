"""Fail when a module of infino_mcp imports inside a function without saying why.

    python scripts/function_imports.py

Imports belong at the top of the module. One inside a function is kept only for a
reason the code cannot show: an optional dependency (matplotlib, PyJWT...), cold start
(a heavy package only some modes need), or a platform-only module. The reason is a
comment on the line just above the import or at the end of one of its lines; a run of
imports with nothing between them shares the comment of the first. Run by
``python3 scripts/dev.py check``.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

Imports = list[ast.Import | ast.ImportFrom]


def _runs(body: list[ast.stmt]) -> Iterator[Imports]:
    """The runs of consecutive import statements in one statement list."""
    run: Imports = []
    for statement in body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            run.append(statement)
            continue
        if run:
            yield run
        run = []
    if run:
        yield run


def _function_import_runs(tree: ast.AST) -> Iterator[Imports]:
    """Every run of imports inside a function (at any depth: in an if, a try, a nested class)."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[Imports]:
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if inside and isinstance(block, list) and field != "handlers":
                yield from _runs(block)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside)

    yield from visit(tree, False)


def _comment_lines(source: str) -> tuple[set[int], set[int]]:
    """(lines that are only a comment, lines ending in a comment)."""
    alone, trailing = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            (alone if not token.line[:column].strip() else trailing).add(row)
    return alone, trailing


def unexplained(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each function-level import run in ``path`` with no comment saying why."""
    source = path.read_text(encoding="utf-8")
    alone, trailing = _comment_lines(source)
    lines = source.splitlines()
    found = []
    for run in _function_import_runs(ast.parse(source)):
        first, last = run[0].lineno, run[-1].end_lineno or run[-1].lineno
        if first - 1 in alone or any(row in trailing for row in range(first, last + 1)):
            continue
        found.append((first, lines[first - 1].strip()))
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "infino_mcp"
    failures = [(path, line, text) for path in sorted(root.rglob("*.py")) for line, text in unexplained(path)]
    for path, line, text in failures:
        print(
            f"{path.relative_to(root.parent)}:{line}: {text}: move it to the top of the module, or say why it "
            "is here in a comment just above it (optional dependency, cold start, platform)",
            file=sys.stderr,
        )
    if failures:
        return 1
    print("every function-level import of infino_mcp says why it is not at the top", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
