"""query_string, simple_query_string, dis_max, boosting, match_phrase_prefix, match_bool_prefix and regexp
through the local endpoint's HTTP API.

Expected ids are computed here in plain Python over the same documents (words are lower-cased runs of
letters and digits, as the standard analyzer splits them; term-level clauses compare whole values)."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest

from tests.local.test_querydsl import DOCS, ids, ingest, query

pytestmark = pytest.mark.anyio

TEXT_FIELDS = ("title", "brand", "code")


@pytest.fixture
async def shop(endpoint: httpx2.AsyncClient) -> httpx2.AsyncClient:
    await ingest(endpoint, "shop", DOCS)
    return endpoint


def words(doc: dict, field: str | None = None) -> set[str]:
    values = (
        [doc.get(field, "")]
        if field
        else [doc.get(f, "") for f in TEXT_FIELDS] + [doc.get("user", {}).get(k, "") for k in ("name", "city")]
    )
    return {w for v in values for w in re.findall(r"\w+", str(v).lower())}


def where(test: Any) -> list[str]:
    return sorted(str(i) for i, doc in enumerate(DOCS, 1) if test(doc))


async def found(shop: httpx2.AsyncClient, clause: dict) -> list[str]:
    return sorted(ids(await query(shop, {"query": clause, "size": 20})))


async def test_query_string_fields_booleans_phrases_and_ranges(shop: httpx2.AsyncClient) -> None:
    qs = lambda text, **options: {"query_string": {"query": text, **options}}  # noqa: E731
    assert await found(shop, qs("title:red AND brand:acme")) == where(
        lambda d: "red" in words(d, "title") and "acme" in words(d, "brand"))  # fmt: skip
    assert await found(shop, qs("red -shoes")) == where(lambda d: "red" in words(d) and "shoes" not in words(d))
    assert await found(shop, qs("red phone", default_operator="AND")) == where(lambda d: {"red", "phone"} <= words(d))
    assert await found(shop, qs("title:(phone OR tea)")) == where(lambda d: words(d, "title") & {"phone", "tea"})
    assert await found(shop, qs('"phone case"', default_field="title")) == ["1"]
    assert await found(shop, qs("price:[10 TO 20}")) == where(lambda d: 10 <= d["price"] < 20)
    assert await found(shop, qs("price:>=25")) == where(lambda d: d["price"] >= 25)
    assert await found(shop, qs("_exists_:rating")) == where(lambda d: "rating" in d)
    assert await found(shop, qs("brand:Ac*")) == where(lambda d: d["brand"].startswith("Ac"))
    assert await found(shop, qs("(phone OR tea) AND NOT case")) == where(
        lambda d: words(d) & {"phone", "tea"} and "case" not in words(d))  # fmt: skip
    assert await found(shop, qs("+red +shoes")) == where(lambda d: {"red", "shoes"} <= words(d))
    assert await found(shop, qs("user.city:rome")) == where(lambda d: d.get("user", {}).get("city") == "Rome")


async def test_wildcards_match_words_of_text_and_whole_keyword_values(shop: httpx2.AsyncClient) -> None:
    def word_like(pattern: str, field: str) -> list[str]:
        regex = pattern.lower().replace("*", ".*").replace("?", ".")
        return where(lambda d: any(re.fullmatch(regex, w) for w in words(d, field)))

    for pattern in ("ph*e", "Sho?s", "*ar*", "r*"):
        assert await found(shop, {"wildcard": {"title": pattern}}) == word_like(pattern, "title"), pattern
    assert await found(shop, {"wildcard": {"title": "red*case"}}) == []  # no single word spans two
    assert await found(shop, {"wildcard": {"title.keyword": "Red*case"}}) == ["1"]  # the whole value
    assert await found(shop, {"query_string": {"query": "title:ch*r"}}) == word_like("ch*r", "title")
    assert await found(shop, {"query_string": {"query": "title:/sh.es/"}}) == where(
        lambda d: "shoes" in words(d, "title"))  # fmt: skip


async def test_query_string_refusals(shop: httpx2.AsyncClient) -> None:
    for text, named in (("title:(red", "cannot parse"), ('"red phone"~2', "proximity")):
        result = await query(shop, {"query": {"query_string": {"query": text}}}, status=400)
        assert named in str(result)


async def test_simple_query_string(shop: httpx2.AsyncClient) -> None:
    sqs = lambda text, **options: {"simple_query_string": {"query": text, **options}}  # noqa: E731
    assert await found(shop, sqs("red + phone")) == where(lambda d: {"red", "phone"} <= words(d))
    assert await found(shop, sqs("tea | shoes")) == where(lambda d: words(d) & {"tea", "shoes"})
    # with OR, "-shoes" is its own clause: red OR (NOT shoes), as Elasticsearch documents
    assert await found(shop, sqs("red -shoes")) == where(lambda d: "red" in words(d) or "shoes" not in words(d))
    assert await found(shop, sqs("red +-shoes")) == where(lambda d: "red" in words(d) and "shoes" not in words(d))
    assert await found(shop, sqs("red -shoes", default_operator="and")) == where(
        lambda d: "red" in words(d) and "shoes" not in words(d))  # fmt: skip
    assert await found(shop, sqs("char*", fields=["title"])) == where(
        lambda d: any(w.startswith("char") for w in words(d, "title"))
    )
    assert await found(shop, sqs('"running shoes" | tea', fields=["title"])) == ["3", "4"]
    assert await found(shop, sqs("tea | (red + case)")) == where(
        lambda d: "tea" in words(d) or {"red", "case"} <= words(d)
    )
    assert await found(shop, sqs('((( "unclosed')) == []  # a slip is text, not an error
    assert await found(shop, sqs("phnoe~1", fields=["title"])) == where(lambda d: "phone" in words(d, "title"))
    assert "slop" in str(await query(shop, {"query": sqs('"red phone"~2')}, status=400))


async def test_dis_max_and_boosting_rank_as_documented(shop: httpx2.AsyncClient) -> None:
    dis = {"dis_max": {"queries": [{"match": {"title": "red"}}, {"match": {"title": "shoes"}}], "tie_breaker": 0.3}}
    assert await found(shop, dis) == where(lambda d: words(d, "title") & {"red", "shoes"})
    plain = await query(shop, {"query": {"match": {"title": "red"}}})
    boosted = await query(shop, {"query": {"boosting": {"positive": {"match": {"title": "red"}},
                                                        "negative": {"term": {"brand": "Acme"}},
                                                        "negative_boost": 0.1}}})  # fmt: skip
    plain_scores = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
    demoted = {h["_id"]: h["_score"] for h in boosted["hits"]["hits"]}
    assert demoted.keys() == plain_scores.keys()
    for doc_id, score in plain_scores.items():
        factor = 0.1 if DOCS[int(doc_id) - 1]["brand"] == "Acme" else 1.0
        assert demoted[doc_id] == pytest.approx(score * factor)
    assert ids(boosted)[-1] == "1"  # the Acme document drops to the end


async def test_prefix_clauses_and_regexp(shop: httpx2.AsyncClient) -> None:
    assert await found(shop, {"match_phrase_prefix": {"title": "red run"}}) == ["3"]
    assert await found(shop, {"match_phrase_prefix": {"title": "ph"}}) == where(
        lambda d: any(w.startswith("ph") for w in words(d, "title")))  # fmt: skip
    bool_prefix = {"match_bool_prefix": {"title": {"query": "green ch", "operator": "or"}}}
    assert await found(shop, bool_prefix) == where(
        lambda d: "green" in words(d, "title") or any(w.startswith("ch") for w in words(d, "title")))  # fmt: skip
    both = {"match_bool_prefix": {"title": {"query": "blue ch", "operator": "and"}}}
    assert await found(shop, both) == ["2"]
    # whole values of name.keyword (case-sensitive, as on a keyword field)
    assert await found(shop, {"regexp": {"brand.keyword": "A.m[a-z]"}}) == where(
        lambda d: re.fullmatch(r"A.m[a-z]", d["brand"])
    )
    assert await found(shop, {"regexp": {"brand.keyword": "O'B@"}}) == ["5"]  # @: any string
    assert await found(shop, {"regexp": {"code.keyword": {"value": "50%_off\\\\now"}}}) == ["5"]
    # words of a full-text field: lower-cased terms, the pattern as given
    assert await found(shop, {"regexp": {"brand": {"value": "acm.*", "case_insensitive": True}}}) == ["1", "2"]
    assert await found(shop, {"regexp": {"title": "ph.n[a-z]"}}) == where(
        lambda d: any(re.fullmatch(r"ph.n[a-z]", w) for w in words(d, "title")))  # fmt: skip
    assert await found(shop, {"regexp": {"title": "r.d.*"}}) == where(
        lambda d: any(re.fullmatch(r"r.d.*", w) for w in words(d, "title")))  # fmt: skip
    assert await found(shop, {"regexp": {"title": "red.*case"}}) == []  # no single word spans two
    assert await found(shop, {"regexp": {"title": "Red"}}) == []  # the terms are lower-case
    assert await found(shop, {"regexp": {"title": "[^ ]+ing"}}) == where(
        lambda d: any(re.fullmatch(r"[^ ]+ing", w) for w in words(d, "title")))  # fmt: skip
    refused = await query(shop, {"query": {"regexp": {"brand": "A&B"}}}, status=400)
    assert "INTERSECTION" in str(refused)
    assert await found(shop, {"regexp": {"brand": {"value": "A&B", "flags": "NONE"}}}) == []


def osa(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def auto(term: str) -> int:
    return 0 if len(term) < 3 else 1 if len(term) < 6 else 2


async def test_fuzzy_and_match_fuzziness(shop: httpx2.AsyncClient) -> None:
    for term in ("phnoe", "chargre", "shoez", "tee", "rde"):
        expected = where(lambda d, t=term: any(osa(t, w) <= auto(t) for w in words(d, "title")))
        assert await found(shop, {"fuzzy": {"title": {"value": term}}}) == expected, term
        assert await found(shop, {"match": {"title": {"query": term, "fuzziness": "AUTO"}}}) == expected, term
    no_swaps = where(lambda d: any(osa("rde", w) <= 1 and sorted(w) != sorted("rde") for w in words(d, "title")))
    assert (
        await found(shop, {"fuzzy": {"title": {"value": "rde", "fuzziness": 1, "transpositions": False}}}) == no_swaps
    )
    both = {"match": {"title": {"query": "rde phnoe", "fuzziness": 1, "operator": "and"}}}
    assert await found(shop, both) == where(lambda d: any(osa("rde", w) <= 1 for w in words(d, "title"))
                                            and any(osa("phnoe", w) <= 1 for w in words(d, "title")))  # fmt: skip
    assert await found(shop, {"fuzzy": {"brand": {"value": "Acmx", "fuzziness": 1}}}) == where(
        lambda d: osa("Acmx", d["brand"]) <= 1)  # fmt: skip
    assert await found(shop, {"query_string": {"query": "title:phnoe~1"}}) == where(
        lambda d: "phone" in words(d, "title")
    )
    kept_prefix = where(lambda d: any(w[:2] == "ch" and osa("argre", w[2:]) <= 2 for w in words(d, "title")))
    assert await found(shop, {"fuzzy": {"title": {"value": "chargre", "prefix_length": 2}}}) == kept_prefix
    assert await found(shop, {"fuzzy": {"title": {"value": "xhargre", "prefix_length": 1}}}) == []
    refused = await query(shop, {"query": {"fuzzy": {"price": {"value": 10}}}}, status=400)
    assert "text and keyword" in str(refused)


async def test_terms_set(endpoint: httpx2.AsyncClient) -> None:
    docs = [
        {"skills": ["python", "sql", "go"], "need": 2},
        {"skills": ["python"], "need": 1},
        {"skills": ["sql", "rust"], "need": 2},
        {"skills": ["go", "rust", "sql"]},
        {"skills": ["python", "go"], "need": 3},
    ]
    await ingest(endpoint, "jobs", docs)
    wanted = ["python", "sql", "go"]

    async def run(spec: dict) -> list[str]:
        body = {"query": {"terms_set": {"skills": {"terms": wanted, **spec}}}, "size": 20}
        return sorted(ids(await query(endpoint, body, dataset="jobs")))

    def expect(need) -> list[str]:
        return sorted(
            str(i)
            for i, d in enumerate(docs, 1)
            if need(d) is not None and len(set(d["skills"]) & set(wanted)) >= need(d)
        )

    assert await run({"minimum_should_match_field": "need"}) == expect(lambda d: d.get("need"))
    assert await run({"minimum_should_match": 2}) == expect(lambda d: 2)
    refused = await query(endpoint, {"query": {"terms_set": {"skills": {"terms": wanted}}}}, dataset="jobs", status=400)
    assert "minimum_should_match_field" in str(refused)
