"""The naive extraction, kept as a baseline: SQLAlchemy's Inspector, table by table.

For every table it asks the Inspector for the columns, primary key, foreign keys,
unique constraints, indexes and comment (one or more round trips each; the Inspector
has no way to get them for a whole schema), plus one query for the column types as
the engine prints them and their nullability (the Inspector returns SQLAlchemy type
objects, and on MySQL reflects every view column as nullable).  The list
of tables and their row estimates come from the engine module's one listing query,
so that both ways describe exactly the same tables.

It produces the same records as the batched readers; ``bench/bench_metadata.py``
times the two against each other and the tests check they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ..records import Column, ForeignKey, Table
from . import Keep, clean_comment, dedupe_unique


def read_tables(
    conn: Any, module: ModuleType, schemas: Sequence[str], include_views: bool, keep: Keep
) -> list[Table]:
    from sqlalchemy import inspect

    inspector = inspect(conn)
    ddl_comments = getattr(module, "table_comments", None)  # SQLite: comments live in the DDL
    out = []
    for listed in module.list_tables(conn, schemas, include_views, keep):
        schema, name = listed.schema, listed.name
        types = module.column_types(conn, schema, name)
        if ddl_comments is not None:
            table_comment, column_comments = ddl_comments(conn, schema, name)
        else:
            table_comment = inspector.get_table_comment(name, schema=schema).get("text")
            column_comments = {}
        columns = []
        for c in inspector.get_columns(name, schema=schema):
            raw, normalised, nullable = types.get(
                c["name"], (str(c["type"]), "other", c.get("nullable", True))
            )
            comment = c.get("comment") or column_comments.get(c["name"].lower())
            default = c.get("default")
            columns.append(
                Column(
                    name=c["name"],
                    raw_type=raw,
                    type=normalised,
                    nullable=bool(nullable),
                    default=None if default is None else str(default),
                    comment=clean_comment(comment),
                )
            )
        primary_key: tuple[str, ...] = ()
        fks: list[ForeignKey] = []
        uniques: list[tuple[str, ...]] = []
        if listed.kind == "table":
            primary_key = tuple(
                inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or ()
            )
            for i, fk in enumerate(inspector.get_foreign_keys(name, schema=schema)):
                fks.append(
                    ForeignKey(
                        columns=tuple(fk["constrained_columns"]),
                        ref_table=fk["referred_table"],
                        ref_columns=tuple(fk["referred_columns"]),
                        ref_schema=fk.get("referred_schema") or schema,
                        name=fk.get("name") or f"fk{i}",
                    )
                )
            named: list[tuple[str, tuple[str, ...]]] = [
                (u.get("name") or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name, schema=schema)
            ]
            named += [
                (ix.get("name") or "", tuple(ix["column_names"]))
                for ix in inspector.get_indexes(name, schema=schema)
                if _plain_unique(ix)
            ]
            uniques = [cols for _, cols in sorted(named)]
        out.append(
            Table(
                name=name,
                schema=schema,
                kind=listed.kind,
                comment=clean_comment(table_comment),
                columns=tuple(columns),
                primary_key=primary_key,
                foreign_keys=tuple(sorted(fks, key=lambda f: f.name or "")),
                unique=dedupe_unique(uniques, primary_key),
                row_count=listed.row_count,
            )
        )
    return out


def _plain_unique(index: dict[str, Any]) -> bool:
    """A unique index on plain columns that covers the whole table (not partial)."""
    if not index.get("unique") or None in index.get("column_names", [None]):
        return False
    if index.get("expressions"):
        return False
    options = index.get("dialect_options") or {}
    return not any(key.endswith("_where") and value is not None for key, value in options.items())
