"""Build the bundled retail example database, or load it into a server you own.

    python examples/build_example_db.py --out retail.sqlite
    python examples/build_example_db.py --dsn postgresql://postgres@127.0.0.1/mydb
    python examples/build_example_db.py --dsn mysql://root@127.0.0.1/mydb
    python examples/build_example_db.py            # the cached copy the tools use by default

Prints each table's row count and how long the build took.
"""

from __future__ import annotations

import argparse
import sys
import time

from data_create import example
from data_create.connect import connect
from data_create.errors import Nl2SqlError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="write a SQLite file (replaced if it exists)")
    where.add_argument(
        "--dsn",
        help="load into this existing, empty PostgreSQL/MariaDB/MySQL database (or SQLite file); "
        "the password may come from NL2SQL_DB_PASSWORD",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=example.DEFAULT_SEED,
        help=f"random seed; the same seed gives the same rows (default {example.DEFAULT_SEED})",
    )
    args = parser.parse_args(argv)
    if not (args.out or args.dsn) and args.seed != example.DEFAULT_SEED:
        parser.error("--seed needs --out or --dsn (the cached copy always uses the default seed)")

    started = time.perf_counter()
    try:
        if args.dsn:
            example.load_into(args.dsn, seed=args.seed)
            dsn = args.dsn
        elif args.out:
            dsn = f"sqlite:///{example.build_sqlite(args.out, seed=args.seed)}"
        else:
            dsn = example.example_dsn()
        elapsed = time.perf_counter() - started
        db = connect(dsn)
        try:
            with db.engine.connect() as conn:
                counts = list(example.table_counts(conn))
        finally:
            db.dispose()
    except Nl2SqlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max(len(name) for name, _ in counts)
    for name, count in counts:
        print(f"{name:<{width}}  {count:>7,}")
    print(f"{'total':<{width}}  {sum(c for _, c in counts):>7,}")
    print(f"{db.display}: {len(counts)} tables, {len(example.VIEWS)} views, {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
