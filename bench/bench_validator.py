"""Throughput of the static validator (syntax + safety + schema) on one core.

Generates ~1,000 realistic statements (joins along foreign keys, aggregates, CTEs,
correlated subqueries, windows, set operations) over a 15-table shop schema and
times, in the same run:

* ``parse``        — sqlglot parse only (the floor; for reference);
* ``check_static`` — :meth:`data_create.validator.Validator.check_static`;
* ``qualify``      — the baseline: parse + sqlglot's ``qualify()`` with
  ``validate_qualify_columns=True`` against the same schema.

Run:  python bench/bench_validator.py [--dialect postgres] [--n 1000] [--repeat 3]
Target: >= 1,000 statements/s for check_static.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlglot
from sqlglot.optimizer.qualify import qualify

from data_create import engines
from data_create.records import Column, ForeignKey, SchemaMetadata, Table, normalize_type
from data_create.validator import Validator

# table -> (columns with types, foreign keys as (column, ref_table, ref_column))
SHOP: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]] = {
    "departments": ([("department_id", "int"), ("name", "varchar(50)"), ("budget", "numeric")], []),
    "employees": (
        [("employee_id", "int"), ("first_name", "varchar(40)"), ("last_name", "varchar(40)"),
         ("department_id", "int"), ("manager_id", "int"), ("hired_on", "date"),
         ("salary", "numeric")],
        [("department_id", "departments", "department_id"),
         ("manager_id", "employees", "employee_id")],
    ),
    "customers": (
        [("customer_id", "int"), ("name", "varchar(80)"), ("email", "varchar(120)"),
         ("country", "varchar(40)"), ("created_at", "timestamp"), ("segment", "varchar(20)")],
        [],
    ),
    "addresses": (
        [("address_id", "int"), ("customer_id", "int"), ("city", "varchar(60)"),
         ("postal_code", "varchar(12)"), ("is_default", "boolean")],
        [("customer_id", "customers", "customer_id")],
    ),
    "categories": ([("category_id", "int"), ("name", "varchar(60)"), ("parent_id", "int")],
                   [("parent_id", "categories", "category_id")]),
    "suppliers": ([("supplier_id", "int"), ("name", "varchar(80)"), ("country", "varchar(40)"),
                   ("rating", "numeric")], []),
    "products": (
        [("product_id", "int"), ("name", "varchar(80)"), ("category_id", "int"),
         ("supplier_id", "int"), ("unit_price", "numeric"), ("discontinued", "boolean"),
         ("launched_on", "date")],
        [("category_id", "categories", "category_id"), ("supplier_id", "suppliers", "supplier_id")],
    ),
    "warehouses": ([("warehouse_id", "int"), ("city", "varchar(60)"), ("capacity", "int")], []),
    "inventory": (
        [("warehouse_id", "int"), ("product_id", "int"), ("quantity", "int"),
         ("updated_at", "timestamp")],
        [("warehouse_id", "warehouses", "warehouse_id"), ("product_id", "products", "product_id")],
    ),
    "orders": (
        [("order_id", "int"), ("customer_id", "int"), ("employee_id", "int"),
         ("order_date", "date"), ("status", "varchar(20)"), ("total_amount", "numeric")],
        [("customer_id", "customers", "customer_id"), ("employee_id", "employees", "employee_id")],
    ),
    "order_items": (
        [("order_id", "int"), ("product_id", "int"), ("quantity", "int"),
         ("unit_price", "numeric"), ("discount", "numeric")],
        [("order_id", "orders", "order_id"), ("product_id", "products", "product_id")],
    ),
    "payments": (
        [("payment_id", "int"), ("order_id", "int"), ("paid_at", "timestamp"),
         ("amount", "numeric"), ("method", "varchar(20)")],
        [("order_id", "orders", "order_id")],
    ),
    "shipments": (
        [("shipment_id", "int"), ("order_id", "int"), ("warehouse_id", "int"),
         ("shipped_at", "timestamp"), ("carrier", "varchar(30)")],
        [("order_id", "orders", "order_id"), ("warehouse_id", "warehouses", "warehouse_id")],
    ),
    "reviews": (
        [("review_id", "int"), ("product_id", "int"), ("customer_id", "int"), ("stars", "int"),
         ("body", "text"), ("created_at", "timestamp")],
        [("product_id", "products", "product_id"), ("customer_id", "customers", "customer_id")],
    ),
    "promotions": (
        [("promotion_id", "int"), ("product_id", "int"), ("starts_on", "date"),
         ("ends_on", "date"), ("percent_off", "numeric")],
        [("product_id", "products", "product_id")],
    ),
}  # fmt: skip

NUMERIC = {"int", "numeric"}
DATES = {"date", "timestamp"}


def shop_metadata(engine: str = "postgresql") -> SchemaMetadata:
    profile = engines.get(engine)
    schema = {"postgresql": "public", "mssql": "dbo", "sqlite": "main"}.get(profile.name)
    tables = tuple(
        Table(
            name=name,
            schema=schema,
            columns=tuple(Column(c, t, normalize_type(t)) for c, t in cols),
            primary_key=(cols[0][0],),
            foreign_keys=tuple(ForeignKey((c,), rt, (rc,)) for c, rt, rc in fks),
        )
        for name, (cols, fks) in SHOP.items()
    )
    return SchemaMetadata(
        engine=profile.name,
        dialect=profile.sqlglot_dialect,
        database="shop",
        tables=tables,
        default_schema=schema,
    )


def _cols(table: str, kinds: set[str] | None = None) -> list[str]:
    return [c for c, t in SHOP[table][0] if kinds is None or t in kinds]


def _edges() -> list[tuple[str, str, str, str]]:
    return [(t, c, rt, rc) for t, (_, fks) in SHOP.items() for c, rt, rc in fks if t != rt]


def generate(n: int, seed: int = 7) -> list[str]:
    """``n`` statements in PostgreSQL syntax (portable enough for the other dialects)."""
    rng = random.Random(seed)
    edges = _edges()
    tables = list(SHOP)

    def num(t: str) -> str:
        return rng.choice(_cols(t, NUMERIC))

    def anycol(t: str) -> str:
        return rng.choice(_cols(t))

    def simple() -> str:
        t = rng.choice(tables)
        cols = ", ".join(rng.sample(_cols(t), k=min(3, len(_cols(t)))))
        return (
            f"SELECT {cols} FROM {t} WHERE {num(t)} > {rng.randint(1, 500)} "
            f"ORDER BY {anycol(t)} LIMIT {rng.randint(5, 50)}"
        )

    def join() -> str:
        t, c, rt, rc = rng.choice(edges)
        return (
            f"SELECT a.{anycol(t)}, b.{anycol(rt)} FROM {t} AS a JOIN {rt} AS b "
            f"ON a.{c} = b.{rc} WHERE b.{num(rt)} >= {rng.randint(1, 100)} ORDER BY 1"
        )

    def join3() -> str:
        t, c, rt, rc = rng.choice(edges)
        options = [e for e in edges if e[0] == t and e[2] != rt] or [
            e for e in edges if e[2] == t and e[0] != rt
        ]
        if not options:
            return join()
        t2, c2, rt2, rc2 = rng.choice(options)
        third = rt2 if t2 == t else t2
        on2 = f"x.{c2} = z.{rc2}" if t2 == t else f"z.{c2} = x.{rc2}"
        return (
            f"SELECT x.{anycol(t)}, y.{anycol(rt)}, z.{anycol(third)} FROM {t} x "
            f"JOIN {rt} y ON x.{c} = y.{rc} LEFT JOIN {third} z ON {on2} "
            f"WHERE y.{num(rt)} IS NOT NULL"
        )

    def aggregate() -> str:
        t, c, rt, rc = rng.choice(edges)
        label = rng.choice([x for x in _cols(rt) if x != rc])
        return (
            f"SELECT p.{label}, COUNT(*) AS n, SUM(c.{num(t)}) AS total, AVG(c.{num(t)}) AS mean "
            f"FROM {rt} p JOIN {t} c ON c.{c} = p.{rc} GROUP BY p.{label} "
            f"HAVING COUNT(*) > {rng.randint(1, 10)} ORDER BY total DESC LIMIT 10"
        )

    def cte() -> str:
        t, c, rt, rc = rng.choice(edges)
        return (
            f"WITH per_parent AS (SELECT {c} AS parent_id, COUNT(*) AS cnt, MAX({num(t)}) AS top "
            f"FROM {t} GROUP BY {c}) SELECT r.{anycol(rt)}, pp.cnt, pp.top FROM {rt} r "
            f"JOIN per_parent pp ON pp.parent_id = r.{rc} WHERE pp.cnt >= 2 ORDER BY pp.cnt DESC"
        )

    def correlated() -> str:
        t, c, rt, rc = rng.choice(edges)
        kind = rng.choice(["EXISTS", "NOT EXISTS"])
        return (
            f"SELECT r.{anycol(rt)} FROM {rt} r WHERE {kind} (SELECT 1 FROM {t} s "
            f"WHERE s.{c} = r.{rc} AND s.{num(t)} > {rng.randint(0, 50)})"
        )

    def in_subquery() -> str:
        t, c, rt, rc = rng.choice(edges)
        return (
            f"SELECT {anycol(t)}, {num(t)} FROM {t} WHERE {c} IN (SELECT {rc} FROM {rt} "
            f"WHERE {num(rt)} > (SELECT AVG({num(rt)}) FROM {rt}))"
        )

    def window() -> str:
        t, c, _rt, _rc = rng.choice(edges)
        n = num(t)
        return (
            f"SELECT {c}, {n}, ROW_NUMBER() OVER (PARTITION BY {c} ORDER BY {n} DESC) AS rn, "
            f"SUM({n}) OVER (PARTITION BY {c}) AS part_total FROM {t}"
        )

    def derived() -> str:
        t, c, _rt, _rc = rng.choice(edges)
        return (
            f"SELECT d.k, d.total FROM (SELECT {c} AS k, SUM({num(t)}) AS total FROM {t} "
            f"GROUP BY {c}) AS d WHERE d.total > {rng.randint(10, 1000)} ORDER BY d.total DESC"
        )

    def union() -> str:
        a, b = "customers", "suppliers"
        return (
            f"SELECT name, country FROM {a} WHERE country IS NOT NULL UNION "
            f"SELECT name, country FROM {b} WHERE rating > {rng.randint(1, 4)} ORDER BY country"
        )

    def case_dates() -> str:
        t = rng.choice([x for x in tables if _cols(x, DATES)])
        d = rng.choice(_cols(t, DATES))
        n = num(t)
        return (
            f"SELECT EXTRACT(YEAR FROM {d}) AS yr, CASE WHEN {n} > {rng.randint(1, 100)} "
            f"THEN 'high' ELSE 'low' END AS band, COUNT(*) AS n FROM {t} "
            f"WHERE {d} >= DATE '2023-01-01' GROUP BY 1, 2 ORDER BY yr"
        )

    makers = [simple, join, join3, aggregate, cte, correlated, in_subquery, window, derived,
              union, case_dates]  # fmt: skip
    return [rng.choice(makers)() for _ in range(n)]


def _rate(fn, items: list[str], repeat: int) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best.append(len(items) / (time.perf_counter() - start))
    return statistics.median(best)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", default="postgres", help="sqlglot dialect to parse in")
    parser.add_argument("--n", type=int, default=1000, help="number of statements")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (median reported)")
    args = parser.parse_args(argv)

    # Transpiling the generated PostgreSQL to other dialects warns about NULLS LAST.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    profile = engines.get(args.dialect)
    metadata = shop_metadata(profile.name)
    sqls = [
        sqlglot.transpile(s, read="postgres", write=profile.sqlglot_dialect)[0]
        for s in generate(args.n)
    ]
    validator = Validator(metadata, profile.sqlglot_dialect)
    rejected = [(s, v.reason) for s in sqls if not (v := validator.check_static(s)).ok]
    if rejected:
        print(f"warning: {len(rejected)} generated statements rejected, e.g. {rejected[0]}")

    mapping = {t.name: {c.name: c.raw_type for c in t.columns} for t in metadata.tables}
    dialect = profile.sqlglot_dialect

    def parse_only(sql: str) -> None:
        sqlglot.parse_one(sql, read=dialect)

    def via_qualify(sql: str) -> None:
        qualify(
            sqlglot.parse_one(sql, read=dialect),
            schema=mapping,
            dialect=dialect,
            validate_qualify_columns=True,
        )

    for sql in sqls[:50]:  # warm caches for every path
        parse_only(sql)
        via_qualify(sql)

    parse_rate = _rate(parse_only, sqls, args.repeat)
    static_rate = _rate(validator.check_static, sqls, args.repeat)
    qualify_rate = _rate(via_qualify, sqls, args.repeat)
    avg_len = sum(map(len, sqls)) / len(sqls)
    print(
        f"{len(sqls)} statements ({dialect}, avg {avg_len:.0f} chars), one core, "
        f"median of {args.repeat}"
    )
    print(f"  {'parse only (reference)':38}{parse_rate:8.0f} statements/s")
    print(
        f"  {'check_static (syntax+safety+schema)':38}{static_rate:8.0f} statements/s"
        f"   ({static_rate / parse_rate:.2f}x parse-only)"
    )
    print(f"  {'baseline: parse + qualify()':38}{qualify_rate:8.0f} statements/s")
    print(f"  check_static vs the qualify() baseline: {static_rate / qualify_rate:.2f}x faster")
    target = 1000
    print(f"  target >= {target}/s: {'met' if static_rate >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
