"""The generation pipeline: connect → metadata → cards → plan → generate → validate → dedupe → export.

:func:`run` takes a :class:`RunConfig` and leaves every stage's artifact in the run
directory (``metadata.json``, ``table_cards.md``, ``plan.json``, ``samples.jsonl``,
``rejects.jsonl``, the LLaMA-Factory files, ``report.*``).  The CLI only builds the
config and prints; tests call :func:`run` directly.

Resuming.  Candidates come from deterministic streams (one per topic, seeded from the
run's seed), and every attempt gets a global sequence number ``seq`` that is written
with its outcome — to ``samples.jsonl`` when kept, to ``rejects.jsonl`` otherwise.
``--resume`` replays the same streams and, for each ``seq`` already on disk, takes the
recorded outcome instead of validating again; the first unknown ``seq`` continues the
run.  So an interrupted and resumed run ends with exactly the samples an
uninterrupted one would have made, none twice.  Each record is one ``os.write`` of a
whole line on an ``O_APPEND`` file, so a kill leaves at most a torn last line, which
resume cuts off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hygiene, rundir
from .config import defaults, typed_values
from .connect import DEFAULT_CONNECT_TIMEOUT
from .errors import ConfigError
from .llm.client import LLMSettings
from .records import DIFFICULTIES, Candidate, Column, Rejected, Sample, Table
from .rundir import JsonlAppender, read_jsonl

# The reject reason of a pair that failed validation and went back to its generator.
_BEFORE_REPAIR = "before repair: "
# Candidates validated together (their queries run in parallel on the worker pool).
_BATCH_MAX = 64
_BATCH_SLACK = 8
# At most this share of the requested samples may have a trivial answer (a single 0 or NULL).
_TRIVIAL_SHARE = 0.02
# Settings a resumed run must share with the run it continues: they decide the plan
# and the candidate streams.
_REPLAY_KEYS = (
    "samples", "language", "seed", "mix", "shape_mix", "keep_empty", "max_result_rows", "execute",
    "llm", "model", "modes", "repair", "llm_plan", "temperature", "top_p", "max_rounds",
)  # fmt: skip


# The LLM transport's defaults are the client's own (one copy of each number).
_LLM = defaults(LLMSettings)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, and the one place their defaults live.

    The command line passes only what the user typed (``None`` otherwise) and a YAML
    file's values are type-checked against these annotations, so the order is always
    defaults < YAML < command line (:meth:`from_sources`).
    """

    dsn: str | None = None  # None: the bundled example database
    out: str | None = None  # None: runs/<database name>
    samples: int = 1000
    language: str = "en"
    seed: int = 42
    dev_ratio: float = 0.1
    schema_context: str = "none"  # "none" | "cards" | "retrieved"
    retrieval_k: int = 5  # tables per prompt with schema_context "retrieved"
    retrieval_tokens: int = 2000  # token budget of that schema block
    execute: bool = True
    resume: bool = False
    overwrite: bool = False
    password_env: str | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    schemas: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_views: bool = True
    mix: dict[str, float] = field(
        default_factory=lambda: {"easy": 0.35, "medium": 0.4, "hard": 0.25}
    )
    # Weights of the synthesizer's question shapes (data_create.synth.DEFAULT_SHAPE_MIX for
    # the ones not given), e.g. {"negation": 0.1, "advanced": 0}.
    shape_mix: dict[str, float] | None = None
    keep_empty: bool = False  # keep queries whose result is empty
    max_result_rows: int = 1000  # a larger result is "huge" and not kept
    max_result_bytes: int = 32 * 1024 * 1024  # a larger result is refused while fetching
    # Run generated SQL even when the account is a superuser / has file access (warned).
    allow_privileged_role: bool = False
    timeout: float = 10.0  # per query, seconds
    workers: int = 2  # parallel database connections for the execution layer
    card_tokens: int = 600
    sample_values: int = 5  # per column, in metadata
    # --- LLM (any OpenAI-compatible endpoint); llm=None keeps the run fully offline
    llm: str | None = None  # "openai"
    model: str | None = None
    base_url: str | None = None  # default: $OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable, never from a file
    concurrency: int = _LLM["concurrency"]
    temperature: float = _LLM["temperature"]
    top_p: float = _LLM["top_p"]
    llm_timeout: float = _LLM["timeout_s"]
    max_retries: int = _LLM["max_retries"]
    max_requests: int | None = None
    max_total_tokens: int | None = None
    prices: dict[str, float] | None = None  # {"input": $ per 1M tokens, "output": ...}
    modes: dict[str, float] = field(default_factory=lambda: {"question-first": 1.0})
    repair: bool = True
    max_rounds: int = (
        8  # request rounds per topic; later rounds only happen while samples are short
    )
    llm_plan: bool = True  # let the LLM plan the topics too
    cache_dir: str | None = None  # default: <out>/llm_cache
    # More functions generated SQL may call, beyond the engine's allow-list
    # (--allow-function; "schema.function" for a qualified one).
    allow_functions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        typed_values(RunConfig, dataclasses.asdict(self), "RunConfig")  # wrong types: one line each
        problems = []
        if self.samples < 1:
            problems.append("--samples must be at least 1")
        if self.language not in ("zh", "en"):
            problems.append("--language must be zh or en")
        if not 0 <= self.dev_ratio < 1:
            problems.append("--dev-ratio must be in [0, 1)")
        if self.schema_context not in ("none", "cards", "retrieved"):
            problems.append("--schema-context must be none, cards or retrieved")
        if self.retrieval_k < 1 or self.retrieval_tokens < 1:
            problems.append("retrieval_k and retrieval_tokens must be positive")
        if set(self.mix) - set(DIFFICULTIES) or not any(v > 0 for v in self.mix.values()):
            problems.append(f"mix must weigh some of {', '.join(DIFFICULTIES)}")
        if self.shape_mix is not None:
            from .synth import check_shape_mix

            if not isinstance(self.shape_mix, dict):
                problems.append("shape_mix must map shape families to weights")
            else:
                try:
                    check_shape_mix(self.shape_mix)
                except ConfigError as exc:
                    problems.append(exc.message)
        if self.llm not in (None, "openai"):
            problems.append("--llm must be openai (any OpenAI-compatible endpoint)")
        if self.llm and not self.model:
            problems.append("--llm needs --model")
        if self.concurrency < 1:
            problems.append("--concurrency must be at least 1")
        unknown_modes = set(self.modes) - {"question-first", "sql-first", "paraphrase"}
        if unknown_modes or not any(v > 0 for v in self.modes.values()):
            problems.append("modes must weigh some of question-first, sql-first, paraphrase")
        if self.timeout <= 0 or self.max_result_rows < 1 or self.workers < 1:
            problems.append("--timeout, --workers and max_result_rows must be positive")
        if self.max_result_bytes < 1:
            problems.append("max_result_bytes must be positive")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_sources(cls, yaml_path: str | None, overrides: dict[str, Any]) -> RunConfig:
        """Defaults, then the YAML file, then command-line ``overrides`` (None = not given)."""
        values: dict[str, Any] = {}
        if yaml_path:
            values.update(load_yaml(yaml_path))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def llm_settings(self, out: Path) -> LLMSettings:
        """The LLM client's settings for ``--llm openai``; the key comes from the environment."""
        return LLMSettings(
            model=self.model or "",
            base_url=self.base_url or os.environ.get("OPENAI_BASE_URL") or _LLM["base_url"],
            # Local servers (vLLM, Ollama, llamafactory-cli api) accept any key.
            api_key=os.environ.get(self.api_key_env) or "EMPTY",
            timeout_s=self.llm_timeout,
            max_retries=self.max_retries,
            concurrency=self.concurrency,
            temperature=self.temperature,
            top_p=self.top_p,
            max_requests=self.max_requests,
            max_total_tokens=self.max_total_tokens,
            prices=self.prices,
            cache_dir=Path(self.cache_dir) if self.cache_dir else out / "llm_cache",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def load_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value")
    allowed = {f.name for f in dataclasses.fields(RunConfig)} - {"resume", "overwrite"}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    if "schema" in data:  # the CLI spells it --schema
        data["schemas"] = data.pop("schema")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown option(s) {', '.join(unknown)}",
            f"known options: {', '.join(sorted(allowed))}",
        )
    return typed_values(RunConfig, data, f"config file {path}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------- progress


class Progress:
    """One line per stage on stderr: redrawn in place on a terminal; elsewhere (logs, CI)
    one line when a stage finishes, so a failure's message stands alone."""

    def __init__(self, stream: Any = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._label = ""

    def start(self, label: str, total: int | None = None) -> None:
        self._label, self._total, self._started = label, total, time.perf_counter()
        if self.tty:
            self.stream.write(f"\r{label} ...\x1b[K")
            self.stream.flush()

    def update(self, done: int, note: str = "") -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last < 0.1:
            return
        self._last = now
        self.stream.write("\r" + self._line(done, note) + "\x1b[K")
        self.stream.flush()

    def finish(self, done: int | None = None, note: str = "") -> None:
        if not self.enabled:
            return
        took = time.perf_counter() - self._started
        line = self._line(done, note) if done is not None else self._label
        end = f"{line}  ({took:.1f}s)"
        if self.tty:
            self.stream.write("\r" + end + "\x1b[K\n")
        else:
            print(end, file=self.stream)
        self.stream.flush()

    def _line(self, done: int | None, note: str) -> str:
        if done is None:
            return self._label
        if self._total:
            width = 24
            filled = min(width, int(width * done / self._total))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self._label:<10} [{bar}] {done}/{self._total}"
        else:
            text = f"{self._label:<10} {done}"
        return f"{text} {note}".rstrip()


# ---------------------------------------------------------------- values for filters


def value_source(
    executor: Any, dialect: str, limit: int = 30
) -> Callable[[Table, Column], list[Any]]:
    """Real values of a column, most frequent first, from a targeted GROUP BY query.

    Falls back to the metadata's sample values when the query fails (timeout, rights).
    Results are cached per column for the run.
    """
    import sqlglot
    from sqlglot import exp

    cache: dict[tuple[str, str], list[Any]] = {}

    def values(table: Table, column: Column) -> list[Any]:
        key = (table.qualified_name, column.name)
        if key not in cache:
            col = exp.column(column.name, quoted=True)
            query = (
                sqlglot.select(col, exp.alias_(exp.Count(this=exp.Star()), "n"))
                .from_(exp.to_table(table.qualified_name, quoted=True))
                .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
                .group_by(col.copy())
                .order_by(exp.Ordered(this=exp.column("n"), desc=True), col.copy())
                .limit(limit)
            )
            result = executor.execute(query.sql(dialect=dialect))
            if result.ok and result.rows:
                cache[key] = [row[0] for row in result.rows]
            else:
                cache[key] = list(column.samples)
        return cache[key]

    return values


def _value_limit(samples: int) -> int:
    """Real values fetched per filterable column for a request of ``samples``."""
    return max(30, min(400, samples // 50))


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    requested: int
    accepted: int
    attempts: int
    rejected: int
    resumed_from: int  # samples already on disk when the run started
    elapsed_s: float
    generate_s: float
    stats: dict[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def samples_per_s(self) -> float:
        new = self.accepted - self.resumed_from
        return new / self.generate_s if self.generate_s > 0 else 0.0


def run(config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Make the dataset ``config`` asks for; see the module docstring."""
    from . import cards, export, links, metadata, planner, report
    from .connect import connect
    from .dedupe import Deduper
    from .executor import Executor, ExecutorPool
    from .synth import Synthesizer
    from .validator import Validator, reason_kind

    progress = progress or Progress(enabled=False)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    warnings: list[str] = []

    def timed(stage: str, t0: float) -> None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    progress.start("connect")
    dsn = config.dsn
    if not dsn:
        from .example_db import example_dsn

        dsn = example_dsn()
    db = connect(
        dsn,
        password_env=config.password_env,
        connect_timeout=config.connect_timeout,
        allow_privileged=True if config.allow_privileged_role else None,
    )
    if db.privileged:
        warnings.append(
            f"the account is privileged ({', '.join(db.privileged)}); use a read-only role"
        )
    progress.finish(note=db.display)
    timed("connect", t0)
    out = Path(config.out or Path("runs") / db.name)
    try:
        state = _prepare_dir(out, config, db.display)
        client = _llm_client(config, out) if config.llm else None
        if client is not None:  # an endpoint that is down ends the run here, in one line,
            client.preflight()  # before the schema is read and minutes of retries begin

        t0 = time.perf_counter()
        progress.start("metadata")
        meta = metadata.extract(
            db,
            metadata.ExtractOptions(
                schemas=config.schemas,
                include=config.include,
                exclude=config.exclude,
                include_views=config.include_views,
                sample_values=config.sample_values,
            ),
        )
        metadata.write(meta, out / "metadata.json")
        if state.get("fingerprint") and state["fingerprint"] != meta.fingerprint:
            raise ConfigError(
                f"the schema changed since the run in {out} started (fingerprint differs)",
                "start a new run with another --out (or --overwrite)",
            )
        warnings += meta.options.get("warnings", [])
        progress.finish(note=f"{len(meta.tables)} tables/views")
        timed("metadata", t0)

        t0 = time.perf_counter()
        table_cards = cards.build(meta, budget_tokens=config.card_tokens)
        (out / "table_cards.md").write_text(
            cards.render_markdown(meta, table_cards), encoding="utf-8"
        )
        timed("cards", t0)

        t0 = time.perf_counter()
        progress.start("plan")
        if client is not None and config.llm_plan:
            from .llm.planner import plan_with_llm

            plan, plan_warnings = plan_with_llm(
                client, meta, config.samples, language=config.language
            )
            warnings += plan_warnings
        else:
            plan = planner.plan(meta, config.samples, language=config.language)
        rundir.write_json(out / rundir.PLAN, plan.to_dict())
        progress.finish(note=f"{len(plan.topics)} topics")
        timed("plan", t0)

        rundir.write_json(
            out / rundir.RUN_FILE,
            rundir.run_record(
                url=db.url,
                display=db.display,
                password_env=config.password_env,
                fingerprint=meta.fingerprint,
                config={k: v for k, v in config.to_dict().items() if k in _REPLAY_KEYS},
                started_at=state.get("started_at") or _now(),
            ),
        )

        executor = Executor(
            db,
            timeout_s=config.timeout,
            row_cap=config.max_result_rows,
            byte_cap=config.max_result_bytes,
        )
        pool = ExecutorPool(
            db,
            workers=config.workers,
            timeout_s=config.timeout,
            row_cap=config.max_result_rows,
            byte_cap=config.max_result_bytes,
        )
        try:
            validator = Validator(
                meta,
                meta.dialect,
                pool=pool if config.execute else None,
                allow_functions=config.allow_functions,
            )
            # Schemas that declare no foreign keys (mall, many MySQL shops) still join
            # on columns like order_id; metadata.extract() confirmed those links against
            # the data, and the generators read joins from Table.foreign_keys.
            gen_meta = links.fold(meta)
            synth = Synthesizer(
                gen_meta,
                dialect=meta.dialect,
                language=config.language,
                seed=config.seed,
                mix=config.mix,
                # A larger request needs more distinct questions, hence more real values to
                # ask about (30 per column at 1,000 samples, 400 at 20,000).
                values=value_source(executor, meta.dialect, limit=_value_limit(config.samples))
                if config.execute
                else None,
                shape_mix=config.shape_mix,
            )
            source: Any = synth
            progress_of = _TopicProgress()
            if client is not None:
                from .llm.generator import LLMGenerator

                source = LLMGenerator(
                    client, gen_meta, dialect=meta.dialect, language=config.language,
                    seed=config.seed, modes=config.modes, synth=synth,
                    repair=config.repair, max_rounds=config.max_rounds, progress=progress_of,
                )  # fmt: skip
            t0 = time.perf_counter()
            gen = _Generation(
                out, config, plan, meta, db.name, validator, source, Deduper(meta.dialect),
                reason_kind, progress, progress_of, pool if config.execute else None,
            )  # fmt: skip
            gen.run()
            timed("generate", t0)
        finally:
            pool.close()
            executor.close()
            if client is not None:
                llm_accounting = client.accounting()
                client.close()
        llm_failed = llm_accounting.get("failures_by_kind", {}) if client is not None else {}
        if gen.accepted < config.samples and llm_failed:  # not the schema's fault
            kinds = ", ".join(f"{k} {n}" for k, n in llm_failed.items())
            warnings.append(
                f"made {gen.accepted} of {config.samples} samples: "
                f"{sum(llm_failed.values())} LLM requests failed ({kinds}); see rejects.jsonl"
            )
        elif gen.accepted < config.samples:
            warnings.append(
                f"made {gen.accepted} of {config.samples} samples: the schema has no more "
                "distinct questions the generator can ask (every topic ran out of new queries; "
                "see rejects.jsonl and report.md)"
            )

        t0 = time.perf_counter()
        progress.start("export")
        samples = [
            Sample.from_dict({k: v for k, v in r.items() if k != "seq"})
            for r in read_jsonl(out / rundir.SAMPLES)
        ]
        summary = export.export(
            samples,
            out,
            metadata=meta,
            dev_ratio=config.dev_ratio,
            seed=config.seed,
            schema_context=config.schema_context,
            card_tokens=config.card_tokens,
            retrieval_k=config.retrieval_k,
            retrieval_tokens=config.retrieval_tokens,
        )
        progress.finish(note=f"{len(samples)} samples")
        timed("export", t0)

        t0 = time.perf_counter()
        elapsed = time.perf_counter() - started
        stats = report.build_stats(
            samples=samples,
            rejects_by_layer=dict(gen.rejects_by_layer),
            rejects_by_reason=dict(gen.rejects_by_reason),
            plan=plan,
            metadata=meta,
            timings=dict(timings),
            shape_mix=getattr(synth, "shape_mix", None),
            run_info={
                "database": db.display,
                "engine": meta.engine,
                "dialect": meta.dialect,
                "seed": config.seed,
                "language": config.language,
                "samples_requested": config.samples,
                "samples_accepted": len(samples),
                "attempts": gen.attempts,
                "resumed_from": gen.resumed_from,
                # Exact repeats the synthesizer dropped before phrasing them (not attempts).
                "synth_repeats": sum(getattr(source, "repeats", {}).values()),
                "trivial_kept": gen.trivial,
                "elapsed_s": round(elapsed, 3),
                "samples_per_s": round(
                    (len(samples) - gen.resumed_from) / max(timings["generate"], 1e-9), 1
                ),
                "export": {
                    k: v
                    for k, v in summary.to_dict().items()
                    if k
                    in (
                        "train",
                        "dev",
                        "train_skeletons",
                        "dev_skeletons",
                        "schema_context",
                        "prompt_tokens",
                        "tables_covered",
                    )
                },
                "warnings": warnings,
                "llm": llm_accounting if client is not None else None,
                "finished_at": _now(),
            },
        )
        report.write_reports(out, stats)
        timed("report", t0)
    finally:
        db.dispose()
    return RunResult(
        out_dir=out,
        requested=config.samples,
        accepted=gen.accepted,
        attempts=gen.attempts,
        rejected=sum(gen.rejects_by_layer.values()),
        resumed_from=gen.resumed_from,
        elapsed_s=time.perf_counter() - started,
        generate_s=timings["generate"],
        stats=stats,
        warnings=tuple(warnings),
    )


def _llm_client(config: RunConfig, out: Path) -> Any:
    """The LLM client for ``--llm openai``."""
    from .llm.client import LLMClient

    return LLMClient(config.llm_settings(out))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _prepare_dir(out: Path, config: RunConfig, display: str) -> dict[str, Any]:
    """Check the run directory against --resume/--overwrite; the previous run's state."""
    run_file = out / rundir.RUN_FILE
    has_run = run_file.exists() or (out / rundir.SAMPLES).exists()
    if has_run and not (config.resume or config.overwrite):
        raise ConfigError(
            f"{out} already holds a run",
            "pass --resume to continue it, --overwrite to start it again, or choose another --out",
        )
    if config.overwrite and not config.resume:
        for name in (rundir.SAMPLES, rundir.REJECTS, rundir.RUN_FILE):
            (out / name).unlink(missing_ok=True)
        return {}
    out.mkdir(parents=True, exist_ok=True)
    state = rundir.read_run(out) if config.resume else None
    if state is None:
        return {}
    now = {k: v for k, v in config.to_dict().items() if k in _REPLAY_KEYS}
    changed = sorted(k for k in _REPLAY_KEYS if k in state.config and state.config[k] != now[k])
    if changed:
        raise ConfigError(
            f"cannot resume {out}: {', '.join(changed)} differ from the interrupted run",
            "resume with the same settings, or start a new run with another --out",
        )
    if state.database != display:
        raise ConfigError(f"cannot resume {out}: it was made from {state.database}")
    return {"fingerprint": state.fingerprint, "started_at": state.started_at}


class _TopicProgress:
    """What the pipeline has accepted of each topic and still wants from it now.

    An LLM generator sizes its request rounds by this: the pipeline's own checks
    (dedupe, empty or huge results) reject part of what a generator yields.
    """

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.wanted: Counter[str] = Counter()

    def __call__(self, topic: Any) -> tuple[int, int]:
        return self.accepted[topic.name], self.wanted[topic.name]


class _Generation:
    """The generate → validate → dedupe loop over the plan's topics, with replay."""

    def __init__(
        self, out, config, plan, meta, database, validator, synth, deduper, reason_kind,
        progress, topic_progress, pool=None,
    ):  # fmt: skip
        self.config, self.plan, self.meta, self.database = config, plan, meta, database
        self.validator, self.synth, self.deduper = validator, synth, deduper
        self.reason_kind, self.progress = reason_kind, progress
        self.topic_progress = topic_progress
        self.pool = pool
        self.trivial_sql: set[str] = set()  # one-row answers that are a single 0 or NULL
        self.samples_path, self.rejects_path = out / rundir.SAMPLES, out / rundir.REJECTS
        # Replay what is on disk (resume): seq -> accepted?  For a reject, the record too
        # (a repair it asked for is asked again, answered from the LLM cache).
        self.replay: dict[int, bool] = {}
        self.replayed_rejects: dict[int, dict[str, Any]] = {}
        done_samples = read_jsonl(self.samples_path, repair=True)
        done_rejects = read_jsonl(self.rejects_path, repair=True)
        for r in done_samples:
            self.replay[int(r["seq"])] = True
        for r in done_rejects:
            self.replay[int(r["seq"])] = False
            self.replayed_rejects[int(r["seq"])] = r
        # A generator that repairs what fails validation (the LLM's question-first pairs)
        # gets the failures back from here: each candidate is validated once, here.
        self.repairer = synth if hasattr(synth, "repair_many") else None
        self.topics = {t.name: t for t in plan.topics}
        self.resumed_from = len(done_samples)
        self.trivial = sum(1 for r in done_samples if r.get("validation", {}).get("trivial"))
        # A single 0 or NULL answers little: such samples stay a small share of the set.
        self.trivial_cap = int(_TRIVIAL_SHARE * config.samples)
        self.rejects_by_layer: Counter[str] = Counter(r["layer"] for r in done_rejects)
        self.rejects_by_reason: Counter[str] = Counter(
            reason_kind(r["layer"], r["reason"]) for r in done_rejects
        )
        self.seen_sql: set[str] = set()
        self.accepted = 0
        self.attempts = 0
        self.seq = 0

    def run(self) -> None:
        total = self.config.samples
        self.progress.start("generate", total)
        samples_out = JsonlAppender(self.samples_path)
        rejects_out = JsonlAppender(self.rejects_path)
        try:
            streams = {t.name: self.synth.candidates(t) for t in self.plan.topics}
            exhausted: set[str] = set()
            carry = 0
            for topic in self.plan.topics:  # round 1: each topic its share, plus any shortfall
                want = topic.count + carry
                got = self._pull(topic.name, streams, want, exhausted, samples_out, rejects_out)
                carry = want - got
            while carry > 0 and len(exhausted) < len(streams):  # round 2: spread what is left
                for topic in self.plan.topics:
                    if carry <= 0:
                        break
                    if topic.name in exhausted:
                        continue
                    carry -= self._pull(topic.name, streams, 1, exhausted, samples_out, rejects_out)
        finally:
            samples_out.close()
            rejects_out.close()
        self.progress.finish(self.accepted, f"kept of {self.attempts} tried")

    def _pull(self, topic, streams, want, exhausted, samples_out, rejects_out) -> int:
        got = 0
        stream: Iterator[Candidate] = streams[topic]
        self.topic_progress.wanted[topic] = want
        while got < want:
            # Batches are sized by how many samples are still wanted, never by timing,
            # so a resumed run cuts every stream at the same places as the first one.
            batch = list(itertools.islice(stream, min(_BATCH_MAX, want - got + _BATCH_SLACK)))
            if not batch:
                exhausted.add(topic)
                break
            # Validated in chunks of what is still wanted: every candidate validated is
            # then tried and logged (the rest of a batch is looked at, never tried, and
            # replay skips it the same way).  Repairs join the front of the queue.
            queue = deque((c, True) for c in batch)
            while queue and got < want:
                chunk = [queue.popleft() for _ in range(min(len(queue), want - got))]
                verdicts = self._validate([c for c, _ in chunk])
                failures: list[tuple[Candidate, str, str]] = []
                for (candidate, may_repair), verdict in zip(chunk, verdicts, strict=True):
                    self.seq += 1
                    self.attempts += 1
                    repairable = (
                        may_repair
                        and self.repairer is not None
                        and not isinstance(candidate, Rejected)
                        and self.repairer.can_repair(candidate)
                    )
                    outcome = self._attempt(
                        candidate, verdict, samples_out, rejects_out, repairable
                    )
                    if outcome is True:
                        got += 1
                        self.accepted += 1
                        self.topic_progress.accepted[topic] += 1
                        self.topic_progress.wanted[topic] = want - got
                        self.progress.update(self.accepted, f"({self.attempts} tried)")
                    elif outcome:  # (layer, reason): the generator may repair it
                        failures.append((candidate, *outcome))
                if failures and got < want:
                    repaired = self.repairer.repair_many(self.topics[topic], failures)
                    queue.extendleft((c, False) for c in reversed(repaired))
        self.topic_progress.wanted[topic] = 0
        return got

    def _validate(self, batch: list[Candidate]) -> list[Any]:
        """Verdicts for the candidates of a batch that will need one, executed in parallel.

        Candidate ``i`` will be attempt ``seq + i + 1``; those already on disk (resume)
        and repeats of a query seen before need none.
        """
        todo: list[int] = []
        fresh: set[str] = set()
        for i, c in enumerate(batch):
            if isinstance(c, Rejected):  # the generator already judged it (LLM faults)
                continue
            if self.seq + i + 1 in self.replay or c.sql in self.seen_sql or c.sql in fresh:
                continue
            # A duplicate of an accepted sample stays one (the accepted set only grows):
            # no need to run it.
            if self.deduper.duplicate(c.question, c.sql):
                continue
            fresh.add(c.sql)
            todo.append(i)
        verdicts: list[Any] = [None] * len(batch)
        found = self.validator.validate_many([batch[i].sql for i in todo])
        for i, verdict in zip(todo, found, strict=True):
            verdicts[i] = verdict
        # Which one-row answers are a single 0 or NULL (COUNT of nothing, SUM of no rows):
        # the verdict of the one execution says; only one-value aggregates count.
        for i in todo:
            if verdicts[i].trivial and {"aggregate", "count"} & set(batch[i].features):
                self.trivial_sql.add(batch[i].sql)
        return verdicts

    def _attempt(
        self,
        c: Candidate,
        verdict: Any,
        samples_out: JsonlAppender,
        rejects_out: JsonlAppender,
        repairable: bool = False,
    ) -> bool | tuple[str, str]:
        """True when ``c`` becomes a sample; False when it is rejected; ``(layer, reason)``
        when it failed validation and goes back to its generator for repair."""
        # The synthesizer is deterministic: a repeat is the same text, caught before it
        # costs a validation; the Deduper then compares normalized forms.
        key = c.sql
        replayed = self.replay.get(self.seq)
        if replayed is not None:  # resume: the outcome is on disk already
            if isinstance(c, Rejected):
                return False
            self.seen_sql.add(key)
            if replayed:
                self.deduper.check(c.question, c.sql)
                return True
            record = self.replayed_rejects[self.seq]
            if repairable and record["reason"].startswith(_BEFORE_REPAIR):
                return record["layer"], record["reason"].removeprefix(_BEFORE_REPAIR)
            return False
        if isinstance(c, Rejected):
            return self._reject(c, rejects_out, c.layer, c.reason)
        if key in self.seen_sql:
            return self._reject(c, rejects_out, "dedupe", "exact duplicate SQL")
        self.seen_sql.add(key)
        if verdict is None:  # skipped by _validate: a duplicate of an accepted sample
            reason = self.deduper.duplicate(c.question, c.sql) or "duplicate"
            return self._reject(c, rejects_out, "dedupe", reason)
        if not verdict.ok:
            layer, reason = verdict.layer or "syntax", verdict.reason or ""
            if repairable:  # logged now; the repaired pair is a new attempt of its own
                self._reject(c, rejects_out, layer, _BEFORE_REPAIR + reason)
                return layer, reason
            return self._reject(c, rejects_out, layer, reason)
        problem = hygiene.sample_problem(c.question, c.sql)
        if problem:  # control tokens, injection markers: never into the training files
            return self._reject(c, rejects_out, "hygiene", problem)
        if verdict.truncated:
            return self._reject(
                c, rejects_out, "execution",
                f"result larger than {self.config.max_result_rows} rows",
            )  # fmt: skip
        if verdict.empty and not self.config.keep_empty:
            return self._reject(c, rejects_out, "execution", "empty result")
        trivial = c.sql in self.trivial_sql
        if trivial and self.trivial >= self.trivial_cap:
            return self._reject(c, rejects_out, "execution", "trivial result (a single 0 or NULL)")
        duplicate = self.deduper.check(c.question, c.sql)
        if duplicate:  # it ran: logged with its text, as every executed query is
            return self._reject(c, rejects_out, "dedupe", duplicate, ran=True)
        validation = (
            {"rows": verdict.rows, "elapsed_ms": verdict.elapsed_ms, "empty": verdict.empty,
             "truncated": verdict.truncated}
            if verdict.rows is not None
            else {"executed": False}
        )  # fmt: skip
        if trivial:
            validation["trivial"] = True
            self.trivial += 1
        sample = Sample(
            id=f"{self.database}-{self.seq:06d}",
            question=c.question,
            sql=c.sql,
            dialect=self.meta.dialect,
            database=self.database,
            topic=c.topic,
            tables=c.tables,
            difficulty=c.difficulty,
            features=c.features,
            language=c.language,
            generator=c.generator,
            validation=validation,
            created_at=_now(),
            shape=getattr(c, "shape", None),
        )
        samples_out.write({"seq": self.seq, **sample.to_dict()})
        return True

    def _reject(
        self, c: Candidate, out: JsonlAppender, layer: str, reason: str, ran: bool = False
    ) -> bool:
        record = {
            "seq": self.seq,
            "question": c.question,
            "sql": c.sql,
            "topic": c.topic,
            "difficulty": getattr(c, "difficulty", None),
            "generator": c.generator,
            "layer": layer,
            "reason": reason,
        }
        if layer == "dedupe" and not ran:
            # A repeat of a kept sample, never run: counted, and written without its text
            # (the kept sample has it), so a large run's rejects file stays small.
            del record["question"], record["sql"], record["difficulty"]
        out.write(record)
        self.rejects_by_layer[layer] += 1
        self.rejects_by_reason[self.reason_kind(layer, reason)] += 1
        return False


def summary_lines(result: RunResult) -> list[str]:
    """The table the CLI prints at the end."""
    s = result.stats
    run_info = s.get("run", {})
    validity = s.get("validity", {})
    by_layer = sorted(s.get("rejects", {}).get("by_layer", {}).items(), key=lambda kv: -kv[1])
    tables = s.get("tables", {})
    features = [k for k, v in s.get("features", {}).items() if v]
    rows = [
        ("samples", f"{result.accepted} / {result.requested}"),
        ("tried", f"{result.attempts} candidates, {result.rejected} rejected"),
        ("rejects", ", ".join(f"{k} {v}" for k, v in by_layer) or "none"),
        ("difficulty", ", ".join(f"{k} {v}" for k, v in s.get("difficulty", {}).items())),
        ("features", f"{len(features)}: {', '.join(features)}"),
        ("skeletons", f"{s.get('skeletons', {}).get('distinct', '?')} distinct"),
        (
            "tables",
            f"{len(tables.get('covered', []))} covered of {len(tables.get('non_empty', []))} "
            "non-empty",
        ),
        ("speed", f"{result.samples_per_s:.0f} samples/s; {result.elapsed_s:.1f}s in all"),
    ]
    if validity:
        rows.insert(2, ("empty", f"{validity.get('empty', 0)} kept with empty results"))
    if run_info.get("resumed_from"):
        rows.insert(1, ("resumed", f"from {run_info['resumed_from']} samples on disk"))
    width = max(len(k) for k, _ in rows)
    return [f"  {k:<{width}}  {v}" for k, v in rows]


__all__ = [
    "JsonlAppender",
    "Progress",
    "RunConfig",
    "RunResult",
    "read_jsonl",
    "run",
    "summary_lines",
    "value_source",
]
