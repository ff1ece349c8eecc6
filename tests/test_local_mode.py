"""Local mode as the server opens it itself (no client passed in): the embedded endpoint in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from infino_mcp.config import Settings
from infino_mcp.server import build_server


@pytest.mark.anyio
async def test_local_mode_says_where_data_lives_and_survives_key_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(_env_file=None, local=True, data_dir=tmp_path / "data", toolsets="all", allow_destructive=True)  # type: ignore[call-arg]
    async with Client(build_server(settings)) as client:
        listed = await client.call_tool("get_datasets", {})
        assert "sample-ecommerce-data" in [d["name"] for d in listed.structured_content["datasets"]]
        rotated = await client.call_tool("rotate_keys", {"username": "admin"})
        assert not rotated.is_error and rotated.structured_content["access_key"]
        # The embedded client signs with the current keys, so it keeps working after the rotation.
        again = await client.call_tool("get_datasets", {})
        assert not again.is_error
    err = capsys.readouterr().err
    assert "local mode" in err and str((tmp_path / "data").resolve()) in err
    # Data persists: a second start sees what the first wrote, and does not load the sample twice.
    async with Client(build_server(settings)) as client:
        listed = await client.call_tool("get_datasets", {})
        rows = [d for d in listed.structured_content["datasets"] if d["name"] == "sample-ecommerce-data"]
        assert len(rows) == 1 and rows[0]["docs_count"] == 200


@pytest.mark.anyio
async def test_a_data_directory_that_cannot_be_opened_is_named_by_every_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "engine").write_text("not a directory")  # where the engine keeps its tables
    settings = Settings(_env_file=None, local=True, data_dir=data_dir)  # type: ignore[call-arg]
    async with Client(build_server(settings)) as client:
        assert "get_datasets" in {tool.name for tool in (await client.list_tools()).tools}
        for _ in range(2):
            result = await client.call_tool("get_datasets", {})
            assert result.is_error
            text = result.content[0].text
            assert f"local mode could not open {data_dir.resolve()}" in text and "--local DIR" in text
    err = capsys.readouterr().err
    assert err.count(f"local mode could not open {data_dir.resolve()}") == 1
