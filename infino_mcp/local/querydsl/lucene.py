"""``query_string`` (Lucene syntax, parsed by ``luqum``) and ``simple_query_string``, as plain QueryDSL.

Both become ordinary clauses the ``QueryCompiler`` already knows, so field
resolution and field rules are the search's own. A bare term searches the
default fields (``default_field``/``fields``, else every text field) as a
``multi_match``; ``field:value`` a ``match`` (``term`` for ``_id``);
``"a phrase"`` a ``match_phrase``; ``qu?ck*`` a ``wildcard``; ``/regex/`` a
``regexp``; ``[a TO b]``, ``{a TO b}``, ``>=a`` a ``range``; ``_exists_:f`` an
``exists``; ``^2`` a boost; ``AND``/``OR``/``NOT``/``+``/``-`` and groups a
``bool`` (AND binds tighter than OR; terms side by side use ``default_operator``).
``word~1`` is a fuzzy ``match`` (``~`` alone allows 2 edits); proximity searches are refused with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

from infino_mcp.local.errors import ApiError

_MAX_LENGTH = 10_000
_KNOWN = {"query", "default_field", "fields", "default_operator", "boost", "_name", "analyze_wildcard", "lenient",
          "allow_leading_wildcard", "time_zone", "minimum_should_match", "flags", "auto_generate_synonyms_phrase_query",
          "analyzer", "quote_field_suffix", "tie_breaker", "type"}  # fmt: skip


def _options(spec: Any, name: str, text_fields: list[str]) -> tuple[str, list[str], str]:
    if not isinstance(spec, dict) or not isinstance(spec.get("query"), str):
        raise ApiError(400, f'QueryDSL \'{name}\' needs {{"query": "text"}}.')
    extra = sorted(set(spec) - _KNOWN)
    if extra:
        raise ApiError(400, f"QueryDSL '{name}' option '{extra[0]}' is not supported by the local endpoint.")
    if len(spec["query"]) > _MAX_LENGTH:
        raise ApiError(400, f"QueryDSL '{name}' query is longer than {_MAX_LENGTH} characters.")
    fields = spec.get("fields")
    if fields is None and spec.get("default_field") not in (None, "*"):
        fields = [spec["default_field"]]
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise ApiError(400, f"QueryDSL '{name}' fields must be a list of field names.")
    operator = str(spec.get("default_operator", "or")).lower()
    if operator not in ("and", "or"):
        raise ApiError(400, f"QueryDSL '{name}' default_operator must be AND or OR.")
    return spec["query"], fields if fields is not None else text_fields, operator


def _wrap(spec: dict, query: dict) -> dict:
    if "boost" in spec:
        return {"bool": {"must": [query], "boost": spec["boost"]}}
    return query


def query_string(spec: Any, text_fields: list[str]) -> dict:
    """The QueryDSL equivalent of a ``query_string`` clause; ``text_fields`` are the default fields."""
    text, fields, operator = _options(spec, "query_string", text_fields)
    if not text.strip():
        return {"match_none": {}}
    try:
        parsed = parser.parse(text)
    except (ParseError, RecursionError) as exc:
        raise ApiError(400, f"QueryDSL 'query_string' cannot parse {text[:200]!r}: {str(exc)[:200]}. Quote special "
                       "characters (\\: \\( \\/) or use simple_query_string, which never fails.") from None  # fmt: skip
    try:
        return _wrap(spec, _Translate(fields, operator).node(parsed, None))
    except RecursionError:
        raise ApiError(400, "QueryDSL 'query_string' is nested too deeply.") from None


class _Translate:
    def __init__(self, fields: list[str], operator: str) -> None:
        self.fields = fields
        self.operator = operator

    def node(self, n: Any, field: str | None) -> dict:
        if isinstance(n, tree.SearchField):
            return self.node(n.expr, n.name)
        if isinstance(n, (tree.Group, tree.FieldGroup)):
            return self.node(n.expr, field)
        if isinstance(n, tree.AndOperation):
            return {"bool": {"must": [self.node(c, field) for c in n.children]}}
        if isinstance(n, tree.OrOperation):
            return {"bool": {"should": [self.node(c, field) for c in n.children], "minimum_should_match": 1}}
        if isinstance(n, tree.UnknownOperation):
            return self.implicit(n.children, field)
        if isinstance(n, (tree.Not, tree.Prohibit)):
            return {"bool": {"must_not": [self.node(n.a, field)]}}
        if isinstance(n, tree.Plus):
            return self.node(n.a, field)
        if isinstance(n, tree.Boost):
            return {"bool": {"must": [self.node(n.expr, field)], "boost": float(n.force)}}
        if isinstance(n, tree.Fuzzy) and isinstance(n.term, tree.Word):
            text, distance = _unescape(n.term.value), 2 if n._implicit_degree else min(2, int(n.degree))
            return self.each(field, lambda f: {"match": {f: {"query": text, "fuzziness": distance}}})
        if isinstance(n, (tree.Fuzzy, tree.Proximity)):
            raise ApiError(400, "QueryDSL 'query_string': proximity searches (\"a b\"~2) are not supported by the "
                           "local endpoint; use a phrase or separate terms.")  # fmt: skip
        if isinstance(n, (tree.Range, tree.From, tree.To)):
            return self.ranged(n, field)
        if isinstance(n, tree.Regex):
            return self.each(field, lambda f: {"regexp": {f: {"value": n.value[1:-1]}}})
        if isinstance(n, tree.Phrase):
            return self.each(field, lambda f: {"match_phrase": {f: _unescape(n.value[1:-1])}})
        if isinstance(n, tree.Word):
            return self.word(n.value, field)
        raise ApiError(400, f"QueryDSL 'query_string': {type(n).__name__} is not supported by the local endpoint.")

    def implicit(self, children: Sequence[Any], field: str | None) -> dict:
        """Clauses side by side: + is required, - excluded, the rest follow default_operator."""
        must, must_not, rest = [], [], []
        for c in children:
            if isinstance(c, tree.Plus):
                must.append(self.node(c.a, field))
            elif isinstance(c, (tree.Prohibit, tree.Not)):
                must_not.append(self.node(c.a, field))
            else:
                rest.append(self.node(c, field))
        if self.operator == "and":
            must += rest
            rest = []
        body: dict[str, Any] = {"must": must, "must_not": must_not, "should": rest}
        if rest and not must:
            body["minimum_should_match"] = 1
        return {"bool": {k: v for k, v in body.items() if v != []}}

    def each(self, field: str | None, make: Any) -> dict:
        if field is not None:
            return make(field)
        parts = [make(f) for f in self.fields]
        if not parts:
            return {"match_none": {}}
        return parts[0] if len(parts) == 1 else {"dis_max": {"queries": parts}}

    def word(self, raw: str, field: str | None) -> dict:
        if field == "_exists_":
            return {"exists": {"field": _unescape(raw)}}
        if re.search(r"(?<!\\)[*?]", raw):
            value = raw
            return self.each(field, lambda f: {"wildcard": {f: {"value": _unescape(value, keep_wild=True)}}})
        text = _unescape(raw)
        if field in ("_id", "_doc_id"):
            return {"term": {"_id": text}}
        if field is not None:
            return {"match": {field: {"query": text}}}
        return self.each(None, lambda f: {"match": {f: {"query": text}}})

    def ranged(self, n: Any, field: str | None) -> dict:
        if isinstance(n, tree.Range):
            bounds = {}
            if n.low.value != "*":
                bounds["gte" if n.include_low else "gt"] = _unescape(n.low.value)
            if n.high.value != "*":
                bounds["lte" if n.include_high else "lt"] = _unescape(n.high.value)
        elif isinstance(n, tree.From):
            bounds = {"gte" if n.include else "gt": _unescape(n.a.value)}
        else:
            bounds = {"lte" if n.include else "lt": _unescape(n.a.value)}
        return self.each(field, lambda f: {"range": {f: bounds}})


def _unescape(text: str, keep_wild: bool = False) -> str:
    if keep_wild:
        return re.sub(r"\\([^*?])", r"\1", text)
    return re.sub(r"\\(.)", r"\1", text)


# ----- simple_query_string ----------------------------------------------------------------

_SIMPLE = re.compile(r'\s*(?:(?P<phrase>"(?:[^"\\]|\\.)*"?)|(?P<op>[|+()])|(?P<not>-)(?=\S)|(?P<word>[^\s|+()"]+))')


def simple_query_string(spec: Any, text_fields: list[str]) -> dict:
    """The QueryDSL equivalent of a ``simple_query_string`` clause: a syntax slip is read as text, as in
    Elasticsearch; ``word~1`` is a fuzzy match; phrase slop is refused."""
    text, fields, operator = _options(spec, "simple_query_string", text_fields)
    tokens = [(m.lastgroup, m.group(m.lastgroup or "")) for m in _SIMPLE.finditer(text) if m.lastgroup]
    if len(tokens) > 1_000:
        raise ApiError(400, "QueryDSL 'simple_query_string' has more than 1000 terms.")
    query, _ = _simple_sequence(tokens, 0, _Translate(fields, operator), 0)
    return _wrap(spec, query or {"match_none": {}})


def _combine(op: str, items: list[dict]) -> dict:
    if len(items) == 1:
        return items[0]
    if op == "and":
        return {"bool": {"must": items}}
    return {"bool": {"should": items, "minimum_should_match": 1}}


def _simple_sequence(tokens: list, pos: int, t: _Translate, depth: int) -> tuple[dict | None, int]:
    """Left to right without precedence, as Lucene's simple parser: ``a b + c`` is ``(a OR b) AND c``; a negated
    term is its own clause (``a -b`` with OR is ``a OR NOT b``, as Elasticsearch documents)."""
    op: str | None = None
    items: list[dict] = []
    pending: str | None = None
    while pos < len(tokens) and tokens[pos] != ("op", ")"):
        kind, value = tokens[pos]
        if kind == "op" and value in "|+":
            pending = "or" if value == "|" else "and"
            pos += 1
            continue
        negate = kind == "not"
        if negate:
            pos += 1
            if pos >= len(tokens):
                break
            kind, value = tokens[pos]
        clause: dict | None
        if kind == "op" and value == "(":
            if depth > 50:
                raise ApiError(400, "QueryDSL 'simple_query_string' is nested too deeply.")
            clause, pos = _simple_sequence(tokens, pos + 1, t, depth + 1)
            pos += 1 if pos < len(tokens) else 0
        elif kind == "phrase":
            phrase = _unescape(value.strip('"'))
            clause = t.each(None, lambda f, p=phrase: {"match_phrase": {f: p}})
            pos += 1
            if pos < len(tokens) and tokens[pos][0] == "word" and tokens[pos][1].startswith("~"):
                _no_fuzz(tokens[pos][1])
                pos += 1
        else:
            clause = _simple_word(value, t)
            pos += 1
        if clause is None:
            continue
        if negate:
            clause = {"bool": {"must_not": [clause]}}
        joined = pending or t.operator
        pending = None
        if op is not None and joined != op and len(items) > 1:
            items = [_combine(op, items)]
        op = joined if items else op
        items.append(clause)
    if not items:
        return None, pos
    return _combine(op or t.operator, items), pos


def _no_fuzz(suffix: str) -> None:
    if suffix.strip("~") not in ("", "0"):
        raise ApiError(400, "QueryDSL 'simple_query_string': phrase slop (\"a b\"~N) is not supported by the local "
                       "endpoint; use an exact phrase.")  # fmt: skip


def _simple_word(value: str, t: _Translate) -> dict | None:
    word, tilde, fuzz = value.partition("~")
    if not word:
        return None
    if tilde and fuzz.strip() not in ("", "0"):
        if not fuzz.isdigit():
            return t.each(None, lambda f: {"match": {f: {"query": value}}})  # not an operator: plain text
        distance = min(2, int(fuzz))
        return t.each(None, lambda f: {"match": {f: {"query": word, "fuzziness": distance}}})
    if word.endswith("*") and len(word) > 1:
        stem = word.rstrip("*")
        return t.each(None, lambda f: {"match_phrase_prefix": {f: stem}})
    return t.each(None, lambda f: {"match": {f: {"query": word}}})
