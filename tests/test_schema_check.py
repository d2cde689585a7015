"""The schema layer: tables and columns resolve under each engine's rules.

Metadata is built by hand here (records.py), so these tests need no database; the
cases run through sqlglot's parser in each dialect exactly as the validator does.
"""

from __future__ import annotations

import dataclasses

import pytest
import sqlglot

from data_create.records import Column, SchemaMetadata, Table, normalize_type
from data_create.schema_check import SchemaIndex, check_schema

DIALECT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite", "mssql": "tsql"}
DEFAULT_SCHEMA = {"postgresql": "public", "mysql": "shop", "sqlite": "main", "mssql": "dbo"}


def table(name: str, *columns: str, schema: str | None = None) -> Table:
    return Table(
        name=name,
        schema=schema,
        columns=tuple(Column(c, "integer", normalize_type("integer")) for c in columns),
    )


def shop(engine: str, *extra: Table, **options) -> SchemaMetadata:
    schema = DEFAULT_SCHEMA[engine]
    tables = (
        table("customers", "customer_id", "name", "country", schema=schema),
        table("orders", "order_id", "customer_id", "amount", "ordered_at", schema=schema),
        table("order_items", "order_id", "product_id", "quantity", schema=schema),
        table("products", "product_id", "name", "price", schema=schema),
        *extra,
    )
    return SchemaMetadata(
        engine=engine,
        dialect=DIALECT[engine],
        database="shop",
        tables=tables,
        default_schema=schema,
        **options,
    )


def check(engine: str, sql: str, metadata: SchemaMetadata | None = None) -> str | None:
    index = SchemaIndex(metadata or shop(engine))
    return check_schema(sqlglot.parse_one(sql, read=DIALECT[engine]), index)


ENGINES = list(DIALECT)

# Queries that must resolve in every engine (portable syntax only).
VALID_EVERYWHERE = [
    "SELECT * FROM orders",
    "SELECT o.order_id, o.amount FROM orders AS o",
    "SELECT o.* FROM orders o JOIN customers c ON c.customer_id = o.customer_id",
    "SELECT c.name, COUNT(*) AS n FROM customers c JOIN orders o "
    "ON o.customer_id = c.customer_id GROUP BY c.name ORDER BY n DESC",
    "SELECT name FROM customers WHERE customer_id IN (SELECT customer_id FROM orders)",
    "SELECT c.name FROM customers c WHERE EXISTS "
    "(SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.amount > 10)",
    # correlated, unqualified outer column (customer_id is not in products)
    "SELECT country FROM customers WHERE 0 < (SELECT COUNT(*) FROM orders "
    "WHERE orders.customer_id = customers.customer_id)",
    "WITH big AS (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id) "
    "SELECT c.name, big.total FROM big JOIN customers c ON c.customer_id = big.customer_id",
    "WITH t(a, b) AS (SELECT order_id, amount FROM orders) SELECT a, b FROM t WHERE b > 1",
    "SELECT s.total FROM (SELECT SUM(amount) AS total FROM orders) AS s",
    "SELECT x.k FROM (SELECT customer_id AS k FROM orders) x ORDER BY x.k",
    "SELECT name FROM customers UNION SELECT name FROM products ORDER BY name",
    "SELECT customer_id FROM orders INTERSECT SELECT customer_id FROM customers",
    "SELECT order_id, amount, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount) "
    "AS rn FROM orders",
    "SELECT CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size FROM orders",
    "SELECT order_id FROM orders JOIN order_items USING (order_id)",
    "SELECT COUNT(DISTINCT customer_id) FROM orders",
    "SELECT 1",
    "SELECT ORDERS.ORDER_ID FROM ORDERS",  # unquoted: folds (PG) or compares case-blind
    "SELECT oi.quantity * p.price AS line FROM order_items oi, products p "
    "WHERE p.product_id = oi.product_id",
    "SELECT (SELECT MAX(amount) FROM orders o2 WHERE o2.customer_id = o.customer_id) AS top "
    "FROM orders o",
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sql", VALID_EVERYWHERE)
def test_valid_queries_resolve(engine, sql):
    assert check(engine, sql) is None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT custmer_id FROM orders",
            "unknown column 'custmer_id' in table orders — did you mean customer_id?",
        ),
        ("SELECT * FROM order", "unknown table 'order' — did you mean orders?"),
        ("SELECT * FROM ordrs", "unknown table 'ordrs' — did you mean orders?"),
        ("SELECT o.amont FROM orders o", "unknown column 'amont' in table orders"),
        (
            "SELECT customer_id FROM orders JOIN customers ON 1 = 1",
            "ambiguous column 'customer_id' (in table orders, table customers)",
        ),
        (
            "SELECT orders.amount FROM orders o",
            "unknown table or alias 'orders' in orders.amount",
        ),
        ("SELECT x.* FROM orders o", "unknown table or alias 'x' in x.*"),
        (
            "WITH t(a, b) AS (SELECT order_id, amount FROM orders) SELECT amount FROM t",
            "unknown column 'amount' in CTE t",
        ),
        (
            "SELECT s.amount FROM (SELECT SUM(amount) AS total FROM orders) s",
            "unknown column 'amount' in derived table s",
        ),
        (
            "SELECT c.name FROM customers c WHERE EXISTS "
            "(SELECT 1 FROM orders o WHERE o.customer_id = c.custome_id)",
            "unknown column 'custome_id' in table customers — did you mean customer_id?",
        ),
        (
            "SELECT name FROM customers UNION SELECT nme FROM products",
            "unknown column 'nme' in table products — did you mean name?",
        ),
        ("SELECT * FROM orders o JOIN customers o ON 1 = 1", "duplicate table name or alias"),
        ("SELECT nope", "unknown column 'nope' (the query has no FROM clause)"),
        (
            "SELECT order_id FROM orders WHERE customer_id IN (SELECT customer_idd FROM customers)",
            "unknown column 'customer_idd'",
        ),
    ],
)
def test_unknown_names_are_reported_with_suggestions(engine, sql, message):
    reason = check(engine, sql)
    assert reason is not None
    assert reason.startswith(message), reason


