"""No blocking I/O on the event loop: a representative run of tool calls and endpoint requests (and a second
server attached to the first's data directory, which then takes it over), watched
by an audit hook (``sys.addaudithook``) that notes every file, lock, process, socket, sleep and engine
event and the thread it happens on.

What the hook can see: Python's audited operations (``open`` covers ``open``/``os.open``/``Path.read_text``
and every write of a JSON store; ``os.rename`` covers ``os.replace``; ``shutil.rmtree``, ``os.mkdir``,
``os.listdir``, ``os.scandir``, ``fcntl.flock``, ``time.sleep``, ``subprocess.Popen``, ``sqlite3.connect``,
``socket.connect`` of a blocking socket...). ``os.fsync`` and ``os.stat`` raise no audit event; every fsync of ours follows an
``open`` of the same file, which is seen. The engine reads and writes its files in native code, which no
hook sees: every call into it raises ``infino.engine`` instead (``local/storage/native.py``), so an engine
call on the loop is seen like a file opened there.

What a module import does on the loop (finding and reading ``.py`` files, a library probing for IPv6 at
import) is let through: a function-level import runs once per process, a cold-start choice, not I/O a
request repeats.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from infino_mcp.server import build_server
from tests.mcp_fixtures import settings_for

pytestmark = pytest.mark.anyio

WATCHED = frozenset(
    {
        "open",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.listdir",
        "os.scandir",
        "os.chmod",
        "os.truncate",
        "os.utime",
        "os.link",
        "os.symlink",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.move",
        "fcntl.flock",
        "fcntl.lockf",
        "time.sleep",
        "subprocess.Popen",
        "os.system",
        "os.posix_spawn",
        "os.fork",
        "sqlite3.connect",
        "socket.connect",
        "socket.bind",
        "glob.glob",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "infino.engine",
    }
)


class Recorder:
    """Audit events while armed: those on the event loop's thread (with where they came from) and the
    names of those on other threads. Hooks cannot be removed: disarmed, it returns at once."""

    def __init__(self) -> None:
        self.loop_thread: int | None = None
        self.on_loop: list[tuple[str, Any, list[str]]] = []
        self.elsewhere: set[str] = set()

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.loop_thread is None or event not in WATCHED:
            return
        if threading.get_ident() != self.loop_thread:
            self.elsewhere.add(event)
            return
        if _importing() or (event == "socket.connect" and args[0].gettimeout() == 0.0):
            return  # an import, or the loop's own non-blocking connect
        self.on_loop.append((event, args[0] if args else None, _where()))

    @contextmanager
    def armed(self) -> Iterator[None]:
        self.loop_thread = threading.get_ident()
        try:
            yield
        finally:
            self.loop_thread = None


def _importing() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _where() -> list[str]:
    """Our frames that led to the event (no source read: that would open files inside the hook)."""
    out, frame = [], sys._getframe(2)
    while frame is not None and len(out) < 8:
        name = frame.f_code.co_filename
        if "infino_mcp" in name and "/tests/" not in name:
            out.append(f"{name.rsplit('infino_mcp', 1)[-1]}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return out


_recorder: list[Recorder] = []


@pytest.fixture
def recorder() -> Recorder:
    if not _recorder:
        _recorder.append(Recorder())
        sys.addaudithook(_recorder[0])
    _recorder[0].on_loop.clear()
    _recorder[0].elsewhere.clear()
    return _recorder[0]


def _report(events: list[tuple[str, Any, list[str]]]) -> str:
    return "\n".join(f"{event} {arg!r} from {' <- '.join(where) or '?'}" for event, arg, where in events[:20])


ORDERS = [
    {"id": f"o{i}", "currency": ["EUR", "USD", "GBP"][i % 3], "amount": i * 1.5, "at": f"2026-01-{1 + i % 28:02d}"}
    for i in range(80)
]
METRICS = 'http_requests_total{code="200",job="api"} 1027 1767225600000\nhttp_requests_total{code="500",job="api"} 3 1767225600000\n'
READER = {
    "Permissions": [
        {"Effect": "Allow", "ResourceType": "record", "Actions": ["read"], "Resources": ["orders"],
         "Fields": {"Mask": {"amount": "redact"}}},
    ]
}  # fmt: skip


async def test_no_blocking_io_on_the_event_loop(
    recorder: Recorder, make_mcp: Any, call: Any, endpoint: Any, tmp_path: Path
) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "products.jsonl").write_text("".join(json.dumps({"sku": f"p{i}", "price": i}) + "\n" for i in range(10)))
    mcp = await make_mcp(file_root=[root])
    viz = {"title": "By currency", "source": {"kind": "sql", "index": "orders", "sql": {"raw_query": (
        "SELECT currency, SUM(amount) AS total FROM orders GROUP BY currency ORDER BY currency")}},
        "chart": {"type": "bar"}}  # fmt: skip
    with recorder.armed():
        await call(mcp, "create_dataset", {"dataset": "orders"})
        await call(mcp, "upload_json_to_dataset", {"dataset": "orders", "records": ORDERS, "id_field": "id"})
        bulk = "".join(json.dumps({"index": {}}) + "\n" + json.dumps({"n": i}) + "\n" for i in range(100))
        fast = await endpoint.post("/events/json", content=bulk)  # the bulk fast path (a new dataset, then more)
        again = await endpoint.post("/events/json", content=bulk)
        await call(mcp, "upsert_to_dataset", {"query": "INSERT INTO fresh (a, b) VALUES (1, 'x'), (2, 'y')"})
        await call(mcp, "upsert_to_dataset", {"query": "UPDATE orders SET amount = 0 WHERE currency = 'GBP'"})
        sql = await call(
            mcp,
            "query_dataset_in_sql",
            {"query": "SELECT currency, COUNT(*) AS n FROM orders GROUP BY currency ORDER BY currency"},
        )
        dsl = await call(mcp, "query_dataset_in_querydsl", {"dataset": "orders", "query": {
            "query": {"match": {"currency": "EUR"}}, "aggs": {"total": {"sum": {"field": "amount"}}}}})  # fmt: skip
        await call(mcp, "upload_metrics_to_dataset", {"dataset": "metrics", "metrics": METRICS})
        prom = await call(
            mcp, "query_dataset_in_promql", {"query": "sum by (code) (http_requests_total)", "time": 1767225600}
        )
        await call(mcp, "upload_file", {"dataset": "products", "path": str(root / "products.jsonl")})
        job = await call(
            mcp, "upload_file", {"dataset": "products", "path": str(root / "products.jsonl"), "async_mode": True}
        )
        await call(mcp, "get_connector_job_status", {"run_id": job["run_id"]})
        await call(mcp, "get_datasets", {})
        await call(mcp, "get_dataset_schema", {"dataset": "orders"})
        await call(mcp, "get_record", {"dataset": "orders", "record_id": "o1"})
        await call(
            mcp, "enrich_dataset", {"dataset": "orders", "policy": {"match_field": "id", "enrich_fields": ["currency"]}}
        )
        await call(mcp, "profile_dataset", {"dataset": "orders"})
        await call(mcp, "set_dataset_context", {"dataset": "orders", "description": "Orders, one per row."})
        await call(
            mcp,
            "save_verified_query",
            {"dataset": "orders", "question": "how many", "query": "SELECT COUNT(*) FROM orders", "language": "sql"},
        )
        await call(mcp, "get_dataset_context", {"dataset": "orders"})
        viz_id = (await call(mcp, "create_visualization", {"spec": viz}))["id"]
        await call(mcp, "update_visualization", {"viz_id": viz_id, "patch": {"title": "Totals by currency"}})
        await call(mcp, "execute_visualization", {"viz_id": viz_id})
        await mcp.call_tool("render_visualization", {"viz_id": viz_id})
        dash = (await call(mcp, "create_dashboard", {"spec": {"title": "Sales", "panels": [{"viz_id": viz_id}]}}))["id"]
        await call(mcp, "execute_dashboard", {"dashboard_id": dash})
        await call(mcp, "create_role", {"name": "reader", "config": READER})
        ann = await call(
            mcp, "create_user", {"name": "ann", "config": {"Password": "correct horse 1", "Roles": ["reader"]}}
        )
        await call(mcp, "update_user", {"name": "ann", "config": {"Roles": ["reader"]}})
    as_ann = await make_mcp(credentials=(ann["access_key"], ann["secret_key"]))  # a server starting: not a request
    with recorder.armed():
        masked = await call(
            as_ann, "query_dataset_in_sql", {"query": "SELECT id, amount FROM orders ORDER BY id LIMIT 2"}
        )
        await call(mcp, "rotate_keys", {"username": "ann"})
        thread = await call(mcp, "create_thread", {"name": "questions"})
        await call(mcp, "add_thread_message", {"thread_id": thread["id"], "content": "hello"})
        await call(mcp, "update_thread", {"thread_id": thread["id"], "name": "renamed"})
        await call(mcp, "clear_thread_messages", {"thread_id": thread["id"]})
        conn = await call(mcp, "create_connection", {"source_type": "postgres", "config": {"name": "pg", "host": "db"}})
        await call(mcp, "update_connection", {"connection_id": conn["result"]["id"], "config": {"host": "db2"}})
        await call(mcp, "delete_connection", {"connection_id": conn["result"]["id"]})
        await call(mcp, "delete_records", {"dataset": "orders", "query": {"query": {"term": {"currency": "USD"}}}})
        await call(mcp, "delete_thread", {"thread_id": thread["id"]})
        await call(mcp, "delete_dashboard", {"dashboard_id": dash})
        await call(mcp, "delete_visualization", {"viz_id": viz_id})
        await call(mcp, "delete_user", {"name": "ann"})
        await call(mcp, "delete_role", {"name": "reader"})
        await call(mcp, "delete_dataset", {"dataset": "events"})
        await call(mcp, "delete_dataset", {"dataset": "fresh"})

    assert fast.status_code == 200 and again.status_code == 200 and not again.json()["errors"]
    counts = Counter(order["currency"] for order in ORDERS)
    assert [(r["currency"], r["n"]) for r in sql["rows"]] == sorted(counts.items())
    assert dsl and prom and masked["rows"]
    assert not recorder.on_loop, "blocking work on the event loop:\n" + _report(recorder.on_loop)
    # The run did real work, and the hook saw it where it belongs: on worker threads.
    assert {"open", "os.rename", "infino.engine", "shutil.rmtree"} <= recorder.elsewhere


async def test_no_blocking_io_when_attached_or_taking_over(recorder: Recorder, call: Any, tmp_path: Path) -> None:
    """A server in this process attaches to the data directory another process (stdio) serves; when that
    process goes, this one's next call takes the directory over."""
    data_dir = tmp_path / "shared"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")} | {"RUST_LOG": "error"}
    args = ["-m", "infino_mcp", "--local", str(data_dir), "--no-sample-data", "--retry-backoff", "0"]
    owner_up, stop_owner, owner_gone = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:
        async with Client(StdioServerParameters(command=sys.executable, args=args, env=env)) as client:
            await call(client, "ping", {})  # that process serves the directory from now on
            owner_up.set()
            await stop_owner.wait()
        owner_gone.set()  # the process has exited

    async with anyio.create_task_group() as group:
        group.start_soon(owner)
        await owner_up.wait()
        async with Client(build_server(settings_for(data_dir))) as attached:
            with recorder.armed():
                await call(attached, "ping", {})
                await call(attached, "upload_json_to_dataset", {"dataset": "orders", "records": ORDERS})
                before = await call(attached, "query_dataset_in_sql", {"query": "SELECT COUNT(*) AS n FROM orders"})
            stop_owner.set()
            await owner_gone.wait()
            with recorder.armed():
                after = await call(attached, "query_dataset_in_sql", {"query": "SELECT COUNT(*) AS n FROM orders"})
                served = await call(attached, "ping", {})

    assert "this process serves it" in served["local"]
    assert before["rows"] == after["rows"] == [{"n": len(ORDERS)}]
    assert not recorder.on_loop, "blocking work on the event loop:\n" + _report(recorder.on_loop)
    assert {"open", "infino.engine", "socket.bind", "fcntl.flock"} <= recorder.elsewhere


def test_only_the_engine_module_enters_the_engine() -> None:
    """The audit event covers the engine only if nothing reaches ``infino`` around ``Engine``: one module imports
    it, and every engine object that module keeps is wrapped by ``Native`` (the connection and each table)."""
    package = Path(__file__).resolve().parents[2] / "infino_mcp"
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(
            line.strip() in ("import infino", "import infino as engine") or line.startswith("from infino import")
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    )
    assert importers == ["local/storage/engine.py"]
    source = (package / "local" / "storage" / "engine.py").read_text(encoding="utf-8")
    assert "self._conn = Native(" in source and "Native(self._conn.open_table(table))" in source
    assert source.count("infino.connect(") == 1
