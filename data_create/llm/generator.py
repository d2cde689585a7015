"""``LLMGenerator.candidates(topic)``: question/SQL pairs from an LLM, with every fault visible.

An LLM is unreliable: each pair is parsed out of the reply (:mod:`.parse`) and tagged
(:mod:`.features`); every failed request or unparsable reply comes out as a
:class:`~data_create.records.Rejected` so that the pipeline writes it to the rejects
file.  Validation and repair, two ways:

* without a ``validator`` (the pipeline): question-first pairs come out as candidates at
  once; the pipeline validates each candidate once and hands the failures back through
  :meth:`LLMGenerator.repair_many`, which asks the model once more with the validator's
  message.  So an accepted query runs once, and every query that ran is logged.
* with a ``validator`` (standalone use): the generator checks the pairs itself, sends
  each failure back once, and yields only what passed, plus the rejects.

Three modes, mixable by ratio (``modes={"question-first": 0.6, "sql-first": 0.4}``):

* ``question-first`` — the model writes questions and their SQL for a topic's tables;
* ``sql-first`` — the offline synthesizer writes SQL, the model the question, which must
  state every literal of the SQL;
* ``paraphrase`` — the model rewrites a synthesized question in several styles, literals
  preserved.

The stream is a lazy iterator in rounds: a round sends all its requests at once
(``client.run_many`` bounds the concurrency), then yields what came back in request
order.  While the pipeline keeps pulling, another round asks for what is still missing,
up to ``max_rounds``.  What is asked depends only on (seed, topic, round, earlier
replies), never on timing, so with the client's cache a re-run repeats the stream
exactly and sends nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..features import literals, missing_literal, tag
from ..hygiene import one_line
from ..records import Candidate, Rejected, SchemaMetadata, Topic
from ..synth import DEFAULT_MIX
from . import meta_prompts, parse
from .client import ChatRequest, LLMFailure

if TYPE_CHECKING:
    from ..synth import Synthesizer
    from ..validator import Validator, Verdict
    from .client import LLMClient

__all__ = ["MODES", "LLMGenerator"]

MODES = ("question-first", "sql-first", "paraphrase")
_NEEDS_SYNTH = frozenset({"sql-first", "paraphrase"})
# The lowest delivery rate a round plans for: an endpoint failing more than this is
# not made up for by asking for ever more pairs at once.
_MIN_YIELD = 0.25


@dataclass
class _Job:
    """One request of a round and what it was about."""

    mode: str
    request: ChatRequest
    pairs: int  # how many pairs it asks for
    seed: Candidate | None = None  # the synthesizer's candidate (sql-first, paraphrase)


@dataclass
class _Pair:
    """A question-first pair from a reply, waiting for its verdict (and perhaps a repair)."""

    question: str
    sql: str
    mode: str
    verdict: Verdict | _Failure | None = None


@dataclass(frozen=True)
class _Failure:
    """What the consumer's validator said about a pair (the part a repair prompt needs)."""

    layer: str
    reason: str
    ok: bool = False


