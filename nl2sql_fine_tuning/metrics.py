"""Evaluation metrics for NL2SQL predictions: one implementation of each.

Text metrics (exact match, token F1, LLaMA-Factory's BLEU-4/ROUGE, corpus BLEU), syntax
validity, and execution verdicts with the Spider test-suite (default) or BIRD semantics.
Heavy libraries (jieba, nltk, rouge_chinese, sacrebleu, sqlparse, sqlglot) are imported lazily.

Execution flow for one prediction (what ``eval_model`` does)::

    pred_run = prepare_for_execution(pred_sql, keep_distinct=False)   # also for the gold
    verdict = validator.check_static(pred_run)                        # all static layers
    pred_result = executor.execute(verdict.sql)                       # skipped when refused
    verdict = judge(pred_run, gold_run, pred_result, gold_result, dialect="sqlite")
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import product
from typing import Any

from data_create.prompt import extract_sql

__all__ = [
    "VERDICT_KINDS",
    "ExecVerdict",
    "corpus_bleu",
    "exact_match",
    "extract_sql",
    "gold_has_order_by",
    "judge",
    "llamafactory_scores",
    "normalize_sql",
    "prepare_for_execution",
    "results_match",
    "strip_distinct",
    "syntax_valid",
    "token_f1",
]

VERDICT_KINDS = ("correct", "wrong_result", "syntax_error", "unsafe", "execution_error", "timeout")

_QUOTES = {'"': '"', "`": "`", "[": "]"}


# --------------------------------------------------------------------------- text metrics


_PLAIN_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|\w+|[^\w\s]")


def _plain_tokens(sql: str) -> list[str]:
    out = []
    for token in _PLAIN_TOKEN.findall(sql):
        if token[0] in _QUOTES and len(token) >= 2 and token[-1] == _QUOTES[token[0]]:
            token = token[1:-1]
        elif token[0] != "'":
            token = token.upper()
        out.append(token)
    while out and out[-1] == ";":
        out.pop()
    return out


def _sql_tokens(sql: str) -> list[str]:
    """Normalized tokens: no whitespace/comments, keywords and function names upper case,
    identifier quotes removed, trailing ``;`` dropped."""
    import sqlparse
    from sqlparse import tokens as T
    from sqlparse.exceptions import SQLParseError

    sql = (sql or "").strip()
    if not sql:
        return []
    try:
        flat = [t for stmt in sqlparse.parse(sql) for t in stmt.flatten()]
    except SQLParseError:
        # sqlparse refuses statements of more than 10,000 tokens (a guard against
        # quadratic grouping); such an answer is compared by its plain word tokens.
        return _plain_tokens(sql)
    flat = [t for t in flat if not (t.is_whitespace or t.ttype in T.Comment)]
    out: list[str] = []
    for i, tok in enumerate(flat):
        value = tok.value
        if tok.ttype in T.Keyword or tok.ttype in T.Name.Builtin:
            value = value.upper()
        elif tok.ttype in T.Name or tok.ttype in T.Literal.String.Symbol:
            if len(value) >= 2 and _QUOTES.get(value[0]) == value[-1]:
                value = value[1:-1]
            elif i + 1 < len(flat) and flat[i + 1].value == "(":
                value = value.upper()  # a function call: count( == COUNT(
        out.append(value)
    while out and out[-1] == ";":
        out.pop()
    return out


def normalize_sql(sql: str, dialect: str | None = None) -> str:
    """Canonical text: keywords upper case, comments and identifier quotes removed,
    tokens separated by one space, trailing ``;`` removed.

    >>> normalize_sql('select "name" ,count(*) from t -- all\\n;')
    'SELECT name , COUNT ( * ) FROM t'
    """
    return " ".join(_sql_tokens(sql))


def exact_match(pred: str, gold: str, dialect: str | None = None) -> bool:
    """``normalize_sql(pred) == normalize_sql(gold)``."""
    return normalize_sql(pred, dialect) == normalize_sql(gold, dialect)


def token_f1(pred: str, gold: str) -> float:
    """F1 over the multisets of normalized SQL tokens, in [0, 1]; 1.0 when both are empty."""
    p, g = Counter(_sql_tokens(pred)), Counter(_sql_tokens(gold))
    if not p and not g:
        return 1.0
    common = sum((p & g).values())
    if common == 0:
        return 0.0
    precision = common / sum(p.values())
    recall = common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def llamafactory_scores(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """``{"bleu-4", "rouge-1", "rouge-2", "rouge-l"}`` as LLaMA-Factory's ``ComputeSimilarity``.

    Per sample: ROUGE F-scores of ``rouge_chinese`` on ``jieba`` tokens joined by spaces (all 0
    if either side has no tokens), BLEU-4 = ``nltk sentence_bleu`` at character level with
    ``method3`` smoothing; each ×100 rounded to 4 places, then averaged. The strings are used
    as given (LLaMA-Factory's labels in generated_predictions.jsonl score with their newline).
    """
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels")
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    jieba.setLogLevel(60)
    scores: dict[str, list[float]] = {"rouge-1": [], "rouge-2": [], "rouge-l": [], "bleu-4": []}
    smooth = SmoothingFunction().method3
    for pred, label in zip(preds, labels, strict=True):
        hypothesis = list(jieba.cut(pred))
        reference = list(jieba.cut(label))
        if not " ".join(hypothesis).split() or not " ".join(reference).split():
            result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
        else:
            result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
        for key, value in result.items():
            scores[key].append(round(value["f"] * 100, 4))
        bleu = sentence_bleu([list(label)], list(pred), smoothing_function=smooth)
        scores["bleu-4"].append(round(bleu * 100, 4))
    # np.mean in the original; fsum keeps the same value without importing numpy
    return {k: (sum(v) / len(v) if v else 0.0) for k, v in scores.items()}


def corpus_bleu(preds: Sequence[str], labels: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (0..100), default 13a tokenizer."""
    import sacrebleu

    if not preds:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(preds), [list(labels)]).score)


