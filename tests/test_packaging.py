"""Packaging as a person meets it: the wheel and sdist, server.json, the MCPB bundle started as a host would,
and ``infino-mcp install``.

Tools from outside Python (the ``mcpb`` CLI from npm, ``uv``): ``.ci/run`` installs them, and in CI a missing
one fails the test by name; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from infino_mcp import __version__
from infino_mcp.config import Settings, env_var
from infino_mcp.install import config_path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ACCESS, SECRET = "AKIDEXAMPLE123456", "s3cr3t-value-never-printed"


def _needed(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed, and this test needs it: .ci/run installs it")
    pytest.skip(f"{name} is not installed (.ci/run installs it)")


def _packaging() -> Any:
    spec = importlib.util.spec_from_file_location("packaging_script", ROOT / "scripts" / "packaging.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_wheel_and_sdist_carry_license_metadata_and_prompts(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")
    assert wheel.name == f"infino_mcp-{__version__}-py3-none-any.whl"
    assert sdist.name == f"infino_mcp-{__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"infino_mcp-{__version__}.dist-info/METADATA").decode()
    assert f"infino_mcp-{__version__}.dist-info/licenses/LICENSE" in names
    assert any(n.startswith("infino_mcp/prompts/") and n.endswith(".md") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    assert f"Version: {__version__}" in metadata and "License-Expression: Apache-2.0" in metadata
    for url in PYPROJECT["project"]["urls"].values():
        assert url in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    keywords = next(line for line in metadata.splitlines() if line.startswith("Keywords: "))
    assert set(keywords.removeprefix("Keywords: ").split(",")) == set(PYPROJECT["project"]["keywords"])
    listing = subprocess.run(["tar", "tzf", str(sdist)], check=True, capture_output=True, text=True).stdout
    for name in ("LICENSE", "CHANGELOG.md", "server.json", "pyproject.toml", "infino_mcp/__init__.py"):
        assert f"infino_mcp-{__version__}/{name}" in listing.splitlines(), name


def test_server_json_matches_pyproject_and_settings() -> None:
    on_disk = json.loads((ROOT / "server.json").read_text())
    assert on_disk == _packaging().server_json(), "server.json is stale: run python3 scripts/dev.py bundle"
    (package,) = on_disk["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == PYPROJECT["project"]["name"]
    assert on_disk["version"] == package["version"] == __version__
    assert on_disk["repository"]["url"] == PYPROJECT["project"]["urls"]["Source"]
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert set(variables) == {env_var(name) for name in Settings.model_fields}
    secret = {name for name, v in variables.items() if v.get("isSecret")}
    assert secret == {"INFINO_ACCESS_KEY", "INFINO_SECRET_KEY", "INFINO_MCP_TOKEN", "INFINO_MCP_STATE_KEY"}
    readme = (ROOT / "README.md").read_text()
    assert f"mcp-name: {on_disk['name']}" in readme  # PyPI ownership check of the registry


@pytest.mark.slow
@pytest.mark.anyio
async def test_bundle_validates_and_starts_as_a_host_would(tmp_path: Path) -> None:
    _needed("mcpb")
    uv = _needed("uv")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "packaging.py"), "--out", str(tmp_path), "--keep-server-json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle = tmp_path / f"infino-mcp-{__version__}.mcpb"
    unpacked = tmp_path / "installed"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(unpacked)
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["manifest_version"] == "0.4" and manifest["version"] == __version__
    assert manifest["server"]["type"] == "uv"
    config = manifest["user_config"]
    assert config["access_key"]["sensitive"] and config["secret_key"]["sensitive"]
    assert not any(option.get("required") for option in config.values())
    assert (unpacked / "pyproject.toml").exists() and not (unpacked / ".venv").exists()

    # What the host does: substitute ${__dirname} and the user's answers (left empty: local mode), then run it.
    values = {key: option.get("default", "") for key, option in config.items()}

    def filled(text: str) -> str:
        text = text.replace("${__dirname}", str(unpacked))
        for key, value in values.items():
            text = text.replace(
                f"${{user_config.{key}}}", str(value).lower() if isinstance(value, bool) else str(value)
            )
        return text

    mcp_config = manifest["server"]["mcp_config"]
    assert mcp_config["command"] == "uv"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("INFINO_", "VIRTUAL_ENV"))
        },  # the user's, as hosts pass it
        "HOME": str(home),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "RUST_LOG": "error",
        **{k: filled(v) for k, v in mcp_config["env"].items()},
    }
    args = [filled(a) for a in mcp_config["args"]]
    # The host installs the bundle's environment once, then starts the server over stdio.
    subprocess.run([uv, *args[:-3], "python", "-c", "import infino_mcp"], env=env, check=True, timeout=900)
    async with Client(StdioServerParameters(command=uv, args=args, env=env)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"get_datasets", "query_dataset_in_sql"} <= names
        listed = await client.call_tool("get_datasets", {})
        assert not listed.is_error
        assert "sample-ecommerce-data" in [d["name"] for d in listed.structured_content["datasets"]]


def _install(
    client: str, home: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFINO_")}
    return subprocess.run(
        [sys.executable, "-m", "infino_mcp", "install", client, *extra],
        env={**clean, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), **(env or {})},
        cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


CLOUD = {"INFINO_ENDPOINT": "https://infino.example", "INFINO_ACCESS_KEY": ACCESS, "INFINO_SECRET_KEY": SECRET}


@pytest.mark.parametrize(
    ("client", "where", "key"),
    [
        ("claude-desktop", ".config/Claude/claude_desktop_config.json", "mcpServers"),
        ("claude-code", ".claude.json", "mcpServers"),
        ("cursor", ".cursor/mcp.json", "mcpServers"),
        ("vscode", ".vscode/mcp.json", "servers"),
    ],
)
def test_install_dry_run_merges_and_hides_secrets(tmp_path: Path, client: str, where: str, key: str) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    other = {"command": "other-server", "env": {"OTHER_API_KEY": "keep-me-secret"}}
    before = {key: {"other": other}, "theme": "dark"}
    path.write_text(json.dumps(before))
    done = _install(client, tmp_path, "--dry-run", "--", "--toolsets", "all", env=CLOUD)
    assert done.returncode == 0, done.stderr
    header, _, body = done.stdout.partition("\n")
    assert header == f"would write {path}:"
    shown = json.loads(body)
    assert shown["theme"] == "dark" and shown[key]["other"]["command"] == "other-server"
    entry = shown[key]["infino"]
    assert entry["command"] == sys.executable and entry["args"] == ["-m", "infino_mcp", "--toolsets", "all"]
    assert entry["env"]["INFINO_ENDPOINT"] == "https://infino.example"
    assert SECRET not in done.stdout and ACCESS not in done.stdout and "keep-me-secret" not in done.stdout
    if client == "vscode":
        assert entry["type"] == "stdio"
        assert entry["env"]["INFINO_SECRET_KEY"] == "${input:infino-secret-key}"
        inputs = {i["id"]: i for i in shown["inputs"]}
        assert inputs["infino-secret-key"]["password"] is True and inputs["infino-access-key"]["password"] is True
    assert json.loads(path.read_text()) == before  # a dry run writes nothing


def test_install_writes_keeping_other_servers(tmp_path: Path) -> None:
    path = tmp_path / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    done = _install("cursor", tmp_path)
    assert done.returncode == 0, done.stderr
    written = json.loads(path.read_text())
    assert written["mcpServers"]["other"] == {"command": "x"}
    assert written["mcpServers"]["infino"] == {"command": sys.executable, "args": ["-m", "infino_mcp"]}  # local mode
    vscode = _install("vscode", tmp_path, env=CLOUD)
    assert vscode.returncode == 0, vscode.stderr
    workspace = (tmp_path / ".vscode" / "mcp.json").read_text()
    assert SECRET not in workspace and "${input:infino-secret-key}" in workspace
    (tmp_path / ".claude.json").write_text("{not json")
    broken = _install("claude-code", tmp_path)
    assert broken.returncode != 0 and "not valid JSON" in broken.stderr
    assert (tmp_path / ".claude.json").read_text() == "{not json"


def test_config_paths_per_os(tmp_path: Path) -> None:
    home = tmp_path
    assert config_path("claude-desktop", platform="darwin", home=home, environ={}) == (
        home / "Library/Application Support/Claude/claude_desktop_config.json"
    )
    assert config_path("claude-desktop", platform="win32", home=home, environ={"APPDATA": str(home / "Roaming")}) == (
        home / "Roaming/Claude/claude_desktop_config.json"
    )
    assert config_path("claude-desktop", platform="linux", home=home, environ={}) == (
        home / ".config/Claude/claude_desktop_config.json"
    )
    assert config_path("cursor", platform="win32", home=home, environ={}) == home / ".cursor/mcp.json"
    assert config_path("claude-code", platform="darwin", home=home, environ={}) == home / ".claude.json"
