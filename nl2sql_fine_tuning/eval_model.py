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

Every metric comes from :mod:`nl2sql_fine_tuning.metrics`; this module joins, generates,
executes (read-only, time-limited, one :class:`~data_create.executor.ExecutorPool` per
database, each gold query run once) and hands the results to :mod:`.eval_report`.

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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "nl2sql_fine_tuning"

from data_create import engines, prompt, rundir
from data_create.cli import run_command
from data_create.errors import ConfigError
from nl2sql_fine_tuning import eval_report, metrics
from nl2sql_fine_tuning.eval_report import SampleResult  # the report's row; re-exported

log = logging.getLogger("nl2sql_fine_tuning.eval")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class GoldItem:
    """One gold question/SQL pair; ``messages`` is the exact training prompt when known."""

    id: str
    question: str
    sql: str
    database: str = ""
    difficulty: str = ""
    topic: str = ""
    features: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Gold:
    items: tuple[GoldItem, ...]
    dialect: str | None = None  # from the samples, when they say
    dsn: str | None = None  # from a data_create run's run.json, without its password
    password_env: str | None = None  # the variable the run read the password from
    kind: str = "samples"  # "run" | "samples" | "spider"


@dataclass(frozen=True)
class Prediction:
    text: str
    id: str | None = None
    label: str | None = None


@dataclass
class EvalResult:
    samples: list[SampleResult]
    report: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- reading


def _read_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list or JSONL file of objects."""
    return rundir.read_records(path)


def _sample_item(r: dict[str, Any], messages: tuple | None = None) -> GoldItem:
    return GoldItem(
        id=str(r["id"]),
        question=r["question"],
        sql=r["sql"],
        database=r.get("database") or "",
        difficulty=r.get("difficulty") or "",
        topic=r.get("topic") or "",
        features=tuple(r.get("features") or ()),
        messages=messages,
    )


def _run_database(run_dir: Path) -> tuple[str | None, str | None]:
    """The run's database as ``(dsn without password, password variable)``, if it names one.

    The password itself is read from that variable only when execution connects."""
    info = rundir.read_run(run_dir)
    if info is None or not info.dsn:
        return None, None
    return info.dsn, info.password_env


def _load_run(run_dir: Path, split: str = "dev") -> Gold:
    entries = rundir.split_items(run_dir, split)
    items = []
    for entry in entries:
        messages = None
        if entry.trained is not None:  # the exact prompt the model was trained on
            messages = tuple((m["role"], m["content"]) for m in entry.trained)
        items.append(_sample_item(entry.sample, messages))
    dialect = entries[0].sample.get("dialect") if entries else None
    dsn, password_env = _run_database(run_dir)
    return Gold(tuple(items), dialect=dialect, dsn=dsn, password_env=password_env, kind="run")


def load_gold(path: str | os.PathLike[str]) -> Gold:
    """Gold records from a data_create run directory (its dev split, in dev_alpaca order),
    a ``samples.jsonl`` file, or a Spider/BIRD-style JSON/JSONL file (question,
    query|SQL|sql, db_id)."""
    p = Path(path)
    if p.is_dir():
        return _load_run(p)
    records = _read_records(p)
    if records and all("db_id" in r for r in records):
        items = []
        for i, r in enumerate(records):
            sql = r.get("query") or r.get("SQL") or r.get("sql")
            if not sql or "question" not in r:
                raise ConfigError(f"{p}: record {i + 1} lacks question or query/SQL/sql")
            rid = r.get("id", r.get("question_id", i))
            items.append(
                GoldItem(
                    id=str(rid),
                    question=r["question"],
                    sql=sql,
                    database=str(r["db_id"]),
                    difficulty=str(r.get("difficulty") or r.get("hardness") or ""),
                )
            )
        return Gold(tuple(items), kind="spider")
    try:
        items = [_sample_item(r) for r in records]
    except KeyError as exc:
        raise ConfigError(
            f"{p}: records need id, question and sql (missing {exc})",
            "pass a data_create run directory, samples.jsonl or a Spider/BIRD file with db_id",
        ) from None
    dialect = records[0].get("dialect") if records else None
    dsn, password_env = _run_database(p.parent)
    return Gold(tuple(items), dialect=dialect, dsn=dsn, password_env=password_env, kind="samples")


def load_predictions(path: str | os.PathLike[str]) -> list[Prediction]:
    """LLaMA-Factory ``generated_predictions.jsonl`` (predict/label) or ``{id, prediction}``."""
    records = _read_records(Path(path))
    out = []
    for i, r in enumerate(records):
        if "predict" in r:
            out.append(Prediction(text=str(r["predict"]), label=r.get("label")))
        elif "prediction" in r and "id" in r:
            out.append(Prediction(text=str(r["prediction"] or ""), id=str(r["id"])))
        else:
            raise ConfigError(
                f"{path}: line {i + 1} has neither 'predict' (LLaMA-Factory) "
                "nor 'id' and 'prediction'"
            )
    return out


def join(predictions: Sequence[Prediction], gold: Gold) -> list[tuple[GoldItem, Prediction]]:
    """Pair predictions with gold: by id, or (LLaMA-Factory, no ids) line i with gold record i,
    checked by comparing each prediction's label with the gold SQL."""
    if predictions and predictions[0].id is None:
        if len(predictions) != len(gold.items):
            raise ConfigError(
                f"{len(predictions)} predictions but {len(gold.items)} gold records: "
                "predictions are joined by line to the dev split in file order",
                "predict on the dev split of the same run (dev_alpaca.jsonl)",
            )
        for i, (g, p) in enumerate(zip(gold.items, predictions, strict=True)):
            if p.label is not None and p.label.strip() not in (
                g.sql.strip(),
                prompt.sql_target(g.sql),
            ):
                raise ConfigError(
                    f"prediction {i + 1} is misaligned: its label {p.label.strip()[:60]!r} "
                    f"is not the gold SQL of {g.id}",
                    "predict on the dev split of the same run (dev_alpaca.jsonl), unshuffled",
                )
        return list(zip(gold.items, predictions, strict=True))
    by_id = {g.id: g for g in gold.items}
    unknown = [p.id for p in predictions if p.id not in by_id]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} prediction ids are not in the gold file (first: {unknown[0]!r})"
        )
    missing = len(by_id) - len({p.id for p in predictions})
    if missing:
        log.warning("%d gold records have no prediction; they are left out", missing)
    return [(by_id[p.id], p) for p in predictions]  # type: ignore[index]


