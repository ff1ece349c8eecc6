"""Release artefacts built from one source of truth: ``server.json`` and the MCPB bundle.

``python3 scripts/dev.py bundle`` (which runs this file) rewrites ``server.json``
(the MCP registry entry: the PyPI package and its environment variables, from
``pyproject.toml`` and the settings model), stages the bundle in
``build/bundle/`` (``manifest.json`` 0.4 with ``server.type`` ``uv``, a
``pyproject.toml`` the host installs with uv, the package and its prompts), and
packs it with the official ``@anthropic-ai/mcpb`` CLI into ``dist/``, after
``mcpb validate`` accepts the manifest. ``--out DIR`` packs elsewhere;
``--keep-server-json`` leaves ``server.json`` as it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from infino_mcp import __version__
from infino_mcp.config import Settings, env_var

ROOT = Path(__file__).resolve().parent.parent
SERVER_JSON = ROOT / "server.json"
REGISTRY_NAME = "io.github.infinohq/infino-mcp"
REGISTRY_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
MCPB = "@anthropic-ai/mcpb@2"

# What a person can set when installing the bundle; empty endpoint and keys mean local mode.
USER_CONFIG: dict[str, dict[str, Any]] = {
    "endpoint": {
        "type": "string",
        "title": "Infino endpoint",
        "description": "Your Infino endpoint URL (https://...). Leave empty for local mode: no account needed.",
        "required": False,
        "default": "",
    },
    "access_key": {
        "type": "string",
        "title": "Access key",
        "description": "Your Infino access key (with the endpoint and secret key).",
        "required": False,
        "sensitive": True,
        "default": "",
    },
    "secret_key": {
        "type": "string",
        "title": "Secret key",
        "description": "Your Infino secret key.",
        "required": False,
        "sensitive": True,
        "default": "",
    },
    "toolsets": {
        "type": "string",
        "title": "Toolsets",
        "description": "Comma-separated toolsets (datasets, query, connections, visualizations, dashboards, fino, "
        "rbac) or 'all'.",
        "required": False,
        "default": "datasets,query,visualizations,dashboards,fino",
    },
    "read_only": {
        "type": "boolean",
        "title": "Read-only",
        "description": "Expose only tools that never change anything.",
        "required": False,
        "default": False,
    },
}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _is_secret(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def server_json() -> dict[str, Any]:
    """The MCP registry entry: the PyPI package, run over stdio, with every setting as an environment variable."""
    project = pyproject()["project"]
    variables = []
    for name, field in Settings.model_fields.items():
        variable: dict[str, Any] = {"name": env_var(name), "description": field.description, "isRequired": False}
        if _is_secret(name):
            variable["isSecret"] = True
        variables.append(variable)
    return {
        "$schema": REGISTRY_SCHEMA,
        "name": REGISTRY_NAME,
        "title": "Infino",
        "description": "Governed access to Infino for AI agents: datasets, SQL, QueryDSL, PromQL, dashboards, Fino.",
        "repository": {"url": project["urls"]["Source"], "source": "github"},
        "websiteUrl": project["urls"]["Homepage"],
        "version": __version__,
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": project["name"],
                "version": __version__,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": variables,
            }
        ],
    }


def manifest() -> dict[str, Any]:
    """The MCPB manifest (0.4): the host runs the bundle's pyproject with uv; the settings come from user_config."""
    project = pyproject()["project"]
    env = {env_var(key): f"${{user_config.{key}}}" for key in USER_CONFIG}
    return {
        "manifest_version": "0.4",
        "name": project["name"],
        "display_name": "Infino",
        "version": __version__,
        "description": project["description"],
        "long_description": "Query, chart and govern your Infino data from Claude. With no endpoint and keys it "
        "runs on an embedded local endpoint with sample data (macOS and Linux: the engine has no Windows build).",
        "author": {"name": project["authors"][0]["name"], "email": project["authors"][0]["email"]},
        "repository": {"type": "git", "url": project["urls"]["Source"]},
        "homepage": project["urls"]["Homepage"],
        "documentation": project["urls"]["Documentation"],
        "support": project["urls"]["Issues"],
        "server": {
            "type": "uv",
            "entry_point": "infino_mcp/__main__.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--quiet", "--directory", "${__dirname}", "python", "-m", "infino_mcp"],
                "env": env,
            },
        },
        "tools_generated": True,
        "prompts_generated": True,
        "keywords": project["keywords"],
        "license": project["license"],
        "compatibility": {
            "platforms": ["darwin", "linux", "win32"],
            "runtimes": {"python": project["requires-python"]},
        },
        "user_config": USER_CONFIG,
    }


