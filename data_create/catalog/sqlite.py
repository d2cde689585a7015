"""SQLite catalogue: ``sqlite_master`` joined to the table-valued pragma functions.

One query each for tables, columns (``pragma_table_xinfo``), foreign keys
(``pragma_foreign_key_list``) and unique indexes (``pragma_index_list`` x
``pragma_index_info``).  SQLite keeps no row estimate, so row counts are a bounded
``count(*)`` per table.

SQLite has no ``COMMENT`` syntax, but it stores each ``CREATE`` statement verbatim,
comments included.  :func:`ddl_comments` reads them with the common convention::

    CREATE TABLE orders (          -- 订单
        id INTEGER PRIMARY KEY,    -- 订单编号
        amount NUMERIC(10, 2)      -- 金额（元）
    );

A ``--`` (or ``/* */``) comment at the end of a column definition's line documents the
column; one on the ``CREATE TABLE name (`` line, or directly before the first column,
documents the table.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..records import Table, normalize_type
from . import ColumnRow, Keep, KeyRow, ServerInfo, TableRow, assemble

# SQLite's TEXT holds names and documents alike; values are filtered by length instead.
LONG_TEXT_TYPES = frozenset({"clob", "json"})

# Counting stops here; beyond it max(rowid) stands in as the estimate.
COUNT_LIMIT = 1_000_000

_NOT_INTERNAL = "m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"


def _master(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '".sqlite_master'


def server_info(conn: Connection) -> ServerInfo:
    version = conn.execute(text("SELECT sqlite_version()")).scalar_one()
    return ServerInfo("main", f"SQLite {version}", False)


def list_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[TableRow]:
    return [t for t, _comments in _list(conn, schemas, include_views, keep)]


def _list(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[tuple[TableRow, dict[str, str]]]:
    """Table rows, each with its column comments from the DDL."""
    out = []
    for schema in schemas:
        shadow = _shadow_tables(conn, schema)
        rows = conn.execute(
            text(
                f"SELECT m.type, m.name, m.sql FROM {_master(schema)} m "
                f"WHERE m.type IN ('table', 'view') AND {_NOT_INTERNAL}"
            )
        )
        for kind, name, sql in rows:
            if name in shadow or (kind == "view" and not include_views) or not keep(schema, name):
                continue
            comment, column_comments = ddl_comments(sql)
            count = None if kind == "view" else _count(conn, schema, name)
            out.append((TableRow(schema, name, kind, comment, count), column_comments))
    return out


def _shadow_tables(conn: Connection, schema: str) -> set[str]:
    """Tables a virtual table (FTS, R*Tree) keeps its data in; not the user's tables."""
    try:
        rows = conn.execute(
            text("SELECT name FROM pragma_table_list WHERE schema = :s AND type = 'shadow'"),
            {"s": schema},
        )
    except DBAPIError:  # pragma_table_list is SQLite 3.37+; older ones list them all
        return set()
    return {r[0] for r in rows}


def _count(conn: Connection, schema: str, table: str) -> int | None:
    qualified = _quote(schema) + "." + _quote(table)
    n = conn.execute(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {qualified} LIMIT {COUNT_LIMIT + 1})")
    ).scalar_one()
    if n <= COUNT_LIMIT:
        return n
    try:  # rowids rise with inserts: a cheap estimate for a big table
        top = conn.execute(text(f"SELECT max(_rowid_) FROM {qualified}")).scalar_one()
    except DBAPIError:  # WITHOUT ROWID tables have none
        top = None
    return max(n, top or 0)


def read_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[Table]:
    listed = _list(conn, schemas, include_views, keep)
    if not listed:
        return []
    tables = [t for t, _ in listed]
    column_comments = {(t.schema, t.name): comments for t, comments in listed}
    columns: list[ColumnRow] = []
    keys: list[KeyRow] = []
    for schema in schemas:
        _read_schema(conn, schema, column_comments, columns, keys)
    return assemble(tables, columns, keys)


