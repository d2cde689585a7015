"""Engine semantics for double-quoted tokens (issue 10, item 9).

SQLite and MySQL/MariaDB read a double-quoted token that names no column as a string
literal (``WHERE State = "NY"``); PostgreSQL (and SQL Server) keep it an identifier.
The human-style queries in ``tests/fixtures/music_store/queries.sql`` must all pass the
validator on SQLite and MariaDB, executed, with the same rows as the single-quoted
query; on PostgreSQL the same text is an unknown column.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

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

STORE = Path(__file__).parent / "fixtures" / "music_store"
QUERIES = load_cases(STORE / "queries.sql")
IDS = [title for title, _ in QUERIES]


def schema_statements() -> list[str]:
    text = "\n".join(
        line for line in (STORE / "schema.sql").read_text("utf-8").splitlines()
        if not line.startswith("--")
    )  # fmt: skip
    return [s.strip() for s in text.split(";\n") if s.strip().rstrip(";")]


def single_quoted(sql: str) -> str:
    return re.sub(r'"([^"]*)"', r"'\1'", sql)


def _norm(rows) -> list:
    out = []
    for row in rows:
        out.append(tuple(float(v) if isinstance(v, Decimal | float) else v for v in row))
    return sorted(out, key=repr)


def test_fixture_has_queries():
    assert len(QUERIES) >= 20
    assert all('"' in sql for _t, sql in QUERIES)


# ---------------------------------------------------------------- SQLite


@pytest.fixture(scope="module")
def store_sqlite(tmp_path_factory) -> Iterator[tuple[Validator, Executor, Path]]:
    path = tmp_path_factory.mktemp("store") / "store.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in schema_statements():
            conn.execute(statement)
    conn.close()
    db = connect(f"sqlite:///{path}")
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    executor = Executor(db, timeout_s=5)
    yield Validator(meta, "sqlite", executor=executor), executor, path
    executor.close()
    db.dispose()


@pytest.mark.parametrize(("title", "sql"), QUERIES, ids=IDS)
def test_sqlite_accepts_double_quoted_strings(store_sqlite, title, sql):
    validator, executor, path = store_sqlite
    verdict = validator.validate(sql)
    assert verdict.ok, verdict.reason
    ran = executor.execute(verdict.sql)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        expected = conn.execute(single_quoted(sql)).fetchall()
    assert _norm(ran.rows) == _norm(expected) and expected, title


def test_sqlite_double_quoted_column_is_still_a_column(store_sqlite):
    validator, executor, _ = store_sqlite
    verdict = validator.validate('SELECT "Name" FROM Genre ORDER BY 1')
    assert verdict.ok
    assert executor.execute(verdict.sql).rows[0] == ("Blues",)
    # Brackets and backticks never fall back to a string.
    assert validator.check_static("SELECT Name FROM Genre WHERE Name = [Rock]").layer == "schema"
    # A qualified token is a column reference whatever the quotes.
    assert validator.check_static('SELECT Name FROM Genre AS g WHERE g."Rock" = 1').layer == (
        "schema"
    )


# ---------------------------------------------------------------- MariaDB


@pytest.fixture(scope="module")
def store_mysql(mysql_server) -> Iterator[tuple[Validator, Executor, str]]:
    import pymysql

    name = unique_name("store")
    dsn = create_mysql_database(name)
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=name,
                           charset="utf8mb4", autocommit=True)  # fmt: skip
    with conn.cursor() as cur:
        for statement in schema_statements():
            cur.execute(statement)
    conn.close()
    db = connect(dsn)
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    executor = Executor(db, timeout_s=5)
    yield Validator(meta, "mysql", executor=executor), executor, name
    executor.close()
    db.dispose()
    drop_mysql_database(name)


@pytest.mark.mysql
@pytest.mark.parametrize(("title", "sql"), QUERIES, ids=IDS)
def test_mariadb_accepts_double_quoted_strings(store_mysql, title, sql):
    import pymysql

    validator, executor, name = store_mysql
    verdict = validator.validate(sql)
    assert verdict.ok, verdict.reason
    ran = executor.execute(verdict.sql)
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=name,
                           charset="utf8mb4")  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(single_quoted(sql))
        expected = cur.fetchall()
    conn.close()
    assert _norm(ran.rows) == _norm(expected) and expected, title


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def store_pg(pg_server) -> Iterator[Validator]:
    import psycopg2

    name = unique_name("store")
    dsn = create_pg_database(name)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in schema_statements():
            cur.execute(statement)
    conn.close()
    db = connect(dsn)
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    db.dispose()
    yield Validator(meta, "postgresql")
    drop_pg_database(name)


@pytest.mark.postgres
@pytest.mark.parametrize(("title", "sql"), QUERIES, ids=IDS)
def test_postgres_keeps_double_quotes_identifiers(store_pg, title, sql):
    verdict = store_pg.check_static(sql)
    assert verdict.layer == "schema" and "unknown column" in verdict.reason, verdict
    assert store_pg.check_static(single_quoted(sql)).ok


def test_llm_answering_with_double_quoted_strings_fills_the_request(tmp_path):
    """The issue's symptom: a (fake) LLM that writes "..." strings got 22 of 30 samples
    on SQLite because the schema layer called the strings unknown columns."""
    import json

    from fake_llm import FakeLLM, Reply

    from data_create.pipeline import RunConfig, read_jsonl, run

    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in schema_statements():
            conn.execute(statement)
    conn.close()
    pairs = [{"question": f"Show the {title}?", "sql": sql} for title, sql in QUERIES]

    def script(request: dict, index: int) -> Reply:
        text = "\n".join(m["content"] for m in request["messages"])
        if '{"samples"' in text:
            return Reply(content=json.dumps({"samples": pairs}, ensure_ascii=False))
        return Reply(content=json.dumps(pairs[index % len(pairs)], ensure_ascii=False))

    n = 15
    with FakeLLM(script) as fake:
        config = RunConfig(
            dsn=f"sqlite:///{path}", out=str(tmp_path / "run"), samples=n, llm="openai",
            model="fake-model", base_url=fake.base_url, llm_plan=False, max_rounds=2,
            cache_dir=str(tmp_path / "cache"), keep_empty=True,
        )  # fmt: skip
        result = run(config)
    rejects = read_jsonl(tmp_path / "run" / "rejects.jsonl")
    assert not [r for r in rejects if "unknown column" in r["reason"]]
    assert result.accepted == n
