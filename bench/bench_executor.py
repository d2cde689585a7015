"""Per-query overhead of the executor on SQLite, against a bare sqlite3 connection.

    python bench/bench_executor.py --queries 1000

Builds a SQLite file with a few thousand products, then runs the same simple point and
filter queries through :class:`data_create.executor.Executor` (read-only connection,
progress-handler timeout, authorizer, row cap) and, as the baseline in the same run,
through a bare ``sqlite3`` connection (``execute`` + ``fetchall``).
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_create.connect import connect
from data_create.executor import Executor

CATEGORIES = ("tea", "coffee", "cups", "pots", "books", "toys", "tools", "garden")


def build(path: Path, rows: int) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE products (product_id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " category TEXT NOT NULL, price REAL NOT NULL, stock INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX products_category ON products (category)")
    conn.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?, ?)",
        [
            (
                i,
                f"product {i}",
                rng.choice(CATEGORIES),
                round(rng.uniform(1, 200), 2),
                rng.randint(0, 500),
            )
            for i in range(1, rows + 1)
        ],
    )
    conn.commit()
    conn.close()


def queries(n: int, rows: int) -> list[str]:
    """Point lookups and small filters, each text distinct (no statement-cache hits)."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(f"SELECT name FROM products WHERE product_id = {rng.randint(1, rows)}")
        else:
            low = rng.randint(1, 190)
            out.append(
                f"SELECT product_id, name, price FROM products WHERE category = "
                f"'{rng.choice(CATEGORIES)}' AND price BETWEEN {low} AND {low + 2} AND stock > 0"
            )
    return out


def run_bare(path: Path, sqls: list[str]) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    fetched = 0
    start = time.perf_counter()
    for sql in sqls:
        fetched += len(conn.execute(sql).fetchall())
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, fetched


def run_executor(path: Path, sqls: list[str]) -> tuple[float, int]:
    db = connect(str(path))
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        ex.execute("SELECT 1")  # open the connection outside the timed loop, like the baseline
        start = time.perf_counter()
        fetched = 0
        for sql in sqls:
            result = ex.execute(sql)
            if not result.ok:
                raise SystemExit(f"query failed: {sql}: {result.error}")
            fetched += result.row_count
        elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed, fetched


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--queries", type=int, default=1000, help="queries per run")
    parser.add_argument("--rows", type=int, default=5000, help="rows in the products table")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        build(path, args.rows)
        sqls = queries(args.queries, args.rows)
        bare, ours = (math.inf, 0), (math.inf, 0)
        for _ in range(args.repeat):  # interleaved, so drift hits both alike
            bare = min(bare, run_bare(path, sqls))
            ours = min(ours, run_executor(path, sqls))
    assert bare[1] == ours[1], f"row counts differ: bare {bare[1]}, executor {ours[1]}"
    bare_qps, ours_qps = args.queries / bare[0], args.queries / ours[0]
    print(
        f"SQLite, {args.rows} rows, {args.queries} queries ({bare[1]} rows fetched), best of {args.repeat}"
    )
    print(f"  bare sqlite3 (execute + fetchall): {bare_qps:10,.0f} queries/s")
    print(f"  Executor.execute                 : {ours_qps:10,.0f} queries/s")
    print(
        f"  overhead: {bare_qps / ours_qps:.2f}x the bare time per query "
        f"(+{(ours[0] - bare[0]) / args.queries * 1e6:.1f} µs/query)"
    )


if __name__ == "__main__":
    main()
