"""No single request crashes or exhausts `infino-mcp local-endpoint` (a real process, the official SDK over HTTP).

Each attack used to kill the process (SIGSEGV in the engine or the PromQL parser), answer
500 with "retry", or build a response of hundreds of megabytes. Each must now be a 400
saying what to shorten, and the same process must answer the next request.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from infino_sdk.lib import InfinoError, InfinoSDK

from tests.http_servers import endpoint_sdk


@pytest.fixture(scope="module")
def endpoint_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, InfinoSDK]]:
    with endpoint_sdk(tmp_path_factory.mktemp("limits")) as running:
        yield running


@pytest.fixture(scope="module")
def small_budget_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, InfinoSDK]]:
    """An endpoint whose engine may hold 64 MiB, so over-budget queries fail fast and small."""
    with endpoint_sdk(tmp_path_factory.mktemp("budget"), "--memory-budget", "64") as running:
        yield running


def _refused(call, *args) -> str:
    with pytest.raises(InfinoError) as caught:
        call(*args)
    assert caught.value.status_code() == 400, caught.value.message[:300]
    return caught.value.message


def _still_answers(process: subprocess.Popen, sdk: InfinoSDK) -> None:
    assert process.poll() is None, f"the endpoint died with status {process.returncode}"
    rows = sdk.query_dataset_in_sql("SELECT 1 + 1 AS two")["rows"]
    assert rows[0]["values"]["two"] == {"Integer": 2}


def _alias_bomb() -> str:
    """498 bytes of YAML whose Effect expands to 9**9 strings when walked."""
    levels = ["&a [" + ",".join(['"lol"'] * 9) + "]"]
    for i in range(1, 9):
        name, prev = "abcdefghi"[i], "abcdefghi"[i - 1]
        levels.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "Version: '2025-01-01'\nPermissions:\n- ResourceType: record\n  Effect: [" + ", ".join(levels) + "]\n"


ATTACKS = {
    "sql_20000_terms": ("sql", "SELECT " + " + ".join(["1"] * 20_000), "operators"),
    "sql_5000_parentheses": ("sql", "SELECT " + "(" * 5_000 + "1" + ")" * 5_000, "levels deep"),
    "sql_too_long": ("sql", "SELECT '" + "a" * 2_000_000 + "'", "characters"),
    "promql_20000_terms": ("promql", " + ".join(["up"] * 20_000), "characters"),
    "promql_5000_terms": ("promql", "+".join(["1"] * 5_000), "operators"),
    "promql_5000_parentheses": ("promql", "(" * 5_000 + "up" + ")" * 5_000, "levels deep"),
    "json_100000_deep": ("querydsl", '{"query": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests"),
    "yaml_alias_bomb": ("role", _alias_bomb(), "alias"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_one_request_cannot_crash_the_endpoint(endpoint_process, attack: str) -> None:
    process, sdk = endpoint_process
    kind, payload, said = ATTACKS[attack]
    if kind == "sql":
        message = _refused(sdk.query_dataset_in_sql, payload)
    elif kind == "promql":
        message = _refused(sdk.query_dataset_in_promql, payload)
    elif kind == "querydsl":
        message = _refused(sdk.query_dataset_in_querydsl, "anything", payload)
    else:
        assert len(payload.encode()) < 500
        message = _refused(sdk.create_role, "bomb", payload)
    assert said in message
    assert len(message) < 1_000, "the refusal repeats the input"
    _still_answers(process, sdk)


def test_real_queries_fit_the_limits(endpoint_process) -> None:
    process, sdk = endpoint_process
    in_list = ", ".join(str(i) for i in range(5_000))
    sql = f"SELECT COUNT(*) AS n FROM generate_series(1, 10000) AS t(x) WHERE x IN ({in_list})"
    assert sdk.query_dataset_in_sql(sql)["rows"][0]["values"]["n"] == {"Integer": 4999}
    ors = " OR ".join(f"x = {i}" for i in range(300))
    sql = f"SELECT COUNT(*) AS n FROM generate_series(1, 10000) AS t(x) WHERE {ors}"
    assert sdk.query_dataset_in_sql(sql)["rows"][0]["values"]["n"] == {"Integer": 299}
    nested = "SELECT x FROM " + "(SELECT x FROM " * 10 + "generate_series(1, 3) AS t(x)" + ") AS q" * 10
    assert len(sdk.query_dataset_in_sql(nested)["rows"]) == 3
    _still_answers(process, sdk)


def test_expressions_at_the_limits_are_evaluated(endpoint_process) -> None:
    process, sdk = endpoint_process
    terms = "+".join(["1"] * 201)  # 200 operators: the PromQL limit
    answer = sdk.query_dataset_in_promql(f"({terms})")
    assert float(answer["data"]["result"][1]) == 201
    chain = " + ".join(["1"] * 1_001)  # 1,000 operators: the SQL limit
    assert sdk.query_dataset_in_sql(f"SELECT {chain} AS n")["rows"][0]["values"]["n"] == {"Integer": 1001}
    _still_answers(process, sdk)


def test_a_function_building_a_huge_value_is_refused(endpoint_process) -> None:
    process, sdk = endpoint_process
    for sql in ("SELECT length(repeat('a', 1500000000)) AS n", "SELECT repeat(repeat('ab', 100000), 100000) AS s"):
        assert "would build a value" in _refused(sdk.query_dataset_in_sql, sql)
    assert sdk.query_dataset_in_sql("SELECT length(repeat('ab', 1000)) AS n")["rows"][0]["values"]["n"] == {
        "Integer": 2000
    }
    _still_answers(process, sdk)


def test_a_count_that_is_not_a_constant_is_refused(endpoint_process) -> None:
    process, sdk = endpoint_process
    for sql in (
        "SELECT length(repeat('a', (SELECT 1500000000))) AS n",
        "SELECT length(repeat('a', x)) AS n FROM (SELECT 1500000000 AS x) AS t",
        "SELECT length(lpad('a', x)) AS n FROM (SELECT 1500000000 AS x) AS t",
        "SELECT cardinality(array_repeat(1, x)) AS n FROM (SELECT 1500000000 AS x) AS t",
    ):
        assert "needs a constant count" in _refused(sdk.query_dataset_in_sql, sql), sql
    assert "would build a value" in _refused(
        sdk.query_dataset_in_sql, "SELECT length(repeat('a', CAST('1500000000' AS BIGINT))) AS n"
    )
    sql = "SELECT length(repeat('ab', CAST('1000' AS BIGINT))) AS n, length(lpad('a', 10 * 3)) AS m"
    assert sdk.query_dataset_in_sql(sql)["rows"][0]["values"] == {"n": {"Integer": 2000}, "m": {"Integer": 30}}
    _still_answers(process, sdk)


def test_an_enormous_series_is_refused(endpoint_process) -> None:
    process, sdk = endpoint_process
    for sql in (
        "SELECT count(*) AS n FROM generate_series(1, 1000000000000)",
        "SELECT count(*) AS n FROM generate_series(0, 100000000000, 1000)",  # 100,000,001 rows
        "SELECT count(*) AS n FROM range(200000000)",
        "SELECT count(*) AS n FROM (SELECT unnest(generate_series(-1000000000, 1000000000)) AS x) AS t",
    ):
        message = _refused(sdk.query_dataset_in_sql, sql)
        assert "rows; the limit is 100,000,000" in message, sql
    sql = "SELECT count(*) AS n FROM generate_series(1, 1000000000000, 100000000)"  # 10,000 rows
    assert sdk.query_dataset_in_sql(sql)["rows"][0]["values"]["n"] == {"Integer": 10_000}
    assert sdk.query_dataset_in_sql("SELECT count(*) AS n FROM range(10, 0, -2)")["rows"][0]["values"]["n"] == {
        "Integer": 5
    }
    _still_answers(process, sdk)


OVER_BUDGET = {
    "string_agg": "SELECT length(string_agg(repeat('x', 1000), '')) AS n FROM generate_series(1, 1000000)",
    "array_agg": "SELECT cardinality(array_agg(x)) AS n FROM generate_series(1, 20000000) AS t(x)",
    "cross_join_grouped": (
        "SELECT a.x, array_agg(b.y) AS ys FROM generate_series(1, 5000) AS a(x), "
        "generate_series(1, 5000) AS b(y) GROUP BY a.x ORDER BY a.x"
    ),
}


@pytest.mark.parametrize("attack", OVER_BUDGET)
def test_a_query_over_the_memory_budget_is_a_400(small_budget_process, attack: str) -> None:
    process, sdk = small_budget_process
    message = _refused(sdk.query_dataset_in_sql, OVER_BUDGET[attack])
    assert "needs more memory than the local endpoint allows" in message
    assert "add LIMIT, aggregate, or narrow the WHERE" in message
    assert "retry" not in message.lower()
    _still_answers(process, sdk)


def test_writes_and_reads_work_within_a_small_budget(small_budget_process) -> None:
    process, sdk = small_budget_process
    sdk.create_dataset("within_budget")
    lines = [
        json.dumps(line) for i in range(2_000) for line in ({"index": {"_id": f"r{i}"}}, {"n": i, "text": f"row {i}"})
    ]
    sdk.upload_json_to_dataset("within_budget", "\n".join(lines))
    rows = sdk.query_dataset_in_sql("SELECT count(*) AS c, sum(n) AS s FROM within_budget")["rows"]
    assert rows[0]["values"] == {"c": {"Integer": 2_000}, "s": {"Integer": sum(range(2_000))}}
    _still_answers(process, sdk)