# ---------------------------------------------------------------- identifier case rules


def mixed_case_pg() -> SchemaMetadata:
    # CREATE TABLE "Orders" ("OrderId" int, "total" int); CREATE TABLE orders (order_id int)
    return SchemaMetadata(
        engine="postgresql",
        dialect="postgres",
        database="shop",
        default_schema="public",
        tables=(
            table("Orders", "OrderId", "total", schema="public"),
            table("orders", "order_id", schema="public"),
        ),
    )


@pytest.mark.parametrize(
    ("sql", "ok"),
    [
        ('SELECT "OrderId" FROM "Orders"', True),
        ('SELECT total FROM "Orders"', True),
        ('SELECT TOTAL FROM "Orders"', True),  # unquoted TOTAL folds to total
        ('SELECT OrderId FROM "Orders"', False),  # folds to orderid: no such column
        ('SELECT "orderid" FROM "Orders"', False),
        ("SELECT order_id FROM Orders", True),  # unquoted Orders folds to orders
        ("SELECT order_id FROM ORDERS", True),
        ('SELECT order_id FROM "ORDERS"', False),  # quoted: exact match only
        ('SELECT "ORDER_ID" FROM orders', False),
        ('SELECT o."OrderId" FROM "Orders" AS O', True),  # alias O folds to o
    ],
)
def test_postgres_folds_unquoted_and_matches_quoted_exactly(sql, ok):
    reason = check("postgresql", sql, mixed_case_pg())
    assert (reason is None) == ok, reason


def test_postgres_quoted_miss_suggests_the_real_name():
    reason = check("postgresql", 'SELECT * FROM "ORDERS"', mixed_case_pg())
    assert reason is not None and reason.startswith("unknown table 'ORDERS'")
    assert "did you mean" in reason


