"""The function-level import gate (scripts/function_imports.py): an import inside a function says why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "scripts" / "function_imports.py"


def _checked(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """The gate run over a copy of itself in a tree whose only module is ``source``."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "function_imports.py").write_text(SCRIPT.read_text())
    (tmp_path / "infino_mcp").mkdir()
    (tmp_path / "infino_mcp" / "mod.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "function_imports.py")], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "source",
    [
        "import json\n\ndef f():\n    return json\n",
        "def f():\n    # Cold start: json is heavy here.\n    import json\n    from os import path\n    return json, path\n",
        "def f():\n    import json  # optional extra\n    return json\n",
        "def f():\n    try:\n        # Optional: the [charts] extra.\n        import json\n    except ImportError:\n        pass\n",
    ],
)
def test_top_level_and_explained_imports_pass(tmp_path: Path, source: str) -> None:
    done = _checked(tmp_path, source)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def f():\n    import json\n    return json\n", 2),
        ("def f():\n    # why\n    import json\n    x = 1\n    import os\n    return json, os, x\n", 5),
        ("class C:\n    async def m(self):\n        if True:\n            from os import path\n", 4),
        ("def f():\n    def g():\n        from os import (\n            path,\n        )\n", 3),
    ],
)
def test_an_unexplained_function_import_fails_naming_its_line(tmp_path: Path, source: str, line: int) -> None:
    done = _checked(tmp_path, source)
    assert done.returncode == 1
    assert done.stderr.count("infino_mcp/mod.py:") == 1 and f"infino_mcp/mod.py:{line}:" in done.stderr
