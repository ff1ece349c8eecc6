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
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from infino_mcp.local.catalog import DOC_ID, Catalog, DatasetInfo, column_for
from infino_mcp.local.http import ApiError

SEARCH_FUNCTIONS = ("bm25_search_prefix", "bm25_search", "exact_match", "token_match", "vector_search", "hybrid_search")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")


@dataclass
class Rewritten:
    """A statement ready for the engine, and what it touches."""

    sql: str
    tree: exp.Expression
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)  # dataset name -> info
    explicit_id: bool = False  # the user selected ``_id`` by name


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


def normalize(sql: str, catalog: Catalog) -> str:
    sql = sql.strip().rstrip(";").strip()
    sql = _outside_quotes(sql, lambda part: part)
    return _quote_bare_names(sql, catalog.names())


def parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except (ParseError, TokenError) as exc:
        raise ApiError(400, f"SQL syntax error: {_first_line(str(exc))}") from None
    if len(statements) != 1:
        raise ApiError(400, f"Send exactly one SQL statement (got {len(statements)}).")
    return statements[0]


def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"<Token token_type: [^,]+, text: (.*?), line: .*?>", r"'\1'", text)
    return text.splitlines()[0] if text else text


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


def rewrite(sql: str, catalog: Catalog) -> Rewritten:
    """Resolve datasets and renamed fields; ApiError(404) for an unknown dataset."""
    text = normalize(sql, catalog)
    tree = parse(text)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    edits: list[tuple[int, int, str]] = []
    datasets: dict[str, DatasetInfo] = {}
    for table in tree.find_all(exp.Table):
        ident = table.this
        if not isinstance(ident, exp.Identifier) or table.args.get("db") is not None:
            continue
        name = ident.name
        if name in ctes:
            continue
        dataset = _lookup(catalog, name, bool(ident.args.get("quoted")))
        if dataset is None:
            raise ApiError(404, f"Dataset '{name}' not found; list the datasets (GET /metadata) for the names.")
        info = catalog.get(dataset)
        datasets[dataset] = info
        meta = ident.meta
        if "start" not in meta:
            continue
        replacement = _quote(info.table)
        in_from = isinstance(table.parent, (exp.From, exp.Join)) or table.find_ancestor(exp.From, exp.Join)
        if not table.alias and in_from and info.table != name:
            replacement += " AS " + _quote(name)
        edits.append((meta["start"], meta["end"] + 1, replacement))
    has_search = False
    for func in tree.find_all(exp.Anonymous):
        if str(func.this).lower() in SEARCH_FUNCTIONS:
            has_search = True
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
    text = _splice(text, edits)
    text = _rewrite_search_tables(text, catalog, datasets)
    return Rewritten(sql=text, tree=tree, datasets=datasets, explicit_id=explicit_id)


def _column_target(name: str, datasets: dict[str, DatasetInfo], has_search: bool) -> str | None:
    if name == "_id":
        return _quote(DOC_ID)
    column = column_for(name)
    if column == name or (name == "score" and has_search):
        return None
    if any(info.column(name) == column for info in datasets.values()):
        return _quote(column)
    return None


def _qualifier_edits(tree: exp.Expression, datasets: dict[str, DatasetInfo]) -> list[tuple[int, int, str]]:
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


def _rewrite_search_tables(text: str, catalog: Catalog, datasets: dict[str, DatasetInfo]) -> str:
    """The first argument of search TVFs (``bm25_search('dataset', ...)``) names a dataset too."""
    pattern = re.compile(r"\b(" + "|".join(SEARCH_FUNCTIONS) + r")\s*\(\s*'((?:[^']|'')*)'", re.IGNORECASE)

    def replace(match: re.Match) -> str:
        name = match.group(2).replace("''", "'")
        dataset = _lookup(catalog, name, quoted=False)
        if dataset is None:
            raise ApiError(404, f"Dataset '{name}' not found; list the datasets (GET /metadata) for the names.")
        info = catalog.get(dataset)
        datasets[dataset] = info
        return f"{match.group(1)}('{info.table}'"

    return pattern.sub(replace, text)


def engine_names_to_user(message: str, datasets: dict[str, DatasetInfo]) -> str:
    """An engine message with table and column names put back as the user wrote them."""
    message = message.replace("datafusion.public.", "")
    # Internal columns in "Valid fields are ..." lists: the engine row id and the original document.
    message = re.sub(r'(?:(?:"[^"]*"|[\w\-]+)\.)?(?<![\w~])(?:_id|_source)(?:, |(?=\.$))', "", message)
    for info in datasets.values():
        if info.table != info.name:
            message = message.replace(info.table, info.name)
    message = re.sub(r"~(\w)", r"\1", message)
    return message.replace(DOC_ID, "_id")