@pytest.mark.parametrize(
    ("engine", "sql"),
    [
        (engine, sql)
        for engine, quoted in (
            ("sqlite", '"ORDER_ID"'),
            ("mysql", "`ORDER_ID`"),
            ("mssql", "[Order_Id]"),
        )
        for sql in (
            "SELECT ORDER_ID, Amount FROM Orders",
            "SELECT o.AMOUNT FROM ORDERS O",
            f"SELECT {quoted} FROM orders",  # quoting does not make these engines case-exact
        )
    ],
)
def test_case_insensitive_engines(engine, sql):
    assert check(engine, sql) is None


def test_mysql_case_sensitive_table_names_follow_the_server():
    strict = shop("mysql", table_names_case_sensitive=True)
    assert check("mysql", "SELECT order_id FROM orders", strict) is None
    assert check("mysql", "SELECT ORDER_ID FROM orders", strict) is None  # columns: never
    reason = check("mysql", "SELECT order_id FROM Orders", strict)
    assert reason == "unknown table 'Orders' — did you mean orders?"
    relaxed = shop("mysql", table_names_case_sensitive=False)
    assert check("mysql", "SELECT order_id FROM Orders", relaxed) is None


# ---------------------------------------------------------------- schema-qualified names


def two_schemas() -> SchemaMetadata:
    return SchemaMetadata(
        engine="postgresql",
        dialect="postgres",
        database="shop",
        default_schema="public",
        tables=(
            table("orders", "order_id", "amount", schema="public"),
            table("orders", "order_id", "region", schema="sales"),
            table("targets", "region", "goal", schema="sales"),
            table("audit", "id", schema="ops"),
            table("audit", "id", schema="archive"),
        ),
    )


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT amount FROM orders", None),  # default schema first
        ("SELECT amount FROM public.orders", None),
        ("SELECT region FROM sales.orders", None),
        ("SELECT goal FROM targets", None),  # unique elsewhere
        ("SELECT o.region FROM sales.orders o JOIN sales.targets t USING (region)", None),
        ("SELECT public.orders.amount FROM public.orders", None),
        ("SELECT region FROM orders", "unknown column 'region' in table orders"),
        ("SELECT amount FROM sales.orders", "unknown column 'amount' in table orders"),
        ("SELECT * FROM nowhere.orders", "unknown table 'nowhere.orders'"),
        ("SELECT * FROM audit", "ambiguous table 'audit' (in schemas archive, ops)"),
        ("SELECT * FROM ops.audit", None),
        ("SELECT * FROM otherdb.public.orders", "unknown table 'otherdb.public.orders'"),
    ],
)
def test_schema_qualified_names(sql, expected):
    reason = check("postgresql", sql, two_schemas())
    if expected is None:
        assert reason is None, reason
    else:
        assert reason is not None and reason.startswith(expected), reason


@pytest.mark.parametrize(
    ("engine", "sql"),
    [
        ("mysql", "SELECT amount FROM shop.orders"),  # MySQL: the database name
        ("mysql", "SELECT o.amount FROM shop.orders AS o"),
        ("mssql", "SELECT amount FROM dbo.orders"),
        ("mssql", "SELECT amount FROM [dbo].[orders]"),
        ("mssql", "SELECT amount FROM shop.dbo.orders"),
        ("sqlite", "SELECT amount FROM main.orders"),
        ("postgresql", "SELECT amount FROM public.orders"),
    ],
)
def test_qualified_names_per_engine(engine, sql):
    assert check(engine, sql) is None


def test_mysql_metadata_without_schema_accepts_database_qualifier():
    md = SchemaMetadata(
        engine="mysql",
        dialect="mysql",
        database="shop",
        tables=(table("orders", "order_id", "amount"),),
    )
    assert check("mysql", "SELECT amount FROM shop.orders", md) is None
    assert check("mysql", "SELECT amount FROM other.orders", md) is not None


# ---------------------------------------------------------------- SELECT-list aliases


