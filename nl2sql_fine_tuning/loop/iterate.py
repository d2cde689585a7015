"""One iteration of the learning loop: intake → targeted data → dataset version → train →
evaluate → gate → promote (or keep as a refused candidate) → settle the items used.

Triggered by command (``run --force``), by threshold (``trigger_failures`` pending
failures), by a schema drift the served version was not trained on, or — the first
time — because nothing is served yet.  Training refuses to start while the database's
structure differs from the run's ``metadata.json``: ``python -m data_create drift``
must quarantine what broke first, so no broken sample reaches training.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

from . import dataset as dataset_mod
from . import intake as intake_mod
from . import train as train_mod
from .home import LoopConfig, LoopHome, append_jsonl, read_jsonl, write_jsonl
from .registry import ModelVersion, Registry


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class IterationResult:
    number: int
    trigger: str
    skipped: str | None = None
    dataset: str | None = None
    version: str | None = None
    incumbent: str | None = None
    promoted: bool = False
    decision: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def connect(config: LoopConfig) -> Any:
    from data_create.connect import connect as db_connect

    return db_connect(config.dsn, password_env=config.password_env)


def current_metadata(config: LoopConfig, db: Any) -> Any:
    """The run's metadata, after checking the database still has that structure."""
    from data_create import metadata

    meta = metadata.read(Path(config.run) / "metadata.json")
    recorded = meta.options or {}
    live = metadata.extract(
        db,
        metadata.ExtractOptions(
            schemas=tuple(recorded.get("schemas") or ()),
            include=tuple(recorded.get("include") or ()),
            exclude=tuple(recorded.get("exclude") or ()),
            include_views=bool(recorded.get("include_views", True)),
            sample_values=0,
        ),
    )
    if live.fingerprint != meta.fingerprint:
        raise ConfigError(
            f"the database's structure changed since {config.run} was made (schema drift)",
            f"run: python -m data_create drift --dsn {config.dsn} --run {config.run}  "
            "(quarantines what broke, regenerates data), then run the loop again",
        )
    return meta


def trigger_of(home: LoopHome, config: LoopConfig, force: bool, meta: Any) -> tuple[str, str]:
    """(trigger, reason): trigger is "" when nothing should run."""
    registry = Registry(home.root)
    served = registry.promoted()
    waiting = len(intake_mod.pending_failures(home))
    if served is None:
        return "bootstrap", "no version is served yet"
    lineage = home.datasets / served.dataset / "lineage.json"
    if lineage.exists():
        fp = json.loads(lineage.read_text(encoding="utf-8")).get("fingerprint")
        if fp and fp != meta.fingerprint:
            return "drift", f"{served.name} was trained before the schema changed"
    if force:
        return "command", f"forced ({waiting} pending failures)"
    if waiting >= config.trigger_failures:
        return "threshold", f"{waiting} pending failures >= {config.trigger_failures}"
    return "", f"{waiting} pending failures, below the threshold of {config.trigger_failures}"


def incumbent_results(
    config: LoopConfig,
    served: ModelVersion,
    items: list[dict[str, Any]],
    meta: Any,
    work: Path,
    timings: train_mod.Timings,
    language: str,
) -> dict[str, bool]:
    """The served version's per-item results on ``items``: reused when measured on this
    schema, predicted with its own weights for the rest."""
    known = (
        served.metrics.get("items", {})
        if served.metrics.get("fingerprint") == meta.fingerprint
        else {}
    )
    gold_of = served.metrics.get("gold", {})
    results = {
        i["id"]: known[i["id"]]
        for i in items
        if i["id"] in known and gold_of.get(i["id"]) == i["sql"]
    }
    missing = [i for i in items if i["id"] not in results]
    if missing:
        eval_dir = dataset_mod.export_eval(work / "eval", missing, meta, language)
        texts = train_mod.predict(config, served, eval_dir, work, timings)
        t0 = time.perf_counter()
        results.update(train_mod.score(missing, texts, config.dsn, meta.dialect, work / "score"))
        timings.add("evaluate", time.perf_counter() - t0)
    return results


