"""Load-test an OpenAI-compatible server (vLLM, ``llamafactory-cli api``, Ollama) with dev prompts.

The prompts are the dev split of a ``data_create`` run, in the training format
(:func:`data_create.prompt.messages`), sent at temperature 0.  For each concurrency
level K, N requests go out with at most K in flight; the level reports wall time,
samples/s, output tokens/s (``usage.completion_tokens``, estimated when a server omits
usage), latency p50/p95/p99 of the successful requests, and the error rate with errors
by kind.  ``--execute`` also runs the extracted SQL against the database and reports
execution accuracy (Spider test-suite semantics, :func:`nl2sql_fine_tuning.metrics.judge`)::

    python -m nl2sql_fine_tuning.vllm_test --model qwen --data runs/retail_v1 \\
        --concurrency 1,4,16,32 --execute --out load.json

Requests go through :class:`data_create.llm.client.LLMClient` with its retries off
(``max_retries=0``) and no cache, so every request is one HTTP call and a failure is
counted, not hidden by a retry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from data_create import prompt, rundir
from data_create.cli import run_command
from data_create.errors import ConfigError
from data_create.llm.client import INSTALL_HINT, ChatResult, LLMClient, LLMSettings, settings_from

__all__ = ["DevPrompt", "LevelResult", "load_prompts", "load_test", "main", "percentile"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_LEVELS = (1, 4, 16, 32)


@dataclass(frozen=True)
class DevPrompt:
    id: str
    question: str
    gold_sql: str
    dialect: str | None
    messages: tuple[Mapping[str, str], ...]


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    ok: int
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    wall_s: float
    samples_per_s: float  # successful answers per second of wall time
    requests_per_s: float
    output_tokens: int
    output_tokens_per_s: float
    truncated: int  # answers cut off at max_tokens (finish_reason "length")
    latency_ms: dict[str, float]  # p50/p95/p99/mean/max over successful requests
    max_in_flight: int
    execution: dict[str, Any] | None = None
    answers: list[str | None] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("answers")
        return d


# ---------------------------------------------------------------- prompts


def load_prompts(run_dir: str | os.PathLike[str]) -> list[DevPrompt]:
    """The dev split of a ``data_create`` run as chat prompts, in split order.

    Each prompt is the one the model trained on (:func:`data_create.rundir.split_items`:
    the ``dev_alpaca.jsonl`` turns when that file belongs to the run's export, else
    ``prompt.messages(question, dialect, language=...)``).  A directory with only
    ``dev_alpaca.jsonl`` works too (no dialect).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"run directory {run} does not exist", "pass --data RUN_DIR")
    alpaca_path = run / rundir.alpaca_file("dev")
    if (run / rundir.SAMPLES).exists() and (run / rundir.SPLIT).exists():
        out = []
        for item in rundir.split_items(run, "dev"):
            s = item.sample
            out.append(DevPrompt(s["id"], s["question"], s["sql"], s["dialect"], item.messages()))
    elif alpaca_path.exists():
        out = [
            DevPrompt(
                f"dev-{n:06d}",
                r.get("instruction", ""),
                r.get("output", ""),
                None,
                prompt.alpaca_messages(r),
            )
            for n, r in enumerate(rundir.read_jsonl(alpaca_path))
        ]
    else:
        raise ConfigError(
            f"{run} holds neither dev_alpaca.jsonl nor samples.jsonl + split.json",
            "pass the --out directory of a `python -m data_create` run",
        )
    if not out:
        raise ConfigError(
            f"the dev split of {run} is empty", "re-run data_create with more samples"
        )
    return out


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty.

    >>> percentile([10, 20, 30, 40], 50)
    25.0
    """
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def _latency(ms: Sequence[float]) -> dict[str, float]:
    if not ms:
        return {k: math.nan for k in ("p50", "p95", "p99", "mean", "max")}
    return {
        "p50": round(percentile(ms, 50), 3),
        "p95": round(percentile(ms, 95), 3),
        "p99": round(percentile(ms, 99), 3),
        "mean": round(sum(ms) / len(ms), 3),
        "max": round(max(ms), 3),
    }


# ---------------------------------------------------------------- load


async def _level(
    settings: LLMSettings,
    prompts: Sequence[DevPrompt],
    concurrency: int,
    requests: int,
    warmup: int,
) -> LevelResult:
    client = LLMClient(settings)
    gate = asyncio.Semaphore(concurrency)
    in_flight = peak = 0
    outcomes: list[tuple[Any, float]] = [None] * requests  # type: ignore[list-item]

    async def one(i: int, record: bool = True) -> None:
        nonlocal in_flight, peak
        msgs = prompts[i % len(prompts)].messages
        async with gate:  # queueing time stays outside the measured latency
            in_flight += 1
            peak = max(peak, in_flight)
            started = time.perf_counter()
            try:
                result = await client.chat(msgs, purpose="load")
            finally:
                in_flight -= 1
            if record:
                outcomes[i] = (result, (time.perf_counter() - started) * 1000)

    try:
        # Warm-up requests open the connections and fill caches; they are not counted.
        await asyncio.gather(*(one(i, record=False) for i in range(warmup)))
        in_flight = peak = 0
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    finally:
        await client.aclose()

    ok = [(r, ms) for r, ms in outcomes if isinstance(r, ChatResult)]
    kinds = Counter(r.kind for r, _ in outcomes if not isinstance(r, ChatResult))
    tokens = sum(r.tokens_out for r, _ in ok)
    wall = max(wall, 1e-9)
    errors = requests - len(ok)
    return LevelResult(
        concurrency=concurrency,
        requests=requests,
        ok=len(ok),
        errors=errors,
        error_rate=round(errors / requests, 6) if requests else 0.0,
        errors_by_kind=dict(sorted(kinds.items())),
        wall_s=round(wall, 6),
        samples_per_s=round(len(ok) / wall, 3),
        requests_per_s=round(requests / wall, 3),
        output_tokens=tokens,
        output_tokens_per_s=round(tokens / wall, 3),
        truncated=sum(1 for r, _ in ok if r.finish_reason == "length"),
        latency_ms=_latency([ms for _, ms in ok]),
        max_in_flight=peak,
        answers=[r.text if isinstance(r, ChatResult) else None for r, _ in outcomes],
    )


def load_test(
    settings: LLMSettings,
    prompts: Sequence[DevPrompt],
    levels: Sequence[int] = DEFAULT_LEVELS,
    requests: int | None = None,
    *,
    warmup: int = 0,
    dsn: str | None = None,
    semantics: str = "spider",
    password_env: str | None = None,
) -> list[LevelResult]:
    """Run every concurrency level in turn; ``requests`` defaults to one per dev prompt
    (prompts repeat in order when it is larger).  With ``dsn`` each level's answers are
    also judged by execution against the gold SQL (the password, when ``dsn`` has none,
    from ``password_env`` or ``NL2SQL_DB_PASSWORD``)."""
    if not prompts:
        raise ConfigError("no prompts to send")
    n = len(prompts) if requests is None else int(requests)
    if n < 1 or any(int(k) < 1 for k in levels) or not levels:
        raise ConfigError("--requests and every --concurrency level must be >= 1")
    try:
        import openai  # noqa: F401 - imported here so its ~1 s import is not the first latency
    except ImportError:
        raise ConfigError("the load test needs the openai package", INSTALL_HINT) from None
    LLMClient(settings).preflight()  # nobody answering: one line now, not a table of errors
    judge = _Judge(dsn, prompts, semantics, password_env) if dsn else None
    results = []
    try:
        for k in levels:
            s = replace(settings, concurrency=int(k))
            level = asyncio.run(_level(s, prompts, int(k), n, warmup))
            if level.errors == n and set(level.errors_by_kind) == {"connection"}:
                raise ConfigError(
                    f"no server answers at {s.public()['base_url']}",
                    "start it (e.g. `vllm serve MODEL --port 8000`) or pass --base-url",
                )
            if judge is not None:
                level.execution = judge.score(level.answers)
            results.append(level)
    finally:
        if judge is not None:
            judge.close()
    return results


# ---------------------------------------------------------------- execution accuracy


class _Judge:
    """Execution accuracy of answers; gold results and predicted results are cached by SQL."""

    def __init__(
        self, dsn: str, prompts: Sequence[DevPrompt], semantics: str, password_env: str | None
    ):
        from data_create.connect import connect
        from data_create.executor import Executor
        from data_create.validator import Validator

        try:
            from nl2sql_fine_tuning import metrics
        except ImportError as exc:
            raise ConfigError(f"--execute needs nl2sql_fine_tuning.metrics: {exc}") from None
        self.metrics = metrics
        self.prompts = prompts
        self.semantics = semantics
        self.db = connect(dsn, password_env=password_env)
        self.dialect = self.db.profile.name
        self.executor = Executor(self.db)
        # The one validator, schema layer included, for gold and predictions alike.
        self.validator = Validator.for_database(self.db, self.dialect)
        self._results: dict[str, Any] = {}

    def _run(self, sql: str) -> Any:
        """The result of ``sql`` run as the validator's canonical SQL; a statement the
        validator refuses is never executed (its result is the refusal)."""
        if sql not in self._results:
            from data_create.executor import ExecResult

            verdict = self.validator.check_static(sql)
            self._results[sql] = (
                self.executor.execute(verdict.sql)
                if verdict.ok and verdict.sql
                else ExecResult(
                    ok=False, error_kind="rejected", error=f"{verdict.layer}: {verdict.reason}"
                )
            )
        return self._results[sql]

    def score(self, answers: Sequence[str | None]) -> dict[str, Any]:
        m = self.metrics
        kinds: Counter[str] = Counter()
        empty = empty_correct = 0  # gold queries with empty results, reported apart
        for i, text in enumerate(answers):
            if text is None:
                kinds["no_answer"] += 1
                continue
            p = self.prompts[i % len(self.prompts)]
            dialect = p.dialect or self.dialect
            pred = prompt.extract_sql(text)
            gold_result = self._run(m.strip_distinct(p.gold_sql, dialect))
            static = self.validator.check_static(pred)
            pred_result = self._run(m.strip_distinct(pred, dialect)) if static.ok else None
            verdict = m.judge(
                pred, p.gold_sql, pred_result, gold_result,
                dialect=dialect, semantics=self.semantics, static_verdict=static,
            )  # fmt: skip
            kinds[verdict.kind] += 1
            if verdict.gold_empty:
                empty += 1
                empty_correct += verdict.kind == "correct"
        judged = sum(kinds.values())
        return {
            "judged": judged,
            "correct": kinds["correct"],
            "accuracy": round(kinds["correct"] / judged, 6) if judged else 0.0,
            "gold_empty": empty,
            "accuracy_without_gold_empty": (
                round((kinds["correct"] - empty_correct) / (judged - empty), 6)
                if judged > empty
                else 0.0
            ),
            "verdicts": dict(sorted(kinds.items())),
        }

    def close(self) -> None:
        self.executor.close()
        self.db.engine.dispose()


# ---------------------------------------------------------------- report


def table(levels: Sequence[LevelResult]) -> str:
    """One row per level, fixed width, for the terminal."""
    head = (
        f"{'conc':>5} {'reqs':>6} {'ok':>6} {'err%':>6} {'wall s':>8} {'samples/s':>10} "
        f"{'out tok/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'exec acc':>8}"
    )
    rows = [head, "-" * len(head)]
    for r in levels:
        lat = r.latency_ms
        acc = f"{r.execution['accuracy']:.3f}" if r.execution else "-"
        rows.append(
            f"{r.concurrency:>5} {r.requests:>6} {r.ok:>6} {100 * r.error_rate:>6.1f} "
            f"{r.wall_s:>8.2f} {r.samples_per_s:>10.2f} {r.output_tokens_per_s:>10.1f} "
            f"{lat['p50']:>9.1f} {lat['p95']:>9.1f} {lat['p99']:>9.1f} {acc:>8}"
        )
        if r.errors_by_kind:
            rows.append(
                "      errors: " + ", ".join(f"{k} {v}" for k, v in r.errors_by_kind.items())
            )
    return "\n".join(rows)


def report(
    settings: LLMSettings, data: str, prompts: int, levels: Sequence[LevelResult]
) -> dict[str, Any]:
    s = settings.public()
    return {
        "format": "nl2sql-factory/load-test",
        "version": 1,
        "base_url": s["base_url"],
        "model": s["model"],
        "data": data,
        "dev_prompts": prompts,
        "temperature": s["temperature"],
        "max_tokens": s["max_tokens"],
        "timeout_s": s["timeout_s"],
        "levels": [r.to_dict() for r in levels],
    }


# ---------------------------------------------------------------- CLI


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers"
        ) from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be integers >= 1")
    return levels


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.vllm_test",
        description="Load-test an OpenAI-compatible server with the dev prompts of a data_create run.",
    )
    p.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, help=f"endpoint (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--model", help="model name the server serves (default $OPENAI_MODEL)")
    p.add_argument("--data", required=True, metavar="RUN_DIR", help="a data_create run directory")
    p.add_argument(
        "--concurrency", type=_levels, default=list(DEFAULT_LEVELS),
        help="comma-separated levels of requests in flight (default 1,4,16,32)",
    )  # fmt: skip
    p.add_argument("--requests", type=int, help="requests per level (default: one per dev prompt)")
    p.add_argument(
        "--max-tokens", type=int, default=256, help="max output tokens per answer (default 256)"
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    p.add_argument(
        "--warmup", type=int, default=0, help="uncounted requests before each level (default 0)"
    )
    p.add_argument("--execute", action="store_true", help="also measure execution accuracy")
    p.add_argument(
        "--dsn", help="database for --execute (default: the run's database from run.json)"
    )
    p.add_argument(
        "--semantics", choices=("spider", "bird"), default="spider",
        help="result comparison for --execute (default spider test-suite)",
    )  # fmt: skip
    p.add_argument("--out", help="write the JSON report here")
    return p


def _run_database(run_dir: str) -> tuple[str, str | None]:
    """The run's database from ``run.json``: ``(dsn without password, password variable)``."""
    info = rundir.read_run(run_dir)
    if info is None:
        raise ConfigError(
            f"--execute needs a database: {Path(run_dir) / rundir.RUN_FILE} does not exist",
            "pass --dsn",
        )
    return info.connection()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        settings = settings_from(
            env=os.environ, model=args.model, base_url=args.base_url, timeout_s=args.timeout,
            max_retries=0, temperature=0.0, top_p=1.0, max_tokens=args.max_tokens,
            cache_dir=None, concurrency=max(args.concurrency),
        )  # fmt: skip
        prompts = load_prompts(args.data)
        dsn, password_env = None, None
        if args.execute:
            dsn, password_env = (args.dsn, None) if args.dsn else _run_database(args.data)
        levels = load_test(
            settings, prompts, args.concurrency, args.requests,
            warmup=args.warmup, dsn=dsn, semantics=args.semantics, password_env=password_env,
        )  # fmt: skip
        print(table(levels))
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            body = report(settings, str(args.data), len(prompts), levels)
            out.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0

    return run_command(command)


if __name__ == "__main__":
    sys.exit(main())
