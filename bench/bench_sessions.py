"""Per-query cost of the executor on PostgreSQL and MariaDB, against a bare driver loop.

    python bench/bench_sessions.py --dsn postgresql://postgres@127.0.0.1/postgres --queries 2000
    python bench/bench_sessions.py --dsn mysql://root@127.0.0.1/test --queries 2000

Creates a throwaway table of 5,000 products, then runs the same point and small-range
queries through :class:`data_create.executor.Executor` (read-only transaction, timeout,
row and byte caps, and the session cleanup after every query: PostgreSQL's reset
statements, MariaDB's COM_RESET_CONNECTION) and, as the baseline in the same process,
through a bare driver connection (``execute`` + ``fetchall``, autocommit).  Prints both
rates and the ratio: the price of a clean, bounded session per query.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_create.connect import connect
from data_create.executor import Executor


def _queries(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(1, 4990)
        if i % 2:
            out.append(f"SELECT name, price FROM {{t}} WHERE id = {k}")
        else:
            out.append(f"SELECT id, name FROM {{t}} WHERE id BETWEEN {k} AND {k + 4}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    db = connect(args.dsn, allow_privileged=True)
    table = f"bench_{uuid.uuid4().hex[:8]}"
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(40), price INTEGER)"
        )
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",
            [(i, f"product {i}", i % 97) for i in range(1, 5001)],
        )
        raw.commit()
        raw.driver_connection.autocommit = True
        sqls = [q.format(t=table) for q in _queries(args.queries)]

        def bare() -> float:
            t0 = time.perf_counter()
            for sql in sqls:
                cur.execute(sql)
                cur.fetchall()
            return time.perf_counter() - t0

        def executor() -> float:
            with Executor(db, timeout_s=10) as ex:
                ex.execute("SELECT 1")
                t0 = time.perf_counter()
                for sql in sqls:
                    r = ex.execute(sql)
                    assert r.ok, r
                return time.perf_counter() - t0

        base = min(bare() for _ in range(args.repeat))
        ours = min(executor() for _ in range(args.repeat))
        n = len(sqls)
        print(f"{db.profile.name}, {n} queries, best of {args.repeat}")
        print(f"  bare driver (execute + fetchall): {n / base:8,.0f} queries/s")
        print(f"  Executor.execute                : {n / ours:8,.0f} queries/s")
        print(
            f"  ratio: {ours / base:.2f}x the bare time per query "
            f"(+{(ours - base) / n * 1e6:.0f} µs/query)"
        )
    finally:
        cur = raw.cursor()
        cur.execute(f"DROP TABLE {table}")
        raw.commit()
        raw.close()
        db.dispose()


if __name__ == "__main__":
    main()