# ---------------------------------------------------------------- live generation


def retrieved_schema(
    index_dir: str | os.PathLike[str], k: int = 5, budget_tokens: int = 2000
) -> Callable[[str], str | None]:
    """Question -> the schema block :mod:`data_create.retrieve` returns from a saved index
    (a run's ``retrieval_index``): what ``--schema-context retrieved`` trained on."""
    from data_create.retrieve import Retriever

    retriever = Retriever.load(index_dir)
    return lambda q: retriever.retrieve(q, k, budget_tokens=budget_tokens).cards_text or None


def generate(
    items: Sequence[GoldItem],
    *,
    base_url: str,
    model: str,
    dialect: str,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    max_tokens: int = 512,
    schema_context: Callable[[str], str | None] | None = None,
) -> list[Prediction]:
    """Ask an OpenAI-compatible endpoint for each item's SQL (temperature 0, at most
    ``concurrency`` requests in flight, no response cache); a failed request is an empty
    prediction, and an endpoint nobody answers at is a :class:`ConfigError`.

    ``schema_context`` (question -> schema block), e.g. :func:`retrieved_schema`, puts a
    schema block in prompts built here, as training with a schema context did."""
    from data_create.llm.client import ChatRequest, LLMClient, LLMFailure, settings_from

    settings = settings_from(
        env=os.environ, model=model, base_url=base_url, timeout_s=timeout_s, max_retries=2,
        temperature=0.0, top_p=1.0, max_tokens=max_tokens, concurrency=max(1, concurrency),
        cache_dir=None,
    )  # fmt: skip

    def messages(item: GoldItem) -> list[dict[str, str]]:
        if schema_context is not None:
            # Retrieved live, as serving will: a dev record's own prompt was built with its
            # gold tables forced in, which a served model never gets.
            return prompt.messages(item.question, dialect, schema_context(item.question))
        if item.messages is not None:  # the exact training prompt of a data_create run
            return [{"role": r, "content": c} for r, c in item.messages if c]
        return prompt.messages(item.question, dialect)

    requests = [
        ChatRequest(messages=messages(item), purpose="eval", temperature=0.0, max_tokens=max_tokens)
        for item in items
    ]
    with LLMClient(settings) as client:
        client.preflight()  # a server that is down: one line now, not after every retry
        replies = client.run_many(requests)
    if replies and all(isinstance(r, LLMFailure) and r.kind == "connection" for r in replies):
        raise ConfigError(
            f"cannot reach the model endpoint {base_url} ({replies[0].message})",
            "start the server (vllm serve / llamafactory-cli api) or fix --base-url",
        )
    out = []
    failed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item, reply in zip(items, replies, strict=True):
        if isinstance(reply, LLMFailure):
            failed[reply.kind, reply.message].append(item.id)
            out.append(Prediction(text="", id=item.id))
        else:
            out.append(Prediction(text=reply.text, id=item.id))
    for (kind, message), ids in failed.items():  # one line per distinct failure, not per item
        more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        log.warning(
            "generation failed for %d item(s) (%s%s): %s: %s",
            len(ids), ", ".join(ids[:3]), more, kind, message,
        )  # fmt: skip
    return out


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class _Outcome:
    verdict: Any  # metrics.ExecVerdict; None when the gold query itself failed
    pred_result: Any  # ExecResult, None when the prediction was not executed
    gold_result: Any
    pred_static: Any = None  # the prediction's verdict with the schema layer, when checked


_NOT_RUN = _Outcome(None, None, None)