def settle(home: LoopHome, record: dict[str, Any], promoted: bool) -> None:
    """Mark what an iteration used as trained (promoted) or refused; on promotion its
    corrections join the frozen regression set (replacing ones they superseded)."""
    status = "trained" if promoted else "refused"
    used = set(record.get("intake_items", []))
    intake = read_jsonl(home.intake)
    for r in intake:
        if r["id"] in used and r["status"] in ("pending", "refused", "trained"):
            r["status"] = status
    write_jsonl(home.intake, intake)
    new = set(record.get("corrections_new", []))
    corrections = read_jsonl(home.corrections)
    for c in corrections:
        if c["id"] in new:
            c["status"] = status
        if not promoted and c.get("superseded_by") in new:
            c["superseded_by"] = None  # the refused correction does not replace it
        if promoted and c.get("superseded_by") in new:
            c["status"] = "superseded"
    write_jsonl(home.corrections, corrections)
    targeted_path = home.root / "targeted.jsonl"
    targeted = read_jsonl(targeted_path)
    for t in targeted:
        if t.get("iteration") == record["number"]:
            t["status"] = status
    write_jsonl(targeted_path, targeted)
    if promoted:
        superseded = {c["id"] for c in corrections if c["status"] == "superseded"}
        regression = [r for r in read_jsonl(home.regression) if r["id"] not in superseded]
        have = {r["id"] for r in regression}
        for c in corrections:
            if c["id"] in new and c["id"] not in have:
                regression.append(
                    {
                        "id": c["id"],
                        "kind": c["kind"],
                        "question": c["question"],
                        "sql": c["sql"],
                        "added_at": _now(),
                        "version": record.get("version"),
                    }
                )
        write_jsonl(home.regression, regression)


