"""Run or test infino-mcp from a source checkout, with nothing but Python 3.11+.

    python3 scripts/dev.py run [infino-mcp flags...]   start the server (stdio; local mode without credentials)
    python3 scripts/dev.py test [pytest args...]       run the test suite
    python3 scripts/dev.py snapshots                   regenerate tools/*.json and the README tables
    python3 scripts/dev.py check                       the quality gates (lint, format, ...)
    python3 scripts/dev.py bundle [--out DIR]          server.json, and the MCPB bundle in dist/ (needs npm)

The first call creates ``.venv`` beside this checkout and installs the project
into it (with the extras each command needs); later calls reuse it and only
reinstall when pyproject.toml changed. Progress lines go to stderr, never
stdout, so ``run`` is safe as an MCP client's stdio command. ``run`` starts the
server in the caller's working directory, so relative paths (``--local ./mydata``)
mean what the caller meant.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
EXTRAS = {
    "run": "local,charts",
    "test": "test,charts",
    "snapshots": "test,charts",
    "check": "test,charts,gates",
    "bundle": "test",
}
GATES = (
    ["ruff", "check", "."],
    ["ruff", "format", "--check", "."],
    ["lint-imports", "--no-cache"],
    ["scripts/import_cycles.py"],
    ["scripts/module_sizes.py"],
    ["scripts/function_imports.py"],
    ["pyright", "--pythonpath", "{python}"],
    ["vulture"],
)


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env(extras: str) -> Path:
    """Create .venv and install the project with ``extras`` unless already done for this pyproject."""
    if not _python().exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"installing infino-mcp[{extras}] into .venv (the first time takes a minute or two) ...", file=sys.stderr)
        quiet = ["--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [str(_python()), "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True, stdout=sys.stderr
        )
        _pip_with_progress(
            ["install", "--disable-pip-version-check", "--progress-bar", "off", "-e", f"{ROOT}[{extras}]"]
        )
        stamp.write_text(digest)
        print("installed", file=sys.stderr)
    return _python()


def _pip_with_progress(args: list[str]) -> None:
    """Run pip, turning its output into one short stderr line per package fetched or step taken."""
    start = time.monotonic()
    process = subprocess.Popen(
        [str(_python()), "-m", "pip", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        words = line.split()
        if line.startswith("Collecting ") and len(words) > 1:
            step = f"fetching {words[1]}"
        elif line.startswith(("Building ", "Installing collected")):
            step = line.strip().rstrip(".")[:100]
        else:
            continue
        print(f"  [{time.monotonic() - start:4.0f}s] {step}", file=sys.stderr, flush=True)
    if process.wait() != 0:
        sys.stderr.write("".join(output[-40:]))
        sys.exit(f"pip install failed (exit {process.returncode}); its last lines are above")


def _runnable(gate: list[str]) -> list[str]:
    """A gate is a script of this checkout (run with the venv's Python) or a command installed in the venv."""
    args = [arg.replace("{python}", str(_python())) for arg in gate[1:]]
    if gate[0].endswith(".py"):
        return [str(_python()), gate[0], *args]
    return [str(_python().parent / gate[0]), *args]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in EXTRAS:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    python = ensure_env(EXTRAS[command])
    if command == "run":
        # The installed command, run where the caller is: relative paths are the caller's, and the
        # caller's directory is not put on the import path (python -m would).
        script = python.parent / ("infino-mcp.exe" if os.name == "nt" else "infino-mcp")
        sys.exit(subprocess.call([str(script), *rest]))
    elif command == "test":
        argv = [str(python), "-m", "pytest", *rest]
    elif command == "check":
        os.chdir(ROOT)
        failed = [" ".join(gate) for gate in GATES if subprocess.call(_runnable(gate)) != 0]
        if failed:
            sys.exit("gates failed: " + "; ".join(failed))
        print("all gates passed", file=sys.stderr)
        return
    elif command == "bundle":
        argv = [str(python), str(ROOT / "scripts" / "packaging.py"), *rest]
    else:
        argv = [str(python), str(ROOT / "scripts" / "catalog.py")]
    os.chdir(ROOT)
    sys.exit(subprocess.call(argv))


if __name__ == "__main__":
    main()
