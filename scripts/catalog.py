"""The tool catalog as a model sees it: ``tools/`` snapshots and the README tables.

``python3 scripts/dev.py snapshots`` (which runs this file) rewrites
``tools/<name>.json`` (each tool's exact ``tools/list`` entry with every toolset
enabled) and the generated tables in README.md. Tests fail when either drifts
from the code. It lives beside the checkout, not in the wheel: it writes files
of the repository.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings, Toolset, env_var
from infino_mcp.server import all_specs, build_server

ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = ROOT / "tools"
README = ROOT / "README.md"


def catalog_settings(**overrides: Any) -> Settings:
    """Settings that list every tool (no backend is contacted to list them)."""
    values: dict[str, Any] = {"local": True, "toolsets": "all", "allow_destructive": False, **overrides}
    return Settings(**values)


async def tools_list(settings: Settings) -> list[dict[str, Any]]:
    """The wire-form tools/list entries for ``settings``, through a real MCP client."""
    # Listing contacts no backend: the client is never used.
    unused = InfinoClient("http://127.0.0.1:9", "unused", "unused", settings=settings)
    async with unused, Client(build_server(settings, client=unused)) as client:
        result = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in result.tools]


def tools_list_bytes(entries: list[dict[str, Any]]) -> int:
    return len(json.dumps({"tools": entries}, separators=(",", ":")).encode())


def snapshot_text(entry: dict[str, Any]) -> str:
    return json.dumps(entry, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def env_table() -> str:
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        env = env_var(name)
        if field.default_factory is not None:
            default = (
                "(see meaning)"
                if name == "data_dir"
                else ", ".join(str(getattr(v, "value", v)) for v in field.default_factory())
            )  # type: ignore[call-arg]
        else:
            default = "" if field.default is None else str(field.default)
        flag = "--local [DIR]" if name == "local" else "--" + name.replace("_", "-")
        rows.append(f"| `{env}` | `{flag}` | {default or '–'} | {field.description} |")
    return "\n".join(rows)


def tool_table() -> str:
    rows = ["| tool | toolset | read-only | destructive | asks to confirm | title |", "|---|---|---|---|---|---|"]
    for spec in sorted(all_specs(), key=lambda s: (list(Toolset).index(s.toolset), s.name)):
        rows.append(
            f"| `{spec.name}` | {spec.toolset.value} | {'yes' if spec.read_only else 'no'} | "
            f"{'yes' if spec.destructive else 'no'} | {'yes' if spec.confirm else 'no'} | {spec.title} |"
        )
    return "\n".join(rows)


def model_visible_bytes(entries: list[dict[str, Any]]) -> int:
    """What a model reads of the tool list: each tool's name, description and input schema (compact JSON).

    Many clients never show a model the output schemas, titles or annotations, so this is the cost a model pays.
    """
    keys = ("name", "description", "inputSchema")
    return sum(len(json.dumps({k: e[k] for k in keys if k in e}, separators=(",", ":")).encode()) for e in entries)


async def size_table() -> str:
    selections = [
        ("default toolsets", catalog_settings(toolsets=",".join(t.value for t in _defaults()))),
        ("`--toolsets all`", catalog_settings()),
        ("`--toolsets all --read-only`", catalog_settings(read_only=True)),
    ]
    rows = ["| selection | tools | model-visible bytes | tools/list bytes |", "|---|---|---|---|"]
    for name, settings in selections:
        entries = await tools_list(settings)
        rows.append(f"| {name} | {len(entries)} | {model_visible_bytes(entries)} | {tools_list_bytes(entries)} |")
    return "\n".join(rows)


def _defaults() -> list[Toolset]:
    from infino_mcp.config import DEFAULT_TOOLSETS

    return list(DEFAULT_TOOLSETS)


def replace_block(text: str, name: str, body: str) -> str:
    """Replace the generated block ``name`` in ``text`` (between marker comments)."""
    start, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


async def render_readme(text: str) -> str:
    text = replace_block(text, "env", env_table())
    text = replace_block(text, "tools", tool_table())
    return replace_block(text, "sizes", await size_table())


async def write_all() -> None:
    entries = await tools_list(catalog_settings())
    TOOLS_DIR.mkdir(exist_ok=True)
    names = set()
    for entry in entries:
        names.add(entry["name"])
        (TOOLS_DIR / f"{entry['name']}.json").write_text(snapshot_text(entry), encoding="utf-8")
    for stale in TOOLS_DIR.glob("*.json"):
        if stale.stem not in names:
            stale.unlink()
    README.write_text(await render_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {len(entries)} tool snapshots and README tables", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(write_all)
