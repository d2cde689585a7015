"""nl2sql_fine_tuning.metrics: text metrics, LLaMA-Factory parity and execution verdicts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from data_create import prompt
from data_create.connect import connect
from data_create.executor import ExecResult, Executor
from data_create.validator import Validator, Verdict
from nl2sql_fine_tuning import metrics

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "exec_eval"
CASES = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ text metrics


@pytest.mark.parametrize(
    ("pred", "gold", "same"),
    [
        ("select name from singer", "SELECT name FROM singer", True),
        ("SELECT  name\n FROM singer ;", "SELECT name FROM singer", True),
        ('SELECT "name" FROM `singer`', "SELECT name FROM singer", True),
        ("SELECT [name] FROM singer", "SELECT name FROM singer", True),
        ("SELECT name FROM singer -- the names\n", "SELECT name /* all */ FROM singer", True),
        ("select count(*) from t", "SELECT COUNT(*) FROM t", True),
        ("SELECT a,b FROM t", "SELECT a , b FROM t", True),
        (
            "SELECT name FROM singer WHERE name = 'ann'",
            "SELECT name FROM singer WHERE name = 'Ann'",
            False,
        ),
        ("SELECT 'x' FROM t", 'SELECT "x" FROM t', False),  # a string literal is not a quoted name
        ("SELECT a FROM t", "SELECT b FROM t", False),
        ("SELECT a FROM t ORDER BY a", "SELECT a FROM t", False),
    ],
)
def test_exact_match(pred, gold, same):
    assert metrics.exact_match(pred, gold) is same


def test_normalize_sql_canonical_text():
    assert (
        metrics.normalize_sql('select "name" ,count(*) from t -- all\n;')
        == "SELECT name , COUNT ( * ) FROM t"
    )
    assert metrics.normalize_sql("") == ""
    assert metrics.normalize_sql("SELECT '居民' FROM t;;") == "SELECT '居民' FROM t"


@pytest.mark.parametrize(
    ("pred", "gold", "f1"),
    [
        ("SELECT a FROM t", "select a from t;", 1.0),
        ("SELECT a FROM t", "SELECT a, b FROM t", 0.8),  # 4 of 4 pred tokens, 4 of 6 gold tokens
        ("SELECT a FROM t", "DELETE x", 0.0),
        ("", "", 1.0),
        ("", "SELECT 1", 0.0),
        (
            "SELECT a, a FROM t",
            "SELECT a FROM t",
            2 * (4 / 6) * 1 / (4 / 6 + 1),
        ),  # multiset, not set
    ],
)
def test_token_f1(pred, gold, f1):
    assert metrics.token_f1(pred, gold) == pytest.approx(f1)


def test_extract_sql_is_the_prompt_module_function():
    assert metrics.extract_sql is prompt.extract_sql
    assert metrics.extract_sql("<think>hm</think>```sql\nSELECT 1;\n```") == "SELECT 1"


@pytest.mark.parametrize(
    ("sql", "dialect", "valid"),
    [
        ("SELECT 1", "sqlite", True),
        ("SELECT 1;", "sqlite", True),
        ("SELECT 1; SELECT 2", "sqlite", False),
        ("SELEC 1 FROM", "sqlite", False),
        ("", "sqlite", False),
        ("SELECT a::int FROM t", "postgresql", True),
        ("SELECT `a` FROM t LIMIT 1", "mysql", True),
        ("SELECT name FROM t WHERE", "postgres", False),
    ],
)
def test_syntax_valid(sql, dialect, valid):
    assert metrics.syntax_valid(sql, dialect) is valid


def test_corpus_bleu_bounds():
    assert metrics.corpus_bleu(
        ["SELECT a FROM t WHERE b = 1"], ["SELECT a FROM t WHERE b = 1"]
    ) == pytest.approx(100)
    assert metrics.corpus_bleu(["x y z w"], ["SELECT a FROM t WHERE b = 1"]) == pytest.approx(0)
    assert metrics.corpus_bleu([], []) == 0.0


# ------------------------------------------------------------------ LLaMA-Factory parity

PAIRS = [
    ("SELECT name FROM singer WHERE age > 30", "SELECT name FROM singer WHERE age > 30\n"),
    ("SELECT COUNT(*) FROM orders", "SELECT COUNT(*) FROM orders WHERE customer_id IS NULL\n"),
    ("统计每个城市的居民人数", "统计每个城市的人口"),
    ("SELECT 城市, COUNT(*) FROM 居民 GROUP BY 城市", "SELECT 城市 FROM 居民"),
    ("", "SELECT 1"),
    ("SELECT 1", ""),
    ("   ", "SELECT 1"),
    ("SELECT_______________________", "SELECT promo_name FROM promotions\n"),
]


class _IndexTokenizer:
    """Decodes row ``[i]`` to the i-th string: lets ComputeSimilarity run without a model."""

    pad_token_id = 0

    def __init__(self, texts: list[str]):
        self.texts = texts

    def batch_decode(self, ids, skip_special_tokens=True):
        return [self.texts[int(row[0]) - 1] for row in ids]


def test_llamafactory_scores_equal_compute_similarity():
    np = pytest.importorskip("numpy")
    lf_metric = pytest.importorskip("llamafactory.train.sft.metric")
    from transformers import EvalPrediction

    preds, labels = [p for p, _ in PAIRS], [g for _, g in PAIRS]
    texts = preds + labels
    pred_ids = np.array([[i + 1] for i in range(len(preds))])
    label_ids = np.array([[len(preds) + i + 1] for i in range(len(labels))])
    theirs = lf_metric.ComputeSimilarity(tokenizer=_IndexTokenizer(texts))(
        EvalPrediction(predictions=pred_ids, label_ids=label_ids)
    )
    ours = metrics.llamafactory_scores(preds, labels)
    assert set(ours) == {"bleu-4", "rouge-1", "rouge-2", "rouge-l"}
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_llamafactory_scores_equal_predict_results_json():
    """generated_predictions.jsonl and predict_results.json written by a real LLaMA-Factory predict run."""
    rows = [
        json.loads(line)
        for line in (FIXTURES / "llamafactory_predict" / "generated_predictions.jsonl").open()
    ]
    expected = json.loads((FIXTURES / "llamafactory_predict" / "predict_results.json").read_text())
    ours = metrics.llamafactory_scores([r["predict"] for r in rows], [r["label"] for r in rows])
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        assert ours[key] == pytest.approx(expected[f"predict_{key}"], abs=0.01), key


def test_llamafactory_scores_length_mismatch():
    with pytest.raises(ValueError, match="2 predictions but 1 labels"):
        metrics.llamafactory_scores(["a", "b"], ["a"])


# ------------------------------------------------------------------ results_match on rows


@pytest.mark.parametrize(
    ("pred", "gold", "order_matters", "spider", "bird"),
    [
        ([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], False, True, False),
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True, False, True),
        ([(1,), (1,)], [(1,)], False, False, True),
        ([(6,)], [(6.0,)], False, True, True),
        ([(6,)], [("6",)], False, False, False),
        ([(None,)], [(None,)], False, True, True),
        ([], [], True, True, True),
        ([], [(1,)], False, False, False),
        ([(1, 2, 3, 4, 5)], [(5, 4, 3, 2, 1)], False, True, False),
        ([(1, 1), (2, 2)], [(1, 2), (2, 1)], False, False, False),
    ],
)
def test_results_match_rows(pred, gold, order_matters, spider, bird):
    assert metrics.results_match(pred, gold, order_matters=order_matters) is spider
    assert metrics.results_match(pred, gold, order_matters=order_matters, semantics="bird") is bird


def test_results_match_unknown_semantics():
    with pytest.raises(ValueError, match="unknown semantics"):
        metrics.results_match([], [], order_matters=False, semantics="defog")


def test_gold_has_order_by_and_strip_distinct():
    assert metrics.gold_has_order_by("select a from t Order By a", "sqlite")
    assert not metrics.gold_has_order_by("SELECT a FROM t ORDER  BY a", "sqlite")
    assert metrics.strip_distinct("SELECT DISTINCT a FROM t") == "SELECT  a FROM t"
    assert metrics.strip_distinct("SELECT COUNT(distinct a) FROM t WHERE b = 'distinct'") == (
        "SELECT COUNT( a) FROM t WHERE b = 'distinct'"
    )
    assert metrics.prepare_for_execution(
        "SELECT DISTINCT a FROM t WHERE b > = 1", keep_distinct=True
    ) == ("SELECT DISTINCT a FROM t WHERE b >= 1")


# ------------------------------------------------------------------ fixture cases, executed


@pytest.fixture(scope="module")
def case_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("exec_eval") / "cases.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in CASES["setup"]:
            conn.execute(statement)
    conn.close()
    with Executor(
        connect(f"sqlite:///{path}"), timeout_s=CASES["timeout_s"], row_cap=100_000
    ) as executor:
        yield executor


def _run(executor, case, *, semantics, keep_distinct):
    pred = metrics.prepare_for_execution(case["pred"], "sqlite", keep_distinct=keep_distinct)
    gold = metrics.prepare_for_execution(case["gold"], "sqlite", keep_distinct=keep_distinct)
    static = Validator(None, "sqlite").check_static(pred)
    pred_result = executor.execute(pred) if static.ok else None
    return metrics.judge(
        pred,
        gold,
        pred_result,
        executor.execute(gold),
        dialect="sqlite",
        semantics=semantics,
        keep_distinct=keep_distinct,
        static_verdict=static,
    )


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["title"] for c in CASES["cases"]])
def test_fixture_case(case_db, case):
    spider = _run(case_db, case, semantics="spider", keep_distinct=False)
    assert (spider.correct, spider.kind) == (case["spider"], case["kind"]), spider.reason
    kept = _run(case_db, case, semantics="spider", keep_distinct=True)
    assert kept.correct is case["spider_keep_distinct"], kept.reason
    if "kind_keep_distinct" in case:
        assert kept.kind == case["kind_keep_distinct"]
    bird = _run(case_db, case, semantics="bird", keep_distinct=True)
    assert bird.correct is case["bird"], bird.reason


def test_fixture_gold_empty_flag(case_db):
    by_title = {c["title"]: c for c in CASES["cases"]}
    assert _run(case_db, by_title["both empty"], semantics="spider", keep_distinct=False).gold_empty
    assert not _run(
        case_db, by_title["identical"], semantics="spider", keep_distinct=False
    ).gold_empty


# ------------------------------------------------------------------ judge on results


def _ok(*rows, truncated=False):
    return ExecResult(
        ok=True, columns=("c",), rows=tuple(rows), row_count=len(rows), truncated=truncated
    )


@pytest.mark.parametrize(
    ("pred_result", "static", "kind"),
    [
        (
            ExecResult(ok=False, error_kind="timeout", error="cancelled after the 1 s timeout"),
            None,
            "timeout",
        ),
        (
            ExecResult(ok=False, error_kind="error", error="no such column: nme"),
            None,
            "execution_error",
        ),
        (ExecResult(ok=False, error_kind="readonly", error="attempt to write"), None, "unsafe"),
        (ExecResult(ok=False, error_kind="connection", error="gone"), None, "execution_error"),
        (None, Verdict(ok=False, layer="safety", reason="DELETE is not allowed"), "unsafe"),
        (None, Verdict(ok=False, layer="syntax", reason="cannot parse"), "syntax_error"),
        (None, Verdict(ok=False, layer="schema", reason="unknown table"), "execution_error"),
        (_ok((1,), (2,), truncated=True), None, "wrong_result"),
        (_ok((2,), (1,)), None, "correct"),
        (_ok((3,), (1,)), None, "wrong_result"),
    ],
)
def test_judge_kinds(pred_result, static, kind):
    verdict = metrics.judge(
        "SELECT c FROM t",
        "SELECT c FROM t",
        pred_result,
        _ok((1,), (2,)),
        dialect="sqlite",
        static_verdict=static,
    )
    assert verdict.kind == kind
    assert verdict.correct is (kind == "correct")
    assert verdict.kind in metrics.VERDICT_KINDS and verdict.reason


def test_judge_not_executed_without_static_verdict():
    gold = _ok((1,))
    assert (
        metrics.judge("SELEC 1 FROM", "SELECT 1", None, gold, dialect="sqlite").kind
        == "syntax_error"
    )
    assert (
        metrics.judge("SELECT 1", "SELECT 1", None, gold, dialect="sqlite").kind
        == "execution_error"
    )


def test_judge_gold_failure_and_order_reason():
    failed = ExecResult(ok=False, error_kind="error", error="no such table: x")
    verdict = metrics.judge("SELECT 1", "SELECT 1 FROM x", _ok((1,)), failed, dialect="sqlite")
    assert (verdict.correct, verdict.kind) == (False, "execution_error")
    assert verdict.reason.startswith("gold query failed")
    verdict = metrics.judge(
        "SELECT c FROM t",
        "SELECT c FROM t ORDER BY c",
        _ok((2,), (1,)),
        _ok((1,), (2,)),
        dialect="sqlite",
    )
    assert verdict.kind == "wrong_result" and "order" in verdict.reason
    both_truncated = metrics.judge(
        "q", "q", _ok((1,), truncated=True), _ok((1,), truncated=True), dialect="sqlite"
    )
    assert both_truncated.correct and "truncated" in both_truncated.reason
    assert metrics.judge("q", "q", _ok(), _ok(), dialect="sqlite").to_dict() == {
        "correct": True,
        "kind": "correct",
        "reason": "results match (spider)",
        "gold_empty": True,
    }
