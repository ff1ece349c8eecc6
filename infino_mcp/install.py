"""``infino-mcp install CLIENT [--dry-run]``: add this server to an MCP client's configuration file.

The entry runs this same Python (``python -m infino_mcp``), so it works from
any install. ``INFINO_ENDPOINT`` / ``INFINO_ACCESS_KEY`` / ``INFINO_SECRET_KEY``
in the environment at install time go into the entry (local mode without
them). Other servers' entries and every other key are kept as they were; a file
that is not valid JSON is left alone with an error. VS Code's file lives in the
workspace, so its secrets are ``inputs`` (``password: true``) VS Code asks for,
never written there. ``--dry-run`` prints the file and the result, secrets
hidden, and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")
_SECRETS = ("INFINO_ACCESS_KEY", "INFINO_SECRET_KEY")
_HIDDEN = "<hidden>"


def config_path(
    client: str, *, platform: str = sys.platform, home: Path | None = None, environ: dict[str, str] | None = None
) -> Path:
    """Where ``client`` reads its MCP servers on ``platform`` (VS Code: the current workspace)."""
    home = home or Path.home()
    environ = dict(os.environ) if environ is None else environ
    if client == "claude-desktop":
        if platform == "darwin":
            return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
        if platform == "win32":
            return (
                Path(environ.get("APPDATA") or home / "AppData" / "Roaming") / "Claude" / "claude_desktop_config.json"
            )
        return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "Claude" / "claude_desktop_config.json"
    if client == "claude-code":
        return home / ".claude.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    return Path.cwd() / ".vscode" / "mcp.json"


def _credentials(environ: dict[str, str]) -> dict[str, str]:
    names = ("INFINO_ENDPOINT", *_SECRETS)
    given = {name: environ[name] for name in names if environ.get(name)}
    if given and len(given) != len(names):
        missing = ", ".join(name for name in names if name not in given)
        raise SystemExit(
            f"infino-mcp install: {missing} missing: set all three for Infino cloud, or none for local mode"
        )
    return given


def entry_for(client: str, args: list[str], environ: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the server entry, VS Code inputs) for ``client``."""
    entry: dict[str, Any] = {"command": sys.executable, "args": ["-m", "infino_mcp", *args]}
    credentials = _credentials(environ)
    inputs: list[dict[str, Any]] = []
    if client == "vscode":
        entry = {"type": "stdio", **entry}
        for name in list(credentials):
            if name in _SECRETS:
                key = name.lower().replace("_", "-")
                inputs.append(
                    {"type": "promptString", "id": key, "description": f"{name} for infino-mcp", "password": True}
                )
                credentials[name] = f"${{input:{key}}}"
    if credentials:
        entry["env"] = credentials
    return entry, inputs


def merged(
    current: dict[str, Any], client: str, name: str, entry: dict[str, Any], inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """``current`` with this server's entry set; every other key and server kept."""
    result = dict(current)
    key = "servers" if client == "vscode" else "mcpServers"
    servers = dict(result.get(key) or {})
    servers[name] = entry
    result[key] = servers
    if inputs:
        ids = {i["id"] for i in inputs}
        result["inputs"] = [i for i in result.get("inputs") or [] if i.get("id") not in ids] + inputs
    return result


def _hidden(config: dict[str, Any], client: str) -> dict[str, Any]:
    """A copy for printing: secret-looking env and header values of every server replaced."""
    shown = json.loads(json.dumps(config))
    for entry in (shown.get("servers" if client == "vscode" else "mcpServers") or {}).values():
        for part in ("env", "headers"):
            values = (entry.get(part) if isinstance(entry, dict) else None) or {}
            for key, value in values.items():
                secret = any(word in key.upper() for word in ("KEY", "SECRET", "TOKEN", "PASSWORD", "AUTHORIZATION"))
                if secret and isinstance(value, str) and not value.startswith("${input:"):
                    values[key] = _HIDDEN
    return shown


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        current = json.loads(path.read_text(encoding="utf-8") or "{}")
    except ValueError as exc:
        raise SystemExit(
            f"infino-mcp install: {path} is not valid JSON ({exc}); fix it first, nothing was changed"
        ) from None
    if not isinstance(current, dict):
        raise SystemExit(f"infino-mcp install: {path} does not hold a JSON object; nothing was changed")
    return current


def _write(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    temporary = path.with_name(path.name + ".infino-mcp.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="infino-mcp install",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Flags after -- go to infino-mcp itself: infino-mcp install cursor -- --toolsets all",
    )
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--name", default="infino", help="The server's name in the client (default infino).")
    parser.add_argument("--dry-run", action="store_true", help="Print what would be written; write nothing.")
    ours, server_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = parser.parse_args(ours)
    path = config_path(args.client)
    entry, inputs = entry_for(args.client, server_args, dict(os.environ))
    config = merged(_read(path), args.client, args.name, entry, inputs)
    if args.dry_run:
        print(f"would write {path}:")
        print(json.dumps(_hidden(config, args.client), indent=2))
        return
    _write(path, config)
    print(f"infino-mcp: added server {args.name!r} to {path}; restart {args.client} to use it", file=sys.stderr)
