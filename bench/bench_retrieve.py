"""Schema retrieval on people's questions: recall@k, prompt tokens, build time, latency.

    python bench/bench_retrieve.py                       # defog alone + merged + 2,000-table mix
    python bench/bench_retrieve.py --synthetic 10000 --embeddings

Each defog database (../shared/data/defog/<db>/<db>.sql, PostgreSQL) is loaded into a
throwaway PostgreSQL database with its column descriptions (<db>.json) as comments,
read back with our own ``metadata.extract`` and dropped.  The human questions
(questions/questions_gen_postgres.csv) are scored three ways: each database alone,
all eleven merged into one schema (one PostgreSQL schema per database), and mixed into
a large synthetic schema made by ``bench_metadata.table_specs``.  For each: table
recall@5 and @10 (every gold table retrieved), column recall (every gold column shown),
prompt tokens per question, index build time and query latency p50/p99, for lexical
BM25 alone, with join-graph expansion, and with static embeddings (``--embeddings``).
Baselines in the same process: a plain substring match of table names (recall) and the
whole-schema prompt (tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metadata import _TYPES, table_specs

from data_create import cards, metadata
from data_create.connect import connect
from data_create.records import Column, ForeignKey, SchemaMetadata, Table, normalize_type
from data_create.retrieve import Retriever, gold_references

DEFOG = Path(__file__).resolve().parents[2] / "shared" / "data" / "defog"
PG = os.environ.get("NL2SQL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DBS = ("academic", "advising", "atis", "broker", "car_dealership", "derm_treatment",
       "ewallet", "geography", "restaurants", "scholar", "yelp")  # fmt: skip


def gold_sql(query: str) -> str:
    """The first of defog's alternatives, with its ``{a, b}`` column choices written out."""
    first = query.split(";")[0]
    braces = re.search(r"\{([^{}]+)\}", first)
    if braces:
        first = first.replace("{}", braces.group(1))
    return re.sub(r"\{([^{}]*)\}", r"\1", first)


def load_defog(db: str) -> SchemaMetadata:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG)
    name = f"bench_retr_{db}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(dbname=admin.database or "postgres", host=admin.host,
                            port=admin.port or 5432, user=admin.username)  # fmt: skip
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    dsn = admin.set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
                        str(DEFOG / db / f"{db}.sql")], check=True, capture_output=True,
                       env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"})  # fmt: skip
        schema = "consumer_div" if db == "ewallet" else "public"  # the one non-public DDL
        described = json.loads((DEFOG / db / f"{db}.json").read_text())["table_metadata"]
        stmts = [
            f"COMMENT ON COLUMN {schema}.{t}.{c['column_name']} IS "
            + "'" + c["column_description"].replace("'", "''") + "'"
            for t, cols in described.items() for c in cols if c.get("column_description")
        ]  # fmt: skip
        dbc = psycopg2.connect(dsn)
        dbc.autocommit = True
        for s in stmts:
            with contextlib.suppress(psycopg2.Error):  # described but absent from the DDL
                dbc.cursor().execute(s)
        dbc.close()
        handle = connect(dsn)
        try:
            meta = metadata.extract(
                handle, metadata.ExtractOptions(schemas=(schema,), sample_values=5)
            )
        finally:
            handle.dispose()
        # One schema per database here, so names are recorded unqualified (as gold SQL has them).
        return meta.replace(tables=tuple(dataclasses.replace(t, schema=None) for t in meta.tables))
    finally:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def questions() -> list[dict]:
    rows = list(csv.DictReader((DEFOG / "questions" / "questions_gen_postgres.csv").open()))
    return [{"db": r["db_name"], "question": r["question"], "sql": gold_sql(r["query"])}
            for r in rows if r["db_name"] in DBS]  # fmt: skip


def in_schema(meta: SchemaMetadata, schema: str) -> tuple[Table, ...]:
    return tuple(
        Table(t.name, schema, t.kind, t.comment, t.columns, t.primary_key,
              tuple(ForeignKey(fk.columns, fk.ref_table, fk.ref_columns, schema, fk.name)
                    for fk in t.foreign_keys), t.unique, t.row_count)
        for t in meta.tables
    )  # fmt: skip


