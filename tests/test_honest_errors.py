"""Errors that tell the truth and keep secrets, through a real MCP client on an httpx2.MockTransport.

* An endpoint (or proxy) that echoes the request's headers in its error body: the tool
  error and the log carry no signature, credential, Authorization value or key.
* A change that was sent and then failed (5xx, timeout, reset, a garbled answer) may have
  been applied: the error says so and names the tool to check with, instead of "try again".
* A read answered 200 with invalid JSON is retried like a 5xx.
"""

from __future__ import annotations

import json
import logging
import re

import httpx2
import pytest

from tests.test_faults import SECRET, Script, _call, _text, raises, status

pytestmark = pytest.mark.anyio

ACCESS = "AKFAULTS"


def echo_headers(code: int, shape: str):
    """A responder whose error body repeats every request header (and the URL), as some proxies do."""

    def respond(request: httpx2.Request) -> httpx2.Response:
        headers = dict(request.headers)
        if shape == "text":
            lines = [f"{request.method} {request.url}", *(f"{k}: {v}" for k, v in headers.items())]
            return httpx2.Response(code, text="\n".join(lines), headers={"content-type": "text/plain"})
        if shape == "reason":
            body = {"error": {"reason": f"rejected {request.url}: {json.dumps(headers)}"}}
        else:  # an error object without a reason: shown whole
            body = {"error": {"request": {"url": str(request.url), "headers": headers}}}
        return httpx2.Response(code, json=body)

    return respond


def _signed_parts(request: httpx2.Request) -> list[str]:
    authorization = request.headers["authorization"]
    signature = re.search(r"Signature=(\w+)", authorization)
    credential = re.search(r"Credential=([^,]+)", authorization)
    assert signature and credential
    return [authorization, signature[1], credential[1], SECRET]


@pytest.mark.parametrize("code", [400, 403, 500, 502])
@pytest.mark.parametrize("shape", ["text", "reason", "object"])
async def test_echoed_headers_are_scrubbed_from_errors_and_logs(caplog, code, shape) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(echo_headers(code, shape))
    result, _ = await _call(script, "get_datasets", {})
    assert result.is_error
    text = _text(result)
    assert f"HTTP {code}" in text and "[redacted]" in text
    for secret in _signed_parts(script.requests[0]):
        assert secret not in text, secret
        assert secret not in caplog.text, secret
    assert "Signature=" not in text.replace("Signature=[redacted]", "")


async def test_key_like_values_in_an_error_body_are_scrubbed() -> None:
    leaked = {
        "error": {
            "reason": "config dump: secret_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
            "aws_access_key_id AKIAIOSFODNN7EXAMPLE token Zx9kQ2mN8pL4vB7cR1tY6wE3uI5oA0sD",
        }
    }
    script = Script(status(400, leaked))
    result, _ = await _call(script, "get_datasets", {})
    text = _text(result)
    for secret in ("wJalrXUtnFEMI", "AKIAIOSFODNN7EXAMPLE", "Zx9kQ2mN8pL4vB7cR1tY6wE3uI5oA0sD"):
        assert secret not in text
    assert "config dump" in text


DASHBOARD = {"title": "Revenue", "panels": [{"kind": "markdown", "content": "hello"}]}


@pytest.mark.parametrize(
    "fault",
    [
        status(500),
        status(503),
        raises(httpx2.ReadTimeout),
        raises(httpx2.ReadError),
        raises(httpx2.RemoteProtocolError),
    ],
)
async def test_a_change_that_may_have_been_applied_says_how_to_check(fault) -> None:
    script = Script(fault)
    result, _ = await _call(script, "create_dashboard", {"spec": DASHBOARD})
    assert result.is_error
    text = _text(result)
    assert "may have been applied" in text and "list_dashboards" in text, text
    assert "try again later" not in text and "Retry later" not in text
    assert script.first == 1  # never repeated: a second dashboard must not appear


async def test_a_garbled_answer_to_a_change_is_not_repeated() -> None:
    garbled = lambda r: httpx2.Response(200, content=b"{oops", headers={"content-type": "application/json"})  # noqa: E731
    script = Script(garbled)
    result, _ = await _call(script, "upload_json_to_dataset", {"dataset": "logs", "records": [{"a": 1}]})
    assert result.is_error and "may have been applied" in _text(result) and "get_datasets" in _text(result)
    assert script.first == 1


async def test_a_read_answered_with_invalid_json_is_retried() -> None:
    garbled = lambda r: httpx2.Response(200, content=b"{oops", headers={"content-type": "application/json"})  # noqa: E731
    good = status(200, [{"index": "logs", "docs.count": "3"}])
    script = Script(garbled, garbled, good)
    result, _ = await _call(script, "get_datasets", {})
    assert not result.is_error, _text(result)
    assert script.first == 3
    assert json.dumps(result.structured_content).find("logs") >= 0
