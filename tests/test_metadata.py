"""Metadata extraction: batched catalogue reads, keys, comments, sampling, on real engines.

SQL Server is the exception: none is available here, so its row -> record assembly is
tested with rows shaped like its catalogue queries' results.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
import uuid
from collections import namedtuple
from pathlib import Path

import pytest

from data_create import metadata as M
from data_create.catalog import ColumnRow, KeyRow, TableRow, assemble, mssql
from data_create.catalog.sqlite import ddl_comments
from data_create.connect import connect
from data_create.errors import ConfigError, EmptySchema, MetadataError
from data_create.records import ForeignKey

# ---------------------------------------------------------------- a small schema with every kind of key

# Composite primary key, a composite foreign key whose column order differs from the
# primary key's, a self-reference, unique constraints, a view, Chinese comments, and
# columns whose names look sensitive.
KEYS_SQLITE = """
CREATE TABLE region (  -- 地区
    country_code CHAR(2) NOT NULL,    -- 国家代码
    region_code VARCHAR(10) NOT NULL, -- 地区代码
    name VARCHAR(50) NOT NULL,        -- 地区名称
    PRIMARY KEY (country_code, region_code),
    UNIQUE (name)
);
CREATE TABLE store (
    -- 门店
    store_id INTEGER PRIMARY KEY,            -- 门店编号
    country_code CHAR(2) NOT NULL,
    region_code VARCHAR(10) NOT NULL,
    parent_store_id INTEGER REFERENCES store, -- 上级门店
    code VARCHAR(20) NOT NULL,                -- 门店代码
    password_hash VARCHAR(64),
    phone VARCHAR(20),
    opened_on DATE,
    FOREIGN KEY (region_code, country_code) REFERENCES region (region_code, country_code),
    UNIQUE (country_code, code)
);
CREATE VIEW store_regions AS -- 门店与地区
SELECT s.store_id, s.code, r.name AS region_name
FROM store s JOIN region r ON r.country_code = s.country_code AND r.region_code = s.region_code;
"""

KEYS_PG = """
CREATE TABLE region (
    country_code CHAR(2) NOT NULL, region_code VARCHAR(10) NOT NULL, name VARCHAR(50) NOT NULL,
    PRIMARY KEY (country_code, region_code), UNIQUE (name));
CREATE TABLE store (
    store_id INTEGER PRIMARY KEY, country_code CHAR(2) NOT NULL,
    region_code VARCHAR(10) NOT NULL, parent_store_id INTEGER REFERENCES store,
    code VARCHAR(20) NOT NULL, password_hash VARCHAR(64), phone VARCHAR(20), opened_on DATE,
    FOREIGN KEY (region_code, country_code) REFERENCES region (region_code, country_code),
    UNIQUE (country_code, code));
CREATE VIEW store_regions AS
SELECT s.store_id, s.code, r.name AS region_name
FROM store s JOIN region r ON r.country_code = s.country_code AND r.region_code = s.region_code;
COMMENT ON TABLE region IS '地区';
COMMENT ON COLUMN region.country_code IS '国家代码';
COMMENT ON COLUMN region.region_code IS '地区代码';
COMMENT ON COLUMN region.name IS '地区名称';
COMMENT ON TABLE store IS '门店';
COMMENT ON COLUMN store.store_id IS '门店编号';
COMMENT ON COLUMN store.parent_store_id IS '上级门店';
COMMENT ON COLUMN store.code IS '门店代码';
COMMENT ON VIEW store_regions IS '门店与地区';
"""

# MySQL wants an index whose leading columns are a foreign key's referenced columns in
# order, hence the extra unique key on region (same columns as the primary key).
KEYS_MYSQL = """
CREATE TABLE region (
    country_code CHAR(2) NOT NULL COMMENT '国家代码',
    region_code VARCHAR(10) NOT NULL COMMENT '地区代码',
    name VARCHAR(50) NOT NULL COMMENT '地区名称',
    PRIMARY KEY (country_code, region_code), UNIQUE KEY uq_name (name),
    UNIQUE KEY uq_region_country (region_code, country_code)) COMMENT '地区';
CREATE TABLE store (
    store_id INTEGER PRIMARY KEY COMMENT '门店编号', country_code CHAR(2) NOT NULL,
    region_code VARCHAR(10) NOT NULL, parent_store_id INTEGER COMMENT '上级门店',
    code VARCHAR(20) NOT NULL COMMENT '门店代码', password_hash VARCHAR(64), phone VARCHAR(20),
    opened_on DATE,
    FOREIGN KEY (region_code, country_code) REFERENCES region (region_code, country_code),
    FOREIGN KEY (parent_store_id) REFERENCES store (store_id),
    UNIQUE KEY uq_code (country_code, code)) COMMENT '门店';
