"""The generation loop: generate → validate → dedupe over the plan's topics, with replay.

Resuming.  Candidates come from deterministic streams (one per topic, seeded from the
run's seed), and every attempt gets a global sequence number ``seq`` that is written
with its outcome — to ``samples.jsonl`` when kept, to ``rejects.jsonl`` otherwise.
``--resume`` replays the same streams and, for each ``seq`` already on disk, takes the
recorded outcome instead of validating again; the first unknown ``seq`` continues the
run.  So an interrupted and resumed run ends with exactly the samples an
uninterrupted one would have made, none twice.

Validate once.  Each candidate is validated (and its query executed) once, here; a
generator that can repair (the LLM's question-first pairs) gets its failures back
through ``repair_many`` and the repaired pairs are new attempts.  Every query that ran
is in ``samples.jsonl`` or ``rejects.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

from . import hygiene, rundir
from .records import Candidate, Column, Rejected, Sample, Table
from .rundir import JsonlAppender, read_jsonl

# The reject reason of a pair that failed validation and went back to its generator.
_BEFORE_REPAIR = "before repair: "
# Candidates validated together (their queries run in parallel on the worker pool).
_BATCH_MAX = 64
_BATCH_SLACK = 8
# At most this share of the requested samples may have a trivial answer (a single 0 or NULL).
_TRIVIAL_SHARE = 0.02


def now() -> str:
    """The current UTC time, to the second (``created_at`` of samples, run.json)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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


def value_limit(samples: int) -> int:
    """Real values fetched per filterable column for a request of ``samples``."""
    return max(30, min(400, samples // 50))


# ---------------------------------------------------------------- the loop


class TopicProgress:
    """What the pipeline has accepted of each topic and still wants from it now.

    An LLM generator sizes its request rounds by this: the pipeline's own checks
    (dedupe, empty or huge results) reject part of what a generator yields.
    """

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.wanted: Counter[str] = Counter()

    def __call__(self, topic: Any) -> tuple[int, int]:
        return self.accepted[topic.name], self.wanted[topic.name]


class Generation:
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
            created_at=now(),
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


__all__ = ["Generation", "TopicProgress", "now", "value_limit", "value_source"]
