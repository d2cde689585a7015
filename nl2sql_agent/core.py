"""The agent loop: retrieve -> prompt -> generate -> validate -> execute -> check -> repair.

The loop is fixed code; the model's only job is to write one SQL query per turn.  Each
attempt passes the project's validator (syntax + safety + schema) before anything runs,
and runs only through the read-only executor.  A failed attempt is repaired by sending
the model the verdict (never a data value) as one more chat turn, at most
``max_repairs`` times.

>>> from nl2sql_agent.core import check_result
>>> from data_create.executor import ExecResult
>>> check_result(ExecResult(ok=True, columns=("n",), rows=((None,),), row_count=1), "SELECT n FROM t")
('all_null', 'the query ran but every value in its result is NULL; check the columns and joins')
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from data_create import cards as cards_mod
from data_create import prompt
from data_create.validator import Validator

from . import charts, summary

if TYPE_CHECKING:
    from data_create.connect import Database
    from data_create.executor import ExecResult, Executor
    from data_create.llm.client import LLMClient
    from data_create.records import SchemaMetadata

__all__ = [
    "Agent",
    "AgentConfig",
    "Answer",
    "Attempt",
    "Conversation",
    "Step",
    "check_result",
    "result_hash",
    "scrub_values",
]

StepCallback = Callable[["Step"], None]


@dataclass(frozen=True)
class AgentConfig:
    """How the loop behaves.  Defaults suit a served fine-tuned model on a live database."""

    max_repairs: int = 3  # repair rounds after the first attempt
    samples: int = 1  # k > 1: sample k candidates, answer with the result most agree on
    sample_temperature: float = 0.7
    max_tokens: int = 512
    timeout_s: float = 10.0  # per query, really cancelled by the executor
    row_cap: int = 10_000  # rows fetched per query (the executor never fetches more)
    schema_context: str = "auto"  # "auto" (all cards if they fit) | "all" | "retrieved"
    schema_budget_tokens: int = 6000  # whole card set below this; the retriever above it
    retrieve_k: int = 6  # tables the retriever returns for a large schema
    history_turns: int = 3  # earlier (question, SQL) pairs carried into a follow-up
    language: str = "en"  # prompt language (data_create.prompt)
    repair_on_empty: bool = True
    clarify_entities: bool = True  # an empty result on an unknown name -> ask with candidates
    chart: bool = True
    model_version: str = ""  # recorded with feedback (e.g. the adapter's run id)


@dataclass(frozen=True)
class Step:
    """One recorded step of the loop; ``detail`` is JSON-safe."""

    name: (
        str  # retrieve | prompt | generate | validate | execute | check | clarify | chart | summary
    )
    elapsed_ms: float
    ok: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Attempt:
    """One SQL the model wrote (or the user edited) and what became of it."""

    number: int  # 1 = first try, 2.. = repairs
    raw: str  # the model's answer as sent
    sql: str  # the query extracted from it
    layer: str | None  # None = ran and passed the checks; else the layer that said no
    reason: str | None  # one line, values scrubbed (what the model was told)
    rows: int | None = None
    executed: bool = False
    source: str = "model"  # "model" | "user"

    @property
    def ok(self) -> bool:
        return self.layer is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Conversation:
    """Earlier turns of one user's conversation; follow-ups are asked with them."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[tuple[str, str]] = field(default_factory=list)  # (question, sql that answered)

    def add(self, question: str, sql: str) -> None:
        self.turns.append((question, sql))


