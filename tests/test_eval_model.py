"""End to end: the evaluation CLI on a real data_create run, Spider layout and live generation."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from nl2sql_fine_tuning import eval_model, eval_report
from nl2sql_fine_tuning.eval_model import ExecOptions, evaluate, main
from tests.fake_llm import FakeLLM, Reply

REPO = Path(__file__).resolve().parent.parent
WRONG = "SELECT -987654321 AS nope"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("evalrun")
    env = {**os.environ, "NL2SQL_HOME": str(tmp / "home")}
    subprocess.run(
        [sys.executable, "-m", "data_create", "--samples", "150", "--out", str(tmp / "run"), "-q"],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
    )
    return tmp / "run"


def _permuted(sql: str) -> str | None:
    """The same query with its select list reversed (same result under Spider semantics)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    if not isinstance(tree, exp.Select) or len(tree.expressions) < 2:
        return None
    if tree.args.get("order") and any(
        isinstance(o.this, exp.Literal) for o in tree.args["order"].expressions
    ):
        return None
    if tree.args.get("group") and any(
        isinstance(g, exp.Literal) for g in tree.args["group"].expressions
    ):
        return None
    tree = tree.copy()
    tree.set("expressions", list(reversed(tree.expressions)))
    return tree.sql(dialect="sqlite")


def _predictions(run_dir: Path) -> tuple[list[dict], dict[str, int]]:
    """generated_predictions.jsonl lines for the dev split, with known verdicts."""
    dev = [json.loads(line) for line in (run_dir / "dev_alpaca.jsonl").open(encoding="utf-8")]
    lines, expected = [], {"correct": 0, "wrong_result": 0, "unsafe": 0, "syntax_error": 0}
    permuted = 0
    for i, rec in enumerate(dev):
        gold = rec["output"]
        if i == 0:
            pred, kind = "DELETE FROM orders", "unsafe"
        elif i == 1:
            pred, kind = "SELEC customer_id FRM orders WHERE", "syntax_error"
        elif i == 2:
            pred, kind = f"<think>the orders table</think>\n```sql\n{gold};\n```", "correct"
        elif i % 3 == 0:
            pred, kind = WRONG, "wrong_result"
        elif _permuted(gold) and permuted < 3:
            pred, kind = _permuted(gold), "correct"
            permuted += 1
        else:
            pred, kind = gold, "correct"
        expected[kind] += 1
        lines.append({"prompt": rec["instruction"], "predict": pred, "label": gold + "\n"})
    assert permuted >= 1, "the run has no multi-column select to permute"
    return lines, expected


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


