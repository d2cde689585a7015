"""The executor on real SQLite, PostgreSQL and MariaDB: results, row cap, timeouts that
cancel on the server, read-only sessions, connection reuse and reconnection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from data_create import connect as c
from data_create.connect import Database
from data_create.executor import _TSQL_TOKEN, ExecResult, Executor, ExecutorPool, _split_one

ROWS = 3000
TIMEOUT_S = 1.0
MARGIN_S = 3.0  # behavioural bound on how long a cancelled query may take, not a benchmark
# 3000**3 rows to count: minutes of work on any engine.
RUNAWAY = "SELECT count(*) FROM items a, items b, items c"


def _fill(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40), price INTEGER)")
        )
        conn.execute(
            text("INSERT INTO items (id, name, price) VALUES (:id, :name, :price)"),
            [{"id": i, "name": f"item {i}", "price": i % 100} for i in range(1, ROWS + 1)],
        )


def _sqlite(tmp_path: Path) -> Database:
    path = tmp_path / "shop.sqlite"
    sqlite3.connect(path).close()
    db = c.connect(str(path))
    _fill(db.engine)
    return db


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:
    db = _sqlite(tmp_path)
    yield db
    db.dispose()


@pytest.fixture
def pg_db(pg_database) -> Iterator[Database]:
    db = c.connect(pg_database)
    _fill(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def mysql_db(mysql_database) -> Iterator[Database]:
    db = c.connect(mysql_database)
    _fill(db.engine)
    yield db
    db.dispose()


ENGINES = [
    pytest.param("sqlite_db", id="sqlite"),
    pytest.param("pg_db", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql_db", id="mariadb", marks=pytest.mark.mysql),
]


@pytest.fixture(params=ENGINES)
def db(request) -> Database:
    return request.getfixturevalue(request.param)


def _state(db: Database) -> tuple[int, int]:
    """(row count, sum of prices) of ``items``, read over the engine's own connection."""
    with db.engine.connect() as conn:
        return tuple(conn.execute(text("SELECT count(*), sum(price) FROM items")).one())


# ---------------------------------------------------------------- results


def test_results_columns_and_empty(db):
    with Executor(db, timeout_s=5) as ex:
        r = ex.execute("SELECT name, price FROM items WHERE id = 17")
        assert r.ok and r.error_kind is None and r.error is None
        assert r.columns == ("name", "price")
        assert r.rows == (("item 17", 17),)
        assert r.row_count == 1 and not r.truncated and not r.empty
        assert r.elapsed_ms > 0

        r = ex.execute("SELECT id FROM items WHERE price > 1000")
        assert r.ok and r.empty and r.rows == () and r.columns == ("id",)

        r = ex.execute("SELECT count(*) AS n, max(id) AS top FROM items")
        assert r.rows == ((ROWS, ROWS),) and r.columns == ("n", "top")


def test_row_cap_truncates_without_fetching_everything(db):
    with Executor(db, timeout_s=5, row_cap=10) as ex:
        r = ex.execute("SELECT id FROM items ORDER BY id")
        assert r.ok and r.truncated and r.row_count == 10
        assert r.rows == tuple((i,) for i in range(1, 11))

        exact = ex.execute("SELECT id FROM items ORDER BY id LIMIT 10")
        assert exact.ok and not exact.truncated and exact.row_count == 10

        # A cap on the outermost result only: aggregates still see every row.
        r = ex.execute("SELECT count(*) FROM (SELECT id FROM items) AS sub")
        assert r.rows == ((ROWS,),) and not r.truncated

        # A huge result with a LIMIT of its own is cut short, and the session goes on.
        big = ex.execute(f"{RUNAWAY.replace('count(*)', 'a.id, b.id')} LIMIT 100000000")
        assert big.ok and big.truncated and big.row_count == 10
        assert ex.execute("SELECT 1").rows == ((1,),)


def test_row_cap_zero_only_says_whether_rows_exist(db):
    with Executor(db, timeout_s=5, row_cap=0) as ex:
        r = ex.execute("SELECT id FROM items")
        assert r.ok and r.rows == () and r.truncated
        assert not ex.execute("SELECT id FROM items WHERE id < 0").truncated


def test_sql_error_is_one_line(db):
    with Executor(db, timeout_s=5) as ex:
        for sql in ("SELECT nope FROM items", "SELECT * FROM missing_table", "SELEC 1 FROM\nitems"):
            r = ex.execute(sql)
            assert not r.ok and r.error_kind == "error", sql
            assert r.error and "\n" not in r.error, r.error
        # The session survives errors.
        assert ex.execute("SELECT count(*) FROM items").rows == ((ROWS,),)


