"""Execution-accuracy throughput on SQLite, against the raw time the database needs.

    python bench/bench_eval.py --samples 1000

1,000 simple predictions (point lookups and small filters on the bundled example
database's products table, select lists permuted so the text differs from the gold) are
scored by :func:`nl2sql_fine_tuning.eval_model.evaluate` with execution only; the gold
results are cached by a first, unmeasured call, as when several checkpoints are scored on
the same dev set.  The baseline, measured in the same run, is a bare ``sqlite3`` loop
(``execute`` + ``fetchall``) over the same prediction queries.  Target: >= 1,000 samples/s.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_create.example import example_sqlite_path
from nl2sql_fine_tuning import metrics
from nl2sql_fine_tuning.eval_model import (
    ExecOptions,
    Gold,
    GoldItem,
    Prediction,
    evaluate,
)

TARGET = 1000.0


def workload(n: int, max_id: int, seed: int = 7) -> tuple[Gold, list[Prediction]]:
    rng = random.Random(seed)
    items, preds = [], []
    for i in range(n):
        k = rng.randint(1, max_id)
        if i % 2:
            gold = f"SELECT product_name, unit_price FROM products WHERE product_id = {k}"
            pred = f"SELECT unit_price, product_name FROM products WHERE product_id = {k}"
        else:
            lo = rng.randint(1, max_id - 5)
            gold = f"SELECT sku, brand FROM products WHERE product_id BETWEEN {lo} AND {lo + 4}"
            pred = f"select brand, sku from products where product_id between {lo} and {lo + 4}"
        if i % 10 == 9:
            pred = pred.replace("product_id =", "product_id + 1 =")  # some wrong answers
        items.append(GoldItem(id=str(i), question=f"q{i}", sql=gold, database="retail"))
        preds.append(Prediction(text=pred, id=str(i)))
    return Gold(tuple(items), dialect="sqlite"), preds


def raw_sqlite(path: Path, sqls: list[str]) -> float:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        start = time.perf_counter()
        for sql in sqls:
            conn.execute(sql).fetchall()
        return time.perf_counter() - start
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1000, help="predictions to score")
    ap.add_argument("--workers", type=int, default=1, help="connections (default 1)")
    ap.add_argument("--repeat", type=int, default=5, help="measured runs (median reported)")
    args = ap.parse_args()

    path = example_sqlite_path()
    with sqlite3.connect(path) as conn:
        max_id = conn.execute("SELECT MAX(product_id) FROM products").fetchone()[0]
    gold, preds = workload(args.samples, max_id)
    options = ExecOptions(dsn=f"sqlite:///{path}", workers=args.workers)
    cache: dict = {}
    first = evaluate(gold, preds, text_match=False, exec_options=options, gold_cache=cache)
    accuracy = first.report["overall"]["execution_accuracy"]

    timings, raw = [], []
    pred_sqls = [
        metrics.prepare_for_execution(metrics.extract_sql(p.text), "sqlite") for p in preds
    ]
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = evaluate(gold, preds, text_match=False, exec_options=options, gold_cache=cache)
        timings.append(time.perf_counter() - start)
        assert result.report["overall"]["execution_accuracy"] == accuracy
        raw.append(raw_sqlite(path, pred_sqls))
    took, db_time = statistics.median(timings), statistics.median(raw)
    rate = args.samples / took
    print(f"{args.samples} predictions on SQLite ({path.name}), gold cached, "
          f"workers={args.workers}, median of {args.repeat}")  # fmt: skip
    print(f"  execution accuracy     {accuracy:.1f}%  (90% expected)")
    print(f"  evaluate()             {took * 1000:8.1f} ms  {rate:8,.0f} samples/s")
    print(f"  bare sqlite3 loop      {db_time * 1000:8.1f} ms  "
          f"{args.samples / db_time:8,.0f} queries/s")  # fmt: skip
    print(f"  overhead ratio         {took / db_time:8.1f}x the raw database time")
    print(f"  target >= {TARGET:,.0f} samples/s: {'met' if rate >= TARGET else 'NOT met'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
