"""How long proposing name-implied links takes on large synthetic schemas.

    python bench/bench_links.py                 # 500, 2,000 and 10,000 tables
    python bench/bench_links.py --tables 2000

Each table has an ``id`` key, three ``tbl<N>_id`` references to random tables, sixteen
plain columns and a unique ``t<N>_code``: the shape of an application schema without
declared foreign keys.  :func:`data_create.links.propose` looks parents up in indexes
(key names, unique columns, stems, id-like tails); a scan of every column against every
table took ~100 s at 2,000 tables inside ``inspect``.  The ratio printed is seconds per
1,000 tables at each size over the same at the smallest size: ~1 means linear.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_create import links
from data_create.records import Column, ColumnStats, Table


def schema(n: int, seed: int = 0) -> list[Table]:
    rng = random.Random(seed)
    unique = ColumnStats(rows=100, nulls=0, distinct=100)
    tables = []
    for i in range(n):
        cols = [Column("id", "int", "integer", stats=unique)]
        cols += [Column(f"tbl{rng.randrange(n)}_id", "int", "integer") for _ in range(3)]
        cols += [Column(f"attr_{j}", "varchar", "text") for j in range(16)]
        cols.append(Column(f"t{i}_code", "varchar", "text", stats=unique))
        tables.append(Table(f"tbl{i}", columns=tuple(cols), primary_key=("id",)))
    return tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="500,2000,10000", help="comma-separated sizes")
    args = ap.parse_args()
    sizes = [int(x) for x in args.tables.split(",")]
    first = None
    print(f"{'tables':>8} {'guesses':>8} {'seconds':>8} {'s/1k tables':>12} {'ratio':>6}")
    for n in sizes:
        tables = schema(n)
        t0 = time.perf_counter()
        guesses = links.propose(tables)
        took = time.perf_counter() - t0
        per_k = took / n * 1000
        first = first or per_k
        print(f"{n:>8,} {len(guesses):>8,} {took:>8.2f} {per_k:>12.3f} {per_k / first:>6.2f}")


if __name__ == "__main__":
    main()
