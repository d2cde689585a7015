"""The generation pipeline: connect → metadata → cards → plan → generate → validate → dedupe → export.

:func:`run` takes a :class:`RunConfig` and leaves every stage's artifact in the run
directory (``metadata.json``, ``table_cards.md``, ``plan.json``, ``samples.jsonl``,
``rejects.jsonl``, the LLaMA-Factory files, ``report.*``).  The CLI only builds the
config and prints; tests call :func:`run` directly.

This module only orders the stages; each lives in its own module: the config
(:mod:`.config`), terminal progress (:mod:`.progress`), the run directory
(:mod:`.rundir`), the generation loop with its replay (:mod:`.generation`) and the
summary (:mod:`.summary`).  Their names stay importable from here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import rundir
from .config import REPLAY_KEYS, RunConfig, load_yaml
from .errors import ConfigError
from .generation import Generation, TopicProgress, now, value_limit, value_source
from .progress import Progress
from .records import Sample
from .rundir import JsonlAppender, read_jsonl
from .summary import RunResult, summary_lines

# ---------------------------------------------------------------- the run


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
        from .example import example_dsn

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
                config={k: v for k, v in config.to_dict().items() if k in REPLAY_KEYS},
                started_at=state.get("started_at") or now(),
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
                values=value_source(executor, meta.dialect, limit=value_limit(config.samples))
                if config.execute
                else None,
                shape_mix=config.shape_mix,
            )
            source: Any = synth
            progress_of = TopicProgress()
            if client is not None:
                from .llm.generator import LLMGenerator

                source = LLMGenerator(
                    client, gen_meta, dialect=meta.dialect, language=config.language,
                    seed=config.seed, modes=config.modes, synth=synth,
                    repair=config.repair, max_rounds=config.max_rounds, progress=progress_of,
                )  # fmt: skip
            t0 = time.perf_counter()
            gen = Generation(
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
                "finished_at": now(),
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
    now = {k: v for k, v in config.to_dict().items() if k in REPLAY_KEYS}
    changed = sorted(k for k in REPLAY_KEYS if k in state.config and state.config[k] != now[k])
    if changed:
        raise ConfigError(
            f"cannot resume {out}: {', '.join(changed)} differ from the interrupted run",
            "resume with the same settings, or start a new run with another --out",
        )
    if state.database != display:
        raise ConfigError(f"cannot resume {out}: it was made from {state.database}")
    return {"fingerprint": state.fingerprint, "started_at": state.started_at}


__all__ = [
    "JsonlAppender",
    "Progress",
    "RunConfig",
    "RunResult",
    "load_yaml",
    "read_jsonl",
    "run",
    "summary_lines",
    "value_source",
]
