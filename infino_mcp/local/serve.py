"""``infino-mcp local-endpoint``: the local Infino endpoint over HTTP on 127.0.0.1.

Any Infino client (the official SDK included) can use it with the access and
secret key printed at start; they are created on first start and kept in the
data directory, readable only by its owner. It takes the data directory's lock
and also serves the directory's Unix socket, so local-mode MCP servers on the
same directory attach to it; if another process serves the directory already,
it refuses (exit 2) naming that process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio

from infino_mcp.config import default_data_dir
from infino_mcp.sockets import listening_socket


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infino-mcp local-endpoint", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--port", type=int, default=9200, help="Port (default 9200; 0 picks a free one).")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    parser.add_argument("--data", type=Path, default=None, help="Data directory (default: the user data directory).")
    parser.add_argument("--no-sample-data", action="store_true", help="Do not load the sample dataset.")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=10_000,
        help="Most rows one SQL answer carries (default 10000); a cut answer says so (truncated, note).",
    )
    parser.add_argument(
        "--memory-budget",
        type=int,
        default=2048,
        help="MiB of memory the engine may hold for queries and ingest (default 2048; 0: no cap); "
        "a query over it is refused with a 400.",
    )
    return parser


async def _run(args: argparse.Namespace) -> None:
    # Loaded once the flags are checked, after RUST_LOG is set: --help and a bad flag answer without
    # loading the engine, Starlette and uvicorn.
    import uvicorn

    from infino_mcp.local.app import create_app
    from infino_mcp.local.owner import KEEP_ALIVE, bind_owner_socket
    from infino_mcp.local.services import open_services
    from infino_mcp.local.storage.ownership import DirectoryOwned, socket_path
    from infino_mcp.local.storage.sample import load_sample

    data_dir = (args.data or default_data_dir()).expanduser().resolve()
    try:
        services = open_services(data_dir, max_rows=args.max_rows, memory_budget_mib=args.memory_budget)
    except DirectoryOwned as exc:
        print(f"infino-mcp local-endpoint: {exc}; stop that process or choose another --data", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        if not args.no_sample_data:
            await load_sample(services.writer)
        access_key, secret_key = services.rbac.bootstrap_credentials()
        assert services.lock is not None
        unix = bind_owner_socket(services.lock)
        # Bind before announcing, so a client may connect as soon as it reads the line.
        sock = listening_socket(args.host, args.port)
        port = sock.getsockname()[1]
        reclaimed = services.reclaimed.describe()
        print(
            f"infino-mcp local endpoint on http://{args.host}:{port}\n"
            f"  data:       {data_dir} (this process serves it, pid {os.getpid()})\n"
            f"  socket:     {socket_path(data_dir)}\n"
            f"  access key: {access_key}\n"
            f"  secret key: {secret_key}\n"
            "  (SigV4, region us-east-1, service es)" + (f"\n  {reclaimed}" if reclaimed else ""),
            file=sys.stderr,
            flush=True,
        )
        config = uvicorn.Config(create_app(services), log_level="warning", timeout_keep_alive=KEEP_ALIVE)
        await uvicorn.Server(config).serve(sockets=[sock, unix])
    finally:
        await services.aclose()


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    if args.max_rows < 1:
        print("infino-mcp local-endpoint: --max-rows must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    if args.memory_budget < 0:
        print("infino-mcp local-endpoint: --memory-budget must be 0 (no cap) or more MiB", file=sys.stderr)
        raise SystemExit(2)
    if not 0 <= args.port < 65536:
        print("infino-mcp local-endpoint: --port must be between 0 (any free port) and 65535", file=sys.stderr)
        raise SystemExit(2)
    os.environ.setdefault("RUST_LOG", "error")
    anyio.run(_run, args)
