"""The safety layer: the unsafe corpus is always rejected, safe queries always pass.

The corpus lives in ``tests/fixtures/unsafe/<dialect>.sql`` (``generic.sql`` runs in
every dialect).  Besides the static checks, the corpus and the safe queries run
through the full validator, executor included, against real SQLite, PostgreSQL and
MariaDB databases, which must be unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot

from data_create import engines
from data_create.records import Column, SchemaMetadata, Table, normalize_type
from data_create.safety import check_safety, check_tokens
from data_create.validator import Validator

UNSAFE_DIR = Path(__file__).parent / "fixtures" / "unsafe"
DIALECTS = ("postgres", "mysql", "sqlite", "tsql")


def load_cases(path: Path) -> list[tuple[str, str]]:
    """``(title, sql)`` pairs: a case runs from its ``-- title:`` line to the next one.

    Read without newline translation: some cases hold a bare carriage return.
    """
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    cases: list[tuple[str, str]] = []
    title: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        if line.startswith("-- title:"):
            if title is not None:
                cases.append((title, "\n".join(body).strip("\n")))
            title, body = line[len("-- title:") :].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        cases.append((title, "\n".join(body).strip("\n")))
    return cases


def corpus(dialect: str) -> list[tuple[str, str]]:
    return load_cases(UNSAFE_DIR / f"{dialect}.sql") + load_cases(UNSAFE_DIR / "generic.sql")


ALL_CASES = [
    pytest.param(dialect, sql, id=f"{path.stem}:{dialect}:{title}")
    for path in sorted(UNSAFE_DIR.glob("*.sql"))
    for dialect in (DIALECTS if path.stem == "generic" else (path.stem,))
    for title, sql in load_cases(path)
]


def test_corpus_is_large_and_covers_every_dialect():
    per_file = {p.stem: len(load_cases(p)) for p in UNSAFE_DIR.glob("*.sql")}
    assert set(per_file) == {*DIALECTS, "generic"}
    assert sum(per_file.values()) >= 110
    assert all(n >= 20 for n in per_file.values()), per_file
    titles = [t for p in UNSAFE_DIR.glob("*.sql") for t, _ in load_cases(p)]
    assert len(titles) == len({(t, p) for p in UNSAFE_DIR.glob("*.sql") for t, _ in load_cases(p)})


@pytest.mark.parametrize(("dialect", "sql"), ALL_CASES)
def test_every_unsafe_statement_is_rejected(dialect, sql):
    verdict = Validator(None, dialect).check_static(sql)
    assert not verdict.ok
    assert verdict.layer in ("syntax", "safety"), verdict
    assert verdict.reason and not verdict.reason.startswith("internal"), verdict


# ---------------------------------------------------------------- check_safety itself


def safety(sql: str, dialect: str = "postgres", **kwargs) -> str | None:
    profile = engines.get(dialect)
    return check_safety(sqlglot.parse_one(sql, read=dialect), profile, **kwargs)


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("postgres", "DELETE FROM items", "only a SELECT query is allowed, not DELETE"),
        ("postgres", "VACUUM", "only a SELECT query is allowed, not VACUUM"),
        ("postgres", "LISTEN x", "only a SELECT query is allowed, not LISTEN"),
        ("postgres", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE inside"),
        ("postgres", "SELECT * FROM (SELECT 1) s FOR UPDATE", "locking clause"),
        ("postgres", "SELECT 1 INTO x", "SELECT ... INTO"),
        ("postgres", "SELECT pg_catalog.PG_SLEEP(1)", "function pg_sleep() is not allowed"),
        ("postgres", "SELECT * FROM pg_catalog.pg_class", "system schema pg_catalog"),
        ("postgres", "SELECT * FROM pg_authid", "system table pg_authid"),
        ("tsql", "SELECT dbo.xp_cmdshell('dir')", "function xp_cmdshell() is not allowed"),
        ("tsql", "SELECT * FROM master..sysxlogins", "system schema master"),
        ("tsql", "SELECT * FROM t WITH (XLOCK)", "table hint XLOCK"),
        ("tsql", "SELECT @@SERVERNAME", "server variable"),
        ("mysql", "SELECT @@hostname", "server variable"),
        ("mysql", "SELECT @x := 1", "variable assignment"),
        ("mysql", "SELECT /*+ BKA(t) */ * FROM t", "optimizer hints"),
        ("mysql", "SELECT * FROM mysql.user", "system schema mysql"),
        ("sqlite", "SELECT load_extension('x')", "function load_extension()"),
        ("postgres", "SELECT * FROM read_csv('/etc/passwd')", "function read_csv()"),
        ("postgres", "(SELECT 1) UNION (SELECT 2 FOR SHARE)", "locking clause"),
        ("postgres", "SELECT pg_advisory_unlock_all()", "function pg_advisory_unlock_all()"),
        ("mysql", "items UNION SELECT name FROM items", "an operand of UNION is not a query"),
        ("tsql", "WITH c AS (SELECT 1 AS a), d AS (*) SELECT * FROM c", "body of WITH d"),
    ],
)
def test_check_safety_reasons(dialect, sql, reason):
    got = safety(sql, dialect)
    assert got is not None and reason in got, got


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "((SELECT 1))"),
        ("postgres", "(SELECT 1) UNION ALL (SELECT 2) ORDER BY 1"),
        ("postgres", "SELECT 1 EXCEPT SELECT 2"),
        ("postgres", "WITH x AS (SELECT 1 AS a) SELECT a FROM x"),
        ("tsql", "SELECT TOP 5 * FROM t WITH (NOLOCK)"),
        ("tsql", "SELECT a FROM t FOR XML PATH('')"),
        ("tsql", "SELECT a FROM t WHERE a = @x"),  # a local variable, not @@server
        ("mysql", "SELECT * FROM t USE INDEX (ix)"),
        ("postgres", "SELECT nextvalue FROM t"),  # a column, not the function
        ("postgres", "SELECT sleep FROM t"),
    ],
)
def test_check_safety_allows_plain_reads(dialect, sql):
    assert safety(sql, dialect) is None


def test_user_table_named_like_a_system_table():
    # A shop's own `user` table is not mysql.user; unqualified, it is allowed when the
    # metadata knows it, and a qualified mysql.user never is.
    assert safety("SELECT * FROM user", "mysql") == "system table user is not allowed"
    assert safety("SELECT * FROM user", "mysql", known_tables=frozenset({"user"})) is None
    assert safety("SELECT * FROM mysql.user", "mysql", known_tables=frozenset({"user"}))


def test_typed_functions_are_checked_by_their_sql_names():
    # sqlglot parses CURRENT_USER() into a typed node that is on no allow-list; allowing
    # its SQL name lets it through.
    profile = engines.get("mysql")
    tree = sqlglot.parse_one("SELECT CURRENT_USER()", read="mysql")
    assert check_safety(tree, profile) == "function current_user() is not allowed"
    assert check_safety(tree, profile, allow_functions=frozenset({"current_user"})) is None


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("mysql", "SELECT 1 /*!50000 + SLEEP(1) */", "executable comment"),
        ("mysql", "SELECT 1 /*M!100000 + SLEEP(1) */", "executable comment"),
        ("mysql", "SELECT 'a\\'b'", "backslash escapes"),
        ("postgres", 'SELECT U&"pg\\005fsleep"(1)', "Unicode escapes"),
    ],
)
def test_lexical_checks(dialect, sql, reason):
    profile = engines.get(dialect)
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    got = check_tokens(tokens, sql, profile)
    assert got is not None and reason in got


def test_lexical_checks_pass_ordinary_text():
    for dialect, sql in [
        ("mysql", "SELECT 'O''Brien', 1 & 2 FROM t -- note"),
        ("postgres", "SELECT 'a\\b', u & 1 FROM t /* fine */"),
    ]:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
        assert check_tokens(tokens, sql, engines.get(dialect)) is None


# ---------------------------------------------------------------- safe queries

# items(id, name, price, category_id, created_at), categories(category_id, label)
SAFE_COMMON = [
    "SELECT * FROM items",
    "SELECT id, name FROM items WHERE price > 5 ORDER BY price DESC",
    "SELECT DISTINCT category_id FROM items",
    "SELECT COUNT(*) FROM items",
    "SELECT category_id, COUNT(*) AS n, AVG(price) AS mean FROM items GROUP BY category_id",
    "SELECT category_id, SUM(price) AS total FROM items GROUP BY category_id "
    "HAVING SUM(price) > 1 ORDER BY total DESC",
    "SELECT i.name, c.label FROM items i JOIN categories c ON c.category_id = i.category_id",
    "SELECT i.name, c.label FROM items i LEFT JOIN categories c "
    "ON c.category_id = i.category_id WHERE c.label IS NULL OR c.label <> 'x'",
    "SELECT name FROM items WHERE category_id IN (SELECT category_id FROM categories "
    "WHERE label LIKE 'T%')",
    "SELECT c.label FROM categories c WHERE EXISTS (SELECT 1 FROM items i "
    "WHERE i.category_id = c.category_id)",
    "SELECT c.label FROM categories c WHERE NOT EXISTS (SELECT 1 FROM items i "
    "WHERE i.category_id = c.category_id AND i.price > 100)",
    "SELECT name, (SELECT label FROM categories c WHERE c.category_id = items.category_id) "
    "AS label FROM items",
    "WITH cheap AS (SELECT * FROM items WHERE price < 10) SELECT COUNT(*) AS n FROM cheap",
    "WITH per_cat AS (SELECT category_id, MAX(price) AS top FROM items GROUP BY category_id) "
    "SELECT c.label, p.top FROM per_cat p JOIN categories c ON c.category_id = p.category_id",
    "WITH a AS (SELECT id FROM items), b AS (SELECT id FROM a WHERE id > 1) SELECT * FROM b",
    "SELECT id, price, ROW_NUMBER() OVER (ORDER BY price DESC) AS rn FROM items",
    "SELECT id, price, RANK() OVER (PARTITION BY category_id ORDER BY price) AS r FROM items",
    "SELECT id, SUM(price) OVER (PARTITION BY category_id) AS cat_total FROM items",
    "SELECT id, LAG(price) OVER (ORDER BY id) AS prev_price FROM items",
    "SELECT name FROM items UNION SELECT label FROM categories",
    "SELECT name FROM items UNION ALL SELECT label FROM categories ORDER BY 1",
    "SELECT category_id FROM items INTERSECT SELECT category_id FROM categories",
    "SELECT category_id FROM categories EXCEPT SELECT category_id FROM items",
    "SELECT s.category_id, s.total FROM (SELECT category_id, SUM(price) AS total "
    "FROM items GROUP BY category_id) AS s WHERE s.total > 0",
    "SELECT name, CASE WHEN price >= 10 THEN 'expensive' WHEN price >= 5 THEN 'mid' "
    "ELSE 'cheap' END AS band FROM items",
    "SELECT COALESCE(label, 'none') AS label FROM categories",
    "SELECT name FROM items WHERE price BETWEEN 1 AND 20 AND name IS NOT NULL",
    "SELECT UPPER(name), LOWER(name), LENGTH(name) FROM items",
    "SELECT ROUND(AVG(price), 2) AS avg_price FROM items",
    "SELECT name FROM items WHERE created_at >= '2024-01-01'",
    "SELECT MIN(created_at), MAX(created_at) FROM items",
    "SELECT CAST(price AS INTEGER) AS whole FROM items",
    "SELECT i.id FROM items i WHERE i.price = (SELECT MAX(price) FROM items)",
    "SELECT category_id, COUNT(*) FROM items GROUP BY category_id ORDER BY 2 DESC",
    # Comments are not code: these look like tricks but are one harmless SELECT.
    "SELECT 1 /*; DELETE FROM items */",
    "SELECT id FROM items -- ; DROP TABLE items",
    "SELECT name FROM items WHERE name = 'a; DROP TABLE items'",
    "SELECT 'DELETE FROM items' AS text",
]
SAFE_BY_DIALECT = {
    "postgres": [
        "SELECT name FROM items ORDER BY price DESC LIMIT 3",
        "SELECT EXTRACT(YEAR FROM created_at) AS y, COUNT(*) FROM items GROUP BY 1",
        "SELECT DATE_TRUNC('month', created_at) AS m FROM items",
        "SELECT created_at + INTERVAL '7 days' FROM items",
        "SELECT name FROM items WHERE name ILIKE 'te%'",
        "SELECT id, price::numeric(10, 1) FROM items",
        "SELECT STRING_AGG(name, ', ' ORDER BY name) FROM items",
        "SELECT COUNT(*) FILTER (WHERE price > 5) FROM items",
        "SELECT * FROM items FETCH FIRST 2 ROWS ONLY",
        "SELECT g FROM generate_series(1, 3) AS g",
    ],
    "mysql": [
        "SELECT name FROM items ORDER BY price DESC LIMIT 3",
        "SELECT YEAR(created_at) AS y, COUNT(*) FROM items GROUP BY y",
        "SELECT DATE_FORMAT(created_at, '%Y-%m') AS m FROM items",
        "SELECT DATE_ADD(created_at, INTERVAL 7 DAY) FROM items",
        "SELECT DATEDIFF(CURDATE(), created_at) FROM items",
        "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ', ') FROM items",
        "SELECT IFNULL(label, '-') FROM categories",
        "SELECT `name` FROM `items` WHERE `price` > 1",
        "SELECT category_id, COUNT(*) AS n FROM items GROUP BY category_id HAVING n > 0",
    ],
    "sqlite": [
        "SELECT name FROM items ORDER BY price DESC LIMIT 3",
        "SELECT strftime('%Y', created_at) AS y, COUNT(*) FROM items GROUP BY y",
        "SELECT date(created_at, '+7 days') FROM items",
        "SELECT julianday('now') - julianday(created_at) FROM items",
        "SELECT group_concat(name, ', ') FROM items",
        "SELECT IFNULL(label, '-') FROM categories",
        "SELECT rowid, name FROM items",
        "SELECT price AS p FROM items WHERE p > 1",
    ],
    "tsql": [
        "SELECT TOP 3 name FROM items ORDER BY price DESC",
        "SELECT YEAR(created_at) AS y, COUNT(*) AS n FROM items GROUP BY YEAR(created_at)",
        "SELECT DATEADD(day, 7, created_at) FROM items",
        "SELECT DATEDIFF(day, created_at, GETDATE()) FROM items",
        "SELECT FORMAT(created_at, 'yyyy-MM') FROM items",
        "SELECT ISNULL(label, '-') FROM categories",
        "SELECT [name] FROM [dbo].[items] WITH (NOLOCK)",
        "SELECT name FROM items ORDER BY price OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY",
    ],
}


def safe_queries(dialect: str) -> list[str]:
    common = [q for q in SAFE_COMMON if dialect != "tsql" or " LIMIT " not in q]
    return common + SAFE_BY_DIALECT[dialect]


def items_metadata(engine: str, database: str = "shop") -> SchemaMetadata:
    profile = engines.get(engine)
    schema = {"postgresql": "public", "sqlite": "main", "mssql": "dbo", "mysql": database}
    s = schema[profile.name]

    def cols(*specs: tuple[str, str]) -> tuple[Column, ...]:
        return tuple(Column(n, t, normalize_type(t)) for n, t in specs)

    return SchemaMetadata(
        engine=profile.name,
        dialect=profile.sqlglot_dialect,
        database=database,
        default_schema=s,
        tables=(
            Table(
                "items",
                s,
                columns=cols(
                    ("id", "integer"),
                    ("name", "varchar(50)"),
                    ("price", "numeric(10,2)"),
                    ("category_id", "integer"),
                    ("created_at", "date"),
                ),
                primary_key=("id",),
            ),
            Table(
                "categories",
                s,
                columns=cols(("category_id", "integer"), ("label", "varchar(50)")),
                primary_key=("category_id",),
            ),
        ),
    )


def test_safe_query_set_is_large():
    assert all(len(safe_queries(d)) >= 40 for d in DIALECTS)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [pytest.param(d, q, id=f"{d}:{q[:50]}") for d in DIALECTS for q in safe_queries(d)],
)
def test_safe_queries_pass_every_static_layer(dialect, sql):
    verdict = Validator(items_metadata(dialect), dialect).check_static(sql)
    assert verdict.ok, verdict


# ---------------------------------------------------------------- real engines

ITEMS_DDL = (
    "CREATE TABLE categories (category_id INTEGER PRIMARY KEY, label VARCHAR(50))",
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50), price NUMERIC(10, 2), "
    "category_id INTEGER, created_at DATE)",
    "INSERT INTO categories VALUES (1, 'Tea'), (2, 'Tools'), (3, 'Empty')",
    "INSERT INTO items VALUES (1, 'teapot', 12.50, 1, '2024-01-05'), "
    "(2, 'kettle', 30.00, 1, '2024-02-10'), (3, 'hammer', 9.99, 2, '2023-12-01'), "
    "(4, 'nails', 2.00, NULL, '2024-03-15')",
)
PWNED_FILES = [Path(p) for p in ("/tmp/pwned.db", "/tmp/pwned", "/tmp/pwned.txt", "/tmp/pwned.bin")]


def _file_state() -> dict[Path, float | None]:
    return {p: (p.stat().st_mtime if p.exists() else None) for p in PWNED_FILES}


def _fingerprint(rows_by_query: list[list[tuple]]) -> str:
    return hashlib.sha256(repr(rows_by_query).encode()).hexdigest()


def _run_corpus(dsn: str, dialect: str, database: str, snapshot) -> None:
    """Full validator with an executor over the corpus and the safe queries."""
    executor_module = pytest.importorskip("data_create.executor")
    from data_create.connect import connect

    files_before = _file_state()
    before = snapshot()
    db = connect(dsn)
    executor = executor_module.Executor(db, timeout_s=2.0, row_cap=100)
    try:
        validator = Validator(items_metadata(db.profile.name, database), dialect, executor=executor)
        for title, sql in corpus(dialect):
            verdict = validator.validate(sql)
            assert not verdict.ok and verdict.layer in ("syntax", "safety"), (title, verdict)
        for sql in safe_queries(dialect):
            verdict = validator.validate(sql)
            assert verdict.ok, (sql, verdict)
            assert verdict.rows is not None and verdict.elapsed_ms is not None
    finally:
        executor.close()
        db.dispose()
    assert snapshot() == before
    assert _file_state() == files_before


def test_corpus_and_safe_queries_on_sqlite(tmp_path):
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in ITEMS_DDL:
            conn.execute(statement)

    def snapshot():
        with sqlite3.connect(path) as conn:
            tables = conn.execute(
                "SELECT type, name FROM sqlite_master ORDER BY type, name"
            ).fetchall()
            rows = [
                conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("items", "categories")
            ]
        return tables, _fingerprint(rows), sorted(os.listdir(tmp_path))

    _run_corpus(f"sqlite:///{path}", "sqlite", "shop", snapshot)


@pytest.fixture
def pg_items(pg_database) -> Iterator[str]:
    import psycopg2

    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in ITEMS_DDL:
            cur.execute(statement)
    conn.close()
    yield pg_database


@pytest.mark.postgres
def test_corpus_and_safe_queries_on_postgres(pg_items):
    import psycopg2

    def snapshot():
        conn = psycopg2.connect(pg_items)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', "
                    "'information_schema', 'pg_toast') ORDER BY 1, 2"
                )
                relations = cur.fetchall()
                rows = []
                for t in ("items", "categories"):
                    cur.execute(f"SELECT * FROM {t} ORDER BY 1")
                    rows.append(cur.fetchall())
                cur.execute("SELECT rolname FROM pg_roles ORDER BY 1")
                roles = cur.fetchall()
        finally:
            conn.close()
        return relations, _fingerprint(rows), roles

    _run_corpus(pg_items, "postgres", pg_items.rsplit("/", 1)[1], snapshot)


@pytest.fixture
def mysql_items(mysql_database) -> Iterator[str]:
    import pymysql

    name = mysql_database.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name)
    with conn.cursor() as cur:
        for statement in ITEMS_DDL:
            cur.execute(statement)
    conn.commit()
    conn.close()
    yield mysql_database


@pytest.mark.mysql
def test_corpus_and_safe_queries_on_mysql(mysql_items):
    import pymysql

    name = mysql_items.rsplit("/", 1)[1]

    def snapshot():
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('mysql', 'information_schema', "
                    "'performance_schema', 'sys') ORDER BY 1, 2"
                )
                tables = [t for t in cur.fetchall() if t[0] == name]
                rows = []
                for t in ("items", "categories"):
                    cur.execute(f"SELECT * FROM {t} ORDER BY 1")
                    rows.append(cur.fetchall())
                cur.execute("SELECT user, host FROM mysql.user ORDER BY 1, 2")
                users = cur.fetchall()
        finally:
            conn.close()
        return tables, _fingerprint(rows), users

    _run_corpus(mysql_items, "mysql", name, snapshot)