@dataclass
class Answer:
    """What the agent gives back for one question (or one edited query)."""

    question: str
    status: str  # "ok" | "empty" | "clarify" | "failed"
    sql: str | None = None
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    truncated: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)
    summary: str = ""
    chart: dict[str, Any] | None = None  # Vega-Lite spec
    chart_kind: str = "table"
    chart_options: tuple[str, ...] = ()
    clarification: dict[str, Any] | None = None
    message: str = ""  # one line for the user when status is not "ok"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    conversation_id: str | None = None
    model: str = ""
    elapsed_ms: float = 0.0

    @property
    def repairs(self) -> int:
        return max(0, sum(1 for a in self.attempts if a.source == "model") - 1)

    @property
    def result_hash(self) -> str | None:
        return (
            result_hash(self.columns, self.rows) if self.sql and self.status != "failed" else None
        )

    def to_dict(self, max_rows: int | None = None) -> dict[str, Any]:
        rows = self.rows if max_rows is None else self.rows[:max_rows]
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "question": self.question,
            "status": self.status,
            "message": self.message,
            "sql": self.sql,
            "columns": list(self.columns),
            "rows": [[json_value(v) for v in row] for row in rows],
            "row_count": len(self.rows),
            "rows_shown": len(rows),
            "truncated": self.truncated,
            "summary": self.summary,
            "chart": self.chart,
            "chart_kind": self.chart_kind,
            "chart_options": list(self.chart_options),
            "clarification": self.clarification,
            "attempts": [a.to_dict() for a in self.attempts],
            "repairs": self.repairs,
            "result_hash": self.result_hash,
            "model": self.model,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "trace": [s.to_dict() for s in self.trace],
        }


# ---------------------------------------------------------------- values


