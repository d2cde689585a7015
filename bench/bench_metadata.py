"""Batched metadata extraction vs. the per-table Inspector baseline, on a big schema.

    python bench/bench_metadata.py --engines postgresql,mysql --tables 2000 --columns 20

For each engine it creates a throwaway database (unique name, dropped at the end even
on error) holding N tables x M columns with foreign keys (each table references one or
two earlier tables) and table + column comments, then times, in the same run,
``metadata.extract()`` (catalogue + sampling) and ``metadata.extract_per_table()``.
The baseline may be timed on the first ``--per-table-tables`` tables only and scaled
linearly to N; the output says so when it is.

With ``--inspect`` it times instead, side by side on the same database, the whole
``python -m data_create inspect`` (connect, extract, table cards, ``metadata.json`` and
``table_cards.md`` written; run in-process) against SQLAlchemy's batched reflection
(``Inspector.get_multi_columns/pk_constraint/foreign_keys/table_comment``), and the
``metadata.json`` encoding alone, ours against ``json.dumps(indent=1)``::

    python bench/bench_metadata.py --engines postgresql --inspect --tables 2000,8000

Servers: ``NL2SQL_TEST_PG`` (default postgresql://postgres@127.0.0.1:5432/postgres) and
``NL2SQL_TEST_MYSQL`` (default mysql://root@127.0.0.1:3306/), as in the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_create import metadata
from data_create.connect import connect
from data_create.records import structure_fingerprint

PG_ADMIN = os.environ.get("NL2SQL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN = os.environ.get("NL2SQL_TEST_MYSQL", "mysql://root@127.0.0.1:3306/")
BATCH = 100  # tables per DDL round trip

# Column types cycled through after the key columns: (PostgreSQL, MySQL).
_TYPES = [
    ("varchar(40)", "varchar(40)"),
    ("integer", "int"),
    ("numeric(10,2)", "decimal(10,2)"),
    ("date", "date"),
    ("timestamp", "datetime"),
    ("text", "text"),
    ("boolean", "tinyint(1)"),
    ("bigint", "bigint"),
]


def table_name(i: int) -> str:
    return f"t{i:05d}"


def table_specs(
    n_tables: int, n_columns: int
) -> Iterator[tuple[str, list[tuple[str, int]], list[int]]]:
    """(name, [(column, type index)], [referenced table numbers]) for each table."""
    for i in range(n_tables):
        refs = [] if i == 0 else sorted({(i * 7) % i, (i * 13 + 5) % i} if i > 3 else {i - 1})
        columns = [("id", -1)] + [(f"ref_{table_name(r)}", -1) for r in refs]
        k = 0
        while len(columns) < n_columns:
            columns.append((f"c{len(columns):02d}", k % len(_TYPES)))
            k += 1
        yield table_name(i), columns, refs


def pg_ddl(name: str, columns: list[tuple[str, int]], refs: list[int]) -> str:
    defs = []
    for col, t in columns:
        if col == "id":
            defs.append("id integer PRIMARY KEY")
        elif t == -1:
            defs.append(f"{col} integer")
        else:
            defs.append(f"{col} {_TYPES[t][0]}")
    defs += [f"FOREIGN KEY (ref_{table_name(r)}) REFERENCES {table_name(r)} (id)" for r in refs]
    out = [
        f"CREATE TABLE {name} ({', '.join(defs)});",
        f"COMMENT ON TABLE {name} IS '表 {name} 的说明';",
    ]
    out += [f"COMMENT ON COLUMN {name}.{col} IS '列 {col}';" for col, _ in columns]
    return "\n".join(out)


def mysql_ddl(name: str, columns: list[tuple[str, int]], refs: list[int]) -> str:
    defs = []
    for col, t in columns:
        sql_type = "int" if t == -1 else _TYPES[t][1]
        extra = " PRIMARY KEY" if col == "id" else ""
        defs.append(f"`{col}` {sql_type}{extra} COMMENT '列 {col}'")
    defs += [
        f"FOREIGN KEY (`ref_{table_name(r)}`) REFERENCES `{table_name(r)}` (`id`)" for r in refs
    ]
    return f"CREATE TABLE `{name}` ({', '.join(defs)}) COMMENT '表 {name} 的说明';"


# ------------------------------------------------------------------ servers


@contextmanager
def pg_database(n_tables: int, n_columns: int) -> Iterator[str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    params = dict(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password or os.environ.get("NL2SQL_DB_PASSWORD"),
    )
    name = f"bench_meta_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(dbname=admin.database or "postgres", **params)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    try:
        db = psycopg2.connect(dbname=name, **params)
        db.autocommit = True
        _load(db.cursor().execute, pg_ddl, n_tables, n_columns, "BEGIN;\n", "\nCOMMIT;")
        db.close()
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@contextmanager
def mysql_database(n_tables: int, n_columns: int) -> Iterator[str]:
    import pymysql
    from pymysql.constants import CLIENT
    from sqlalchemy.engine import make_url

    admin = make_url(MYSQL_ADMIN)
    params = dict(
        host=admin.host,
        port=admin.port or 3306,
        user=admin.username,
        password=admin.password or os.environ.get("NL2SQL_DB_PASSWORD") or "",
        charset="utf8mb4",
        autocommit=True,
    )
    name = f"bench_meta_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = pymysql.connect(**params)
    conn.cursor().execute(
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    try:
        db = pymysql.connect(database=name, client_flag=CLIENT.MULTI_STATEMENTS, **params)

        def run(sql: str) -> None:
            with db.cursor() as cur:
                cur.execute(sql)
                while cur.nextset():
                    pass

        _load(run, mysql_ddl, n_tables, n_columns, "SET foreign_key_checks = 0;\n", "")
        db.close()
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def _load(
    run: Callable[[str], object],
    ddl: Callable[..., str],
    n_tables: int,
    n_columns: int,
    head: str,
    tail: str,
) -> None:
    specs = list(table_specs(n_tables, n_columns))
    for start in range(0, len(specs), BATCH):
        run(head + "\n".join(ddl(*spec) for spec in specs[start : start + BATCH]) + tail)


SERVERS = {"postgresql": pg_database, "mysql": mysql_database}


# ------------------------------------------------------------------ timing


def first_tables(n: int) -> tuple[str, ...]:
    """Include patterns for tables 0..n-1: one per full hundred, then single names."""
    patterns = [f"t{h:03d}[0-9][0-9]" for h in range(n // 100)]
    return (*patterns, *(table_name(i) for i in range(n // 100 * 100, n)))


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[list[float], object]:
    """Run ``fn`` ``repeat`` times; (every duration, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def bench(engine: str, n_tables: int, n_columns: int, per_table_tables: int, repeat: int) -> dict:
    t0 = time.perf_counter()
    with SERVERS[engine](n_tables, n_columns) as dsn:
        built = time.perf_counter() - t0
        db = connect(dsn)
        try:
            # The first run of each method meets a cold server cache (2,000 table
            # definitions to open), so the first run here is the batched one.
            batched, md = best_of(repeat, lambda: metadata.extract(db))
            subset = min(per_table_tables or n_tables, n_tables)
            options = metadata.ExtractOptions()
            if subset < n_tables:
                options = metadata.ExtractOptions(include=first_tables(subset))
            per_table, baseline = best_of(repeat, lambda: metadata.extract_per_table(db, options))
        finally:
            db.dispose()
    same_tables = [t for t in md.tables if baseline.table(t.name) is not None]
    agree = structure_fingerprint(same_tables) == baseline.fingerprint
    scaled = min(per_table) * n_tables / subset
    return {
        "engine": engine,
        "server": md.server_version,
        "tables": len(md.tables),
        "columns": sum(len(t.columns) for t in md.tables),
        "build_s": built,
        "batched_s": min(batched),
        "batched_first_s": batched[0],
        "per_table_s": scaled,
        "per_table_measured": (subset, min(per_table)),
        "ratio": scaled / min(batched),
        "agree": agree,
        "warnings": len(md.options.get("warnings", [])),
    }


def bench_inspect(engine: str, n_tables: int, n_columns: int, repeat: int) -> dict:
    """``inspect`` end to end vs SQLAlchemy's batched ``get_multi_*`` reflection."""
    import json
    import tempfile

    from sqlalchemy import inspect as sa_inspect

    from data_create import cli

    t0 = time.perf_counter()
    with SERVERS[engine](n_tables, n_columns) as dsn, tempfile.TemporaryDirectory() as tmp:
        built = time.perf_counter() - t0
        db = connect(dsn)
        try:

            def reflect() -> int:
                insp = sa_inspect(db.engine)
                cols = insp.get_multi_columns()
                insp.get_multi_pk_constraint()
                insp.get_multi_foreign_keys()
                insp.get_multi_table_comment()
                return len(cols)

            # First one untimed run of each: the server's cache is warm for both.
            reflect()
            argv = ["inspect", "--dsn", dsn, "--out", tmp, "--sample-values", "5"]
            quiet = open(os.devnull, "w")  # noqa: SIM115 - closed below
            real_stdout, sys.stdout = sys.stdout, quiet
            try:
                inspect_times, _ = best_of(repeat + 1, lambda: cli.main(argv))
            finally:
                sys.stdout = real_stdout
                quiet.close()
            reflect_times, reflected = best_of(repeat, reflect)
            md = metadata.read(Path(tmp) / "metadata.json")
            md.fingerprint  # noqa: B018 - cached, as in a real run, for both sides alike
            ours, _ = best_of(repeat, md.to_json)
            pure, _ = best_of(
                repeat, lambda: json.dumps(md.to_dict(), ensure_ascii=False, indent=1)
            )
        finally:
            db.dispose()
    return {
        "engine": engine,
        "tables": len(md.tables),
        "reflected": reflected,
        "build_s": built,
        "inspect_s": min(inspect_times[1:]),
        "reflect_s": min(reflect_times),
        "json_ours_s": min(ours),
        "json_indent_s": min(pure),
    }


def main_inspect(engines: list[str], sizes: list[int], columns: int, repeat: int) -> int:
    rows = []
    for engine in engines:
        for n in sizes:
            print(f"[{engine}] building {n} tables x {columns} columns ...", file=sys.stderr)
            row = bench_inspect(engine, n, columns, repeat)
            print(f"[{engine}] built in {row['build_s']:.1f} s", file=sys.stderr)
            rows.append(row)
    header = (
        f"{'engine':<11} {'tables':>6} {'inspect s':>9} {'get_multi s':>11} {'ratio':>6}  "
        f"{'json ours s':>11} {'json indent s':>13} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['engine']:<11} {r['tables']:>6} {r['inspect_s']:>9.2f} {r['reflect_s']:>11.2f} "
            f"{r['reflect_s'] / r['inspect_s']:>5.2f}x  {r['json_ours_s']:>11.3f} "
            f"{r['json_indent_s']:>13.3f} {r['json_indent_s'] / r['json_ours_s']:>5.1f}x"
        )
    print(
        f"best of {repeat} runs each, after one warm-up run.  inspect = `python -m data_create "
        "inspect` in-process (connect, extract with sampling, cards, both files written);\n"
        "get_multi = SQLAlchemy Inspector.get_multi_columns + pk_constraint + foreign_keys + "
        "table_comment (reflection only: no sampling, no files).\nratio > 1: inspect is "
        "faster.  json = metadata.json text: SchemaMetadata.to_json() (C encoder, one table "
        "per line) vs json.dumps(indent=1) (pure-Python encoder)."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engines", default="postgresql,mysql", help="comma-separated: postgresql, mysql"
    )
    parser.add_argument("--tables", default="2000", help="tables to create")
    parser.add_argument("--columns", type=int, default=20, help="columns per table")
    parser.add_argument(
        "--per-table-tables",
        type=int,
        default=0,
        help="time the per-table baseline on only the first N tables and scale linearly "
        "(0 = all tables)",
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each method; the best one counts"
    )
    parser.add_argument(
        "--inspect",
        action="store_true",
        help="time `inspect` against SQLAlchemy's batched get_multi_* reflection instead "
        "(--tables may list several sizes: 2000,8000)",
    )
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.inspect:
        sizes = [int(n) for n in str(args.tables).split(",")]
        return main_inspect(engines, sizes, args.columns, args.repeat)
    args.tables = int(args.tables)
    rows = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine not in SERVERS:
            parser.error(f"unknown engine {engine!r}; use {', '.join(SERVERS)}")
        print(
            f"[{engine}] building {args.tables} tables x {args.columns} columns ...",
            file=sys.stderr,
            flush=True,
        )
        row = bench(engine, args.tables, args.columns, args.per_table_tables, args.repeat)
        print(f"[{engine}] built in {row['build_s']:.1f} s ({row['server']})", file=sys.stderr)
        rows.append(row)

    header = (
        f"{'engine':<11} {'tables':>6} {'columns':>7} {'batched s':>9} {'(1st run)':>9} "
        f"{'per-table s':>11} {'ratio':>6}  agree"
    )
    print(header)
    print("-" * len(header))
    notes = []
    for r in rows:
        subset, measured = r["per_table_measured"]
        mark = " "
        if subset < r["tables"]:
            mark = "*"
            notes.append(
                f"* {r['engine']}: per-table measured on {subset} tables ({measured:.2f} s) "
                f"and scaled linearly to {r['tables']}"
            )
        print(
            f"{r['engine']:<11} {r['tables']:>6} {r['columns']:>7} {r['batched_s']:>9.2f} "
            f"{r['batched_first_s']:>9.2f} {r['per_table_s']:>10.2f}{mark} {r['ratio']:>5.1f}x  "
            f"{'yes' if r['agree'] else 'NO'}"
        )
    for note in notes:
        print(note)
    print(
        f"best of {args.repeat} runs each; '1st run' is the batched extraction on a cold server "
        "cache.\nbatched = extract(): 4-5 catalogue queries, then sampling (empty tables are "
        "found by one probe per 200 tables and not queried);\nper-table = extract_per_table(): "
        "SQLAlchemy Inspector table by table, plus one column-type query and one sampling "
        "query per table.\nagree = both give the same structure fingerprint."
    )
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
