"""Dataset versions: the run's samples + human corrections + targeted data, with lineage.

A version ``<home>/datasets/dN/`` is a LLaMA-Factory dataset directory made by
:func:`data_create.export.export` (same prompts, same files, same ``dataset_info.json``)
plus:

* ``samples.jsonl`` — every sample with ``origin`` (``run``, ``correction``,
  ``accepted``, ``targeted``, ``heldout``) and ``source_id`` (the intake item or run
  sample it came from): the lineage of each line;
* ``lineage.json`` — parent version, schema fingerprint, counts by origin, the intake
  items used, what was dropped and why;
* ``eval/`` — the evaluation set (frozen regression set + this iteration's failures with
  a gold SQL) exported the same way, predicted on with ``eval_dataset: nl2sql_dev``.

Rules kept:

* the **dev split is the held-out part of the frozen regression set**, nothing else; a
  human correction is always in train (weighted ``correction_weight`` times) and never in
  dev; a train sample whose SQL skeleton is a dev skeleton is dropped (the skeleton-split
  rule, checked again by ``recipe.check_dataset`` before training) — if a *correction*
  shares a dev skeleton, the dev item leaves this version's dev split instead;
* every sample is checked again against the run's current schema (syntax, safety,
  schema layers) — after a drift nothing broken can reach training;
* duplicates are removed with the pipeline's :class:`~data_create.dedupe.Deduper`,
  corrections first (a correction wins over a synthetic twin).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_create.records import Sample, SchemaMetadata

from .home import LoopConfig, LoopHome, read_jsonl, write_json, write_jsonl

EVAL_DIR = "eval"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    path: Path
    train: int  # records written (corrections counted with their weight)
    dev: int
    counts: dict[str, int]  # samples by origin
    dropped: int
    eval_items: tuple[dict[str, Any], ...]  # {id, set, kind, question, sql}


def _sample(record: dict[str, Any]) -> Sample:
    return Sample.from_dict({k: v for k, v in record.items() if k in Sample.__dataclass_fields__})


def human_sample(c: dict[str, Any], meta: SchemaMetadata, language: str) -> Sample:
    """A correction (or accepted answer) as a training sample; the question as written."""
    from data_create.features import tag

    tags = tag(c["sql"], meta.dialect, meta)
    return Sample(
        id=f"h-{c['id']}",
        question=c["question"],
        sql=c["sql"],
        dialect=meta.dialect,
        database=meta.database,
        topic=c["kind"],
        tables=tuple(c.get("tables") or tags.tables),
        difficulty=tags.difficulty,
        features=tags.features,
        language=language,
        generator=f"human:{c.get('source', 'feedback')}",
        validation={"executed": True},
        created_at=c.get("received_at") or _now(),
    )


def targeted_requests(
    failures: list[dict[str, Any]], meta: SchemaMetadata, per_failure: int, retriever_dir: Path
) -> list[Any]:
    """One request per failure: its tables (from the gold or the model's SQL, else the
    schema retriever on the question) and the difficulty/features of its SQL."""
    from data_create.features import tag
    from data_create.targeted import TargetRequest

    retriever = None
    requests = []
    for f in failures:
        sql = f.get("gold_sql") or f.get("sql") or ""
        tags = tag(sql, meta.dialect, meta) if sql else None
        tables = tuple(f.get("tables") or (tags.tables if tags else ()))
        if not tables:
            if retriever is None:
                from data_create.retrieve import Retriever

                retriever = Retriever.open(meta, retriever_dir)
            tables = retriever.retrieve(f["question"], 2).tables
        requests.append(
            TargetRequest(
                f"failure:{f['id']}",
                tables,
                per_failure,
                difficulty=tags.difficulty if tags and tags.parsed else None,
                features=tags.features if tags else (),
            )
        )
    return requests


def build(
    home: LoopHome,
    config: LoopConfig,
    meta: SchemaMetadata,
    *,
    corrections: list[dict[str, Any]],
    targeted: list[Sample],
    failures: list[dict[str, Any]],
    intake_ids: list[str],
    parent: str | None,
) -> DatasetVersion:
    """Write the next dataset version; see the module docstring for the rules."""
    from data_create import export
    from data_create.dedupe import Deduper, skeleton
    from data_create.prompt import sql_target
    from data_create.validator import Validator

    name = home.next_name(home.datasets, "d")
    out = home.datasets / name
    out.mkdir(parents=True)
    run = Path(config.run)
    split = json.loads((run / "split.json").read_text(encoding="utf-8"))
    schema_context = str(split.get("schema_context", "none"))
    regression = read_jsonl(home.regression)
    heldout_ids = {r["id"] for r in regression if r["kind"] == "heldout"}

    static = Validator(meta, meta.dialect)
    dropped: list[dict[str, Any]] = []
    rows: list[tuple[Sample, str, str, int]] = []  # sample, origin, source id, weight

    def skel(s: Sample) -> str:
        return skeleton(sql_target(s.sql), s.dialect)

    def admit(sample: Sample, origin: str, source: str, weight: int) -> None:
        verdict = static.check_static(sample.sql)
        if not verdict.ok:
            dropped.append(
                {"id": sample.id, "origin": origin, "reason": f"{verdict.layer}: {verdict.reason}"}
            )
            return
        rows.append((sample, origin, source, weight))

    for c in corrections:
        weight = config.correction_weight if c["kind"] == "correction" else 1
        admit(human_sample(c, meta, config.language), c["kind"], c["id"], weight)
    run_samples = [_sample(r) for r in read_jsonl(run / "samples.jsonl")]
    heldout = [s for s in run_samples if s.id in heldout_ids]
    for s in heldout:
        admit(s, "heldout", s.id, 1)
    for s in run_samples:
        if s.id not in heldout_ids:
            admit(s, "run", s.id, 1)
    for s in targeted:
        admit(s, "targeted", s.topic.split(":", 1)[-1], 1)

    # Dedupe: corrections first, so a correction wins over a synthetic twin.
    deduper = Deduper(meta.dialect)
    kept: list[tuple[Sample, str, str, int]] = []
    for row in rows:
        sample, origin = row[0], row[1]
        why = deduper.check(sample.question, sample.sql)
        if why and origin not in ("correction", "accepted", "heldout"):
            dropped.append({"id": sample.id, "origin": origin, "reason": f"duplicate: {why}"})
            continue
        kept.append(row)

    human_skeletons = {skel(r[0]) for r in kept if r[1] in ("correction", "accepted")}
    dev_rows = [r for r in kept if r[1] == "heldout"]
    for r in [r for r in dev_rows if skel(r[0]) in human_skeletons]:
        dropped.append(
            {
                "id": r[0].id,
                "origin": "heldout",
                "reason": "left out of dev: a human correction shares its skeleton",
            }
        )
        dev_rows.remove(r)
    dev_skeletons = {skel(r[0]) for r in dev_rows}
    train_rows = []
    for r in kept:
        if r[1] == "heldout":
            continue
        if r[1] in ("run", "targeted") and skel(r[0]) in dev_skeletons:
            dropped.append(
                {
                    "id": r[0].id,
                    "origin": r[1],
                    "reason": "its SQL skeleton is in the held-out split",
                }
            )
            continue
        train_rows.append(r)
    ordered = train_rows + dev_rows
    samples = [r[0] for r in ordered]
    summary = export.export(
        samples,
        out,
        metadata=meta,
        schema_context=schema_context,
        split_indices=(range(len(train_rows)), range(len(train_rows), len(ordered))),
        repeat=[r[3] for r in ordered],
    )
    write_jsonl(
        out / "samples.jsonl",
        ({**s.to_dict(), "origin": o, "source_id": src, "weight": w} for s, o, src, w in ordered),
    )
    counts = Counter(r[1] for r in ordered)

    # The evaluation set: frozen regression items, then this iteration's gold failures.
    eval_items = [
        {
            "id": r["id"],
            "set": "regression",
            "kind": r["kind"],
            "question": r["question"],
            "sql": r["sql"],
        }
        for r in regression
    ] + [
        {
            "id": f"f-{f['id']}",
            "set": "failures",
            "kind": f["kind"],
            "question": f["question"],
            "sql": f["gold_sql"],
        }
        for f in failures
        if f.get("gold_sql")
    ]
    if eval_items:
        export_eval(out / EVAL_DIR, eval_items, meta, config.language, schema_context)
    write_json(
        out / "lineage.json",
        {
            "name": name,
            "parent": parent,
            "created_at": _now(),
            "run": str(run),
            "fingerprint": meta.fingerprint,
            "counts": dict(counts),
            "train_records": sum(r[3] for r in train_rows),
            "files": summary.files,
            "dev": len(dev_rows),
            "correction_weight": config.correction_weight,
            "intake_items": intake_ids,
            "corrections": [c["id"] for c in corrections],
            "targeted": len(targeted),
            "dropped": dropped,
            "eval": Counter(i["set"] for i in eval_items),
        },
    )
    return DatasetVersion(
        name,
        out,
        sum(r[3] for r in train_rows),
        len(dev_rows),
        dict(counts),
        len(dropped),
        tuple(eval_items),
    )


def export_eval(
    out: Path,
    items: list[dict[str, Any]],
    meta: SchemaMetadata,
    language: str,
    schema_context: str = "none",
) -> Path:
    """Write ``items`` as the dev split of ``out`` (the prompts training used)."""
    from data_create import export
    from data_create.features import tag

    samples = []
    for i in items:
        tags = tag(i["sql"], meta.dialect, meta)
        samples.append(
            Sample(
                id=i["id"],
                question=i["question"],
                sql=i["sql"],
                dialect=meta.dialect,
                database=meta.database,
                topic=i["set"],
                tables=tags.tables,
                difficulty=tags.difficulty,
                features=tags.features,
                language=language,
                generator="eval",
                validation={},
                created_at=_now(),
            )
        )
    export.export(
        samples,
        out,
        metadata=meta,
        schema_context=schema_context,
        split_indices=([], range(len(samples))),
    )
    write_jsonl(out / "items.jsonl", items)
    return out
