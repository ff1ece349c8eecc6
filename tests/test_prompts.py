"""Prompts: every prompts/*.md renders through the MCP client, names real tools, and ships in the wheel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.echarts import CHART_TYPES
from infino_mcp.prompts import SHARED_VALUES, load_prompt_files, prompts_dir
from infino_mcp.server import build_server

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "explore_dataset",
    "answer_with_sql",
    "search_with_querydsl",
    "investigate_metrics",
    "build_visualization",
    "assemble_dashboard",
    "correlate_sources",
    "least_privilege_agent",
}
TOOL_PREFIXES = (
    "get_",
    "list_",
    "create_",
    "update_",
    "delete_",
    "query_",
    "upload_",
    "execute_",
    "render_",
    "rotate_",
    "upsert_",
    "to_",
    "ask_",
    "send_",
    "add_",
    "clear_",
    "enrich_",
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, local=True, data_dir=tmp_path, toolsets="all", sample_data=False)  # type: ignore[call-arg]


def _offline_client(settings: Settings) -> InfinoClient:
    """A client that is never used: listing and rendering prompts sends no request."""
    return InfinoClient("http://127.0.0.1:9", "unused", "unused", settings=settings)


def _values(arguments: list[Any]) -> dict[str, str]:
    return {a.name: f"VALUE_OF_{a.name.upper()}" for a in arguments}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_prompt_renders_through_the_client(tmp_path: Path, mode: str) -> None:
    settings = _settings(tmp_path)
    async with _offline_client(settings) as infino, Client(build_server(settings, client=infino), mode=mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(listed) >= EXPECTED
        tool_names = {t.name for t in (await client.list_tools()).tools}
        for name in sorted(EXPECTED):
            prompt = listed[name]
            assert prompt.title and prompt.description, name
            assert any(a.required for a in prompt.arguments or []), name
            values = _values(prompt.arguments or [])
            result = await client.get_prompt(name, values)
            assert len(result.messages) == 1 and result.messages[0].role == "user"
            text = result.messages[0].content.text
            for value in values.values():
                assert value in text, f"{name}: argument {value} not used in the body"
            leftover = re.findall(r"\$[A-Za-z_]\w*", text)
            assert not leftover, f"{name}: unfilled placeholders {leftover}"
            for word in re.findall(r"`([a-z]+(?:_[a-z]+)+)`", text):
                if word.startswith(TOOL_PREFIXES):
                    assert word in tool_names, f"{name} names a tool that does not exist: {word}"


async def test_optional_arguments_may_be_left_out(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with _offline_client(settings) as infino, Client(build_server(settings, client=infino)) as client:
        result = await client.get_prompt("answer_with_sql", {"question": "How many orders?"})
        text = result.messages[0].content.text
        assert "How many orders?" in text and "$dataset" not in text


def test_promql_braces_stay_literal() -> None:
    prompt = next(p for p in load_prompt_files() if p.name == "investigate_metrics")
    text = prompt.render(question="why", dataset="metrics")
    assert 'sum by (status) (rate(http_requests_total{job="api"}[5m]))' in text
    assert '{__name__=~".+"}' in text


def test_front_matter_is_complete() -> None:
    files = {p.name: p for p in load_prompt_files(ROOT / "prompts")}
    assert set(files) == EXPECTED
    for prompt in files.values():
        assert prompt.title and prompt.description
        for argument in prompt.arguments:
            assert set(argument) <= {"name", "description", "required"}, prompt.name
            assert argument["name"] and argument["description"], prompt.name
            assert f"${argument['name']}" in prompt.body, f"{prompt.name}: ${argument['name']} unused"
            assert argument["name"] not in SHARED_VALUES, f"{prompt.name}: {argument['name']} is a shared value"


def _build_wheel(out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        if "hatchling" in done.stderr and (
            "Could not find" in done.stderr or "No matching distribution" in done.stderr
        ):
            pytest.skip(
                f"building the wheel needs hatchling from the package index, which is unreachable: {done.stderr[-300:]}"
            )
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    wheels = list(out.glob("infino_mcp-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_prompts_ship_in_the_wheel_and_load_from_it(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped = {Path(n).stem for n in names if n.startswith("infino_mcp/prompts/") and n.endswith(".md")}
        assert shipped == EXPECTED
        assert "infino_mcp/apps/chart.html" in names
        unpacked = tmp_path / "unpacked"
        archive.extractall(unpacked)
    script = (
        "import json, infino_mcp, infino_mcp.prompts as p;"
        "print(json.dumps({'package': infino_mcp.__file__, 'dir': str(p.prompts_dir()),"
        " 'names': sorted(f.name for f in p.load_prompt_files())}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    seen = json.loads(done.stdout)
    assert seen["package"].startswith(str(unpacked)), "the unpacked wheel must be the one imported"
    assert seen["dir"].startswith(str(unpacked))
    assert set(seen["names"]) == EXPECTED


def test_source_checkout_finds_the_prompts() -> None:
    assert {p.name for p in load_prompt_files(prompts_dir())} >= EXPECTED


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    ("name", "arguments", "named"),
    [
        ("build_visualization", {"dataset": "orders"}, "missing required argument(s) goal"),
        ("build_visualization", {}, "missing required argument(s) dataset, goal"),
        ("answer_with_sql", {"question": "q", "datset": "orders"}, "unknown argument(s) datset"),
        ("no_such_prompt", {}, "Unknown prompt 'no_such_prompt'"),
    ],
)
async def test_bad_prompt_arguments_are_invalid_params(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str, name: str, arguments: dict[str, str], named: str
) -> None:
    settings = _settings(tmp_path)
    async with _offline_client(settings) as infino, Client(build_server(settings, client=infino), mode=mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt(name, arguments)
    assert raised.value.code == INVALID_PARAMS
    assert named in raised.value.message
    assert "Internal" not in raised.value.message
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info], caplog.text


async def test_chart_types_are_one_list(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with _offline_client(settings) as infino, Client(build_server(settings, client=infino)) as client:
        text = (await client.get_prompt("build_visualization", {"dataset": "d", "goal": "g"})).messages[0].content.text
        tools = {t.name: t for t in (await client.list_tools()).tools}
    spec_description = tools["create_visualization"].input_schema["properties"]["spec"]["description"]
    listed = ", ".join(CHART_TYPES)
    assert listed in text
    assert listed in spec_description
