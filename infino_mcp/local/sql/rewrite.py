# Over 400 lines: one pass over the sqlglot tree rewrites names, and its helpers share that tree walk.
"""SQL as users write it -> SQL over the engine's real table and column names.

Users write dataset names as they know them: quoted (``"sample-ecommerce-data"``),
in backticks, or bare even when they contain dashes or dots. The engine only
knows the derived table names (see ``catalog``), and stores a few fields under
renamed columns (``score`` -> ``~score``; ``_id`` means the document id, stored
in ``_doc_id``).

The statement is parsed with sqlglot only to *find* identifiers: each table
reference, and each column that needs renaming, is replaced in place at the
position sqlglot reports, so the rest of the statement reaches the engine
exactly as written (DataFusion functions sqlglot does not know stay intact).
A table reference without an alias keeps the dataset name as its alias, so
``"Logs.2024".level`` still resolves and engine messages name the dataset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from infino_mcp.limits import LimitError, check_sql
from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import FieldRules
from infino_mcp.local.security.secure_view import (
    SEARCH_FUNCTIONS,
    canonical,
    check_views,
    no_nested_edits,
    secured_search,
    view_sql,
)
from infino_mcp.local.storage.catalog import (
    DOC_ID,
    INTERNAL_COLUMNS,
    Catalog,
    DatasetInfo,
    column_for,
    field_for,
)
from infino_mcp.sql_dialect import parse_statements, render
from infino_mcp.sql_limits import check_sql_values

_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")


@dataclass
class Rewritten:
    """A statement ready for the engine, and what it touches."""

    sql: str
    tree: exp.Expr
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)  # dataset name -> info
    explicit_id: bool = False  # the user selected ``_id`` by name
    engine_tree: exp.Expr | None = None  # ``sql`` parsed, when secure views were checked on it


def _outside_quotes(sql: str, transform) -> str:
    """Apply ``transform`` to the parts of ``sql`` outside quotes; backticks become double quotes."""
    out, last = [], 0
    for match in _QUOTED.finditer(sql):
        out.append(transform(sql[last : match.start()]))
        token = match.group()
        if token.startswith("`"):
            token = '"' + token[1:-1].replace('"', '""') + '"'
        out.append(token)
        last = match.end()
    out.append(transform(sql[last:]))
    return "".join(out)


def _quote_bare_names(sql: str, names: list[str]) -> str:
    """Quote dataset names written bare that SQL would split (``logs-2024``, ``Logs.2024``)."""
    special = sorted((n for n in names if not re.fullmatch(r"[a-z_][a-z0-9_]*", n)), key=len, reverse=True)
    if not special:
        return sql
    pattern = re.compile(
        r"(?<![\w.\-@\"])(" + "|".join(re.escape(n) for n in special) + r")(?![\w\-@\"])(?!\.[\w\"])",
        re.IGNORECASE,
    )
    by_lower: dict[str, list[str]] = {}
    for name in special:
        by_lower.setdefault(name.lower(), []).append(name)

    def canonical(written: str) -> str:
        matches = by_lower.get(written.lower(), [])
        return written if written in matches or len(matches) != 1 else matches[0]

    def transform(part: str) -> str:
        return pattern.sub(lambda m: _quote(canonical(m.group(1))), part)

    return _outside_quotes(sql, transform)


def within_limits(sql: str) -> None:
    """400 before any parsing when ``sql`` is too long or nests or chains too much (see ``infino_mcp.limits``).
    Checked on what the caller wrote (``normalize``), not on the engine's text with secure views in it."""
    try:
        check_sql(sql)
    except LimitError as exc:
        raise ApiError(400, str(exc)) from None


def normalize(sql: str, catalog: Catalog) -> str:
    within_limits(sql)
    sql = sql.strip().rstrip(";").strip()
    sql = _outside_quotes(sql, lambda part: part)
    return _quote_bare_names(sql, catalog.names())


def parse(sql: str) -> exp.Expr:
    try:
        statements = parse_statements(sql)
    except (ParseError, TokenError) as exc:
        raise ApiError(400, f"SQL syntax error: {syntax_reason(exc)}; check the statement.") from None
    if len(statements) != 1:
        raise ApiError(400, f"Send exactly one SQL statement (got {len(statements)}).")
    try:
        check_sql_values(statements[0])
    except LimitError as exc:
        raise ApiError(400, str(exc)) from None
    return statements[0]