CREATE VIEW store_regions AS
SELECT s.store_id, s.code, r.name AS region_name
FROM store s JOIN region r ON r.country_code = s.country_code AND r.region_code = s.region_code;
"""

KEYS_DATA = """
INSERT INTO region VALUES ('CN', 'BJ', '北京'), ('CN', 'SH', '上海'), ('US', 'CA', 'California');
INSERT INTO store VALUES
    (1, 'CN', 'BJ', NULL, 'BJ-001', 'x9f2', '13800000000', '2020-01-15'),
    (2, 'CN', 'SH', 1, 'SH-001', 'a7c1', '13900000000', '2021-06-01'),
    (3, 'CN', 'SH', 1, 'SH-002', NULL, NULL, '2021-06-01');
"""

CODE_TYPE = {"sqlite": "VARCHAR(20)", "postgresql": "character varying(20)", "mysql": "varchar(20)"}


def run_sql(dsn: str, script: str) -> None:
    db = connect(dsn)
    try:
        with db.engine.begin() as conn:
            for statement in script.split(";\n"):
                if statement.strip():
                    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
    finally:
        db.dispose()


def sqlite_db(tmp_path: Path, script: str, name: str = "db.sqlite") -> str:
    path = tmp_path / name
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def keys_db(request, tmp_path) -> tuple[str, str]:
    """(engine, DSN) of the small schema above, with a few rows."""
    engine = request.param
    if engine == "sqlite":
        return engine, sqlite_db(tmp_path, KEYS_SQLITE + KEYS_DATA)
    dsn = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
    run_sql(dsn, (KEYS_PG if engine == "postgresql" else KEYS_MYSQL) + KEYS_DATA)
    return engine, dsn


def extract(dsn: str, **options) -> M.SchemaMetadata:
    db = connect(dsn)
    try:
        return M.extract(db, M.ExtractOptions(**options))
    finally:
        db.dispose()


# ---------------------------------------------------------------- keys, comments, types


def test_keys_comments_and_types(keys_db):
    engine, dsn = keys_db
    md = extract(dsn)
    assert md.engine == engine
    assert [(t.name, t.kind, t.schema) for t in md.tables] == [
        ("region", "table", None),
        ("store", "table", None),
        ("store_regions", "view", None),
    ]
    region, store, view = md.tables
    assert region.primary_key == ("country_code", "region_code")
    assert region.unique == (("name",),)  # MySQL's (region_code, country_code) = the PK's set
    assert store.primary_key == ("store_id",)
    assert store.unique == (("country_code", "code"),)
    fks = {fk.columns: fk for fk in store.foreign_keys}
    assert set(fks) == {("region_code", "country_code"), ("parent_store_id",)}
    composite = fks[("region_code", "country_code")]
    assert (composite.ref_table, composite.ref_columns) == (
        "region",
        ("region_code", "country_code"),
    )
    assert composite.ref_schema is None  # the default schema
    assert fks[("parent_store_id",)].ref_table == "store"
    assert fks[("parent_store_id",)].ref_columns == ("store_id",)
    assert view.primary_key == () and view.foreign_keys == ()
    assert [c.name for c in view.columns] == ["store_id", "code", "region_name"]

    assert region.comment == "地区" and store.comment == "门店"
    assert region.column("name").comment == "地区名称"
    assert store.column("parent_store_id").comment == "上级门店"
    assert store.column("phone").comment is None
    if engine != "mysql":  # MySQL has no view comments
        assert view.comment == "门店与地区"

    code = store.column("code")
    assert (code.raw_type, code.type, code.nullable) == (CODE_TYPE[engine], "text", False)
    assert store.column("store_id").nullable is False
    assert store.column("parent_store_id").nullable is True
    assert store.column("opened_on").type == "date"
    # Exact: both were read whole when sampled (catalogue estimates are replaced).
    assert region.row_count == 3
    assert view.row_count == 3


def test_samples_skip_sensitive_columns_unless_asked(keys_db):
    _, dsn = keys_db
    store = extract(dsn).table("store")
    assert store.column("code").samples == ("BJ-001", "SH-001", "SH-002")
    assert store.column("parent_store_id").samples == (1,)  # NULLs skipped
    assert store.column("opened_on").samples == ("2021-06-01", "2020-01-15")  # most frequent first
    for name in ("password_hash", "phone"):
        assert store.column(name).sensitive is True
        assert store.column(name).samples == ()
    assert store.column("code").sensitive is False
    assert extract(dsn).table("region").column("country_code").samples == ("CN", "US")

    store = extract(dsn, sample_sensitive=True).table("store")
    assert store.column("phone").sensitive is True
    assert set(store.column("phone").samples) == {"13800000000", "13900000000"}

    store = extract(dsn, sample_values=1).table("store")
    assert store.column("opened_on").samples == ("2021-06-01",)
    assert all(c.samples == () for c in extract(dsn, sample_values=0).table("store").columns)


def test_include_exclude_and_views(keys_db):
    engine, dsn = keys_db
    names = lambda md: [t.name for t in md.tables]  # noqa: E731
    assert names(extract(dsn, include=("reg*",))) == ["region"]
    assert names(extract(dsn, include=("STORE*",))) == ["store", "store_regions"]
    assert names(extract(dsn, exclude=("*_regions",))) == ["region", "store"]
    assert names(extract(dsn, include_views=False)) == ["region", "store"]
    schema = {"sqlite": "main", "postgresql": "public"}.get(engine)
    if schema:
        assert names(extract(dsn, include=(f"{schema}.store",))) == ["store"]
    with pytest.raises(EmptySchema, match=r"nothing\*"):
        extract(dsn, include=("nothing*",))


def test_fingerprint_is_stable_and_follows_structure(keys_db):
    engine, dsn = keys_db
    first, second = extract(dsn), extract(dsn)
    assert first.fingerprint == second.fingerprint
    assert first.extracted_at and dt.datetime.fromisoformat(first.extracted_at)
    run_sql(dsn, "ALTER TABLE store ADD COLUMN closed_on DATE")
    changed = extract(dsn)
    assert changed.fingerprint != first.fingerprint
    assert changed.table("store").columns[-1].name == "closed_on"
    if engine == "postgresql":  # comments are not structure
        run_sql(dsn, "COMMENT ON TABLE store IS '新的说明'")
        assert extract(dsn).fingerprint == changed.fingerprint


def test_batched_and_per_table_agree(keys_db):
    _, dsn = keys_db
    db = connect(dsn)
    try:
        batched, per_table = M.extract(db), M.extract_per_table(db)
    finally:
        db.dispose()
    assert batched.fingerprint == per_table.fingerprint
    assert batched.options["method"] == "batched" and per_table.options["method"] == "per_table"
    for a, b in zip(batched.tables, per_table.tables, strict=True):
        assert (a.comment, a.row_count) == (b.comment, b.row_count)
        assert [(c.samples, c.type) for c in a.columns] == [(c.samples, c.type) for c in b.columns]
        if a.kind == "table":  # MariaDB also gives a view's columns their tables' comments
            assert [c.comment for c in a.columns] == [c.comment for c in b.columns]


def test_write_read_round_trip(keys_db, tmp_path):
    _, dsn = keys_db
    md = extract(dsn)
    path = tmp_path / "out" / "metadata.json"
    M.write(md, path)
    back = M.read(path)
    assert back == md
    assert back.fingerprint == md.fingerprint
    assert "地区名称" in path.read_text(encoding="utf-8")  # not \\u-escaped


def test_read_errors(tmp_path):
    with pytest.raises(ConfigError, match="no metadata file"):
        M.read(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a usable metadata file"):
        M.read(bad)


def test_server_facts(keys_db):
    engine, dsn = keys_db
    md = extract(dsn)
    expected = {"sqlite": ("main", False), "postgresql": ("public", True)}
    if engine == "mysql":
        assert md.default_schema == connect(dsn).name
        assert md.table_names_case_sensitive is True  # the test server has lower_case_table_names=0
        assert md.server_version.startswith(("MariaDB", "MySQL"))
    else:
        assert (md.default_schema, md.table_names_case_sensitive) == expected[engine]
    assert md.options["include"] == [] and md.options["sample_values"] == 5
    assert md.options["warnings"] == []


# ---------------------------------------------------------------- SQLite specifics


DDL_COMMENT_CASES = [
    # (title, DDL, table comment, column comments)
    (
        "end-of-line comments, table comment on the CREATE line",
        "CREATE TABLE t (  -- 订单\n  id INTEGER PRIMARY KEY, -- 编号\n  amount REAL -- 金额\n)",
        "订单",
        {"id": "编号", "amount": "金额"},
    ),
    (
        "table comment directly before the first column; own-line comments are not columns'",
        "CREATE TABLE t (\n  -- 门店\n  id INT,\n  -- section\n  name TEXT\n)",
        "门店",
        {},
    ),
    (
        "quoted names, nested parentheses, block comments, leading commas",
        'CREATE TABLE "t" (\n  [my id] INT, /* a */\n  "x y" NUMERIC(10, 2) -- b\n  , z TEXT -- c\n)',
        None,
        {"my id": "a", "x y": "b", "z": "c"},
    ),
    (
        "table constraints carry no column comment",
        "CREATE TABLE t (\n  a INT, -- A\n  CONSTRAINT pk PRIMARY KEY (a) -- not a column\n)",
        None,
        {"a": "A"},
    ),
    ("a view", "CREATE VIEW v AS -- 视图\nSELECT 1 AS x -- one", "视图", {}),
    ("create table as select", "CREATE TABLE t AS SELECT count(x) AS n FROM y -- c", None, {}),
    ("no comments at all", "CREATE TABLE t (a INT, b TEXT)", None, {}),
]


@pytest.mark.parametrize(
    ("ddl", "table_comment", "columns"),
    [case[1:] for case in DDL_COMMENT_CASES],
    ids=[case[0] for case in DDL_COMMENT_CASES],
)
def test_sqlite_ddl_comments(ddl, table_comment, columns):
    assert ddl_comments(ddl) == (table_comment, columns)


def test_northwind_sqlite(northwind_sqlite):
    md = extract(northwind_sqlite)
    tables = [t for t in md.tables if t.kind == "table"]
    assert (len(tables), len(md.tables) - len(tables)) == (13, 17)
    assert md.table("sqlite_sequence") is None
    details = md.table("Order Details")
    assert details.primary_key == ("OrderID", "ProductID")
    assert {(fk.columns, fk.ref_table) for fk in details.foreign_keys} == {
        (("OrderID",), "Orders"),
        (("ProductID",), "Products"),
    }
    employees = md.table("Employees")
    assert (("ReportsTo",), "Employees", ("EmployeeID",)) in {
        (fk.columns, fk.ref_table, fk.ref_columns) for fk in employees.foreign_keys
    }
    path = northwind_sqlite.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        orders = conn.execute("SELECT count(*) FROM Orders").fetchone()[0]
    assert md.table("Orders").row_count == orders
    assert "Beverages" in md.table("Categories").column("CategoryName").samples
    assert md.table("Categories").column("Picture").samples == ()  # BLOB
    assert md.table("Employees").column("HomePhone").sensitive


def test_sqlite_broken_view_and_failed_sample_are_warnings(tmp_path, monkeypatch):
    dsn = sqlite_db(
        tmp_path,
        """
        CREATE TABLE gone (x INT);
        CREATE VIEW broken AS SELECT x FROM gone;
        CREATE TABLE ok (a INT);
        INSERT INTO ok VALUES (1);
        CREATE VIEW slow AS
          WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 100000000)
          SELECT count(*) AS total FROM c;
        DROP TABLE gone;
        """,
    )
    monkeypatch.setattr(M, "SAMPLE_TIMEOUT_S", 0.2)
    md = extract(dsn)
    assert [t.name for t in md.tables] == ["ok", "slow"]
    assert md.table("ok").column("a").samples == (1,)
    warnings = md.options["warnings"]
    assert any(w.startswith("skipped broken:") for w in warnings)
    assert any(w.startswith("could not sample slow:") and "interrupt" in w for w in warnings)


def test_empty_database(tmp_path):
    dsn = sqlite_db(tmp_path, "CREATE TABLE t (a INT); DROP TABLE t;")
    with pytest.raises(EmptySchema, match="no tables found in schema main"):
        extract(dsn)


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_sakila_pg(sakila_pg):
    db = connect(sakila_pg)
    try:
        md, per_table = M.extract(db), M.extract_per_table(db)
    finally:
        db.dispose()
    names = [t.name for t in md.tables]
    assert names.count("payment") == 1
    assert not [n for n in names if n.startswith("payment_p")]  # inheritance partitions
    views = {t.name for t in md.tables if t.kind == "view"}
    assert views == {
        "actor_info", "customer_list", "film_list", "nicer_but_slower_film_list",
        "sales_by_film_category", "sales_by_store", "staff_list",
    }  # fmt: skip
    assert len(md.tables) - len(views) == 15
    film = md.table("film")
    assert film.column("rating").type == "enum"
    assert (film.column("release_year").raw_type, film.column("release_year").type) == (
        "year",
        "integer",
    )  # a domain over integer
    assert film.column("special_features").type == "array"
    assert film.column("fulltext").samples == ()  # tsvector
    payment = md.table("payment")
    assert {fk.ref_table for fk in payment.foreign_keys} == {"customer", "rental", "staff"}
    assert md.table("rental").unique == (("rental_date", "inventory_id", "customer_id"),)
    assert per_table.fingerprint == md.fingerprint


@pytest.mark.postgres
def test_northwind_pg(northwind_pg):
    md = extract(northwind_pg)
    assert len([t for t in md.tables if t.kind == "table"]) == 14
    details = md.table("order_details")
    assert details.primary_key == ("order_id", "product_id")
    assert {fk.ref_table for fk in details.foreign_keys} == {"orders", "products"}


@pytest.mark.postgres
def test_pg_partitions_row_estimates_and_schemas(pg_database):
    run_sql(
        pg_database,
        """
        CREATE TABLE customer (id INT PRIMARY KEY, name TEXT);
        CREATE TABLE measurement (id INT, taken DATE NOT NULL, customer_id INT REFERENCES customer,
                                  PRIMARY KEY (id, taken)) PARTITION BY RANGE (taken);
        CREATE TABLE measurement_2023 PARTITION OF measurement
            FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        CREATE TABLE measurement_2024 PARTITION OF measurement
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE reading (id INT PRIMARY KEY, m_id INT, m_taken DATE,
                              FOREIGN KEY (m_id, m_taken) REFERENCES measurement (id, taken));
        INSERT INTO customer SELECT g, 'c' || g FROM generate_series(1, 50) g;
        INSERT INTO measurement SELECT g, DATE '2023-06-01' + g, g % 50 + 1
            FROM generate_series(1, 400) g;
        CREATE SCHEMA sales;
        CREATE TABLE sales.orders (id INT PRIMARY KEY, customer_id INT REFERENCES public.customer);
        """,
    )
    md = extract(pg_database)
    assert [t.name for t in md.tables] == ["customer", "measurement", "reading"]
    measurement = md.table("measurement")
    assert measurement.primary_key == ("id", "taken")
    # Never analyzed (reltuples -1): counted, not left unknown, 0 or -1.
    assert measurement.row_count == 400
    reading = md.table("reading")
    assert [(fk.columns, fk.ref_table) for fk in reading.foreign_keys] == [
        (("m_id", "m_taken"), "measurement")
    ]  # once, not once per partition

    run_sql(pg_database, "ANALYZE")
    md = extract(pg_database)
    assert md.table("measurement").row_count == 400  # the partitions' rows
    assert md.table("customer").row_count == 50

    both = extract(pg_database, schemas=("public", "sales"))
    orders = both.table("orders")
    assert orders.schema == "sales" and orders.qualified_name == "sales.orders"
    assert (orders.foreign_keys[0].ref_schema, orders.foreign_keys[0].ref_table) == (
        None,
        "customer",
    )
    assert [t.name for t in extract(pg_database, schemas=("sales",)).tables] == ["orders"]
    with pytest.raises(EmptySchema, match="schema nope"):
        extract(pg_database, schemas=("nope",))


@pytest.mark.postgres
def test_pg_permission_and_timeout_become_warnings(pg_database, monkeypatch):
    role = f"t_meta_{uuid.uuid4().hex[:8]}"
    run_sql(
        pg_database,
        f"""
        CREATE TABLE open_t (a INT);
        INSERT INTO open_t VALUES (7);
        CREATE TABLE closed_t (b INT);
        CREATE VIEW slow AS SELECT 1 AS x FROM pg_sleep(5);
        CREATE ROLE {role} LOGIN;
        GRANT SELECT ON open_t, slow TO {role};
        """,
    )
    try:
        monkeypatch.setattr(M, "SAMPLE_TIMEOUT_S", 0.3)
        db = connect(pg_database.replace("postgres@", f"{role}@"))
        try:
            md = M.extract(db)
            with db.engine.connect() as conn:  # the pooled connection's settings are back
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
        finally:
            db.dispose()
    finally:
        run_sql(pg_database, f"DROP OWNED BY {role};\nDROP ROLE {role}")
    assert [t.name for t in md.tables] == ["closed_t", "open_t", "slow"]
    assert md.table("open_t").column("a").samples == (7,)
    warnings = " | ".join(md.options["warnings"])
    assert "could not sample closed_t: permission denied" in warnings
    assert "could not sample slow:" in warnings and "statement timeout" in warnings


@pytest.mark.postgres
def test_pg_unreadable_catalogue_is_a_metadata_error(pg_database):
    role = f"t_meta_{uuid.uuid4().hex[:8]}"
    run_sql(
        pg_database,
        f"""
        CREATE TABLE t (a INT);
        CREATE ROLE {role} LOGIN;
        REVOKE SELECT ON pg_catalog.pg_description FROM PUBLIC
        """,
    )
    try:
        with pytest.raises(
            MetadataError, match=r"cannot read the catalogue of .*permission denied"
        ):
            extract(pg_database.replace("postgres@", f"{role}@"))
    finally:
        run_sql(pg_database, f"DROP ROLE {role}")


# ---------------------------------------------------------------- MySQL / MariaDB


@pytest.mark.mysql
def test_sakila_mysql(sakila_mysql):
    db = connect(sakila_mysql)
    try:
        md, per_table = M.extract(db), M.extract_per_table(db)
    finally:
        db.dispose()
    views = {t.name for t in md.tables if t.kind == "view"}
    assert len(views) == 7 and len(md.tables) == 23
    film = md.table("film")
    assert film.column("rating").raw_type == "enum('G','PG','PG-13','R','NC-17')"
    assert film.column("rating").type == "enum"
    assert film.column("description").samples == ()  # TEXT: documents, not categories
    assert set(film.column("rating").samples) <= {"G", "PG", "PG-13", "R", "NC-17"}
    assert md.table("payment").row_count > 10_000  # InnoDB's estimate
    assert md.table("rental").unique == (("rental_date", "inventory_id", "customer_id"),)
    assert per_table.fingerprint == md.fingerprint


def _comment_counts(md) -> tuple[int, int, int, int]:
    columns = [c for t in md.tables for c in t.columns]
    return (
        len(md.tables),
        sum(bool(t.comment) for t in md.tables),
        len(columns),
        sum(bool(c.comment) for c in columns),
    )


@pytest.mark.mysql
def test_mall_chinese_comments(mall_mysql):
    md = extract(mall_mysql)
    tables, commented_tables, columns, commented = _comment_counts(md)
    assert (tables, columns, commented) == (76, 669, 377)
    assert commented_tables >= 70
    assert md.table("oms_order").comment == "订单表"
    assert md.table("ums_member").column("password").sensitive


@pytest.mark.mysql
def test_litemall_chinese_comments_and_samples(litemall_mysql):
    md = extract(litemall_mysql)
    tables, commented_tables, columns, commented = _comment_counts(md)
    assert (tables, columns) == (34, 376)
    assert 330 <= commented <= 345  # the dump has 338
    assert commented_tables == 34
    ad = md.table("litemall_ad")
    assert ad.comment == "广告表"
    assert ad.column("name").comment == "广告标题"
    assert any("活动" in v for v in ad.column("name").samples)
    user = md.table("litemall_user")
    assert user.column("mobile").sensitive and user.column("mobile").samples == ()
    assert user.column("password").samples == ()


@pytest.mark.mysql
def test_mysql_timeout_becomes_warning(mysql_database, monkeypatch):
    run_sql(mysql_database, "CREATE TABLE t (a INT);\nCREATE VIEW slow AS SELECT SLEEP(5) AS x")
    monkeypatch.setattr(M, "SAMPLE_TIMEOUT_S", 0.3)
    md = extract(mysql_database)
    assert [t.name for t in md.tables] == ["slow", "t"]
    assert any(w.startswith("could not sample slow:") for w in md.options["warnings"])


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    "name",
    ["password", "user_pwd", "passwd", "api_key", "apiKey", "access_token", "salt", "pwd_hash",
     "id_card", "idCard", "身份证号", "ssn", "phone", "HomePhone", "mobile", "tel", "手机号",
     "email", "bank_card_no", "card_no", "credit_card", "secret"],
)  # fmt: skip
def test_sensitive_names(name):
    assert M.is_sensitive(name)


@pytest.mark.parametrize(
    "name",
    ["hotel", "classname", "hashtag_count", "address", "user_name", "telescope", "description",
     "cardinality", "automobile_model", "created_at", "status"],
)  # fmt: skip
def test_ordinary_names(name):
    assert not M.is_sensitive(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("4.99"), 4.99),
        (decimal.Decimal("12.000"), 12),
        (decimal.Decimal("0.1000000000000000000000001"), "0.1000000000000000000000001"),
        (dt.datetime(2024, 1, 31, 8, 30), "2024-01-31T08:30:00"),
        (dt.date(2024, 1, 31), "2024-01-31"),
        (dt.time(8, 30), "08:30:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (True, True),
        (7, 7),
        ("短", "短"),
    ],
)
def test_json_value(value, expected):
    got = M.json_value(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value", [None, b"\x00", bytearray(b"x"), "x" * 65, float("nan"), [1]])
def test_json_value_skips(value):
    assert M.json_value(value, max_length=64) is M._SKIP


def test_assemble_orders_keys_and_ignores_strays():
    tables = [TableRow("s", "t", "table", " 表 ", 5)]
    columns = [
        ColumnRow("s", "t", 2, "b", "int", "integer", True, None, ""),
        ColumnRow("s", "t", 1, "a", "int", "integer", False, None, "甲"),
        ColumnRow("s", "gone", 1, "x", "int", "integer", True, None, None),  # dropped meanwhile
    ]
    keys = [
        KeyRow("s", "t", "pk", "p", 2, "b"),
        KeyRow("s", "t", "pk", "p", 1, "a"),
        KeyRow("s", "t", "u_ba", "u", 1, "b"),
        KeyRow("s", "t", "u_ba", "u", 2, "a"),  # same columns as the PK: dropped
        KeyRow("s", "t", "fk", "f", 2, "b", "s", "r", "rb"),
        KeyRow("s", "t", "fk", "f", 1, "a", "s", "r", "ra"),
    ]
    (t,) = assemble(tables, columns, keys)
    assert t.comment == "表" and t.row_count == 5
    assert [(c.name, c.comment) for c in t.columns] == [("a", "甲"), ("b", None)]
    assert t.primary_key == ("a", "b") and t.unique == ()
    assert t.foreign_keys == (ForeignKey(("a", "b"), "r", ("ra", "rb"), "s", "fk"),)


# ---------------------------------------------------------------- SQL Server (constructed rows)

MsTable = namedtuple("MsTable", "schema_name table_name object_type comment row_estimate")
MsColumn = namedtuple(
    "MsColumn",
    "schema_name table_name column_id column_name type_name base_type is_user_defined "
    "max_length precision scale is_nullable is_identity default_definition computed_definition "
    "comment",
)
MsKey = namedtuple(
    "MsKey",
    "schema_name table_name constraint_name kind position column_name ref_schema ref_table "
    "ref_column",
)


def ms_col(table, column_id, name, type_name, max_length=4, precision=10, scale=0, **kw):
    values = dict(
        schema_name="dbo", table_name=table, column_id=column_id, column_name=name,
        type_name=type_name, base_type=type_name, is_user_defined=False, max_length=max_length,
        precision=precision, scale=scale, is_nullable=True, is_identity=False,
        default_definition=None, computed_definition=None, comment=None,
    )  # fmt: skip
    values.update(kw)
    return MsColumn(**values)


MS_TABLES = [
    MsTable("dbo", "OrderLines", "U ", "订单明细", 1234),
    MsTable("dbo", "Orders", "U ", None, 10),
    MsTable("dbo", "v_orders", "V ", "订单视图", None),
    MsTable("audit", "Log", "U ", None, 0),
]
MS_COLUMNS = [
    ms_col("Orders", 1, "OrderID", "int", is_nullable=False, is_identity=True),
    ms_col("Orders", 2, "CustomerName", "Name", 100, 0, 0, base_type="nvarchar",
           is_user_defined=True, comment="客户名称"),
    ms_col("Orders", 3, "Total", "decimal", 9, 12, 2, default_definition="((0))"),
    ms_col("Orders", 4, "Notes", "nvarchar", -1, 0, 0),
    ms_col("Orders", 5, "CreatedAt", "datetime2", 8, 27, 7, default_definition="(sysdatetime())"),
    ms_col("Orders", 6, "Doubled", "decimal", 9, 13, 2, computed_definition="([Total]*(2))"),
    ms_col("OrderLines", 1, "OrderID", "int", is_nullable=False),
    ms_col("OrderLines", 2, "LineNo", "smallint", 2, 5, 0, is_nullable=False, comment="行号"),
    ms_col("OrderLines", 3, "Sku", "varchar", 20, 0, 0, default_definition="('N/A')"),
    ms_col("OrderLines", 4, "Photo", "varbinary", -1, 0, 0),
    ms_col("v_orders", 1, "OrderID", "int"),
    ms_col("Log", 1, "At", "datetime", 8, 23, 3, schema_name="audit"),
]  # fmt: skip
MS_KEYS = [
    MsKey("dbo", "Orders", "PK_Orders", "p", 1, "OrderID", None, None, None),
    MsKey("dbo", "OrderLines", "PK_OrderLines", "p", 2, "LineNo", None, None, None),
    MsKey("dbo", "OrderLines", "PK_OrderLines", "p", 1, "OrderID", None, None, None),
    MsKey("dbo", "OrderLines", "UQ_Sku", "u", 1, "Sku", None, None, None),
    MsKey("dbo", "OrderLines", "FK_Lines_Orders", "f", 1, "OrderID", "dbo", "Orders", "OrderID"),
]


def test_mssql_rows_to_records():
    tables = mssql.tables_from_rows(MS_TABLES, MS_COLUMNS, MS_KEYS, True, lambda s, n: True)
    by_name = {t.name: t for t in tables}
    assert set(by_name) == {"OrderLines", "Orders", "v_orders", "Log"}
    orders, lines, view = by_name["Orders"], by_name["OrderLines"], by_name["v_orders"]
    assert [(c.name, c.raw_type, c.type) for c in orders.columns] == [
        ("OrderID", "int", "integer"),
        ("CustomerName", "Name", "text"),  # alias type: its own name, its base type's category
        ("Total", "decimal(12,2)", "decimal"),
        ("Notes", "nvarchar(max)", "text"),
        ("CreatedAt", "datetime2(7)", "datetime"),
        ("Doubled", "decimal(13,2)", "decimal"),
    ]
    assert [c.default for c in orders.columns] == [
        "IDENTITY",
        None,
        "0",
        None,
        "sysdatetime()",
        "AS ([Total]*(2))",
    ]
    assert orders.column("CustomerName").comment == "客户名称"
    assert orders.column("OrderID").nullable is False and orders.row_count == 10
    assert lines.comment == "订单明细" and lines.row_count == 1234
    assert lines.primary_key == ("OrderID", "LineNo")
    assert lines.unique == (("Sku",),)
    assert lines.foreign_keys == (
        ForeignKey(("OrderID",), "Orders", ("OrderID",), "dbo", "FK_Lines_Orders"),
    )
    assert (lines.column("Sku").raw_type, lines.column("Sku").default) == ("varchar(20)", "'N/A'")
    assert lines.column("Photo").type == "binary"
    assert (view.kind, view.comment, view.row_count) == ("view", "订单视图", None)
    assert by_name["Log"].schema == "audit"

    only_tables = mssql.tables_from_rows(
        MS_TABLES, MS_COLUMNS, MS_KEYS, False, lambda s, n: not n.startswith("Order")
    )
    assert [t.name for t in only_tables] == ["Log"]


@pytest.mark.parametrize(
    ("query", "row"),
    [(mssql._TABLES, MsTable), (mssql._COLUMNS, MsColumn), (mssql._KEYS, MsKey)],
    ids=["tables", "columns", "keys"],
)
def test_mssql_queries_are_tsql_returning_what_the_assembly_reads(query, row):
    """The queries cannot run here; they must at least be T-SQL whose result columns
    are the ones the rows above (and tables_from_rows) use."""
    import sqlglot
    from sqlalchemy.dialects import mssql as mssql_dialect

    sql = query.bindparams(schemas=["dbo", "audit"]).compile(
        dialect=mssql_dialect.dialect(), compile_kwargs={"literal_binds": True}
    )
    parsed = sqlglot.parse_one(str(sql), read="tsql")
    assert parsed.named_selects == list(row._fields)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nvarchar", 90, 0, 0), "nvarchar(45)"),
        (("nchar", 20, 0, 0), "nchar(10)"),
        (("varchar", -1, 0, 0), "varchar(max)"),
        (("varbinary", 16, 0, 0), "varbinary(16)"),
        (("numeric", 9, 18, 4), "numeric(18,4)"),
        (("time", 5, 16, 7), "time(7)"),
        (("uniqueidentifier", 16, 0, 0), "uniqueidentifier"),
        (("bit", 1, 1, 0), "bit"),
    ],
)
def test_mssql_type_text(args, expected):
    assert mssql.type_text(*args) == expected


def test_mysql_columns_fall_back_to_plain_rows(sakila_mysql, monkeypatch):
    """Servers without JSON_ARRAYAGG (MariaDB < 10.5, MySQL < 5.7.22) get the plain query."""
    from sqlalchemy import text

    from data_create.catalog import mysql

    db = connect(sakila_mysql)
    try:
        folded = M.extract(db, M.ExtractOptions(sample_values=0))
        monkeypatch.setattr(
            mysql, "_COLUMNS_JSON", text("SELECT NO_SUCH_FUNCTION_XYZ(1) FROM DUAL")
        )
        plain = M.extract(db, M.ExtractOptions(sample_values=0))
    finally:
        db.dispose()
    assert plain.fingerprint == folded.fingerprint
    assert [c.comment for t in plain.tables for c in t.columns] == [
        c.comment for t in folded.tables for c in t.columns
    ]