# ---------------------------------------------------------------- timeouts


def _server_running(db: Database, backend_id: int | None) -> list[tuple]:
    """What the server still runs for that connection (PostgreSQL / MariaDB)."""
    with db.engine.connect() as conn:
        if db.profile.name == "postgresql":
            sql = "SELECT state, query FROM pg_stat_activity WHERE pid = :id AND state = 'active'"
        else:
            sql = (
                "SELECT command, info FROM information_schema.processlist "
                "WHERE id = :id AND command <> 'Sleep'"
            )
        return list(conn.execute(text(sql), {"id": backend_id}).all())


def _assert_cancelled(db: Database, ex: Executor, r: ExecResult) -> None:
    assert not r.ok and r.error_kind == "timeout", r
    assert "timeout" in r.error
    assert TIMEOUT_S * 1000 * 0.9 <= r.elapsed_ms < (TIMEOUT_S + MARGIN_S) * 1000
    if db.profile.name != "sqlite":
        assert _server_running(db, ex.backend_id) == []
    # The same session goes on.
    after = ex.execute("SELECT count(*) FROM items")
    assert after.ok and after.rows == ((ROWS,),)


def test_runaway_query_is_cancelled(db):
    with Executor(db, timeout_s=TIMEOUT_S) as ex:
        assert ex.execute("SELECT 1").ok
        _assert_cancelled(db, ex, ex.execute(RUNAWAY))


def test_sqlite_runaway_recursive_cte_is_cancelled(sqlite_db):
    count = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) "
        "SELECT count(*) FROM c"
    )
    with Executor(sqlite_db, timeout_s=TIMEOUT_S) as ex:
        _assert_cancelled(sqlite_db, ex, ex.execute(count))


def test_sqlite_lock_wait_counts_as_timeout(sqlite_db):
    writer = sqlite3.connect(sqlite_db.url.database, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # keeps readers out (rollback-journal mode)
    try:
        with Executor(sqlite_db, timeout_s=0.5) as ex:
            r = ex.execute("SELECT count(*) FROM items")
            assert r.error_kind == "timeout" and r.elapsed_ms < (0.5 + MARGIN_S) * 1000
            writer.execute("ROLLBACK")
            assert ex.execute("SELECT count(*) FROM items").rows == ((ROWS,),)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("fixture", "switch_off"),
    [
        pytest.param("pg_db", "SET statement_timeout = 0", marks=pytest.mark.postgres, id="pg"),
        pytest.param(
            "mysql_db", "SET SESSION max_statement_time = 0", marks=pytest.mark.mysql, id="mariadb"
        ),
    ],
)
def test_watchdog_cancels_when_the_server_timeout_is_off(request, fixture, switch_off):
    db = request.getfixturevalue(fixture)
    with Executor(db, timeout_s=TIMEOUT_S) as ex:
        assert ex.execute("SELECT 1").ok
        with ex._session.conn.cursor() as cur:  # reach past the executor to disable it
            cur.execute(switch_off)
        r = ex.execute(RUNAWAY)
        # The server did not time it out; the client-side cancel (conn.cancel() /
        # KILL QUERY) did.
        assert "user request" in r.error or "(1317)" in r.error, r.error
        _assert_cancelled(db, ex, r)


# ---------------------------------------------------------------- read-only

