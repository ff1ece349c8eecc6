"""Unit tests of the SQL name rewriting and result conversion (no HTTP)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from infino_mcp.local.errors import ApiError
from infino_mcp.local.sql.results import table_to_result, to_sql_envelope
from infino_mcp.local.sql.rewrite import engine_names_to_user, rewrite

pytestmark = pytest.mark.anyio


@pytest.fixture
async def catalog(local_services):
    from infino_mcp.local.storage.documents import ingest_documents

    await ingest_documents(local_services.writer, "Logs.2024", [("1", {"level": "info", "score": 2, "_meta": "m"})])
    await ingest_documents(local_services.writer, "web-logs", [("1", {"level": "warn"})])
    return local_services.catalog


async def test_tables_are_rewritten_and_keep_the_dataset_name_as_alias(catalog):
    table = catalog.get("Logs.2024").table
    assert table != "Logs.2024"
    out = rewrite('SELECT "Logs.2024".level FROM "Logs.2024"', catalog).sql
    assert out == f'SELECT "Logs.2024".level FROM "{table}" AS "Logs.2024"'
    # a plain lower-case dashed name is its own table name: nothing to rewrite but the quoting
    assert rewrite("select level from web-logs w", catalog).sql == 'select level from "web-logs" w'
    assert rewrite("select level from `web-logs`", catalog).sql == 'select level from "web-logs"'


async def test_renamed_fields_and_ids(catalog):
    out = rewrite('SELECT _id, score, _meta FROM "Logs.2024" WHERE score > 1', catalog).sql
    assert '"_doc_id" AS "_id"' in out
    assert '"~score"' in out and '"~_meta"' in out
    assert 'WHERE "~score" > 1' in out


async def test_ctes_strings_and_search_functions(catalog):
    table = catalog.get("Logs.2024").table
    out = rewrite("WITH x AS (SELECT level FROM \"Logs.2024\") SELECT * FROM x WHERE level <> 'Logs.2024'", catalog).sql
    assert f'FROM "{table}" AS "Logs.2024"' in out and "'Logs.2024'" in out and "FROM x" in out
    out = rewrite("SELECT * FROM bm25_search('Logs.2024', 'level', 'info', 10)", catalog).sql
    assert f"bm25_search('{table}', 'level'" in out


async def test_unknown_datasets_and_syntax_errors(catalog):
    with pytest.raises(ApiError) as missing:
        rewrite("SELECT * FROM nowhere", catalog)
    assert missing.value.status == 404 and "get_datasets lists the datasets" in str(missing.value)
    with pytest.raises(ApiError) as syntax:
        rewrite("SELEC * FROM x", catalog)
    assert syntax.value.status == 400


async def test_engine_messages_use_dataset_names(catalog):
    info = catalog.get("Logs.2024")
    message = (
        f"Schema error: No field named x. Valid fields are {info.table}._id, {info.table}._doc_id, "
        f'{info.table}._source, {info.table}."~score".'
    )
    text = engine_names_to_user(message, {"Logs.2024": info})
    assert text == "Schema error: No field named x. Valid fields are score."
    other = engine_names_to_user(f"Error during planning: {info.table}.level is ambiguous", {"Logs.2024": info})
    assert other == "Error during planning: Logs.2024.level is ambiguous"


def test_results_convert_time_decimals_and_hide_internals():
    table = pa.table(
        {
            "_id": pa.array([1], pa.decimal128(38, 0)),
            "_doc_id": ["a"],
            "_source": ["{}"],
            "~score": [1.5],
            "ts": pa.array([2**53], pa.timestamp("ms")),
            "ns": pa.array([1], pa.timestamp("ns")),
            "d": pa.array([0], pa.date32()),
        }
    )
    result = table_to_result(table)
    assert result.columns == [("score", "Float"), ("ts", "Date"), ("ns", "Date"), ("d", "Date")]
    assert result.rows[0]["ns"] == "1970-01-01T00:00:00.000000001Z"
    assert result.rows[0]["d"] == "1970-01-01"
    envelope = to_sql_envelope(result)
    assert envelope["rows"][0]["values"]["score"] == {"Float": 1.5}
    assert envelope["columns"][0] == {
        "alias": None,
        "name": {"Column": {"name": "score", "table_identifier": None}},
        "data_type": "Float",
    }
