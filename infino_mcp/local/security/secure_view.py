"""Secure views: what a caller with field rules reads instead of a dataset's engine table.

A secure view is a derived table over the dataset's table (or over a search
function's rows) that exposes only what ``FieldRules`` let the caller see:

* hidden fields (denied, outside an Allow list, masked with ``remove``) are absent;
* masked fields are masked inside the view (``redact`` -> ``'****'``, ``hash`` ->
  the same ``sha256:`` prefix ``FieldRules.apply`` gives a document), so no
  expression over the view can see the clear value;
* the internal columns are absent (the engine's row id and ``_source``, the whole
  document), except ``_doc_id`` (the user's ``_id``) unless ``_id`` is denied;
* an object (struct) column is absent when any rule reaches inside it.

Every reference to a protected dataset in a caller's SQL is replaced by its view
before the engine sees the statement (``sql.rewrite``); ``check_views`` then reads
the final statement and refuses it unless every read of a protected table is one
of these views, verbatim.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import sqlglot
from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import MASK_TEXT, FieldRules, matches
from infino_mcp.local.storage.catalog import DOC_ID, DatasetInfo
from infino_mcp.sql_dialect import DIALECT, parse_statements, render

SEARCH_SCORE = "score"
SEARCH_FUNCTIONS = ("bm25_search_prefix", "bm25_search", "exact_match", "token_match", "vector_search", "hybrid_search")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reaches_inside(rules: FieldRules, path: str) -> bool:
    """Whether a Deny, Mask or Allow pattern could name something below ``path``."""
    patterns = [*rules.deny, *(p for p, _ in rules.mask), *(rules.allow or ())]
    parts = path.split(".")
    for pattern in patterns:
        if matches(path, (pattern,)):
            continue  # the whole path is covered alike
        pattern_parts = pattern.split(".")
        if len(pattern_parts) > len(parts) and all(
            fnmatch.fnmatchcase(part, pp) for part, pp in zip(parts, pattern_parts, strict=False)
        ):
            return True
        if "*" in pattern and fnmatch.fnmatchcase(path + ".x", pattern):
            return True
    return False


def view_columns(info: DatasetInfo, rules: FieldRules) -> list[str]:
    """The view's projection: engine columns as they are, masked ones as expressions under their own name."""
    columns = [_ident(DOC_ID)] if rules.visible("_id") else []
    for name in sorted(info.fields):
        field = info.fields[name]
        if not rules.visible(name):
            continue
        if field.infino_type in ("Object", "Array") and reaches_inside(rules, name):
            continue
        column = _ident(field.column)
        strategy = rules.mask_strategy(name)
        if strategy is None:
            columns.append(column)
        elif strategy == "hash":
            text = f"coalesce(CAST({column} AS VARCHAR), 'null')"
            columns.append(f"NULLIF('sha256:' || left(encode(sha256({text}), 'hex'), 16), '') AS {column}")
        else:
            # Always the mask text, typed like a nullable string column (so it unions with one).
            empty = f"left(coalesce(CAST({column} AS VARCHAR), ''), 0)"
            columns.append(f"NULLIF('{MASK_TEXT}' || {empty}, '') AS {column}")
    return columns


def view_sql(info: DatasetInfo, rules: FieldRules, source: str | None = None) -> str:
    """``SELECT <visible columns> FROM <table>``; ``source`` is a search function call over the
    table (its ``score`` column is kept)."""
    columns = view_columns(info, rules)
    if source is not None:
        columns.append(_ident(SEARCH_SCORE))
    if not columns:
        raise ApiError(403, f"Field rules leave no field of dataset {info.name!r} readable for you.")
    return f"SELECT {', '.join(columns)} FROM {source if source is not None else _ident(info.table)}"


def canonical(sql: str) -> str:
    return render(parse_statements(sql)[0])


def check_views(tree: exp.Expr, protected: dict[str, set[str]]) -> None:
    """ApiError(400) unless every read of a protected engine table in ``tree`` (the statement as the engine
    will run it) is the body of one of the views allowed for it: ``protected`` maps a table to the
    canonical SQL of those views."""
    for node in tree.find_all(exp.Table, exp.Anonymous):
        table = _protected_table(node, protected)
        if table is None:
            continue
        holder = node if isinstance(node, exp.Table) else node.parent
        from_ = holder.parent if holder is not None else None
        select = from_.parent if isinstance(from_, exp.From) else None
        if (
            not isinstance(holder, exp.Table)
            or not isinstance(select, exp.Select)
            or not isinstance(select.parent, exp.Subquery)
            or render(select) not in protected[table]
        ):
            raise ApiError(400, "The statement reads a dataset in a way field rules cannot be applied to; simplify it.")


def _protected_table(node: exp.Expr, protected: dict[str, set[str]]) -> str | None:
    if isinstance(node, exp.Table):
        ident = node.this
        if isinstance(ident, exp.Identifier):
            name = ident.name if ident.args.get("quoted") else ident.name.lower()
            return name if name in protected else None
        return None
    if str(node.this).lower() not in SEARCH_FUNCTIONS:
        return None
    first = node.expressions[0] if node.expressions else None
    if isinstance(first, exp.Literal) and first.is_string and first.this in protected:
        return first.this
    return None


def secured_search(
    text: str,
    func: exp.Anonymous,
    literal_edit: tuple[int, int, str],
    info: DatasetInfo,
    found: FieldRules,
    add_view: Callable[..., str],
) -> tuple[int, int, str]:
    """The edit that puts a search function over a protected dataset inside its secure view."""
    table = func.parent
    if not isinstance(table, exp.Table) or not isinstance(table.parent, (exp.From, exp.Join)):
        raise ApiError(400, f"{func.this}() can only be read in FROM or JOIN when field rules apply to you.")
    start, end = _call_span(text, literal_edit[0])
    call = text[start : literal_edit[0]] + literal_edit[2] + text[literal_edit[1] : end]
    replacement = add_view(info, found, call)
    if not table.alias:
        replacement += " AS " + _ident(str(func.this).lower())
    return (start, end, replacement)


def _call_span(text: str, literal_start: int) -> tuple[int, int]:
    """Where the function call whose first argument starts at ``literal_start`` starts and ends."""
    tokens = sqlglot.tokenize(text, read=DIALECT)
    at = next((i for i, t in enumerate(tokens) if t.start == literal_start), None)
    if at is None or at < 2 or tokens[at - 1].text != "(":
        raise ApiError(400, "Could not read the search function call; write it as bm25_search('dataset', ...).")
    depth = 0
    for token in tokens[at - 1 :]:
        depth += {"(": 1, ")": -1}.get(token.text, 0) if token.token_type.name in ("L_PAREN", "R_PAREN") else 0
        if depth == 0:
            return tokens[at - 2].start, token.end + 1
    raise ApiError(400, "The search function call is not closed; check its parentheses.")


def no_nested_edits(edits: list[tuple[int, int, str]]) -> None:
    ordered = sorted(set(edits))
    for (_, end, _), (start, _, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise ApiError(400, "The search function's arguments must be plain literals when field rules apply to you.")