WRITES = [
    "INSERT INTO items (id, name, price) VALUES (999999, 'x', 1)",
    "UPDATE items SET price = price + 1",
    "DELETE FROM items",
    "CREATE TABLE intruder (a INTEGER)",
    "DROP TABLE items",
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_fail_as_readonly(db, sql):
    before = _state(db)
    with Executor(db, timeout_s=5) as ex:
        r = ex.execute(sql)
        assert not r.ok and r.error_kind == "readonly", r
        assert ex.execute("SELECT count(*) FROM items").rows == ((ROWS,),)
    assert _state(db) == before


# Two statements where the first loosens the session for the second: each engine's
# session must stay read-only whatever a previous statement did.
LOOSENERS = {
    "sqlite": ["PRAGMA query_only = OFF", "BEGIN", "COMMIT"],
    "postgresql": [
        "SET TRANSACTION READ WRITE",
        "SET default_transaction_read_only = off",
        "COMMIT",
    ],
    "mysql": ["SET SESSION TRANSACTION READ WRITE", "SET autocommit = 1", "COMMIT"],
}


@pytest.mark.parametrize("write", ["DELETE FROM items", "DROP TABLE items"])
def test_session_cannot_be_switched_to_read_write(db, write):
    before = _state(db)
    with Executor(db, timeout_s=5) as ex:
        for loosener in LOOSENERS[db.profile.name]:
            ex.execute(loosener)
            r = ex.execute(write)
            assert not r.ok and r.error_kind == "readonly", (loosener, r)
    assert _state(db) == before


# PostgreSQL runs "a; b" in one call, so the executor splits statements itself, by the
# server's own rules for quotes and comments (standard_conforming_strings on).
PG_ONE_STATEMENT = [
    ("SELECT ';' AS x", ";"),
    ("SELECT $$;$$ AS x", ";"),
    ("SELECT $tag$ it's; $$ $tag$ AS x", " it's; $$ "),
    ("SELECT E'\\';' AS x", "';"),
    ("SELECT 'a\\' AS x", "a\\"),
    ('SELECT 1 AS ";" ', 1),
    ("SELECT 1 AS x /* ; /* nested ; */ still ; */", 1),
    ("SELECT 1 AS x -- ; trailing", 1),
    ("SELECT 1 AS x;", 1),
    ("SELECT 1 AS x; -- done", 1),
    ("SELECT 1 AS x ;; ", 1),
]
PG_SMUGGLED = [
    "SELECT 1; DELETE FROM items",
    "COMMIT; DELETE FROM items",
    "SELECT 'a\\'; DELETE FROM items; --'",
    "SELECT 1 /* ; */; DELETE FROM items",
    "SELECT $a$ x $a$; DELETE FROM items",
    "SELECT 1 --x\n; DELETE FROM items",
    "SELECT E'\\''; DELETE FROM items",
    "SELECT 'open; DELETE FROM items",
    "SELECT $q$ open; DELETE FROM items",
    "SELECT 1 /* open; DELETE FROM items",
]


@pytest.mark.postgres
def test_postgres_splits_statements_like_the_server(pg_db):
    before = _state(pg_db)
    with Executor(pg_db, timeout_s=5) as ex:
        for sql, value in PG_ONE_STATEMENT:
            r = ex.execute(sql)
            assert r.ok and r.rows == ((value,),), (sql, r)
        for sql in PG_SMUGGLED:
            r = ex.execute(sql)
            assert not r.ok, sql
        r = ex.execute("COPY items TO '/tmp/nl2sql_copy_test'")
        assert r.error_kind == "readonly"
        assert not Path("/tmp/nl2sql_copy_test").exists()
    assert _state(pg_db) == before


@pytest.mark.mysql
def test_mariadb_refuses_outfile(mysql_db, tmp_path):
    target = tmp_path / "out.txt"
    with Executor(mysql_db, timeout_s=5) as ex:
        r = ex.execute(f"SELECT id FROM items INTO OUTFILE '{target}'")
        assert r.error_kind == "readonly"
    assert not target.exists()


def test_sqlite_refuses_attach_and_vacuum_into(sqlite_db, tmp_path):
    with Executor(sqlite_db, timeout_s=5) as ex:
        for sql in (f"ATTACH '{tmp_path / 'a.db'}' AS a", f"VACUUM INTO '{tmp_path / 'v.db'}'"):
            r = ex.execute(sql)
            assert r.error_kind == "readonly", r
        assert ex.execute("PRAGMA table_info(items)").row_count == 3
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "v.db").exists()


def test_sqlite_in_memory_database_is_read_only_only_during_queries():
    db = c.connect("sqlite://")
    with db.engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        conn.commit()
        with Executor(db, timeout_s=5) as ex:
            assert ex.execute("SELECT sum(a) FROM t").rows == ((3,),)
            assert ex.execute("INSERT INTO t VALUES (3)").error_kind == "readonly"
        # The engine's own connection is writable again.
        conn.execute(text("INSERT INTO t VALUES (4)"))
        assert conn.execute(text("SELECT sum(a) FROM t")).scalar() == 7
    db.dispose()


def test_tsql_guard_sees_words_outside_quotes_only():
    statement = _split_one(
        "SELECT 'INSERT; DELETE' AS [update], \"drop\" FROM t -- EXEC\n/* COMMIT */;",
        _TSQL_TOKEN,
        want_words=True,
    )
    assert statement.words == {"SELECT", "AS", "FROM", "T"}
    assert statement.body.endswith("*/")
    assert "INTO" in _split_one("SELECT a INTO x FROM t", _TSQL_TOKEN, want_words=True).words


# ---------------------------------------------------------------- connections


