"""The schema layer: does every table and column a query names exist?

:func:`check_schema` resolves names scope by scope (sqlglot's
:func:`~sqlglot.optimizer.scope.traverse_scope`) against a :class:`SchemaIndex` built
once from the extracted :class:`~data_create.records.SchemaMetadata`.  It does not call
``qualify()``: that rewrites the whole tree and is about three times slower than this
walk, which only looks names up.

Identifiers follow the engine's rules (from :mod:`data_create.engines`): PostgreSQL
folds unquoted names to lower case and matches quoted ones exactly; SQLite, MySQL
and SQL Server compare names case-insensitively (MySQL table names exactly when the
server says so, ``metadata.table_names_case_sensitive``).

>>> from data_create.records import Column, SchemaMetadata, Table
>>> md = SchemaMetadata("postgresql", "postgres", "shop", default_schema="public", tables=(
...     Table("orders", "public", columns=(Column("order_id", "int", "integer"),
...                                        Column("customer_id", "int", "integer"))),))
>>> import sqlglot
>>> check_schema(sqlglot.parse_one("SELECT custmer_id FROM orders", read="postgres"), SchemaIndex(md))
"unknown column 'custmer_id' in table orders — did you mean customer_id?"
>>> check_schema(sqlglot.parse_one('SELECT "Order_ID" FROM Orders', read="postgres"), SchemaIndex(md))
"unknown column 'Order_ID' in table orders — did you mean order_id?"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope

from . import engines
from .records import SchemaMetadata, Table

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    # PostgreSQL folds only ASCII letters of unquoted identifiers in UTF-8 databases.
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class _TableEntry:
    table: Table
    columns: dict[str, str]  # lookup key -> real name


@dataclass
class _Output:
    """What a FROM-clause source offers: column keys, or None when unknowable."""

    columns: dict[str, str] | None  # key -> display name; None: opaque (table function...)
    partial: bool = False  # some unnamed projections (``count(*)``): other names may exist
    label: str = ""  # how messages name the source: "table orders", "derived table s"


class SchemaIndex:
    """Tables and columns of one database, keyed for fast lookups under its case rules."""

    def __init__(self, metadata: SchemaMetadata):
        self.metadata = metadata
        self.profile = engines.get(metadata.engine)
        self.fold_unquoted = self.profile.fold_unquoted == "lower"
        tables_ci = self.profile.case_insensitive_tables
        if metadata.table_names_case_sensitive is not None:
            tables_ci = tables_ci and not metadata.table_names_case_sensitive
        self.tables_case_insensitive = tables_ci
        self.columns_case_insensitive = self.profile.case_insensitive_columns
        # Where aliases resolve and which columns exist undeclared: engine facts,
        # checked against the real engines in tests/test_schema_check.py.
        self.alias_rule = self.profile.alias_rule
        self.implicit_columns = self.profile.implicit_columns

        self._by_name: dict[str, list[_TableEntry]] = {}
        self._by_qualified: dict[tuple[str, str], _TableEntry] = {}
        for table in metadata.tables:
            entry = _TableEntry(table, {self.column_key(c.name): c.name for c in table.columns})
            self._by_name.setdefault(self.table_key(table.name), []).append(entry)
            if table.schema is not None:
                self._by_qualified[(self.table_key(table.schema), self.table_key(table.name))] = (
                    entry
                )
        self.default_schema = (
            self.table_key(metadata.default_schema) if metadata.default_schema else None
        )
        self.database = self.table_key(metadata.database) if metadata.database else None
        self._display_names = sorted({t.name for t in metadata.tables})
        # For the safety layer: the user's own table names, lower-cased.
        self.known_tables = frozenset(t.name.lower() for t in metadata.tables)

    # ---------------------------------------------------------------- keys

    def table_key(self, name: str) -> str:
        return name.lower() if self.tables_case_insensitive else name

    def column_key(self, name: str) -> str:
        return name.lower() if self.columns_case_insensitive else name

    def normalize(self, expression: exp.Expr) -> None:
        """Rewrite identifiers in place to lookup keys (fold, or lower-case), once per query.

        After this, sqlglot's scopes match CTE and alias names the way the engine does.
        """
        if self.fold_unquoted:
            # PostgreSQL: unquoted names fold to lower case, quoted ones stay.
            for ident in expression.find_all(exp.Identifier):
                text = ident.this
                if ident.quoted or text.islower():
                    continue
                folded = text.lower() if text.isascii() else _ascii_lower(text)
                if folded != text:
                    ident.set("this", folded)
            return
        keep_tables = not self.tables_case_insensitive
        for ident in expression.find_all(exp.Identifier):
            if keep_tables and _names_table(ident):
                continue
            text = ident.this
            if text.islower():
                continue
            lowered = text.lower()
            if lowered != text:
                ident.set("this", lowered)

    # ---------------------------------------------------------------- tables

    def find_table(
        self, name: str, schema: str | None = None, catalog: str | None = None
    ) -> _TableEntry | str:
        """The table ``[catalog.][schema.]name`` (already normalised), or an error message."""
        key = self.table_key(name)
        shown = ".".join(p for p in (catalog, schema, name) if p)
        if catalog and self.table_key(catalog) != self.database:
            return f"unknown table '{shown}' (another database)"
        candidates = self._by_name.get(key, [])
        if schema:
            skey = self.table_key(schema)
            entry = self._by_qualified.get((skey, key))
            if entry is not None:
                return entry
            if skey in (self.database, self.default_schema):
                # MySQL's `shop.orders` names the database, SQLite's `main.orders` the
                # main file; metadata may record such tables without a schema.
                local = [
                    e
                    for e in candidates
                    if e.table.schema is None or self.table_key(e.table.schema) == skey
                ]
                if len(local) == 1:
                    return local[0]
            return self._unknown_table(shown, name)
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            preferred = [
                e
                for e in candidates
                if e.table.schema is None
                or self.table_key(e.table.schema) in (self.default_schema, self.database)
            ]
            if len(preferred) == 1:
                return preferred[0]
            schemas = ", ".join(sorted(str(e.table.schema) for e in candidates))
            return f"ambiguous table '{name}' (in schemas {schemas}) — qualify it with its schema"
        return self._unknown_table(shown, name)

    def _unknown_table(self, shown: str, name: str) -> str:
        return f"unknown table '{shown}'" + _suggest(name, self._display_names)


def _names_table(ident: exp.Identifier) -> bool:
    """Whether an identifier names a table or a table alias (MySQL's case-sensitive names)."""
    parent = ident.parent
    key = ident.arg_key
    if isinstance(parent, exp.Table):
        return key in ("this", "db", "catalog")
    if isinstance(parent, exp.Column | exp.Dot):
        return key in ("table", "db", "catalog")
    if isinstance(parent, exp.TableAlias):
        return key == "this"
    return False


def _suggest(name: str, candidates: Iterable[str]) -> str:
    """`` — did you mean x?`` for the closest candidate, or nothing.

    Whole names first (``custmer_id`` -> ``customer_id``), then the parts of snake_case
    names, since generated SQL often shortens them (``nmae`` -> ``full_name``).

    >>> _suggest("nmae", ["customer_id", "full_name", "city"])
    ' — did you mean full_name?'
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    wanted = name.lower()
    close = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=0.6)
    if close:
        return f" — did you mean {by_lower[close[0]]}?"
    by_part: dict[str, str] = {}
    for lower, candidate in by_lower.items():
        for part in _WORD_SPLIT.split(lower):
            if len(part) >= 3:
                by_part.setdefault(part, candidate)
    close = difflib.get_close_matches(wanted, list(by_part), n=1, cutoff=0.7)
    return f" — did you mean {by_part[close[0]]}?" if close else ""


_WORD_SPLIT = re.compile(r"[\W_]+")


# -------------------------------------------------------------------- checking


def check_schema(
    expression: exp.Expr,
    index: SchemaIndex,
    *,
    copy: bool = True,
    string_tokens: frozenset[str] = frozenset(),
) -> str | None:
    """None when every table and column in ``expression`` resolves, else the first problem.

    Identifiers are normalised to the engine's rules first; with ``copy=False`` that
    happens in place (the validator owns its parse tree and skips the copy).

    ``string_tokens``: names written in double quotes, on an engine that reads such a
    token as a string literal when it names no column (SQLite; the profile's
    ``double_quoted_string_fallback``).  An unqualified one that resolves to no column
    is that string, as the engine treats it, not an unknown column.
    """
    if copy:
        expression = expression.copy()
    index.normalize(expression)
    try:
        scopes = traverse_scope(expression)
    except OptimizeError as exc:
        return str(exc)
    if string_tokens and index.columns_case_insensitive:
        string_tokens = frozenset(t.lower() for t in string_tokens)
    return _Resolver(index, string_tokens).check(scopes)


class _Resolver:
    def __init__(self, index: SchemaIndex, string_tokens: frozenset[str] = frozenset()):
        self.index = index
        self.string_tokens = string_tokens
        self.outputs: dict[int, _Output] = {}  # id(Scope or Table) -> what it offers
        self.traversed: set[int] = set()

    def check(self, scopes: list[Scope]) -> str | None:
        self.traversed = {id(s) for s in scopes}
        # Post-order: a CTE or derived table is checked before the scopes selecting from it.
        for scope in scopes:
            reason = self._check_tables(scope) or self._check_columns(scope)
            if reason:
                return reason
        return None

    # ------------------------------------------------------------ sources

    def _check_tables(self, scope: Scope) -> str | None:
        for table in scope.tables:
            if isinstance(table.parent, exp.Table):  # SQLite's INDEXED BY name
                continue
            if isinstance(scope.sources.get(table.alias_or_name), Scope):
                continue  # a CTE
            found = self._table_output(table)
            if isinstance(found, str):
                return found
        try:
            scope.selected_sources  # noqa: B018 (raises on a duplicate alias)
        except OptimizeError as exc:
            return str(exc).replace("Alias already used", "duplicate table name or alias")
        return None

    def _table_output(self, table: exp.Table) -> _Output | str:
        cached = self.outputs.get(id(table))
        if cached is not None:
            return cached
        if isinstance(table.this, exp.Identifier):
            found = self.index.find_table(table.name, table.db or None, table.catalog or None)
            if isinstance(found, str):
                return found
            out = _Output(found.columns, label=f"table {found.table.name}")
        else:  # a table function: generate_series(...) AS g(x), json_each(...)
            names = table.alias_column_names
            out = _Output({n: n for n in names} if names else None, label=f"source {table.alias}")
        self.outputs[id(table)] = out
        return out

    def _source_output(self, source: exp.Expr | Scope) -> _Output:
        """The columns a selected source offers (memoised per node)."""
        cached = self.outputs.get(id(source))
        if cached is not None:
            return cached
        if isinstance(source, Scope):
            out = self._scope_output(source)
        elif isinstance(source, exp.Table):
            found = self._table_output(source)
            # An unknown table is reported by the scope that selects from it.
            out = _Output(None, label="source") if isinstance(found, str) else found
        else:
            out = _Output(None, label="source")
        self.outputs[id(source)] = out
        return out

    def _scope_output(self, scope: Scope) -> _Output:
        cached = self.outputs.get(id(scope))
        if cached is not None:
            return cached
        expression = scope.expression
        names: dict[str, str] = {}
        partial = False
        opaque = False
        if isinstance(expression, exp.Select):
            for projection in expression.expressions:
                if isinstance(projection, exp.Star):
                    opaque |= self._expand_star(scope, None, names)
                elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                    opaque |= self._expand_star(scope, projection.table, names)
                else:
                    # Only aliases and plain columns have a name every engine agrees on
                    # (PostgreSQL calls count(*) "count", MySQL "COUNT(*)").
                    if isinstance(projection, exp.Alias):
                        name = projection.alias
                    elif isinstance(projection, exp.Column):
                        name = projection.name
                    else:
                        name = ""
                    if name:
                        names.setdefault(name, name)
                    else:
                        partial = True
        elif isinstance(expression, exp.SetOperation) and scope.set_operation_scopes:
            left = self._scope_output(scope.set_operation_scopes[0])
            opaque = left.columns is None
            names, partial = dict(left.columns or {}), left.partial
        elif isinstance(expression, exp.Lateral) and scope.subquery_scopes:
            inner = self._scope_output(scope.subquery_scopes[-1])
            opaque = inner.columns is None
            names, partial = dict(inner.columns or {}), inner.partial
        else:  # VALUES, UNNEST, other table functions: only an alias column list names them
            opaque = True
        outer = scope.outer_columns or _cte_column_list(expression)
        if outer:
            # A column list renames the first len(outer) columns; PostgreSQL keeps the rest.
            rest = [] if opaque else list(names)[len(outer) :]
            names = {n: n for n in [*outer, *rest]}
            opaque = False
        label = "CTE" if scope.is_cte else "derived table"
        alias = _scope_alias(expression)
        out = _Output(None if opaque else names, partial, f"{label} {alias}" if alias else label)
        self.outputs[id(scope)] = out
        return out

    def _expand_star(self, scope: Scope, table: str | None, names: dict[str, str]) -> bool:
        """Add the columns ``*`` / ``table.*`` selects; True when they are unknowable."""
        if id(scope) not in self.traversed:
            return True  # a recursive CTE's anchor, seen from inside: sources not built
        sources = scope.selected_sources
        if not table:
            items = list(sources.values())
        else:
            items = [sources[table]] if table in sources else []
        opaque = False
        for _node, source in items:
            out = self._source_output(source)
            if out.columns is None:
                opaque = True
            else:
                for key, shown in out.columns.items():
                    names.setdefault(key, shown)
        return opaque

    # ------------------------------------------------------------ columns

    def _check_columns(self, scope: Scope) -> str | None:
        raw = getattr(scope, "_raw_columns", None)  # collected once by sqlglot; else walk
        if raw is None:
            raw = [n for n in scope.walk() if type(n) is exp.Column and not n.is_star]
        hinted = _hint_columns(scope)
        for column in raw:
            if hinted and id(column) in hinted:
                continue
            reason = self._resolve(scope, column)
            if reason:
                return reason
        for star in scope.stars:
            table = star.table if isinstance(star, exp.Column) else ""
            if table and self._find_source(scope, table) is None:
                return f"unknown table or alias '{table}' in {table}.*" + self._from_names(
                    scope, table
                )
        return None

    def _find_source(self, scope: Scope, name: str) -> _Output | None:
        current: Scope | None = scope
        while current is not None:
            hit = current.selected_sources.get(name)
            if hit is not None:
                return self._source_output(hit[1])
            current = current.parent if _can_see_outer(current) else None
        return None

    def _resolve(self, scope: Scope, column: exp.Column) -> str | None:
        name = column.name
        table = column.table
        if name in self.index.implicit_columns:
            return None
        if table:
            out = self._find_source(scope, table)
            if out is None:
                return f"unknown table or alias '{table}' in {table}.{name}" + self._from_names(
                    scope, table
                )
            if out.columns is None or name in out.columns or out.partial:
                return None
            return f"unknown column '{name}' in {out.label}" + _suggest(name, out.columns.values())

        current: Scope | None = scope
        while current is not None:
            if isinstance(current.expression, exp.SetOperation):
                # ORDER BY after a UNION names the output columns of its first branch.
                out = self._scope_output(current)
                if out.columns is None or name in out.columns or out.partial:
                    return None
            else:
                matches: list[_Output] = []
                unknowable = False
                for _node, source in current.selected_sources.values():
                    out = self._source_output(source)
                    if out.columns is None or out.partial:
                        unknowable = True
                    elif name in out.columns:
                        matches.append(out)
                if len(matches) == 1:
                    return None
                if len(matches) > 1:
                    if name in self._merged_columns(current):
                        return None
                    if current is scope and self._orders_by_output(scope, column):
                        return None
                    where = ", ".join(m.label for m in matches)
                    return f"ambiguous column '{name}' (in {where}) — qualify it"
                if current is scope and self._is_select_alias(scope, column):
                    return None
                if unknowable:
                    return None
            current = current.parent if _can_see_outer(current) else None
        if name in self.string_tokens and column.this.quoted:
            return None  # SQLite: "NY" that names no column is the string 'NY'
        return self._unknown_column(scope, name)

    def _merged_columns(self, scope: Scope) -> set[str]:
        """Names merged into one by JOIN ... USING (...) or NATURAL JOIN in this scope."""
        names: set[str] = set()
        sources = scope.selected_sources
        for join in scope.expression.args.get("joins") or []:
            for ident in join.args.get("using") or []:
                names.add(ident.name)
            if join.args.get("method") == "NATURAL":
                hit = sources.get(join.this.alias_or_name)
                out = self._source_output(hit[1]) if hit else None
                if out is not None and out.columns:
                    names.update(out.columns)
        return names

    def _unknown_column(self, scope: Scope, name: str) -> str:
        known = [
            out
            for out in (self._source_output(s) for _n, s in scope.selected_sources.values())
            if out.columns is not None
        ]
        candidates = [shown for out in known for shown in (out.columns or {}).values()]
        if isinstance(scope.expression, exp.SetOperation):
            return f"unknown column '{name}' in the output of the set operation"
        if len(known) == 1:
            return f"unknown column '{name}' in {known[0].label}" + _suggest(name, candidates)
        if not known:
            return f"unknown column '{name}' (the query has no FROM clause)"
        where = ", ".join(out.label for out in known)
        return f"unknown column '{name}' (in {where})" + _suggest(name, candidates)

    def _from_names(self, scope: Scope, table: str) -> str:
        names = list(scope.selected_sources)
        hint = _suggest(table, names)
        if hint or not names:
            return hint
        return f" — the FROM clause names {', '.join(names)}"

    def _is_select_alias(self, scope: Scope, column: exp.Column) -> bool:
        select = scope.expression
        if not isinstance(select, exp.Select):
            return False
        name = column.name
        if not any(isinstance(p, exp.Alias) and p.alias == name for p in select.expressions):
            return False
        node: exp.Expr = column
        while node.parent is not None and node.parent is not select:
            if isinstance(node, exp.Window):
                return False  # OVER (ORDER BY alias) is not allowed anywhere
            node = node.parent
        rule = self.index.alias_rule
        if node.parent is not select or node.arg_key not in rule.clauses:
            return False
        return not rule.whole_item_only or isinstance(column.parent, exp.Ordered | exp.Group)

    def _orders_by_output(self, scope: Scope, column: exp.Column) -> bool:
        """``SELECT a.id FROM a JOIN b ... ORDER BY id``: ORDER BY names the output column
        first, so an input name that two sources share is not ambiguous there."""
        select = scope.expression
        if not isinstance(select, exp.Select) or not isinstance(column.parent, exp.Ordered):
            return False
        order = column.parent.parent
        if not isinstance(order, exp.Order) or order.parent is not select:
            return False
        name = column.name
        plain = self.index.alias_rule.order_by_output_columns
        return any(
            (
                p.alias
                if isinstance(p, exp.Alias)
                else p.name
                if plain and isinstance(p, exp.Column)
                else ""
            )
            == name
            for p in select.expressions
        )


def _can_see_outer(scope: Scope) -> bool:
    """Whether unresolved names in ``scope`` may refer to an enclosing query (correlation)."""
    return bool(scope.can_be_correlated) and scope.parent is not None


def _hint_columns(scope: Scope) -> set[int]:
    """Ids of identifiers in table hints (``WITH (INDEX(ix))``): index names, not columns."""
    hinted: set[int] = set()
    for table in scope.tables:
        for hint in table.args.get("hints") or ():
            hinted.update(id(c) for c in hint.find_all(exp.Column))
    return hinted


def _scope_alias(expression: exp.Expr) -> str:
    parent = expression.parent
    if isinstance(parent, exp.Subquery | exp.CTE):
        return parent.alias
    return expression.alias if isinstance(expression, exp.Lateral | exp.Values) else ""


def _cte_column_list(expression: exp.Expr) -> list[str]:
    """``WITH r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r ...)``: the anchor is named n."""
    parent = expression.parent
    if isinstance(parent, exp.SetOperation) and parent.this is expression:
        parent = parent.parent
    if isinstance(parent, exp.CTE):
        return parent.alias_column_names
    return []
