"""QueryDSL query clauses compiled to an SQL predicate plus a score expression.

Each clause becomes a ``Pred`` (which documents match) and a ``Score`` (how
they rank). Full-text clauses on FTS columns become ``TextLeaf`` placeholders:
the search renders them as a BM25 source (scored) or a ``token_match``
subquery (filter); delete-by-query renders them as word-boundary regexes,
since delete predicates cannot hold subqueries.

Scores: BM25 for match-family clauses on FTS columns, a constant (the boost,
default 1.0) for every other clause in query context, nothing in filter
context; ``bool`` sums must and matching should clauses; ``multi_match``
takes the best field (``best_fields``) or the sum (``most_fields``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infino_mcp.local.http import ApiError
from infino_mcp.local.querydsl_sql import (
    FALSE,
    TRUE,
    Field,
    Fields,
    Pred,
    ScoreRef,
    TextLeaf,
    at_least,
    date_ms,
    ident,
    lit,
    like_pattern,
    regex_escape,
    tokens,
)

SUPPORTED_QUERIES = (
    "bool", "constant_score", "exists", "ids", "match", "match_all", "match_none", "match_phrase",
    "multi_match", "prefix", "range", "term", "terms", "wildcard",
)  # fmt: skip

_UTC_ZONES = {"utc", "z", "+00:00", "-00:00", "etc/utc", "gmt", "+0000", "00:00"}


def unsupported(kind: str, name: str, supported: tuple[str, ...]) -> ApiError:
    return ApiError(
        400, f"QueryDSL {kind} '{name}' is not supported by the local endpoint; supported: {', '.join(supported)}."
    )


@dataclass
class Score:
    """A score: a constant plus SQL terms summed; ``gated`` when it is already 0 for non-matching rows."""

    const: float = 0.0
    terms: list[Pred] = field(default_factory=list)
    gated: bool = False

    @property
    def is_const(self) -> bool:
        return not self.terms

    def plus(self, other: Score) -> Score:
        return Score(self.const + other.const, self.terms + other.terms)

    def times(self, boost: float) -> Score:
        if boost == 1.0:
            return self
        return Score(self.const * boost, [Pred("(", *t.parts, f" * {float(boost)!r})") for t in self.terms], self.gated)

    def expr(self) -> Pred:
        parts: list = [repr(float(self.const))] if self.const or not self.terms else []
        for t in self.terms:
            if parts:
                parts.append(" + ")
            parts.extend(t.parts)
        return Pred("(", *parts, ")")

    def when(self, pred: Pred) -> Score:
        """This score where ``pred`` holds, 0 elsewhere (a should clause's contribution)."""
        if self.gated or pred.is_true or (self.is_const and self.const == 0):
            return self
        if pred.is_false:
            return Score()
        return Score(0.0, [Pred("(CASE WHEN ", *pred.parts, " THEN ", *self.expr().parts, " ELSE 0.0 END)")], True)

    @staticmethod
    def best(scores: list[Score]) -> Score:
        if all(s.is_const for s in scores):
            return Score(max((s.const for s in scores), default=0.0))
        if len(scores) == 1:
            return scores[0]
        parts: list = ["greatest("]
        for i, s in enumerate(scores):
            if i:
                parts.append(", ")
            parts.extend(s.expr().parts)
        parts.append(")")
        return Score(0.0, [Pred(*parts)], all(s.gated for s in scores))


@dataclass
class Compiled:
    pred: Pred
    score: Score
    required: list[TextLeaf]  # text leaves every matching row satisfies
    any_of: list[TextLeaf] | None = None  # every matching row satisfies at least one of these

    def __post_init__(self) -> None:
        if self.any_of is None and self.required:
            self.any_of = [self.required[0]]


class QueryCompiler:
    """Compiles one query tree against a dataset's fields; ``prefix`` qualifies columns (``t.``)."""

    def __init__(self, fields: Fields, *, prefix: str = "t.", allow_text: bool = True) -> None:
        self.fields = fields
        self.prefix = prefix
        self.allow_text = allow_text

    def col(self, f: Field) -> str:
        return self.prefix + ident(f.column)

    # ----- dispatch ------------------------------------------------------------------------

    def compile(self, query: Any, scoring: bool = True) -> Compiled:
        if not isinstance(query, dict) or len(query) != 1:
            raise ApiError(400, f"A QueryDSL query is an object with exactly one clause, got {_short(query)}.")
        ((name, body),) = query.items()
        handler = getattr(self, "_q_" + name, None) if name in SUPPORTED_QUERIES else None
        if handler is None:
            raise unsupported("clause", name, SUPPORTED_QUERIES)
        return handler(body, scoring)

    # ----- compound --------------------------------------------------------------------------

    def _q_bool(self, body: Any, scoring: bool) -> Compiled:
        body = _obj(body, "bool")
        known = {"must", "should", "must_not", "filter", "minimum_should_match", "boost", "_name", "adjust_pure_negative"}
        _check_keys(body, known, "bool")
        must = [self.compile(q, scoring) for q in _clauses(body.get("must"), "must")]
        filt = [self.compile(q, False) for q in _clauses(body.get("filter"), "filter")]
        must_not = [self.compile(q, False) for q in _clauses(body.get("must_not"), "must_not")]
        should = [self.compile(q, scoring) for q in _clauses(body.get("should"), "should")]
        default_msm = 0 if (must or filt) else 1
        msm = _min_should(body.get("minimum_should_match"), len(should), default_msm) if should else 0
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
        return Compiled(pred, score.times(_boost(body)), required, any_of)

    def _q_constant_score(self, body: Any, scoring: bool) -> Compiled:
        body = _obj(body, "constant_score")
        _check_keys(body, {"filter", "boost", "_name"}, "constant_score")
        if "filter" not in body:
            raise ApiError(400, "QueryDSL 'constant_score' needs a 'filter' query.")
        inner = self.compile(body["filter"], False)
        return Compiled(inner.pred, Score(_boost(body)) if scoring else Score(), inner.required, inner.any_of)

    def _q_match_all(self, body: Any, scoring: bool) -> Compiled:
        return Compiled(TRUE, Score(_boost(_obj(body, "match_all"))) if scoring else Score(), [])

    def _q_match_none(self, body: Any, scoring: bool) -> Compiled:
        return Compiled(FALSE, Score(), [])

    # ----- full text -------------------------------------------------------------------------

    def _q_match(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "match", "query")
        _check_keys(
            spec,
            {"query", "operator", "minimum_should_match", "boost", "zero_terms_query", "analyzer", "lenient",
             "auto_generate_synonyms_phrase_query", "_name", "fuzziness", "prefix_length", "max_expansions"},
            "match",
        )  # fmt: skip
        if spec.get("fuzziness") not in (None, 0, "0"):
            raise ApiError(400, "QueryDSL 'match' with 'fuzziness' is not supported by the local endpoint; "
                           "use 'prefix' or 'wildcard' for partial words.")  # fmt: skip
        f = self.fields.get(name)
        text = spec.get("query")
        if f is None:
            return Compiled(FALSE, Score(), [])
        operator = str(spec.get("operator", "or")).lower()
        result = self._match(f, text, operator, spec.get("minimum_should_match"), scoring, "match")
        return _boosted(result, spec)

    def _match(self, f: Field, text: Any, operator: str, msm: Any, scoring: bool, what: str) -> Compiled:
        if text is None:
            raise ApiError(400, f"QueryDSL '{what}' on field '{f.name}' needs a 'query'.")
        if f.kind not in ("string", "array") or (f.kind == "array" and f.item_kind != "string"):
            literal = f.literal(text, what)
            pred = Pred(f"({self.col(f)} = {literal})") if literal else FALSE
            if f.kind == "array" and literal:
                pred = Pred(f"array_has({self.col(f)}, {literal})")
            return Compiled(pred, Score(1.0) if scoring else Score(), [])
        words = tokens(str(text))
        if not words:
            return Compiled(FALSE, Score(), [])
        needed = len(words) if operator == "and" else _min_should(msm, len(words), 1)
        if not f.fts or f.kind == "array" or not self.allow_text:
            preds = [self._word_regex(f, w) for w in words]
            return Compiled(at_least(preds, needed), Score(1.0) if scoring else Score(), [])
        if needed <= 1 or needed >= len(words):
            leaf = TextLeaf(f.column, " ".join(words), "and" if needed > 1 else "or")
            score = Score(0.0, [Pred(ScoreRef(leaf))], True) if scoring else Score()
            return Compiled(Pred(leaf), score, [leaf])
        per_word = [Pred(TextLeaf(f.column, w, "or")) for w in words]
        scored = TextLeaf(f.column, " ".join(words), "or")
        score = Score(0.0, [Pred(ScoreRef(scored))], True) if scoring else Score()
        return Compiled(at_least(per_word, needed), score, [scored])

    def _word_regex(self, f: Field, word: str) -> Pred:
        target = self.col(f) if f.kind != "array" else f"array_to_string({self.col(f)}, ' ')"
        pattern = lit(_B + regex_escape(word) + _B)
        return Pred(f"regexp_like({target}, {pattern}, 'i')")

    def _q_match_phrase(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "match_phrase", "query")
        _check_keys(spec, {"query", "slop", "boost", "analyzer", "zero_terms_query", "_name"}, "match_phrase")
        f = self.fields.get(name)
        if f is None:
            return Compiled(FALSE, Score(), [])
        return _boosted(self._phrase(f, spec.get("query"), scoring), spec)

    def _phrase(self, f: Field, text: Any, scoring: bool) -> Compiled:
        words = tokens(str(text)) if text is not None else []
        base = self._match(f, text, "and", None, scoring, "match_phrase")
        if len(words) < 2 or f.kind not in ("string", "array"):
            return base
        target = self.col(f) if f.kind != "array" else f"array_to_string({self.col(f)}, ' ')"
        pattern = _B + r"\W+".join(regex_escape(w) for w in words) + _B
        phrase = Pred(f"regexp_like({target}, {lit(pattern)}, 'i')")
        return Compiled(Pred.join([base.pred, phrase], "AND"), base.score, base.required, base.any_of)

    def _q_multi_match(self, body: Any, scoring: bool) -> Compiled:
        spec = _obj(body, "multi_match")
        _check_keys(
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
            boost = float(weight) if weight else 1.0
            for f in self.fields.matching(pattern):
                if pattern != f.name and f.kind != "string":
                    continue  # wildcards cover text fields only, as in Elasticsearch
                if kind == "phrase":
                    c = self._phrase(f, spec.get("query"), scoring)
                else:
                    c = self._match(f, spec.get("query"), str(spec.get("operator", "or")).lower(),
                                    spec.get("minimum_should_match"), scoring, "multi_match")  # fmt: skip
                parts.append(Compiled(c.pred, c.score.times(boost), c.required, c.any_of))
        if not parts:
            return Compiled(FALSE, Score(), [])
        pred = Pred.join([c.pred for c in parts], "OR")
        scores = [c.score.when(c.pred) for c in parts]
        score = Score() if not scoring else (Score.best(scores) if kind != "most_fields" else _sum(scores))
        required = parts[0].required if len(parts) == 1 else []
        any_of = [leaf for c in parts for leaf in c.any_of or ()] if all(c.any_of for c in parts) else None
        return _boosted(Compiled(pred, score, required, any_of), spec)

    # ----- term level ------------------------------------------------------------------------

    def _q_term(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "term", "value")
        _check_keys(spec, {"value", "boost", "case_insensitive", "_name"}, "term")
        if "value" not in spec:
            raise ApiError(400, f"QueryDSL 'term' on field '{name}' needs a 'value'.")
        pred = self._equals(name, [spec["value"]], bool(spec.get("case_insensitive")), "term")
        return _const(pred, spec, scoring)

    def _q_terms(self, body: Any, scoring: bool) -> Compiled:
        spec = _obj(body, "terms")
        names = [k for k in spec if k not in ("boost", "_name")]
        if len(names) != 1:
            raise ApiError(400, "QueryDSL 'terms' takes exactly one field: {\"terms\": {\"field\": [values]}}.")
        values = spec[names[0]]
        if not isinstance(values, list):
            raise ApiError(400, f"QueryDSL 'terms' on field '{names[0]}' needs a list of values "
                           "(terms lookup is not supported by the local endpoint).")  # fmt: skip
        return _const(self._equals(names[0], values, False, "terms"), spec, scoring)

    def _equals(self, name: str, values: list[Any], insensitive: bool, what: str) -> Pred:
        if not values:
            return FALSE
        if name in ("_id", "_doc_id"):
            f = Field("_id", "_doc_id", "string", True)
        else:
            found = self.fields.get(name)
            if found is None:
                return FALSE
            f = found
        literals = [x for x in (f.literal(v, what) for v in values) if x is not None]
        if not literals:
            return FALSE
        column = self.col(f)
        if f.kind == "array":
            return Pred(f"array_has_any({column}, make_array({', '.join(literals)}))")
        if insensitive and f.kind == "string":
            column, literals = f"lower({column})", [f"lower({x})" for x in literals]
        if len(literals) == 1:
            return Pred(f"({column} = {literals[0]})")
        return Pred(f"({column} IN ({', '.join(literals)}))")

    def _q_ids(self, body: Any, scoring: bool) -> Compiled:
        spec = _obj(body, "ids")
        _check_keys(spec, {"values", "boost", "_name"}, "ids")
        values = spec.get("values")
        if not isinstance(values, list):
            raise ApiError(400, "QueryDSL 'ids' needs {\"values\": [ids]}.")
        return _const(self._equals("_id", [str(v) for v in values], False, "ids"), spec, scoring)

    def _q_range(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "range", None)
        known = {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "time_zone",
                 "boost", "relation", "_name"}  # fmt: skip
        _check_keys(spec, known, "range")
        zone = spec.get("time_zone")
        if zone is not None and str(zone).lower() not in _UTC_ZONES:
            raise ApiError(400, f"QueryDSL 'range' time_zone {zone!r} is not supported by the local endpoint; "
                           "dates are UTC: give offsets inside the dates (2024-01-01T00:00:00+02:00).")  # fmt: skip
        bounds = [(op, spec[op]) for op in ("gt", "gte", "lt", "lte") if spec.get(op) is not None]
        if spec.get("from") is not None:
            bounds.append(("gte" if spec.get("include_lower", True) else "gt", spec["from"]))
        if spec.get("to") is not None:
            bounds.append(("lte" if spec.get("include_upper", True) else "lt", spec["to"]))
        f = self.fields.get(name)
        if f is None or f.kind in ("object", "array"):
            return Compiled(FALSE, Score(), [])
        sql_ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        preds = [Pred(f"({self.col(f)} IS NOT NULL)")]
        for op, value in bounds:
            if f.kind == "date":
                ms = date_ms(value, name, "range", round_up=op in ("gt", "lte"), fmt=spec.get("format"))
                literal = f"to_timestamp_millis({ms})"
            else:
                literal = f.literal(value, "range")
            preds.append(Pred(f"({self.col(f)} {sql_ops[op]} {literal})"))
        return _const(Pred.join(preds, "AND"), spec, scoring)

    def _q_exists(self, body: Any, scoring: bool) -> Compiled:
        spec = _obj(body, "exists")
        name = spec.get("field")
        if not isinstance(name, str):
            raise ApiError(400, "QueryDSL 'exists' needs {\"field\": \"name\"}.")
        if name in ("_id", "_source", "_index"):
            return _const(TRUE, spec, scoring)
        f = self.fields.get(name)
        found = [f] if f is not None else self.fields.under(name)
        preds = [Pred(f"({self.col(x)} IS NOT NULL)") for x in found]
        return _const(Pred.join(preds, "OR") if preds else FALSE, spec, scoring)

    def _q_prefix(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "prefix", "value")
        _check_keys(spec, {"value", "boost", "case_insensitive", "rewrite", "_name"}, "prefix")
        if spec.get("value") is None:
            raise ApiError(400, f"QueryDSL 'prefix' on field '{name}' needs a 'value'.")
        pattern = like_pattern(str(spec["value"])) + "%"
        return _const(self._like(name, pattern, bool(spec.get("case_insensitive"))), spec, scoring)

    def _q_wildcard(self, body: Any, scoring: bool) -> Compiled:
        name, spec = _field_spec(body, "wildcard", "value")
        _check_keys(spec, {"value", "wildcard", "boost", "case_insensitive", "rewrite", "_name"}, "wildcard")
        value = spec.get("value", spec.get("wildcard"))
        if value is None:
            raise ApiError(400, f"QueryDSL 'wildcard' on field '{name}' needs a 'value'.")
        pattern = like_pattern(str(value), wildcard=True)
        return _const(self._like(name, pattern, bool(spec.get("case_insensitive"))), spec, scoring)

    def _like(self, name: str, pattern: str, insensitive: bool) -> Pred:
        if name in ("_id", "_doc_id"):
            f: Field | None = Field("_id", "_doc_id", "string", True)
        else:
            f = self.fields.get(name)
        if f is None or f.kind in ("object", "array"):
            return FALSE
        column = self.col(f) if f.kind == "string" else f"CAST({self.col(f)} AS VARCHAR)"
        return Pred(f"({column} {'ILIKE' if insensitive else 'LIKE'} {lit(pattern)})")


_B = r"\b"


def _sum(scores: list[Score]) -> Score:
    total = Score()
    for s in scores:
        total = total.plus(s)
    return total


def _const(pred: Pred, spec: dict, scoring: bool) -> Compiled:
    return Compiled(pred, Score(_boost(spec)) if scoring else Score(), [])


def _boosted(c: Compiled, spec: dict) -> Compiled:
    return Compiled(c.pred, c.score.times(_boost(spec)), c.required, c.any_of)


def _boost(spec: Any) -> float:
    value = spec.get("boost", 1.0) if isinstance(spec, dict) else 1.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"QueryDSL 'boost' must be a number, got {value!r}.") from None


def _obj(body: Any, name: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, f"QueryDSL '{name}' takes an object, got {_short(body)}.")
    return body


def _field_spec(body: Any, name: str, short_key: str | None) -> tuple[str, dict]:
    """``{"field": value}`` or ``{"field": {...options}}`` -> (field, options)."""
    body = _obj(body, name)
    names = [k for k in body if k not in ("boost", "_name")]
    if len(names) != 1:
        raise ApiError(400, f"QueryDSL '{name}' takes exactly one field, got {sorted(body)}.")
    spec = body[names[0]]
    if not isinstance(spec, dict):
        if short_key is None:
            raise ApiError(400, f"QueryDSL '{name}' on field '{names[0]}' takes an object of options.")
        spec = {short_key: spec}
    if "boost" in body:
        spec = {**spec, "boost": body["boost"]}
    return names[0], spec


def _check_keys(spec: dict, known: set[str], name: str) -> None:
    extra = sorted(set(spec) - known)
    if extra:
        raise ApiError(
            400, f"QueryDSL '{name}' option '{extra[0]}' is not supported by the local endpoint; "
            f"supported options: {', '.join(sorted(known - {'_name'}))}."
        )  # fmt: skip


def _clauses(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise ApiError(400, f"QueryDSL bool '{name}' takes a query or a list of queries, got {_short(value)}.")


def _min_should(value: Any, count: int, default: int) -> int:
    """Elasticsearch minimum_should_match: 2, "2", "-1", "75%", "-25%"."""
    if value is None:
        return default
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            n = int(count * abs(pct) / 100)
            n = count - n if pct < 0 else n
        else:
            n = int(text)
            n = count + n if n < 0 else n
    except ValueError:
        raise ApiError(400, f"QueryDSL minimum_should_match {value!r} is not a number or percentage.") from None
    return max(0, min(count, n))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