@pytest.mark.parametrize(
    ("engine", "sql", "ok"),
    [
        (
            "postgresql",
            "SELECT customer_id AS c, COUNT(*) AS n FROM orders GROUP BY c ORDER BY n",
            True,
        ),
        ("postgresql", "SELECT COUNT(*) AS n FROM orders HAVING n > 1", False),
        ("postgresql", "SELECT amount AS a FROM orders ORDER BY a + 1", False),  # alias only bare
        ("postgresql", "SELECT amount AS a FROM orders WHERE a > 1", False),
        (
            "mysql",
            "SELECT customer_id AS c, COUNT(*) AS n FROM orders GROUP BY c HAVING n > 1",
            True,
        ),
        ("mysql", "SELECT amount AS a FROM orders WHERE a > 1", False),
        ("sqlite", "SELECT amount AS a FROM orders WHERE a > 1", True),
        (
            "sqlite",
            "SELECT customer_id AS c, COUNT(*) AS n FROM orders GROUP BY c HAVING n > 1",
            True,
        ),
        ("mssql", "SELECT amount AS a FROM orders ORDER BY a", True),
        ("mssql", "SELECT customer_id AS c FROM orders GROUP BY c", False),
        ("mysql", "SELECT amount AS a, SUM(amount) OVER (ORDER BY a) FROM orders", False),
    ],
)
def test_select_aliases_where_the_engine_allows_them(engine, sql, ok):
    reason = check(engine, sql)
    assert (reason is None) == ok, reason


# ---------------------------------------------------------------- joins, sources


@pytest.mark.parametrize("engine", ENGINES)
def test_order_by_prefers_output_columns_over_ambiguous_inputs(engine):
    on = "JOIN customers c ON c.customer_id = o.customer_id"
    plain = check(engine, f"SELECT o.customer_id FROM orders o {on} ORDER BY customer_id")
    assert (plain is None) == (engine != "sqlite"), plain  # SQLite: AS aliases only
    assert (
        check(engine, f"SELECT c.name AS customer_id FROM orders o {on} ORDER BY customer_id")
        is None
    )
    reason = check(engine, f"SELECT o.amount FROM orders o {on} ORDER BY customer_id")
    assert reason is not None and reason.startswith("ambiguous column 'customer_id'")
    reason = check(engine, f"SELECT o.customer_id FROM orders o {on} WHERE customer_id > 1")
    assert reason is not None and reason.startswith("ambiguous column 'customer_id'")


@pytest.mark.parametrize("engine", ENGINES)
def test_using_and_natural_joins_merge_columns(engine):
    assert check(engine, "SELECT order_id FROM orders JOIN order_items USING (order_id)") is None
    assert check(engine, "SELECT order_id FROM orders NATURAL JOIN order_items") is None
    reason = check(engine, "SELECT order_id FROM orders JOIN order_items ON 1 = 1")
    assert reason is not None and reason.startswith("ambiguous column 'order_id'")


