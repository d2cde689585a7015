"""Execute what was checked: the canonical SQL the validator regenerates returns the same
result as the statement as written (issue 10, item 2).

For each database (the bundled example, Northwind on SQLite and PostgreSQL, Sakila on
MariaDB and PostgreSQL) the offline synthesizer generates a dataset; every statement
that passes the static layers runs twice through the executor, as written and as the
validator's ``verdict.sql``, and the results must match (row order too when the query
orders).  ``NL2SQL_EQUIVALENCE_SAMPLES`` sets the dataset size per database (default
150; the closing note of issue 10 used 1,000).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from test_safety import load_cases

from data_create import example, metadata, planner
from data_create.connect import connect
from data_create.executor import ExecResult, Executor
from data_create.synth import Synthesizer
from data_create.validator import Validator

SAMPLES = int(os.environ.get("NL2SQL_EQUIVALENCE_SAMPLES", "150"))
STORE = Path(__file__).parent / "fixtures" / "music_store"


def generated(meta, n: int) -> list[str]:
    """About ``n`` distinct statements from the offline synthesizer, topic by topic."""
    plan = planner.plan(meta, n)
    synth = Synthesizer(meta, dialect=meta.dialect, seed=7)
    out: dict[str, None] = {}
    for topic in plan.topics:
        for candidate in itertools.islice(synth.candidates(topic), max(1, topic.count)):
            out.setdefault(candidate.sql)
    return list(out)


def _ordered(sql: str, dialect: str) -> bool:
    tree = sqlglot.parse_one(sql, read=dialect)
    return tree.args.get("order") is not None


def _value(v: object) -> str:
    # psycopg2 returns bytea as memoryview, whose repr is its address: compare the bytes.
    return repr(bytes(v)) if isinstance(v, memoryview) else repr(v)


def _rows(result: ExecResult, ordered: bool) -> list:
    rows = [tuple(_value(v) for v in row) for row in result.rows]
    return rows if ordered else sorted(rows)


def compare(dsn: str, sqls: list[str], meta=None) -> Counter:
    """Counts: compared, differ, rejected (static), plus the differing statements."""
    db = connect(dsn)
    meta = meta or metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    counts: Counter = Counter()
    differ: list[tuple[str, str]] = []
    with Executor(db, timeout_s=20, row_cap=100_000) as executor:
        validator = Validator(meta, meta.dialect)
        for sql in sqls:
            verdict = validator.check_static(sql)
            if not verdict.ok:
                counts["rejected"] += 1
                continue
            raw, canon = executor.execute(sql), executor.execute(verdict.sql)
            counts["compared"] += 1
            counts["changed text"] += verdict.sql != sql
            # Rows tied on the ORDER BY come back in any order, even from one statement run
            # twice (MariaDB, a CTE's groups sorted by a count): the order is compared only
            # where the canonical text differs from what was asked.
            ordered = verdict.sql != sql and _ordered(verdict.sql, meta.dialect)
            same = raw.ok == canon.ok and (
                _rows(raw, ordered) == _rows(canon, ordered) and raw.truncated == canon.truncated
                if raw.ok
                else raw.error_kind == canon.error_kind
            )
            if not same:
                counts["differ"] += 1
                differ.append((sql, verdict.sql))
    db.dispose()
    counts["differing"] = differ  # type: ignore[assignment]
    return counts


def _check(name: str, counts: Counter) -> None:
    print(
        f"\n{name}: {counts['compared']} compared ({counts['changed text']} with changed text), "
        f"{counts['differ']} differ, {counts['rejected']} rejected statically"
    )
    assert counts["compared"] > 0
    assert counts["differ"] == 0, counts["differing"][:5]


def _generated_dataset(dsn: str) -> tuple[list[str], object]:
    db = connect(dsn)
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=5))
    db.dispose()
    return generated(meta, SAMPLES), meta


def test_example_sqlite(tmp_path):
    path = tmp_path / "example.sqlite"
    example.build_sqlite(path)
    dsn = f"sqlite:///{path}"
    sqls, meta = _generated_dataset(dsn)
    _check("example (SQLite)", compare(dsn, sqls, meta))


def test_northwind_sqlite(northwind_sqlite):
    sqls, meta = _generated_dataset(northwind_sqlite)
    _check("Northwind (SQLite)", compare(northwind_sqlite, sqls, meta))


@pytest.mark.postgres
def test_northwind_postgres(northwind_pg):
    sqls, meta = _generated_dataset(northwind_pg)
    _check("Northwind (PostgreSQL)", compare(northwind_pg, sqls, meta))


@pytest.mark.mysql
def test_sakila_mariadb(sakila_mysql):
    sqls, meta = _generated_dataset(sakila_mysql)
    _check("Sakila (MariaDB)", compare(sakila_mysql, sqls, meta))


@pytest.mark.postgres
def test_sakila_postgres(sakila_pg):
    sqls, meta = _generated_dataset(sakila_pg)
    _check("Sakila (PostgreSQL)", compare(sakila_pg, sqls, meta))


def test_fixtures_sqlite(tmp_path):
    """The project's hand-written fixtures that are valid: the music store's queries and
    the safety tests' safe queries; the unsafe and attack corpora are all rejected."""
    import sqlite3

    from test_double_quoted import schema_statements

    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in schema_statements():
            conn.execute(statement)
    conn.close()
    sqls = [sql for _t, sql in load_cases(STORE / "queries.sql")]
    attacks = Path(__file__).parent / "fixtures" / "attacks" / "sqlite.sql"
    sqls += [sql for _t, sql in load_cases(attacks)]
    counts = compare(f"sqlite:///{path}", sqls)
    _check("fixtures (SQLite music store + attacks)", counts)
    assert counts["rejected"] == len(load_cases(attacks))