def syntax_valid(sql: str, dialect: str) -> bool:
    """``sql`` passes the validator's syntax layer in ``dialect`` (an engine or sqlglot
    dialect name): it parses, as exactly one SQL statement.  Safety is judged apart: a
    DELETE is syntax-valid and unsafe."""
    return parses(_static_validator(dialect).check_static(sql or ""))


def parses(verdict: Any) -> bool:
    """Whether a validator verdict says its statement is syntax-valid (the rule of
    :func:`syntax_valid`, for a caller that already has the verdict)."""
    return verdict.ok or verdict.layer not in ("syntax", "input")


@lru_cache(maxsize=16)
def _static_validator(dialect: str) -> Any:
    from data_create.validator import Validator

    return Validator(None, dialect)


# --------------------------------------------------------------------------- execution

# The functions below mirror taoyds/test-suite-sql-eval exec_eval.py so that verdicts agree
# with it, including its quirks (see bench/check_spider_agreement.py).


def prepare_for_execution(
    sql: str, dialect: str | None = None, *, keep_distinct: bool = False
) -> str:
    """What the reference runs: ``> =`` -> ``>=`` (and ``< =``, ``! =``), DISTINCT removed
    unless ``keep_distinct``. Apply to both the prediction and the gold before executing."""
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    return sql if keep_distinct else strip_distinct(sql, dialect)


def strip_distinct(sql: str, dialect: str | None = None) -> str:
    """Every ``DISTINCT`` token removed (also inside ``COUNT(DISTINCT x)``), as the reference's
    ``remove_distinct`` does; string literals and quoted names are untouched. Like it, only
    the first statement is kept (``"SELECT a; SELECT b"`` -> ``"SELECT a;"``).

    >>> strip_distinct("SELECT DISTINCT a FROM t")
    'SELECT  a FROM t'
    """
    import sqlparse

    if not sql.strip() or (";" not in sql and "distinct" not in sql.lower()):
        return sql  # what the tokens would join back to, without the sqlparse cost
    from sqlparse.exceptions import SQLParseError

    # like the reference, keep only the first statement sqlparse finds
    try:
        tokens = [t.value for t in sqlparse.parse(sql)[0].flatten()]
    except SQLParseError:
        return sql  # over sqlparse's token limit: executed as written (the validator decides)
    return "".join(t for t in tokens if t.lower() != "distinct")


def gold_has_order_by(gold_sql: str, dialect: str | None = None) -> bool:
    """Like the reference: ``'order by' in gold_sql.lower()`` (one space, anywhere)."""
    return "order by" in gold_sql.lower()