def json_value(value: Any) -> Any:
    """A result cell as JSON: numbers stay numbers, dates become ISO text, bytes a note."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


def result_hash(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A stable hash of a result (columns and rows, in order), for feedback and voting."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(columns), ensure_ascii=False).encode())
    for row in rows:
        digest.update(json.dumps([json_value(v) for v in row], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


# A database's error text can quote the data it choked on (PostgreSQL: invalid input
# syntax for type integer: "N/A"; MySQL: Incorrect DECIMAL value: '12,5').  Those are
# values from the user's database and must not reach the model: quoted text after a
# type/value phrase and every single-quoted literal are replaced.
_VALUE_AFTER = re.compile(
    r"((?:for type|value|Key|input syntax)[^:'\"]{0,40}[:=]?\s*)(\"[^\"]*\"|'[^']*'|\([^)]*\))",
    re.IGNORECASE,
)
_SINGLE_QUOTED = re.compile(r"'(?:[^']|'')*'")


def scrub_values(reason: str) -> str:
    """An execution error without data values, fit for a repair prompt.

    >>> scrub_values('error: invalid input syntax for type integer: "N/A"')
    'error: invalid input syntax for type integer: <value>'
    >>> scrub_values("error: Incorrect DECIMAL value: '12,5' for column 'price'")
    'error: Incorrect DECIMAL value: <value> for column <value>'
    """
    text = _VALUE_AFTER.sub(lambda m: m.group(1) + "<value>", reason)
    return _SINGLE_QUOTED.sub("<value>", text)


# ---------------------------------------------------------------- result checks


def check_result(
    result: ExecResult, sql: str, dialect: str | None = None
) -> tuple[str, str] | None:
    """(kind, message) when a result that ran is still suspect, else None.

    * ``empty`` — no rows;
    * ``all_null`` — every cell NULL (a wrong column or an outer join that matched nothing);
    * ``row_explosion`` — more rows than the cap from a join without aggregation, GROUP BY
      or LIMIT: the classic missing join condition.
    """
    if result.row_count == 0:
        return (
            "empty",
            "the query ran but returned no rows; check the filters and join conditions",
        )
    if all(v is None for row in result.rows for v in row):
        return (
            "all_null",
            "the query ran but every value in its result is NULL; check the columns and joins",
        )
    if result.truncated and _is_unaggregated_join(sql, dialect):
        return (
            "row_explosion",
            f"the query returned more than {result.row_count} rows from a join without "
            "aggregation; a join condition is probably missing",
        )
    return None


def _is_unaggregated_join(sql: str, dialect: str | None) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # the validator parsed it; a failure here only skips the heuristic
        return False
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return False
    has_join = bool(select.args.get("joins"))  # sqlglot parses "FROM a, b" as a join too
    aggregated = (
        select.args.get("group")
        or select.args.get("limit")
        or any(isinstance(e, exp.AggFunc) for e in select.expressions for e in e.walk())
    )
    return has_join and not aggregated


# ---------------------------------------------------------------- the agent


class Agent:
    """One database, one model endpoint.  Not thread-safe (one executor connection):
    the server serialises calls with a lock.

    ``llm`` is a :class:`data_create.llm.client.LLMClient` (or None for an agent that only
    runs user-edited SQL); ``executor`` a read-only :class:`data_create.executor.Executor`.
    """

    def __init__(
        self,
        metadata: SchemaMetadata,
        executor: Executor,
        llm: LLMClient | None,
        config: AgentConfig | None = None,
        *,
        retriever: Any = None,
    ):
        if config is not None and config.schema_context not in ("auto", "all", "retrieved"):
            raise ValueError("schema_context must be auto, all or retrieved")
        self.metadata = metadata
        self.executor = executor
        self.llm = llm
        self.config = config or AgentConfig()
        self.dialect = metadata.dialect
        self.validator = Validator(metadata, metadata.engine)
        self.model = llm.settings.model if llm is not None else ""
        self._cards = cards_mod.build(metadata)
        self._card_tokens = sum(c.tokens for c in self._cards)
        self._retriever = retriever
        self._retriever_error: str | None = None

    @classmethod
    def connect(
        cls,
        db: Database,
        llm: LLMClient | None,
        config: AgentConfig | None = None,
        metadata: SchemaMetadata | None = None,
    ) -> Agent:
        """An agent over a connected database; extracts the metadata unless given."""
        from data_create import metadata as metadata_mod
        from data_create.executor import Executor

        config = config or AgentConfig()
        meta = metadata if metadata is not None else metadata_mod.extract(db)
        executor = Executor(db, timeout_s=config.timeout_s, row_cap=config.row_cap)
        return cls(meta, executor, llm, config)

    def close(self) -> None:
        self.executor.close()

    # ------------------------------------------------------------ public

    def ask(
        self,
        question: str,
        conversation: Conversation | None = None,
        on_step: StepCallback | None = None,
    ) -> Answer:
        """Answer one question (a follow-up when ``conversation`` has earlier turns)."""
        if self.llm is None:
            raise RuntimeError("this agent has no model endpoint; it can only run SQL")
        started = time.perf_counter()
        answer = Answer(
            question=question,
            status="failed",
            conversation_id=conversation.id if conversation else None,
            model=self.model,
        )
        record = _Recorder(answer, on_step)
        question = " ".join(str(question).split())
        if not question:
            answer.message = "the question is empty; type a question about the data"
            return answer

        with record.step("retrieve") as detail:
            context, tables, how = self._schema_context(question)
            detail.update(tables=tables, how=how, tokens=cards_mod.estimate_tokens(context))
        with record.step("prompt") as detail:
            messages = self._messages(question, context, conversation)
            detail.update(messages=messages)

        attempt_no = 0
        last_ok: tuple[Attempt, ExecResult] | None = None
        seen: set[str] = set()
        while attempt_no <= self.config.max_repairs:
            attempt_no += 1
            candidates = self._generate(messages, record, attempt_no)
            if candidates is None:  # the endpoint failed: nothing to repair
                break
            raw, sql, result, attempt = self._try_candidates(candidates, record, attempt_no)
            answer.attempts.append(attempt)
            problem = attempt.reason
            if result is not None and attempt.executed and result.ok:
                last_ok = (attempt, result)
                if attempt.ok:
                    break
                if attempt.layer == "check:empty" and self.config.clarify_entities:
                    clarification = self._clarify(sql, record, attempt_no)
                    if clarification:
                        answer.clarification = clarification
                        break
                if attempt.layer == "check:empty" and not self.config.repair_on_empty:
                    break
            if sql in seen:  # the model repeats itself: another round will not help
                break
            seen.add(sql)
            if attempt_no > self.config.max_repairs:
                break
            messages = [
                *messages,
                {"role": "assistant", "content": prompt.sql_target(raw) if raw else ""},
                {
                    "role": "user",
                    "content": prompt.repair_prompt(
                        problem or "invalid query", self.config.language
                    ),
                },
            ]
            record.add("repair", 0.0, ok=True, attempt=attempt_no, detail={"problem": problem})

        self._finish(answer, last_ok, record)
        if answer.sql and answer.status in ("ok", "empty") and conversation is not None:
            conversation.add(question, answer.sql)
        answer.elapsed_ms = (time.perf_counter() - started) * 1000
        return answer

    def run_sql(
        self,
        sql: str,
        question: str = "",
        conversation: Conversation | None = None,
        on_step: StepCallback | None = None,
    ) -> Answer:
        """Run a query the user wrote or edited: the same validator and read-only executor,
        no model and no repair."""
        started = time.perf_counter()
        answer = Answer(
            question=question,
            status="failed",
            conversation_id=conversation.id if conversation else None,
            model=self.model,
        )
        record = _Recorder(answer, on_step)
        sql = prompt.sql_target(str(sql))
        attempt, result = self._check_and_run(sql, sql, record, 1, source="user")
        answer.attempts.append(attempt)
        last_ok = (attempt, result) if result is not None and result.ok else None
        self._finish(answer, last_ok, record)
        if answer.sql and answer.status in ("ok", "empty") and conversation is not None:
            conversation.add(question or "(edited SQL)", answer.sql)
        answer.elapsed_ms = (time.perf_counter() - started) * 1000
        return answer

    def rechart(self, answer: Answer, kind: str) -> Answer:
        """The same answer drawn as another chart kind (the user's type switcher)."""
        answer.chart = charts.build_spec(answer.columns, answer.rows, kind, answer.question)
        answer.chart_kind = kind if answer.chart is not None else "table"
        self._check_spec(answer)
        return answer

    # ------------------------------------------------------------ steps

    def _schema_context(self, question: str) -> tuple[str, list[str], str]:
        """The schema block: every card when the schema fits the budget (or when
        ``schema_context="all"``), else what the retriever picks for the question."""
        mode = self.config.schema_context
        fits = self._card_tokens <= self.config.schema_budget_tokens
        if mode == "all" or (mode == "auto" and fits):
            return "\n\n".join(c.text for c in self._cards), [c.table for c in self._cards], "all"
        hit = self._retrieve(question)
        if hit is not None:
            return hit.cards_text, list(hit.tables), "retrieved"
        # No retriever installed: every table, each card shrunk to an equal share of the
        # budget (samples first, then plain columns), so the model still sees every table.
        share = max(60, self.config.schema_budget_tokens // max(1, len(self.metadata.tables)))
        shrunk = cards_mod.build(self.metadata, budget_tokens=share, samples=0)
        how = f"all-shrunk (retriever unavailable: {self._retriever_error})"
        return "\n\n".join(c.text for c in shrunk), [c.table for c in shrunk], how

    def _retrieve(self, question: str) -> Any:
        """data_create.retrieve (BM25 + join graph), built once per agent, imported lazily."""
        if self._retriever is None and self._retriever_error is None:
            try:
                from data_create.retrieve import Retriever

                self._retriever = Retriever.build(self.metadata, table_cards=self._cards)
            except Exception as exc:  # bm25s not installed: the shrunk fallback
                self._retriever_error = f"{type(exc).__name__}: {exc}"
        if self._retriever is None:
            return None
        return self._retriever.retrieve(
            question, k=self.config.retrieve_k, budget_tokens=self.config.schema_budget_tokens
        )

    def _messages(
        self, question: str, context: str, conversation: Conversation | None
    ) -> list[dict[str, str]]:
        lang, dialect = self.config.language, self.dialect
        out = [{"role": "system", "content": prompt.system_prompt(dialect, lang)}]
        history = conversation.turns[-self.config.history_turns :] if conversation else []
        for earlier_question, earlier_sql in history:
            # Earlier turns are carried in the trained format, without the schema block
            # (the latest turn holds it): the model reads them as its own past answers.
            out.append(
                {
                    "role": "user",
                    "content": prompt.user_prompt(earlier_question, dialect, None, lang),
                }
            )
            out.append({"role": "assistant", "content": prompt.sql_target(earlier_sql)})
        out.append(
            {"role": "user", "content": prompt.user_prompt(question, dialect, context, lang)}
        )
        return out

    def _generate(
        self, messages: list[dict[str, str]], record: _Recorder, attempt_no: int
    ) -> list[str] | None:
        from data_create.llm.client import ChatRequest

        k = self.config.samples if attempt_no == 1 else 1
        temperature = 0.0 if k == 1 else self.config.sample_temperature
        requests = [
            ChatRequest(
                messages=messages,
                purpose="agent",
                temperature=temperature,
                top_p=1.0 if k == 1 else 0.95,
                max_tokens=self.config.max_tokens,
            )
            for _ in range(k)
        ]
        t0 = time.perf_counter()
        replies = self.llm.run_many(requests)  # type: ignore[union-attr]
        elapsed = (time.perf_counter() - t0) * 1000
        texts = [r.text for r in replies if r.ok]
        failures = [str(r) for r in replies if not r.ok]
        record.add(
            "generate",
            elapsed,
            ok=bool(texts),
            attempt=attempt_no,
            detail={
                "answers": texts,
                "failures": failures,
                "tokens_out": sum(r.tokens_out for r in replies if r.ok),
            },
        )
        if not texts:
            record.answer.message = (
                f"the model endpoint failed: {failures[0] if failures else 'no answer'}"
            )
            return None
        return texts

    def _try_candidates(
        self, texts: list[str], record: _Recorder, attempt_no: int
    ) -> tuple[str, str, ExecResult | None, Attempt]:
        """Check and run each candidate; with k > 1, the answer most results agree on."""
        if len(texts) == 1:
            sql = prompt.extract_sql(texts[0])
            attempt, result = self._check_and_run(texts[0], sql, record, attempt_no)
            return texts[0], sql, result, attempt
        runs: list[tuple[str, str, ExecResult | None, Attempt]] = []
        done: dict[str, tuple[ExecResult | None, Attempt]] = {}
        for raw in texts:
            sql = prompt.extract_sql(raw)
            if sql not in done:
                done[sql] = self._check_and_run(raw, sql, record, attempt_no)[::-1]  # type: ignore[assignment]
            result, attempt = done[sql]
            runs.append((raw, sql, result, attempt))
        # Candidates agree when their rows agree; column names (COUNT(*) vs COUNT(id))
        # do not split a vote.
        votes = Counter(result_hash((), r.rows) for _, _, r, a in runs if r is not None and a.ok)
        with record.step("vote", attempt=attempt_no) as detail:
            detail.update(candidates=len(texts), distinct_sql=len(done), votes=dict(votes))
        if votes:
            best = votes.most_common(1)[0][0]
            for run in runs:
                r, a = run[2], run[3]
                if r is not None and a.ok and result_hash((), r.rows) == best:
                    return run
        return runs[0]

    def _check_and_run(
        self, raw: str, sql: str, record: _Recorder, attempt_no: int, source: str = "model"
    ) -> tuple[Attempt, ExecResult | None]:
        t0 = time.perf_counter()
        verdict = self.validator.check_static(sql)
        record.add(
            "validate",
            (time.perf_counter() - t0) * 1000,
            ok=verdict.ok,
            attempt=attempt_no,
            detail={"sql": sql, "layer": verdict.layer, "reason": verdict.reason},
        )
        if not verdict.ok:
            return Attempt(attempt_no, raw, sql, verdict.layer, verdict.reason, source=source), None
        # What runs is what was checked: the validator's canonical statement (regenerated
        # from the validated tree) where it provides one, else the very text it parsed.
        # The executor runs it in a read-only session and refuses a second statement.
        sql = getattr(verdict, "sql", None) or sql
        result = self.executor.execute(sql)
        record.add(
            "execute",
            result.elapsed_ms,
            ok=result.ok,
            attempt=attempt_no,
            detail={
                "rows": result.row_count,
                "truncated": result.truncated,
                "error_kind": result.error_kind,
                "error": scrub_values(result.error) if result.error else None,
            },
        )
        if not result.ok:
            reason = scrub_values(f"{result.error_kind}: {result.error}")
            return Attempt(
                attempt_no, raw, sql, "execution", reason, executed=True, source=source
            ), result
        t1 = time.perf_counter()
        problem = check_result(result, sql, self.dialect)
        record.add(
            "check",
            (time.perf_counter() - t1) * 1000,
            ok=problem is None,
            attempt=attempt_no,
            detail={"problem": problem[0] if problem else None},
        )
        if problem:
            return (
                Attempt(
                    attempt_no, raw, sql, f"check:{problem[0]}", problem[1],
                    rows=result.row_count, executed=True, source=source,
                ),
                result,
            )  # fmt: skip
        return Attempt(
            attempt_no, raw, sql, None, None, rows=result.row_count, executed=True, source=source
        ), result

    def _clarify(self, sql: str, record: _Recorder, attempt_no: int) -> dict[str, Any] | None:
        """An empty result filtered on a name that is not in the data: ask the user,
        offering the closest real values.  The values go to the user only, never to
        the model."""
        from . import clarify

        t0 = time.perf_counter()
        found = clarify.unknown_entity(sql, self.metadata, self.validator, self.executor)
        record.add(
            "clarify",
            (time.perf_counter() - t0) * 1000,
            ok=found is None,
            attempt=attempt_no,
            detail={"column": found["column"], "candidates": len(found["candidates"])}
            if found
            else {},
        )
        return found

    def _finish(
        self, answer: Answer, last_ok: tuple[Attempt, ExecResult] | None, record: _Recorder
    ) -> None:
        if answer.clarification:
            c = answer.clarification
            answer.status = "clarify"
            answer.sql = answer.attempts[-1].sql
            names = ", ".join(repr(v) for v in c["candidates"])
            answer.message = (
                f"No row has {c['column']} = {c['value']!r}. Did you mean one of: {names}?"
            )
            return
        if last_ok is None:
            answer.status = "failed"
            if not answer.message:
                last = answer.attempts[-1] if answer.attempts else None
                answer.message = (
                    f"no valid query after {len(answer.attempts)} attempt(s); last problem: "
                    f"{last.layer}: {last.reason}"
                    if last
                    else "no query was produced"
                )
            if answer.attempts:
                answer.sql = answer.attempts[-1].sql
            return
        attempt, result = last_ok
        answer.sql = attempt.sql
        answer.columns = result.columns
        answer.rows = result.rows
        answer.truncated = result.truncated
        answer.status = "empty" if result.row_count == 0 else "ok"
        if attempt.layer and attempt.layer.startswith("check:") and attempt.layer != "check:empty":
            answer.message = f"warning: {attempt.reason}"
        with record.step("summary") as detail:
            answer.summary = summary.summarize(
                answer.question, result.columns, result.rows, result.truncated
            )
            detail.update(text=answer.summary)
        if self.config.chart:
            with record.step("chart") as detail:
                choice = charts.choose(result.columns, result.rows, answer.question)
                answer.chart_kind = choice.kind
                answer.chart_options = choice.options
                answer.chart = charts.build_spec(
                    result.columns, result.rows, choice.kind, answer.question
                )
                detail.update(kind=choice.kind, reason=choice.reason, options=list(choice.options))
                detail["schema_errors"] = self._check_spec(answer)

    @staticmethod
    def _check_spec(answer: Answer) -> list[str] | None:
        """Schema-check the spec; an invalid one is dropped (the table still shows).
        None when the schema is not installed (the ``agent`` extra)."""
        if answer.chart is None:
            return []
        try:
            errors = charts.validate_spec(answer.chart)
        except (ImportError, RuntimeError):
            return None
        if errors:
            answer.chart, answer.chart_kind = None, "table"
        return errors


class _Recorder:
    """Appends steps to the answer's trace and reports each one as it happens."""

    def __init__(self, answer: Answer, on_step: StepCallback | None):
        self.answer = answer
        self.on_step = on_step

    def add(self, name: str, elapsed_ms: float, *, ok: bool = True, attempt: int | None = None,
            detail: dict[str, Any] | None = None) -> Step:  # fmt: skip
        step = Step(name, round(elapsed_ms, 3), ok, _json_safe(detail or {}), attempt)
        self.answer.trace.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return step

    def step(self, name: str, attempt: int | None = None) -> _Timed:
        return _Timed(self, name, attempt)


class _Timed:
    def __init__(self, recorder: _Recorder, name: str, attempt: int | None):
        self.recorder, self.name, self.attempt = recorder, name, attempt
        self.detail: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        self.t0 = time.perf_counter()
        return self.detail

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        ok = exc_type is None
        if exc is not None:
            self.detail["error"] = f"{exc_type.__name__}: {exc}"
        self.recorder.add(
            self.name, (time.perf_counter() - self.t0) * 1000, ok=ok, attempt=self.attempt,
            detail=self.detail,
        )  # fmt: skip


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return json_value(value)