@pytest.mark.parametrize(
    ("engine", "sql"),
    [
        ("postgresql", "SELECT g FROM generate_series(1, 3) AS g"),
        ("postgresql", "SELECT g.x FROM generate_series(1, 3) AS g(x)"),
        ("postgresql", "SELECT u.x FROM orders o, UNNEST(ARRAY[1, 2]) AS u(x)"),
        ("postgresql", "SELECT v.a FROM (VALUES (1, 2)) AS v(a, b)"),
        (
            "postgresql",
            "SELECT o.order_id, l.top FROM orders o, LATERAL (SELECT MAX(quantity) AS top "
            "FROM order_items i WHERE i.order_id = o.order_id) l",
        ),
        (
            "mssql",
            "SELECT o.order_id, l.top FROM orders o CROSS APPLY (SELECT TOP 1 quantity AS top "
            "FROM order_items i WHERE i.order_id = o.order_id) l",
        ),
        ("sqlite", "SELECT key, value FROM json_each('[1, 2]')"),
        ("sqlite", "SELECT rowid, order_id FROM orders"),
        ("mssql", "SELECT amount FROM orders WITH (NOLOCK, INDEX(ix_orders_amount))"),
        ("mysql", "SELECT amount FROM orders USE INDEX (ix_amount)"),
        (
            "postgresql",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
            "SELECT n FROM r",
        ),
        (
            "postgresql",
            "WITH RECURSIVE chain AS (SELECT order_id, customer_id FROM orders UNION ALL "
            "SELECT o.order_id, o.customer_id FROM orders o JOIN chain c "
            "ON o.customer_id = c.order_id) SELECT chain.customer_id FROM chain",
        ),
        ("postgresql", "SELECT t.n FROM (SELECT COUNT(*) FROM orders) AS t(n)"),
        ("postgresql", "SELECT d.count FROM (SELECT COUNT(*) FROM orders) AS d"),  # unnamed
        ("mysql", "SELECT sub.total FROM (SELECT o.*, 1 AS total FROM orders o) sub"),
        ("postgresql", "SELECT s.amount FROM (SELECT * FROM orders) s"),
        ("postgresql", "SELECT q.name FROM (SELECT c.* FROM customers c) q"),
        (
            "postgresql",
            "SELECT (SELECT name FROM customers c WHERE c.customer_id = o.customer_id) FROM orders o",
        ),
    ],
)
def test_table_valued_sources_and_expansions(engine, sql):
    assert check(engine, sql) is None


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT s.nope FROM (SELECT * FROM orders) s", "unknown column 'nope' in derived table s"),
        ("SELECT q.amount FROM (SELECT c.* FROM customers c) q", "unknown column 'amount'"),
        ("SELECT v.c FROM (VALUES (1, 2)) AS v(a, b)", "unknown column 'c'"),
        (
            "SELECT o.nope FROM orders o, generate_series(1, 2) g",
            "unknown column 'nope' in table orders",
        ),
    ],
)
def test_expanded_sources_still_reject_unknown_columns(sql, message):
    reason = check("postgresql", sql)
    assert reason is not None and reason.startswith(message), reason


def test_cte_shadows_a_real_table_and_respects_case_rules():
    # the CTE named orders hides the real table: its columns are the CTE's
    assert check("postgresql", "WITH orders AS (SELECT 1 AS x) SELECT x FROM orders") is None
    assert check("postgresql", "WITH orders AS (SELECT 1 AS x) SELECT amount FROM orders")
    # an unquoted CTE name matches case-blind in PostgreSQL (both fold)
    assert check("postgresql", "WITH Big AS (SELECT 1 AS x) SELECT x FROM BIG") is None


def test_check_schema_does_not_modify_the_callers_tree():
    expression = sqlglot.parse_one("SELECT ORDER_ID FROM Orders", read="postgres")
    before = expression.sql("postgres")
    assert check_schema(expression, SchemaIndex(shop("postgresql"))) is None
    assert expression.sql("postgres") == before


def test_index_lookups_follow_the_engine():
    index = SchemaIndex(shop("postgresql"))
    assert index.known_tables >= {"orders", "customers"}
    found = index.find_table("orders")
    assert not isinstance(found, str) and found.table.schema == "public"
    assert isinstance(index.find_table("Orders"), str)  # PostgreSQL: exact after folding
    assert not isinstance(SchemaIndex(shop("mysql")).find_table("Orders"), str)


# ---------------------------------------------------------------- agreement with real engines

