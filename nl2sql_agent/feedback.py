"""The feedback store: what users said about the agent's answers, for the learning loop.

One SQLite file in the agent's state directory (``<state_dir>/feedback.sqlite``).  Each
row is one judgement of one answer: the question, the SQL that answered it, a hash of
the result, the model (and its version), the verdict (``up``, ``down`` or
``corrected``), the user's corrected SQL when there is one, and timestamps.  The
schema is versioned with ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`); a file
written by a newer version is refused rather than misread.

A corrected SQL is stored only after it passed the validator and the read-only
executor (the server runs it first), so the learning loop can train on it directly.

>>> import tempfile, pathlib
>>> store = FeedbackStore(pathlib.Path(tempfile.mkdtemp()) / "feedback.sqlite")
>>> fid = store.add(question="How many orders?", sql="SELECT COUNT(*) FROM orders", verdict="up",
...                 model="sft-v3", database="shop", dialect="sqlite")
>>> store.get(fid)["verdict"]
'up'
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "VERDICTS", "FeedbackStore"]

SCHEMA_VERSION = 1
VERDICTS = ("up", "down", "corrected")

_DDL = """
CREATE TABLE IF NOT EXISTS feedback (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,      -- UTC, ISO 8601
    updated_at      TEXT NOT NULL,
    answer_id       TEXT,               -- the agent's answer id (links to the trace)
    conversation_id TEXT,
    question        TEXT NOT NULL,
    sql             TEXT,               -- the SQL the user judged
    result_hash     TEXT,               -- nl2sql_agent.core.result_hash of its result
    row_count       INTEGER,
    verdict         TEXT NOT NULL CHECK (verdict IN ('up', 'down', 'corrected')),
    corrected_sql   TEXT,               -- validated and executed before it was stored
    corrected_hash  TEXT,
    comment         TEXT,
    model           TEXT,               -- the served model's name
    model_version   TEXT,               -- AgentConfig.model_version (e.g. a run id)
    database        TEXT,
    dialect         TEXT,
    repairs         INTEGER,            -- repair rounds the answer needed
    client          TEXT                -- who sent it (IP), for abuse review
);
CREATE INDEX IF NOT EXISTS feedback_verdict ON feedback (verdict, created_at);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id);
"""

_FIELDS = (
    "answer_id", "conversation_id", "question", "sql", "result_hash", "row_count", "verdict",
    "corrected_sql", "corrected_hash", "comment", "model", "model_version", "database",
    "dialect", "repairs", "client",
)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FeedbackStore:
    """Thread-safe append/read access to the feedback file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise RuntimeError(
                f"{self.path} has feedback schema version {version}; this version of "
                f"nl2sql-factory reads up to {SCHEMA_VERSION} — upgrade nl2sql-factory"
            )
        with self._lock:
            self._conn.executescript(_DDL)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def add(self, *, question: str, verdict: str, **fields: Any) -> int:
        """Store one judgement; returns its id."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown feedback fields {sorted(unknown)}")
        row = {"question": question, "verdict": verdict, **fields}
        names = ["created_at", "updated_at", *row]
        now = _now()
        with self._lock:
            cur = self._conn.execute(
                f"INSERT INTO feedback ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [now, now, *row.values()],
            )
            return int(cur.lastrowid)

    def get(self, feedback_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM feedback WHERE id = ?", (feedback_id,)
            ).fetchone()
        return dict(row) if row else None

    def all(self, verdict: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first."""
        query = "SELECT * FROM feedback"
        args: list[Any] = []
        if verdict:
            query += " WHERE verdict = ?"
            args.append(verdict)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            return [dict(r) for r in self._conn.execute(query, args).fetchall()]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT verdict, COUNT(*) FROM feedback GROUP BY verdict")
            return {v: n for v, n in rows.fetchall()}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
