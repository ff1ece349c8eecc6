"""QueryDSL query clauses compiled to an SQL predicate plus a score expression.

Each clause becomes a ``Pred`` (which documents match) and a ``Score`` (how
they rank). Full-text clauses on FTS columns become ``TextLeaf`` placeholders:
the search renders them as a BM25 source (scored) or a ``token_match``
subquery (filter); delete-by-query renders them as word-boundary regexes,
since delete predicates cannot hold subqueries.

Scores: BM25 for match-family clauses on FTS columns, a constant (the boost,
default 1.0) for every other clause in query context, nothing in filter
context; ``bool`` sums must and matching should clauses; ``multi_match``
takes the best field (``best_fields``) or the sum (``most_fields``). More clauses
(dis_max, boosting, the prefix clauses, regexp, query_string, simple_query_string)
live in ``clauses``.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.clauses import EXTRA_CLAUSES, WORD_END, WORD_START, fuzzy_match, word_wise
from infino_mcp.local.querydsl.dates import date_ms, parse_zone
from infino_mcp.local.querydsl.fields import Field, Fields, as_float, timestamp_ms
from infino_mcp.local.querydsl.nodes import (
    Compiled,
    Score,
    boost,
    boosted,
    check_keys,
    clauses,
    const,
    field_spec,
    min_should,
    obj,
    short,
    sum_scores,
    unsupported,
)
from infino_mcp.local.querydsl.patterns import like_pattern, regex_escape, tokens, word_regex
from infino_mcp.local.querydsl.sqltree import (
    FALSE,
    ROWS,
    TRUE,
    Pred,
    TextLeaf,
    at_least,
    call,
    cast,
    column,
    like,
    not_null,
    regex_like,
    string,
)

SUPPORTED_QUERIES = (
    "bool", "boosting", "constant_score", "dis_max", "exists", "fuzzy", "ids", "match", "match_all", "match_bool_prefix",
    "match_none", "match_phrase", "match_phrase_prefix", "multi_match", "prefix", "query_string", "range",
    "regexp", "simple_query_string", "term", "terms", "terms_set", "wildcard",
)  # fmt: skip


class QueryCompiler:
    """Compiles one query tree against a dataset's fields; ``table`` qualifies columns (None: unqualified)."""

    def __init__(self, fields: Fields, *, table: str | None = ROWS, allow_text: bool = True) -> None:
        self.fields = fields
        self.table = table
        self.allow_text = allow_text

    def col(self, f: Field) -> exp.Column:
        return column(f.column, self.table)

    # ----- dispatch ------------------------------------------------------------------------

    def compile(self, query: Any, scoring: bool = True) -> Compiled:
        if not isinstance(query, dict) or len(query) != 1:
            raise ApiError(400, f"A QueryDSL query is an object with exactly one clause, got {short(query)}.")
        ((name, body),) = query.items()
        if name not in SUPPORTED_QUERIES:
            raise unsupported("clause", name, SUPPORTED_QUERIES)
        extra = EXTRA_CLAUSES.get(name)
        if extra is not None:
            return extra(self, body, scoring)
        return getattr(self, "_q_" + name)(body, scoring)

    # ----- compound --------------------------------------------------------------------------

    def _q_bool(self, body: Any, scoring: bool) -> Compiled:
        body = obj(body, "bool")
        known = {"must", "should", "must_not", "filter", "minimum_should_match", "boost", "_name"}
        check_keys(body, known | {"adjust_pure_negative"}, "bool")
        must = [self.compile(q, scoring) for q in clauses(body.get("must"), "must")]
        filt = [self.compile(q, False) for q in clauses(body.get("filter"), "filter")]
        must_not = [self.compile(q, False) for q in clauses(body.get("must_not"), "must_not")]
        should = [self.compile(q, scoring) for q in clauses(body.get("should"), "should")]
        default_msm = 0 if (must or filt) else 1
        msm = min_should(body.get("minimum_should_match"), len(should), default_msm) if should else 0
        preds = [c.pred for c in must + filt] + [c.pred.negate() for c in must_not]
        if should:
            preds.append(at_least([c.pred for c in should], msm))
        pred = Pred.join(preds, "AND")
        score = Score()
        if scoring:
            for c in must:
                score = score.plus(c.score)
            for c in should:
                score = score.plus(c.score.when(c.pred))
            if not must and not should:
                score = Score(0.0)
        required = [leaf for c in must + filt for leaf in c.required]
        if should and msm == len(should):
            required += [leaf for c in should for leaf in c.required]
        any_of = next((c.any_of for c in must + filt if c.any_of), None)
        if any_of is None and should and msm >= 1 and all(c.any_of for c in should):
            any_of = [leaf for c in should for leaf in c.any_of or ()]
        return Compiled(pred, score.times(boost(body)), required, any_of)

    def _q_constant_score(self, body: Any, scoring: bool) -> Compiled:
        body = obj(body, "constant_score")
        check_keys(body, {"filter", "boost", "_name"}, "constant_score")
        if "filter" not in body:
            raise ApiError(400, "QueryDSL 'constant_score' needs a 'filter' query.")
        inner = self.compile(body["filter"], False)
        return Compiled(inner.pred, Score(boost(body)) if scoring else Score(), inner.required, inner.any_of)

    def _q_match_all(self, body: Any, scoring: bool) -> Compiled:
        return Compiled(TRUE, Score(boost(obj(body, "match_all"))) if scoring else Score(), [])

    def _q_match_none(self, body: Any, scoring: bool) -> Compiled:
        return Compiled(FALSE, Score(), [])

    # ----- full text -------------------------------------------------------------------------

    def _q_match(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "match", "query")
        check_keys(
            spec,
            {"query", "operator", "minimum_should_match", "boost", "zero_terms_query", "analyzer", "lenient",
             "auto_generate_synonyms_phrase_query", "_name", "fuzziness", "prefix_length", "max_expansions"},
            "match",
        )  # fmt: skip
        f = self.fields.get(name)
        text = spec.get("query")
        if f is None:
            return Compiled(FALSE, Score(), [])
        if spec.get("fuzziness") not in (None, 0, "0"):
            return fuzzy_match(self, f, spec, scoring)
        operator = str(spec.get("operator", "or")).lower()
        if str(spec.get("zero_terms_query", "none")).lower() == "all" and text is not None and not tokens(str(text)):
            return const(TRUE, spec, scoring)  # a query of no words matches everything when asked to
        result = self._match(f, text, operator, spec.get("minimum_should_match"), scoring, "match")
        return boosted(result, spec)

    def _match(self, f: Field, text: Any, operator: str, msm: Any, scoring: bool, what: str) -> Compiled:
        if text is None:
            raise ApiError(400, f"QueryDSL '{what}' on field '{f.name}' needs a 'query'.")
        if f.kind not in ("string", "array") or (f.kind == "array" and f.item_kind != "string"):
            literal = f.value(text, what)
            pred = Pred(exp.EQ(this=self.col(f), expression=literal)) if literal is not None else FALSE
            if f.kind == "array" and literal is not None:
                pred = Pred(call("array_has", self.col(f), literal))
            return Compiled(pred, Score(1.0) if scoring else Score(), [])
        words = tokens(str(text))
        if not words:
            return Compiled(FALSE, Score(), [])
        needed = len(words) if operator == "and" else min_should(msm, len(words), 1)
        if not f.fts or f.kind == "array" or not self.allow_text:
            preds = [self._word_regex(f, w) for w in words]
            return Compiled(at_least(preds, needed), Score(1.0) if scoring else Score(), [])
        if needed <= 1 or needed >= len(words):
            leaf = TextLeaf(f.column, " ".join(words), "and" if needed > 1 else "or")
            score = Score(0.0, [Pred.score_of(leaf)], True) if scoring else Score()
            return Compiled(Pred.leaf(leaf), score, [leaf])
        per_word = [Pred.leaf(TextLeaf(f.column, w, "or")) for w in words]
        scored = TextLeaf(f.column, " ".join(words), "or")
        score = Score(0.0, [Pred.score_of(scored)], True) if scoring else Score()
        return Compiled(at_least(per_word, needed), score, [scored])

    def _word_regex(self, f: Field, word: str) -> Pred:
        return Pred(regex_like(self._text_of(f), word_regex(word), insensitive=True))

    def _text_of(self, f: Field) -> exp.Expr:
        """The field's text to match words in (an array's elements joined by spaces)."""
        return self.col(f) if f.kind != "array" else call("array_to_string", self.col(f), string(" "))

    def _q_match_phrase(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "match_phrase", "query")
        check_keys(spec, {"query", "slop", "boost", "analyzer", "zero_terms_query", "_name"}, "match_phrase")
        f = self.fields.get(name)
        if f is None:
            return Compiled(FALSE, Score(), [])
        return boosted(self._phrase(f, spec.get("query"), scoring), spec)

    def _phrase(self, f: Field, text: Any, scoring: bool) -> Compiled:
        words = tokens(str(text)) if text is not None else []
        base = self._match(f, text, "and", None, scoring, "match_phrase")
        if len(words) < 2 or f.kind not in ("string", "array"):
            return base
        pattern = _B + r"\W+".join(regex_escape(w) for w in words) + _B
        phrase = Pred(regex_like(self._text_of(f), pattern, insensitive=True))
        return Compiled(Pred.join([base.pred, phrase], "AND"), base.score, base.required, base.any_of)

    def _q_multi_match(self, body: Any, scoring: bool) -> Compiled:
        spec = obj(body, "multi_match")
        check_keys(
            spec,
            {"query", "fields", "type", "operator", "minimum_should_match", "tie_breaker", "boost", "analyzer",
             "lenient", "zero_terms_query", "_name", "slop"},
            "multi_match",
        )  # fmt: skip
        kind = spec.get("type", "best_fields")
        kinds = ("best_fields", "most_fields", "cross_fields", "phrase")
        if kind not in kinds:
            raise unsupported("multi_match type", str(kind), kinds)
        patterns = spec.get("fields") or ["*"]
        if isinstance(patterns, str):
            patterns = [patterns]
        parts: list[Compiled] = []
        for pattern in patterns:
            pattern, _, weight = str(pattern).partition("^")
            weight_factor = as_float(weight, f"multi_match field boost ^{weight}") if weight else 1.0
            for f in self.fields.matching(pattern):
                if pattern != f.name and f.kind != "string":
                    continue  # wildcards cover text fields only, as in Elasticsearch
                if kind == "phrase":
                    c = self._phrase(f, spec.get("query"), scoring)
                else:
                    c = self._match(f, spec.get("query"), str(spec.get("operator", "or")).lower(),
                                    spec.get("minimum_should_match"), scoring, "multi_match")  # fmt: skip
                parts.append(Compiled(c.pred, c.score.times(weight_factor), c.required, c.any_of))
        if not parts:
            return Compiled(FALSE, Score(), [])
        pred = Pred.join([c.pred for c in parts], "OR")
        scores = [c.score.when(c.pred) for c in parts]
        score = Score() if not scoring else (Score.best(scores) if kind != "most_fields" else sum_scores(scores))
        required = parts[0].required if len(parts) == 1 else []
        any_of = [leaf for c in parts for leaf in c.any_of or ()] if all(c.any_of for c in parts) else None
        return boosted(Compiled(pred, score, required, any_of), spec)

    # ----- term level ------------------------------------------------------------------------

    def _q_term(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "term", "value")
        check_keys(spec, {"value", "boost", "case_insensitive", "_name"}, "term")
        if "value" not in spec:
            raise ApiError(400, f"QueryDSL 'term' on field '{name}' needs a 'value'.")
        pred = self._equals(name, [spec["value"]], bool(spec.get("case_insensitive")), "term")
        return const(pred, spec, scoring)

    def _q_terms(self, body: Any, scoring: bool) -> Compiled:
        spec = obj(body, "terms")
        names = [k for k in spec if k not in ("boost", "_name")]
        if len(names) != 1:
            raise ApiError(400, 'QueryDSL \'terms\' takes exactly one field: {"terms": {"field": [values]}}.')
        values = spec[names[0]]
        if not isinstance(values, list):
            raise ApiError(400, f"QueryDSL 'terms' on field '{names[0]}' needs a list of values "
                           "(terms lookup is not supported by the local endpoint).")  # fmt: skip
        return const(self._equals(names[0], values, False, "terms"), spec, scoring)

    def _equals(self, name: str, values: list[Any], insensitive: bool, what: str) -> Pred:
        if not values:
            return FALSE
        if name in ("_id", "_doc_id"):
            self.fields.check("_id")
            f = Field("_id", "_doc_id", "string", True)
        else:
            found = self.fields.get(name)
            if found is None:
                return FALSE
            f = found
        literals = [x for x in (f.value(v, what) for v in values) if x is not None]
        if not literals:
            return FALSE
        target: exp.Expr = self.col(f)
        if f.kind == "array":
            return Pred(call("array_has_any", target, call("make_array", *literals)))
        if insensitive and f.kind == "string":
            target, literals = exp.Lower(this=target), [exp.Lower(this=x) for x in literals]
        if len(literals) == 1:
            return Pred(exp.EQ(this=target, expression=literals[0]))
        return Pred(exp.In(this=target, expressions=literals))

    def _q_ids(self, body: Any, scoring: bool) -> Compiled:
        spec = obj(body, "ids")
        check_keys(spec, {"values", "boost", "_name"}, "ids")
        values = spec.get("values")
        if not isinstance(values, list):
            raise ApiError(400, "QueryDSL 'ids' needs {\"values\": [ids]}.")
        return const(self._equals("_id", [str(v) for v in values], False, "ids"), spec, scoring)

    def _q_range(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "range", None)
        known = {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "time_zone",
                 "boost", "relation", "_name"}  # fmt: skip
        check_keys(spec, known, "range")
        zone = parse_zone(spec.get("time_zone"), f"'range' on '{name}'")
        bounds = [(op, spec[op]) for op in ("gt", "gte", "lt", "lte") if spec.get(op) is not None]
        if spec.get("from") is not None:
            bounds.append(("gte" if spec.get("include_lower", True) else "gt", spec["from"]))
        if spec.get("to") is not None:
            bounds.append(("lte" if spec.get("include_upper", True) else "lt", spec["to"]))
        f = self.fields.get(name)
        if f is None or f.kind in ("object", "array"):
            return Compiled(FALSE, Score(), [])
        comparisons = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}
        preds = [Pred(not_null(self.col(f)))]
        for op, value in bounds:
            literal: exp.Expr | None
            if f.kind == "date":
                ms = date_ms(value, name, "range", round_up=op in ("gt", "lte"), fmt=spec.get("format"), zone=zone)
                literal = timestamp_ms(ms)
            else:
                literal = f.value(value, "range")
            preds.append(Pred(comparisons[op](this=self.col(f), expression=literal)))
        return const(Pred.join(preds, "AND"), spec, scoring)

    def _q_exists(self, body: Any, scoring: bool) -> Compiled:
        spec = obj(body, "exists")
        name = spec.get("field")
        if not isinstance(name, str):
            raise ApiError(400, 'QueryDSL \'exists\' needs {"field": "name"}.')
        if name in ("_id", "_source", "_index"):
            return const(TRUE, spec, scoring)
        f = self.fields.get(name)
        found = [f] if f is not None else self.fields.under(name)
        preds = [Pred(not_null(self.col(x))) for x in found]
        return const(Pred.join(preds, "OR") if preds else FALSE, spec, scoring)

    def _q_prefix(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "prefix", "value")
        check_keys(spec, {"value", "boost", "case_insensitive", "rewrite", "_name"}, "prefix")
        if spec.get("value") is None:
            raise ApiError(400, f"QueryDSL 'prefix' on field '{name}' needs a 'value'.")
        pattern = like_pattern(str(spec["value"])) + "%"
        return const(self._like(name, pattern, bool(spec.get("case_insensitive"))), spec, scoring)

    def _q_wildcard(self, body: Any, scoring: bool) -> Compiled:
        name, spec = field_spec(body, "wildcard", "value")
        check_keys(spec, {"value", "wildcard", "boost", "case_insensitive", "rewrite", "_name"}, "wildcard")
        value = spec.get("value", spec.get("wildcard"))
        if value is None:
            raise ApiError(400, f"QueryDSL 'wildcard' on field '{name}' needs a 'value'.")
        f = self.fields.get(name) if name not in ("_id", "_doc_id") else None
        if f is not None and word_wise(f, name):  # one whole word of the text matches the pattern
            pattern = "".join(
                r"\w*" if c == "*" else r"\w" if c == "?" else regex_escape(c) for c in str(value).lower()
            )
            regex = WORD_START + "(?:" + pattern + ")" + WORD_END
            return const(Pred(regex_like(exp.Lower(this=self.col(f)), regex)), spec, scoring)
        pattern = like_pattern(str(value), wildcard=True)
        return const(self._like(name, pattern, bool(spec.get("case_insensitive"))), spec, scoring)

    def _like(self, name: str, pattern: str, insensitive: bool) -> Pred:
        if name in ("_id", "_doc_id"):
            self.fields.check("_id")
            f: Field | None = Field("_id", "_doc_id", "string", True)
        else:
            f = self.fields.get(name)
        if f is None or f.kind in ("object", "array"):
            return FALSE
        target = self.col(f) if f.kind == "string" else cast(self.col(f), "VARCHAR")
        return Pred(like(target, pattern, insensitive=insensitive))


_B = r"\b"
