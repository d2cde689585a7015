"""Issue 10, executor side, on the real engines: nothing survives in a pooled connection,
errors carry no database values, and the byte cap bounds the process's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from data_create import connect as c
from data_create.connect import Database
from data_create.executor import Executor, ExecutorPool, reduce_error

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+1 555 0100"
EMAILS = ("ada@example.org", "grace@example.org")


def _people(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE people (id INTEGER PRIMARY KEY, phone VARCHAR(40), email VARCHAR(80))"
            )
        )
        conn.execute(
            text("INSERT INTO people (id, phone, email) VALUES (:i, :p, :e)"),
            [{"i": i, "p": PHONE if i == 1 else "+44 20 7946 0000", "e": e}
             for i, e in enumerate(EMAILS, 1)],
        )  # fmt: skip


@pytest.fixture
def pg_db(pg_database) -> Iterator[Database]:
    db = c.connect(pg_database)
    _people(db)
    yield db
    db.dispose()


@pytest.fixture
def mysql_db(mysql_database) -> Iterator[Database]:
    db = c.connect(mysql_database)
    _people(db)
    yield db
    db.dispose()


@pytest.fixture
def pg_reader_db(pg_db, monkeypatch) -> Iterator[Database]:
    """The same database through a role that may only read (the README's recipe),
    connected without --allow-privileged-role."""
    import psycopg2

    role = f"t_reader_{uuid.uuid4().hex[:8]}"
    name = pg_db.url.database
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"GRANT CONNECT ON DATABASE {name} TO {role}")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    monkeypatch.delenv(c.ALLOW_PRIVILEGED_ENV, raising=False)
    db = c.connect(pg_db.url.set(username=role).render_as_string(hide_password=False))
    assert db.privileged == ()
    yield db
    db.dispose()
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        cur.execute(f"DROP OWNED BY {role}")
        cur.execute(f"DROP ROLE {role}")
    admin.close()


@pytest.fixture
def mysql_reader_db(mysql_db, monkeypatch) -> Iterator[Database]:
    """The same database through an account with SELECT only, without the flag."""
    import pymysql

    user, password = f"t_rd_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    name = mysql_db.url.database
    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT SELECT ON `{name}`.* TO '{user}'@'{host}'")
    monkeypatch.delenv(c.ALLOW_PRIVILEGED_ENV, raising=False)
    url = mysql_db.url.set(username=user, password=password)
    db = c.connect(url.render_as_string(hide_password=False))
    assert db.privileged == ()
    yield db
    db.dispose()
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    admin.close()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:
    path = tmp_path / "people.sqlite"
    path.touch()
    db = c.connect(str(path))
    _people(db)
    yield db
    db.dispose()


def _scalar(db: Database, sql: str, **params):
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# ---------------------------------------------------------------- clean sessions


@pytest.mark.postgres
@pytest.mark.parametrize("fixture", ["pg_db", "pg_reader_db"], ids=["superuser", "reader"])
def test_postgres_connection_keeps_nothing_between_queries(request, fixture):
    pg_db = request.getfixturevalue(fixture)
    with Executor(pg_db, timeout_s=5) as ex:
        assert ex.execute("SELECT 1").ok
        pid = ex.backend_id
        # Each of these leaves something in a session that a rollback alone keeps.
        for sql in (
            "SELECT pg_advisory_lock(4242)",
            "SELECT pg_advisory_lock_shared(4243)",
            "PREPARE leftover AS SELECT 1",
            "SELECT set_config('application_name', 'hijacked', false)",
            "LISTEN leftover_channel",
            "DECLARE leftover CURSOR WITH HOLD FOR SELECT 1",
        ):
            ex.execute(sql)
            # Another application gets the lock at once.
            assert _scalar(pg_db, "SELECT pg_try_advisory_lock(4242)") is True, sql
            assert _scalar(pg_db, "SELECT count(*) FROM pg_locks WHERE pid = :p", p=pid) == 0, sql
        state = ex.execute(
            "SELECT (SELECT count(*) FROM pg_prepared_statements), "
            "(SELECT count(*) FROM pg_cursors WHERE name = 'leftover'), (SELECT count(*) FROM pg_listening_channels()), "
            "current_setting('application_name'), current_setting('transaction_read_only')"
        )
        assert state.rows == ((0, 0, 0, "nl2sql-factory", "on"),), state
        assert ex.backend_id == pid  # cleaned, not reconnected


@pytest.mark.mysql
@pytest.mark.parametrize("fixture", ["mysql_db", "mysql_reader_db"], ids=["root", "reader"])
def test_mariadb_connection_keeps_nothing_between_queries(request, fixture):
    mysql_db = request.getfixturevalue(fixture)
    with Executor(mysql_db, timeout_s=5, row_cap=10) as ex:
        assert ex.execute("SELECT 1").ok
        thread = ex.backend_id
        for sql in (
            "SELECT GET_LOCK('nl2sql_leftover', 0)",
            "SELECT id INTO @leftover FROM people LIMIT 1",
            "SELECT @other := 7",
            "SET @third = 'x'",
            "SET SESSION max_statement_time = 0",
            "SET SESSION sql_select_limit = 1000000",
            "SET SESSION TRANSACTION READ WRITE",
            "PREPARE leftover FROM 'SELECT 1'",
        ):
            ex.execute(sql)
            assert _scalar(mysql_db, "SELECT IS_USED_LOCK('nl2sql_leftover')") is None, sql
        state = ex.execute(
            "SELECT @leftover, @other, @third, @@session.max_statement_time, "
            "@@session.sql_select_limit, @@session.tx_read_only"
        )
        assert state.rows == ((None, None, None, 5.0, 11, 1),), state
        assert ex.execute("EXECUTE leftover").error_kind == "error"
        assert ex.backend_id == thread  # reset, not reconnected


@pytest.mark.parametrize(
    ("fixture", "runaway"),
    [
        pytest.param(
            "pg_db", "SELECT count(*) FROM generate_series(1, 100000000000)",
            marks=pytest.mark.postgres, id="postgresql",
        ),
        pytest.param(
            "mysql_db", "SELECT count(*) FROM seq_1_to_100000 a, seq_1_to_100000 b WHERE a.seq + b.seq > 0",
            marks=pytest.mark.mysql, id="mariadb",
        ),
    ],
)  # fmt: skip
def test_timed_out_connection_is_discarded(request, fixture, runaway):
    db = request.getfixturevalue(fixture)
    with Executor(db, timeout_s=0.5) as ex:
        assert ex.execute("SELECT 1").ok
        first = ex.backend_id
        r = ex.execute(runaway)
        assert r.error_kind == "timeout", r
        assert ex.execute("SELECT 1").ok
        assert ex.backend_id not in (None, first)


# ---------------------------------------------------------------- no data in errors


def test_reduce_error_keeps_names_and_drops_values():
    sql = "SELECT CAST(phone AS integer) FROM people"
    assert reduce_error(f'invalid input syntax for type integer: "{PHONE}"', sql) == (
        'invalid input syntax for type integer: "…"'
    )
    assert reduce_error('column "phne" does not exist', "SELECT phne FROM people") == (
        'column "phne" does not exist'
    )
    assert reduce_error("no such column: phne", "SELECT phne FROM people") == (
        "no such column: phne"
    )
    # Unquoted values with digits, non-ASCII text: gone.
    assert "2024" not in reduce_error("date field value out of range: 2024-13-01", sql)
    assert "张三" not in reduce_error("Truncated incorrect DOUBLE value: 张三", sql)
    # MariaDB's fixed phrases stay.
    assert reduce_error(
        "Unknown column 'x' in 'field list'", "SELECT x FROM t", frozenset({"field list"})
    ) == ("Unknown column 'x' in 'field list'")


LEAKS = {
    "postgresql": [
        "SELECT CAST(phone AS integer) FROM people",
        "SELECT CAST(string_agg(email, ',') AS integer) FROM people",
        "SELECT CAST(email AS date) FROM people",
        "SELECT to_number(email, '999') FROM people",
        "SELECT CAST(phone AS numeric) FROM people WHERE id = 1",
    ],
    "mysql": [
        "SELECT EXTRACTVALUE(1, CONCAT('~', (SELECT email FROM people LIMIT 1)))",
        "SELECT UPDATEXML(1, CONCAT('~', (SELECT group_concat(email) FROM people)), 1)",
        "SELECT EXTRACTVALUE(1, CONCAT(0x7e, (SELECT phone FROM people WHERE id = 1)))",
        "SELECT EXP(LENGTH(email) * 100) FROM people",
    ],
    "sqlite": [
        "SELECT json_extract(email, '$.a') FROM people",
        "SELECT json(phone) FROM people",
    ],
}


@pytest.mark.parametrize(
    "fixture",
    [
        pytest.param("sqlite_db", id="sqlite"),
        pytest.param("pg_db", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("pg_reader_db", marks=pytest.mark.postgres, id="postgresql-reader"),
        pytest.param("mysql_db", marks=pytest.mark.mysql, id="mariadb"),
        pytest.param("mysql_reader_db", marks=pytest.mark.mysql, id="mariadb-reader"),
    ],
)
def test_execution_errors_carry_no_values(request, fixture):
    db = request.getfixturevalue(fixture)
    with Executor(db, timeout_s=5) as ex:
        for sql in LEAKS[db.profile.name]:
            r = ex.execute(sql)
            assert not r.ok, sql
            for secret in (PHONE, "555", "0100", "7946", *EMAILS, "ada", "grace", "example"):
                assert secret not in r.error, (sql, r.error)
        # The names involved stay, so a repair prompt can still say what is wrong.
        r = ex.execute("SELECT phne FROM people")
        assert "phne" in r.error, r.error


@pytest.mark.postgres
def test_validate_rejects_carry_no_values(pg_db, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"question": f"q{i}", "sql": sql}) + "\n"
            for i, sql in enumerate(LEAKS["postgresql"])
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "data_create", "validate", "--dsn", str(pg_db.url.render_as_string(False)),
         "--input", str(pairs), "--out", str(out), "--timeout", "5"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rejects = (out / "rejects.jsonl").read_text(encoding="utf-8")
    assert rejects.count("\n") == len(LEAKS["postgresql"])
    for secret in (PHONE, "555", *EMAILS, "example"):
        assert secret not in rejects and secret not in proc.stdout + proc.stderr


# ---------------------------------------------------------------- byte cap

_RSS_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from data_create import connect
    from data_create.executor import Executor
    db = connect.connect(sys.argv[1])
    out = []
    with Executor(db, timeout_s=float(sys.argv[2])) as ex:
        for sql in json.loads(sys.argv[3]):
            t = time.perf_counter()
            r = ex.execute(sql)
            out.append([r.ok, r.error_kind, round(time.perf_counter() - t, 2)])
        out.append(ex.execute("SELECT 1").ok)
    # VmHWM is this process image's own peak. getrusage's ru_maxrss is not: Linux carries
    # the parent's size over fork + exec, so a big pytest process made it read ~1.6 GB.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"results": out, "peak_rss_mb": hwm / 1024}))
    """
)
_WIDE_ROW = ", ".join(f"REPEAT('x', 16000000) AS c{i}" for i in range(50))  # 800 MB, one row
BIG = {
    "postgresql": [
        "SELECT repeat('x', 800000000)",
        "SELECT repeat('x', 16000000) FROM generate_series(1, 50)",
        "SELECT repeat(name, 40000000) FROM (VALUES ('ab'), ('cd')) AS t(name), "
        "generate_series(1, 10)",
    ],
    "mysql": [
        "SELECT REPEAT('x', 16000000) FROM seq_1_to_50",
        f"SELECT {_WIDE_ROW}",
    ],
    "sqlite": [
        "SELECT zeroblob(800000000)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "SELECT zeroblob(16000000) FROM n",
    ],
}
BYTE_TIMEOUT_S = 4.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "fixture",
    [
        pytest.param("sqlite_db", id="sqlite"),
        pytest.param("pg_db", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("mysql_db", marks=pytest.mark.mysql, id="mariadb"),
    ],
)
def test_800_mb_results_are_refused_with_bounded_memory(request, fixture):
    db = request.getfixturevalue(fixture)
    sqls = BIG[db.profile.name]
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, db.url.render_as_string(hide_password=False),
         str(BYTE_TIMEOUT_S), json.dumps(sqls)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(db.profile.name, report)
    *results, after = report["results"]
    for sql, (ok, kind, seconds) in zip(sqls, results, strict=True):
        # Refused: over the cap, or (a single value the server takes long to build)
        # cancelled at the timeout; never returned.
        assert not ok and kind in ("too_large", "timeout"), (sql, kind)
        assert seconds < BYTE_TIMEOUT_S + 2, (sql, seconds)
    assert after  # the executor goes on
    assert report["peak_rss_mb"] < 300, report


