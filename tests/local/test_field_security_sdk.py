"""Field security through the official SDK over HTTP: a restricted user's attacks, true and false guesses alike.

The roles and rows are those of ``test_field_security_attacks``.
"""

from __future__ import annotations

import json
import re

import anyio.to_thread
import pytest

from tests.local.test_field_security_attacks import GUESSES, ROWS, SECRETS, _fill, _setup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("col", list(GUESSES))
@pytest.mark.parametrize(
    "attack",
    [
        (
            "sql",
            "SELECT count(*) AS n FROM (SELECT * FROM dsa) AS t(c1, c2, c3, c4, c5, c6) WHERE c2 LIKE '{g}%' "
            "OR c3 LIKE '{g}%' OR c4 LIKE '{g}%' OR c5 LIKE '{g}%' OR c6 LIKE '{g}%'",
        ),
        ("sql", "SELECT (SELECT max({col}) FROM dsa WHERE {col} LIKE '{g}%') AS x"),
        ("dsl", {"query": {"wildcard": {"{col}": "{g}*"}}}),
        ("delete", {"query": {"prefix": {"{col}": "{g}"}}}),
    ],
    ids=["sql-columns", "sql-scalar", "dsl-wildcard", "delete-prefix"],
)
async def test_sdk_attack(endpoint, endpoint_as, served, col, attack) -> None:
    from infino_sdk import InfinoSDK
    from infino_sdk.lib import InfinoError

    _, keys = await _setup(endpoint, endpoint_as, "masker", ["read", "delete"])
    sdk = InfinoSDK(keys["access_key"], keys["secret_key"], served)
    kind, template = attack
    answers = []
    try:
        for guess in GUESSES[col]:
            filled = _fill(template, col, guess)

            def send(filled=filled):
                try:
                    if kind == "sql":
                        return 200, sdk.query_dataset_in_sql(filled)
                    if kind == "dsl":
                        return 200, sdk.query_dataset_in_querydsl("dsa", json.dumps(filled))
                    return 200, sdk.delete_records("dsa", json.dumps(filled))
                except InfinoError as exc:
                    return exc.status_code(), str(exc)

            status, answer = await anyio.to_thread.run_sync(send)
            text = json.dumps(answer) if not isinstance(answer, str) else answer
            value = next((r[col] for r in ROWS if r[col].startswith(guess)), guess + "0")
            blanked = text.replace(value, "<v>").replace(guess, "<g>")
            blanked = re.sub(r'"execution_time": \d+|"took": \d+', "", blanked)
            for secret in SECRETS:
                assert secret not in blanked, f"{secret!r} leaked: {text[:300]}"
            answers.append((status, blanked if status != 200 or kind != "sql" else json.loads(text)["rows"]))
    finally:
        sdk.close()
    assert answers[0] == answers[1]