# ---------------------------------------------------------------- human gold (defog)


@pytest.fixture(scope="module")
def defog_pg(pg_server):
    """The 11 defog databases loaded into PostgreSQL: {db_name: dsn}."""
    from conftest import create_pg_database, drop_pg_database, psql_file, shared_file, unique_name

    root = shared_file("defog")
    dsns, names = {}, []
    for folder in sorted(p for p in root.iterdir() if (p / f"{p.name}.sql").is_file()):
        name = unique_name(f"defog_{folder.name}"[:20])
        dsn = create_pg_database(name)
        names.append(name)
        psql_file(dsn, folder / f"{folder.name}.sql")
        dsns[folder.name] = dsn
    yield dsns
    for name in names:
        drop_pg_database(name)


def defog_gold(dialect_files: tuple[str, ...]) -> dict[str, list[str]]:
    import csv

    from conftest import shared_file

    by_db: dict[str, list[str]] = {}
    for file in dialect_files:
        with open(shared_file("defog", "questions", file), encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                queries = [q.strip() for q in row["query"].split(";") if q.strip()]
                by_db.setdefault(row["db_name"], []).extend(queries)
    return by_db


@pytest.mark.postgres
def test_defog_gold_postgres(defog_pg):
    """Human-written gold: the canonical SQL returns the same rows; rejections explained."""
    gold = defog_gold(
        ("questions_gen_postgres.csv", "instruct_basic_postgres.csv",
         "instruct_advanced_postgres.csv")
    )  # fmt: skip
    total: Counter = Counter()
    reasons: Counter = Counter()
    differing: list = []
    import psycopg2

    for database, sqls in sorted(gold.items()):
        conn = psycopg2.connect(defog_pg[database])
        with conn.cursor() as cur:  # ewallet keeps its tables in schema consumer_div
            cur.execute(
                "SELECT DISTINCT table_schema FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
            schemas = tuple(sorted(r[0] for r in cur.fetchall()))
        conn.close()
        db = connect(defog_pg[database])
        meta = metadata.extract(db, metadata.ExtractOptions(schemas=schemas, sample_values=0))
        db.dispose()
        counts = compare(defog_pg[database], sqls, meta)
        total.update({k: v for k, v in counts.items() if isinstance(v, int)})
        differing += counts["differing"]
        validator = Validator(meta, "postgresql")
        for sql in sqls:
            verdict = validator.check_static(sql)
            if not verdict.ok:
                reasons[f"{verdict.layer}: {verdict.reason}"] += 1
    print("\ndefog gold (PostgreSQL) rejections:", dict(reasons))
    total["differing"] = differing  # type: ignore[assignment]
    _check("defog gold (PostgreSQL)", total)
