"""Regression tests for the adversarial findings of issue 10, on the real engines.

Each case in ``tests/fixtures/attacks/<engine>.sql`` goes through the full validator
(syntax+safety, schema from the database's metadata, execution through the executor)
on a throwaway database, once as a superuser and once as an ordinary role that may
only connect and SELECT.  Every case must stop at a static layer: nothing executes.
After each case the database's table contents, sequences / AUTO_INCREMENT counters,
advisory and user locks, the executor connection's session variables and the server
files the attacks aim at are compared with their state before.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    create_mysql_database,
    create_pg_database,
    drop_mysql_database,
    drop_pg_database,
    unique_name,
)
from test_safety import load_cases

from data_create import metadata
from data_create.connect import connect
from data_create.executor import Executor
from data_create.validator import Validator

ATTACKS = Path(__file__).parent / "fixtures" / "attacks"
STATIC_LAYERS = ("input", "syntax", "safety", "schema")


def cases(engine: str) -> list[tuple[str, str]]:
    return load_cases(ATTACKS / f"{engine}.sql")


def test_fixture_counts():
    counts = {e: len(cases(e)) for e in ("postgres", "mysql", "sqlite")}
    assert counts["postgres"] >= 50 and counts["mysql"] >= 35 and counts["sqlite"] >= 20, counts


@dataclass
class Target:
    validator: Validator
    executor: Executor
    snapshot: Any  # () -> comparable state
    database: str


def _run_case(target: Target, title: str, sql: str) -> None:
    before = target.snapshot()
    verdict = target.validator.validate(sql.replace("{db}", target.database))
    assert not verdict.ok, f"{title}: accepted"
    assert verdict.layer in STATIC_LAYERS, f"{title}: reached {verdict.layer}: {verdict.reason}"
    assert target.snapshot() == before, f"{title}: the database changed"


# ---------------------------------------------------------------- PostgreSQL

_PG_SETUP = """
CREATE TABLE categories (id int PRIMARY KEY, label text);
CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(8, 2),
                    category_id int REFERENCES categories(id));
