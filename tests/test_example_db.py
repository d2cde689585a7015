"""The bundled retail example: one definition, the same rows on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    create_mysql_database,
    create_pg_database,
    drop_mysql_database,
    drop_pg_database,
    unique_name,
)
from sqlalchemy import inspect, select, text

from data_create.connect import connect
from data_create.errors import ConfigError, UnknownDatabase
from data_create.example import data as example_data
from data_create.example import database as example_db

# The content of the default build.  When a change to the schema or the generator moves
# it, bump data_create.example.VERSION (the cached copy is named after it) and update this.
DEFAULT_CONTENT_SHA256 = "10baa9fbcc72fca92ecbe60c7f7cd610abdec0e265f92089337ef4f88f6d93f9"

ENGINES = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sqlite_example(tmp_path_factory) -> Path:
    return example_db.build_sqlite(tmp_path_factory.mktemp("example") / "retail.sqlite")


def _server_example(create, drop, prefix: str) -> Iterator[str]:
    name = unique_name(prefix)
    dsn = create(name)
    try:
        started = time.perf_counter()
        example_db.load_into(dsn)
        print(f"\nloaded the example into {prefix} in {time.perf_counter() - started:.2f} s")
        yield dsn
    finally:
        drop(name)


@pytest.fixture(scope="module")
def pg_example(pg_server) -> Iterator[str]:
    yield from _server_example(create_pg_database, drop_pg_database, "expg")


@pytest.fixture(scope="module")
def mysql_example(mysql_server) -> Iterator[str]:
    yield from _server_example(create_mysql_database, drop_mysql_database, "exmy")


@pytest.fixture(scope="module")
def example(request) -> str:
    """DSN of the loaded example on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{request.getfixturevalue('sqlite_example')}"
    return request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'mysql'}_example")


def _query(dsn: str, sql: str, **params) -> list[tuple]:
    db = connect(dsn)
    try:
        with db.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        db.dispose()


def raw_digest(path: Path) -> str:
    """SHA-256 over the DDL and every table's rows as SQLite stores them, in key order."""
    h = hashlib.sha256()
    with closing(sqlite3.connect(path)) as conn:
        for row in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"):
            h.update(repr(row).encode())
        for table in example_db.tables():
            order = ", ".join(c.name for c in table.primary_key.columns)
            h.update(table.name.encode())
            for row in conn.execute(f"SELECT * FROM {table.name} ORDER BY {order}"):
                h.update(repr(row).encode())
    return h.hexdigest()


def typed_digests(dsn: str) -> dict[str, str]:
    """Per table, SHA-256 over the rows read through the SQLAlchemy table (so Python types)."""
    db = connect(dsn)
    digests = {}
    try:
        with db.engine.connect() as conn:
            for table in example_db.tables():
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                digests[table.name] = hashlib.sha256(
                    repr([tuple(r) for r in rows]).encode()
                ).hexdigest()
    finally:
        db.dispose()
    return digests


# ---------------------------------------------------------------- one definition


def test_tables_are_listed_parents_first():
    order = {t.name: i for i, t in enumerate(example_db.tables())}
    assert 10 <= len(order) <= 15
    for table in example_db.tables():
        for fk in table.foreign_keys:
            assert order[fk.column.table.name] <= order[table.name], (
                table.name,
                fk.target_fullname,
            )


def test_every_table_and_column_has_a_bilingual_comment():
    for table in example_db.tables():
        for thing in [table, *table.columns]:
            assert thing.comment and " / " in thing.comment, thing
            zh, en = thing.comment.rsplit(" / ", 1)
            assert re.search(r"[\u4e00-\u9fff]", zh) and re.search(r"[A-Za-z]", en), thing.comment


def test_views_are_transpiled_per_engine():
    sqlite_sql = example_db.view_sql("v_monthly_sales", "sqlite")
    assert "STRFTIME('%Y'" in sqlite_sql
    assert "TO_CHAR(" in example_db.view_sql("v_monthly_sales", "postgres")
    assert "DATE_FORMAT(" in example_db.view_sql("v_monthly_sales", "mysql")


# ---------------------------------------------------------------- SQLite build


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, sqlite_example):
    again = example_db.build_sqlite(tmp_path / "again.sqlite")
    assert again.read_bytes() == sqlite_example.read_bytes()
    assert raw_digest(again) == raw_digest(sqlite_example)
    other = example_db.build_sqlite(tmp_path / "other.sqlite", seed=7)
    assert raw_digest(other) != raw_digest(sqlite_example)


def test_default_content_is_pinned(sqlite_example):
    digest = raw_digest(sqlite_example)
    assert digest == DEFAULT_CONTENT_SHA256, (
        f"the default example's content changed (now {digest}): bump data_create.example.VERSION so "
        "cached copies are rebuilt, and update DEFAULT_CONTENT_SHA256"
    )


