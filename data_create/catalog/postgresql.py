"""PostgreSQL catalogue: three pg_catalog queries per extraction, whatever the table count.

Partitions are not business tables: a declarative partition (``relispartition``) and an
old-style inheritance child that adds no column of its own (Sakila's
``payment_p2007_01`` ``INHERITS (payment)``) are left out, and their row estimates are
added to the table they belong to.  Needs PostgreSQL 12 or later (``attgenerated``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..engines.postgresql import PROFILE
from ..records import Table, normalize_type
from . import (
    ColumnRow,
    Keep,
    KeyRow,
    ServerInfo,
    TableRow,
    assemble,
    estimate,
    no_op,
    reset_or_invalidate,
)

# Documents rather than categories; never sampled.  (``text`` is PostgreSQL's everyday
# string type, so it is sampled; over-long values are dropped one by one.)
LONG_TEXT_TYPES = frozenset({"tsvector", "tsquery", "xml", "bytea", "json", "jsonb"})

_RELKINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}

_TABLES = text(
    """
    SELECT c.oid, n.nspname, c.relname, c.relkind, d.description, c.reltuples,
           c.relispartition
           OR (EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
               AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0
                                 AND NOT a.attisdropped AND a.attinhcount = 0)) AS is_partition,
           (SELECT min(i.inhparent) FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_description d
           ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
    WHERE n.nspname IN :schemas AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
    """
).bindparams(bindparam("schemas", expanding=True))

# The type of a column as PostgreSQL prints it, plus what to normalise: the label
# "enum" for enum types, the base type for a domain (Sakila's ``year`` is an integer).
_TYPE_COLUMNS = """
    format_type(a.atttypid, a.atttypmod) AS raw_type,
    CASE t.typtype WHEN 'e' THEN 'enum'
                   WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type
"""

_COLUMNS = text(
    f"""
    SELECT a.attrelid, a.attnum, a.attname, {_TYPE_COLUMNS}, a.attnotnull,
           pg_get_expr(ad.adbin, ad.adrelid) AS default_expr, a.attidentity, a.attgenerated,
           d.description
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_description d
           ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
          AND d.objsubid = a.attnum
    WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
    """
)

# Primary, unique and foreign keys from pg_constraint (conkey/confkey unnested together
# WITH ORDINALITY, so composite keys keep their order), then unique indexes that back
# no constraint (CREATE UNIQUE INDEX; partial and expression indexes guarantee nothing
# about plain columns and are skipped).  ``conparentid = 0`` drops the per-partition
# copies PostgreSQL makes of a foreign key that references a partitioned table.
_KEYS = text(
    """
    SELECT con.conrelid, con.conname, con.contype::text, k.ord, a.attname,
           rn.nspname, rc.relname, ra.attname
    FROM pg_catalog.pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
    LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
    LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
    LEFT JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
    WHERE con.conrelid = ANY(CAST(:oids AS oid[])) AND con.contype IN ('p', 'u', 'f')
      AND con.conparentid = 0
    UNION ALL
    SELECT x.indrelid, i.relname, 'u', k.ord, a.attname, NULL, NULL, NULL
    FROM pg_catalog.pg_index x
    JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
    CROSS JOIN LATERAL unnest(CAST(x.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE x.indrelid = ANY(CAST(:oids AS oid[])) AND x.indisunique AND NOT x.indisprimary
      AND x.indpred IS NULL AND x.indexprs IS NULL AND k.ord <= x.indnkeyatts
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c2
                      WHERE c2.conindid = x.indexrelid AND c2.contype IN ('p', 'u'))
    """
)


def server_info(conn: Connection) -> ServerInfo:
    schema, version = conn.execute(
        text("SELECT current_schema(), current_setting('server_version')")
    ).one()
    return ServerInfo(schema, f"PostgreSQL {version}", True)


def column_type(raw_type: str, base_type: str | None) -> str:
    """The normalised category: enums are "enum", a domain is its base type."""
    if base_type == "enum":
        return "enum"
    return normalize_type(base_type or raw_type)


def column_default(expr: str | None, identity: str, generated: str) -> str | None:
    if generated == "s":
        return f"GENERATED ALWAYS AS ({expr}) STORED"
    if identity == "a":
        return "GENERATED ALWAYS AS IDENTITY"
    if identity == "d":
        return "GENERATED BY DEFAULT AS IDENTITY"
    return expr


def list_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[TableRow]:
    return list(_list(conn, schemas, include_views, keep).values())


def _list(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> dict[int, TableRow]:
    rels = conn.execute(_TABLES, {"schemas": list(schemas)}).all()
    by_oid = {r.oid: r for r in rels}

    def owner(oid: int) -> int | None:
        """The listed table a partition belongs to (walking up nested partitions)."""
        seen = set()
        while oid in by_oid and by_oid[oid].is_partition and oid not in seen:
            seen.add(oid)
            oid = by_oid[oid].parent
        return oid if oid in by_oid else None

    counts: dict[int, int | None] = {}
    for r in rels:
        if not r.is_partition:
            # A partitioned table's own reltuples means nothing; its leaves hold the rows.
            counts[r.oid] = None if r.relkind in "vmp" else estimate(r.reltuples)
    for r in rels:
        if r.is_partition and r.relkind == "r" and (own := estimate(r.reltuples)) is not None:
            top = owner(r.oid)
            if top is not None and by_oid[top].relkind in "rp":
                counts[top] = (counts.get(top) or 0) + own

    return {
        r.oid: TableRow(r.nspname, r.relname, _RELKINDS[r.relkind], r.description, counts[r.oid])
        for r in rels
        if not r.is_partition
        and (include_views or _RELKINDS[r.relkind] == "table")
        and keep(r.nspname, r.relname)
    }


def read_tables(
    conn: Connection, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[Table]:
    kept = _list(conn, schemas, include_views, keep)
    if not kept:
        return []
    oids = list(kept)
    columns = []
    for relid, pos, name, raw, base, notnull, default, ident, gen, comment in conn.execute(
        _COLUMNS, {"oids": oids}
    ):
        t = kept[relid]
        nullable = not notnull
        default = column_default(default, ident, gen)
        columns.append(
            ColumnRow(
                t.schema, t.name, pos, name, raw, column_type(raw, base), nullable, default, comment
            )
        )
    keys = []
    for relid, *rest in conn.execute(_KEYS, {"oids": oids}):
        table = kept[relid]
        keys.append(KeyRow(table.schema, table.name, *rest))
    return assemble(kept.values(), columns, keys)


@contextmanager
def statement_timeout(conn: Connection, seconds: float) -> Iterator[Callable[[], None]]:
    """Cancel any one statement that runs longer than ``seconds`` (while sampling)."""
    profile = PROFILE  # the executor's statements, one copy
    conn.execute(text(profile.timeout_sql(seconds)))
    try:
        yield no_op
    finally:
        reset_or_invalidate(conn, profile.timeout_reset_sql())


# ------------------------------------------------------------ one table at a time


_COLUMN_TYPES = text(
    f"""
    SELECT a.attname, {_TYPE_COLUMNS}, a.attnotnull
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = CAST(:rel AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
    """
)


def column_types(conn: Connection, schema: str, table: str) -> dict[str, tuple[str, str, bool]]:
    """``{column: (raw type, normalised type, nullable)}`` for one table."""
    rows = conn.execute(_COLUMN_TYPES, {"rel": _regclass(schema, table)})
    return {
        r.attname: (r.raw_type, column_type(r.raw_type, r.base_type), not r.attnotnull)
        for r in rows
    }


def _regclass(schema: str, table: str) -> str:
    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    return f"{q(schema)}.{q(table)}"
