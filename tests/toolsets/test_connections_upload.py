"""upload_file: file roots, path resolution, refusals before any request, and the multipart upload itself."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from infino_mcp.toolsets.connections import MAX_UPLOAD_BYTES

pytestmark = pytest.mark.anyio

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    secret = folder / "secret.json"
    secret.write_text('[{"password": "hunter2"}]')
    return secret


def write_jsonl(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"sku": f"p{i}", "price": i + 0.5}) + "\n" for i in range(count)))
    return path


async def test_without_file_roots_upload_is_refused_with_how_to_allow(mcp, call_error, sent_requests, root):
    write_jsonl(root / "a.jsonl", 2)
    message = await call_error(mcp, "upload_file", {"dataset": "products", "path": str(root / "a.jsonl")})
    assert "--file-root DIR" in message and "INFINO_FILE_ROOT" in message
    assert sent_requests == []


async def test_upload_jsonl_sync(make_mcp, call, sent_requests, root):
    client = await make_mcp(file_root=[root])
    write_jsonl(root / "products.jsonl", 5)
    result = await call(client, "upload_file", {"dataset": "products", "path": str(root / "products.jsonl")})
    assert result["status"] == "completed"
    assert result["stats"]["documents_processed"] == 5
    assert result["error_count"] == 0 and result["file"] == str((root / "products.jsonl").resolve())
    (request,) = sent_requests
    assert request.url.path == "/import/file" and request.url.params["async"] == "false"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    body = request.content
    for field in (b'name="file"; filename="products.jsonl"', b'name="index_name"', b"products", b'name="format"'):
        assert field in body
    rows = await call(client, "query_dataset_in_sql", {"query": "SELECT COUNT(*) AS n FROM products"})
    assert rows["rows"] == [{"n": 5}]


async def test_upload_csv_relative_to_root_with_format_and_batch_size(make_mcp, call, sent_requests, root):
    client = await make_mcp(file_root=[root])
    (root / "sub").mkdir()
    (root / "sub" / "people.csv").write_text("name,age\nada,36\ngrace,45\n")
    result = await call(
        client, "upload_file", {"dataset": "people", "path": "sub/people.csv", "format": "csv", "batch_size": 1}
    )
    assert result["stats"]["documents_processed"] == 2 and result["stats"]["batches"] == 2
    assert b'name="batch_size"\r\n\r\n1\r\n' in sent_requests[0].content
    assert b"text/csv" in sent_requests[0].content


async def test_upload_async_then_poll_status(make_mcp, call, root):
    client = await make_mcp(file_root=[root])
    write_jsonl(root / "big.jsonl", 50)
    submitted = await call(
        client, "upload_file", {"dataset": "products", "path": str(root / "big.jsonl"), "async_mode": True}
    )
    assert submitted["status"] == "submitted" and submitted["run_id"]
    for _ in range(500):  # each call yields to the event loop, where the import runs
        status = (await call(client, "get_connector_job_status", {"run_id": submitted["run_id"]}))["result"]
        if status["status"] != "running":
            break
    assert status["status"] == "completed"
    assert status["stats"]["documents_processed"] == 50


async def test_upload_async_can_wait_with_progress(make_mcp, root):
    client = await make_mcp(file_root=[root])
    write_jsonl(root / "big.jsonl", 300)
    seen: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total))

    result = await client.call_tool(
        "upload_file",
        {"dataset": "products", "path": str(root / "big.jsonl"), "async_mode": True, "wait": True, "batch_size": 50},
        progress_callback=on_progress,
    )
    assert not result.is_error, result.content
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["stats"]["documents_processed"] == 300
    assert seen and seen[-1] == (300, 300)


async def test_upload_reports_bad_lines(make_mcp, call, root):
    client = await make_mcp(file_root=[root])
    (root / "mixed.jsonl").write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    result = await call(
        client, "upload_file", {"dataset": "mixed", "path": str(root / "mixed.jsonl"), "format": "jsonl"}
    )
    assert result["stats"]["documents_processed"] == 2
    assert result["error_count"] == 1 and result["errors"][0]["location"]


async def test_file_outside_the_roots_is_refused(make_mcp, call_error, sent_requests, root, outside):
    client = await make_mcp(file_root=[root])
    message = await call_error(client, "upload_file", {"dataset": "x", "path": str(outside)})
    assert "outside the allowed file roots" in message and "--file-root DIR" in message
    assert sent_requests == []


async def test_dotdot_escape_is_refused(make_mcp, call_error, sent_requests, root, outside):
    client = await make_mcp(file_root=[root])
    for path in ("../private/secret.json", str(root / ".." / "private" / "secret.json")):
        message = await call_error(client, "upload_file", {"dataset": "x", "path": path})
        assert "outside the allowed file roots" in message
    assert sent_requests == []


@needs_symlinks
async def test_symlink_escape_is_refused(make_mcp, call_error, sent_requests, root, outside):
    client = await make_mcp(file_root=[root])
    (root / "innocent.json").symlink_to(outside)
    (root / "linkdir").symlink_to(outside.parent, target_is_directory=True)
    for path in (str(root / "innocent.json"), "innocent.json", "linkdir/secret.json"):
        message = await call_error(client, "upload_file", {"dataset": "x", "path": path})
        # Refused without saying where the link leads.
        assert "outside the allowed file roots" in message and str(outside.resolve()) not in message
    assert sent_requests == []


@needs_symlinks
async def test_symlinked_root_and_symlink_inside_root_are_fine(make_mcp, call, tmp_path, root):
    write_jsonl(root / "real.jsonl", 3)
    (root / "alias.jsonl").symlink_to(root / "real.jsonl")
    linked_root = tmp_path / "root-link"
    linked_root.symlink_to(root, target_is_directory=True)
    client = await make_mcp(file_root=[linked_root])
    result = await call(client, "upload_file", {"dataset": "products", "path": "alias.jsonl"})
    assert result["stats"]["documents_processed"] == 3


async def test_missing_file_and_directory_are_refused(make_mcp, call_error, sent_requests, root):
    client = await make_mcp(file_root=[root])
    missing = await call_error(client, "upload_file", {"dataset": "x", "path": "nope.json"})
    assert "not found under the allowed file roots" in missing
    (root / "folder").mkdir()
    folder = await call_error(client, "upload_file", {"dataset": "x", "path": str(root / "folder")})
    assert "not a regular file" in folder
    assert sent_requests == []


async def test_empty_and_oversized_files_are_refused(make_mcp, call_error, sent_requests, root):
    client = await make_mcp(file_root=[root])
    (root / "empty.json").write_bytes(b"")
    assert "is empty" in await call_error(client, "upload_file", {"dataset": "x", "path": "empty.json"})
    with open(root / "huge.json", "wb") as sparse:  # sparse: no real disk use
        sparse.truncate(MAX_UPLOAD_BYTES + 1)
    message = await call_error(client, "upload_file", {"dataset": "x", "path": "huge.json"})
    assert f"{MAX_UPLOAD_BYTES}-byte upload limit" in message and "split" in message
    assert sent_requests == []


async def test_bad_dataset_name_is_refused(make_mcp, call_error, sent_requests, root):
    client = await make_mcp(file_root=[root])
    write_jsonl(root / "a.jsonl", 1)
    assert "not a valid name" in await call_error(client, "upload_file", {"dataset": "../x", "path": "a.jsonl"})
    assert sent_requests == []


async def test_one_of_several_roots(make_mcp, call, tmp_path, root):
    other = tmp_path / "other"
    other.mkdir()
    write_jsonl(other / "b.jsonl", 2)
    client = await make_mcp(file_root=[root, other])
    result = await call(client, "upload_file", {"dataset": "products", "path": "b.jsonl"})
    assert result["stats"]["documents_processed"] == 2
    assert Path(result["file"]) == (other / "b.jsonl").resolve()
    assert os.path.isabs(result["file"])


async def test_status_of_unknown_run(mcp, call_error, sent_requests):
    message = await call_error(mcp, "get_connector_job_status", {"run_id": "no-such-run"})
    assert "HTTP 404" in message and "pass the run_id that upload_file returned" in message
    sent_requests.clear()
    assert "not a valid id" in await call_error(mcp, "get_connector_job_status", {"run_id": "../sql"})
    assert sent_requests == []
