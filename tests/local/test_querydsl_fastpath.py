"""A lone scored match uses the engine's native top-k search and match count when the
engine offers them (``search_text``/``count_text``), and answers exactly like the SQL path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import anyio.to_thread
import pyarrow as pa
import pytest

from infino_mcp.local.documents import ingest_documents
from infino_mcp.local.engine import Engine
from infino_mcp.local.querydsl import search
from infino_mcp.local.services import Services, open_services

pytestmark = pytest.mark.anyio


class NativeSearchEngine(Engine):
    """The two engine calls the fast path asks for, with the semantics requested of ``Engine``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.native_calls = 0

    async def search_text(
        self, table: str, column: str, query: str, k: int, *, mode: str = "or", projection: list[str]
    ) -> pa.Table:
        self.native_calls += 1
        handle = self._table(table)
        return await anyio.to_thread.run_sync(
            lambda: handle.bm25_search(column, query, k, mode=mode, projection=projection)
        )

    async def count_text(self, table: str, column: str, query: str, *, mode: str = "or") -> int:
        self.native_calls += 1
        handle = self._table(table)
        return await anyio.to_thread.run_sync(lambda: handle.count(column, query, mode=mode))


DOCS = [
    (str(i), {"body": " ".join(["red"] * (i % 4 + 1) + ["phone"] * (i % 3)) + f" item{i}", "n": i}) for i in range(40)
]


async def _answers(services: Services, bodies: list[dict[str, Any]]) -> list[dict]:
    out = []
    for body in bodies:
        result = await search(services, "items", body)
        result.pop("took")
        out.append(result)
    return out


async def test_native_path_matches_the_sql_path(tmp_path: Path) -> None:
    bodies = [
        {"query": {"match": {"body": "red phone"}}},
        {"query": {"match": {"body": {"query": "red phone", "operator": "and"}}}, "from": 5, "size": 7},
        {"query": {"bool": {"must": {"match": {"body": "phone"}}}}, "size": 3},
        {"query": {"match": {"body": {"query": "red", "boost": 2}}}, "size": 3},
        {"query": {"match": {"body": "nothing"}}},
    ]
    plain = open_services(tmp_path)
    try:
        await ingest_documents(plain, "items", DOCS)
        slow = await _answers(plain, bodies)
    finally:
        await plain.aclose()
    reopened = open_services(tmp_path)
    native_engine = NativeSearchEngine(tmp_path / "engine")
    try:
        fast = await _answers(dataclasses.replace(reopened, engine=native_engine), bodies)
    finally:
        await native_engine.aclose()
        await reopened.aclose()
    assert native_engine.native_calls >= 6
    for got, expected in zip(fast, slow, strict=True):
        assert [h["_id"] for h in got["hits"]["hits"]] == [h["_id"] for h in expected["hits"]["hits"]]
        assert got["hits"]["total"] == expected["hits"]["total"]
        for a, b in zip(got["hits"]["hits"], expected["hits"]["hits"], strict=True):
            assert a["_score"] == pytest.approx(b["_score"])
            assert a["_source"] == b["_source"]