# Run on the real engine and through the schema layer: both must agree on whether the
# names resolve.  Portable statements only.
AGREEMENT = [
    "SELECT ORDER_ID, Amount FROM ORDERS",
    "SELECT o.customer_id FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
    "ORDER BY customer_id",
    "SELECT c.name AS customer_id FROM orders o JOIN customers c "
    "ON c.customer_id = o.customer_id ORDER BY customer_id",
    "SELECT o.amount FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
    "ORDER BY customer_id",
    "SELECT o.amount FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
    "WHERE customer_id > 1",
    "SELECT customer_id AS k, COUNT(*) AS n FROM orders GROUP BY k",
    "SELECT customer_id AS k, COUNT(*) AS n FROM orders GROUP BY customer_id HAVING n > 1",
    "SELECT amount AS a FROM orders ORDER BY a",
    "SELECT amount AS a FROM orders ORDER BY a + 1",
    "SELECT amount AS a FROM orders WHERE a > 1",
    "SELECT order_id FROM orders JOIN order_items USING (order_id)",
    "SELECT order_id FROM orders NATURAL JOIN order_items",
    "SELECT order_id FROM orders JOIN order_items ON 1 = 1",
    "SELECT orders.amount FROM orders o",
    "SELECT o.amount FROM orders o",
    "SELECT amont FROM orders",
    "SELECT * FROM ordrs",
    "SELECT c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
    "WHERE o.customer_id = c.customer_id)",
    "SELECT c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
    "WHERE o.customer_id = c.custome_id)",
    "SELECT name FROM customers WHERE customer_id IN (SELECT customer_id FROM orders "
    "WHERE amount > (SELECT AVG(amount) FROM orders))",
    "WITH t(a, b) AS (SELECT order_id, amount FROM orders) SELECT a, b FROM t",
    "WITH t(a, b) AS (SELECT order_id, amount FROM orders) SELECT amount FROM t",
    "SELECT s.total FROM (SELECT SUM(amount) AS total FROM orders) AS s",
    "SELECT s.amount FROM (SELECT SUM(amount) AS total FROM orders) AS s",
    "SELECT s.amount FROM (SELECT * FROM orders) AS s",
    "SELECT name FROM customers UNION SELECT name FROM products ORDER BY name",
    "SELECT name AS n FROM customers UNION SELECT name FROM products ORDER BY n",
    "SELECT name FROM customers UNION SELECT nme FROM products",
    "SELECT * FROM orders o JOIN customers o ON 1 = 1",
    "SELECT x.* FROM orders o",
    "SELECT o.* FROM orders o JOIN customers c ON c.customer_id = o.customer_id",
    "SELECT (SELECT MAX(amount) FROM orders o2 WHERE o2.customer_id = o.customer_id) AS top "
    "FROM orders o",
    "SELECT amount, SUM(amount) OVER (PARTITION BY customer_id ORDER BY order_id) AS run "
    "FROM orders",
]


def _agreement(engine: str, run, metadata: SchemaMetadata | None = None) -> list[str]:
    """Statements where the schema layer and the real engine disagree."""
    disagreements = []
    for sql in AGREEMENT:
        static_ok = check(engine, sql, metadata) is None
        error = run(sql)
        if static_ok != (error is None):
            disagreements.append(f"{sql!r}: schema layer {static_ok}, engine error {error!r}")
    return disagreements


_SHOP_DDL = [
    "CREATE TABLE customers (customer_id INTEGER, name VARCHAR(20), country VARCHAR(20))",
    "CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, amount INTEGER, "
    "ordered_at INTEGER)",
    "CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, quantity INTEGER)",
    "CREATE TABLE products (product_id INTEGER, name VARCHAR(20), price INTEGER)",
]


def _runner(cursor, rollback=None):
    def run(sql: str) -> str | None:
        try:
            cursor.execute(sql)
            cursor.fetchall()
        except Exception as exc:
            if rollback:
                rollback()
            return str(exc).splitlines()[0]
        return None

    return run


def test_agreement_with_sqlite():
    import sqlite3

    conn = sqlite3.connect(":memory:")
    for statement in _SHOP_DDL:
        conn.execute(statement)
    assert _agreement("sqlite", _runner(conn.cursor())) == []


@pytest.mark.postgres
def test_agreement_with_postgres(pg_database):
    import psycopg2

    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in _SHOP_DDL:
            cur.execute(statement)
        assert _agreement("postgresql", _runner(cur)) == []
    conn.close()


@pytest.mark.mysql
def test_agreement_with_mysql(mysql_database):
    import pymysql

    name = mysql_database.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name)
    with conn.cursor() as cur:
        for statement in _SHOP_DDL:
            cur.execute(statement)
        # The server compares table names as the metadata says it does.
        cur.execute("SELECT @@lower_case_table_names")
        (lower,) = cur.fetchone()
        md = shop("mysql", table_names_case_sensitive=(lower == 0))
        md = md.replace(
            database=name,
            default_schema=name,
            tables=tuple(dataclasses.replace(t, schema=name) for t in md.tables),
        )
        assert _agreement("mysql", _runner(cur), md) == []
    conn.close()
