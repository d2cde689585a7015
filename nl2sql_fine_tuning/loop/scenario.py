"""The learning loop end to end, scripted: the CI test (tiny model) and the benchmark (SmolLM2).

On a private copy of the bundled retail database (SQLite):

1. ``data_create`` makes a run; the loop is initialised on it; the first version is
   trained and served (``bootstrap``);
2. **questions fail, corrections come in** — through the agent's own feedback store
   (``corrected`` with the user's SQL, one ``down``) and request log (an error, an empty
   result); two "corrections" that must never become data (an unknown column, a DELETE)
   are rejected at intake;
3. the threshold triggers an iteration: targeted data, a new dataset version, training,
   evaluation, **the gate promotes**;
4. **poisoned data**: valid, executable but wrong corrections for the same questions
   (each question given another one's SQL) come in through a plain JSONL; the candidate
   trained on them loses the past corrections in the frozen regression set and **the
   gate refuses** it;
5. **a column is renamed** in the database: the loop refuses to train until
   ``python -m data_create drift`` has quarantined the samples that broke and
   regenerated data for the changed table; the drift-triggered retrain runs on clean
   data;
6. **rollback** restores the previously served version; the agent's registry watch sees
   it at once;
7. a **dropped column** and a **new table** are each followed by drift (counts only).

Every step goes through the command lines (``python -m nl2sql_fine_tuning.loop …``,
``python -m data_create drift --json``) in-process; :func:`run` returns the numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# What people asked and what the right SQL was (the retail example database).
CORRECTIONS = (
    (
        "How many stores does each region have?",
        "SELECT region_id, COUNT(*) FROM stores GROUP BY region_id",
    ),
    # Reads payments.status, so the dropped-column step (7) always has stored data to catch.
    (
        "Which payment methods do customers pay with (paid payments only)?",
        "SELECT DISTINCT method FROM payments WHERE status = 'paid'",
    ),
    (
        "How many platinum members are there?",
        "SELECT COUNT(*) FROM customers WHERE member_level = 'platinum'",
    ),
    (
        "List the names of the outlet stores.",
        "SELECT store_name FROM stores WHERE store_type = 'outlet'",
    ),
)
WRONG_ANSWERS = (
    "SELECT COUNT(*) FROM regions",
    "SELECT method FROM orders",
    "SELECT COUNT(*) FROM customers",
    "SELECT store_name FROM stores",
)
RENAME = ("stores", "store_type", "store_format")
MAX_REGRESSION_DROP = 0.2
NEW_TABLE = "store_reviews"


def _capture(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _json(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> dict[str, Any]:
    code, text = _capture(main, argv)
    if code != 0:
        raise ConfigError(f"{' '.join(argv[:2])} exited with {code}: {text[-500:]}")
    return json.loads(text.strip().splitlines()[-1])


def _loop(argv: Sequence[str]) -> tuple[int, str]:
    from .cli import main

    return _capture(main, argv)


def _loop_json(argv: Sequence[str]) -> dict[str, Any]:
    from .cli import main

    return _json(main, argv)


def _drift(dsn: str, run: Path, regenerate: int) -> dict[str, Any]:
    from data_create.cli import main

    return _json(
        main, ["drift", "--dsn", dsn, "--run", str(run), "--regenerate", str(regenerate), "--json"]
    )


def _broken(run: Path, home: Path) -> int:
    """Stored samples (the run's, the loop's corrections and regression set) that fail the
    validator's static layers against the run's current schema: 0 after a handled drift."""
    from data_create import metadata
    from data_create.validator import Validator

    meta = metadata.read(run / "metadata.json")
    validator = Validator(meta, meta.dialect)
    records = []
    for path in (run / "samples.jsonl", home / "corrections.jsonl", home / "regression.jsonl"):
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sum(not validator.check_static(r["sql"]).ok for r in records)


def _train_texts(home: Path, dataset: str) -> str:
    return (home / "datasets" / dataset / "train_alpaca.jsonl").read_text(encoding="utf-8")


def run(
    workdir: str | Path,
    *,
    base_model: str | None = None,
    recipe: str | None = None,
    predict_recipe: str | None = None,
    train_set: Sequence[str] = (),
    predict_set: Sequence[str] = (),
    samples: int = 40,
    mix: dict[str, float] | None = None,
    correction_weight: int = 4,
    targeted_per_failure: int = 2,
    regenerate: int = 4,
    seed: int = 7,
    echo: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the scenario in ``workdir``; ``base_model=None`` builds the tiny model.

    ``seed`` is the data_create run's: the steps' outcomes (promoted, refused, quarantined)
    must not depend on which valid data the run drew -- checked over seeds 7, 1, 2 and 3."""
    from data_create.example import example_sqlite_path
    from data_create.pipeline import RunConfig
    from data_create.pipeline import run as make_run
    from nl2sql_agent.feedback import FeedbackStore
    from nl2sql_agent.request_log import RequestLog

    from .registry import Registry, RegistryWatch

    started = time.perf_counter()
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "retail.sqlite"
    shutil.copyfile(example_sqlite_path(), db_path)
    dsn = f"sqlite:///{db_path}"
    run_dir, home = work / "run", work / "loop"
    numbers: dict[str, Any] = {"steps": {}}

    def timed(name: str, t0: float) -> None:
        numbers["steps"][name] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    make_run(
        RunConfig(
            dsn=dsn,
            out=str(run_dir),
            samples=samples,
            dev_ratio=0.15,
            mix=mix or {"easy": 0.6, "medium": 0.4},
            seed=seed,
        )
    )
    timed("data_create", t0)
    if base_model is None:
        from nl2sql_fine_tuning.tiny_model import build

        t0 = time.perf_counter()
        base_model = build(work / "model", data_dir=run_dir).path
        timed("tiny_model", t0)
    tiny = ROOT / "configs" / "tiny"
    argv = [
        "init",
        "--home",
        str(home),
        "--run",
        str(run_dir),
        "--dsn",
        dsn,
        "--base-model",
        base_model,
        "--recipe",
        recipe or str(tiny / "loop_train.yaml"),
        "--predict-recipe",
        predict_recipe or str(tiny / "loop_predict.yaml"),
        "--correction-weight",
        str(correction_weight),
        "--targeted-per-failure",
        str(targeted_per_failure),
        "--trigger-failures",
        "4",
        # The held-out split is 6 of the run's 40 samples: one of them answered differently
        # after a retrain is 0.167, the noise of a model this small (seed 7 lost one on the
        # good step once the synthesizer's mix moved), while the poisoned step loses the four
        # past corrections of the 10 items (0.4 or more).
        "--max-regression-drop",
        str(MAX_REGRESSION_DROP),
    ]
    for item in train_set:
        argv += ["--set", item]
    for item in predict_set:
        argv += ["--predict-set", item]
    code, text = _loop(argv)
    if code:
        raise ConfigError(f"loop init failed: {text}")

    # 1. bootstrap: the first version is trained and served.
    echo("bootstrap")
    numbers["bootstrap"] = _loop_json(["run", "--home", str(home), "--json"])

    # 2. questions fail; corrections come in through the agent's feedback store and log.
    state = work / "agent"
    feedback = FeedbackStore(state / "feedback.sqlite")
    for (question, sql), wrong in zip(CORRECTIONS, WRONG_ANSWERS, strict=True):
        feedback.add(
            question=question,
            verdict="corrected",
            sql=wrong,
            corrected_sql=sql,
            model="nl2sql",
            model_version="v1",
            database="retail",
            dialect="sqlite",
        )
    feedback.add(
        question="Which store sold the most last month?",
        verdict="down",
        sql="SELECT store_id FROM orders",
        model_version="v1",
    )
    feedback.add(
        question="Total revenue per store",
        verdict="corrected",
        sql="SELECT store_id FROM orders",
        corrected_sql="SELECT store_id, SUM(revenue) FROM orders GROUP BY store_id",
        model_version="v1",
    )  # an unknown column: rejected at intake
    feedback.add(
        question="Remove the test orders",
        verdict="corrected",
        sql="",
        corrected_sql="DELETE FROM orders WHERE note = 'test'",
        model_version="v1",
    )  # unsafe: rejected at intake
    feedback.close()
    log = RequestLog(state)
    log.append(
        {
            "at": "2026-11-30T10:00:00+00:00",
            "answer_id": "a1",
            "status": "failed",
            "question": "Average order amount per channel?",
            "sql": "SELECT channel, AVG(amount) FROM orders GROUP BY channel",
            "error": "schema: unknown column amount",
            "repairs": 3,
            "latency_ms": 900,
            "model_version": "v1",
        }
    )
    log.append(
        {
            "at": "2026-11-30T10:05:00+00:00",
            "answer_id": "a2",
            "status": "empty",
            "empty": True,
            "question": "Which suppliers are in Paris?",
            "sql": "SELECT supplier_name FROM suppliers WHERE city = 'Paris'",
            "repairs": 0,
            "latency_ms": 300,
            "model_version": "v1",
        }
    )
    log.append(
        {
            "at": "2026-11-30T10:06:00+00:00",
            "answer_id": "a3",
            "status": "ok",
            "question": "How many stores?",
            "sql": "SELECT COUNT(*) FROM stores",
            "repairs": 0,
            "latency_ms": 250,
            "model_version": "v1",
        }
    )
    code, status_text = _loop(["status", "--home", str(home), "--json"])
    numbers["before_intake"] = json.loads(status_text)

    # 3. the threshold triggers; the gate promotes.
    echo("good iteration")
    numbers["intake"] = _loop_json(
        [
            "intake",
            "--home",
            str(home),
            "--feedback",
            str(state / "feedback.sqlite"),
            "--requests",
            str(state / "requests.jsonl"),
            "--json",
        ]
    )
    numbers["good"] = _loop_json(["run", "--home", str(home), "--json"])

    # 4. poisoned corrections: each question given another one's (valid) SQL.
    echo("poisoned iteration")
    poison = work / "poison.jsonl"
    with poison.open("w", encoding="utf-8") as f:
        for i, (question, _) in enumerate(CORRECTIONS):
            wrong = CORRECTIONS[(i + 1) % len(CORRECTIONS)][1]
            f.write(json.dumps({"question": question, "corrected_sql": wrong}) + "\n")
    numbers["poisoned"] = _loop_json(
        ["run", "--home", str(home), "--jsonl", str(poison), "--force", "--json"]
    )

    # 5. a column is renamed: training refuses until drift has run.
    echo("rename + drift")
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"ALTER TABLE {RENAME[0]} RENAME COLUMN {RENAME[1]} TO {RENAME[2]}")
    code, text = _loop(["run", "--home", str(home), "--force"])
    numbers["run_before_drift"] = {"exit_code": code}
    t0 = time.perf_counter()
    numbers["rename"] = _drift(dsn, run_dir, regenerate)
    timed("drift_rename", t0)
    numbers["rename"]["broken_after"] = _broken(run_dir, home)
    numbers["drift_iteration"] = _loop_json(["run", "--home", str(home), "--json"])
    dataset = numbers["drift_iteration"]["dataset"]
    numbers["rename"]["old_column_in_training"] = RENAME[1] in _train_texts(home, dataset)

    # 6. rollback.
    registry = Registry(home)
    watch = RegistryWatch(home)
    before = watch().name
    code, text = _loop(["rollback", "--home", str(home)])
    numbers["rollback"] = {
        "from": before,
        "to": registry.promoted().name,
        "watch_sees": watch().name,
        "output": text.strip(),
    }
    code, text = _loop(["list", "--home", str(home)])
    numbers["list"] = text

    # 7. a dropped column and a new table.
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE payments DROP COLUMN status")
    numbers["drop"] = _drift(dsn, run_dir, regenerate)
    numbers["drop"]["broken_after"] = _broken(run_dir, home)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            f"CREATE TABLE {NEW_TABLE} (review_id INTEGER PRIMARY KEY, "
            "store_id INTEGER REFERENCES stores(store_id), rating INTEGER, "
            "reviewed_on TEXT, comment TEXT)"
        )
        conn.executemany(
            f"INSERT INTO {NEW_TABLE} VALUES (?, ?, ?, ?, ?)",
            [
                (i, 1 + i % 22, 1 + i % 5, f"2026-0{1 + i % 9}-1{i % 9}", f"review {i}")
                for i in range(1, 121)
            ],
        )
    numbers["add"] = _drift(dsn, run_dir, regenerate)
    numbers["add"]["broken_after"] = _broken(run_dir, home)
    numbers["versions"] = [
        {
            "name": v.name,
            "status": v.status,
            "dataset": v.dataset,
            "regression": v.metrics.get("regression", {}).get("accuracy"),
            "failures": v.metrics.get("failures", {}).get("accuracy"),
        }
        for v in registry.versions()
    ]
    numbers["seconds"] = round(time.perf_counter() - started, 1)
    return numbers


