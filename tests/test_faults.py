"""Faults the local endpoint cannot produce, through a real MCP client on an httpx2.MockTransport.

Each fault becomes an error result whose message says what happened and what
to do next; the server keeps answering afterwards. Retries happen only where safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2
import pytest
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

SECRET = "s3cr3t-never-shown"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "endpoint": "https://infino.test",
        "access_key": "AKFAULTS",
        "secret_key": SECRET,
        "toolsets": "all",
        "allow_destructive": True,
        "retry_backoff": 0,
        "max_retries": 3,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Script:
    """A MockTransport handler answering from a list of responders, recording every request."""

    def __init__(self, *responders: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.responders = list(responders)
        self.requests: list[httpx2.Request] = []
        self.first = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        responder = self.responders.pop(0) if len(self.responders) > 1 else self.responders[0]
        return responder(request)


def status(
    code: int, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(
        code, json=body if body is not None else {"error": {"reason": f"status {code}"}}, headers=headers
    )


def raises(exc: type[Exception]) -> Callable[[httpx2.Request], httpx2.Response]:
    def respond(request: httpx2.Request) -> httpx2.Response:
        raise exc("simulated", request=request)  # type: ignore[call-arg]

    return respond


async def _call(
    script: Script, tool: str, args: dict[str, Any], *, waits: list[float] | None = None, **overrides: Any
) -> tuple[Any, Any]:
    """Call ``tool``, then ``ping`` to show the server still answers; ``script.first`` counts the tool's requests.

    The client's waits between retries are recorded in ``waits`` (and take no time).
    """
    settings = _settings(**overrides)
    recorded = waits if waits is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    client = InfinoClient(
        settings.endpoint,
        settings.access_key,
        settings.secret_key,
        settings=settings,
        transport=httpx2.MockTransport(script),
        sleep=sleep,
    )
    async with client, Client(build_server(settings, client=client)) as mcp:
        result = await mcp.call_tool(tool, args)
        script.first = len(script.requests)
        follow_up = await mcp.call_tool("ping", {})
    return result, follow_up


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.anyio
async def test_get_is_retried_on_503_then_succeeds() -> None:
    script = Script(status(503), status(503), status(200, {"version": "v1"}))
    result, _ = await _call(script, "ping", {})
    assert not result.is_error and result.structured_content["version"] == "v1"
    assert script.first == 3
    assert all(r.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKFAULTS/") for r in script.requests)


@pytest.mark.anyio
async def test_retry_after_on_429_is_honoured() -> None:
    script = Script(status(429, headers={"retry-after": "7"}), status(200, {"version": "v1"}))
    waits: list[float] = []
    result, _ = await _call(script, "ping", {}, waits=waits)
    assert not result.is_error and script.first == 2
    assert waits == [7.0]


@pytest.mark.anyio
async def test_retry_after_as_a_date_is_honoured() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    script = Script(status(503, headers={"retry-after": later}), status(200, {"version": "v1"}))
    waits: list[float] = []
    result, _ = await _call(script, "ping", {}, waits=waits)
    assert not result.is_error and len(waits) == 1 and 25 <= waits[0] <= 30


@pytest.mark.anyio
async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    script = Script(status(429, headers={"retry-after": "3600"}), status(200, {"version": "v1"}))
    waits: list[float] = []
    result, _ = await _call(script, "ping", {}, waits=waits, retry_deadline=90)
    assert result.is_error and "429" in _text(result)
    assert waits == [] and script.first == 1


@pytest.mark.anyio
async def test_backoff_grows_between_retries_without_retry_after() -> None:
    script = Script(status(503), status(503), status(503), status(200, {"version": "v1"}))
    waits: list[float] = []
    result, _ = await _call(script, "ping", {}, waits=waits, retry_backoff=0.5)
    assert not result.is_error and len(waits) == 3
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(waits))


@pytest.mark.anyio
async def test_persistent_5xx_gives_up_with_a_clear_message() -> None:
    script = Script(status(500))
    result, follow_up = await _call(script, "get_datasets", {})
    assert result.is_error
    assert "HTTP 500" in _text(result) and "try again later" in _text(result)
    assert script.first == 4  # the first try and 3 retries
    assert follow_up.is_error  # the ping meets the same 500, as an error result: the server still answers


@pytest.mark.anyio
async def test_post_is_not_retried_after_it_may_have_reached_the_server() -> None:
    script = Script(status(503))
    result, _ = await _call(script, "upload_json_to_dataset", {"dataset": "logs", "records": [{"a": 1}]})
    assert result.is_error
    assert script.first == 1 and script.requests[0].method == "POST"


@pytest.mark.anyio
async def test_post_is_retried_when_the_connection_was_never_made() -> None:
    script = Script(
        raises(httpx2.ConnectError),
        status(200, {"took": 1, "errors": False, "items": [{"index": {"_id": "1", "status": 201}}]}),
    )
    result, _ = await _call(script, "upload_json_to_dataset", {"dataset": "logs", "records": [{"a": 1}]})
    assert not result.is_error, _text(result)
    assert [r.method for r in script.requests][:2] == ["POST", "POST"]


@pytest.mark.anyio
async def test_connection_reset_on_post_is_reported_not_retried() -> None:
    script = Script(raises(httpx2.ReadError), status(200, {"version": "v"}))
    result, follow_up = await _call(script, "upload_json_to_dataset", {"dataset": "logs", "records": [{"a": 1}]})
    assert result.is_error and "lost its connection" in _text(result)
    assert not follow_up.is_error


@pytest.mark.anyio
async def test_timeout_message_suggests_narrowing() -> None:
    script = Script(raises(httpx2.ReadTimeout))
    result, _ = await _call(script, "get_datasets", {}, max_retries=0)
    assert result.is_error and "timed out" in _text(result)


@pytest.mark.anyio
async def test_bad_json_from_the_service_is_an_error_not_a_crash() -> None:
    script = Script(lambda r: httpx2.Response(200, content=b"{not json", headers={"content-type": "application/json"}))
    result, follow_up = await _call(script, "get_datasets", {})
    assert result.is_error and "not valid JSON" in _text(result)
    assert follow_up.is_error  # same script, same fault; still an error result, not a dead server


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (401, "credentials"),
        (403, "roles"),
        (404, "It does not exist; call get_datasets to see the datasets that exist."),
        (409, "already exists"),
        (413, "too large"),
    ],
)
@pytest.mark.anyio
async def test_error_statuses_say_what_to_do_next(code: int, words: str) -> None:
    script = Script(status(code))
    result, _ = await _call(script, "get_dataset_schema", {"dataset": "logs"})
    assert result.is_error and f"HTTP {code}" in _text(result) and words in _text(result)
    assert script.first == 1  # 4xx is never retried


@pytest.mark.anyio
async def test_secrets_never_reach_tool_output_or_errors() -> None:
    script = Script(status(401))
    result, _ = await _call(script, "get_datasets", {})
    assert SECRET not in _text(result) and "Signature=" not in _text(result)
    assert SECRET not in repr(_settings())