ROW_RANGES = {
    "regions": (5, 8),
    "stores": (15, 30),
    "employees": (150, 400),
    "customers": (1800, 2200),
    "product_categories": (15, 30),
    "suppliers": (30, 60),
    "products": (250, 350),
    "promotions": (20, 40),
    "orders": (7500, 8500),
    "order_items": (17000, 23000),
    "payments": (7500, 9000),
    "shipments": (2500, 4500),
    "inventory": (2500, 5000),
    "returns": (100, 400),
}


@pytest.mark.parametrize("example", ENGINES, indirect=True)
def test_row_counts_are_in_range(example):
    assert set(ROW_RANGES) == {t.name for t in example_db.tables()}
    db = connect(example)
    try:
        with db.engine.connect() as conn:
            counts = dict(example_db.table_counts(conn))
    finally:
        db.dispose()
    for name, (lo, hi) in ROW_RANGES.items():
        assert lo <= counts[name] <= hi, (name, counts[name])


def test_sqlite_foreign_keys_hold(sqlite_example):
    with closing(sqlite3.connect(sqlite_example)) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.parametrize("example", ENGINES, indirect=True)
def test_every_foreign_key_value_has_a_parent(example):
    checked = 0
    for table in example_db.tables():
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table.name
            pairs = list(zip(fk.column_keys, [e.column.name for e in fk.elements], strict=True))
            not_null = " AND ".join(f"c.{c} IS NOT NULL" for c, _ in pairs)
            match = " AND ".join(f"p.{p} = c.{c}" for c, p in pairs)
            sql = (
                f"SELECT COUNT(*) FROM {table.name} c WHERE {not_null} "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})"
            )
            assert _query(example, sql) == [(0,)], sql
            checked += 1
    assert checked >= 18