def summary_lines(n: dict[str, Any]) -> list[str]:
    """The scenario's numbers, as the closing note wants them."""

    def it(name: str) -> str:
        r = n[name]
        d = r["decision"]

        def f(v: Any) -> str:
            return "-" if v is None else f"{v:.3f}"

        return (
            f"{name:<16} {r['version']} {'PROMOTED' if r['promoted'] else 'REFUSED '} "
            f"regression {f(d['regression_before'])} -> {f(d['regression_after'])}, "
            f"failures {f(d['failures_before'])} -> {f(d['failures_after'])}; "
            f"{r['seconds']:.1f}s ({', '.join(f'{k} {v:.1f}s' for k, v in r['timings'].items())})"
        )

    lines = [it(k) for k in ("bootstrap", "good", "poisoned", "drift_iteration")]
    i = n["intake"]
    lines.append(
        f"intake: {i['new']} items, corrections {i['corrections_accepted']} accepted, "
        f"{i['corrections_rejected']} rejected ({'; '.join(i['rejected_reasons'])})"
    )
    lines.append(f"training refused before drift: exit code {n['run_before_drift']['exit_code']}")
    for case in ("rename", "drop", "add"):
        d = n[case]
        lines.append(
            f"drift {case:<7} changed {d['changed_tables']}: quarantined {d['quarantined']} "
            f"{d['quarantined_by_store']}, regenerated {d['regenerated']}, broken samples left "
            f"{d['broken_after']}"
        )
    lines.append(
        f"old column in the retrained version's training data: "
        f"{n['rename']['old_column_in_training']}"
    )
    r = n["rollback"]
    lines.append(f"rollback: {r['from']} -> {r['to']} (registry watch sees {r['watch_sees']})")
    lines.append(f"scenario total {n['seconds']:.1f}s; steps {n['steps']}")
    return lines