_REQUIRED = re.compile(r"Required keyword: '\w+' missing for <class '(?:[\w.]*\.)?(\w+)'>")
_CLAUSES = {"Order": "ORDER BY", "Group": "GROUP BY", "Where": "WHERE", "Limit": "LIMIT", "Having": "HAVING"}


def syntax_reason(exc: Exception) -> str:
    """A short, parser-neutral reason for a sqlglot error, with the position when it has one."""
    errors = getattr(exc, "errors", None) or []
    if not errors:
        text = _plain(str(exc))
        if text.startswith("Error tokenizing"):
            return "an unclosed quote or an unexpected character" + text[len("Error tokenizing") :].replace(
                " '", " near '", 1
            )
        return text.splitlines()[0] if text else "the statement could not be read"
    first = errors[0]
    near = (first.get("highlight") or "").strip()
    required = _REQUIRED.match(first.get("description") or "")
    description = _plain(first.get("description") or "")
    if required:
        reason = _incomplete(required.group(1), near)
    elif description.startswith("Invalid expression / Unexpected token"):
        reason = f"unexpected {near!r}" if near else "unexpected token"
    else:
        reason = description.replace("'SENTINEL'", "the end of the statement")
        reason = re.sub(r"^Expecting (\S+)$", r"expected '\1'", reason)
        reason = reason[:1].lower() + reason[1:]
    if first.get("line"):
        reason += f" at line {first['line']}, column {first.get('col', '?')}"
        if near and repr(near) not in reason and not reason.startswith(near.upper()):
            reason += f" (near {near!r})"
    return reason


