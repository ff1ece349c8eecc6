"""Catalog rules: what every model sees is declared once, complete, and snapshotted in tools/."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path

import pytest
from infino_sdk import InfinoSDK

from infino_mcp.config import Toolset
from infino_mcp.server import all_specs
from infino_mcp.toolsets import MODULE_TOOLSETS

_spec = importlib.util.spec_from_file_location("catalog", Path(__file__).parent.parent / "scripts" / "catalog.py")
assert _spec and _spec.loader
catalog = importlib.util.module_from_spec(_spec)
sys.modules["catalog"] = catalog
_spec.loader.exec_module(catalog)
README, TOOLS_DIR, catalog_settings = catalog.README, catalog.TOOLS_DIR, catalog.catalog_settings
render_readme, snapshot_text, tools_list = catalog.render_readme, catalog.snapshot_text, catalog.tools_list

# The SDK's public methods that are its HTTP and signing plumbing, not operations of the API.
SDK_PLUMBING = {
    "close", "request", "request_multipart", "execute_request", "execute_multipart_request", "websocket_connect",
    "calculate_signature", "create_canonical_request", "create_string_to_sign", "derive_signing_key",
    "hmac_sha256", "normalize_query", "sign_request", "sign_request_headers", "uri_encode",
}  # fmt: skip
SDK_METHODS = sorted(
    name
    for name, _ in inspect.getmembers(InfinoSDK, inspect.isfunction)
    if not name.startswith("_") and name not in SDK_PLUMBING
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def entries() -> dict[str, dict]:
    return {entry["name"]: entry for entry in await tools_list(catalog_settings())}


def test_every_sdk_operation_is_a_tool() -> None:
    names = [spec.name for spec in all_specs()]
    assert len(SDK_METHODS) == 61
    assert set(SDK_METHODS) <= set(names)
    assert len(names) == len(set(names))


def test_each_toolset_module_says_which_toolsets_it_declares() -> None:
    """A server imports only the modules of its toolsets, found through MODULE_TOOLSETS: it must be exact."""
    declared: dict[str, set[Toolset]] = {}
    for spec in all_specs():
        declared.setdefault(spec.fn.__module__.rsplit(".", 1)[-1], set()).add(spec.toolset)
    assert declared == {name: set(toolsets) for name, toolsets in MODULE_TOOLSETS.items()}
    assert list(declared) == list(MODULE_TOOLSETS)


def test_declarations_follow_the_rules() -> None:
    for spec in all_specs():
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,63}", spec.name), spec.name
        assert isinstance(spec.toolset, Toolset) and spec.title
        if spec.name.startswith("delete_") or spec.name in ("clear_thread_messages", "rotate_keys"):
            assert spec.destructive and spec.confirm, spec.name
        if spec.read_only:
            assert not spec.destructive


@pytest.mark.anyio
async def test_listed_tools_carry_schemas_and_all_hints(entries: dict[str, dict]) -> None:
    assert set(entries) == {spec.name for spec in all_specs()}
    for name, entry in entries.items():
        hints = entry["annotations"]
        assert set(hints) >= {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}, name
        assert entry.get("title") and entry.get("description"), name
        schema = entry["inputSchema"]
        assert schema["type"] == "object" and not ({"anyOf", "oneOf", "allOf"} & set(schema)), name
        for prop, info in schema.get("properties", {}).items():
            assert info.get("description"), f"{name}.{prop} has no description"
        assert entry.get("outputSchema", {}).get("type") == "object", name


@pytest.mark.anyio
async def test_read_only_lists_only_read_only_tools() -> None:
    listed = await tools_list(catalog_settings(read_only=True))
    expected = {spec.name for spec in all_specs() if spec.read_only}
    assert {e["name"] for e in listed} == expected
    assert all(e["annotations"]["readOnlyHint"] for e in listed)


@pytest.mark.anyio
async def test_toolsets_select_categories() -> None:
    listed = await tools_list(catalog_settings(toolsets="rbac"))
    assert {e["name"] for e in listed} == {s.name for s in all_specs() if s.toolset is Toolset.RBAC}


@pytest.mark.anyio
async def test_snapshots_match_and_none_is_orphaned(entries: dict[str, dict]) -> None:
    on_disk = {path.stem: path.read_text(encoding="utf-8") for path in TOOLS_DIR.glob("*.json")}
    hint = "run: python3 scripts/dev.py snapshots (then read the tools/ diff)"
    assert set(on_disk) == set(entries), f"tools/ is out of date; {hint}"
    for name, entry in entries.items():
        assert on_disk[name] == snapshot_text(entry), f"tools/{name}.json drifted; {hint}"
        json.loads(on_disk[name])


@pytest.mark.anyio
async def test_readme_tables_are_generated_from_code() -> None:
    text = README.read_text(encoding="utf-8")
    assert await render_readme(text) == text, "README tables are stale; run: python3 scripts/dev.py snapshots"
