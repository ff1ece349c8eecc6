"""Peak RSS of `infino-mcp local-endpoint` for queries that build huge values or hold everything.

    python bench/bench_query_memory.py [--memory-budget MIB] [--cap-mb MB]

Each query runs in a fresh endpoint process (the official SDK over HTTP); its peak RSS
(VmHWM) is read from /proc, and the process is killed if it passes --cap-mb. Prints each
answer (status, first words), the time and the peak against a baseline process answering
``SELECT 1`` in the same run. Target: every attack answers 400 (or a bounded result) and
stays within the memory budget plus the baseline and the engine's overshoot.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from infino_sdk.lib import InfinoError, InfinoSDK

QUERIES = {
    "baseline": "SELECT 1 AS one",
    "repeat, count from a subquery": "SELECT length(repeat('a', (SELECT 1500000000))) AS n",
    "repeat, count from data": "SELECT length(repeat('a', x)) AS n FROM (SELECT 1500000000 AS x) AS t",
    "string_agg of 5M x 1 KB": "SELECT length(string_agg(repeat('x', 1000), '')) AS n FROM generate_series(1, 5000000)",
    "array_agg of 100M rows": "SELECT cardinality(array_agg(x)) AS n FROM generate_series(1, 100000000) AS t(x)",
    "cross join grouped into arrays": (
        "SELECT a.x, array_agg(b.y) AS ys FROM generate_series(1, 20000) AS a(x), "
        "generate_series(1, 5000) AS b(y) GROUP BY a.x ORDER BY a.x"
    ),
    "count over generate_series(1, 1e12)": "SELECT count(*) AS n FROM generate_series(1, 1000000000000)",
}


def _peak_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))


def measure(sql: str, budget: int, cap_mb: int, timeout: float) -> str:
    with tempfile.TemporaryDirectory() as data:
        command = [sys.executable, "-m", "infino_mcp", "local-endpoint", "--port", "0", "--data", data]
        command += ["--no-sample-data", "--memory-budget", str(budget)]
        process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "RUST_LOG": "error"},
        )
        assert process.stderr is not None
        banner = ""
        for line in process.stderr:
            banner += line
            if "secret key:" in line:
                break
        url, access, secret = (
            re.search(p, banner)[1] for p in (r"on (http://\S+)", r"access key: (\S+)", r"secret key: (\S+)")
        )
        sdk = InfinoSDK(access, secret, url)
        answer: list[str] = []

        def call() -> None:
            try:
                sdk.query_dataset_in_sql(sql)
                answer.append("200")
            except InfinoError as exc:
                answer.append(f"{exc.status_code()} {exc.message[:90]}")

        started = time.monotonic()
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        peak = _peak_mb(process.pid)
        while worker.is_alive():
            worker.join(0.1)
            peak = _peak_mb(process.pid)
            if peak > cap_mb or time.monotonic() - started > timeout:
                answer.append(f"killed ({'over --cap-mb' if peak > cap_mb else 'timeout'})")
                break
        elapsed = time.monotonic() - started
        process.kill()
        process.wait()
        process.stderr.close()
        return f"{peak:6d} MB  {elapsed:6.1f} s  {answer[0] if answer else '?'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-budget", type=int, default=2048, help="MiB (the endpoint's default 2048)")
    parser.add_argument("--cap-mb", type=int, default=4000, help="kill a process whose RSS passes this")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    for name, sql in QUERIES.items():
        print(f"{name:<38} {measure(sql, args.memory_budget, args.cap_mb, args.timeout)}", flush=True)


if __name__ == "__main__":
    main()
