"""eval_model goes through the one validator: gold that fails is reported, not run;
predictions get the schema layer; what runs is the canonical SQL; no crash on odd input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nl2sql_fine_tuning.eval_model import ExecOptions, evaluate, main
from tests.test_eval_model import _spider, _write_jsonl


def test_gold_that_fails_the_validator_is_reported_not_run(tmp_path):
    root, gold_file = _spider(tmp_path)
    gold = json.loads(gold_file.read_text("utf-8"))
    # A gold file is data like any other: a recursive CTE that would run for minutes and
    # a function off the allow-list must not reach the database.
    gold[0]["query"] = "SELECT load_extension('/tmp/x.so')"
    gold[1]["query"] = "SELECT * FROM sqlite_master"
    gold_file.write_text(json.dumps(gold), "utf-8")
    preds = [{"id": str(i), "prediction": "SELECT 1"} for i in range(5)]
    result = evaluate(
        gold_file,
        _write_jsonl(tmp_path / "p.jsonl", preds),
        exec_options=ExecOptions(db_root=str(root)),
        out_dir=tmp_path / "out",
    )
    first, second = result.samples[:2]
    assert first.verdict == second.verdict == "gold_error"
    assert "rejected: safety: function load_extension() is not allowed" in first.reason
    assert "system table sqlite_master" in second.reason


@pytest.mark.postgres
def test_postgres_gold_pg_sleep_does_not_run(pg_database, tmp_path):
    import psycopg2

    conn = psycopg2.connect(pg_database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE pets (id int PRIMARY KEY, kind text)")
        cur.execute("INSERT INTO pets VALUES (1, 'cat'), (2, 'dog')")
    conn.close()
    gold = [
        {"id": "a", "question": "q", "sql": "SELECT pg_sleep(30), count(*) FROM pets"},
        {"id": "b", "question": "q", "sql": "SELECT count(*) FROM pets"},
        {"id": "c", "question": "q", "sql": "SELECT count(*) FROM pets"},
        {"id": "d", "question": "q", "sql": "SELECT count(*) FROM pets"},
    ]
    preds = [
        {"id": "a", "prediction": "SELECT 1"},
        {"id": "b", "prediction": "SELECT count(*) FROM pg_roles"},
        {"id": "c", "prediction": "SELECT count(*) FROM information_schema.tables"},
        {"id": "d", "prediction": "SELECT count(*) FROM pets WHERE nokind = 'x'"},
    ]
    started = time.perf_counter()
    result = evaluate(
        _write_jsonl(tmp_path / "g.jsonl", gold),
        _write_jsonl(tmp_path / "p.jsonl", preds),
        exec_options=ExecOptions(dsn=pg_database, timeout_s=60),
    )
    assert time.perf_counter() - started < 20  # pg_sleep(30) never ran
    verdicts = [s.verdict for s in result.samples]
    assert verdicts == ["gold_error", "unsafe", "unsafe", "execution_error"]
    assert "function pg_sleep() is not allowed" in result.samples[0].reason
    assert "schema" in result.samples[3].reason  # the schema layer, not the database


def test_odd_predictions_get_verdicts_and_the_report_is_written(tmp_path, capsys):
    root, gold_file = _spider(tmp_path)
    huge = "SELECT " + " + ".join(["1"] * 24_000)  # over sqlparse's 10,000-token limit
    preds = [
        {"id": "0", "prediction": "SELECT count(*) FROM t WHERE name = '\ud800'"},
        {"id": "1", "prediction": "SELECT name, n FROM t\x00; DROP TABLE t"},
        {"id": "2", "prediction": huge},
        {"id": "3", "prediction": "SELECT DISTINCT " + " + ".join(["n"] * 24_000) + " FROM t"},
        {"id": "4", "prediction": "SELECT id, name FROM t -- \ud83d"},
    ]
    pred_file = tmp_path / "p.jsonl"
    # json.dumps escapes the lone surrogates, as a model server's JSON would
    pred_file.write_text("".join(json.dumps(p) + "\n" for p in preds), "utf-8")
    out = tmp_path / "out"
    code = main(["--eval_sql_execution", "--eval_text_match", "--predictions", str(pred_file),
                 "--gold", str(gold_file), "--db-root", str(root), "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "eval_samples.jsonl").open(encoding="utf-8")]
    assert [r["verdict"] for r in rows] == [
        "syntax_error", "syntax_error", "execution_error", "execution_error", "syntax_error",
    ]  # fmt: skip
    assert "Expression tree is too large" in rows[2]["reason"]  # SQLite's own limit
    assert "lone surrogate" in rows[0]["reason"]
    assert "NUL byte" in rows[1]["reason"]
    assert rows[0]["prediction"].endswith("'\ud800'")  # kept as given, escaped on disk
    json.loads((out / "eval_report.json").read_text("utf-8"))
    assert Path(out / "eval_report.md").is_file()
