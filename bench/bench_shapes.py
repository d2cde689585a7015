"""Does the generated data look like what people ask?  Shape coverage, lint, trivial answers.

    python bench/bench_shapes.py                       # the 11 defog databases, 1,000 samples each
    python bench/bench_shapes.py --db broker ewallet --samples 500
    python bench/bench_shapes.py --shared              # also Northwind, Sakila (PostgreSQL),
                                                       # mall, litemall (MariaDB): lint only
    python bench/bench_shapes.py --json shapes.json    # every number, missing shapes, lint examples
    python bench/bench_shapes.py --seeds 1 2 3 4       # each database once per seed, and the mean

For each database it loads the data into a fresh database (defog: ``bench/defog.py``, with
the column descriptions as comments; the shared samples from ``../shared/data``), runs
``python -m data_create --samples N`` exactly as a user would, and measures the run:

- shape coverage (defog only): of the human questions' distinct shape keys
  (:mod:`data_create.quality.shape`, one key per question from its canonical gold query),
  the share present in the generated set, and the share of human questions whose shape is
  present; the missing shapes, most-asked first.  Human questions whose gold does not run
  on the loaded database are left out (none, with the native PostgreSQL gold);
- lint (:mod:`data_create.quality.lint`): hits per rule in the generated set; the role
  rules run only where ``data_create.roles`` exists (the ``roles`` column says);
- trivial answers: the share of samples whose answer is a single 0/NULL row (each sample's
  SQL is executed again, read-only, through the project's executor).

With ``--seeds`` every database is generated once per seed and a last table gives each
database's coverage per seed, the mean, and the human shapes missing under every seed (the
generator never makes them: a gap in its grammar) apart from those missing under some (it
makes them, too rarely for 1,000 samples).  Pick the seeds to report before comparing two
generators: a change chosen because it helped on seeds 42 and 7 looks better on those
seeds than on any other.  One run's pooled coverage moves by +-2-3 points from seed to seed
(the generator of 2026-11-30: 77% to 82% over seeds 1-4 and 42), so compare means over
several seeds.

Targets (issue 9): >= 90% of distinct human shapes and >= 90% of human questions covered,
0 lint hits per 1,000 samples, trivial answers <= 5%.  A row that misses one is marked.
Databases are dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import defog

from data_create import metadata as metadata_mod
from data_create.quality import coverage as coverage_mod
from data_create.quality import lint as lint_mod

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MYSQL_ADMIN = os.environ.get("NL2SQL_TEST_MYSQL", "mysql://root@127.0.0.1:3306/")

TARGET_SHAPES = 0.90
TARGET_QUESTIONS = 0.90
TARGET_TRIVIAL = 0.05


# ---------------------------------------------------------------- shared sample databases


def _pg_create(name: str) -> str:
    from psycopg2 import sql

    conn = defog._admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
            sql.Identifier(name)))  # fmt: skip
    conn.close()
    return defog._dsn_for(defog.PG_ADMIN, name)


def _psql(dsn: str, path: Path) -> None:
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        check=True, capture_output=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )  # fmt: skip


def _mysql_admin():
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                           charset="utf8mb4", autocommit=True)  # fmt: skip


def _mysql_create(name: str) -> str:
    conn = _mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return MYSQL_ADMIN.rstrip("/") + "/" + name


def _mysql_source(name: str, path: Path) -> None:
    import shutil

    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        raise RuntimeError("the mariadb/mysql client is needed to load the MySQL dumps")
    subprocess.run(
        [client, "-h", "127.0.0.1", "-P", "3306", "-u", "root", "--default-character-set=utf8mb4",
         name], input=path.read_bytes(), check=True, capture_output=True,
    )  # fmt: skip


def _drop(engine: str, name: str) -> None:
    if engine == "pg":
        defog.drop_database(name)
        return
    conn = _mysql_admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def _pg_analyze(dsn: str) -> None:
    import psycopg2

    c = psycopg2.connect(dsn)
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("ANALYZE")
    c.close()


def _load_shared(key: str, name: str) -> tuple[str, str]:
    """Load one shared sample database; (engine, dsn)."""
    if key == "northwind":
        dsn = _pg_create(name)
        _psql(dsn, SHARED / "northwind" / "postgres_pthom" / "northwind.sql")
        _pg_analyze(dsn)
        return "pg", dsn
    if key == "sakila":
        dsn = _pg_create(name)
        base = SHARED / "sakila" / "postgres_jooq"
        _psql(dsn, base / "postgres-sakila-schema.sql")
        _psql(dsn, base / "postgres-sakila-insert-data-using-copy.sql")
        _pg_analyze(dsn)
        return "pg", dsn
    if key == "mall":
        dsn = _mysql_create(name)
        _mysql_source(name, SHARED / "cn_schemas" / "mall" / "mall.sql")
        return "mysql", dsn
    if key == "litemall":
        dsn = _mysql_create(name)
        _mysql_source(name, SHARED / "cn_schemas" / "litemall" / "litemall_table.sql")
        _mysql_source(name, SHARED / "cn_schemas" / "litemall" / "litemall_data.sql")
        return "mysql", dsn
    raise ValueError(key)


SHARED_DBS = ("northwind", "sakila", "mall", "litemall")


# ---------------------------------------------------------------- one measurement


def generate(
    dsn: str, out: Path, samples: int, seed: int, language: str, schema: str | None = None
) -> float:
    """Run data_create as a user would; seconds taken."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "data_create", "--dsn", dsn, "--samples", str(samples),
         "--seed", str(seed), "--language", language, "--out", str(out), "--overwrite", "-q",
         *(["--schema", schema] if schema else [])],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    # Exit status 1 with samples written: fewer than asked (the schema ran out of distinct
    # queries); the run is still measured, and its size is in the table.
    if done.returncode not in (0, 1) or not (out / "samples.jsonl").is_file():
        raise RuntimeError(f"data_create failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return time.perf_counter() - started


def answers(dsn: str, samples: Sequence[dict[str, Any]]) -> dict[str, Sequence[Sequence[Any]]]:
    """Each sample's answer rows (at most 2: enough to tell a trivial answer)."""
    from data_create.connect import connect
    from data_create.executor import ExecutorPool

    db = connect(dsn)
    pool = ExecutorPool(db, workers=2, timeout_s=10.0, row_cap=2)
    try:
        results = pool.map([s["sql"] for s in samples])
    finally:
        pool.close()
        db.dispose()
    return {str(s["id"]): r.rows for s, r in zip(samples, results, strict=True) if r.ok}


def measure(
    name: str,
    dsn: str,
    *,
    samples: int,
    seed: int,
    language: str,
    out_root: Path,
    human: Sequence[defog.HumanQuestion] | None,
    schema: str | None = None,
) -> dict[str, Any]:
    out = out_root / name
    seconds = generate(dsn, out, samples, seed, language, schema)
    with (out / "samples.jsonl").open(encoding="utf-8") as f:
        generated = [json.loads(line) for line in f if line.strip()]
    md = metadata_mod.read(out / "metadata.json")
    report = lint_mod.lint_samples(
        generated, dialect=md.dialect, metadata=md, results=answers(dsn, generated)
    )
    gen_shapes = coverage_mod.shape_counts((s["sql"] for s in generated), md.dialect)
    row: dict[str, Any] = {
        "database": name,
        "dialect": md.dialect,
        "samples": len(generated),
        "generate_s": round(seconds, 1),
        "generated_shapes": len(gen_shapes),
        "shape_mix": dict(gen_shapes.most_common()),
        "lint": report.to_dict(max_hits=20),
    }
    if human is not None:
        cov = coverage_mod.coverage_of_counts(
            coverage_mod.shape_counts((q.gold[0] for q in human), "postgres"), gen_shapes
        )
        row["human_questions"] = len(human)
        row["coverage"] = cov.to_dict()
    return row


# ---------------------------------------------------------------- output


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _misses(row: dict[str, Any]) -> list[str]:
    miss = []
    cov = row.get("coverage")
    if cov:
        if (cov["shape_share"] or 0) < TARGET_SHAPES:
            miss.append("shapes")
        if (cov["question_share"] or 0) < TARGET_QUESTIONS:
            miss.append("questions")
    if row["lint"]["hits"]:
        miss.append("lint")
    share = row["lint"]["trivial_share"]
    if share is not None and share > TARGET_TRIVIAL:
        miss.append("trivial")
    return miss


def print_table(rows: Sequence[dict[str, Any]], write: Callable[[str], None] = print) -> None:
    head = (f"{'database':<16} {'samples':>7} {'human q':>7} {'shapes cov':>11} "
            f"{'questions cov':>13} {'lint hits':>9} {'flagged':>7} {'trivial':>7} "
            f"{'roles':>5}  misses")  # fmt: skip
    write(head)
    write("-" * len(head))
    for r in rows:
        cov = r.get("coverage") or {}
        lint = r["lint"]
        shapes = (
            f"{cov['shapes_covered']}/{cov['shapes_total']} {_pct(cov['shape_share'])}"
            if cov
            else "-"
        )
        questions = (f"{cov['questions_covered']}/{cov['questions_total']} "
                     f"{_pct(cov['question_share'])}") if cov else "-"  # fmt: skip
        write(f"{r['database']:<16} {r['samples']:>7} {r.get('human_questions', '-'):>7} "
              f"{shapes:>11} {questions:>13} {lint['hits']:>9} {lint['flagged_samples']:>7} "
              f"{_pct(lint['trivial_share']):>7} {'yes' if lint['roles_checked'] else 'no':>5}  "
              f"{', '.join(_misses(r)) or 'none'}")  # fmt: skip
    with_cov = [r for r in rows if r.get("coverage")]
    if with_cov:
        st = sum(r["coverage"]["shapes_total"] for r in with_cov)
        sc = sum(r["coverage"]["shapes_covered"] for r in with_cov)
        qt = sum(r["coverage"]["questions_total"] for r in with_cov)
        qc = sum(r["coverage"]["questions_covered"] for r in with_cov)
        write(f"{'all (pooled)':<16} {'':>7} {qt:>7} {f'{sc}/{st} {_pct(sc / st)}':>11} "
              f"{f'{qc}/{qt} {_pct(qc / qt)}':>13}")  # fmt: skip
    write(f"targets: shapes >= {_pct(TARGET_SHAPES)}, questions >= {_pct(TARGET_QUESTIONS)}, "
          f"0 lint hits, trivial <= {_pct(TARGET_TRIVIAL)}")  # fmt: skip
    rules: dict[str, int] = {}
    for r in rows:
        for k, v in r["lint"]["by_rule"].items():
            rules[k] = rules.get(k, 0) + v
    if rules:
        write("lint hits by rule: " + ", ".join(f"{k} {v}" for k, v in rules.items()))
    for r in with_cov:
        missing = list(r["coverage"]["missing"].items())[:6]
        if missing:
            write(f"  {r['database']}: missing " + ", ".join(f"{k} ({n})" for k, n in missing))


def across_seeds(rows: Sequence[dict[str, Any]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Per database with human questions: its shape and question coverage under each seed,
    their means, and its missing shapes split into those missing under every seed
    (``never``) and under some (``sometimes``, with how many seeds missed each)."""
    out = []
    for db in dict.fromkeys(r["database"] for r in rows if r.get("coverage")):
        runs = {r["seed"]: r["coverage"] for r in rows if r["database"] == db and r.get("coverage")}
        if set(runs) != set(seeds):  # a seed failed: no mean over the others
            continue
        missed: dict[str, int] = {}
        for cov in runs.values():
            for key in cov["missing"]:
                missed[key] = missed.get(key, 0) + 1
        first = runs[seeds[0]]
        out.append({
            "database": db,
            "shapes_total": first["shapes_total"],
            "questions_total": first["questions_total"],
            "shapes": [runs[s]["shapes_covered"] for s in seeds],
            "questions": [runs[s]["questions_covered"] for s in seeds],
            "never": sorted(k for k, n in missed.items() if n == len(seeds)),
            "sometimes": {k: n for k, n in sorted(missed.items()) if n < len(seeds)},
        })  # fmt: skip
    return out


def print_seeds(rows: Sequence[dict[str, Any]], seeds: Sequence[int],
                write: Callable[[str], None] = print) -> None:  # fmt: skip
    """The per-seed table of :func:`across_seeds`, with pooled means."""
    table = across_seeds(rows, seeds)
    if not table:
        return
    w = max(15, 6 * len(seeds) - 1)
    head = (f"{'database':<16} {'shapes per seed':>{w}} {'mean':>5} "
            f"{'questions mean':>14} {'never made':>10} {'sometimes':>9}")  # fmt: skip
    write(head)
    write("-" * len(head))
    for t in table:
        per = " ".join(f"{n:>2}/{t['shapes_total']:<2}" for n in t["shapes"])
        shapes = sum(t["shapes"]) / len(seeds) / t["shapes_total"]
        questions = sum(t["questions"]) / len(seeds) / t["questions_total"]
        write(f"{t['database']:<16} {per:>{w}} {_pct(shapes):>5} "
              f"{_pct(questions):>14} {len(t['never']):>10} {len(t['sometimes']):>9}")  # fmt: skip
    st = sum(t["shapes_total"] for t in table)
    qt = sum(t["questions_total"] for t in table)
    per_seed = [sum(t["shapes"][i] for t in table) for i in range(len(seeds))]
    q_mean = sum(sum(t["questions"]) for t in table) / len(seeds) / qt
    pooled = " ".join(f"{n}/{st}" for n in per_seed)
    write(f"{'all (pooled)':<16} {pooled:>{w}} "
          f"{_pct(sum(per_seed) / len(seeds) / st):>5} {_pct(q_mean):>14} "
          f"{sum(len(t['never']) for t in table):>10} "
          f"{sum(len(t['sometimes']) for t in table):>9}")  # fmt: skip
    for t in table:
        if t["never"]:
            write(f"  {t['database']}: never made " + ", ".join(t["never"][:6]))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--db", nargs="+", choices=defog.DATABASES, help="defog databases (default all)"
    )
    ap.add_argument("--no-defog", action="store_true", help="skip the defog databases")
    ap.add_argument("--shared", action="store_true", help="also " + ", ".join(SHARED_DBS))
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                    help="run each database once per seed; print the mean (replaces --seed)")  # fmt: skip
    ap.add_argument("--language", choices=("en", "zh"), default="en")
    ap.add_argument("--gen", choices=("postgres", "mysql"), default="postgres",
                    help="human gold: native PostgreSQL (default) or MySQL transpiled")  # fmt: skip
    ap.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    ap.add_argument("--json", metavar="FILE", help="write every number to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the loaded databases")
    args = ap.parse_args(argv)
    seeds = list(dict.fromkeys(args.seeds or [args.seed]))

    tmp = None
    if args.out:
        out_root = Path(args.out)
        out_root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_shapes_")
        out_root = Path(tmp.name)
    tag = uuid.uuid4().hex[:6]
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    started = time.perf_counter()
    try:
        for db in [] if args.no_defog else args.db or defog.DATABASES:
            name = f"nl2sql_bench_{db}_{tag}"
            dsn = defog.load_database(db, name)
            try:
                human, failed = defog.keep_executable(defog.read_questions([db], gen=args.gen), dsn)
                for seed in seeds:
                    row = measure(db, dsn, samples=args.samples, seed=seed,
                                  language=args.language, out_root=out_root, human=human,
                                  schema=defog.schema_of(db))  # fmt: skip
                    rows.append(row | {"seed": seed, "gold_failed": failed})
            except RuntimeError as exc:  # one database's failure does not hide the others
                failures.append(f"{db}: {exc}")
            finally:
                if not args.keep:
                    defog.drop_database(name)
            print(f"  {db}: done", file=sys.stderr)
        for key in SHARED_DBS if args.shared else ():
            name = f"nl2sql_bench_{key}_{tag}"
            engine, dsn = _load_shared(key, name)
            try:
                for seed in seeds:
                    row = measure(key, dsn, samples=args.samples, seed=seed,
                                  language=args.language, out_root=out_root, human=None)  # fmt: skip
                    rows.append(row | {"seed": seed})
            except RuntimeError as exc:
                failures.append(f"{key}: {exc}")
            finally:
                if not args.keep:
                    _drop(engine, name)
            print(f"  {key}: done", file=sys.stderr)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"bench_shapes: {args.samples} samples per database, "
          f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, "
          f"language {args.language}, human gold {args.gen}; "
          f"{time.perf_counter() - started:.0f}s")  # fmt: skip
    for seed in seeds:
        if len(seeds) > 1:
            print(f"\nseed {seed}")
        print_table([r for r in rows if r["seed"] == seed])
    if len(seeds) > 1:
        print()
        print_seeds(rows, seeds)
    for line in failures:
        print(f"FAILED {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