def run_iteration(home: LoopHome, *, force: bool = False, echo: Any = None) -> IterationResult:
    """Run one iteration if it is triggered; see the module docstring."""
    started = time.perf_counter()
    say = echo or (lambda _msg: None)
    config = home.config()
    registry = Registry(home.root)
    previous = read_jsonl(home.iterations)
    number = len(previous) + 1
    db = connect(config)
    timings = train_mod.Timings()
    try:
        meta = current_metadata(config, db)
        trigger, reason = trigger_of(home, config, force, meta)
        if not trigger:
            return IterationResult(
                number, "", skipped=reason, seconds=time.perf_counter() - started
            )
        say(f"iteration {number}: {trigger} ({reason})")
        served = registry.promoted()
        failures = intake_mod.pending_failures(home)
        pending_items = intake_mod.pending(home)

        # Targeted data for each failure (same tables, same shape), validated and executed.
        t0 = time.perf_counter()
        from data_create.targeted import synthesize

        requests = dataset_mod.targeted_requests(
            failures, meta, config.targeted_per_failure, home.root / "retrieval_index"
        )
        targeted_path = home.root / "targeted.jsonl"
        old_targeted = read_jsonl(targeted_path)
        corrections_all = read_jsonl(home.corrections)
        # Whatever the dataset already holds is taken: new pairs must be new.
        known = [(c["question"], c["sql"]) for c in corrections_all]
        known += [(r["question"], r["sql"]) for r in read_jsonl(Path(config.run) / "samples.jsonl")]
        known += [(t["question"], t["sql"]) for t in old_targeted if t["status"] == "trained"]
        made = synthesize(
            db,
            meta,
            requests,
            id_prefix=f"t{number}",
            seed=config.seed + number,
            language=config.language,
            known=known,
        )
        append_jsonl(
            targeted_path,
            ({**s.to_dict(), "iteration": number, "status": "pending"} for s in made.samples),
        )
        timings.add("targeted", time.perf_counter() - t0)
        from data_create.records import Sample

        targeted = [
            Sample.from_dict({k: v for k, v in t.items() if k in Sample.__dataclass_fields__})
            for t in old_targeted
            if t["status"] == "trained"
        ] + list(made.samples)
        corrections = [
            c
            for c in corrections_all
            if c["status"] in ("trained", "pending") and not c.get("superseded_by")
        ]
        corrections_new = [c["id"] for c in corrections_all if c["status"] == "pending"]

        t0 = time.perf_counter()
        parent = registry.promoted().dataset if served else None
        data = dataset_mod.build(
            home,
            config,
            meta,
            corrections=corrections,
            targeted=targeted,
            failures=failures,
            intake_ids=[p["id"] for p in pending_items],
            parent=parent,
        )
        timings.add("dataset", time.perf_counter() - t0)
        say(
            f"  dataset {data.name}: {data.train} train records, {data.dev} dev; "
            f"{data.counts}; {data.dropped} dropped"
        )

        version_dir = home.models / f"v{len(registry.versions()) + 1}"
        version_dir.mkdir(parents=True, exist_ok=True)
        trained = train_mod.train(config, data.path, version_dir, timings)
        say(f"  trained in {trained.seconds:.1f}s (loss {trained.train_loss})")
        version = registry.add(
            base_model=config.base_model,
            adapter=trained.adapter,
            model_path=trained.model_path,
            dataset=data.name,
            recipe=trained.recipe,
            metrics={},
            note=f"iteration {number}: {trigger}",
        )
        if version_dir.name != version.name:  # a concurrent add; keep names and dirs in step
            raise ConfigError(f"registry and model directories disagree ({version.name})")

        items = list(data.eval_items)
        candidate: dict[str, bool] = {}
        if items:
            texts = train_mod.predict(
                config, trained, data.path / dataset_mod.EVAL_DIR, version_dir / "predict", timings
            )
            t0 = time.perf_counter()
            candidate = train_mod.score(
                items, texts, config.dsn, meta.dialect, version_dir / "eval"
            )
            timings.add("evaluate", time.perf_counter() - t0)
        incumbent = None
        if served is not None and items:
            incumbent = incumbent_results(
                config,
                served,
                items,
                meta,
                version_dir / f"incumbent-{served.name}",
                timings,
                config.language,
            )
            merged = {**served.metrics.get("items", {}), **incumbent}
            gold = {**served.metrics.get("gold", {}), **{i["id"]: i["sql"] for i in items}}
            registry.update(
                served.name,
                metrics={
                    **served.metrics,
                    "items": merged,
                    "gold": gold,
                    "fingerprint": meta.fingerprint,
                },
            )
        decision = train_mod.decide(config.gate, items, candidate, incumbent)
        metrics = train_mod.summarize(items, candidate, meta.fingerprint)
        metrics["gold"] = {i["id"]: i["sql"] for i in items}
        metrics["train_loss"] = trained.train_loss
        registry.update(version.name, metrics=metrics, gate=decision.to_dict())
        if decision.promote:
            registry.promote(version.name, reason=f"gate ({trigger})")
        say(
            f"  gate: {'PROMOTE' if decision.promote else 'REFUSE'} {version.name}: "
            + "; ".join(decision.reasons)
        )
        result = IterationResult(
            number,
            trigger,
            dataset=data.name,
            version=version.name,
            incumbent=served.name if served else None,
            promoted=decision.promote,
            decision=decision.to_dict(),
            metrics={k: v for k, v in metrics.items() if k in ("regression", "failures")},
            counts={
                "failures": len(failures),
                "intake_items": len(pending_items),
                "targeted": len(made.samples),
                "targeted_short": made.short,
                "corrections": len(corrections),
                "dataset": data.counts,
                "train_records": data.train,
                "dev": data.dev,
                "dropped": data.dropped,
            },
            timings=dict(timings.steps),
        )
        record = {
            **result.to_dict(),
            "at": _now(),
            "intake_items": [p["id"] for p in pending_items],
            "corrections_new": corrections_new,
            "reason": reason,
        }
        settle(home, record, decision.promote)
        result.seconds = round(time.perf_counter() - started, 2)
        record["seconds"] = result.seconds
        append_jsonl(home.iterations, [record])
        return result
    finally:
        db.dispose()


def promote_by_hand(home: LoopHome, name: str) -> ModelVersion:
    """``promote NAME``: serve a version whatever the gate said; its iteration's items
    are settled as if the gate had promoted it (recorded in the registry's history)."""
    registry = Registry(home.root)
    version = registry.promote(name, reason="promote (by hand)")
    iterations = read_jsonl(home.iterations)
    for record in iterations:
        if record.get("version") == name and not record.get("promoted"):
            settle(home, record, True)
            record["promoted"] = True
            record["promoted_by_hand"] = _now()
    write_jsonl(home.iterations, iterations)
    return version
