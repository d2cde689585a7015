"""SQL Server catalogue: three queries on the ``sys`` views per extraction.

Comments are ``MS_Description`` extended properties; row counts come from
``sys.partitions`` (heap or clustered index, summed over partitions).  Primary and
unique keys are read from ``sys.indexes`` (every PRIMARY KEY / UNIQUE constraint in
``sys.key_constraints`` owns an index of the same name, and unique indexes count too);
foreign keys from ``sys.foreign_keys`` + ``sys.foreign_key_columns``.

No SQL Server was at hand when this was written: the row -> record assembly
(:func:`tables_from_rows`, :func:`type_text`) is unit-tested with constructed rows,
the queries themselves are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import String, bindparam, text
from sqlalchemy.engine import Connection

from ..records import Table, normalize_type
from . import ColumnRow, Keep, KeyRow, ServerInfo, TableRow, assemble, estimate, no_op

LONG_TEXT_TYPES = frozenset(
    {"text", "ntext", "xml", "image", "geography", "geometry", "hierarchyid", "sql_variant"}
)

_TABLES = text(
    """
    SELECT s.name AS schema_name, o.name AS table_name, o.type AS object_type,
           CAST(ep.value AS nvarchar(4000)) AS comment,
           (SELECT SUM(p.rows) FROM sys.partitions p
             WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)) AS row_estimate
    FROM sys.objects o
    JOIN sys.schemas s ON s.schema_id = o.schema_id
    LEFT JOIN sys.extended_properties ep
           ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0
          AND ep.name = 'MS_Description'
    WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND s.name IN :schemas
    """
).bindparams(bindparam("schemas", expanding=True, type_=String()))

# An alias type (CREATE TYPE Name FROM nvarchar(50)) is reported by its own name; the
# system type it stands for is what gets normalised.
_COLUMNS = text(
    """
    SELECT s.name AS schema_name, o.name AS table_name, c.column_id, c.name AS column_name,
           t.name AS type_name, bt.name AS base_type, t.is_user_defined,
           c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity,
           dc.definition AS default_definition, cc.definition AS computed_definition,
           CAST(ep.value AS nvarchar(4000)) AS comment
    FROM sys.columns c
    JOIN sys.objects o ON o.object_id = c.object_id
    JOIN sys.schemas s ON s.schema_id = o.schema_id
    JOIN sys.types t ON t.user_type_id = c.user_type_id
    LEFT JOIN sys.types bt ON bt.user_type_id = t.system_type_id
    LEFT JOIN sys.default_constraints dc ON dc.object_id = c.default_object_id
    LEFT JOIN sys.computed_columns cc
           ON cc.object_id = c.object_id AND cc.column_id = c.column_id
    LEFT JOIN sys.extended_properties ep
           ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id
          AND ep.name = 'MS_Description'
    WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND s.name IN :schemas
    """
).bindparams(bindparam("schemas", expanding=True, type_=String()))

_KEYS = text(
    """
    SELECT s.name AS schema_name, o.name AS table_name, i.name AS constraint_name,
           CASE WHEN i.is_primary_key = 1 THEN 'p' ELSE 'u' END AS kind,
           ic.key_ordinal AS position, c.name AS column_name,
           NULL AS ref_schema, NULL AS ref_table, NULL AS ref_column
    FROM sys.indexes i
    JOIN sys.objects o ON o.object_id = i.object_id
    JOIN sys.schemas s ON s.schema_id = o.schema_id
    JOIN sys.index_columns ic
      ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.key_ordinal > 0
    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
    WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND s.name IN :schemas
      AND (i.is_primary_key = 1 OR (i.is_unique = 1 AND i.has_filter = 0))
    UNION ALL
    SELECT s.name, o.name, fk.name, 'f', fkc.constraint_column_id, pc.name,
           rs.name, ro.name, rc.name
    FROM sys.foreign_keys fk
    JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id
    JOIN sys.objects o ON o.object_id = fk.parent_object_id
    JOIN sys.schemas s ON s.schema_id = o.schema_id
    JOIN sys.columns pc
      ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id
    JOIN sys.objects ro ON ro.object_id = fk.referenced_object_id
    JOIN sys.schemas rs ON rs.schema_id = ro.schema_id
    JOIN sys.columns rc
      ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id
    WHERE s.name IN :schemas
    """
).bindparams(bindparam("schemas", expanding=True, type_=String()))

_COLUMN_TYPES = text(
    """
    SELECT c.name AS column_name, t.name AS type_name, bt.name AS base_type,
           t.is_user_defined, c.max_length, c.precision, c.scale, c.is_nullable
    FROM sys.columns c
    JOIN sys.types t ON t.user_type_id = c.user_type_id
    LEFT JOIN sys.types bt ON bt.user_type_id = t.system_type_id
    WHERE c.object_id = OBJECT_ID(:qualified)
    """
)

_KINDS = {"U": "table", "V": "view"}


def server_info(conn: Connection) -> ServerInfo:
    schema, version = conn.execute(
        text("SELECT SCHEMA_NAME(), CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))")
    ).one()
    # Names compare as the database's collation says; the default collations ignore case.
    return ServerInfo(schema, f"SQL Server {version}", False)


def type_text(
    type_name: str, max_length: int | None, precision: int | None, scale: int | None
) -> str:
    """A column type as SQL Server's DDL writes it.

    >>> type_text("nvarchar", 90, 0, 0), type_text("varchar", -1, 0, 0)
    ('nvarchar(45)', 'varchar(max)')
    >>> type_text("decimal", 9, 10, 2), type_text("datetime2", 8, 27, 7), type_text("int", 4, 10, 0)
    ('decimal(10,2)', 'datetime2(7)', 'int')
    """
    name = type_name.lower()
    if name in ("varchar", "char", "varbinary", "binary", "nvarchar", "nchar"):
        if max_length == -1:
            return f"{name}(max)"
        length = max_length or 0
        if name in ("nvarchar", "nchar"):
            length //= 2  # max_length counts bytes; n-types store two per character
        return f"{name}({length})"
    if name in ("decimal", "numeric"):
        return f"{name}({precision},{scale})"
    if name in ("datetime2", "datetimeoffset", "time"):
        return f"{name}({scale})"
    return name


def _column_type(row) -> tuple[str, str]:
    """(raw type, normalised type) from a row with the type columns of _COLUMNS."""
    if row.is_user_defined and row.base_type and row.base_type != row.type_name:
        base = type_text(row.base_type, row.max_length, row.precision, row.scale)
        return row.type_name, normalize_type(base)
    raw = type_text(row.type_name, row.max_length, row.precision, row.scale)
    return raw, normalize_type(raw)


def _default(row) -> str | None:
    if row.computed_definition is not None:
        return f"AS {row.computed_definition}"
    if row.is_identity:
        return "IDENTITY"
    definition = row.default_definition
    # SQL Server stores defaults wrapped in parentheses: ((0)), ('N'), (getdate()).
    while definition and definition.startswith("(") and definition.endswith(")"):
        inner = definition[1:-1]
        if inner.count("(") != inner.count(")"):
            break
        definition = inner
    return definition


def tables_from_rows(
    table_rows: Iterable,
    column_rows: Iterable,
    key_rows: Iterable,
    include_views: bool,
    keep: Keep,
) -> list[Table]:
    """Records from rows shaped like the results of _TABLES, _COLUMNS and _KEYS."""
    tables = _table_rows(table_rows, include_views, keep)
    columns = []
    for r in column_rows:
        raw, normalised = _column_type(r)
        columns.append(
            ColumnRow(
                r.schema_name,
                r.table_name,
                r.column_id,
                r.column_name,
                raw,
                normalised,
                bool(r.is_nullable),
                _default(r),
                r.comment,
            )
        )
    keys = [
        KeyRow(
            r.schema_name,
            r.table_name,
            r.constraint_name,
            r.kind,
            r.position,
            r.column_name,
            r.ref_schema,
            r.ref_table,
            r.ref_column,
        )
        for r in key_rows
    ]
    return assemble(tables, columns, keys)


def _table_rows(rows: Iterable, include_views: bool, keep: Keep) -> list[TableRow]:
    out = []
    for r in rows:
        kind = _KINDS.get(r.object_type.strip())
        if kind is None or (kind == "view" and not include_views):
            continue
        if not keep(r.schema_name, r.table_name):
            continue
        count = None if kind == "view" else estimate(r.row_estimate)
        out.append(TableRow(r.schema_name, r.table_name, kind, r.comment, count))
    return out


def list_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[TableRow]:
    return _table_rows(conn.execute(_TABLES, {"schemas": list(schemas)}), include_views, keep)


def read_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[Table]:
    params = {"schemas": list(schemas)}
    table_rows = conn.execute(_TABLES, params).all()
    if not _table_rows(table_rows, include_views, keep):
        return []
    return tables_from_rows(
        table_rows,
        conn.execute(_COLUMNS, params).all(),
        conn.execute(_KEYS, params).all(),
        include_views,
        keep,
    )


@contextmanager
def statement_timeout(conn: Connection, seconds: float) -> Iterator[Callable[[], None]]:
    """Cancel any one statement that runs longer than ``seconds`` (pyodbc's query timeout)."""
    raw = conn.connection.driver_connection
    before = getattr(raw, "timeout", 0)
    raw.timeout = max(1, round(seconds))
    try:
        yield no_op
    finally:
        raw.timeout = before


# ------------------------------------------------------------ one table at a time


def column_types(conn: Connection, schema: str, table: str) -> dict[str, tuple[str, str, bool]]:
    """``{column: (raw type, normalised type, nullable)}`` for one table."""
    qualified = f"[{schema.replace(']', ']]')}].[{table.replace(']', ']]')}]"
    rows = conn.execute(_COLUMN_TYPES, {"qualified": qualified})
    return {r.column_name: (*_column_type(r), bool(r.is_nullable)) for r in rows}
