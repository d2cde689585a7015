"""Per-engine catalogue readers: a few batched queries per schema, rows -> records.

Each engine module (:mod:`.postgresql`, :mod:`.mysql`, :mod:`.sqlite`, :mod:`.mssql`)
holds its catalogue queries and turns their rows into the three flat row shapes below;
:func:`assemble` builds :class:`~data_create.records.Table` records from them, the same
way for every engine.  A module exposes:

``server_info(conn) -> ServerInfo``
    default schema, version text, whether table names are case-sensitive.
``read_tables(conn, schemas, include_views, keep) -> list[Table]``
    every table (and view) of ``schemas`` for which ``keep(schema, name)`` is true,
    with columns, keys, comments and approximate row counts, in a fixed number of
    round trips whatever the number of tables.
``list_tables(conn, schemas, include_views, keep) -> list[TableRow]``
    the listing alone (one query); with ``column_types(conn, schema, table)``, one
    table at a time, it serves the per-table baseline (:mod:`.per_table`).
``statement_timeout(conn, seconds)``
    a context in which any one statement running longer is cancelled (sampling); it
    yields a function to call just before each statement.
``LONG_TEXT_TYPES``
    base type names whose values are documents, not categories; never sampled.

:func:`for_engine` picks the module an engine's profile names
(:attr:`~data_create.engines.EngineProfile.catalog_module`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from ..records import Column, ForeignKey, Table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Keep = Callable[[str, str], bool]
"""``keep(schema, table_name)``: whether a table passes the include/exclude filters."""


def for_engine(name: str) -> ModuleType:
    """The catalogue module for an engine (any name :func:`data_create.engines.get` takes)."""
    from .. import engines

    return engines.catalog(name)


@dataclass(frozen=True)
class ServerInfo:
    default_schema: str | None
    version: str | None
    table_names_case_sensitive: bool | None


class TableRow(NamedTuple):
    schema: str
    name: str
    kind: str  # "table" | "view"
    comment: str | None
    row_count: int | None


class ColumnRow(NamedTuple):
    schema: str
    table: str
    position: int
    name: str
    raw_type: str
    type: str  # normalised category
    nullable: bool
    default: str | None
    comment: str | None


class KeyRow(NamedTuple):
    """One column of a key.  ``kind``: "p" primary, "u" unique, "f" foreign."""

    schema: str
    table: str
    constraint: str
    kind: str
    position: int
    column: str
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_column: str | None = None


def clean_comment(text: str | None) -> str | None:
    """Comments as users read them: stripped, and None rather than empty."""
    if text is None:
        return None
    text = str(text).strip()
    return text or None


def assemble(
    tables: Iterable[TableRow], columns: Iterable[ColumnRow], keys: Iterable[KeyRow]
) -> list[Table]:
    """Build records from flat catalogue rows.

    Rows of tables not in ``tables`` are ignored: catalogue queries run one after
    another, and a table created or dropped in between must not break extraction.
    Column and key order comes from ``position``; unique keys that repeat another
    unique key's (or the primary key's) columns are dropped, so a unique constraint and
    the index behind it count once.
    """
    table_rows = list(tables)
    wanted = {(t.schema, t.name) for t in table_rows}
    cols: dict[tuple[str, str], list[ColumnRow]] = defaultdict(list)
    for c in columns:
        if (c.schema, c.table) in wanted:
            cols[(c.schema, c.table)].append(c)
    # (schema, table) -> (kind, constraint name) -> rows
    cons: dict[tuple[str, str], dict[tuple[str, str], list[KeyRow]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for k in keys:
        if (k.schema, k.table) in wanted:
            cons[(k.schema, k.table)][(k.kind, k.constraint)].append(k)

    out = []
    for t in table_rows:
        key = (t.schema, t.name)
        column_records = tuple(
            Column(
                name=c.name,
                raw_type=c.raw_type,
                type=c.type,
                nullable=bool(c.nullable),
                default=c.default,
                comment=clean_comment(c.comment),
            )
            for c in sorted(cols.get(key, ()), key=lambda c: c.position)
        )
        primary_key: tuple[str, ...] = ()
        uniques: list[tuple[str, ...]] = []
        fks: list[ForeignKey] = []
        for (kind, name), rows in sorted(cons.get(key, {}).items()):
            rows.sort(key=lambda r: r.position)
            names = tuple(r.column for r in rows)
            if kind == "p":
                primary_key = names
            elif kind == "u":
                uniques.append(names)
            elif kind == "f":
                first = rows[0]
                fks.append(
                    ForeignKey(
                        columns=names,
                        ref_table=first.ref_table or "",
                        ref_columns=tuple(r.ref_column or "" for r in rows),
                        ref_schema=first.ref_schema,
                        name=name,
                    )
                )
        out.append(
            Table(
                name=t.name,
                schema=t.schema,
                kind=t.kind,
                comment=clean_comment(t.comment),
                columns=column_records,
                primary_key=primary_key,
                foreign_keys=tuple(fks),
                unique=dedupe_unique(uniques, primary_key),
                row_count=t.row_count,
            )
        )
    return out


def dedupe_unique(
    uniques: Iterable[tuple[str, ...]], primary_key: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], ...]:
    """Unique column lists, sorted, without repeats or the primary key's own columns.

    Column order inside a unique key does not change what it guarantees, so
    ``UNIQUE (a, b)`` and ``UNIQUE INDEX (b, a)`` count once.
    """
    seen = {frozenset(primary_key)} if primary_key else set()
    out = []
    for u in uniques:
        u = tuple(u)
        if u and frozenset(u) not in seen:
            seen.add(frozenset(u))
            out.append(u)
    return tuple(sorted(out))


def estimate(value: object) -> int | None:
    """A catalogue row estimate as an int; negative or missing means unknown."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    if number < 0:
        return None
    return round(number)


def reset_or_invalidate(conn: Connection, statement: str) -> None:
    """Undo a session setting; if that fails, drop the connection rather than pool it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        conn.execute(text(statement))
    except DBAPIError:
        conn.invalidate()


def no_op() -> None:
    """What statement_timeout yields where the server keeps the clock itself."""
