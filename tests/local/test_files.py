"""File uploads (``POST /import/file``) and connector job status through the local endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from infino_mcp.local.services import Services
from infino_mcp.local.storage.files import csv_value, detect_format
from tests.not_found import not_found_reason

pytestmark = pytest.mark.anyio


async def _upload(
    client: httpx2.AsyncClient,
    dataset: str | None,
    filename: str,
    content: bytes,
    *,
    fmt: str | None = None,
    batch_size: int | None = None,
    run_async: bool = False,
) -> httpx2.Response:
    data: dict[str, str] = {}
    if dataset is not None:
        data["index_name"] = dataset
    if fmt is not None:
        data["format"] = fmt
    if batch_size is not None:
        data["batch_size"] = str(batch_size)
    return await client.post(
        "/import/file",
        params={"async": "true" if run_async else "false"},
        data=data,
        files={"file": (filename, content, "application/octet-stream")},
    )


async def _doc(endpoint: httpx2.AsyncClient, dataset: str, doc_id: str) -> dict:
    response = await endpoint.get(f"/{dataset}/doc/{doc_id}")
    assert response.status_code == 200, response.text
    return response.json()["_source"]


async def _count(endpoint: httpx2.AsyncClient, dataset: str) -> int:
    response = await endpoint.request("GET", "/sql", json={"query": f'SELECT COUNT(*) AS n FROM "{dataset}"'})
    assert response.status_code == 200, response.text
    return next(iter(response.json()["rows"][0]["values"]["n"].values()))


async def test_sync_json_upload(endpoint: httpx2.AsyncClient) -> None:
    docs = [{"_id": "p1", "name": "pen", "price": 1.5}, {"_id": "p2", "name": "ink", "price": 3}]
    response = await _upload(endpoint, "products", "products.json", json.dumps(docs).encode(), fmt="json")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["connector_id"] == "file"
    assert result["status"] == "completed"
    assert result["stats"]["documents_processed"] == 2
    assert result["stats"]["documents_failed"] == 0
    assert result["stats"]["batches"] == 1
    assert result["stats"]["bytes"] == len(json.dumps(docs))
    assert result["errors"] == []
    assert await _doc(endpoint, "products", "p2") == {"name": "ink", "price": 3}

    status = (await endpoint.get(f"/_connectors/jobs/{result['run_id']}")).json()
    assert status["status"] == "completed"
    assert status["progress"]["documents_processed"] == 2


async def test_jsonl_with_bad_lines_reports_them(endpoint: httpx2.AsyncClient) -> None:
    content = b'{"a": 1}\nnot json\n\n[1, 2]\n{"a": 2}\n'
    result = (await _upload(endpoint, "lines", "data.jsonl", content)).json()
    assert result["status"] == "completed"
    assert result["stats"]["documents_processed"] == 2
    assert result["stats"]["documents_failed"] == 2
    assert [e["location"] for e in result["errors"]] == ["line 2", "line 4"]
    assert "1 failed" not in result["message"] and "2 failed" in result["message"]
    assert await _count(endpoint, "lines") == 2


async def test_csv_values_are_typed(endpoint: httpx2.AsyncClient) -> None:
    content = b"_id,name,qty,price,active,zip,note\nr1,apple,3,0.5,true,01234,\nr2,pear,-2,1e3,False,99999,ripe\n"
    result = (await _upload(endpoint, "fruit", "fruit.csv", content, fmt="auto")).json()
    assert result["stats"]["format"] == "csv"
    assert result["stats"]["documents_processed"] == 2
    assert await _doc(endpoint, "fruit", "r1") == {
        "name": "apple",
        "qty": 3,
        "price": 0.5,
        "active": True,
        "zip": "01234",
    }
    assert await _doc(endpoint, "fruit", "r2") == {
        "name": "pear",
        "qty": -2,
        "price": 1000.0,
        "active": False,
        "zip": 99999,
        "note": "ripe",
    }


def test_csv_value_inference() -> None:
    assert [csv_value(v) for v in ["7", "-7", "+7", "0", "3.25", "TRUE", "007", "1_000", "nan", "x1", "1.2.3"]] == [
        7,
        -7,
        7,
        0,
        3.25,
        True,
        "007",
        "1_000",
        "nan",
        "x1",
        "1.2.3",
    ]


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("a.json", b"{}", "json"),
        ("a.JSONL", b"{}", "jsonl"),
        ("a.ndjson", b"{}", "jsonl"),
        ("a.csv", b"x", "csv"),
        ("upload", b"  [{}]", "json"),
        ("upload", b'{"a": 1}', "json"),
        ("upload", b'{"a": 1}\n{"a": 2}\n', "jsonl"),
        ("upload", b"a,b\n1,2\n", "csv"),
    ],
)
def test_format_detection(filename: str, content: bytes, expected: str) -> None:
    assert detect_format(filename, content) == expected


async def test_batches(endpoint: httpx2.AsyncClient) -> None:
    content = "".join(json.dumps({"i": i}) + "\n" for i in range(5)).encode()
    result = (await _upload(endpoint, "batched", "x.jsonl", content, batch_size=2)).json()
    assert result["stats"]["batches"] == 3
    assert result["stats"]["documents_processed"] == 5
    assert await _count(endpoint, "batched") == 5


async def test_async_upload_can_be_polled(endpoint: httpx2.AsyncClient) -> None:
    content = "".join(json.dumps({"i": i, "_id": f"d{i}"}) + "\n" for i in range(50)).encode()
    submitted = await _upload(endpoint, "async-ds", "x.jsonl", content, batch_size=10, run_async=True)
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["status"] == "submitted"
    assert body["connector_id"] == "file"
    run_id = body["run_id"]
    assert body["message"].endswith(f"poll it with get_connector_job_status (run_id {run_id}).")
    status = (await endpoint.get(f"/_connectors/jobs/{run_id}", params={"wait_for_completion": "true"})).json()
    assert status["status"] == "completed", status
    assert status["progress"] == {"documents_processed": 50, "documents_failed": 0, "total": 50}
    assert status["stats"]["batches"] == 5
    assert await _count(endpoint, "async-ds") == 50


async def test_async_failure_is_reported(endpoint: httpx2.AsyncClient) -> None:
    submitted = (await _upload(endpoint, "broken", "x.json", b"[1, 2, 3]", run_async=True)).json()
    status = (
        await endpoint.get(f"/_connectors/jobs/{submitted['run_id']}", params={"wait_for_completion": "true"})
    ).json()
    assert status["status"] == "failed"
    assert status["stats"]["documents_failed"] == 3
    assert "expected a JSON object" in status["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("dataset", "filename", "content", "options", "expected"),
    [
        (None, "a.json", b"[]", {}, "index_name"),
        ("ds", "a.json", b"[]", {"fmt": "xml"}, "json, jsonl, csv, auto"),
        ("ds", "a.json", b"[]", {"batch_size": 0}, "batch_size"),
        ("ds", "a.json", b'[{"a": 1},', {}, "line 1 column"),
        ("ds", "a.csv", b"", {}, "header"),
        ("ds", "a.csv", b"\xff\xfe", {}, "UTF-8"),
        ("_reserved", "a.json", b"[]", {}, "reserved"),
    ],
)
async def test_bad_uploads(
    endpoint: httpx2.AsyncClient, dataset: str | None, filename: str, content: bytes, options: dict, expected: str
) -> None:
    response = await _upload(endpoint, dataset, filename, content, **options)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["reason"]


async def test_not_multipart_and_bad_async_flag(endpoint: httpx2.AsyncClient) -> None:
    plain = await endpoint.post("/import/file", json={"index_name": "x"})
    assert plain.status_code == 400
    assert "multipart" in plain.json()["error"]["reason"]
    flag = await endpoint.post("/import/file", params={"async": "maybe"}, files={"file": ("a.json", b"[]")})
    assert flag.status_code == 400
    two_files = await endpoint.post(
        "/import/file", data={"index_name": "x"}, files=[("file", ("a.json", b"[]")), ("file", ("b.json", b"[]"))]
    )
    assert two_files.status_code == 400
    assert "Maximum number of files is 1." in two_files.json()["error"]["reason"]
    no_file = await endpoint.post(
        "/import/file",
        content=b'--b\r\nContent-Disposition: form-data; name="index_name"\r\n\r\nx\r\n--b--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert no_file.status_code == 400
    assert "'file'" in no_file.json()["error"]["reason"]


async def test_too_large_upload_is_413(endpoint: httpx2.AsyncClient, local_services: Services) -> None:
    local_services.max_upload_bytes = 100
    response = await _upload(endpoint, "big", "big.jsonl", b'{"a": 1}\n' * 50)
    assert response.status_code == 413
    assert "100" in response.json()["error"]["reason"]


async def test_unknown_job_and_interrupted_job(endpoint: httpx2.AsyncClient, local_services: Services) -> None:
    not_found_reason(await endpoint.get("/_connectors/jobs/nope"), "upload_file")
    local_services.collection("connector_jobs").put(
        "stale", {"run_id": "stale", "status": "running", "user": "admin", "stats": {}, "errors": []}
    )
    status = (await endpoint.get("/_connectors/jobs/stale")).json()
    assert status["status"] == "failed"
    assert "restart" in status["message"]


ClientFactory = Callable[[list[dict]], "httpx2.AsyncClient"]


@pytest.fixture
async def user_with(
    endpoint: httpx2.AsyncClient, endpoint_as: Callable[[str, str], httpx2.AsyncClient]
) -> AsyncIterator[ClientFactory]:
    """A client for a new user whose only role has the given permission statements."""
    clients: list[httpx2.AsyncClient] = []

    async def make(permissions: list[dict]) -> httpx2.AsyncClient:
        name = f"u{len(clients)}"
        assert (await endpoint.put(f"/role/{name}-role", json={"Permissions": permissions})).status_code == 200
        keys = (await endpoint.put(f"/user/{name}", json={"Roles": [f"{name}-role"]})).json()
        client = endpoint_as(keys["access_key"], keys["secret_key"])
        clients.append(client)
        return client

    yield make


async def test_upload_permissions(endpoint: httpx2.AsyncClient, user_with) -> None:
    await _upload(endpoint, "logs-1", "a.jsonl", b'{"a": 1}\n')
    reader = await user_with([{"ResourceType": "record", "Actions": ["read"], "Resources": ["logs-*"]}])
    denied = await _upload(reader, "logs-1", "a.jsonl", b'{"a": 2}\n')
    assert denied.status_code == 403
    assert "write" in denied.json()["error"]["reason"]

    writer = await user_with([{"ResourceType": "record", "Actions": ["write"], "Resources": ["logs-*"]}])
    assert (await _upload(writer, "logs-1", "a.jsonl", b'{"a": 2}\n')).json()["status"] == "completed"
    new_dataset = await _upload(writer, "logs-2", "a.jsonl", b'{"a": 2}\n')
    assert new_dataset.status_code == 403
    assert "create" in new_dataset.json()["error"]["reason"]

    creator = await user_with(
        [
            {"ResourceType": "record", "Actions": ["write"], "Resources": ["logs-*"]},
            {"ResourceType": "dataset", "Actions": ["create"], "Resources": ["logs-*"]},
        ]
    )
    done = (await _upload(creator, "logs-2", "a.jsonl", b'{"a": 2}\n')).json()
    assert done["status"] == "completed"
    # Another user's job is not visible.
    not_found_reason(await writer.get(f"/_connectors/jobs/{done['run_id']}"), "upload_file")
    assert (await endpoint.get(f"/_connectors/jobs/{done['run_id']}")).status_code == 200


async def test_async_job_is_visible_through_another_app(endpoint: httpx2.AsyncClient, user_with) -> None:
    """Jobs belong to the services, not to one app instance: the admin can wait on a user's upload."""
    creator = await user_with(
        [
            {"ResourceType": "record", "Actions": ["write"], "Resources": ["*"]},
            {"ResourceType": "dataset", "Actions": ["create"], "Resources": ["*"]},
        ]
    )
    content = "".join(json.dumps({"i": i}) + "\n" for i in range(20)).encode()
    submitted = (await _upload(creator, "shared-jobs", "x.jsonl", content, batch_size=5, run_async=True)).json()
    status = (
        await endpoint.get(f"/_connectors/jobs/{submitted['run_id']}", params={"wait_for_completion": "true"})
    ).json()
    assert status["status"] == "completed", status
    assert status["stats"]["documents_processed"] == 20