def _read_schema(
    conn: Connection,
    schema: str,
    comments: dict[tuple[str, str], dict[str, str]],
    columns: list[ColumnRow],
    keys: list[KeyRow],
) -> None:
    master = _master(schema)
    rows = [r for r in _column_rows(conn, schema) if r[7] != 1]  # 1: a virtual table's hidden
    pk: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for table, _cid, name, _raw, _notnull, _default, pk_pos, _hidden in rows:
        if pk_pos:
            pk[table].append((pk_pos, name))
    for table, cid, name, raw, notnull, default, pk_pos, _hidden in rows:
        raw = raw or ""
        comment = comments.get((schema, table), {}).get(name.lower())
        nullable = not notnull and not _rowid_alias(raw, pk_pos, len(pk.get(table, ())))
        columns.append(
            ColumnRow(
                schema, table, cid, name, raw, normalize_type(raw), nullable, default, comment
            )
        )
    for table, cols in pk.items():
        for pos, name in cols:
            keys.append(KeyRow(schema, table, "PRIMARY", "p", pos, name))

    for table, fk_id, seq, ref_table, col, ref_col in conn.execute(
        text(
            f"""
            SELECT m.name, f.id, f.seq, f."table", f."from", f."to"
            FROM {master} m JOIN pragma_foreign_key_list(m.name, :schema) f
            WHERE m.type = 'table' AND {_NOT_INTERNAL}
            """
        ),
        {"schema": schema},
    ):
        if ref_col is None:  # REFERENCES t without columns means t's primary key
            ref_pk = sorted(pk.get(ref_table) or _pk_nocase(pk, ref_table))
            ref_col = ref_pk[seq][1] if seq < len(ref_pk) else None
        keys.append(KeyRow(schema, table, f"fk{fk_id}", "f", seq, col, schema, ref_table, ref_col))

    indexes: dict[tuple[str, str], list[tuple[int, str | None]]] = defaultdict(list)
    for table, index, seqno, name in conn.execute(
        text(
            f"""
            SELECT m.name, il.name, ii.seqno, ii.name
            FROM {master} m JOIN pragma_index_list(m.name, :schema) il
                 JOIN pragma_index_info(il.name, :schema) ii
            WHERE m.type = 'table' AND {_NOT_INTERNAL}
              AND il."unique" = 1 AND il.origin <> 'pk' AND il.partial = 0
            """
        ),
        {"schema": schema},
    ):
        indexes[(table, index)].append((seqno, name))
    for (table, index), cols in indexes.items():
        if all(name is not None for _, name in cols):  # expression indexes are skipped
            keys.extend(KeyRow(schema, table, index, "u", seq, name) for seq, name in cols)


_COLUMNS = """
    SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden
    FROM {master} m JOIN pragma_table_xinfo(m.name, :schema) p
    WHERE {where} AND {not_internal}
"""


def _column_rows(conn: Connection, schema: str) -> list[tuple]:
    """pragma_table_xinfo of every table and view, in two queries.

    A view whose table was dropped fails the whole query (SQLite checks views only
    when they are read); then the views are read one by one and a broken one is left
    without columns (the caller reports it).
    """

    def run(where: str, **params: str) -> list[tuple]:
        sql = _COLUMNS.format(master=_master(schema), where=where, not_internal=_NOT_INTERNAL)
        return [tuple(r) for r in conn.execute(text(sql), {"schema": schema, **params})]

    rows = run("m.type = 'table'")
    try:
        rows += run("m.type = 'view'")
    except DBAPIError:
        views = conn.execute(text(f"SELECT name FROM {_master(schema)} WHERE type = 'view'"))
        for (view,) in views.all():
            try:
                rows += run("m.type = 'view' AND m.name = :view", view=view)
            except DBAPIError:
                continue  # broken view: no columns; metadata.extract warns and skips it
    return rows


def _rowid_alias(raw_type: str, pk_position: int, pk_size: int) -> bool:
    """An ``INTEGER PRIMARY KEY`` column is the rowid: never NULL, whatever the pragma says."""
    return pk_size == 1 and pk_position == 1 and raw_type.upper() == "INTEGER"


def _pk_nocase(pk: dict[str, list[tuple[int, str]]], table: str) -> list[tuple[int, str]]:
    for name, cols in pk.items():
        if name.lower() == table.lower():
            return cols
    return []


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def statement_timeout(conn: Connection, seconds: float) -> Iterator[Callable[[], None]]:
    """Interrupt any one statement that runs longer than ``seconds`` (while sampling).

    SQLite has no such setting: a progress handler checks a deadline, which the
    caller resets by calling the yielded function before each statement.
    """
    raw = conn.connection.driver_connection
    deadline = [time.monotonic() + seconds]

    def starting() -> None:
        deadline[0] = time.monotonic() + seconds

    raw.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)
    try:
        yield starting
    finally:
        raw.set_progress_handler(None, 0)


