"""The defog databases and their human questions, for benches and tests.

``../shared/data/defog/`` holds 11 small PostgreSQL databases (``<db>/<db>.sql``: DDL and
data) and questions people wrote about them, with gold SQL (``questions/``).  This module
loads a database into a fresh PostgreSQL database and reads the questions; it never copies
the data into the repository.

Column descriptions.  Each ``<db>/<db>.json`` describes the columns ("possible values:
active, inactive", "year of manufacture" ...).  Enterprise databases carry such text as
catalogue comments, so :func:`load_database` applies every non-empty description as
``COMMENT ON COLUMN`` -- our metadata extraction then sees them exactly as it sees a real
database's comments.  It also runs ``ANALYZE``: a database in service has planner
statistics, a freshly loaded one has none (``reltuples = -1``) until autovacuum gets to it,
and leaving that to chance would make runs differ.

Human questions (:func:`read_questions`), PostgreSQL gold:

- ``questions_gen_postgres.csv`` (210 questions, all 11 databases; the default source),
- ``instruct_basic_postgres.csv`` (40) and ``instruct_advanced_postgres.csv`` (64), for
  broker, car_dealership, derm_treatment and ewallet,
- or ``questions_gen_mysql.csv`` transpiled from MySQL with sqlglot (``gen="mysql"``), the
  same 210 questions: a check on the transpiler rather than a second question set.

A gold cell may hold several acceptable queries separated by ``;`` and ``{a, b}`` column
alternatives; :func:`expand_gold` expands both as defog's sql-eval does (every non-empty
subset of the braced columns).  :func:`keep_executable` keeps only gold that runs on the
loaded database, and questions with at least one such query.

    python bench/defog.py --load broker        # prints the DSN of nl2sql_defog_broker
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFOG_DIR = ROOT.parent / "shared" / "data" / "defog"
QUESTIONS_DIR = DEFOG_DIR / "questions"
DATABASES = (
    "academic", "advising", "atis", "broker", "car_dealership", "derm_treatment",
    "ewallet", "geography", "restaurants", "scholar", "yelp",
)  # fmt: skip
PG_ADMIN = os.environ.get("NL2SQL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# The benches load throwaway copies of public sample data on the local test server and read
# them as its admin account, as the tests do (tests/conftest.py); data_create, the evaluator
# and their subprocesses refuse a privileged account unless told, so tell them here.
os.environ.setdefault("NL2SQL_ALLOW_PRIVILEGED_ROLE", "1")

GEN_FILES = {"postgres": "questions_gen_postgres.csv", "mysql": "questions_gen_mysql.csv"}
INSTRUCT_FILES = ("instruct_basic_postgres.csv", "instruct_advanced_postgres.csv")


class DefogMissing(RuntimeError):
    """The shared defog data is not beside the checkout."""


@dataclass(frozen=True)
class HumanQuestion:
    """One person's question with its acceptable PostgreSQL gold queries (first = canonical)."""

    id: str  # "<file stem>:<row>"
    database: str
    question: str
    gold: tuple[str, ...]
    category: str = ""
    source: str = ""  # the CSV file
    instructions: str = ""


def require_data() -> Path:
    if not DEFOG_DIR.is_dir():
        raise DefogMissing(
            f"{DEFOG_DIR} is absent: the defog data lives in ../shared/data beside the checkout"
        )
    return DEFOG_DIR


# ---------------------------------------------------------------- loading


def schema_of(db: str) -> str:
    """The schema ``<db>.sql`` creates its tables in (ewallet: ``consumer_div``), else public."""
    text = (require_data() / db / f"{db}.sql").read_text(encoding="utf-8")
    found = re.search(r"CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", text, re.I)
    return found.group(1).lower() if found else "public"


def _admin_connect(admin_dsn: str = PG_ADMIN):
    import psycopg2

    conn = psycopg2.connect(admin_dsn, connect_timeout=5)
    conn.autocommit = True
    return conn


def _dsn_for(admin_dsn: str, name: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str, admin_dsn: str = PG_ADMIN) -> None:
    from psycopg2 import sql

    conn = _admin_connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def apply_comments(dsn: str, db: str) -> int:
    """``COMMENT ON COLUMN`` for every non-empty description in ``<db>.json``; returns how many.

    Table and column names are matched case-insensitively against the catalogue (the DDL
    uses unquoted mixed-case names, which PostgreSQL folds to lower case); descriptions
    naming a column the database lacks are skipped.
    """
    import psycopg2
    from psycopg2 import sql

    meta = json.loads((require_data() / db / f"{db}.json").read_text(encoding="utf-8"))
    conn = psycopg2.connect(dsn, connect_timeout=5)
    applied = 0
    try:
        with conn, conn.cursor() as cur:
            schema = schema_of(db)
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = %s",
                (schema,),
            )
            actual = {(t.lower(), c.lower()): (t, c) for t, c in cur.fetchall()}
            for table, columns in meta.get("table_metadata", {}).items():
                for col in columns:
                    text = (col.get("column_description") or "").strip()
                    found = actual.get((table.lower(), str(col.get("column_name", "")).lower()))
                    if not text or found is None:
                        continue
                    cur.execute(
                        sql.SQL("COMMENT ON COLUMN {}.{}.{} IS %s").format(
                            sql.Identifier(schema),
                            sql.Identifier(found[0]),
                            sql.Identifier(found[1]),
                        ),
                        (text,),
                    )
                    applied += 1
    finally:
        conn.close()
    return applied


