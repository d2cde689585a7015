"""Intake: failures and feedback from the agent, or from a plain JSONL, become loop items.

Three sources, one record shape (``intake.jsonl``):

* the agent's **feedback store** (``nl2sql_agent.feedback.FeedbackStore``, a versioned
  SQLite file): ``down`` is a failure, ``corrected`` a failure with the user's SQL,
  ``up`` an accepted answer;
* the agent's **request log** (JSONL, one line per answer): an error after all repair
  rounds, an empty result, or a result the agent's checks flagged (all-NULL columns, a
  join that multiplied rows) is a failure without a correction;
* a **plain JSONL** for users without the agent: ``{"question", "sql"?, "corrected_sql"?
  (or "gold_sql"), "verdict"?: "up" | "down" | "corrected"}``.

Every item has a stable id (a hash of its source and its content), so taking the same
file in twice adds nothing.  A corrected or accepted SQL goes through the three-layer
validator **and is executed** (read-only) before it is stored in ``corrections.jsonl``
as training data; one that fails is kept in ``intake.jsonl`` with status ``rejected``
and the layer and reason.  The question is kept exactly as the user wrote it.

A correction for a question that already has one *supersedes* it (a user fixing an
earlier correction is normal); if the gate refuses the iteration that trained on the
new one, the old one is restored (``dataset.settle``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

from .home import LoopHome, append_jsonl, read_jsonl, write_jsonl

FAILURE_KINDS = ("error", "empty", "suspicious", "down", "corrected")
KINDS = (*FAILURE_KINDS, "accepted")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def question_key(question: str) -> str:
    """Questions compared for superseding: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", question).casefold().split())


@dataclass(frozen=True)
class Item:
    """One thing taken in."""

    source: str  # "feedback" | "requests" | "jsonl"
    ref: str  # where in the source (feedback id, answer id, line number)
    kind: str  # one of KINDS
    question: str
    sql: str | None = None  # what the model answered
    gold_sql: str | None = None  # the user's corrected SQL, or the accepted SQL
    model_version: str | None = None
    at: str | None = None  # when it happened at the source

    @property
    def id(self) -> str:
        blob = json.dumps(
            [self.source, self.kind, self.question, self.sql, self.gold_sql], ensure_ascii=False
        )
        return "i" + hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class IntakeSummary:
    read: int = 0
    new: int = 0
    duplicates: int = 0
    by_kind: Counter = field(default_factory=Counter)
    corrections_accepted: int = 0
    corrections_rejected: int = 0
    superseded: int = 0
    rejected_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "new": self.new,
            "duplicates": self.duplicates,
            "by_kind": dict(self.by_kind),
            "corrections_accepted": self.corrections_accepted,
            "corrections_rejected": self.corrections_rejected,
            "superseded": self.superseded,
            "rejected_reasons": self.rejected_reasons,
        }


# ---------------------------------------------------------------- sources


def from_feedback(path: str | Path) -> list[Item]:
    """Items from the agent's feedback store (read through its own class)."""
    from nl2sql_agent.feedback import FeedbackStore

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"feedback store {p} does not exist", "pass the agent's feedback.sqlite")
    try:
        store = FeedbackStore(p)
    except (RuntimeError, sqlite3.DatabaseError) as exc:
        raise ConfigError(f"cannot read the feedback store {p}: {exc}") from None
    try:
        rows = store.all(limit=10**9)
    finally:
        store.close()
    items = []
    for r in reversed(rows):  # oldest first, so a later correction supersedes an earlier one
        verdict = r["verdict"]
        kind = {"up": "accepted", "down": "down", "corrected": "corrected"}[verdict]
        gold = r.get("corrected_sql") if verdict == "corrected" else None
        if verdict == "up":
            gold = r.get("sql")
        items.append(
            Item(
                "feedback",
                str(r["id"]),
                kind,
                r["question"],
                r.get("sql"),
                gold,
                r.get("model_version") or None,
                r.get("created_at"),
            )
        )
    return items


def _request_failure(r: dict[str, Any]) -> str | None:
    """The failure kind of one request-log line, or None for a good answer."""
    if r.get("kind") == "clarify":
        return None  # the agent asked back; nothing wrong with the model
    if r.get("ok") is False or r.get("error"):
        return "error"
    if r.get("empty"):
        return "empty"
    if r.get("warnings") or r.get("suspicious"):
        return "suspicious"
    return None


