"""Field rules for SQL: refuse queries that would read hidden or masked fields indirectly.

``FieldRules.apply`` filters result rows by column name, which is enough for
``SELECT *`` and plain column lists but not for SQL that moves a value under
another name or uses it without returning it: ``SELECT password AS p``,
``upper(email)``, ``WHERE password = 'x'`` (an oracle), ``ORDER BY``/``GROUP BY``
on a masked field, or ``_source`` (the whole original document). So before a
query runs, every column it references is checked against the caller's rules:

* a hidden field (denied, outside an Allow list, or masked with ``remove``)
  may not be referenced at all;
* a masked field may only be selected as itself (a bare projection item, or
  aliased to its own name), where the output filter masks it;
* ``_source`` may not be referenced when any rule applies;
* field names given as string arguments to the engine's search functions
  (``bm25_search`` ...) follow the same rules as columns.

Names are compared as the engine reads them: unquoted identifiers are
lower-cased (``PASSWORD`` is ``password``), quoted ones kept as written.
Aliases and names that are not fields of the dataset are left to the engine.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import FieldRules

SEARCH_FUNCTIONS = ("bm25_search_prefix", "bm25_search", "exact_match", "token_match", "vector_search", "hybrid_search")
SOURCE_COLUMN = "_source"


def check_select_fields(
    tree: exp.Expression,
    rules: FieldRules,
    fields: Collection[str],
    *,
    user: str = "",
    parts: Collection[exp.Expression] | None = None,
    allow_bare: bool = True,
) -> None:
    """ApiError(403) when ``tree`` (a parsed query over one dataset) reads fields ``rules`` hide or mask.

    ``fields`` are the dataset's field paths as users write them (``user.name``).
    ``parts``: check only these subtrees of ``tree`` (e.g. an UPDATE's SET values and
    WHERE); ``allow_bare=False`` when no output filter follows, so a masked field may
    not be read at all (not even selected as itself inside a subquery).
    """
    if rules.identity:
        return
    known = set(fields)
    relations = _relation_names(tree)
    for part in [tree] if parts is None else parts:
        for column in part.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                continue
            path = _field_path(column, relations)
            _check_reference(path, rules, known, user, bare=allow_bare and _is_bare_projection(column, path))
        for func in part.find_all(exp.Anonymous):
            if str(func.this).lower() not in SEARCH_FUNCTIONS:
                continue
            for arg in func.expressions:
                if isinstance(arg, exp.Literal) and arg.is_string:
                    for name in sorted(f for f in known if f.lower() == arg.this.lower()):
                        _check_reference(name, rules, known, user, bare=False)


def _engine_name(ident: exp.Expression) -> str:
    """An identifier as the engine reads it: unquoted names are lower-cased."""
    return ident.name if isinstance(ident, exp.Identifier) and ident.args.get("quoted") else ident.name.lower()


def _relation_names(tree: exp.Expression) -> set[str]:
    names = {t.alias_or_name for t in tree.find_all(exp.Table)}
    names |= {t.name for t in tree.find_all(exp.Table)}
    names |= {s.alias for s in tree.find_all(exp.Subquery) if s.alias}
    names |= {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return names | {n.lower() for n in names}


def _field_path(column: exp.Column, relations: set[str]) -> str:
    """The field a column means: qualifiers naming a table or alias (or its schema) are dropped,
    others kept (``user.name``)."""
    parts = [_engine_name(p) for p in column.parts]
    while len(parts) > 1 and (
        parts[0] in relations or (parts[0] in ("datafusion", "public") and len(parts) > 2 and parts[1] != parts[0])
    ):
        parts = parts[1:]
    return ".".join(parts)


def _is_bare_projection(column: exp.Column, path: str) -> bool:
    """Selected as itself: a projection item, unaliased or aliased to its own name."""
    node: exp.Expression = column
    parent = column.parent
    if isinstance(parent, exp.Alias):
        alias = parent.args.get("alias")
        if alias is None or _engine_name(alias) not in (path, _engine_name(column.this)):
            return False
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node.arg_key == "expressions"


def _check_reference(path: str, rules: FieldRules, known: set[str], user: str, *, bare: bool) -> None:
    who = f"user {user!r}" if user else "the caller"
    if path == SOURCE_COLUMN:
        raise ApiError(
            403, f"Field-level rules apply to {who} on this dataset, so '_source' (the whole document) cannot be read."
        )
    if path in known:
        _check_field(path, rules, who, bare=bare)
        return
    children = sorted(f for f in known if f.startswith(path + "."))
    if bare:
        return  # a whole object selected as itself: the output filter removes and masks inside it
    for child in children:
        _check_field(child, rules, who, bare=False)


def _check_field(field: str, rules: FieldRules, who: str, *, bare: bool) -> None:
    if not rules.visible(field):
        raise ApiError(403, f"Permission denied: field {field!r} is hidden from {who}; remove it from the query.")
    if rules.mask_strategy(field) is not None and not bare:
        raise ApiError(
            403,
            f"Permission denied: field {field!r} is masked for {who}; it can be selected as it is, "
            "but not renamed or used in expressions, filters, grouping or sorting.",
        )