@pytest.mark.parametrize("example", ENGINES, indirect=True)
def test_catalogue_has_composite_keys_and_self_references(example):
    db = connect(example)
    try:
        insp = inspect(db.engine)
        assert insp.get_pk_constraint("order_items")["constrained_columns"] == [
            "order_id",
            "line_no",
        ]
        assert insp.get_pk_constraint("inventory")["constrained_columns"] == [
            "store_id",
            "product_id",
        ]
        fks = {(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
               for t in ("returns", "employees", "product_categories")
               for fk in insp.get_foreign_keys(t)}  # fmt: skip
        assert (("order_id", "line_no"), "order_items", ("order_id", "line_no")) in fks
        assert (("manager_id",), "employees", ("employee_id",)) in fks
        assert (("parent_id",), "product_categories", ("category_id",)) in fks
        assert {"v_monthly_sales", "v_product_sales", "v_customer_orders"} <= set(
            insp.get_view_names()
        )
    finally:
        db.dispose()
    # The hierarchy is real: staff -> store manager -> regional manager -> CEO.
    depth = _query(
        example,
        "SELECT COUNT(*) FROM employees e1 JOIN employees e2 ON e2.employee_id = e1.manager_id "
        "JOIN employees e3 ON e3.employee_id = e2.manager_id "
        "JOIN employees e4 ON e4.employee_id = e3.manager_id WHERE e4.manager_id IS NULL",
    )
    assert depth[0][0] > 50


def test_data_looks_like_a_business(sqlite_example):
    dsn = f"sqlite:///{sqlite_example}"

    def one(sql: str):
        return _query(dsn, sql)[0][0]

    # NULLs where they are natural.
    assert one("SELECT COUNT(*) FROM orders WHERE shipped_at IS NULL AND channel = 'store'") > 1000
    assert (
        one("SELECT COUNT(*) FROM orders WHERE status = 'pending' AND shipped_at IS NOT NULL") == 0
    )
    assert one("SELECT COUNT(*) FROM orders WHERE customer_id IS NULL") > 100
    assert 0.15 < one("SELECT AVG(email IS NULL) FROM customers") < 0.45
    assert one("SELECT COUNT(*) FROM employees WHERE termination_date IS NOT NULL") > 20
    assert one("SELECT COUNT(*) FROM stores WHERE closed_on IS NOT NULL") >= 1
    assert one("SELECT COUNT(*) FROM promotions WHERE end_date IS NULL") >= 1
    # Non-ASCII text.
    assert (
        one(
            "SELECT COUNT(*) FROM customers WHERE city IN ('上海', '北京', '广州', '深圳', '杭州', '成都')"
        )
        > 1000
    )
    names = [r[0] for r in _query(dsn, "SELECT full_name FROM customers")]
    assert sum(bool(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", n)) for n in names) > 0.9 * len(names)
    assert one("SELECT COUNT(*) FROM products WHERE product_name LIKE '%蓝牙耳机%'") > 0
    # Skewed categories: mostly completed, a few cancelled or returned; Zipf-like products.
    status = dict(_query(dsn, "SELECT status, COUNT(*) FROM orders GROUP BY status"))
    total = sum(status.values())
    assert status["completed"] / total > 0.85
    assert 0.01 < status["cancelled"] / total < 0.08 and 0.005 < status["returned"] / total < 0.05
    sold = [
        r[0] for r in _query(dsn, "SELECT units_sold FROM v_product_sales ORDER BY units_sold DESC")
    ]
    assert sold[0] > 10 * sold[len(sold) // 2]
    # Several years, more orders each year, 11·11 busier than an ordinary day.
    per_year = _query(
        dsn,
        "SELECT sales_year, SUM(order_count) FROM v_monthly_sales GROUP BY sales_year ORDER BY 1",
    )
    assert [y for y, _ in per_year] == [2021, 2022, 2023, 2024]
    assert all(a[1] < b[1] for a, b in pairwise(per_year))
    assert one("SELECT COUNT(*) FROM orders WHERE STRFTIME('%m-%d', ordered_at) = '11-11'") > 4 * (
        8000 / 1461
    )
    # Internal consistency: order totals, shipments and returns agree with their lines.
    assert (
        one(
            "SELECT COUNT(*) FROM orders o WHERE ABS(o.total_amount - "
            "(SELECT SUM(line_total) FROM order_items i WHERE i.order_id = o.order_id)) > 0.005"
        )
        == 0
    )
    assert (
        one(
            "SELECT COUNT(*) FROM shipments s JOIN orders o USING (order_id) WHERE s.shipped_at <> o.shipped_at"
        )
        == 0
    )
    assert (
        one(
            "SELECT COUNT(*) FROM returns r JOIN orders o USING (order_id) "
            "WHERE o.status <> 'returned' OR r.returned_at < o.ordered_at"
        )
        == 0
    )
    assert (
        one(
            "SELECT COUNT(*) FROM orders WHERE ordered_at < '2021-01-01' OR ordered_at >= '2025-01-01'"
        )
        == 0
    )


# ---------------------------------------------------------------- comments in catalogues


def test_sqlite_ddl_carries_comments_as_line_comments(sqlite_example):
    with closing(sqlite3.connect(sqlite_example)) as conn:
        ddl = dict(
            conn.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'view')")
        )
    for table in example_db.tables():
        lines = ddl[table.name].splitlines()
        assert lines[0] == f"CREATE TABLE {table.name} (  -- {table.comment}"
        for column in table.columns:
            line = next(ln for ln in lines if ln.strip().startswith(f"{column.name} "))
            assert line.endswith(f"  -- {column.comment}"), line
    for name, (comment, _) in example_db.VIEWS.items():
        assert ddl[name].splitlines()[0] == f"CREATE VIEW {name} AS  -- {comment}"


@pytest.mark.postgres
def test_postgres_catalogue_has_the_comments(pg_example):
    comments = _query(
        pg_example,
        "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')",
    )
    expected = {t.name: t.comment for t in example_db.tables()}
    expected.update({name: comment for name, (comment, _) in example_db.VIEWS.items()})
    assert dict(comments) == expected
    columns = _query(
        pg_example,
        "SELECT c.table_name, c.column_name, col_description((quote_ident(c.table_name))::regclass, "
        "c.ordinal_position) FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_schema, table_name) WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'",
    )
    assert {(t, c): d for t, c, d in columns} == {
        (t.name, c.name): c.comment for t in example_db.tables() for c in t.columns
    }
    assert ("orders", "订单主表 / Sales order header") in comments


@pytest.mark.mysql
def test_mariadb_catalogue_has_the_comments(mysql_example):
    tables = _query(
        mysql_example,
        "SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    assert dict(tables) == {t.name: t.comment for t in example_db.tables()}
    columns = _query(
        mysql_example,
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_COMMENT FROM information_schema.COLUMNS c "
        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
        "AND t.TABLE_NAME = c.TABLE_NAME "
        "WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'",
    )
    assert {(t, c): d for t, c, d in columns} == {
        (t.name, c.name): c.comment for t in example_db.tables() for c in t.columns
    }


# ---------------------------------------------------------------- the same data everywhere


@pytest.mark.parametrize("example", ENGINES, indirect=True)
def test_views_return_rows(example):
    assert _query(example, "SELECT COUNT(*) FROM v_monthly_sales") == [(48,)]
    assert _query(example, "SELECT COUNT(*) FROM v_product_sales") == _query(
        example, "SELECT COUNT(*) FROM products"
    )
    assert _query(example, "SELECT COUNT(*) FROM v_customer_orders")[0][0] == 2000
    top = _query(
        example, "SELECT full_name, total_spent FROM v_customer_orders ORDER BY total_spent DESC"
    )
    assert top[0][1] > 0


@pytest.mark.postgres
@pytest.mark.mysql
def test_all_engines_hold_the_same_rows_and_aggregates(sqlite_example, pg_example, mysql_example):
    dsns = {
        "sqlite": f"sqlite:///{sqlite_example}",
        "postgresql": pg_example,
        "mysql": mysql_example,
    }
    digests = {engine: typed_digests(dsn) for engine, dsn in dsns.items()}
    assert digests["sqlite"] == digests["postgresql"] == digests["mysql"]

    # Revenue per year, through each engine's own transpiled view, against the generator.
    rows = example_data.generate(example_db.DEFAULT_SEED)
    cancelled = {o["order_id"] for o in rows["orders"] if o["status"] == "cancelled"}
    expected: dict[int, Decimal] = {}
    ordered = {o["order_id"]: o["ordered_at"].year for o in rows["orders"]}
    for item in rows["order_items"]:
        if item["order_id"] not in cancelled:
            year = ordered[item["order_id"]]
            expected[year] = expected.get(year, Decimal(0)) + item["line_total"]
    for engine, dsn in dsns.items():
        got = _query(
            dsn, "SELECT sales_year, SUM(revenue) FROM v_monthly_sales GROUP BY sales_year"
        )
        assert {int(y): Decimal(str(round(float(v), 2))) for y, v in got} == expected, engine


# ---------------------------------------------------------------- loading and caching


@pytest.mark.parametrize("example", ENGINES, indirect=True)
def test_load_refuses_a_database_that_has_the_tables(example):
    with pytest.raises(ConfigError, match=r"already has tables or views named .*orders"):
        example_db.load_into(example)


def test_load_into_a_new_sqlite_file_matches_the_build(tmp_path, sqlite_example):
    target = tmp_path / "loaded.sqlite"
    example_db.load_into(f"sqlite:///{target}")
    assert raw_digest(target) == raw_digest(sqlite_example)


def test_a_failed_build_leaves_the_old_file_and_no_litter(tmp_path, monkeypatch, sqlite_example):
    path = tmp_path / "retail.sqlite"
    path.write_bytes(sqlite_example.read_bytes())

    def broken(seed):
        raise RuntimeError("generator broke")

    monkeypatch.setattr(example_data, "generate", broken)
    with pytest.raises(RuntimeError, match="generator broke"):
        example_db.build_sqlite(path)
    assert path.read_bytes() == sqlite_example.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["retail.sqlite"]


def test_example_path_is_built_once_into_the_cache(tmp_path, monkeypatch, sqlite_example):
    monkeypatch.setenv("NL2SQL_HOME", str(tmp_path))
    path = example_db.example_sqlite_path()
    assert path == tmp_path / "example" / f"retail_{example_db.VERSION}.sqlite"
    assert path.read_bytes() == sqlite_example.read_bytes()
    stamp = path.stat().st_mtime_ns
    assert example_db.example_sqlite_path() == path
    assert path.stat().st_mtime_ns == stamp  # not rebuilt
    assert example_db.example_dsn() == f"sqlite:///{path}"


def test_racing_processes_both_get_a_whole_database(tmp_path):
    code = "from data_create.example import example_sqlite_path; print(example_sqlite_path())"
    env = {**os.environ, "NL2SQL_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    folder = tmp_path / "example"
    assert [p.name for p in folder.iterdir()] == [f"retail_{example_db.VERSION}.sqlite"]
    with closing(sqlite3.connect(outs[0])) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 8000


def test_cli_builds_and_prints_counts(tmp_path):
    out = tmp_path / "retail.sqlite"
    script = ROOT / "examples" / "build_example_db.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(out)], capture_output=True, text=True, check=True
    )
    assert re.search(r"^orders\s+8,000$", done.stdout, re.M), done.stdout
    assert re.search(r"^order_items\s+[\d,]+$", done.stdout, re.M)
    assert "14 tables, 3 views" in done.stdout
    again = subprocess.run(
        [sys.executable, str(script), "--dsn", f"sqlite:///{out}"], capture_output=True, text=True
    )
    assert again.returncode == 2
    assert again.stderr.startswith("error: ") and "already has tables" in again.stderr


def test_a_database_error_names_the_dsn(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    with pytest.raises(UnknownDatabase, match=r"junk\.sqlite.*file is not a database"):
        example_db.load_into(f"sqlite:///{junk}")