def from_request_log(path: str | Path) -> list[Item]:
    """Failures from the agent's request log (``requests.jsonl``)."""
    items = []
    for number, r in enumerate(read_jsonl(Path(path)), start=1):
        kind = _request_failure(r)
        if kind is None or not r.get("question"):
            continue
        items.append(
            Item(
                "requests",
                str(r.get("answer_id") or number),
                kind,
                r["question"],
                r.get("sql") or None,
                None,
                r.get("model_version") or None,
                r.get("at"),
            )
        )
    return items


def from_jsonl(path: str | Path) -> list[Item]:
    """Items from a plain JSONL (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"input file {p} does not exist")
    items = []
    for number, r in enumerate(read_jsonl(p), start=1):
        question = r.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ConfigError(f"{p} line {number}: 'question' is missing or empty")
        gold = r.get("corrected_sql") or r.get("gold_sql")
        verdict = r.get("verdict") or ("corrected" if gold else "down")
        if verdict not in ("up", "down", "corrected"):
            raise ConfigError(f"{p} line {number}: verdict must be up, down or corrected")
        if verdict == "up":
            gold = gold or r.get("sql")
        if verdict in ("up", "corrected") and not gold:
            raise ConfigError(f"{p} line {number}: verdict {verdict} needs an SQL")
        kind = {"up": "accepted", "down": "down", "corrected": "corrected"}[verdict]
        items.append(
            Item(
                "jsonl",
                f"{p.name}:{number}",
                kind,
                question,
                r.get("sql") or None,
                gold,
                r.get("model_version") or None,
                r.get("at"),
            )
        )
    return items


# ---------------------------------------------------------------- taking in


def take_in(home: LoopHome, items: Iterable[Item], db: Any, meta: Any) -> IntakeSummary:
    """Record new items; validate and execute every corrected/accepted SQL first."""
    from data_create.executor import Executor
    from data_create.features import tag
    from data_create.validator import Validator

    summary = IntakeSummary()
    seen = {r["id"] for r in read_jsonl(home.intake)}
    corrections = read_jsonl(home.corrections)
    executor = Executor(db, timeout_s=10.0, row_cap=1000)
    new_records: list[dict[str, Any]] = []
    try:
        validator = Validator(meta, meta.dialect, executor=executor)
        for item in items:
            summary.read += 1
            if item.id in seen:
                summary.duplicates += 1
                continue
            seen.add(item.id)
            summary.new += 1
            summary.by_kind[item.kind] += 1
            sql_for_tables = item.gold_sql or item.sql or ""
            record: dict[str, Any] = {
                "id": item.id,
                "source": item.source,
                "ref": item.ref,
                "kind": item.kind,
                "question": item.question,
                "sql": item.sql,
                "gold_sql": item.gold_sql,
                "model_version": item.model_version,
                "at": item.at,
                "received_at": _now(),
                "tables": list(tag(sql_for_tables, meta.dialect, meta).tables)
                if sql_for_tables
                else [],
                "status": "pending",
            }
            if item.gold_sql:
                verdict = validator.validate(item.gold_sql)
                if not verdict.ok:
                    record.update(status="rejected", layer=verdict.layer, reason=verdict.reason)
                    summary.corrections_rejected += 1
                    summary.rejected_reasons.append(f"{verdict.layer}: {verdict.reason}")
                else:
                    record["validation"] = {"rows": verdict.rows, "empty": verdict.empty}
                    summary.corrections_accepted += 1
                    key = question_key(item.question)
                    for c in corrections:
                        if (
                            question_key(c["question"]) == key
                            and c["status"]
                            in (
                                "pending",
                                "trained",
                            )
                            and not c.get("superseded_by")
                        ):
                            c["superseded_by"] = item.id
                            summary.superseded += 1
                    corrections.append(
                        {
                            "id": item.id,
                            "kind": "accepted" if item.kind == "accepted" else "correction",
                            "question": item.question,
                            "sql": item.gold_sql,
                            "model_sql": item.sql,
                            "source": item.source,
                            "ref": item.ref,
                            "tables": record["tables"],
                            "status": "pending",
                            "superseded_by": None,
                            "received_at": record["received_at"],
                        }
                    )
            new_records.append(record)
    finally:
        executor.close()
    append_jsonl(home.intake, new_records)
    write_jsonl(home.corrections, corrections)
    return summary


def pending(home: LoopHome) -> list[dict[str, Any]]:
    """Intake items not yet used by an iteration (rejected ones never are)."""
    return [r for r in read_jsonl(home.intake) if r["status"] == "pending"]


def pending_failures(home: LoopHome) -> list[dict[str, Any]]:
    return [r for r in pending(home) if r["kind"] in FAILURE_KINDS]
