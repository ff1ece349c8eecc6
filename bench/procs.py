"""Helpers the benchmarks share: child processes (the real commands) and timing summaries.

Every server a benchmark measures runs as its own process, started with the
command a user would type, so the benchmark's client does not share a GIL
with it.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable


@dataclass
class Child:
    """A child process whose stderr is read line by line (so it never blocks on a full pipe)."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _seen: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first match of ``pattern`` in what the child printed so far or prints within ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for match in map(regex.search, self.lines):
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"child never printed {pattern!r}:\n{''.join(self.lines)[-2000:]}")
                self._seen.wait(min(left, 0.2))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
    """Start ``argv`` with stdin closed and stdout discarded; its stderr is collected."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "error", **(env or {})},
    )
    child = Child(proc)

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with child._seen:
                child.lines.append(line)
                child._seen.notify_all()

    threading.Thread(target=drain, daemon=True).start()
    return child


@dataclass
class Endpoint:
    """A local Infino endpoint served over HTTP, and the keys it printed."""

    child: Child
    url: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """The environment that points infino-mcp (cloud mode) at this endpoint."""
        return {"INFINO_ENDPOINT": self.url, "INFINO_ACCESS_KEY": self.access_key, "INFINO_SECRET_KEY": self.secret_key}


def read_endpoint(child: Child) -> Endpoint:
    """Parse the banner ``infino-mcp local-endpoint`` prints (the benches' stand-ins print the same)."""
    url = child.wait_for(r"local endpoint on (http://\S+)")[1]
    access_key = child.wait_for(r"access key: (\S+)")[1]
    secret_key = child.wait_for(r"secret key: (\S+)")[1]
    return Endpoint(child, url, access_key, secret_key)


def local_endpoint(data_dir: str, *, sample_data: bool = False) -> Endpoint:
    """``infino-mcp local-endpoint --port 0`` on ``data_dir``, as a user starts it."""
    argv = [PYTHON, "-m", "infino_mcp", "local-endpoint", "--port", "0", "--data", data_dir]
    return read_endpoint(start(argv if sample_data else [*argv, "--no-sample-data"]))


def mcp_http(env: dict[str, str], *args: str) -> tuple[Child, str]:
    """``infino-mcp --transport streamable-http --port 0`` with ``env``; returns the child and its /mcp URL."""
    child = start([PYTHON, "-m", "infino_mcp", "--transport", "streamable-http", "--port", "0", *args], env)
    return child, child.wait_for(r"serving streamable-http on (http://\S+/mcp)")[1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None off Linux / once it exited."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def stat_cpu(fields: list[str]) -> float:
    """User + system CPU seconds from ``stat_fields``."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` so far (None where /proc is missing)."""
    fields = stat_fields(pid)
    return None if fields is None else stat_cpu(fields)
