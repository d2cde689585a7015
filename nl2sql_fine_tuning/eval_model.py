"""Evaluate a text-to-SQL model: text match and execution accuracy, per sample and per category.

Three ways in, one way out::

    # LLaMA-Factory's do_predict output, joined line by line to the run's dev split
    python nl2sql_fine_tuning/eval_model.py --eval_text_match --eval_sql_execution \\
        --predictions saves/.../generated_predictions.jsonl --gold runs/retail_v1
    # {id, prediction} lines joined by id; a Spider/BIRD file with --db-root DIR/<db_id>/<db_id>.sqlite
    python -m nl2sql_fine_tuning.eval_model --eval_sql_execution \\
        --predictions preds.jsonl --gold dev.json --db-root database/
    # live generation from an OpenAI-compatible endpoint (vLLM, llamafactory-cli api)
    python -m nl2sql_fine_tuning.eval_model --eval_sql_execution \\
        --base-url http://127.0.0.1:8000/v1 --model sft --gold runs/retail_v1

Every metric comes from :mod:`nl2sql_fine_tuning.metrics`.  The steps live apart:
loading gold and predictions (:mod:`.eval_data`), live generation
(:mod:`.eval_generate`), executing (:mod:`.eval_execute`: read-only, time-limited, one
:class:`~data_create.executor.ExecutorPool` per database, each gold query run once),
reporting (:mod:`.eval_report`); this module scores and orders them, and is the CLI.

Gold and predictions go through the same validator as generated data
(:class:`data_create.validator.Validator`: syntax and safety with the engine's function
allow-lists, then the schema layer against the database's metadata); what fails is
reported and never executed (a gold query that fails gets the verdict ``gold_error``),
and what passes runs as the validator's canonical SQL, not as the raw text.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "nl2sql_fine_tuning"

from data_create import engines, prompt
from data_create.cli import run_command
from data_create.errors import ConfigError
from nl2sql_fine_tuning import eval_report, metrics

# The steps, each in its module; their names stay importable from here.
from nl2sql_fine_tuning.eval_data import (  # noqa: F401
    Gold,
    GoldItem,
    Prediction,
    _load_run,
    join,
    load_gold,
    load_predictions,
)
from nl2sql_fine_tuning.eval_execute import ExecOptions, _execute_all, _Outcome
from nl2sql_fine_tuning.eval_generate import generate, retrieved_schema
from nl2sql_fine_tuning.eval_report import SampleResult

log = logging.getLogger("nl2sql_fine_tuning.eval")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

# ---------------------------------------------------------------- records


@dataclass
class EvalResult:
    samples: list[SampleResult]
    report: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- evaluate


def _dialect_of(gold: Gold, options: ExecOptions, dialect: str | None) -> str:
    if dialect:
        return engines.get(dialect).sqlglot_dialect
    if gold.dialect:
        return engines.get(gold.dialect).sqlglot_dialect
    if options.db_root:
        return "sqlite"
    if options.dsn:
        return engines.get(options.dsn.split("://", 1)[0]).sqlglot_dialect
    return "sqlite"


def evaluate(
    gold: Gold | str | os.PathLike[str],
    predictions: Sequence[Prediction] | str | os.PathLike[str] | None = None,
    *,
    text_match: bool = True,
    sql_execution: bool = True,
    dialect: str | None = None,
    exec_options: ExecOptions | None = None,
    base_url: str | None = None,
    model: str | None = None,
    concurrency: int = 8,
    out_dir: str | os.PathLike[str] | None = None,
    gold_cache: dict[tuple[str, str], Any] | None = None,
    schema_context: Callable[[str], str | None] | None = None,
) -> EvalResult:
    """Score predictions (from a file, a list, or generated live when ``predictions`` is
    None and ``model`` is given) against ``gold``; write reports into ``out_dir`` if given.

    ``gold_cache`` ((dsn, sql) -> result) keeps gold results across calls, e.g. when
    several checkpoints are scored on the same dev set: each gold query runs once."""
    from data_create.validator import Validator

    options = exec_options or ExecOptions()
    if options.semantics not in ("spider", "bird"):
        raise ConfigError(f"unknown semantics {options.semantics!r}", "use spider or bird")
    started = time.perf_counter()
    gold_path = None if isinstance(gold, Gold) else Path(gold)
    if gold_path is not None:
        gold = load_gold(gold_path)
    if not gold.items:
        raise ConfigError("the gold set is empty")
    sql_dialect = _dialect_of(gold, options, dialect)
    if predictions is None:
        if not model:
            raise ConfigError("give --predictions, or --model (and --base-url) to generate")
        predictions = generate(
            gold.items,
            base_url=base_url or DEFAULT_BASE_URL,
            model=model,
            dialect=sql_dialect,
            concurrency=concurrency,
            schema_context=schema_context,
        )
    elif isinstance(predictions, str | os.PathLike):
        predictions = load_predictions(predictions)
    if (
        predictions
        and predictions[0].id is None
        and gold.kind == "samples"
        and gold_path is not None
        and (gold_path.parent / "split.json").is_file()
    ):  # LLaMA-Factory predictions follow the dev split, not the whole samples.jsonl
        gold = _load_run(gold_path.parent)
    pairs = join(predictions, gold)

    extracted = [metrics.extract_sql(p.text) for _, p in pairs]
    validator = Validator(None, sql_dialect, allow_functions=options.allow_functions)
    static_cache: dict[str, Any] = {}
    statics = []
    for sql in extracted:
        if sql not in static_cache:
            static_cache[sql] = validator.check_static(sql) if sql else _EMPTY
        statics.append(static_cache[sql])

    outcomes: list[_Outcome | None] = [None] * len(pairs)
    if sql_execution:
        outcomes = _execute_all(
            [(g, s) for (g, _), s in zip(pairs, extracted, strict=True)],
            statics,
            sql_dialect,
            options,
            gold.dsn if gold.kind != "spider" else None,
            gold_cache,
            default_password_env=gold.password_env if gold.kind != "spider" else None,
        )

    samples = []
    for (g, p), sql, static, o in zip(pairs, extracted, statics, outcomes, strict=True):
        samples.append(
            SampleResult(
                id=g.id,
                database=g.database,
                difficulty=g.difficulty,
                topic=g.topic,
                features=g.features,
                question=g.question,
                gold_sql=g.sql,
                prediction=p.text,
                pred_sql=sql,
                exact_match=metrics.exact_match(sql, g.sql, sql_dialect) if text_match else None,
                token_f1=metrics.token_f1(sql, g.sql) if text_match else None,
                # The static verdict above already parsed it: not parsed a second time.
                syntax_valid=metrics.parses(static),
                **_verdict_fields(o),
            )
        )
    text_scores: dict[str, float] = {}
    if text_match:
        labels = [p.label if p.label is not None else prompt.sql_target(g.sql) for g, p in pairs]
        texts = [p.text for _, p in pairs]
        text_scores = dict(metrics.llamafactory_scores(texts, labels))
        text_scores["corpus_bleu"] = metrics.corpus_bleu(
            extracted, [prompt.sql_target(g.sql) for g, _ in pairs]
        )
    report = eval_report.build(
        samples,
        text_scores=text_scores,
        run={
            "gold": gold.kind,
            "dialect": sql_dialect,
            "semantics": options.semantics,
            "keep_distinct": options.keep_distinct,
            "text_match": text_match,
            "sql_execution": sql_execution,
            "model": model,
            "elapsed_s": round(time.perf_counter() - started, 3),
        },
    )
    files = eval_report.write(out_dir, report, samples) if out_dir else {}
    return EvalResult(samples=samples, report=report, files=files)


@dataclass(frozen=True)
class _Static:
    ok: bool
    layer: str | None
    reason: str | None


_EMPTY = _Static(ok=False, layer="syntax", reason="no SQL in the model's answer")


def _verdict_fields(o: _Outcome | None) -> dict[str, Any]:
    if o is None:
        return {}
    pred = o.pred_result
    fields = {"executed": pred is not None, "exec_success": bool(pred is not None and pred.ok)}
    if o.verdict is None:
        gold = o.gold_result
        return {
            **fields,
            "correct": False,
            "verdict": "gold_error",
            "reason": f"the gold query failed: {gold.error_kind}: {gold.error}",
        }
    v = o.verdict
    return {
        **fields,
        "correct": v.correct,
        "gold_empty": v.gold_empty,
        "verdict": v.kind,
        "reason": v.reason,
    }


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.eval_model",
        description="Evaluate NL2SQL predictions: text match (exact match, token F1, "
        "LLaMA-Factory's BLEU-4/ROUGE, corpus BLEU) and execution accuracy (Spider "
        "test-suite or BIRD semantics), overall and by difficulty, topic, SQL feature "
        "and database. Writes eval_report.json/.md/.html and per-sample JSONL/CSV.",
    )
    p.add_argument("--eval_text_match", action="store_true", help="compute text metrics")
    p.add_argument(
        "--eval_sql_execution",
        action="store_true",
        help="execute gold and predicted SQL read-only and compare results",
    )
    g = p.add_argument_group("inputs")
    g.add_argument(
        "--predictions",
        metavar="FILE",
        help="LLaMA-Factory generated_predictions.jsonl (joined by line to the dev split) "
        "or a JSONL of {id, prediction}",
    )
    g.add_argument(
        "--gold",
        metavar="PATH",
        help="data_create run directory (its dev split), samples.jsonl, or a Spider/BIRD "
        "JSON/JSONL file with question, query|SQL|sql and db_id",
    )
    g.add_argument(
        "--base-url",
        metavar="URL",
        help=f"OpenAI-compatible endpoint for live generation (default {DEFAULT_BASE_URL})",
    )
    g.add_argument("--model", help="model name to generate with (turns live generation on)")
    g.add_argument(
        "--concurrency", type=int, default=8, metavar="K", help="requests in flight (default 8)"
    )
    g.add_argument(
        "--retrieval-index",
        metavar="DIR",
        help="live prompts carry the schema retrieved from this index (a run's "
        "retrieval_index), as training with --schema-context retrieved did",
    )
    g.add_argument(
        "--retrieval-k", type=int, default=5, metavar="K", help="tables retrieved (default 5)"
    )
    g = p.add_argument_group("database")
    g.add_argument(
        "--dsn",
        help="database URL (default: the run's database from run.json, else the bundled example)",
    )
    g.add_argument(
        "--db-root", metavar="DIR", help="Spider/BIRD layout: DIR/<db_id>/<db_id>.sqlite"
    )
    g.add_argument("--dialect", help="SQL dialect (default: from the samples, the DSN, or sqlite)")
    g.add_argument(
        "--semantics",
        choices=("spider", "bird"),
        default="spider",
        help="result comparison: spider (multiset, column-permutation invariant, ordered only "
        "with ORDER BY; default) or bird (set of rows)",
    )
    g.add_argument(
        "--keep-distinct",
        action="store_true",
        help="do not remove DISTINCT from both queries before executing (Spider's option)",
    )
    g.add_argument(
        "--workers", type=int, default=4, metavar="N", help="connections per database (default 4)"
    )
    g.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="per-query time limit (default 10)"
    )
    g.add_argument(
        "--row-cap", type=int, default=10_000, metavar="N", help="rows fetched per query"
    )
    g.add_argument(
        "--allow-function",
        action="append",
        default=[],
        metavar="NAME",
        help="also allow this function (or schema.function) in gold and predicted SQL; "
        "repeatable. Functions that sleep, lock, read files or run SQL cannot be allowed",
    )
    p.add_argument("--out", metavar="DIR", help="write the reports here (default eval_out)")
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A.json", "B.json"),
        help="print (and with --out write) a side-by-side of two eval_report.json files",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    return p


def run_cli(args: argparse.Namespace) -> int:
    if args.compare:
        a, b = (eval_report.read(path) for path in args.compare)
        comparison = eval_report.compare(a, b, names=tuple(args.compare))
        text = eval_report.render_compare_markdown(comparison)
        print(text)
        if args.out:
            eval_report.write_compare(args.out, comparison)
        return 0
    if not args.gold:
        raise ConfigError("--gold is required (a run directory, samples.jsonl or Spider file)")
    if not args.predictions and not args.model:
        raise ConfigError("give --predictions FILE, or --model (and --base-url) to generate")
    if args.predictions and not Path(args.predictions).is_file():
        raise ConfigError(f"predictions file {args.predictions} does not exist")
    if not Path(args.gold).exists():
        raise ConfigError(f"gold {args.gold} does not exist")
    if args.db_root and not Path(args.db_root).is_dir():
        raise ConfigError(f"--db-root {args.db_root} is not a directory")
    text_match = args.eval_text_match or not args.eval_sql_execution
    result = evaluate(
        args.gold,
        args.predictions,
        text_match=text_match,
        sql_execution=args.eval_sql_execution,
        dialect=args.dialect,
        exec_options=ExecOptions(
            dsn=args.dsn,
            db_root=args.db_root,
            workers=args.workers,
            timeout_s=args.timeout,
            row_cap=args.row_cap,
            semantics=args.semantics,
            keep_distinct=args.keep_distinct,
            allow_functions=tuple(args.allow_function),
        ),
        base_url=args.base_url,
        model=args.model,
        concurrency=args.concurrency,
        out_dir=args.out or "eval_out",
        schema_context=retrieved_schema(args.retrieval_index, args.retrieval_k)
        if args.retrieval_index
        else None,
    )
    for line in eval_report.summary_lines(result.report):
        print(line)
    print(
        f"  wrote {', '.join(Path(f).name for f in result.files.values())} into "
        f"{args.out or 'eval_out'}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command(lambda: run_cli(args), debug=args.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
