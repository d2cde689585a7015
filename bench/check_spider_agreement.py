"""Agreement of our execution verdicts with the official Spider test-suite evaluator.

Runs every case of tests/fixtures/exec_eval/cases.json through the reference's
``exec_eval.eval_exec_match`` (imported at run time from a checkout of
taoyds/test-suite-sql-eval; its code is not part of this project) and through
``nl2sql_fine_tuning.metrics.judge`` on a fresh SQLite database per case, with and without
``keep_distinct``, and prints the agreement.

    git clone https://github.com/taoyds/test-suite-sql-eval /tmp/test-suite-sql-eval
    python bench/check_spider_agreement.py --ref /tmp/test-suite-sql-eval

The reference has no working timeout (``asyncio.wait_for`` around a blocking call), so it runs
the timeout case to the end; the case is built so that its full result is wrong as well.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_create.connect import connect  # noqa: E402
from data_create.executor import Executor  # noqa: E402
from data_create.validator import Validator  # noqa: E402
from nl2sql_fine_tuning.metrics import judge, prepare_for_execution  # noqa: E402

CASES = ROOT / "tests" / "fixtures" / "exec_eval" / "cases.json"


def build_db(path: Path, setup: list[str]) -> None:
    with sqlite3.connect(path) as conn:
        for statement in setup:
            conn.execute(statement)
    conn.close()


def ours(db_path: Path, pred: str, gold: str, *, keep_distinct: bool, timeout_s: float):
    pred_run = prepare_for_execution(pred, "sqlite", keep_distinct=keep_distinct)
    gold_run = prepare_for_execution(gold, "sqlite", keep_distinct=keep_distinct)
    static = Validator(None, "sqlite").check_static(pred_run)
    with Executor(connect(f"sqlite:///{db_path}"), timeout_s=timeout_s, row_cap=100_000) as ex:
        gold_result = ex.execute(gold_run)
        pred_result = ex.execute(pred_run) if static.ok else None
    return judge(
        pred_run,
        gold_run,
        pred_result,
        gold_result,
        dialect="sqlite",
        keep_distinct=keep_distinct,
        static_verdict=static,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ref", required=True, type=Path, help="checkout of taoyds/test-suite-sql-eval"
    )
    parser.add_argument(
        "--cases", type=Path, default=CASES, help="fixture file (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not (args.ref / "exec_eval.py").is_file():
        parser.error(
            f"{args.ref} has no exec_eval.py: pass a checkout of taoyds/test-suite-sql-eval"
        )
    sys.path.insert(0, str(args.ref.resolve()))
    import exec_eval  # the reference, from --ref

    doc = json.loads(args.cases.read_text(encoding="utf-8"))
    total = agree = expected_ok = 0
    disagreements = []
    with tempfile.TemporaryDirectory(prefix="spider_agree_") as tmp:
        for i, case in enumerate(doc["cases"]):
            for keep_distinct in (False, True):
                # one database per run in its own folder: the reference evaluates every
                # *.sqlite in the folder, and an unsafe prediction may change it
                folder = Path(tmp) / f"{i}_{int(keep_distinct)}"
                folder.mkdir()
                ref_db, our_db = (
                    folder / "ref.sqlite",
                    Path(tmp) / f"ours_{i}_{int(keep_distinct)}.sqlite",
                )
                build_db(ref_db, doc["setup"])
                build_db(our_db, doc["setup"])
                ref = exec_eval.eval_exec_match(
                    str(ref_db),
                    case["pred"],
                    case["gold"],
                    plug_value=False,
                    keep_distinct=keep_distinct,
                    progress_bar_for_each_datapoint=False,
                )
                verdict = ours(
                    our_db,
                    case["pred"],
                    case["gold"],
                    keep_distinct=keep_distinct,
                    timeout_s=doc["timeout_s"],
                )
                want = case["spider_keep_distinct" if keep_distinct else "spider"]
                total += 1
                agree += int(bool(ref) == verdict.correct)
                expected_ok += int(verdict.correct == want)
                if bool(ref) != verdict.correct or verdict.correct != want:
                    disagreements.append((case["title"], keep_distinct, ref, verdict, want))
    print(f"cases: {len(doc['cases'])} x keep_distinct in (False, True) = {total} verdicts")
    print(f"agreement with reference exec_eval: {agree}/{total} = {100 * agree / total:.1f}%")
    print(
        f"agreement with fixture expectations: {expected_ok}/{total} = {100 * expected_ok / total:.1f}%"
    )
    for title, kd, ref, verdict, want in disagreements:
        print(
            f"  DISAGREE {title!r} keep_distinct={kd}: reference={ref} ours={verdict.correct} "
            f"({verdict.kind}: {verdict.reason}) expected={want}"
        )
    return 0 if agree == total and expected_ok == total else 1


if __name__ == "__main__":
    sys.exit(main())
