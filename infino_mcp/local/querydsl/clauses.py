"""More QueryDSL clauses, compiled with the same ``QueryCompiler`` (its fields, its field rules):
``dis_max``, ``boosting``, ``match_phrase_prefix``, ``match_bool_prefix``, ``regexp``, ``query_string``
and ``simple_query_string`` (the last two through ``lucene``).

Scores: ``dis_max`` takes the best clause plus ``tie_breaker`` times the others;
``boosting`` multiplies the positive clause's score by ``negative_boost`` where
the negative clause matches. The prefix clauses match words of the field's text
(case-insensitive, like the analyzed terms Elasticsearch compares), the last
word as a prefix; ``regexp`` uses Lucene's syntax (``@`` is any string; ``& ~ < > #``
are refused unless ``flags`` turns them off). ``regexp`` and ``wildcard`` match one
whole word of a full-text field's lower-cased text, as Elasticsearch matches the terms
of an analyzed ``text`` field (``wildcard`` lower-cases its pattern too, ``regexp`` does
not), and the whole value of other fields or of ``name.keyword`` (``word_wise``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.fields import as_float
from infino_mcp.local.querydsl.fuzzy import fuzzy_regexes
from infino_mcp.local.querydsl.lucene import query_string, simple_query_string
from infino_mcp.local.querydsl.nodes import Compiled, Score, boosted, check_keys, const, field_spec, min_should, obj
from infino_mcp.local.querydsl.patterns import regex_escape, tokens, word_regex
from infino_mcp.local.querydsl.sqltree import (
    FALSE,
    Pred,
    TextLeaf,
    at_least,
    boolean,
    call,
    cast,
    column,
    number,
    regex_like,
    total,
    when,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from infino_mcp.local.querydsl.fields import Field, Fields


class QueryCompiler(Protocol):
    """What these clauses use of ``compile.QueryCompiler`` (which dispatches to them)."""

    fields: Fields
    table: str | None

    def compile(self, query: Any, scoring: bool = True) -> Compiled: ...

    def col(self, f: Field) -> exp.Column: ...


_B = r"\b"


def _dis_max(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    spec = obj(body, "dis_max")
    check_keys(spec, {"queries", "tie_breaker", "boost", "_name"}, "dis_max")
    queries = spec.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ApiError(400, "QueryDSL 'dis_max' needs \"queries\": [query, ...].")
    parts = [qc.compile(q, scoring) for q in queries]
    pred = Pred.join([c.pred for c in parts], "OR")
    any_of = [leaf for c in parts for leaf in c.any_of or ()] if all(c.any_of for c in parts) else None
    if not scoring:
        return Compiled(pred, Score(), [], any_of)
    tie = as_float(spec.get("tie_breaker", 0.0), "dis_max.tie_breaker")
    scores = [c.score.when(c.pred) for c in parts]
    best = Score.best(scores)
    if tie and len(scores) > 1:
        total = Score()
        for s in scores:
            total = total.plus(s)
        best_expr, total_expr = best.expr().tree, total.expr().tree
        others = exp.Paren(this=exp.Sub(this=total_expr, expression=best_expr))
        best = Score(
            0.0,
            [Pred(exp.Paren(this=exp.Add(this=best_expr, expression=exp.Mul(this=number(tie), expression=others))))],
            True,
        )
    return boosted(Compiled(pred, best, parts[0].required if len(parts) == 1 else [], any_of), spec)


def _boosting(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    spec = obj(body, "boosting")
    check_keys(spec, {"positive", "negative", "negative_boost", "boost", "_name"}, "boosting")
    if "positive" not in spec or "negative" not in spec or "negative_boost" not in spec:
        raise ApiError(400, "QueryDSL 'boosting' needs 'positive', 'negative' and 'negative_boost'.")
    factor = as_float(spec["negative_boost"], "boosting.negative_boost")
    if not 0 <= factor <= 1:
        raise ApiError(400, "QueryDSL 'boosting' negative_boost must be between 0 and 1.")
    positive = qc.compile(spec["positive"], scoring)
    if not scoring:
        return positive
    negative = qc.compile(spec["negative"], False)
    expr = positive.score.expr().tree
    demoted = when(negative.pred.tree, exp.Mul(this=expr, expression=number(factor)), expr)
    score = Score(0.0, [Pred(demoted)], positive.score.gated)
    return boosted(Compiled(positive.pred, score, positive.required, positive.any_of), spec)


def _words_field(qc: QueryCompiler, body: Any, name: str, known: set[str]) -> tuple[Field | None, dict, list[str]]:
    field, spec = field_spec(body, name, "query")
    check_keys(spec, known | {"query", "boost", "analyzer", "_name"}, name)
    if spec.get("query") is None:
        raise ApiError(400, f"QueryDSL '{name}' on field '{field}' needs a 'query'.")
    f = qc.fields.get(field)
    if f is not None and f.kind != "string":
        raise ApiError(400, f"QueryDSL '{name}' needs a text field; '{field}' is {f.kind}.")
    return f, spec, tokens(str(spec["query"]))


def _regex_pred(qc: QueryCompiler, f: Field, pattern: str) -> Pred:
    return Pred(regex_like(qc.col(f), pattern, insensitive=True))


def _scored_words(f: Field, words: list[str], scoring: bool) -> tuple[Score, list[TextLeaf]]:
    if not scoring or not words or not f.fts:
        return (Score(1.0) if scoring else Score()), []
    leaf = TextLeaf(f.column, " ".join(words), "or")
    return Score(0.0, [Pred.score_of(leaf)]), []


def _match_phrase_prefix(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    f, spec, words = _words_field(qc, body, "match_phrase_prefix", {"max_expansions", "slop", "zero_terms_query"})
    if f is None or not words:
        return Compiled(FALSE, Score(), [])
    if spec.get("slop") not in (None, 0):
        raise ApiError(400, "QueryDSL 'match_phrase_prefix' with 'slop' is not supported by the local endpoint.")
    pattern = _B + r"\W+".join(regex_escape(w) for w in words) + r"\w*"
    pred = _regex_pred(qc, f, pattern)
    score, _ = _scored_words(f, words[:-1], scoring)
    return boosted(Compiled(pred, score.when(pred) if scoring else score, []), spec)


def _match_bool_prefix(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    f, spec, words = _words_field(qc, body, "match_bool_prefix", {"operator", "minimum_should_match",
                                                                   "fuzziness", "prefix_length", "max_expansions"})  # fmt: skip
    if spec.get("fuzziness") not in (None, 0, "0"):
        raise ApiError(400, "QueryDSL 'match_bool_prefix' with 'fuzziness' is not supported by the local endpoint.")
    if f is None or not words:
        return Compiled(FALSE, Score(), [])
    preds = [_regex_pred(qc, f, word_regex(w)) for w in words[:-1]]
    preds.append(_regex_pred(qc, f, _B + regex_escape(words[-1]) + r"\w*"))
    operator = str(spec.get("operator", "or")).lower()
    needed = len(preds) if operator == "and" else min_should(spec.get("minimum_should_match"), len(preds), 1)
    pred = at_least(preds, needed)
    score, _ = _scored_words(f, words[:-1], scoring)
    return boosted(Compiled(pred, score.when(pred) if scoring else score, []), spec)


_LUCENE_OPTIONAL = {"#": "EMPTY", "@": "ANYSTRING", "&": "INTERSECTION", "~": "COMPLEMENT", "<": "INTERVAL",
                    ">": "INTERVAL"}  # fmt: skip


def lucene_regex(pattern: str, flags: str, *, words: bool = False) -> str:
    """A Lucene regular expression as the engine's (Rust) syntax, anchored to the whole value, or with ``words``
    to one whole word of the text (``.``, ``@`` and classes then match word characters only)."""
    enabled = {"EMPTY", "ANYSTRING", "INTERSECTION", "COMPLEMENT", "INTERVAL"} if flags.upper() == "ALL" else {
        part.strip().upper() for part in flags.split("|") if part.strip() and part.strip().upper() != "NONE"}  # fmt: skip
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\" + nxt if not nxt.isalnum() or nxt in "dDsSwW" else regex_escape(nxt))
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append("]]" if words and ch == "]" else ch if ch not in "&~" else "\\" + ch)
        elif ch == "[":
            in_class = True
            out.append(r"[\w&&[" if words else ch)
        elif words and ch == ".":
            out.append(r"\w")
        elif ch == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise ApiError(400, f"QueryDSL 'regexp': unterminated quoted string in {pattern!r}.")
            out.append(regex_escape(pattern[i + 1 : end]))
            i = end
        elif ch in _LUCENE_OPTIONAL and _LUCENE_OPTIONAL[ch] in enabled:
            if ch != "@":
                raise ApiError(400, f"QueryDSL 'regexp': the Lucene operator {ch!r} ({_LUCENE_OPTIONAL[ch]}) is not "
                               "supported by the local endpoint; escape it (\\\\" + ch + ") or set \"flags\": "
                               "\"NONE\".")  # fmt: skip
            out.append(r"\w*" if words else "(?s:.*)")
        elif ch in "^$#&~<>@-":
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    if words:
        return WORD_START + "(?:" + "".join(out) + ")" + WORD_END
    return "^(?s:" + "".join(out) + ")$"


WORD_START, WORD_END = r"(?:^|\W)", r"(?:\W|$)"


def word_wise(f: Field, name: str) -> bool:
    """Whether a term-level pattern clause matches words of ``f``'s text (full-text fields, as Elasticsearch's
    analyzed ``text``) rather than the whole value (other fields, and ``name.keyword``)."""
    return f.kind == "string" and f.fts and not name.endswith(".keyword")


def _regexp(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    name, spec = field_spec(body, "regexp", "value")
    check_keys(spec, {"value", "flags", "case_insensitive", "max_determinized_states", "rewrite", "boost", "_name"},
               "regexp")  # fmt: skip
    if not isinstance(spec.get("value"), str):
        raise ApiError(400, f"QueryDSL 'regexp' on field '{name}' needs a 'value' string.")
    f = qc.fields.get(name) if name not in ("_id", "_doc_id") else None
    words = f is not None and word_wise(f, name)
    pattern = lucene_regex(spec["value"], str(spec.get("flags", "ALL")), words=words)
    target: exp.Expr
    if name in ("_id", "_doc_id"):
        target = column("_doc_id", qc.table)
    elif f is None or f.kind in ("object", "array"):
        return Compiled(FALSE, Score(), [])
    elif words:  # the words are lower-cased, as analyzed terms are; the pattern is not
        target = exp.Lower(this=qc.col(f))
    else:
        target = qc.col(f) if f.kind == "string" else cast(qc.col(f), "VARCHAR")
    insensitive = bool(spec.get("case_insensitive"))
    return const(Pred(regex_like(target, pattern, insensitive=insensitive)), spec, scoring)


def _fuzzy(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    name, spec = field_spec(body, "fuzzy", "value")
    check_keys(spec, {"value", "fuzziness", "prefix_length", "max_expansions", "transpositions", "rewrite", "boost",
                      "_name"}, "fuzzy")  # fmt: skip
    if spec.get("value") is None or isinstance(spec["value"], (dict, list)):
        raise ApiError(400, f"QueryDSL 'fuzzy' on field '{name}' needs a 'value'.")
    f = qc.fields.get(name)
    if f is None:
        return Compiled(FALSE, Score(), [])
    if f.kind != "string":
        raise ApiError(400, f"QueryDSL 'fuzzy' works on text and keyword fields; '{name}' is {f.kind}.")
    patterns = fuzzy_regexes(str(spec["value"]), spec, "'fuzzy'", words=f.fts)
    preds = [Pred(regex_like(qc.col(f), p, insensitive=f.fts)) for p in patterns]
    return const(Pred.join(preds, "OR"), spec, scoring)


def fuzzy_match(qc: QueryCompiler, f: Field, spec: dict, scoring: bool) -> Compiled:
    """``match`` with ``fuzziness``: each word of the query within the edits of some word of the field."""
    if f.kind != "string":
        raise ApiError(400, f"QueryDSL 'match' with 'fuzziness' works on text fields; '{f.name}' is {f.kind}.")
    words = tokens(str(spec.get("query", "")))
    if not words:
        return Compiled(FALSE, Score(), [])
    preds = [Pred.join([_regex_pred(qc, f, p) for p in fuzzy_regexes(w, spec, "'match'", words=True)], "OR")
             for w in words]  # fmt: skip
    operator = str(spec.get("operator", "or")).lower()
    needed = len(preds) if operator == "and" else min_should(spec.get("minimum_should_match"), len(preds), 1)
    return boosted(const(at_least(preds, needed), {}, scoring), spec)


def _text_fields(qc: QueryCompiler) -> list[str]:
    return [f.name for f in qc.fields.matching("*") if f.kind == "string"]


def _query_string(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    return qc.compile(query_string(body, _text_fields(qc)), scoring)


def _simple_query_string(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    return qc.compile(simple_query_string(body, _text_fields(qc)), scoring)


def _terms_set(qc: QueryCompiler, body: Any, scoring: bool) -> Compiled:
    """Documents whose values include at least as many of ``terms`` as their ``minimum_should_match_field``
    says (or the fixed ``minimum_should_match``); a document without that number matches nothing."""
    name, spec = field_spec(body, "terms_set", None)
    check_keys(spec, {"terms", "minimum_should_match_field", "minimum_should_match", "boost", "_name"}, "terms_set")
    terms = spec.get("terms")
    if not isinstance(terms, list) or not terms:
        raise ApiError(400, f"QueryDSL 'terms_set' on field '{name}' needs \"terms\": [values].")
    by_field, fixed = spec.get("minimum_should_match_field"), spec.get("minimum_should_match")
    if (by_field is None) == (fixed is None):
        raise ApiError(400, "QueryDSL 'terms_set' needs one of minimum_should_match_field (a numeric field) or "
                       "minimum_should_match (a number); scripts are not supported by the local endpoint.")  # fmt: skip
    f = qc.fields.get(name)
    if f is None or f.kind == "object":
        return Compiled(FALSE, Score(), [])
    literals = list(dict.fromkeys(x for x in (f.value(v, "terms_set") for v in terms) if x is not None))
    target = qc.col(f)
    hits = [
        Pred(call("array_has", target, x) if f.kind == "array" else exp.EQ(this=target, expression=x)) for x in literals
    ]
    required: exp.Expr
    if fixed is not None:
        required = number(as_float(fixed, "terms_set minimum_should_match"))
    else:
        g = qc.fields.get(str(by_field))
        if g is None or g.kind not in ("int", "float"):
            return Compiled(FALSE, Score(), [])
        required = qc.col(g)
    if not hits:
        return const(FALSE, spec, scoring)
    count = exp.Paren(this=total([exp.Literal.number(0)] + [h.as_int().tree for h in hits]))
    enough = exp.Coalesce(this=exp.GTE(this=count, expression=required), expressions=[boolean(False)])
    return const(Pred(exp.Paren(this=enough)), spec, scoring)


EXTRA_CLAUSES: dict[str, Callable[[QueryCompiler, Any, bool], Compiled]] = {
    "dis_max": _dis_max,
    "boosting": _boosting,
    "match_phrase_prefix": _match_phrase_prefix,
    "match_bool_prefix": _match_bool_prefix,
    "regexp": _regexp,
    "fuzzy": _fuzzy,
    "query_string": _query_string,
    "simple_query_string": _simple_query_string,
    "terms_set": _terms_set,
}