def test_connection_errors_are_one_scrubbed_line():
    for dsn in (
        "postgresql://postgres:Sup3rS3cret@127.0.0.1:1/nope",
        "mysql://root:Sup3rS3cret@127.0.0.1:1/nope",
    ):
        url = c.parse_dsn(dsn)
        engine = c.create_engine(url, connect_timeout=2)
        db = Database(engine=engine, profile=c.engines.get(url.drivername), url=url, display="x")
        with Executor(db, timeout_s=2) as ex:
            for _ in range(2):  # each call tries to connect again
                r = ex.execute("SELECT 1")
                assert not r.ok and r.error_kind == "connection", r
                assert "Sup3rS3cret" not in r.error and "\n" not in r.error
                assert "***" in r.error
        engine.dispose()


def test_missing_sqlite_file_is_a_connection_error(tmp_path):
    db = _sqlite(tmp_path)
    Path(db.url.database).unlink()
    with Executor(db, timeout_s=2) as ex:
        r = ex.execute("SELECT 1")
    assert r.error_kind == "connection" and "cannot open SQLite database" in r.error
    assert not Path(db.url.database).exists()  # not created by the attempt
    db.dispose()


def test_sqlite_file_that_is_not_a_database_is_a_connection_error(tmp_path):
    db = _sqlite(tmp_path)
    Path(db.url.database).write_bytes(b"not a database, just bytes" * 100)
    with Executor(db, timeout_s=2) as ex:
        r = ex.execute("SELECT count(*) FROM items")
    assert r.error_kind == "connection" and "not a database" in r.error
    db.dispose()


@pytest.mark.postgres
def test_password_is_scrubbed_from_sql_errors(pg_database):
    dsn = pg_database.replace("postgres@", "postgres:Sup3rS3cret@")
    db = c.connect(dsn)  # the test server trusts local connections: any password works
    with Executor(db, timeout_s=5) as ex:
        r = ex.execute("SELECT CAST('Sup3rS3cret' AS integer)")
    assert r.error_kind == "error" and "Sup3rS3cret" not in r.error and "***" in r.error
    db.dispose()


@pytest.mark.parametrize(
    ("fixture", "kill"),
    [
        pytest.param("pg_db", "SELECT pg_terminate_backend({id})", marks=pytest.mark.postgres),
        pytest.param("mysql_db", "KILL CONNECTION {id}", marks=pytest.mark.mysql),
    ],
)
def test_reconnects_once_when_the_connection_died(request, fixture, kill):
    db = request.getfixturevalue(fixture)
    with Executor(db, timeout_s=5) as ex:
        assert ex.execute("SELECT 1").ok
        first = ex.backend_id
        with db.engine.connect() as conn:
            conn.execute(text(kill.format(id=first)))
            conn.commit()
        time.sleep(0.2)
        r = ex.execute("SELECT count(*) FROM items")
        assert r.ok and r.rows == ((ROWS,),), r
        assert ex.backend_id not in (None, first)


# ---------------------------------------------------------------- pool


def test_pool_keeps_input_order(db):
    sqls = [f"SELECT name FROM items WHERE id = {i}" for i in range(1, 201)]
    sqls[50] = "SELECT nope FROM items"
    with ExecutorPool(db, workers=4, timeout_s=5) as pool:
        results = pool.map(sqls)
    assert len(results) == 200
    assert results[50].error_kind == "error"
    assert [r.rows[0][0] for i, r in enumerate(results) if i != 50] == [
        f"item {i}" for i in range(1, 201) if i != 51
    ]


@pytest.mark.parametrize(
    ("fixture", "who"),
    [
        pytest.param("pg_db", "SELECT pg_backend_pid(), pg_sleep(0.3)", marks=pytest.mark.postgres),
        pytest.param("mysql_db", "SELECT CONNECTION_ID(), SLEEP(0.3)", marks=pytest.mark.mysql),
    ],
)
def test_pool_uses_one_connection_per_worker(request, fixture, who):
    db = request.getfixturevalue(fixture)
    with ExecutorPool(db, workers=4, timeout_s=5) as pool:
        results = pool.map([who] * 8)
        again = pool.map([who] * 8)
    assert all(r.ok for r in results + again)
    ids = {r.rows[0][0] for r in results}
    assert len(ids) == 4  # four workers kept busy by the sleeps: four connections
    assert {r.rows[0][0] for r in again} == ids  # and reused, not reopened


def test_pool_cancels_runaways_in_parallel(db):
    with ExecutorPool(db, workers=3, timeout_s=TIMEOUT_S) as pool:
        results = pool.map([RUNAWAY] * 3)
        after = pool.map(["SELECT count(*) FROM items"] * 6)
    assert [r.error_kind for r in results] == ["timeout"] * 3
    assert all(r.elapsed_ms < (TIMEOUT_S + MARGIN_S) * 1000 for r in results)
    assert all(r.rows == ((ROWS,),) for r in after)
