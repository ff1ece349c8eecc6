"""The command line as a user meets it: bad configuration exits 2 with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infino_mcp.cli import parse_settings
from infino_mcp.config import DEFAULT_TOOLSETS, Toolset


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFINO_")}
    return subprocess.run(
        [sys.executable, "-m", "infino_mcp", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {"INFINO_ENDPOINT": "https://infino.example"}, "INFINO_ACCESS_KEY, INFINO_SECRET_KEY missing"),
        (["--toolsets", "datasets,bogus"], {}, "unknown toolset(s) bogus"),
        (["--transport", "streamable-http", "--host", "0.0.0.0"], {}, "needs INFINO_MCP_TOKEN"),
        (["--transport", "streamable-http", "--host", "0.0.0.0"], {"INFINO_MCP_TOKEN": ""}, "empty or blank"),
        (["--transport", "streamable-http", "--host", "0.0.0.0"], {"INFINO_MCP_TOKEN": "  "}, "empty or blank"),
        (["--transport", "sse", "--host", "127.0.0.1.nip.io"], {}, "needs INFINO_MCP_TOKEN"),
        (["--transport", "streamable-http", "--host", "127.evil.example"], {}, "needs INFINO_MCP_TOKEN"),
        (["--endpoint", "ftp://x"], {"INFINO_ACCESS_KEY": "a", "INFINO_SECRET_KEY": "b"}, "must start with https://"),
        (["--port", "99999"], {}, "--port / INFINO_PORT"),
        (["--local", "/proc/no-such-dir"], {}, "INFINO_DATA_DIR: cannot write to /proc/no-such-dir"),
        (["--auth", "infino-keys"], {}, "need --transport streamable-http"),
        (["--transport", "streamable-http"], {"INFINO_MCP_AUTH": "oauth"}, "needs --oauth-issuer and --identities"),
        (["--transport", "streamable-http", "--auth", "bogus"], {}, "--auth / INFINO_MCP_AUTH"),
        (["--transport", "streamable-http", "--stateless"], {}, "needs INFINO_MCP_STATE_KEY"),
        (["--transport", "streamable-http"], {"INFINO_MCP_STATELESS": "1", "INFINO_MCP_STATE_KEY": "short"}, "32+"),
        (["--transport", "streamable-http"], {"INFINO_MCP_STATELESS": "maybe"}, "--stateless / INFINO_MCP_STATELESS"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    done = _run(args, env, tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("infino-mcp: configuration error:") and expected in lines[0]
    assert done.stdout == ""


def test_secret_values_never_echo_in_errors(tmp_path: Path) -> None:
    done = _run(["--toolsets", "nope"], {"INFINO_SECRET_KEY": "topsecretvalue", "INFINO_ACCESS_KEY": "AKX"}, tmp_path)
    assert done.returncode == 2 and "topsecretvalue" not in done.stderr


def test_flags_and_environment_share_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFINO_TOOLSETS", "rbac")
    monkeypatch.setenv("INFINO_READ_ONLY", "true")
    settings = parse_settings([])
    assert settings.toolsets == [Toolset.RBAC] and settings.read_only
    assert parse_settings(["--log-level", "debug"]).log_level == "DEBUG"
    settings = parse_settings(["--toolsets", "all", "--no-read-only", "--local", str(tmp_path)])
    assert set(settings.toolsets) == set(Toolset) and not settings.read_only
    assert settings.uses_local and settings.data_dir == tmp_path


def test_the_token_and_transport_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INFINO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("INFINO_MCP_TOKEN", "from-the-environment")
    monkeypatch.setenv("INFINO_TRANSPORT", "streamable-http")
    monkeypatch.setenv("INFINO_HOST", "0.0.0.0")
    monkeypatch.setenv("INFINO_PORT", "8123")
    monkeypatch.setenv("INFINO_ALLOWED_HOSTS", "mcp.example, other.example")
    settings = parse_settings([])
    assert settings.mcp_token is not None and settings.mcp_token.get_secret_value() == "from-the-environment"
    assert (settings.transport, settings.host, settings.port) == ("streamable-http", "0.0.0.0", 8123)
    assert settings.allowed_hosts == ["mcp.example", "other.example"]
    flagged = parse_settings(["--mcp-token", "from-the-flag", "--port", "9000"])
    assert flagged.mcp_token is not None and flagged.mcp_token.get_secret_value() == "from-the-flag"
    assert flagged.port == 9000 and flagged.host == "0.0.0.0"


def test_defaults_are_local_with_the_default_toolsets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INFINO_"):
            monkeypatch.delenv(name)
    settings = parse_settings([])
    assert settings.uses_local and tuple(settings.toolsets) == DEFAULT_TOOLSETS
    assert settings.data_dir.is_absolute()


def test_a_new_local_data_directory_is_the_owners_alone(tmp_path: Path) -> None:
    from infino_mcp.cli import check_local

    data = tmp_path / "fresh" / "data"
    check_local(parse_settings(["--local", str(data)]))
    assert data.is_dir() and (data.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_is_decided_by_address(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INFINO_"):
            monkeypatch.delenv(name)
    settings = parse_settings(["--transport", "streamable-http", "--host", host, "--local"])
    assert settings.mcp_token is None and settings.host == host