def bundle_pyproject() -> str:
    """The bundle's pyproject: this package with the local extra (no engine on Windows), built by hatchling."""
    project = pyproject()["project"]
    dependencies = list(project["dependencies"])
    for requirement in project["optional-dependencies"]["local"]:
        on_windows = not requirement.startswith("infino")
        dependencies.append(requirement if on_windows else f"{requirement}; sys_platform != 'win32'")
    listed = "".join(f"    {json.dumps(d)},\n" for d in dependencies)
    return (
        "# Written by scripts/packaging.py: what the MCPB host installs with uv.\n"
        "[build-system]\n"
        f"requires = {json.dumps(pyproject()['build-system']['requires'])}\n"
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        f"name = {json.dumps(project['name'])}\n"
        f"version = {json.dumps(__version__)}\n"
        f"description = {json.dumps(project['description'])}\n"
        f"requires-python = {json.dumps(project['requires-python'])}\n"
        f"license = {json.dumps(project['license'])}\n"
        f"dependencies = [\n{listed}]\n\n"
        "[tool.hatch.build.targets.wheel]\n"
        'packages = ["infino_mcp"]\n\n'
        "[tool.hatch.build.targets.wheel.force-include]\n"
        '"prompts" = "infino_mcp/prompts"\n'
    )


def write_server_json() -> None:
    SERVER_JSON.write_text(json.dumps(server_json(), indent=2) + "\n", encoding="utf-8")


def stage(where: Path) -> Path:
    """The bundle's directory tree, ready for ``mcpb pack``."""
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "infino_mcp", where / "infino_mcp", ignore=ignore)
    shutil.copytree(ROOT / "prompts", where / "prompts", ignore=ignore)
    for name in ("LICENSE", "README.md"):
        shutil.copy2(ROOT / name, where / name)
    (where / "pyproject.toml").write_text(bundle_pyproject(), encoding="utf-8")
    (where / "manifest.json").write_text(json.dumps(manifest(), indent=2) + "\n", encoding="utf-8")
    (where / ".mcpbignore").write_text(".venv/\n__pycache__/\n*.pyc\n", encoding="utf-8")
    return where


def mcpb_command() -> list[str]:
    """The official CLI: ``mcpb`` on PATH, else through npx (npm fetches it once)."""
    found = shutil.which("mcpb")
    if found:
        return [found]
    npx = shutil.which("npx")
    if npx is None:
        sys.exit("bundle: needs the official MCPB CLI: install Node.js, then 'npm install -g @anthropic-ai/mcpb'")
    return [npx, "--yes", MCPB]


def build(out_dir: Path) -> Path:
    staged = stage(ROOT / "build" / "bundle")
    cli = mcpb_command()
    subprocess.run([*cli, "validate", str(staged / "manifest.json")], check=True, stdout=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"infino-mcp-{__version__}.mcpb"
    subprocess.run([*cli, "pack", str(staged), str(target)], check=True, stdout=sys.stderr)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="Where to write the .mcpb (default dist/).")
    parser.add_argument("--keep-server-json", action="store_true", help="Do not rewrite server.json (tests).")
    args = parser.parse_args()
    if not args.keep_server_json:
        write_server_json()
    print(build(args.out.resolve()))


if __name__ == "__main__":
    main()