class LLMGenerator:
    """Generates candidates about a topic with an LLM behind ``client`` (see module doc).

    ``synth`` (the offline :class:`~data_create.synth.Synthesizer`) supplies the SQL for
    ``sql-first`` and the questions for ``paraphrase``.  One question-first request asks
    for up to ``batch_size`` pairs, one sql-first request for one question, one paraphrase
    request for ``paraphrases`` rewrites.
    """

    def __init__(
        self,
        client: LLMClient,
        metadata: SchemaMetadata,
        *,
        dialect: str,
        language: str = "en",
        seed: int = 0,
        validator: Validator | None = None,
        modes: dict[str, float] | None = None,
        synth: Synthesizer | None = None,
        repair: bool = True,
        batch_size: int = 8,
        max_rounds: int = 8,
        paraphrases: int = 3,
        progress: Callable[[Topic], tuple[int, int]] | None = None,
    ):
        modes = dict({"question-first": 1.0} if modes is None else modes)
        unknown = sorted(set(modes) - set(MODES))
        weights = list(modes.values())
        if unknown or not any(w > 0 for w in weights) or any(w < 0 for w in weights):
            raise ConfigError(
                f"bad generation modes {modes!r}",
                f"give non-negative weights for {', '.join(MODES)}",
            )
        # A fixed order, whatever the order of the caller's dict: the draws depend on it.
        self.modes = [(m, float(modes[m])) for m in MODES if modes.get(m, 0) > 0]
        if synth is None and any(m in _NEEDS_SYNTH for m, _ in self.modes):
            raise ConfigError(
                "the sql-first and paraphrase modes need the offline synthesizer",
                "pass synth=Synthesizer(...) or use only the question-first mode",
            )
        if batch_size < 1 or max_rounds < 1 or paraphrases < 1:
            raise ConfigError("batch_size, max_rounds and paraphrases must be at least 1")
        self.client = client
        self.metadata = metadata
        self.dialect = dialect
        self.language = language
        self.seed = seed
        self.validator = validator
        self.synth = synth
        self.repair = repair
        self.batch_size = batch_size
        self.max_rounds = max_rounds
        self.paraphrases = paraphrases
        # (accepted, still wanted) for a topic, from the consumer (the pipeline), whose
        # dedupe and result checks reject some of what we yield; without it we count
        # our own yields.
        self.progress = progress
        self.model = client.settings.model

    # ---------------------------------------------------------------- public

    def candidates(self, topic: Topic) -> Iterator[Candidate | Rejected]:
        """Candidates and rejects about ``topic``, round by round while the caller pulls."""
        seeds = self.synth.candidates(topic) if self.synth is not None else iter(())
        made: list[str] = []  # questions of the candidates yielded so far
        asked = 0  # pairs asked for so far
        for round_no in range(self.max_rounds):
            if self.progress is not None:
                accepted, wanted = self.progress(topic)
                need = self._need(wanted, asked, accepted)
            else:
                need = self._need(topic.count - len(made), asked, len(made))
            jobs = self._plan_round(topic, round_no, need, seeds, made)
            if not jobs:
                return  # a synthesizer-only mix whose synthesizer has nothing more
            asked += sum(job.pairs for job in jobs)
            replies = self.client.run_many([job.request for job in jobs])
            pending: list[_Pair] = []
            for job, reply in zip(jobs, replies, strict=True):
                for item in self._read(topic, job, reply, pending):
                    made += [item.question] if isinstance(item, Candidate) else []
                    yield item
            # Without a validator the consumer validates each pair once (and asks for
            # repairs); with one, the pairs are checked and repaired here.
            checked = (
                self._check_and_repair(topic, pending)
                if self.validator is not None
                else (self._candidate(topic, pair) for pair in pending)
            )
            for item in checked:
                made += [item.question] if isinstance(item, Candidate) else []
                yield item
            if all(isinstance(r, LLMFailure) and r.kind == "budget" for r in replies):
                return  # the budget is spent: later rounds could not send anything either

    def _need(self, missing: int, asked: int, made: int) -> int:
        """Pairs to ask for in the next round.

        What is missing, scaled up by the share of asked-for pairs that earlier rounds
        failed to deliver (faulty replies, rejects), so that a 30%-faulty endpoint does
        not need a round per 30% of the rest.  When nothing seems missing but the caller
        still pulls (the pipeline rejected some: duplicates, empty results), one full
        request.  Depends only on earlier replies, never on timing.
        """
        if missing <= 0:
            return self.batch_size
        rate = made / asked if asked else 1.0
        return math.ceil(missing / max(rate, _MIN_YIELD))

    # ---------------------------------------------------------------- requests

    def _rng(self, topic: Topic, round_no: int) -> Random:
        key = f"{self.seed}\x00{topic.name}\x00{round_no}".encode()
        return Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _plan_round(
        self, topic: Topic, round_no: int, need: int, seeds: Iterator[Candidate], made: list[str]
    ) -> list[_Job]:
        """The round's requests: modes drawn from the round's own RNG until they would
        bring ``need`` pairs; once the synthesizer runs dry its modes are not drawn again."""
        rng = self._rng(topic, round_no)
        modes = list(self.modes)
        jobs: list[_Job] = []
        planned = 0
        while planned < need and modes:
            mode = modes[0][0] if len(modes) == 1 else rng.choices(*zip(*modes, strict=True))[0]
            if mode == "question-first":
                n = min(self.batch_size, need - planned)
                messages = meta_prompts.generation_messages(
                    self.metadata, topic, n=n, mix=self._mix(rng, n), language=self.language,
                    dialect=self.dialect, avoid=made[-meta_prompts.MAX_AVOID :],
                )  # fmt: skip
                jobs.append(_Job(mode, self._request(messages, mode, round_no, len(jobs)), n))
                planned += n
                continue
            seed = next(seeds, None)
            if seed is None:
                modes = [m for m in modes if m[0] not in _NEEDS_SYNTH]
                continue
            if mode == "sql-first":
                messages = meta_prompts.backtranslation_messages(
                    self.metadata, seed.sql, tables=seed.tables, language=self.language,
                    dialect=self.dialect,
                )  # fmt: skip
                pairs = 1
            else:
                messages = meta_prompts.paraphrase_messages(
                    seed.question, k=self.paraphrases, literals=literals(seed.sql, self.dialect),
                    language=self.language,
                )  # fmt: skip
                pairs = self.paraphrases
            request = self._request(messages, mode, round_no, len(jobs))
            jobs.append(_Job(mode, request, pairs, seed))
            planned += pairs
        return jobs

    @staticmethod
    def _mix(rng: Random, n: int) -> dict[str, int]:
        """Pairs of each difficulty one request asks for, drawn with the synthesizer's mix."""
        drawn = rng.choices(list(DEFAULT_MIX), list(DEFAULT_MIX.values()), k=n)
        return {d: drawn.count(d) for d in DEFAULT_MIX if d in drawn}

    @staticmethod
    def _request(
        messages: list[dict[str, str]], mode: str, round_no: int, index: int
    ) -> ChatRequest:
        # Two requests with the same text would share one cache entry, and a re-run
        # would answer both with one reply: each is told its place in the stream.
        last = {**messages[-1]}
        last["content"] = f"{last['content']}\n\n(request {round_no + 1}.{index + 1})"
        return ChatRequest(messages=[*messages[:-1], last], purpose=f"generate:{mode}")

    # ---------------------------------------------------------------- replies

    def _generator(self, mode: str) -> str:
        return f"llm:{self.model}:{mode}"

    def _reject(
        self, topic: Topic, mode: str, layer: str, reason: str, question: str, sql: str
    ) -> Rejected:
        return Rejected(question, sql, topic.name, self._generator(mode), layer, reason)

    def _read(
        self, topic: Topic, job: _Job, reply: Any, pending: list[_Pair]
    ) -> Iterator[Candidate | Rejected]:
        """What one reply gives.  Pairs on the synthesizer's SQL come out at once (the
        pipeline validates them); question-first pairs wait in ``pending`` for checks."""
        seed = job.seed
        seed_question = seed.question if seed and job.mode == "paraphrase" else ""
        seed_sql = seed.sql if seed else ""

        def reject(reason: str, question: str = seed_question) -> Rejected:
            return self._reject(topic, job.mode, "llm", reason, question, seed_sql)

        if isinstance(reply, LLMFailure):
            yield reject(f"{reply.kind}: {reply.message}")
            return
        try:
            obj = parse.extract_json(reply.text)
        except parse.ParseFailure as exc:
            yield reject(f"unparsable reply: {exc.reason}")
            return
        if job.mode == "question-first":
            pairs, skipped = parse.samples_from(obj)
            for why in skipped:
                yield reject(f"unusable sample: {why}")
            pending.extend(_Pair(p["question"], p["sql"], job.mode) for p in pairs)
            return
        assert seed is not None
        questions = _questions(obj)
        if not questions:
            yield reject(f"no question in the reply: {_snippet(reply.text)}")
        elif job.mode == "sql-first":
            yield self._literal_checked(topic, job.mode, questions[0], seed)
        else:
            seen = {seed.question}
            for question in questions[: self.paraphrases]:
                if question in seen:
                    yield reject("the paraphrase repeats a question", question)
                    continue
                seen.add(question)
                yield self._literal_checked(topic, job.mode, question, seed)

    def _literal_checked(
        self, topic: Topic, mode: str, question: str, seed: Candidate
    ) -> Candidate | Rejected:
        missing = missing_literal(question, seed.sql, self.dialect)
        if missing is not None:
            reason = f"question omits literal '{missing}'"
            return self._reject(topic, mode, "llm", reason, question, seed.sql)
        return Candidate(
            question=question, sql=seed.sql, topic=topic.name, tables=seed.tables,
            difficulty=seed.difficulty, features=seed.features, language=self.language,
            generator=self._generator(mode),
        )  # fmt: skip

    # ---------------------------------------------------------------- repair for a consumer

    def can_repair(self, candidate: Candidate) -> bool:
        """Whether a failed ``candidate`` may go back to the model: a question-first pair,
        with repair on.  (The synthesizer's SQL under an LLM question is not the model's.)"""
        return self.repair and candidate.generator == self._generator("question-first")

    def repair_many(
        self, topic: Topic, failures: list[tuple[Candidate, str, str]]
    ) -> list[Candidate | Rejected]:
        """One repair request per ``(candidate, layer, reason)``, all sent together; the
        repaired pairs (to be validated by the caller) or why there is none, in order."""
        pairs = [
            _Pair(c.question, c.sql, "question-first", _Failure(layer, reason))
            for c, layer, reason in failures
        ]
        replies = self.client.run_many([self._repair_request(topic, p) for p in pairs])
        out: list[Candidate | Rejected] = []
        for pair, reply in zip(pairs, replies, strict=True):
            outcome = self._repaired(topic, pair, reply)
            out.append(
                outcome if isinstance(outcome, Rejected) else self._candidate(topic, outcome)
            )
        return out

    # ---------------------------------------------------------------- checks

    def _check(self, pairs: list[_Pair]) -> None:
        sqls = [p.sql for p in pairs]
        if self.validator.executes:
            verdicts = self.validator.validate_many(sqls)
        else:
            verdicts = [self.validator.check_static(s) for s in sqls]
        for pair, verdict in zip(pairs, verdicts, strict=True):
            pair.verdict = verdict

    def _candidate(self, topic: Topic, pair: _Pair) -> Candidate:
        tags = tag(pair.sql, self.dialect, self.metadata)
        return Candidate(
            question=pair.question, sql=pair.sql, topic=topic.name, tables=tags.tables,
            difficulty=tags.difficulty, features=tags.features, language=self.language,
            generator=self._generator(pair.mode),
        )  # fmt: skip

    def _failed(self, topic: Topic, pair: _Pair, prefix: str = "") -> Rejected:
        verdict = pair.verdict
        layer = (verdict.layer if verdict else None) or "syntax"
        reason = prefix + ((verdict.reason if verdict else None) or "rejected")
        return self._reject(topic, pair.mode, layer, reason, pair.question, pair.sql)

    def _check_and_repair(
        self, topic: Topic, pending: list[_Pair]
    ) -> Iterator[Candidate | Rejected]:
        """Validate the round's question-first pairs; send each failure back once, all
        repairs of the round in one batch."""
        self._check(pending)
        failed = [p for p in pending if not (p.verdict is not None and p.verdict.ok)]
        # Faults first: a caller that stops pulling once it has enough still logs every
        # pair the model got wrong (the first verdicts do not depend on the repairs).
        for pair in failed:
            yield self._failed(topic, pair, "before repair: " if self.repair else "")
        for pair in pending:
            if pair.verdict is not None and pair.verdict.ok:
                yield self._candidate(topic, pair)
        if not failed or not self.repair:
            return
        requests = [self._repair_request(topic, p) for p in failed]
        outcomes = [
            self._repaired(topic, p, r)
            for p, r in zip(failed, self.client.run_many(requests), strict=True)
        ]
        self._check([o for o in outcomes if isinstance(o, _Pair)])
        for outcome in outcomes:
            if isinstance(outcome, Rejected):
                yield outcome
            elif outcome.verdict is not None and outcome.verdict.ok:
                yield self._candidate(topic, outcome)
            else:
                yield self._failed(topic, outcome)

    def _repair_request(self, topic: Topic, pair: _Pair) -> ChatRequest:
        verdict = pair.verdict
        messages = meta_prompts.repair_messages(
            self.metadata, pair.question, pair.sql,
            layer=(verdict.layer if verdict else None) or "syntax",
            reason=(verdict.reason if verdict else None) or "", tables=topic.tables,
            language=self.language, dialect=self.dialect,
        )  # fmt: skip
        return ChatRequest(messages=messages, purpose="repair")

    def _repaired(self, topic: Topic, pair: _Pair, reply: Any) -> _Pair | Rejected:
        def reject(reason: str) -> Rejected:
            return self._reject(topic, pair.mode, "llm", reason, pair.question, pair.sql)

        if isinstance(reply, LLMFailure):
            return reject(f"repair failed: {reply.kind}: {reply.message}")
        try:
            pairs, _ = parse.samples_from(parse.extract_json(reply.text))
        except parse.ParseFailure as exc:
            return reject(f"unparsable repair reply: {exc.reason}")
        if not pairs:
            return reject(f"no question and SQL in the repair reply: {_snippet(reply.text)}")
        return _Pair(pairs[0]["question"], pairs[0]["sql"], pair.mode)


def _questions(obj: Any) -> list[str]:
    """The questions of a back-translation (``{"question": ...}``) or paraphrase
    (``{"paraphrases": [...]}``) reply; also a bare list, or a list of objects."""
    if isinstance(obj, dict):
        for key in parse.QUESTION_KEYS:
            if isinstance(obj.get(key), str):
                return [obj[key].strip()] if obj[key].strip() else []
        lists = [v for v in obj.values() if isinstance(v, list)]
        obj = lists[0] if len(lists) == 1 else []
    out: list[str] = []
    for item in obj if isinstance(obj, list) else []:
        if isinstance(item, dict):
            item = next((item[k] for k in parse.QUESTION_KEYS if isinstance(item.get(k), str)), "")
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
    return out


def _snippet(text: str | None, limit: int = 60) -> str:
    return repr(one_line(text, limit))