@pytest.fixture(scope="module")
def evaluated(run_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalout")
    lines, expected = _predictions(run_dir)
    preds = _write_jsonl(tmp / "generated_predictions.jsonl", lines)
    out = tmp / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "nl2sql_fine_tuning/eval_model.py",
            "--eval_text_match",
            "--eval_sql_execution",
            "--predictions",
            str(preds),
            "--gold",
            str(run_dir),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out, expected, lines, proc.stdout


def test_verdicts_and_accuracy(evaluated):
    out, expected, lines, stdout = evaluated
    report = json.loads((out / "eval_report.json").read_text("utf-8"))
    assert report["verdicts"] == {k: v for k, v in expected.items() if v}
    n = len(lines)
    overall = report["overall"]
    assert overall["count"] == n
    assert overall["execution_accuracy"] == round(100 * expected["correct"] / n, 2)
    # the unsafe and the syntax error were never executed; everything else ran
    assert overall["exec_success"] == round(100 * (n - 2) / n, 2)
    assert overall["empty_gold"] == 0  # data_create drops empty-result queries by default
    assert overall["execution_accuracy_nonempty"] == overall["execution_accuracy"]
    assert set(report["text"]) == {"bleu-4", "rouge-1", "rouge-2", "rouge-l", "corpus_bleu"}
    assert "execution accuracy" in stdout
    # every category has a block and the difficulty counts add up
    assert sum(b["count"] for b in report["by_difficulty"].values()) == n
    assert report["by_database"]["retail_v1"]["count"] == n
    assert report["by_feature"] and report["by_topic"]


def test_per_sample_files(evaluated):
    out, _, lines, _ = evaluated
    rows = list(csv.DictReader((out / "eval_samples.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == eval_report.SAMPLE_COLUMNS
    assert len(rows) == len(lines)
    unsafe, syntax, fenced = rows[0], rows[1], rows[2]
    assert (unsafe["verdict"], unsafe["executed"]) == ("unsafe", "False")
    assert "DELETE" in unsafe["reason"]
    assert (syntax["verdict"], syntax["executed"], syntax["syntax_valid"]) == (
        "syntax_error",
        "False",
        "False",
    )
    assert fenced["verdict"] == "correct" and fenced["exact_match"] == "True"
    assert "<think>" in fenced["prediction"] and "<think>" not in fenced["pred_sql"]
    wrong = [r for r in rows if r["pred_sql"] == WRONG]
    assert wrong and all(r["verdict"] == "wrong_result" and r["reason"] for r in wrong)
    permuted = [r for r in rows if r["verdict"] == "correct" and r["exact_match"] == "False"]
    assert permuted  # reversed select lists: not an exact match, same result
    jsonl = [json.loads(line) for line in (out / "eval_samples.jsonl").open(encoding="utf-8")]
    assert [r["id"] for r in jsonl] == [r["id"] for r in rows]
    md = (out / "eval_report.md").read_text("utf-8")
    assert "## By difficulty" in md and "execution accuracy %" in md
    html = (out / "eval_report.html").read_text("utf-8")
    assert html.count("<svg") >= 5 and "Verdicts" in html


def test_compare(evaluated, run_dir, tmp_path, capsys):
    out, _, lines, _ = evaluated
    # B: every prediction is the gold SQL
    perfect = [{**line, "predict": line["label"].strip()} for line in lines]
    preds = _write_jsonl(tmp_path / "perfect.jsonl", perfect)
    result = evaluate(run_dir, preds, out_dir=tmp_path / "b")
    assert result.report["overall"]["execution_accuracy"] == 100.0
    a_json, b_json = out / "eval_report.json", tmp_path / "b" / "eval_report.json"
    code = main(["--compare", str(a_json), str(b_json), "--out", str(tmp_path / "cmp")])
    assert code == 0
    printed = capsys.readouterr().out
    a = json.loads(a_json.read_text("utf-8"))["overall"]["execution_accuracy"]
    assert f"{100.0 - a:+.2f}" in printed
    cmp = json.loads((tmp_path / "cmp" / "eval_compare.json").read_text("utf-8"))
    assert cmp["overall"]["execution_accuracy"] == {"a": a, "b": 100.0, "delta": round(100 - a, 4)}
    assert set(cmp["by_difficulty"]) == set(result.report["by_difficulty"])
    assert "## difficulty: easy" in printed or "## difficulty: medium" in printed


def test_misaligned_predictions(run_dir, tmp_path):
    lines, _ = _predictions(run_dir)
    lines[0], lines[4] = lines[4], lines[0]
    preds = _write_jsonl(tmp_path / "shuffled.jsonl", lines)
    proc = subprocess.run(
        [sys.executable, "-m", "nl2sql_fine_tuning.eval_model", "--eval_sql_execution",
         "--predictions", str(preds), "--gold", str(run_dir), "--out", str(tmp_path / "o")],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert re.match(r"error: prediction 1 is misaligned", proc.stderr)


def test_samples_file_uses_dev_split(run_dir, tmp_path):
    lines, expected = _predictions(run_dir)
    preds = _write_jsonl(tmp_path / "generated_predictions.jsonl", lines)
    result = evaluate(run_dir / "samples.jsonl", preds, sql_execution=True)
    assert result.report["overall"]["count"] == len(lines)
    assert result.report["verdicts"]["correct"] == expected["correct"]


def test_missing_file_and_short_file(run_dir, tmp_path, capsys):
    assert main(["--predictions", str(tmp_path / "nope.jsonl"), "--gold", str(run_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    lines, _ = _predictions(run_dir)
    preds = _write_jsonl(tmp_path / "short.jsonl", lines[:-1])
    assert main(["--predictions", str(preds), "--gold", str(run_dir)]) == 2
    assert "predictions but" in capsys.readouterr().err


# ---------------------------------------------------------------- Spider layout


def _spider(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "database"
    for db_id, rows in (("pets", [(1, "cat", 3), (2, "dog", 5), (3, "dog", 2)]),
                        ("cars", [(1, "vw", 1999), (2, "bmw", 2005)])):  # fmt: skip
        (root / db_id).mkdir(parents=True)
        conn = sqlite3.connect(root / db_id / f"{db_id}.sqlite")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
        conn.commit()
        conn.close()
    gold = [
        {"question": "How many dogs?", "query": "SELECT count(*) FROM t WHERE name = 'dog'",
         "db_id": "pets"},
        {"question": "Names by age", "query": "SELECT name, n FROM t ORDER BY n", "db_id": "pets"},
        {"question": "Distinct kinds", "query": "SELECT DISTINCT name FROM t", "db_id": "pets"},
        {"question": "Old cars", "SQL": "SELECT name FROM t WHERE n < 1990", "db_id": "cars"},
        {"question": "All cars", "query": "SELECT id, name FROM t", "db_id": "cars"},
    ]  # fmt: skip
    gold_file = tmp_path / "dev.json"
    gold_file.write_text(json.dumps(gold), "utf-8")
    return root, gold_file


def test_spider_layout(tmp_path):
    root, gold_file = _spider(tmp_path)
    preds = [
        {"id": "0", "prediction": "SELECT COUNT(*) FROM t WHERE name = 'dog'"},  # correct
        {"id": "1", "prediction": "SELECT name, n FROM t ORDER BY n DESC"},  # wrong order
        {"id": "2", "prediction": "SELECT name FROM t"},  # DISTINCT removed from both: correct
        {"id": "3", "prediction": "SELECT name FROM t WHERE n < 1000"},  # empty gold, correct
        {"id": "4", "prediction": "SELECT name, id FROM t"},  # permuted columns: correct
    ]
    pred_file = _write_jsonl(tmp_path / "preds.jsonl", preds)
    result = evaluate(
        gold_file,
        pred_file,
        exec_options=ExecOptions(db_root=str(root)),
        out_dir=tmp_path / "out",
    )
    verdicts = [s.verdict for s in result.samples]
    assert verdicts == ["correct", "wrong_result", "correct", "correct", "correct"]
    overall = result.report["overall"]
    assert overall["execution_accuracy"] == 80.0
    assert overall["empty_gold"] == 1
    assert overall["execution_accuracy_nonempty"] == 75.0
    assert set(result.report["by_database"]) == {"pets", "cars"}
    # with --keep-distinct and BIRD set semantics the DISTINCT query still matches as a set
    bird = evaluate(
        gold_file,
        pred_file,
        exec_options=ExecOptions(db_root=str(root), semantics="bird", keep_distinct=True),
    )
    assert bird.samples[2].verdict == "correct"
    spider_kept = evaluate(
        gold_file, pred_file, exec_options=ExecOptions(db_root=str(root), keep_distinct=True)
    )
    assert spider_kept.samples[2].verdict == "wrong_result"  # 3 rows vs 2 distinct


def test_unknown_db_id(tmp_path, capsys):
    root, gold_file = _spider(tmp_path)
    gold = json.loads(gold_file.read_text("utf-8"))
    gold[0]["db_id"] = "zoo"
    gold_file.write_text(json.dumps(gold), "utf-8")
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"id": "0", "prediction": "SELECT 1"}])
    code = main(["--eval_sql_execution", "--predictions", str(preds), "--gold", str(gold_file),
                 "--db-root", str(root), "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "unknown db_id 'zoo'" in capsys.readouterr().err


def test_bad_dsn(tmp_path, capsys):
    _, gold_file = _spider(tmp_path)
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"id": "0", "prediction": "SELECT 1"}])
    code = main(["--eval_sql_execution", "--predictions", str(preds), "--gold", str(gold_file),
                 "--dsn", f"sqlite:///{tmp_path / 'missing.db'}", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


# ---------------------------------------------------------------- live generation


def test_live_generation(run_dir, tmp_path):
    gold = eval_model.load_gold(run_dir)
    by_question = {item.question.strip(): item.sql for item in gold.items}

    def script(request, index):
        user = request["messages"][-1]["content"]
        question = user.split("### Question\n", 1)[1].strip()
        assert request["temperature"] == 0
        return Reply(content=f"```sql\n{by_question[question]}\n```", delay_s=0.02)

    with FakeLLM(script) as llm:
        code = main(["--eval_sql_execution", "--eval_text_match", "--gold", str(run_dir),
                     "--base-url", llm.base_url, "--model", "fake-model", "--concurrency", "4",
                     "--out", str(tmp_path / "live")])  # fmt: skip
        assert code == 0
        assert llm.request_count == len(gold.items)
        assert 1 < llm.max_in_flight <= 4
        # the prompt is the training prompt: same system turn as dev_alpaca.jsonl
        first = json.loads((run_dir / "dev_alpaca.jsonl").open(encoding="utf-8").readline())
        assert llm.requests[0]["messages"][0]["content"] == first["system"]
    report = json.loads((tmp_path / "live" / "eval_report.json").read_text("utf-8"))
    assert report["overall"]["execution_accuracy"] == 100.0
    assert report["overall"]["exact_match"] == 100.0


def test_unreachable_endpoint(run_dir, tmp_path, capsys):
    code = main(["--gold", str(run_dir), "--base-url", "http://127.0.0.1:9/v1",
                 "--model", "m", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "cannot reach the model endpoint" in capsys.readouterr().err


def test_timeout_is_a_verdict(tmp_path):
    root, gold_file = _spider(tmp_path)
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    )
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"id": "0", "prediction": endless}])
    result = evaluate(gold_file, preds, exec_options=ExecOptions(db_root=str(root), timeout_s=0.5))
    (sample,) = result.samples
    assert (sample.verdict, sample.executed, sample.correct) == ("timeout", True, False)


@pytest.mark.postgres
def test_postgres_dsn(pg_database, tmp_path):
    import psycopg2

    conn = psycopg2.connect(pg_database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE pets (id int PRIMARY KEY, kind text, age numeric(4, 1))")
        cur.execute("INSERT INTO pets VALUES (1, 'cat', 3.0), (2, 'dog', 5.5), (3, 'dog', 2.0)")
    conn.close()
    gold = [
        {"id": "a", "question": "dogs?", "sql": "SELECT count(*) FROM pets WHERE kind = 'dog'"},
        {"id": "b", "question": "ages", "sql": "SELECT kind, age FROM pets ORDER BY age"},
        {"id": "c", "question": "kinds", "sql": "SELECT DISTINCT kind FROM pets"},
    ]
    gold_file = _write_jsonl(tmp_path / "samples.jsonl", gold)
    preds = _write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "prediction": "SELECT COUNT(id) FROM pets WHERE kind = 'dog'"},
            {"id": "b", "prediction": "SELECT age, kind FROM pets ORDER BY age"},
            {"id": "c", "prediction": "TRUNCATE pets"},
        ],
    )
    result = evaluate(gold_file, preds, exec_options=ExecOptions(dsn=pg_database))
    assert [s.verdict for s in result.samples] == ["correct", "correct", "unsafe"]
    assert result.report["run"]["dialect"] == "postgres"
