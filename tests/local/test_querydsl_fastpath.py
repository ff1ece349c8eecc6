"""A lone scored match is answered by the engine's native top-k search and match count
(no SQL), and answers exactly like the SQL path, which a filter that keeps every
document forces."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from infino_mcp.local.querydsl.search import search
from infino_mcp.local.services import Services, open_services
from infino_mcp.local.storage.documents import ingest_documents
from infino_mcp.local.storage.engine import Engine

pytestmark = pytest.mark.anyio


class CountingEngine(Engine):
    """Counts the native full-text calls and the SQL queries the search makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.native_calls = 0
        self.sql_calls = 0

    async def search_and_count_text(self, *args: Any, **kwargs: Any) -> tuple[pa.Table, int]:
        self.native_calls += 1
        return await super().search_and_count_text(*args, **kwargs)

    async def query(self, sql: str) -> pa.Table:
        self.sql_calls += 1
        return await super().query(sql)


DOCS = [
    (str(i), {"body": " ".join(["red"] * (i % 4 + 1) + ["phone"] * (i % 3)) + f" item{i}", "n": i}) for i in range(40)
]
MATCHES = [
    ({"match": {"body": "red phone"}}, {}),
    ({"match": {"body": {"query": "red phone", "operator": "and"}}}, {"from": 5, "size": 7}),
    ({"bool": {"must": {"match": {"body": "phone"}}}}, {"size": 3}),
    ({"match": {"body": "nothing"}}, {}),
]


async def _answer(services: Services, body: dict[str, Any]) -> dict:
    result = await search(services, "items", body)
    result.pop("took")
    return result


async def test_native_path_matches_the_sql_path(tmp_path: Path) -> None:
    plain = open_services(tmp_path)
    try:
        await ingest_documents(plain.writer, "items", DOCS)
    finally:
        await plain.aclose()
    reopened = open_services(tmp_path)
    engine = CountingEngine(tmp_path / "engine")
    counted = dataclasses.replace(reopened, engine=engine)
    try:
        for match, paging in MATCHES:
            engine.native_calls = engine.sql_calls = 0
            fast = await _answer(counted, {"query": match, **paging})
            assert (engine.native_calls, engine.sql_calls) == (1, 0), match
            every_doc = {"bool": {"must": match, "filter": {"exists": {"field": "n"}}}}
            slow = await _answer(counted, {"query": every_doc, **paging})
            assert engine.sql_calls > 0
            assert [h["_id"] for h in fast["hits"]["hits"]] == [h["_id"] for h in slow["hits"]["hits"]]
            assert fast["hits"]["total"] == slow["hits"]["total"]
            for a, b in zip(fast["hits"]["hits"], slow["hits"]["hits"], strict=True):
                assert a["_score"] == pytest.approx(b["_score"])
                assert a["_source"] == b["_source"]
    finally:
        await engine.aclose()
        await reopened.aclose()