# ------------------------------------------------------------ comments in the DDL


@lru_cache(maxsize=1)
def _dialect():
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise("sqlite")


_CONSTRAINT_WORDS = frozenset(
    {"CONSTRAINT", "PRIMARY", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN", "FOREIGN KEY"}
)


def ddl_comments(sql: str | None) -> tuple[str | None, dict[str, str]]:
    """The table comment and ``{lower-cased column name: comment}`` from a CREATE statement.

    >>> ddl_comments('''CREATE TABLE t (  -- 订单
    ...   id INTEGER PRIMARY KEY,  -- 编号
    ...   -- not a column comment
    ...   note TEXT
    ... )''')
    ('订单', {'id': '编号'})
    """
    if not sql:
        return None, {}
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = _dialect().tokenize(sql)
    except TokenError:
        return None, {}
    if not tokens:
        return None, {}

    def trailing(i: int) -> list[str]:
        """Comments attached to token i that stand after it (on its line)."""
        tok = tokens[i]
        if not tok.comments:
            return []
        end = tokens[i + 1].start if i + 1 < len(tokens) else len(sql)
        gap = sql[tok.end + 1 : end]
        return [c.strip() for c in tok.comments if c in gap and c.strip()]

    def leading(i: int) -> list[str]:
        tok = tokens[i]
        after = trailing(i)
        return [c.strip() for c in tok.comments if c.strip() and c.strip() not in after]

    def join(parts: list[str]) -> str | None:
        return " ".join(parts) or None

    is_view = any(t.token_type == TokenType.VIEW for t in tokens[:4])
    # The table's own line: up to the opening parenthesis (for a view, up to AS).
    opener = TokenType.ALIAS if is_view else TokenType.L_PAREN
    start = next(
        (i for i, t in enumerate(tokens) if t.token_type in (opener, TokenType.ALIAS)), None
    )
    if start is None or tokens[start].token_type != opener:  # CREATE TABLE ... AS SELECT
        return None, {}
    table_comment = [c for i in range(start + 1) for c in trailing(i)]
    if start + 1 < len(tokens):
        table_comment += leading(start + 1)
    if is_view:
        return join(table_comment), {}

    columns: dict[str, str] = {}
    depth = 1
    definition: list[int] = []
    for i in range(start + 1, len(tokens)):
        kind = tokens[i].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
        if depth == 0 or (depth == 1 and kind == TokenType.COMMA):
            if depth == 1:
                definition.append(i)  # a comment after the comma belongs to this column
            _column_comment(tokens, definition, trailing, columns)
            definition = []
            if depth == 0:
                break
        else:
            definition.append(i)
    return join(table_comment), columns


def _column_comment(tokens, definition, trailing, columns: dict[str, str]) -> None:
    if not definition:
        return
    first = tokens[definition[0]]
    if first.text.upper() in _CONSTRAINT_WORDS:
        return
    parts = [c for i in definition for c in trailing(i)]
    if parts:
        columns[first.text.lower()] = " ".join(parts)


def table_comments(conn: Connection, schema: str, table: str) -> tuple[str | None, dict[str, str]]:
    """Comments of one table, read from its DDL (the per-table baseline's way)."""
    sql = conn.execute(
        text(f"SELECT sql FROM {_master(schema)} WHERE name = :name"), {"name": table}
    ).scalar()
    return ddl_comments(sql)


def column_types(conn: Connection, schema: str, table: str) -> dict[str, tuple[str, str, bool]]:
    """``{column: (raw type, normalised type, nullable)}`` for one table."""
    rows = conn.execute(
        text(
            'SELECT name, type, "notnull", pk FROM pragma_table_xinfo(:table, :schema) '
            "WHERE hidden <> 1"
        ),
        {"table": table, "schema": schema},
    ).all()
    pk_size = sum(1 for r in rows if r.pk)
    return {
        name: (
            raw or "",
            normalize_type(raw or ""),
            not notnull and not _rowid_alias(raw or "", pk, pk_size),
        )
        for name, raw, notnull, pk in rows
    }