def load_database(
    db: str, name: str | None = None, *, admin_dsn: str = PG_ADMIN, analyze: bool = True
) -> str:
    """Create database ``name`` (default ``nl2sql_defog_<db>``, replaced if it exists), load
    ``<db>.sql`` with psql, apply the column descriptions as comments, ANALYZE; the DSN."""
    from psycopg2 import sql

    if db not in DATABASES:
        raise ValueError(f"unknown defog database {db!r}; one of {', '.join(DATABASES)}")
    script = require_data() / db / f"{db}.sql"
    name = name or f"nl2sql_defog_{db}"
    drop_database(name, admin_dsn)
    conn = _admin_connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(name)
                )
            )
    finally:
        conn.close()
    dsn = _dsn_for(admin_dsn, name)
    done = subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(script)],
        capture_output=True, text=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )  # fmt: skip
    if done.returncode != 0:
        drop_database(name, admin_dsn)
        raise RuntimeError(f"loading {script} failed: {done.stderr.strip()[:300]}")
    apply_comments(dsn, db)
    if analyze:
        import psycopg2

        c = psycopg2.connect(dsn, connect_timeout=5)
        c.autocommit = True
        try:
            with c.cursor() as cur:
                cur.execute("ANALYZE")
        finally:
            c.close()
    return dsn


# ---------------------------------------------------------------- questions


def _expand_braces(query: str) -> list[str]:
    start = query.find("{")
    end = query.find("}", start + 1)
    if start == -1 or end == -1:
        return [query]
    options = [o.strip() for o in query[start + 1 : end].split(",") if o.strip()]
    out = []
    for r in range(1, len(options) + 1):
        for combo in itertools.combinations(options, r):
            columns = ", ".join(combo)
            right = query[end + 1 :].replace("GROUP BY {}", f"GROUP BY {columns}")
            out.extend(_expand_braces(query[:start] + columns + right))
    return out


def expand_gold(cell: str) -> list[str]:
    """Every acceptable query in a gold cell: ``;``-separated queries, ``{a, b}`` expanded.

    >>> expand_gold("SELECT {t.a, t.b} FROM t; SELECT t.a FROM t JOIN u ON t.id = u.id;")
    ['SELECT t.a FROM t', 'SELECT t.b FROM t', 'SELECT t.a, t.b FROM t', \
'SELECT t.a FROM t JOIN u ON t.id = u.id']
    """
    # sql-eval splits on every ';' too: no gold literal holds one.
    queries = [q.strip() for q in cell.split(";") if q.strip()]
    return list(dict.fromkeys(x for q in queries for x in _expand_braces(q)))


def _transpile(query: str) -> str | None:
    import sqlglot

    try:
        out = sqlglot.transpile(query, read="mysql", write="postgres")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return None
    return out[0] if len(out) == 1 else None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_questions(
    databases: Iterable[str] | None = None, *, gen: str = "postgres", instruct: bool = True
) -> list[HumanQuestion]:
    """The human questions for ``databases`` (all when None), PostgreSQL gold, in file order.

    ``gen``: ``"postgres"`` (native gold), ``"mysql"`` (MySQL gold transpiled with sqlglot;
    a query the transpiler cannot handle is dropped) or ``""`` (no questions_gen file).
    ``instruct``: also read the instruct_basic/advanced files.
    """
    wanted = set(databases) if databases is not None else set(DATABASES)
    unknown = wanted - set(DATABASES)
    if unknown:
        raise ValueError(f"unknown defog database(s): {', '.join(sorted(unknown))}")
    if gen and gen not in GEN_FILES:
        raise ValueError(f"gen must be one of {', '.join(GEN_FILES)} or ''")
    require_data()
    files = ([GEN_FILES[gen]] if gen else []) + (list(INSTRUCT_FILES) if instruct else [])
    out = []
    for name in files:
        stem = name.removesuffix(".csv")
        for i, r in enumerate(_rows(QUESTIONS_DIR / name), start=1):
            if r["db_name"] not in wanted:
                continue
            gold = expand_gold(r["query"])
            if gen == "mysql" and name == GEN_FILES["mysql"]:
                gold = [t for t in (_transpile(q) for q in gold) if t]
            if not gold:
                continue
            out.append(
                HumanQuestion(
                    id=f"{stem}:{i}",
                    database=r["db_name"],
                    question=r["question"].strip(),
                    gold=tuple(gold),
                    category=r.get("query_category") or "",
                    source=name,
                    instructions=(r.get("instructions") or "").strip(),
                )
            )
    return out


def keep_executable(
    questions: Sequence[HumanQuestion], dsn: str, *, timeout_s: float = 10.0
) -> tuple[list[HumanQuestion], int]:
    """Questions whose gold runs on ``dsn`` (read-only, through the project's executor), each
    keeping only the gold queries that ran; also how many gold queries failed."""
    from data_create.connect import connect
    from data_create.executor import ExecutorPool

    queries = list(dict.fromkeys(q for hq in questions for q in hq.gold))
    db = connect(dsn)
    pool = ExecutorPool(db, workers=2, timeout_s=timeout_s, row_cap=10_000)
    try:
        ok = {q for q, r in zip(queries, pool.map(queries), strict=True) if r.ok}
    finally:
        pool.close()
        db.dispose()
    kept = []
    for hq in questions:
        good = tuple(q for q in hq.gold if q in ok)
        if good:
            kept.append(replace(hq, gold=good))
    return kept, len(queries) - len(ok)


def first_statement_only(sql: str) -> str:
    """``sql`` without a trailing semicolon (gold cells end with one)."""
    return re.sub(r";\s*$", "", sql.strip())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load", nargs="+", metavar="DB", help="load these defog databases")
    ap.add_argument("--drop", nargs="+", metavar="DB", help="drop nl2sql_defog_<DB>")
    args = ap.parse_args(argv)
    for db in args.load or ():
        print(load_database(db))
    for db in args.drop or ():
        drop_database(f"nl2sql_defog_{db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