def synthetic_tables(n: int, n_columns: int = 20) -> tuple[Table, ...]:
    """The metadata bench's generated schema, as records (no server needed)."""
    out = []
    for name, columns, refs in table_specs(n, n_columns):
        cols = []
        for c, t in columns:
            raw = "integer" if t == -1 else _TYPES[t][0]
            cols.append(Column(c, raw, normalize_type(raw), c != "id", comment=f"列 {c}"))
        fks = tuple(ForeignKey((f"ref_t{r:05d}",), f"t{r:05d}", ("id",), "synth") for r in refs)
        out.append(Table(name, "synth", "table", f"表 {name} 的说明", tuple(cols), ("id",), fks))
    return tuple(out)


def score(retriever, items, k, expand, dense, budget, qualify):
    table_ok = column_ok = 0
    tokens, latency = [], []
    for it in items:
        gold_t = [qualify(it, t) for t in it["gold_tables"]]
        gold_c = {qualify(it, t): cs for t, cs in it["gold_columns"].items()}
        hit = retriever.retrieve(it["question"], k, budget_tokens=budget, expand=expand,
                                 dense_weight=dense)  # fmt: skip
        tokens.append(hit.tokens)
        latency.append(hit.elapsed_ms)
        t_ok = all(t in hit.tables for t in gold_t)
        table_ok += t_ok
        column_ok += all(c in hit.columns.get(t, ()) for t, cs in gold_c.items() for c in cs)
    n = len(items)
    lat = sorted(latency)
    return {
        "table_recall": table_ok / n, "column_recall": column_ok / n,
        "tokens": statistics.mean(tokens), "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    }  # fmt: skip


def substring_recall(meta: SchemaMetadata, items, k, qualify) -> float:
    """Baseline: tables whose name (or its singular) appears in the question, first k."""
    ok = 0
    for it in items:
        q = it["question"].lower()
        hits = [t.qualified_name for t in meta.tables
                if t.name.lower() in q or t.name.lower().rstrip("s") in q][:k]  # fmt: skip
        ok += all(qualify(it, t) in hits for t in it["gold_tables"])
    return ok / len(items)


def scale(n: int, items: list[dict], embeddings: str) -> None:
    """Cards, index build, save, reopen (no rebuild) and query time on n synthetic tables."""
    import tempfile

    tables = synthetic_tables(n)
    meta = SchemaMetadata("postgresql", "postgres", "synth", tables)
    if embeddings != "none":  # loading the model is once per process, not per index
        from data_create.retrieve import _embedder, _resolve_embeddings

        t0 = time.perf_counter()
        _embedder(str(_resolve_embeddings(embeddings)))
        print(f"embedding model loaded in {time.perf_counter() - t0:.2f}s (once per process)")
    t0 = time.perf_counter()
    built = cards.build(meta)
    t_cards = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = Retriever.build(meta, built, embeddings=embeddings)
    t_build = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r.save(Path(tmp) / "idx")
        t_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        Retriever.open(meta, Path(tmp) / "idx", embeddings=embeddings)
        t_open = time.perf_counter() - t0
    lat = sorted(r.retrieve(it["question"], 10).elapsed_ms for it in items)
    whole = sum(c.tokens for c in built)
    print(
        f"scale {n:>6} tables: cards {t_cards:.2f}s, index build {t_build:.2f}s, save "
        f"{t_save:.2f}s, reopen {t_open:.2f}s, query p50 {lat[len(lat) // 2]:.2f} ms "
        f"p99 {lat[int(0.99 * len(lat))]:.2f} ms (k=10); whole schema ~{whole:,} tokens"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", type=int, default=2000, help="synthetic tables (default 2000)")
    ap.add_argument("--embeddings", action="store_true", help="also measure static embeddings")
    ap.add_argument("--budget", type=int, default=2000, help="schema block tokens (default 2000)")
    ap.add_argument("--json", metavar="FILE", help="write all numbers here")
    ap.add_argument(
        "--scale",
        metavar="N,N",
        help="only time cards, index build, reopen and queries on these synthetic sizes",
    )
    args = ap.parse_args()

    if args.scale:
        qs = [{"question": q["question"]} for q in questions()]
        for n in (int(x) for x in args.scale.split(",")):
            scale(n, qs, "packaged" if args.embeddings else "none")
        return 0
    t0 = time.perf_counter()
    metas = {db: load_defog(db) for db in DBS}
    print(f"loaded {len(DBS)} defog databases into PostgreSQL and extracted them in "
          f"{time.perf_counter() - t0:.1f}s")  # fmt: skip
    items = []
    for q in questions():
        tables, columns = gold_references(q["sql"], metas[q["db"]], "postgres")
        if tables:
            items.append({**q, "gold_tables": tables, "gold_columns": columns})
    print(f"{len(items)} human questions with gold SQL resolved to tables")

    configs = [("lexical", False, 0.0), ("+FK", True, 0.0)]
    if args.embeddings:
        configs.append(("+FK+emb", True, None))
    embeddings = "packaged" if args.embeddings else "none"
    rows, results = [], {}

    def run(label, meta_of, groups, qualify):
        build_s, whole = [], []
        retrievers = {}
        for key, meta in meta_of.items():
            started = time.perf_counter()
            retrievers[key] = Retriever.build(meta, embeddings=embeddings)
            build_s.append(time.perf_counter() - started)
            whole.append(sum(c.tokens for c in cards.build(meta)))
        n_tables = max(len(m.tables) for m in meta_of.values())
        for k in (5, 10):
            for name, expand, dense in configs:
                agg = {"table_recall": 0.0, "column_recall": 0.0, "tokens": 0.0}
                lat = []
                for key, group in groups.items():
                    s = score(retrievers[key], group, k, expand, dense, args.budget, qualify)
                    for f in agg:
                        agg[f] += s[f] * len(group)
                    lat += [s["p50_ms"], s["p99_ms"]]
                n = sum(len(g) for g in groups.values())
                agg = {f: v / n for f, v in agg.items()}
                p50 = statistics.median(lat[0::2])
                p99 = max(lat[1::2])
                sub = sum(substring_recall(meta_of[key], g, k, qualify) * len(g)
                          for key, g in groups.items()) / n  # fmt: skip
                whole_tokens = statistics.mean(whole)
                row = (label, n_tables, k, name, agg["table_recall"], agg["column_recall"],
                       agg["tokens"], whole_tokens / agg["tokens"], max(build_s), p50, p99, sub)  # fmt: skip
                rows.append(row)
                results[f"{label}|k={k}|{name}"] = dict(zip(
                    ("schema", "tables", "k", "config", "table_recall", "column_recall",
                     "tokens", "whole_schema_ratio", "build_s", "p50_ms", "p99_ms",
                     "substring_table_recall"), row, strict=True))  # fmt: skip
                print(_fmt(row), flush=True)

    print(_header())
    by_db = {db: [it for it in items if it["db"] == db] for db in DBS}
    run("each db alone", metas, {db: g for db, g in by_db.items() if g}, lambda it, t: t)
    merged = SchemaMetadata("postgresql", "postgres", "defog",
                            tuple(t for db in DBS for t in in_schema(metas[db], db)))  # fmt: skip
    run("11 merged", {"all": merged}, {"all": items}, lambda it, t: f"{it['db']}.{t}")
    big = merged.replace(tables=merged.tables + synthetic_tables(args.synthetic))
    run("synthetic+defog", {"all": big}, {"all": items}, lambda it, t: f"{it['db']}.{t}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def _header() -> str:
    return (
        "schema             tables  k  config    tblR@k  colR   tokens  whole/ret  build_s"
        "  p50ms  p99ms  substrR@k"
    )


def _fmt(r) -> str:
    return (
        f"{r[0]:<18} {r[1]:>6} {r[2]:>2}  {r[3]:<8} {r[4]:>6.1%} {r[5]:>6.1%} {r[6]:>7.0f}"
        f" {r[7]:>9.1f}x {r[8]:>7.2f} {r[9]:>6.2f} {r[10]:>6.2f} {r[11]:>9.1%}"
    )


if __name__ == "__main__":
    sys.exit(main())
