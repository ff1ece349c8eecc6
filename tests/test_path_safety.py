"""No input reaches an endpoint but its own: a property test over every tool that takes a string.

For each (tool, string parameter), Hypothesis feeds hostile text (slashes, dots,
percent signs, query and fragment characters, unicode, control characters) while
the other arguments stay benign. Every request the tool then sends must have the
path shape the tool has with benign input (same fixed segments, the value in
exactly its own segment, percent-encoded), on the configured host; or the tool
refuses before sending anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from infino_mcp.client import InfinoClient
from infino_mcp.config import Settings
from infino_mcp.server import build_server

HOST = "infino.test"

# Benign values for arguments a tool needs in a particular shape.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "upload_json_to_dataset": {"records": [{"a": 1}], "id_field": None},
    "upload_metrics_to_dataset": {"metrics": "up 1\n"},
    "delete_records": {"query": {"query": {"match_all": {}}}},
    "enrich_dataset": {"policy": {"match_field": "a"}},
    "query_dataset_in_querydsl": {"query": {"query": {"match_all": {}}}},
    "query_dataset_in_sql": {"query": "SELECT 1"},
    "upsert_to_dataset": {"query": "INSERT INTO t (a) VALUES (1)"},
    "query_dataset_in_promql": {"query": "up"},
    "query_dataset_in_promql_range": {"query": "up", "start": 1, "end": 61, "step": 60},
    "create_visualization": {"spec": {"title": "t", "source": {"kind": "sql", "index": "d"}, "chart": {"type": "bar"}}},
    "update_visualization": {"patch": {"title": "t"}},
    "create_dashboard": {"spec": {"title": "t"}},
    "update_dashboard": {"patch": {"title": "t"}},
    "create_connection": {"config": {"host": "h"}},
    "update_connection": {"config": {"host": "h"}},
    "create_import_job": {"config": {"connection_id": "c"}},
    "create_user": {"config": {"Password": "p4ssw0rd!", "Roles": []}},
    "update_user": {"config": {"Roles": []}},
    "create_role": {"config": {"Version": "2025-01-01", "Permissions": []}},
    "update_role": {"config": {"Version": "2025-01-01", "Permissions": []}},
    "add_thread_message": {"content": "hi"},
    "create_thread": {"name": "t"},
    "update_thread": {"name": "t"},
    "query_source": {"query": "SELECT 1"},
    "set_dataset_context": {"description": "d"},
    "save_verified_query": {"query": "SELECT 1", "language": "sql"},
    "remove_dataset_context": {"ids": ["description"]},
}
# upload_file reads a local file (refused without --file-root); ask_fino talks over a WebSocket
# whose path is fixed (the thread id travels in the message).
NOT_PATHS = {"upload_file", "ask_fino"}

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "..",
            ".",
            "../metadata",
            "a/b",
            "a%2Fb",
            "%2e%2e",
            "x?y=1",
            "x#frag",
            "metadata",
            "sql",
            "a b",
            "\\",
            "ü/é",
            "%",
            "",
            "x" * 300,
            "?",
            "&limit=1",
            "a;b",
            "\n",
            "users",
        ]
    ),
)


def _settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        endpoint=f"https://{HOST}",
        access_key="AK",
        secret_key="SK",
        toolsets="all",
        allow_destructive=True,
        retry_backoff=0,
        max_retries=0,
        profile_cache_seconds=0,  # a cached profile would send nothing
    )


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, json={})


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class Fuzz(tuple):
    def __repr__(self) -> str:  # Hypothesis prints arguments; keep it short
        return "Fuzz(mcp, recorder, tools)"


@pytest.fixture(scope="module")
async def fuzz() -> AsyncIterator[Fuzz]:
    recorder = Recorder()
    settings = _settings()
    client = InfinoClient(settings.endpoint, "AK", "SK", settings=settings, transport=httpx2.MockTransport(recorder))
    async with client, Client(build_server(settings, client=client)) as mcp:
        tools = {t.name: t.input_schema for t in (await mcp.list_tools()).tools}
        yield Fuzz((mcp, recorder, tools))


def _string_params(schema: dict) -> list[str]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        kinds = prop.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        kinds += [option.get("type") for option in prop.get("anyOf", [])]
        # Parameters that also take JSON objects or arrays are documents, never path segments.
        enum = prop.get("enum") or any(option.get("enum") for option in prop.get("anyOf", []))
        if "string" in kinds and not {"object", "array"} & set(kinds) and not enum and "format" not in prop:
            out.append(name)
    return out


def _cases() -> list[tuple[str, str]]:
    import anyio

    async def collect() -> list[tuple[str, str]]:
        settings = _settings()
        client = InfinoClient(
            settings.endpoint, "AK", "SK", settings=settings, transport=httpx2.MockTransport(Recorder())
        )
        async with client, Client(build_server(settings, client=client)) as mcp:
            tools = (await mcp.list_tools()).tools
        return [
            (t.name, p)
            for t in tools
            if t.name not in NOT_PATHS
            for p in _string_params(t.input_schema)
            if p not in ARGUMENTS.get(t.name, {})
        ]

    return anyio.run(collect)


CASES = _cases()


def _benign(tool: str, schema: dict) -> dict[str, Any]:
    args = {name: f"v{i}" for i, name in enumerate(_string_params(schema)) if name in schema.get("required", [])}
    args.update(ARGUMENTS.get(tool, {}))
    for name in schema.get("required", []):
        args.setdefault(name, 1)
    return args


def _segments(request: httpx2.Request) -> list[str]:
    return request.url.raw_path.split(b"?")[0].decode("ascii").split("/")


def _template(request: httpx2.Request, values: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A benign request's method and path, each segment either ("fixed", text) or ("arg", name)."""
    encoded = {quote(v, safe=""): name for name, v in values.items() if isinstance(v, str) and v}
    return request.method, tuple(("arg", encoded[s]) if s in encoded else ("fixed", s) for s in _segments(request))


def _fits(request: httpx2.Request, template: tuple[str, tuple[tuple[str, str], ...]], values: dict[str, Any]) -> bool:
    method, parts = template
    segments = _segments(request)
    if request.method != method or len(segments) != len(parts):
        return False
    for segment, (kind, text) in zip(segments, parts, strict=True):
        wanted = quote(values[text], safe="") if kind == "arg" else text
        if segment != wanted:
            return False
    return True


@pytest.mark.parametrize(("tool", "param"), CASES, ids=[f"{t}.{p}" for t, p in CASES])
@pytest.mark.anyio
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE)
async def test_inputs_stay_in_their_own_path_segment(fuzz: Fuzz, tool: str, param: str, value: str) -> None:
    mcp, recorder, tools = fuzz
    schema = tools[tool]
    benign = _benign(tool, schema)
    recorder.requests.clear()
    await mcp.call_tool(tool, {**benign, param: f"w{len(param)}"})
    benign_values = {**benign, param: f"w{len(param)}"}
    templates = {_template(r, benign_values) for r in recorder.requests}
    assert templates, f"{tool} sent nothing with benign input; fix ARGUMENTS so the test means something"
    recorder.requests.clear()
    hostile = {**benign, param: value}
    await mcp.call_tool(tool, hostile)
    for request in recorder.requests:
        assert request.url.host == HOST
        assert any(_fits(request, t, hostile) for t in templates), (tool, param, value, str(request.url), templates)
