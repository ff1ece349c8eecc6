"""The ``infino-mcp`` command: parse settings, pick the transport, run.

``infino-mcp [flags]`` serves MCP (stdio by default). ``infino-mcp
local-endpoint --port N [--data DIR]`` serves the local Infino endpoint over
HTTP for any Infino client. Bad configuration exits with status 2 and one line
naming what is wrong, before anything starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

from infino_mcp import __version__, identities, install
from infino_mcp.config import Settings, env_var, load_settings
from infino_mcp.errors import ConfigError


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """Flags generated from ``Settings``: one per field, same names as the environment variables."""
    parser = argparse.ArgumentParser(
        prog="infino-mcp",
        description="MCP server for Infino. With no credentials it runs on the embedded local endpoint. "
        "Every flag is also an INFINO_<NAME> environment variable. "
        "Subcommands: 'infino-mcp local-endpoint --port N [--data DIR]' serves the local Infino endpoint over HTTP; "
        "'infino-mcp identities add|remove|list' manages the --auth oauth identities file; "
        "'infino-mcp install claude-desktop|claude-code|cursor|vscode [--dry-run]' adds this server to a client.",
    )
    parser.add_argument("--version", action="version", version=f"infino-mcp {__version__}")
    for name, field in Settings.model_fields.items():
        env = env_var(name)
        help_text = f"{field.description} [env {env}]"
        if name == "local":
            parser.add_argument(
                "--local",
                nargs="?",
                const=True,
                default=None,
                metavar="DIR",
                help="Use the embedded local endpoint, with its data in DIR if given (default: the user data directory).",
            )
        elif field.annotation is bool:
            parser.add_argument(
                _flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(_flag(name), dest=name, default=None, help=help_text)
    return parser


def parse_settings(argv: list[str]) -> Settings:
    """Settings from flags (winning) and the environment; ConfigError when invalid."""
    namespace = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(namespace).items() if v is not None}
    local = overrides.pop("local", None)
    if local is not None:
        overrides["local"] = True
        if isinstance(local, str):
            overrides["data_dir"] = Path(local)
    return load_settings(**overrides)


def check_local(settings: Settings) -> None:
    """Local mode needs the ``[local]`` extra and a writable data directory; say so before starting."""
    if sys.platform == "win32":
        raise ConfigError(
            "local mode is not available on Windows (the embedded engine has no Windows build, and processes share "
            "a data directory through POSIX locks and Unix sockets): set INFINO_ENDPOINT, INFINO_ACCESS_KEY and "
            "INFINO_SECRET_KEY to use Infino cloud"
        )
    if importlib.util.find_spec("infino") is None or importlib.util.find_spec("starlette") is None:
        raise ConfigError(
            "local mode needs the embedded engine: pip install 'infino-mcp[local]' "
            "(or set INFINO_ENDPOINT, INFINO_ACCESS_KEY and INFINO_SECRET_KEY to use Infino cloud)"
        )
    data_dir = settings.data_dir.expanduser()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # as open_services makes it: the owner's alone
        probe = data_dir / f".write-test-{os.getpid()}"  # other processes may share the directory
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--data-dir / INFINO_DATA_DIR: cannot write to {data_dir} ({exc.strerror or exc}); choose another with --local DIR"
        ) from None


def _configure_logging(level: str) -> None:
    os.environ.setdefault("RUST_LOG", "error")
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local-endpoint"]:
        # Cold start: the engine, Starlette and uvicorn load only for this subcommand.
        from infino_mcp.local.serve import main as local_main

        local_main(argv[1:])
        return
    if argv[:1] == ["identities"]:
        identities.main(argv[1:])
        return
    if argv[:1] == ["install"]:
        install.main(argv[1:])
        return
    try:
        settings = parse_settings(argv)
        if settings.uses_local:
            check_local(settings)
        if settings.identities is not None:
            identities.check_file(settings.identities)
    except ConfigError as exc:
        print(f"infino-mcp: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _configure_logging(settings.log_level)
    # Cold start: --help and configuration errors answer before the server and its toolsets load.
    from infino_mcp.transports import serve

    serve(settings)
