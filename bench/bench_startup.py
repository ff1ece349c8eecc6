"""Benchmark: cold start, time from spawning ``infino-mcp`` (stdio) to its initialize reply, same run.

    python bench/bench_startup.py [--runs 7]

Baseline: ``python -c "import mcp.server"`` run to completion, the least any
server built on the MCP SDK pays. Measured for

* cloud mode (``INFINO_ENDPOINT`` and keys set; the start-up check runs after
  the initialize reply), default toolsets and ``--toolsets all``;
* local mode (no credentials: the embedded endpoint opens its data directory,
  created with the sample dataset before the runs, after the initialize reply).

Each run writes an ``initialize`` request on stdin as soon as the process is
spawned and waits for the reply line. Prints the medians and ours / baseline;
the goal is <= 1.2x for cloud mode. The time to the ``tools/list`` reply,
sent right after the initialize reply, is printed too: it includes what the
server starts once it has replied (the start-up check's first connection;
tools are registered before the reply).
``--imports`` also lists the packages a
cloud-mode start imports beyond ``mcp.server`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
CLOUD = {"INFINO_ENDPOINT": "http://127.0.0.1:9", "INFINO_ACCESS_KEY": "AKBENCH", "INFINO_SECRET_KEY": "bench-secret"}
GOAL = 1.2


def _env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("INFINO_")}
    return {**keep, "RUST_LOG": "error", **extra}


def time_initialize(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the initialize reply, and to the tools/list reply sent after it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [procs.PYTHON, "-m", "infino_mcp", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.stdin.write(json.dumps(INITIALIZED).encode() + b"\n" + json.dumps(LIST_TOOLS).encode() + b"\n")
    proc.stdin.flush()
    listed = proc.stdout.readline()
    to_list = time.perf_counter() - start
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for what, text in (("initialize", line), ("tools/list", listed)):
        reply = json.loads(text or b"null")
        if not isinstance(reply, dict) or "result" not in reply:
            raise SystemExit(f"no {what} reply from infino-mcp {' '.join(args)}: {text[:300]!r}")
    return elapsed, to_list


def prepare(env: dict[str, str]) -> None:
    """One local-mode session up to a tool call's answer: the data directory and the sample dataset exist after it."""
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_datasets", "arguments": {}}}
    messages = b"".join(json.dumps(m).encode() + b"\n" for m in (INITIALIZE, INITIALIZED, call))
    proc = subprocess.Popen(
        [procs.PYTHON, "-m", "infino_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(messages)
    proc.stdin.flush()
    replies = [json.loads(proc.stdout.readline() or b"null") for _ in range(2)]
    proc.stdin.close()
    proc.wait(30)
    if not isinstance(replies[1], dict) or "result" not in replies[1] or replies[1]["result"].get("isError"):
        raise SystemExit(f"local mode did not answer get_datasets: {str(replies[1])[:300]}")


def time_import_baseline(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([procs.PYTHON, "-c", "import mcp.server"], check=True, env=env)
    return time.perf_counter() - start


def _import_self_times(argv: list[str], env: dict[str, str], stdin: bytes) -> dict[str, float]:
    """Self import time by top-level package, from ``python -X importtime argv``."""
    proc = subprocess.run(
        [procs.PYTHON, "-X", "importtime", *argv], input=stdin, capture_output=True, env=env, timeout=60
    )
    totals: dict[str, float] = {}
    for line in proc.stderr.decode(errors="replace").splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(parts[0]) / 1e6
    return totals


def extra_imports(env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """Packages a cloud-mode start imports beyond ``import mcp.server``, by self import time."""
    ours = _import_self_times(["-m", "infino_mcp"], env, json.dumps(INITIALIZE).encode() + b"\n")
    sdk = _import_self_times(["-c", "import mcp.server"], env, b"")
    extra = {name: seconds for name, seconds in ours.items() if name not in sdk}
    return sorted(extra.items(), key=lambda item: -item[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--imports", action="store_true", help="list what a cloud-mode start imports beyond mcp.server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        local = _env({"INFINO_DATA_DIR": data_dir})
        prepare(local)
        cases = {
            "cloud mode, default toolsets": ([], _env(CLOUD)),
            "cloud mode, --toolsets all": (["--toolsets", "all"], _env(CLOUD)),
            "local mode, default toolsets": ([], local),
        }
        baseline: list[float] = []
        samples: dict[str, list[float]] = {name: [] for name in cases}
        listed: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so load from elsewhere hits every case alike
            baseline.append(time_import_baseline(_env({})))
            for name, (argv, env) in cases.items():
                to_initialize, to_list = time_initialize(argv, env)
                samples[name].append(to_initialize)
                listed[name].append(to_list)
    base = procs.median(baseline)
    print(f"median of {args.runs} runs each; load average {os.getloadavg()[0]:.1f}")
    label = 'python -c "import mcp.server"'
    print(f"{label:32s} {procs.ms(base)}")
    for name, runs in samples.items():
        ratio = procs.median(runs) / base
        verdict = ("ok" if ratio <= GOAL else f"over {GOAL}x") if name.startswith("cloud") else ""
        print(f"{name:32s} {procs.ms(procs.median(runs))}  ours/import {ratio:5.2f}x  {verdict}")
    print("the same starts, to the tools/list reply (sent after the initialize reply; not the goal):")
    for name, runs in listed.items():
        print(f"  {name:30s} {procs.ms(procs.median(runs))}  ours/import {procs.median(runs) / base:5.2f}x")
    if args.imports:
        print("packages a cloud-mode start imports beyond mcp.server (self import time):")
        for name, seconds in extra_imports(_env(CLOUD)):
            print(f"  {name:24s} {procs.ms(seconds)}")


if __name__ == "__main__":
    main()
