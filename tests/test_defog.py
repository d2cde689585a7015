"""The defog loader: databases with their column descriptions as comments, human questions."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


def test_expand_gold(defog):
    assert defog.expand_gold("SELECT {a, b} FROM t GROUP BY {};") == [
        "SELECT a FROM t GROUP BY a",
        "SELECT b FROM t GROUP BY b",
        "SELECT a, b FROM t GROUP BY a, b",
    ]


def test_read_questions(defog):
    qs = defog.read_questions()
    assert len(qs) == 210 + 40 + 64
    assert {q.database for q in qs} == set(defog.DATABASES)
    assert all(q.gold and q.question for q in qs)
    broker = defog.read_questions(["broker"], instruct=False)
    assert len(broker) == 5 and all(q.source == "questions_gen_postgres.csv" for q in broker)
    with pytest.raises(ValueError, match="unknown defog database"):
        defog.read_questions(["nope"])


def test_load_with_comments_and_run_gold(defog, defog_db):
    import psycopg2

    dsn = defog_db("broker")
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT col_description('sbcustomer'::regclass, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = 'sbcustomer'::regclass AND a.attname = 'sbcuststatus'"
        )
        assert cur.fetchone()[0].startswith("possible values:")
        cur.execute("SELECT reltuples > 0 FROM pg_class WHERE relname = 'sbcustomer'")
        assert cur.fetchone()[0]  # analyzed: the planner has statistics
    conn.close()
    kept, failed = defog.keep_executable(defog.read_questions(["broker"]), dsn)
    assert failed == 0 and len(kept) == 31
    # MySQL gold transpiled by sqlglot: most, not all, runs on PostgreSQL.
    mysql, failed = defog.keep_executable(defog.read_questions(["broker"], gen="mysql"), dsn)
    assert 0 < len(mysql) <= 31