@dataclass(frozen=True)
class ExecOptions:
    dsn: str | None = None
    db_root: str | None = None
    workers: int = 4
    timeout_s: float = 10.0
    row_cap: int = 10_000
    semantics: str = "spider"
    keep_distinct: bool = False
    allow_functions: tuple[str, ...] = ()  # more functions to allow (--allow-function)


def _dsn_for(database: str, options: ExecOptions, default: str | None) -> str:
    if options.db_root:
        path = Path(options.db_root) / database / f"{database}.sqlite"
        if not database or not path.is_file():
            raise ConfigError(
                f"unknown db_id {database!r}: {path} does not exist",
                "check --db-root (layout DIR/<db_id>/<db_id>.sqlite)",
            )
        return f"sqlite:///{path}"
    if options.dsn:
        return options.dsn
    if default:
        return default
    from data_create.example_db import example_dsn

    return example_dsn()


def _execute_all(
    pairs: Sequence[tuple[GoldItem, str]],
    statics: Sequence[Any],
    dialect: str,
    options: ExecOptions,
    default_dsn: str | None,
    gold_cache: dict[tuple[str, str], Any] | None = None,
    default_password_env: str | None = None,
) -> list[_Outcome]:
    """Judge every (gold, predicted SQL) pair; one pool per database, each gold SQL and
    each distinct prediction checked and executed once.

    Both go through the full static validator for that database (syntax, safety with the
    allow-lists, schema); only what passes runs, and it runs as the canonical SQL the
    validator regenerated.  A gold query that fails is reported, not run."""
    from data_create.connect import connect
    from data_create.executor import ExecResult, ExecutorPool
    from data_create.validator import Validator

    prepared: dict[str, str] = {}

    def runnable(sql: str) -> str:
        if sql not in prepared:
            # Stripping DISTINCT tokenizes the whole query (about 1 ms); without the word
            # there is nothing to strip, and keep_distinct=True does the rest of the work.
            keep = options.keep_distinct or "distinct" not in sql.lower()
            prepared[sql] = metrics.prepare_for_execution(sql, dialect, keep_distinct=keep)
        return prepared[sql]

    by_db: dict[str, list[int]] = defaultdict(list)
    for i, (item, _) in enumerate(pairs):
        by_db[_dsn_for(item.database, options, default_dsn)].append(i)
    outcomes: list[_Outcome] = [_NOT_RUN] * len(pairs)
    for dsn, indices in by_db.items():
        password_env = None
        if dsn == default_dsn and default_password_env:  # the run's own database
            password_env = rundir.require_password_env(default_password_env, dsn)
        db = connect(dsn, password_env=password_env)
        validator = Validator.for_database(db, dialect, allow_functions=options.allow_functions)
        checked: dict[str, Any] = {}

        def check(sql: str, checked: dict[str, Any] = checked, validator: Any = validator) -> Any:
            if sql not in checked:
                checked[sql] = validator.check_static(sql)
            return checked[sql]

        pool = ExecutorPool(
            db, workers=options.workers, timeout_s=options.timeout_s, row_cap=options.row_cap
        )
        try:
            cache = gold_cache if gold_cache is not None else {}
            gold_sqls = list(dict.fromkeys(runnable(pairs[i][0].sql) for i in indices))
            results: dict[str, Any] = {}
            todo = []
            for sql in gold_sqls:
                verdict = check(sql)
                if not verdict.ok:  # reported as the gold's failure, never executed
                    results[sql] = ExecResult(
                        ok=False, error_kind="rejected", error=f"{verdict.layer}: {verdict.reason}"
                    )
                elif (dsn, verdict.sql) in cache:
                    results[sql] = cache[dsn, verdict.sql]
                else:
                    todo.append(sql)
            canon = list(dict.fromkeys(check(s).sql for s in todo))
            cache.update(((dsn, c), r) for c, r in zip(canon, pool.map(canon), strict=True))
            results.update((s, cache[dsn, check(s).sql]) for s in todo)
            pred_sqls = [
                s
                for s in dict.fromkeys(runnable(pairs[i][1]) for i in indices if statics[i].ok)
                if s not in results and check(s).ok
            ]
            canon = list(dict.fromkeys(check(s).sql for s in pred_sqls))
            by_canon = dict(zip(canon, pool.map(canon), strict=True))
            results.update((s, by_canon[check(s).sql]) for s in pred_sqls)
        finally:
            pool.close()
            db.dispose()
        for i in indices:
            item, pred = pairs[i]
            static = statics[i]
            if static.ok:
                static = check(runnable(pred))  # the schema layer too
            gold_result = results[runnable(item.sql)]
            pred_result = results.get(runnable(pred)) if static.ok else None
            if not gold_result.ok:  # a broken gold says nothing about the model
                outcomes[i] = _Outcome(None, pred_result, gold_result, static)
                continue
            verdict = metrics.judge(
                pred,
                item.sql,
                pred_result,
                gold_result,
                dialect=dialect,
                semantics=options.semantics,
                keep_distinct=options.keep_distinct,
                static_verdict=static,
            )
            outcomes[i] = _Outcome(verdict, pred_result, gold_result, static)
    return outcomes


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
