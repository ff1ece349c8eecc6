"""The identities file of ``--auth oauth``: which Infino key pair each signed-in person uses.

A JSON object ``{"identities": {"<identity>": {"access_key": ..., "secret_key": ...}}}``,
readable by its owner only (0600; the server refuses a file others can read).
``infino-mcp identities add|remove|list --identities FILE`` manages it; ``list``
never prints secret keys. The server re-reads the file when it changes, so
changes apply without a restart.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from infino_mcp.errors import ConfigError


def _check_private(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} can be read by other users: run chmod 600 {path}")


def _read(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    _check_private(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable identities file ({exc})") from None
    identities = body.get("identities") if isinstance(body, dict) else None
    if not isinstance(identities, dict):
        raise ConfigError(f'{path} is not an identities file: expected {{"identities": {{...}}}}')
    return identities


def _write(path: Path, identities: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"identities": identities}, out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def check_file(path: Path) -> None:
    """ConfigError when the file exists but is readable by others or malformed (a missing file is empty)."""
    _read(path.expanduser())


class IdentityStore:
    """Looks identities up in the file, re-reading it when it changed (call from a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._identities: dict[str, dict[str, str]] = {}

    def lookup(self, identity: str) -> tuple[str, str] | None:
        with self._lock:
            try:
                info = self.path.stat()
                version: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
            except FileNotFoundError:
                version = None
            if version != self._seen:
                self._identities = _read(self.path) if version else {}
                self._seen = version
            entry = self._identities.get(identity)
        if not isinstance(entry, dict) or not entry.get("access_key") or not entry.get("secret_key"):
            return None
        return entry["access_key"], entry["secret_key"]


def _shown_key(access_key: str) -> str:
    return access_key if len(access_key) <= 8 else f"{access_key[:4]}...{access_key[-4:]}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infino-mcp identities",
        description="Manage the identities file of --auth oauth: each signed-in identity's Infino key pair.",
    )
    parser.add_argument(
        "--identities",
        type=Path,
        default=os.environ.get("INFINO_IDENTITIES") or None,
        help="The identities file [env INFINO_IDENTITIES].",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="Add or replace an identity; the secret key is read from stdin.")
    add.add_argument("identity", help="The identity as the token names it (its sub claim by default).")
    add.add_argument("--access-key", required=True, help="The person's Infino access key.")
    remove = commands.add_parser("remove", help="Remove an identity.")
    remove.add_argument("identity")
    commands.add_parser("list", help="List identities and their access keys (never secret keys).")
    return parser


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    if args.identities is None:
        sys.exit("infino-mcp identities: name the file with --identities FILE (or INFINO_IDENTITIES)")
    path: Path = args.identities.expanduser()
    try:
        identities = _read(path)
        if args.command == "list":
            for identity, entry in sorted(identities.items()):
                print(f"{identity}\taccess key {_shown_key(str(entry.get('access_key', '')))}")
            if not identities:
                print(f"no identities in {path}", file=sys.stderr)
            return
        if args.command == "remove":
            if identities.pop(args.identity, None) is None:
                sys.exit(f"infino-mcp identities: {args.identity!r} is not in {path}")
            _write(path, identities)
            print(f"removed {args.identity}", file=sys.stderr)
            return
        if sys.stdin.isatty():
            secret = getpass.getpass(f"secret key for {args.access_key}: ")
        else:
            secret = sys.stdin.readline()
        secret = secret.strip()
        if not secret:
            sys.exit("infino-mcp identities: no secret key given on stdin")
        entry: dict[str, Any] = {"access_key": args.access_key, "secret_key": secret}
        identities[args.identity] = entry
        _write(path, identities)
        print(f"added {args.identity} (access key {_shown_key(args.access_key)}) to {path}", file=sys.stderr)
    except ConfigError as exc:
        sys.exit(f"infino-mcp identities: {exc}")
