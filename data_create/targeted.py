"""Targeted generation: validated samples about given tables, shaped like a given query.

The learning loop asks for more data where the model failed ("the same tables and the
same kind of query as this failure"), and schema drift asks for data about new or
changed tables.  Both go through here, and through the same parts as a full run: the
offline :class:`~data_create.synth.Synthesizer` (with real column values), the
three-layer :class:`~data_create.validator.Validator` (syntax+safety, schema,
read-only execution) and the :class:`~data_create.dedupe.Deduper` — nothing reaches a
dataset that a ``python -m data_create`` run would not have kept.

A request names tables and, optionally, the difficulty and SQL features of the query
it should resemble (:func:`data_create.features.tag` reads them off any SQL).  The
synthesizer's stream for those tables is validated batch by batch; valid candidates are
ranked by how many of the wanted features they share (ties keep stream order, so the
result is deterministic for a seed) and the best ``count`` are kept.

>>> TargetRequest("f1", ("orders",), 3, features=("group_by",)).topic("sqlite").tables
('orders',)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .records import DIFFICULTIES, Sample, SchemaMetadata, Topic

# Candidates looked at per wanted sample before giving up on a request.
_TRIES_PER_SAMPLE = 12
_BATCH = 32


@dataclass(frozen=True)
class TargetRequest:
    name: str  # becomes the samples' topic, e.g. "failure:3f2a..." or "drift:orders"
    tables: tuple[str, ...]
    count: int
    difficulty: str | None = None  # None: the synthesizer's usual mix
    features: tuple[str, ...] = ()

    def topic(self, dialect: str) -> Topic:
        return Topic(self.name, self.tables, f"targeted: {self.name}", self.count, dialect)


@dataclass(frozen=True)
class TargetResult:
    samples: tuple[Sample, ...]
    tried: int
    rejected: dict[str, int]  # layer -> count
    short: dict[str, int]  # request name -> samples it could not get


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _generation_metadata(meta: SchemaMetadata) -> SchemaMetadata:
    """The metadata with the data-verified links folded in, as the pipeline builds joins."""
    from .links import fold

    return fold(meta)


def synthesize(
    db: Any,
    meta: SchemaMetadata,
    requests: Sequence[TargetRequest],
    *,
    id_prefix: str,
    seed: int = 0,
    language: str = "en",
    known: Iterable[tuple[str, str]] = (),
    timeout_s: float = 10.0,
    max_result_rows: int = 1000,
) -> TargetResult:
    """Validated samples for each request; ``known`` (question, sql) pairs count as taken.

    ``db`` is a :class:`data_create.connect.Database` for the execution layer and real
    values.  Sample ids are ``<id_prefix>-<n>``.
    """
    from .dedupe import Deduper
    from .executor import Executor
    from .pipeline import value_source
    from .synth import Synthesizer
    from .validator import Validator

    deduper = Deduper(meta.dialect)
    for question, sql in known:
        deduper.add_existing(question, sql)
    executor = Executor(db, timeout_s=timeout_s, row_cap=max_result_rows)
    samples: list[Sample] = []
    rejected: dict[str, int] = {}
    short: dict[str, int] = {}
    tried = 0
    try:
        validator = Validator(meta, meta.dialect, executor=executor)
        values = value_source(executor, meta.dialect)
        gen_meta = _generation_metadata(meta)
        existing = {t.qualified_name for t in meta.tables}
        for request in requests:
            tables = tuple(t for t in request.tables if t in existing)
            if not tables or request.count < 1:
                short[request.name] = request.count
                continue
            mix = (
                {request.difficulty: 1.0}
                if request.difficulty in DIFFICULTIES
                else None  # the synthesizer's default mix
            )
            synth = Synthesizer(
                gen_meta,
                dialect=meta.dialect,
                language=language,
                seed=seed,
                mix=mix,
                values=values,
            )
            stream = synth.candidates(
                dataclasses.replace(request, tables=tables).topic(meta.dialect)
            )
            wanted = set(request.features)
            pool: list[tuple[int, int, Any]] = []  # (-overlap, order, candidate)
            budget = _TRIES_PER_SAMPLE * request.count
            looked = 0
            while looked < budget:
                batch = list(itertools.islice(stream, min(_BATCH, budget - looked)))
                if not batch:
                    break
                looked += len(batch)
                tried += len(batch)
                for candidate, verdict in zip(
                    batch, validator.validate_many([c.sql for c in batch]), strict=True
                ):
                    if not verdict.ok or verdict.truncated or verdict.empty:
                        layer = verdict.layer or "execution"
                        rejected[layer] = rejected.get(layer, 0) + 1
                        continue
                    if deduper.check(candidate.question, candidate.sql):
                        rejected["dedupe"] = rejected.get("dedupe", 0) + 1
                        continue
                    overlap = len(wanted & set(candidate.features))
                    pool.append((-overlap, len(pool), candidate, verdict))
                # Enough exact-shape matches already: stop early.
                if sum(1 for p in pool if -p[0] == len(wanted)) >= request.count:
                    break
            chosen = sorted(pool)[: request.count]
            if len(chosen) < request.count:
                short[request.name] = request.count - len(chosen)
            for _, _, c, verdict in chosen:
                samples.append(
                    Sample(
                        id=f"{id_prefix}-{len(samples) + 1:05d}",
                        question=c.question,
                        sql=c.sql,
                        dialect=meta.dialect,
                        database=meta.database,
                        topic=request.name,
                        tables=c.tables,
                        difficulty=c.difficulty,
                        features=c.features,
                        language=c.language,
                        generator=c.generator,
                        validation={
                            "rows": verdict.rows,
                            "elapsed_ms": verdict.elapsed_ms,
                            "empty": verdict.empty,
                            "truncated": verdict.truncated,
                        },
                        created_at=_now(),
                    )
                )
    finally:
        executor.close()
    return TargetResult(tuple(samples), tried, rejected, short)


__all__ = ["TargetRequest", "TargetResult", "synthesize"]
