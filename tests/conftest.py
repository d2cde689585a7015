"""Shared fixtures: real PostgreSQL and MariaDB servers, throwaway databases, sample data.

Every test database is created here under a unique name and dropped afterwards.  A
server that is down skips its tests on a developer's machine but FAILS them under CI
(``CI=true``), where a missing server is a broken environment, not an excuse.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PG_ADMIN_DSN = os.environ.get("NL2SQL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_DSN = os.environ.get("NL2SQL_TEST_MYSQL", "mysql://root@127.0.0.1:3306/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_RUN = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"

# The test servers are reached as postgres / root, superusers that connect() refuses by
# default; the suite (and the CLI subprocesses it starts) allows them.  Tests of the
# refusal unset this, and tests/test_least_privilege.py runs as a read-only role.
os.environ.setdefault("NL2SQL_ALLOW_PRIVILEGED_ROLE", "1")


def unique_name(prefix: str) -> str:
    return f"t_{prefix}_{_RUN}_{uuid.uuid4().hex[:6]}".lower()


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it (see .ci/run, which starts it)", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------- servers


def _pg_admin():
    import psycopg2

    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError:
        return None
    conn.autocommit = True
    return conn


def _mysql_admin():
    import pymysql

    try:
        return pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", connect_timeout=3,
            charset="utf8mb4", autocommit=True,
        )  # fmt: skip
    except pymysql.err.OperationalError:
        return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[None]:
    conn = _pg_admin()
    if conn is None:
        _unavailable("PostgreSQL on 127.0.0.1:5432")
    conn.close()
    yield


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[None]:
    conn = _mysql_admin()
    if conn is None:
        _unavailable("MariaDB/MySQL on 127.0.0.1:3306")
    conn.close()
    yield


def create_pg_database(name: str) -> str:
    conn = _pg_admin()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    conn.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    conn = _pg_admin()
    if conn is None:
        return
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def create_mysql_database(name: str) -> str:
    conn = _mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return f"mysql://root@127.0.0.1:3306/{name}"


def drop_mysql_database(name: str) -> None:
    conn = _mysql_admin()
    if conn is None:
        return
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
def pg_database(pg_server) -> Iterator[str]:
    """A fresh, empty PostgreSQL database; yields its DSN."""
    name = unique_name("pg")
    dsn = create_pg_database(name)
    yield dsn
    drop_pg_database(name)


@pytest.fixture
def mysql_database(mysql_server) -> Iterator[str]:
    """A fresh, empty MariaDB database; yields its DSN."""
    name = unique_name("my")
    dsn = create_mysql_database(name)
    yield dsn
    drop_mysql_database(name)


# ---------------------------------------------------------------- sample data


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample data {path} is absent (../shared/data is not beside the checkout)")
    return path


def psql_file(dsn: str, path: Path) -> None:
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        check=True, capture_output=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )  # fmt: skip


def mysql_source(database: str, sql_text: str) -> None:
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "the mariadb/mysql command-line client is needed to load sample dumps"
    subprocess.run(
        [client, "-h", "127.0.0.1", "-P", "3306", "-u", "root", "--default-character-set=utf8mb4",
         database],
        input=sql_text.encode(), check=True, capture_output=True,
    )  # fmt: skip


def _loaded_database(
    request: pytest.FixtureRequest, engine: str, prefix: str, load: Callable[[str, str], None]
) -> Iterator[str]:
    name = unique_name(prefix)
    if engine == "pg":
        dsn = create_pg_database(name)
        drop = drop_pg_database
    else:
        dsn = create_mysql_database(name)
        drop = drop_mysql_database
    try:
        load(name, dsn)
        yield dsn
    finally:
        drop(name)


# Sakila on the two server engines: the parameters of a test that runs generated SQL there
# (each test takes the fixture by name: request.getfixturevalue).
SAKILA_SERVERS = [
    pytest.param("sakila_pg", id="sakila-pg", marks=pytest.mark.postgres),
    pytest.param("sakila_mysql", id="sakila-mariadb", marks=pytest.mark.mysql),
]


@pytest.fixture(scope="session")
def sakila_mysql(request, mysql_server) -> Iterator[str]:
    """Sakila loaded into MariaDB (16 tables, 7 views, triggers); yields the DSN."""
    schema = shared_file("sakila", "mysql", "sakila-schema.sql").read_text(encoding="utf-8")
    data = shared_file("sakila", "mysql", "sakila-data.sql").read_text(encoding="utf-8")

    def load(name: str, dsn: str) -> None:
        # The dump names its schema `sakila` (views too); retarget it at our database.
        mysql_source(name, re.sub(r"\bsakila\b(?=[.;\s])", name, schema))
        mysql_source(name, data.replace("USE sakila;", f"USE {name};"))

    yield from _loaded_database(request, "mysql", "sakila", load)


@pytest.fixture(scope="session")
def sakila_pg(request, pg_server) -> Iterator[str]:
    """Sakila loaded into PostgreSQL (partitioned ``payment``); yields the DSN."""
    schema = shared_file("sakila", "postgres_jooq", "postgres-sakila-schema.sql")
    data = shared_file("sakila", "postgres_jooq", "postgres-sakila-insert-data-using-copy.sql")

    def load(name: str, dsn: str) -> None:
        psql_file(dsn, schema)
        psql_file(dsn, data)

    yield from _loaded_database(request, "pg", "sakila", load)


@pytest.fixture(scope="session")
def northwind_pg(request, pg_server) -> Iterator[str]:
    path = shared_file("northwind", "postgres_pthom", "northwind.sql")
    yield from _loaded_database(request, "pg", "nwind", lambda name, dsn: psql_file(dsn, path))


@pytest.fixture(scope="session")
def northwind_sqlite(tmp_path_factory) -> str:
    """A private copy of Northwind for SQLite (tests must not touch shared/)."""
    src = shared_file("northwind", "sqlite_jpwhite3", "northwind.sqlite")
    dst = tmp_path_factory.mktemp("northwind") / "northwind.sqlite"
    shutil.copyfile(src, dst)
    return f"sqlite:///{dst}"


@pytest.fixture(scope="session")
def mall_mysql(request, mysql_server) -> Iterator[str]:
    """The `mall` e-commerce schema (76 tables, Chinese comments) in MariaDB."""
    text = shared_file("cn_schemas", "mall", "mall.sql").read_text(encoding="utf-8")
    yield from _loaded_database(
        request, "mysql", "mall", lambda name, dsn: mysql_source(name, text)
    )


@pytest.fixture(scope="session")
def litemall_mysql(request, mysql_server) -> Iterator[str]:
    """The `litemall` schema and data (34 tables, Chinese comments) in MariaDB."""
    table = shared_file("cn_schemas", "litemall", "litemall_table.sql").read_text(encoding="utf-8")
    data = shared_file("cn_schemas", "litemall", "litemall_data.sql").read_text(encoding="utf-8")

    def load(name: str, dsn: str) -> None:
        mysql_source(name, table)
        mysql_source(name, data)

    yield from _loaded_database(request, "mysql", "litemall", load)


# ---------------------------------------------------------------- defog (human questions)


def load_bench(stem: str, name: str | None = None, *, siblings: bool = True):
    """``bench/<stem>.py`` as a module named ``name`` (default ``stem``); with ``siblings``
    bench/ goes on sys.path first, for the scripts that import each other (``import defog``)."""
    import importlib.util

    if siblings and str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name or stem, ROOT / "bench" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _defog_module():
    """bench/defog.py: the one loader of the defog databases, shared with the benches."""
    return load_bench("defog", "nl2sql_bench_defog", siblings=False)


@pytest.fixture(scope="session")
def defog():
    """The defog loader module (skips where ../shared/data/defog is absent)."""
    shared_file("defog", "questions")
    return _defog_module()


@pytest.fixture(scope="session")
def defog_db(pg_server, defog) -> Iterator[Callable[[str], str]]:
    """``defog_db("broker")`` loads that defog database (column descriptions as comments)
    once per session into a uniquely named PostgreSQL database; yields its DSN.  All are
    dropped at the end of the session."""
    loaded: dict[str, str] = {}
    names: list[str] = []

    def load(db: str) -> str:
        if db not in loaded:
            name = unique_name(f"defog_{db}")
            names.append(name)
            loaded[db] = defog.load_database(db, name)
        return loaded[db]

    try:
        yield load
    finally:
        for name in names:
            drop_pg_database(name)


@dataclass
class LoadedExample:
    """The bundled example database, connected, with its metadata."""

    meta: Any
    db: Any


@pytest.fixture(scope="module")
def example() -> Iterator[LoadedExample]:
    """The bundled example: a small SQLite shop (orders, items, customers, stores...)."""
    from data_create import connect, metadata
    from data_create.example import database as example_db

    db = connect.connect(example_db.example_dsn())
    yield LoadedExample(metadata.extract(db), db)
    db.dispose()
