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