def _unorder_row(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _quick_rej(result1: list[tuple], result2: list[tuple], order_matters: bool) -> bool:
    s1 = [_unorder_row(row) for row in result1]
    s2 = [_unorder_row(row) for row in result2]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def _multiset_eq(l1: list, l2: list) -> bool:
    return len(l1) == len(l2) and Counter(l1) == Counter(l2)


def _candidate_permutations(gold_cols: list[set], pred: list[tuple]) -> Iterator[tuple[int, ...]]:
    num_cols = len(pred[0])
    allowed = [set(range(num_cols)) for _ in range(num_cols)]
    if num_cols > 3:
        # prune with 20 sampled rows like the reference; pruning only drops permutations
        # that cannot match, so a fixed seed gives the same verdict as its random one
        rng = random.Random(0)
        for _ in range(20):
            row = rng.choice(pred)
            for gold_col in range(num_cols):
                for pred_col in set(allowed[gold_col]):
                    if row[pred_col] not in gold_cols[gold_col]:
                        allowed[gold_col].remove(pred_col)
    return product(*allowed)


def _spider_eq(gold: list[tuple], pred: list[tuple], order_matters: bool) -> bool:
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    num_cols = len(gold[0])
    if len(pred[0]) != num_cols:
        return False
    if not _quick_rej(gold, pred, order_matters):
        return False
    gold_cols = [{row[i] for row in gold} for i in range(num_cols)]
    for perm in _candidate_permutations(gold_cols, pred):
        if len(perm) != len(set(perm)):
            continue
        permuted = pred if num_cols == 1 else [tuple(row[i] for i in perm) for row in pred]
        if order_matters:
            if gold == permuted:
                return True
        elif set(gold) == set(permuted) and _multiset_eq(gold, permuted):
            return True
    return False


def results_match(
    pred_rows: Sequence[Sequence[Any]],
    gold_rows: Sequence[Sequence[Any]],
    *,
    order_matters: bool,
    semantics: str = "spider",
    keep_distinct: bool = False,
) -> bool:
    """Do two result sets match?

    ``spider``: Spider test-suite ``result_eq`` — multiset equality, invariant to column
    permutation, order-sensitive only if ``order_matters``, values compared with ``==``
    (6 == 6.0, 6 != '6'), two empty results match. ``bird``: ``set(pred) == set(gold)``
    (duplicates and row order ignored, column order matters). ``keep_distinct`` is accepted
    for symmetry; DISTINCT is handled on the SQL (:func:`prepare_for_execution`).

    >>> results_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=False)
    True
    """
    pred = [tuple(r) for r in pred_rows]
    gold = [tuple(r) for r in gold_rows]
    if semantics == "spider":
        return _spider_eq(gold, pred, order_matters)
    if semantics == "bird":
        return set(pred) == set(gold)
    raise ValueError(f"unknown semantics {semantics!r}: use 'spider' or 'bird'")


@dataclass(frozen=True)
class ExecVerdict:
    correct: bool
    kind: str  # one of VERDICT_KINDS
    reason: str
    gold_empty: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STATIC_KIND = {"input": "syntax_error", "syntax": "syntax_error", "safety": "unsafe"}


def judge(
    pred_sql: str,
    gold_sql: str,
    pred_result: Any,
    gold_result: Any,
    *,
    dialect: str,
    semantics: str = "spider",
    keep_distinct: bool = False,
    static_verdict: Any = None,
) -> ExecVerdict:
    """Execution verdict for one prediction.

    ``pred_result``/``gold_result`` are :class:`data_create.executor.ExecResult` of the SQL
    after :func:`prepare_for_execution`; ``gold_sql`` decides ``order_matters``.
    ``pred_result`` is None when the prediction was not executed; then ``static_verdict`` (a
    :class:`data_create.validator.Verdict`) says why: layer "syntax"/"input" -> syntax_error,
    "safety" -> unsafe, others (schema) -> execution_error. A failed gold gives
    ``execution_error`` with a reason starting "gold". Truncated results (row cap) are
    compared on the fetched rows only when both sides were truncated.
    """
    gold_ok = gold_result is not None and gold_result.ok
    gold_empty = bool(gold_ok and not gold_result.rows and not gold_result.truncated)
    if not gold_ok:
        err = getattr(gold_result, "error", None) or "not executed"
        return ExecVerdict(False, "execution_error", f"gold query failed: {err}", False)
    if pred_result is None:
        if static_verdict is not None and not static_verdict.ok:
            kind = _STATIC_KIND.get(static_verdict.layer or "", "execution_error")
            return ExecVerdict(
                False, kind, f"{static_verdict.layer}: {static_verdict.reason}", gold_empty
            )
        if not syntax_valid(pred_sql, dialect):
            return ExecVerdict(
                False, "syntax_error", "prediction does not parse as one statement", gold_empty
            )
        return ExecVerdict(False, "execution_error", "prediction was not executed", gold_empty)
    if not pred_result.ok:
        if pred_result.error_kind == "timeout":
            return ExecVerdict(False, "timeout", pred_result.error or "timed out", gold_empty)
        if pred_result.error_kind == "readonly":
            return ExecVerdict(
                False, "unsafe", pred_result.error or "refused: not read-only", gold_empty
            )
        return ExecVerdict(
            False, "execution_error", pred_result.error or "execution failed", gold_empty
        )
    if pred_result.truncated != gold_result.truncated:
        side = "prediction" if pred_result.truncated else "gold"
        return ExecVerdict(
            False, "wrong_result", f"{side} exceeded the row cap, the other did not", gold_empty
        )
    order_matters = gold_has_order_by(gold_sql, dialect)
    if results_match(
        pred_result.rows,
        gold_result.rows,
        order_matters=order_matters,
        semantics=semantics,
        keep_distinct=keep_distinct,
    ):
        note = " (truncated: compared fetched rows)" if gold_result.truncated else ""
        return ExecVerdict(True, "correct", f"results match ({semantics}){note}", gold_empty)
    return ExecVerdict(
        False, "wrong_result", _difference(pred_result, gold_result, order_matters), gold_empty
    )


def _difference(pred: Any, gold: Any, order_matters: bool) -> str:
    pred_rows, gold_rows = list(pred.rows), list(gold.rows)
    if len(pred_rows) != len(gold_rows):
        return f"{len(pred_rows)} rows, gold has {len(gold_rows)}"
    if pred_rows and gold_rows and len(pred_rows[0]) != len(gold_rows[0]):
        return f"{len(pred_rows[0])} columns, gold has {len(gold_rows[0])}"
    if order_matters and sorted(map(repr, pred_rows)) == sorted(map(repr, gold_rows)):
        return "same rows in a different order (gold has ORDER BY)"
    return "different values"