INSERT INTO categories VALUES (1, 'tea'), (2, 'cups');
INSERT INTO items (name, price, category_id) VALUES ('green', 3.5, 1), ('mug', 7, 2);
CREATE TYPE nl2sql_evil_type AS (x int);
CREATE FUNCTION nl2sql_evil() RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO items (name, price) VALUES ('pwned', 0); RETURN 1; END $$;
"""


def _pg_admin(dsn: str) -> Any:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def pg_attack_db(pg_server) -> Iterator[tuple[str, str]]:
    name = unique_name("attack")
    dsn = create_pg_database(name)
    role = f"nl2sql_ro_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin(dsn)
    with admin.cursor() as cur:
        cur.execute(_PG_SETUP)
        # Without contrib's dblink the dblink cases must fail all the same.
        with contextlib.suppress(Exception):
            cur.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    admin.close()
    yield dsn, role
    drop_pg_database(name)
    admin = _pg_admin("postgresql://postgres@127.0.0.1:5432/postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {role}")
    admin.close()


@pytest.fixture(scope="module", params=["superuser", "ordinary role"])
def pg_target(request, pg_attack_db) -> Iterator[Target]:
    dsn, role = pg_attack_db
    run_dsn = dsn if request.param == "superuser" else dsn.replace("postgres@", f"{role}@")
    db = connect(run_dsn)
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    executor = Executor(db, timeout_s=3)
    admin = _pg_admin(dsn)

    def snapshot() -> tuple:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM items t),"
                " (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM categories t),"
                " (SELECT last_value || '/' || is_called FROM items_id_seq),"
                " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),"
                " (SELECT count(*) FROM pg_class WHERE relname = 'pwned'),"
                " pg_stat_file('/tmp/nl2sql_attack_pg.txt', true) IS NULL"
            )
            state = cur.fetchone()
        session = executor.execute(
            "SELECT current_setting('search_path'), current_setting('statement_timeout'),"
            " current_setting('transaction_read_only'), pg_backend_pid()"
        )
        return state, session.rows, session.error_kind

    yield Target(Validator(meta, "postgresql", executor=executor), executor, snapshot, db.name)
    executor.close()
    admin.close()
    db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("title", "sql"), cases("postgres"), ids=[t for t, _ in cases("postgres")])
def test_postgres_attacks(pg_target, title, sql):
    _run_case(pg_target, title, sql)


# ---------------------------------------------------------------- MariaDB / MySQL

_MY_SETUP = [
    "CREATE TABLE categories (id int PRIMARY KEY, label varchar(40))",
    "CREATE TABLE items (id int AUTO_INCREMENT PRIMARY KEY, name varchar(40),"
    " price decimal(8, 2), category_id int)",
    "INSERT INTO categories VALUES (1, 'tea'), (2, 'cups')",
    "INSERT INTO items (name, price, category_id) VALUES ('green', 3.5, 1), ('mug', 7, 2)",
]


def _my_admin(database: str) -> Any:
    import pymysql

    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", database=database,
        autocommit=True, charset="utf8mb4",
    )  # fmt: skip


@pytest.fixture(scope="module")
def my_attack_db(mysql_server) -> Iterator[tuple[str, str, str]]:
    name = unique_name("attack")
    dsn = create_mysql_database(name)
    user, password = f"nl2sql_ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = _my_admin(name)
    with admin.cursor() as cur:
        for statement in _MY_SETUP:
            cur.execute(statement)
        # Binary logging may forbid a stored function; the case must fail all the same.
        with contextlib.suppress(Exception):
            cur.execute(
                "CREATE FUNCTION nl2sql_evil() RETURNS int MODIFIES SQL DATA "
                "BEGIN INSERT INTO items (name, price) VALUES ('pwned', 0); RETURN 1; END"
            )
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT SELECT ON `{name}`.* TO '{user}'@'{host}'")
    admin.close()
    yield dsn, user, password
    admin = _my_admin(name)
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    admin.close()
    drop_mysql_database(name)


@pytest.fixture(scope="module", params=["superuser", "ordinary role"])
def my_target(request, my_attack_db) -> Iterator[Target]:
    dsn, user, password = my_attack_db
    run_dsn = dsn if request.param == "superuser" else dsn.replace("root@", f"{user}:{password}@")
    db = connect(run_dsn)
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    executor = Executor(db, timeout_s=3)
    admin = _my_admin(db.name)

    def snapshot() -> tuple:
        with admin.cursor() as cur:
            cur.execute("CHECKSUM TABLE items, categories")
            sums = cur.fetchall()
            cur.execute(
                "SELECT AUTO_INCREMENT FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'items'"
            )
            counter = cur.fetchall()
            cur.execute(
                "SELECT IS_USED_LOCK('nl2sql_attack'), "
                "LOAD_FILE('/tmp/nl2sql_attack_my.txt') IS NULL"
            )
            locks = cur.fetchall()
        session = executor.execute(
            "SELECT @nl2sql_v, @@session.sql_mode, @@session.time_zone, CONNECTION_ID()"
        )
        return sums, counter, locks, session.rows, session.error_kind

    yield Target(Validator(meta, "mysql", executor=executor), executor, snapshot, db.name)
    executor.close()
    admin.close()
    db.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize(("title", "sql"), cases("mysql"), ids=[t for t, _ in cases("mysql")])
def test_mysql_attacks(my_target, title, sql):
    _run_case(my_target, title, sql)


# ---------------------------------------------------------------- SQLite

_SQLITE_FILES = ("nl2sql_attack_sqlite.txt", "nl2sql_attack_sqlite.db")


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("attack-sqlite")
    path = folder / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE categories (id INTEGER PRIMARY KEY, label TEXT);"
            "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, price REAL,"
            " category_id INTEGER);"
            "INSERT INTO categories VALUES (1, 'tea'), (2, 'cups');"
            "INSERT INTO items (name, price, category_id) VALUES ('green', 3.5, 1), ('mug', 7, 2);"
        )
    conn.close()
    db = connect(f"sqlite:///{path}")
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    executor = Executor(db, timeout_s=3)

    def snapshot() -> tuple:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files = sorted(p.name for p in folder.iterdir())
        tmp = [Path("/tmp", n).exists() for n in _SQLITE_FILES]
        return digest, files, tmp

    yield Target(Validator(meta, "sqlite", executor=executor), executor, snapshot, "main")
    executor.close()
    db.dispose()


@pytest.mark.parametrize(("title", "sql"), cases("sqlite"), ids=[t for t, _ in cases("sqlite")])
def test_sqlite_attacks(sqlite_target, title, sql):
    _run_case(sqlite_target, title, sql)


# ---------------------------------------------------------------- the checks can see


@pytest.mark.postgres
def test_postgres_snapshot_sees_a_lock_and_the_role_is_ordinary(pg_target, pg_attack_db):
    dsn, role = pg_attack_db
    before = pg_target.snapshot()
    other = _pg_admin(dsn)
    with other.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(4242)")
        assert pg_target.snapshot() != before
        cur.execute("SELECT pg_advisory_unlock(4242)")
    other.close()
    assert pg_target.snapshot() == before
    who = pg_target.executor.execute("SELECT current_user, (SELECT rolsuper FROM pg_roles "
                                     "WHERE rolname = current_user)")  # fmt: skip
    assert who.rows[0] in (("postgres", True), (role, False))


@pytest.mark.mysql
def test_mysql_snapshot_sees_a_user_lock(my_target):
    before = my_target.snapshot()
    other = _my_admin(my_target.database)
    with other.cursor() as cur:
        cur.execute("SELECT GET_LOCK('nl2sql_attack', 0)")
        assert my_target.snapshot() != before
        cur.execute("SELECT RELEASE_LOCK('nl2sql_attack')")
    other.close()
    assert my_target.snapshot() == before
