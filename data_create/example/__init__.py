"""The bundled example database: a small retail business on SQLite, PostgreSQL or MariaDB.

:mod:`.schema` defines the tables and views, :mod:`.database` builds or loads them and
:mod:`.data` draws their rows from a seed.  What the tools use is re-exported here::

    from data_create import example
    example.build_sqlite("retail.sqlite")                      # a private copy
    example.load_into("postgresql://postgres@127.0.0.1/shop")  # an existing empty database
    example.example_dsn()                                      # the cached copy
"""

from __future__ import annotations

from .database import (
    DEFAULT_SEED,
    HOME_ENV,
    VERSION,
    VIEWS,
    build_sqlite,
    example_dsn,
    example_sqlite_path,
    load_into,
    object_names,
    schema,
    sqlite_ddl,
    table_counts,
    tables,
    view_sql,
)

__all__ = [
    "DEFAULT_SEED",
    "HOME_ENV",
    "VERSION",
    "VIEWS",
    "build_sqlite",
    "example_dsn",
    "example_sqlite_path",
    "load_into",
    "object_names",
    "schema",
    "sqlite_ddl",
    "table_counts",
    "tables",
    "view_sql",
]
