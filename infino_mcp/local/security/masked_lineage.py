"""Masked values traced through the statement the engine runs: a 403 wherever one is compared or computed on.

The secure views already mask a masked field inside the view, so no query sees its
clear value; but a filter, sort, group, join condition or aggregate over ``'****'``
or a hash gives a silently wrong answer. ``sql_field_rules`` refuses a masked field
referenced by its name; this module follows every output column of every derived
table, CTE (with or without a column list), set operation, ``VALUES`` list, lateral
and scalar subquery back to the view columns it comes from, so a masked value
renamed on the way is refused the same way. A masked value may only travel as a
bare projection item (its name may change); every other use, and every name that
cannot be traced where a masked value could be behind it, is a 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlglot import exp

from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import FieldRules
from infino_mcp.local.security.secure_view import SEARCH_FUNCTIONS
from infino_mcp.local.security.sql_field_rules import check_reference
from infino_mcp.local.storage.catalog import field_for

Taint = frozenset  # of (engine table, field) pairs a value may come from
CLEAN: Taint = frozenset()
Refuse = Callable[[Taint], None]


@dataclass
class _Source:
    """A relation a SELECT reads: its output columns in order, or ``opaque`` (a real table, names unknown)."""

    columns: list[tuple[str, Taint]] = field(default_factory=list)
    opaque: Taint | None = None

    def lookup(self, name: str) -> Taint | None:
        found = [t for n, t in self.columns if n == name]
        if found:
            return frozenset().union(*found)
        return self.opaque

    def whole(self) -> Taint:
        return frozenset().union(self.opaque or CLEAN, *(t for _, t in self.columns))


@dataclass
class _Env:
    sources: dict[str, _Source]
    outer: _Env | None = None
    ctes: dict[str, _Source] = field(default_factory=dict)

    def cte(self, name: str) -> _Source | None:
        env: _Env | None = self
        while env is not None:
            if name in env.ctes:
                return env.ctes[name]
            env = env.outer
        return None


def check_masked_lineage(tree: exp.Expr, masked: dict[str, tuple[FieldRules, str]], *, allow_bare: bool = True) -> None:
    """ApiError(403) when a masked value of a secure view in ``tree`` (the engine's statement) is used other than
    as a bare projection item. ``masked`` maps each view's engine table to the caller's rules on it and a
    refusal callback's user; ``allow_bare=False``: the statement's own output may not carry one either."""

    def refuse(taint: Taint) -> None:
        table, name = sorted(taint)[0]
        rules, user = masked[table]
        check_reference(name, rules, user, bare=False)
        raise ApiError(403, f"Permission denied: field {name!r} is masked for you; it cannot be used here.")

    if not isinstance(tree, exp.Query):
        return
    try:
        columns = _Tracer(masked, refuse).query(tree, _Env({}))
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        raise ApiError(
            400, "Field rules apply to you and this statement's use of masked fields could not be traced; simplify it."
        ) from None
    if not allow_bare:
        for _, taint in columns:
            if taint:
                refuse(taint)


def _name(ident: exp.Expr | str | None) -> str:
    if ident is None:
        return ""
    if isinstance(ident, str):
        return ident.lower()
    return ident.name if isinstance(ident, exp.Identifier) and ident.args.get("quoted") else ident.name.lower()


def _renamed(columns: list[tuple[str, Taint]], alias: exp.Expr | None) -> list[tuple[str, Taint]]:
    names = [_name(c) for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
    out = [(names[i] if i < len(names) else n, t) for i, (n, t) in enumerate(columns)]
    if len(names) > len(columns):  # more names than traced columns: each could be any of them
        whole = frozenset().union(*(t for _, t in columns))
        out += [(n, whole) for n in names[len(columns) :]]
    return out


def _local(node: exp.Expr) -> Iterator[exp.Expr]:
    """The nodes below ``node`` that belong to its own query level (nested queries yielded, not entered)."""
    for child in node.iter_expressions():
        yield child
        if not isinstance(child, (exp.Select, exp.SetOperation)):
            yield from _local(child)


def _bare(node: exp.Expr) -> bool:
    """A projection item: ``node`` itself, or aliased, in a SELECT's list (a scalar subquery counts too)."""
    if isinstance(node.parent, exp.Subquery) and not node.parent.alias:
        node = node.parent
    if isinstance(node.parent, exp.Alias):
        node = node.parent
    return isinstance(node.parent, exp.Select) and node.arg_key == "expressions"


class _Tracer:
    def __init__(self, masked: dict[str, tuple[FieldRules, str]], refuse: Refuse) -> None:
        self.masked = masked
        self.refuse = refuse
        self.traced: dict[int, list[tuple[str, Taint]]] = {}  # a query met twice (projection, uses) traced once

    def query(self, node: exp.Expr, env: _Env) -> list[tuple[str, Taint]]:
        if id(node) not in self.traced:
            self.traced[id(node)] = self.trace(node, env)
        return self.traced[id(node)]

    def trace(self, node: exp.Expr, env: _Env) -> list[tuple[str, Taint]]:
        if isinstance(node, exp.Subquery):
            columns = self.query(node.this, env)
            self.uses(node, _Env({}, env), skip=("this", "alias"), projection=columns)  # (SELECT ...) ORDER BY 1
            return _renamed(columns, node.args.get("alias"))
        if isinstance(node, exp.SetOperation):
            return self.set_operation(node, env)
        if isinstance(node, exp.Select):
            return self.select(node, env)
        if isinstance(node, exp.Values):
            return self.values(node, env)
        return [("", self.whole_expression(node, env))]

    def set_operation(self, node: exp.SetOperation, env: _Env) -> list[tuple[str, Taint]]:
        env = self.with_ctes(node, env)
        left = self.query(node.this, env)
        right = self.query(node.expression, env)
        columns = [(n, t | (right[i][1] if i < len(right) else CLEAN)) for i, (n, t) in enumerate(left)]
        deduplicates = not isinstance(node, exp.Union) or node.args.get("distinct") is not False
        if deduplicates:  # UNION (distinct), INTERSECT, EXCEPT compare whole rows
            for _, taint in columns:
                if taint:
                    self.refuse(taint)
        self.uses(node, _Env({}, env), skip=("this", "expression", "with_", "with"), projection=columns)
        return columns

    def values(self, node: exp.Values, env: _Env) -> list[tuple[str, Taint]]:
        width = max((len(row.expressions) for row in node.expressions if isinstance(row, exp.Tuple)), default=0)
        taints = [CLEAN] * width
        for row in node.expressions:
            items = row.expressions if isinstance(row, exp.Tuple) else [row]
            for i, item in enumerate(items[:width]):
                taints[i] |= self.whole_expression(item, env)
        return _renamed([(f"column{i + 1}", t) for i, t in enumerate(taints)], node.args.get("alias"))

    def with_ctes(self, node: exp.Expr, env: _Env) -> _Env:
        with_ = node.args.get("with_") or node.args.get("with")
        if not isinstance(with_, exp.With):
            return env
        inner = _Env({}, env)
        for cte in with_.expressions:
            alias = cte.args.get("alias")
            name = _name(alias.this if isinstance(alias, exp.TableAlias) else None)
            body = cte.this
            if with_.args.get("recursive") and isinstance(body, exp.SetOperation):
                inner.ctes[name] = _Source(_renamed(self.query(body.this, inner), alias))
            inner.ctes[name] = _Source(_renamed(self.query(body, inner), alias))
        return inner

    def view(self, select: exp.Select) -> list[tuple[str, Taint]] | None:
        """A secure view's columns, each masked one tainted by its field; None when ``select`` is no view."""
        from_ = select.args.get("from_") or select.args.get("from")
        table = from_.this if isinstance(from_, exp.From) else None
        if not isinstance(table, exp.Table) or select.args.get("joins"):
            return None
        name = ""
        if isinstance(table.this, exp.Identifier):
            name = table.name
        elif isinstance(table.this, exp.Anonymous) and str(table.this.this).lower() in SEARCH_FUNCTIONS:
            first = table.this.expressions[0] if table.this.expressions else None
            name = first.this if isinstance(first, exp.Literal) else ""
        if name not in self.masked:
            return None
        rules = self.masked[name][0]
        columns = []
        for item in select.expressions:
            column = item.alias_or_name
            masked = rules.mask_strategy(field_for(column)) is not None
            columns.append((column, frozenset({(name, field_for(column))}) if masked else CLEAN))
        return columns

    def select(self, select: exp.Select, outer: _Env) -> list[tuple[str, Taint]]:
        viewed = self.view(select)
        if viewed is not None:
            return viewed
        env = _Env({}, self.with_ctes(select, outer))
        from_ = select.args.get("from_") or select.args.get("from")
        relations = [from_.this] if isinstance(from_, exp.From) else []
        joins = select.args.get("joins") or []
        for relation in relations + [j.this for j in joins]:
            self.add_source(relation, env)
        for join in joins:
            self.join_keys(join, env)
        columns: list[tuple[str, Taint]] = []
        for item in select.expressions:
            if isinstance(item, exp.Star):
                for source in env.sources.values():
                    columns += source.columns or [("*", source.opaque or CLEAN)]
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                source = env.sources.get(_name(item.table))
                columns += source.columns if source and source.columns else [("*", self.everything(env))]
            else:
                columns.append((_name(item.alias_or_name), self.whole_expression(item, env, use=False)))
        group = select.args.get("group")
        if select.args.get("distinct") or (isinstance(group, exp.Group) and group.args.get("all")):
            for _, taint in columns:
                if taint:
                    self.refuse(taint)
        self.uses(select, env, skip=("from_", "from", "joins", "with_", "with"), projection=columns)
        for join in joins:
            self.uses(join, env, skip=("this",))
        return columns

    def add_source(self, relation: exp.Expr, env: _Env) -> None:
        alias = _name(relation.alias) if relation.alias else ""
        if isinstance(relation, exp.Table) and isinstance(relation.this, exp.Identifier):
            cte = env.cte(_name(relation.this))
            source = _Source(_renamed(cte.columns, relation.args.get("alias"))) if cte else _Source(opaque=CLEAN)
            env.sources[alias or _name(relation.this)] = source
            return
        inner = relation.this if isinstance(relation, exp.Lateral) else relation
        if isinstance(relation, exp.Table):  # a table function: its arguments are uses
            self.uses(relation, env)
            env.sources[alias or _name(relation.name)] = _Source(opaque=CLEAN)
            return
        if isinstance(inner, (exp.Subquery, exp.Query, exp.Values)):
            columns = self.query(inner, env)  # lateral subqueries see earlier sources through env
            env.sources[alias or _name(inner.alias)] = _Source(_renamed(columns, relation.args.get("alias")))
            return
        self.uses(relation, env)
        taint = self.whole_expression(relation, env)
        env.sources[alias] = _Source(opaque=taint)

    def join_keys(self, join: exp.Join, env: _Env) -> None:
        names = [_name(i) for i in join.args.get("using") or []]
        if join.args.get("method") == "NATURAL" or str(join.args.get("kind", "")).upper() == "NATURAL":
            names += [n for s in env.sources.values() for n, _ in s.columns]
        for name in names:
            for source in env.sources.values():
                taint = source.lookup(name)
                if taint:
                    self.refuse(taint)

    def everything(self, env: _Env | None) -> Taint:
        out = CLEAN
        while env is not None:
            for source in env.sources.values():
                out |= source.whole()
            env = env.outer
        return out

    def resolve(self, column: exp.Column, env: _Env, projection: list[tuple[str, Taint]] | None) -> Taint:
        name = _name(column.this)
        qualifier = [_name(p) for p in column.parts[:-1]]
        scope: _Env | None = env
        while scope is not None:
            if qualifier:
                source = scope.sources.get(qualifier[-1])
                if source is not None:
                    found = source.lookup(name)
                    return found if found is not None else source.whole()
            else:
                found_any = [t for s in scope.sources.values() if (t := s.lookup(name)) is not None]
                if projection is not None and scope is env:
                    found_any += [t for n, t in projection if n == name]
                if found_any:
                    return frozenset().union(*found_any)
                if name in scope.sources:  # a whole-row reference
                    return scope.sources[name].whole()
            scope = scope.outer
        return self.everything(env)  # not traceable: anything it could be

    def whole_expression(self, node: exp.Expr, env: _Env, *, use: bool = True) -> Taint:
        """Every value ``node`` may carry (columns and nested queries), refusing the uses inside it when ``use``."""
        out = CLEAN
        if isinstance(node, exp.Column):
            return self.resolve(node, env, None)
        for child in _local(node):
            if isinstance(child, (exp.Select, exp.SetOperation)):
                out |= frozenset().union(*(t for _, t in self.query(child, env)))
            elif isinstance(child, exp.Column) and not isinstance(child.this, exp.Star):
                out |= self.resolve(child, env, None)
        if use and out:
            self.refuse(out)
        return out

    def uses(
        self,
        node: exp.Expr,
        env: _Env,
        *,
        skip: tuple[str, ...] = (),
        projection: list[tuple[str, Taint]] | None = None,
    ) -> None:
        """Refuse every masked value ``node`` compares or computes on, outside the parts named in ``skip``."""
        for key, value in node.args.items():
            if key in skip:
                continue
            for part in value if isinstance(value, list) else [value]:
                if isinstance(part, exp.Expr):
                    self.check_part(part, env, projection)

    def check_part(self, part: exp.Expr, env: _Env, projection: list[tuple[str, Taint]] | None) -> None:
        nodes = [part, *_local(part)] if not isinstance(part, (exp.Select, exp.SetOperation)) else [part]
        for node in nodes:
            if isinstance(node, (exp.Select, exp.SetOperation)):
                columns = self.query(node, env)
                taint = frozenset().union(*(t for _, t in columns))
                exists = isinstance(node.parent, exp.Exists) or isinstance(
                    node.parent and node.parent.parent, exp.Exists
                )
                if taint and not exists and not _bare(node):
                    self.refuse(taint)
            elif isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                taint = self.resolve(node, env, projection)
                if taint and not _bare(node):
                    self.refuse(taint)
            elif (
                isinstance(node, exp.Literal)
                and not node.is_string
                and isinstance(node.parent, exp.Ordered | exp.Group)
            ):
                self.ordinal(node, projection)

    def ordinal(self, literal: exp.Literal, projection: list[tuple[str, Taint]] | None) -> None:
        """``ORDER BY 2`` / ``GROUP BY 2`` name a projection item by position."""
        if projection is None or not literal.this.isdigit():
            return
        index = int(literal.this) - 1
        if 0 <= index < len(projection) and projection[index][1]:
            self.refuse(projection[index][1])
