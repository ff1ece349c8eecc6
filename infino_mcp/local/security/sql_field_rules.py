"""Field rules for SQL: clear refusals on top of the secure views.

Every protected dataset a caller's SQL reads is replaced by its secure view
(``secure_view``), so no query can reach a hidden or unmasked value. These checks
come first and turn the uses that would only mislead into a 403 naming the field
and the rule:

* a hidden field (denied, outside an Allow list, or masked with ``remove``)
  may not be referenced at all;
* a masked field may only be selected as itself (a bare projection item, or
  aliased to its own name), not filtered, sorted, grouped, renamed or computed on;
* ``_source`` may not be referenced when any rule applies;
* field names given as string arguments to the engine's search functions
  (``bm25_search`` ...) must be readable.

Decisions depend on the rules and the query text only, never on which fields the
dataset has, so a refusal tells nothing about a hidden field's existence. Names
the query defines itself (aliases, CTE and derived-table columns) are left to the
views. Unquoted identifiers are compared lower-cased, as the engine reads them.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import FieldRules
from infino_mcp.local.security.secure_view import SEARCH_FUNCTIONS, reaches_inside

SOURCE_COLUMN = "_source"


def check_select_fields(
    tree: exp.Expr,
    rules: FieldRules,
    fields: Collection[str],
    *,
    user: str = "",
    parts: Collection[exp.Expr] | None = None,
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
    del fields  # decisions never depend on which fields exist (see the module docstring)
    relations = _relation_names(tree)
    defined = _defined_names(tree)
    for part in [tree] if parts is None else parts:
        for column in part.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                continue
            path = _field_path(column, relations)
            if path in defined and not _names_itself(column, path):
                continue
            check_reference(path, rules, user, bare=allow_bare and _is_bare_projection(column, path))
        for func in part.find_all(exp.Anonymous):
            if str(func.this).lower() not in SEARCH_FUNCTIONS:
                continue
            for arg in func.expressions[1:]:
                if isinstance(arg, exp.Literal) and arg.is_string:
                    for name in {arg.this, arg.this.lower()}:
                        check_reference(name, rules, user, bare=False)
                        check_reference(name, rules.lowered(), user, bare=False)


def _defined_names(tree: exp.Expr) -> set[str]:
    """Names the query gives to values itself: select aliases, CTE and derived-table column lists."""
    names = {_engine_name(a.args["alias"]) for a in tree.find_all(exp.Alias) if a.args.get("alias") is not None}
    for alias in tree.find_all(exp.TableAlias):
        names |= {_engine_name(c) for c in alias.columns}
    return names


def _names_itself(column: exp.Column, path: str) -> bool:
    """``x AS x``: the alias defines the name from the column, so the column is no use of that name."""
    alias = column.parent.args.get("alias") if isinstance(column.parent, exp.Alias) else None
    return alias is not None and _engine_name(alias) == path


def _engine_name(ident: exp.Expr) -> str:
    """An identifier as the engine reads it: unquoted names are lower-cased."""
    return ident.name if isinstance(ident, exp.Identifier) and ident.args.get("quoted") else ident.name.lower()


def _relation_names(tree: exp.Expr) -> set[str]:
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
    node: exp.Expr = column
    parent = column.parent
    if isinstance(parent, exp.Alias):
        alias = parent.args.get("alias")
        if alias is None or _engine_name(alias) not in (path, _engine_name(column.this)):
            return False
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node.arg_key == "expressions"


def check_reference(path: str, rules: FieldRules, user: str, *, bare: bool) -> None:
    """ApiError(403) when ``rules`` hide ``path`` or mask it and it is used other than ``bare``ly selected."""
    who = f"user {user!r}" if user else "the caller"
    if path == SOURCE_COLUMN:
        raise ApiError(
            403, f"Field-level rules apply to {who} on this dataset, so '_source' (the whole document) cannot be read."
        )
    if path in ("_id", "_doc_id"):
        path = "_id"
    _check_field(path, rules, who, bare=bare)
    if not bare and reaches_inside(rules, path):
        raise ApiError(
            403,
            f"Permission denied: field rules of {who} hide or mask parts of {path!r}; name its readable fields instead.",
        )


def _check_field(field: str, rules: FieldRules, who: str, *, bare: bool) -> None:
    why = rules.why_hidden(field)
    if why:
        raise ApiError(
            403, f"Permission denied: field {field!r} is hidden from {who} ({why}); remove it from the query."
        )
    strategy = rules.mask_strategy(field)
    if strategy is not None and not bare:
        raise ApiError(
            403,
            f"Permission denied: field {field!r} is masked for {who} (Mask rule: {strategy}); it can be selected "
            "as it is, but not renamed or used in expressions, filters, grouping or sorting.",
        )
