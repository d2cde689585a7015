"""The bundled example database: a small retail/ERP business, on SQLite, PostgreSQL or MariaDB.

Fourteen tables (regions, stores, employees, customers, product categories, suppliers,
products, promotions, orders, order items, payments, shipments, inventory, returns) and
three views, with Chinese/English comments on every table and column, filled with
deterministic data from :mod:`data_create.example.data` (same seed, same rows).

One definition drives every engine (:mod:`.schema`); this module builds it as a SQLite
file or loads it into an existing PostgreSQL or MariaDB/MySQL database.

Usage::

    build_sqlite("retail.sqlite")                      # a private copy
    load_into("postgresql://postgres@127.0.0.1/shop")  # into an existing empty database
    example_dsn()  # 'sqlite:////home/me/.cache/nl2sql-factory/example/retail_v1.sqlite'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import engines
from ..errors import ConfigError
from .schema import VIEWS, object_names, schema, sqlite_ddl, tables, view_sql

if TYPE_CHECKING:
    from sqlalchemy import Table

DEFAULT_SEED = 20240601
# Bump when the schema or the generated data change: it names the cached file, so a
# new version is built instead of reusing a stale one (tests pin the content hash).
VERSION = "v1"
HOME_ENV = "NL2SQL_HOME"
_INSERT_CHUNK = 5000


# ---------------------------------------------------------------- loading


def _rows(table: Table, data: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = data[table.name]
    names = [c.name for c in table.columns]
    for row in rows[:1]:
        if sorted(row) != sorted(names):
            raise AssertionError(f"generator rows for {table.name} have keys {sorted(row)}")
    return rows


def _sqlite_value(value: Any) -> Any:
    # SQLite stores dates as ISO text and money in NUMERIC (REAL/INTEGER) columns;
    # converting here avoids sqlite3's default adapters, deprecated since Python 3.12.
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _load_sqlite(conn: sqlite3.Connection, seed: int) -> None:
    from .data import generate

    existing = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    _refuse_clashes([name for (name,) in existing], "the SQLite database")
    data = generate(seed)
    conn.isolation_level = None  # we say where the one transaction begins and ends
    conn.execute("BEGIN")
    try:
        for statement in sqlite_ddl():
            conn.execute(statement)
        for table in tables():
            names = [c.name for c in table.columns]
            sql = (
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})"
            )
            conn.executemany(
                sql,
                (tuple(_sqlite_value(r[n]) for n in names) for r in _rows(table, data)),
            )
            # SQLite does not enforce foreign keys unless asked; prove the data keeps them.
            problems = conn.execute(f"PRAGMA foreign_key_check({table.name})").fetchall()
            if problems:
                raise AssertionError(f"example rows break foreign keys: {problems[:5]}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _refuse_clashes(existing: Iterable[str], where: str) -> None:
    existing = {name.lower() for name in existing}
    clashes = [name for name in object_names() if name.lower() in existing]
    if clashes:
        raise ConfigError(
            f"{where} already has tables or views named {', '.join(clashes)}",
            "load the example into an empty database, or drop those objects first",
        )


def build_sqlite(path: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """(Re)create the example as a SQLite file at ``path``; returns the path.

    The file is written beside its destination and renamed into place, so a reader
    never sees half a database and two builders racing each leave a whole one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # sqlite3 wants to create the file itself
        with contextlib.closing(sqlite3.connect(tmp)) as conn:
            _load_sqlite(conn, seed)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_into(dsn: str, seed: int = DEFAULT_SEED) -> None:
    """Create the example's tables, views and rows in the database ``dsn`` names.

    Refuses (:class:`~data_create.errors.ConfigError`) when a table or view of the
    same name already exists there.  A SQLite DSN names a file, created if missing.
    A database error (no privilege to create tables, say) becomes a
    :class:`~data_create.errors.ConnectionFailed` that names the masked DSN.
    """
    from sqlalchemy.exc import DBAPIError

    from ..connect import classify, connect, parse_dsn

    url = parse_dsn(dsn)
    try:
        if engines.get(url.drivername).file_database:
            if not url.database or url.database == ":memory:":
                raise ConfigError("a SQLite DSN for the example must name a file")
            with contextlib.closing(sqlite3.connect(url.database)) as conn:
                _load_sqlite(conn, seed)
            return
        # Loading creates tables: an administrative task, not generated SQL.
        db = connect(dsn, allow_privileged=True)
        try:
            _load_server(db, seed)
        finally:
            db.dispose()
    except (DBAPIError, sqlite3.Error) as exc:
        raise classify(exc, url) from None


def _load_server(db: Any, seed: int) -> None:
    from sqlalchemy import inspect, text

    from .data import generate

    md = schema()
    with db.engine.connect() as conn:
        insp = inspect(conn)
        _refuse_clashes(insp.get_table_names() + insp.get_view_names(), db.display)
    data = generate(seed)
    dialect = db.profile.sqlglot_dialect
    # One transaction: PostgreSQL rolls the DDL back too on failure; MySQL commits DDL
    # as it goes, so a failure there can leave tables behind.
    with db.engine.begin() as conn:
        md.create_all(conn)
        for table in tables():
            rows = _rows(table, data)
            for start in range(0, len(rows), _INSERT_CHUNK):
                conn.execute(table.insert(), rows[start : start + _INSERT_CHUNK])
        for name, (comment, _) in VIEWS.items():
            conn.execute(text(f"CREATE VIEW {name} AS\n{view_sql(name, dialect)}"))
            if db.profile.view_comment_sql:  # MySQL has no comments on views
                statement = db.profile.view_comment_sql.format(
                    name=name, comment=_sql_string(comment)
                )
                conn.execute(text(statement))


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------- the bundled copy


def example_sqlite_path() -> Path:
    """The bundled example as SQLite, built into the cache directory on first use.

    ``$NL2SQL_HOME/example/retail_<VERSION>.sqlite`` (default home
    ``~/.cache/nl2sql-factory``); rebuilt only when missing.
    """
    home = os.environ.get(HOME_ENV) or Path.home() / ".cache" / "nl2sql-factory"
    path = Path(home).expanduser() / "example" / f"retail_{VERSION}.sqlite"
    if not path.is_file():
        build_sqlite(path, DEFAULT_SEED)
    return path


def example_dsn() -> str:
    """``sqlite:///`` DSN of :func:`example_sqlite_path`."""
    return f"sqlite:///{example_sqlite_path()}"


def table_counts(conn: Any) -> Iterator[tuple[str, int]]:
    """(table, row count) for every example table, through a SQLAlchemy connection."""
    from sqlalchemy import func, select

    for table in tables():
        yield table.name, conn.execute(select(func.count()).select_from(table)).scalar_one()