def _plain(text: str) -> str:
    """``text`` without terminal colours, token reprs and Python class names."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"<Token token_type: [^,]+, text: (.*?), line: .*?>", r"'\1'", text)
    return re.sub(r"<class '(?:[\w.]*\.)?(\w+)'>", lambda m: m.group(1).upper(), text)


def _incomplete(node: str, near: str) -> str:
    """What a "required keyword missing" error means for the node sqlglot was building."""
    cls = getattr(exp, node, None)
    if isinstance(cls, type) and issubclass(cls, exp.Binary):
        try:
            operator = render(cls(this=exp.column("a"), expression=exp.column("b")))[2:-2]
        except Exception:
            operator = ""
        if operator:
            return f"nothing follows {operator!r}"
    clause = _CLAUSES.get(node) or re.sub(r"(?<!^)(?=[A-Z])", " ", node).upper()
    return f"{clause} is incomplete"


def _lookup(catalog: Catalog, name: str, quoted: bool) -> str | None:
    """The dataset a table reference means: exact name, or case-insensitive when unquoted."""
    if catalog.exists(name):
        return name
    if not quoted:
        matches = [n for n in catalog.names() if n.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rewrite(sql: str, catalog: Catalog, rules_for: Callable[[str], FieldRules] | None = None) -> Rewritten:
    """Resolve datasets and renamed fields; ApiError(404) for an unknown dataset.

    Every table reference is resolved (written bare, as ``public.name`` or
    ``datafusion.public.name``; any other schema or catalog is refused), and so is
    the dataset argument of each search function, taken from the parsed tree. A
    name that is also a CTE's still counts as a dataset when it names one (the
    engine may read the table there, e.g. inside the CTE's own body). Finally the
    statement as the engine will see it is parsed again and every table it reads
    must belong to a resolved dataset (``Rewritten.datasets``, what callers authorize).

    ``rules_for``: the caller's field rules per dataset. Each reference to a dataset
    with rules (a table, or a search function over it) is replaced by its secure view
    (``security.secure_view``), and the final statement must read those tables
    through the views only (400 otherwise).
    """
    text = normalize(sql, catalog)
    tree = parse(text)
    ctes = {_engine_ident(ident) for cte in tree.find_all(exp.CTE) if (ident := _cte_ident(cte)) is not None}
    edits: list[tuple[int, int, str]] = []
    datasets: dict[str, DatasetInfo] = {}
    views: dict[str, set[str]] = {}  # engine table -> the canonical SQL of its views in this statement

    def rules(dataset: str) -> FieldRules | None:
        found = rules_for(dataset) if rules_for is not None else None
        return found if found is not None and not found.identity else None

    def add_view(info: DatasetInfo, found: FieldRules, source: str | None = None) -> str:
        body = view_sql(info, found, source)
        views.setdefault(info.table, set()).add(canonical(body))
        return f"({body})"

    for table in tree.find_all(exp.Table):
        ident = table.this
        if not isinstance(ident, exp.Identifier):
            continue  # a table function: search functions below, the rest checked by _check_engine_tables
        start = qualified_start(table)
        name = ident.name
        quoted = bool(ident.args.get("quoted"))
        dataset = _lookup(catalog, name, quoted)
        is_cte = start == ident.meta.get("start") and _engine_ident(ident) in ctes
        if dataset is None:
            if is_cte:
                continue
            raise ApiError(404, f"Dataset '{name}' not found; get_datasets lists the datasets that exist.")
        info = catalog.get(dataset)
        datasets[dataset] = info
        found = rules(dataset)
        if found is not None and _engine_ident(ident) in ctes | {c.lower() for c in ctes}:
            raise ApiError(400, f"A CTE here may not be named like dataset {name!r}; rename the CTE.")
        if is_cte or start is None or "end" not in ident.meta:
            continue
        replacement = _quote(info.table)
        in_from = isinstance(table.parent, (exp.From, exp.Join)) or table.find_ancestor(exp.From, exp.Join)
        if found is not None and isinstance(table.parent, (exp.From, exp.Join)):
            replacement = add_view(info, found)
            if not table.alias:
                replacement += " AS " + _quote(name)
        elif found is not None and isinstance(table.parent, exp.Describe):
            replacement = f"SELECT * FROM {add_view(info, found)} AS {_quote(name)}"
        elif not table.alias and in_from and info.table != name:
            replacement += " AS " + _quote(name)
        edits.append((start, ident.meta["end"] + 1, replacement))
    has_search = False
    for func in tree.find_all(exp.Anonymous):
        if str(func.this).lower() in SEARCH_FUNCTIONS:
            has_search = True
            edit = _search_dataset_edit(func, catalog, datasets)
            dataset = _search_dataset(func, catalog)
            found = rules(dataset)
            if found is not None:
                edit = secured_search(text, func, edit, datasets[dataset], found, add_view)
            edits.append(edit)
    explicit_id = False
    for column in tree.find_all(exp.Column):
        ident = column.this
        if not isinstance(ident, exp.Identifier) or "start" not in ident.meta:
            continue
        target = _column_target(ident.name, datasets, has_search)
        if ident.name == "_id" and isinstance(column.parent, exp.Select) and target:
            explicit_id = True
            target = f"{target} AS {_quote('_id')}"
        if target:
            edits.append((ident.meta["start"], ident.meta["end"] + 1, target))
    for qualifier_edit in _qualifier_edits(tree, datasets):
        edits.append(qualifier_edit)
    if views:
        no_nested_edits(edits)
    text = _splice(text, edits)
    _check_engine_tables(text, catalog, datasets)
    engine_tree = parse(text) if views else None
    if engine_tree is not None:
        check_views(engine_tree, views)
    return Rewritten(sql=text, tree=tree, datasets=datasets, explicit_id=explicit_id, engine_tree=engine_tree)


def _search_dataset(func: exp.Anonymous, catalog: Catalog) -> str:
    first = func.expressions[0]
    return _lookup(catalog, first.this, quoted=False) or ""


_DEFAULT_SCHEMAS = ([], ["public"], ["datafusion", "public"])


def _engine_ident(ident: exp.Expr) -> str:
    """An identifier as the engine reads it: unquoted names are lower-cased."""
    name = ident.name
    return name if isinstance(ident, exp.Identifier) and ident.args.get("quoted") else name.lower()


def _cte_ident(cte: exp.CTE) -> exp.Identifier | None:
    alias = cte.args.get("alias")
    ident = alias.this if isinstance(alias, exp.TableAlias) else None
    return ident if isinstance(ident, exp.Identifier) else None


def qualified_start(table: exp.Table) -> int | None:
    """Where the table reference starts (its catalog or schema when written); ApiError(400) for another schema."""
    parts: list[exp.Expr] = [table.args[k] for k in ("catalog", "db") if table.args.get(k) is not None]
    if (
        any(not isinstance(p, exp.Identifier) for p in parts)
        or [_engine_ident(p) for p in parts] not in _DEFAULT_SCHEMAS
    ):
        written = ".".join(render(p) for p in parts)
        raise ApiError(
            400, f"Schema '{written}' is not available here; name datasets without a schema (or with public.)."
        )
    first = parts[0] if parts else table.this
    return first.meta.get("start")


def _search_dataset_edit(
    func: exp.Anonymous, catalog: Catalog, datasets: dict[str, DatasetInfo]
) -> tuple[int, int, str]:
    """The first argument of a search function (``bm25_search('dataset', ...)``) names a dataset: resolve it."""
    first = func.expressions[0] if func.expressions else None
    if not (isinstance(first, exp.Literal) and first.is_string and "start" in first.meta and "end" in first.meta):
        raise ApiError(
            400,
            f"{func.this}() takes the dataset name as its first argument, as a string literal: {func.this}('dataset', ...).",
        )
    dataset = _lookup(catalog, first.this, quoted=False)
    if dataset is None:
        raise ApiError(404, f"Dataset '{first.this}' not found; get_datasets lists the datasets that exist.")
    info = catalog.get(dataset)
    datasets[dataset] = info
    return (first.meta["start"], first.meta["end"] + 1, "'" + info.table.replace("'", "''") + "'")


def _check_engine_tables(text: str, catalog: Catalog, datasets: dict[str, DatasetInfo]) -> None:
    """ApiError(400) unless every table the engine will read in ``text`` is one of ``datasets``' tables.

    A defence in depth for the resolution above: reads the final statement as the
    engine receives it, so nothing the rewrite missed reaches an unresolved table.
    """
    tree = parse(text)
    allowed = {info.table for info in datasets.values()}
    ctes = {_engine_ident(ident) for cte in tree.find_all(exp.CTE) if (ident := _cte_ident(cte)) is not None}
    for func in tree.find_all(exp.Anonymous):
        if str(func.this).lower() in SEARCH_FUNCTIONS:
            first = func.expressions[0] if func.expressions else None
            if not (isinstance(first, exp.Literal) and first.is_string and first.this in allowed):
                raise ApiError(400, f"The statement reads a dataset through {func.this}() that could not be resolved.")
    for table in tree.find_all(exp.Table):
        ident = table.this
        if isinstance(ident, exp.Func):
            continue  # search functions checked above; other table functions read no dataset
        if (
            not isinstance(ident, exp.Identifier)
            or table.args.get("db") is not None
            or table.args.get("catalog") is not None
        ):
            raise ApiError(400, "The statement reads a table that could not be resolved to a dataset.")
        name = _engine_ident(ident)
        if name in allowed:
            continue
        if name in ctes and not catalog.is_engine_table(name):
            continue
        raise ApiError(400, f"The statement reads '{ident.name}', which could not be resolved to a dataset.")


def _column_target(name: str, datasets: dict[str, DatasetInfo], has_search: bool) -> str | None:
    if name == "_id":
        return _quote(DOC_ID)
    column = column_for(name)
    if column == name or (name == "score" and has_search):
        return None
    if any(info.column(name) == column for info in datasets.values()):
        return _quote(column)
    return None


def _qualifier_edits(tree: exp.Expr, datasets: dict[str, DatasetInfo]) -> list[tuple[int, int, str]]:
    """Column qualifiers written as a bare dataset name that is not a valid alias as written."""
    edits = []
    for column in tree.find_all(exp.Column):
        qualifier = column.args.get("table")
        if isinstance(qualifier, exp.Identifier) and "start" in qualifier.meta:
            name = qualifier.name
            if name in datasets and not qualifier.args.get("quoted") and name != name.lower():
                edits.append((qualifier.meta["start"], qualifier.meta["end"] + 1, _quote(name)))
    return edits


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(set(edits), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


QUOTE_HINT = 'a name with a dot, dash or @ must be double-quoted, e.g. "{}"'
_NAME = r'(?:"(?:[^"]|"")*"|[^\s,."]+)'
_VALID_FIELDS = re.compile(r"(?s)^(.*No field named (.+?)\. )Valid fields are (.*?)\.?$")
_NO_TYPE = re.compile(r'variable \["(@[^"]*)"\] has no type information')


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') and name.endswith('"') else name


def _sql_name(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else _quote(name)


def _field_list(text: str, shown: int = 100) -> str:
    """The engine's "Valid fields" list as the user's field names: no qualifiers, no internals, no repeats."""
    names: list[str] = []
    for match in re.finditer(rf"(?:{_NAME}\.)?({_NAME})", text):
        column = _unquote(match.group(1))
        if column in INTERNAL_COLUMNS:
            continue
        name = field_for(column)
        if name not in names:
            names.append(name)
    listed = ", ".join(_sql_name(n) for n in names[:shown])
    return listed + (f" and {len(names) - shown} more (get_dataset_schema lists them)" if len(names) > shown else "")


def _special_fields(datasets: dict[str, DatasetInfo]) -> list[str]:
    """Field names SQL must quote because of a dot, dash or @, longest first."""
    names = {f for info in datasets.values() for f in info.fields if re.search(r"[.\-@]", f)}
    return sorted(names, key=len, reverse=True)


def _quote_hint(missing: str, datasets: dict[str, DatasetInfo], sql: str) -> str | None:
    """The quoting hint when the missing name is a dotted/dashed/@ field written unquoted (None otherwise)."""
    special = _special_fields(datasets)
    bare = _unquote(missing)
    if bare in special:
        return QUOTE_HINT.format(bare)
    outside = _QUOTED.sub(" ", sql)
    for name in special:
        if re.search(r"(?<![\w\"@.\-])" + re.escape(name) + r"(?![\w\"\-])", outside):
            return QUOTE_HINT.format(name)
    parts = re.fullmatch(rf"(?:({_NAME})\.)?({_NAME})", missing)
    if parts is None:
        return None
    qualifier, column = parts.groups()
    if qualifier is not None and _unquote(qualifier) in _qualifiers(sql, datasets):
        qualifier = None  # a table or alias: only the column part counts
    if column.startswith('"') or (qualifier is not None and qualifier.startswith('"')):
        return None
    written = column if qualifier is None else f"{qualifier}.{column}"
    return QUOTE_HINT.format(written) if re.search(r"[.\-@]", written) else None


def _qualifiers(sql: str, datasets: dict[str, DatasetInfo]) -> set[str]:
    """Names a column may be qualified with: dataset and table names and aliases in ``sql``."""
    names = set(datasets) | {info.table for info in datasets.values()}
    try:
        trees = parse_statements(sql)
    except Exception:
        return names
    for tree in trees:
        for node in tree.find_all(exp.Table, exp.Subquery, exp.CTE):
            if node.alias_or_name:
                names.add(node.alias_or_name)
    return names


def engine_names_to_user(message: str, datasets: dict[str, DatasetInfo], sql: str = "") -> str:
    """An engine message with table and column names put back as the user wrote them.

    A "No field named" error lists the user's field names (no table qualifiers, no
    internal columns), and a name the SQL left unquoted although it holds a dot, a
    dash or an @ gets a quoting hint; ``sql`` is the statement sent to the engine.
    """
    message = message.replace("datafusion.public.", "")
    valid = _VALID_FIELDS.match(message)
    no_type = _NO_TYPE.search(message)
    if valid:
        head, missing = _user_names(valid.group(1), datasets), _user_names(valid.group(2), datasets)
        message = f"{head}Valid fields are {_field_list(valid.group(3))}."
        hint = _quote_hint(missing, datasets, sql)
        return f"{message[:-1]}; {hint}." if hint else message
    message = _user_names(message, datasets)
    if no_type:
        return f"{message.rstrip('.')}; {QUOTE_HINT.format(no_type.group(1))}."
    return message


def _user_names(message: str, datasets: dict[str, DatasetInfo]) -> str:
    """``message`` with engine table and storage column names replaced by the user's names."""
    # Internal columns in listed names: the engine row id and the original document.
    message = re.sub(r'(?:(?:"[^"]*"|[\w\-]+)\.)?(?<![\w~])(?:_id|_source)(?:, |(?=\.$))', "", message)
    for info in datasets.values():
        if info.table != info.name:
            message = message.replace(info.table, info.name)
    message = re.sub(r"~(\w)", r"\1", message)
    return message.replace(DOC_ID, "_id")