def test_byte_cap_counts_across_rows(sqlite_db):
    with Executor(sqlite_db, timeout_s=5, byte_cap=1000) as ex:
        r = ex.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
            "SELECT printf('%.50c', 'x') FROM n"
        )
        assert r.error_kind == "too_large" and "1,000-byte cap" in r.error
        assert ex.execute("SELECT count(*) FROM people").rows == ((2,),)


@pytest.mark.parametrize(
    "fixture",
    [
        pytest.param("pg_db", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("mysql_db", marks=pytest.mark.mysql, id="mariadb"),
    ],
)
def test_byte_cap_keeps_results_under_it_intact(request, fixture):
    db = request.getfixturevalue(fixture)
    with Executor(db, timeout_s=5, byte_cap=10_000) as ex:
        r = ex.execute("SELECT id, phone, email, id AS id FROM people ORDER BY id DESC")
        assert r.ok and r.columns == ("id", "phone", "email", "id")
        assert r.rows[0][0] == 2 and r.rows[1][1] == PHONE
        r = ex.execute("SELECT email FROM people ORDER BY id")
        assert r.rows == tuple((e,) for e in EMAILS)
    with ExecutorPool(db, workers=2, timeout_s=5, byte_cap=30) as pool:
        small, big = pool.map(["SELECT id FROM people WHERE id = 1", "SELECT email FROM people"])
    assert small.ok and big.error_kind == "too_large"
