"""The request log: one JSON line per answer, for monitoring and the learning loop.

``<state_dir>/requests.jsonl``; each line::

    {"at": "2026-11-30T14:02:11.512+00:00", "answer_id": "...", "conversation_id": "...",
     "question": "...", "sql": "...", "status": "ok" | "empty" | "clarify" | "failed",
     "error": "<layer: reason, values scrubbed>" | null, "empty": false, "rows": 12,
     "repairs": 1, "attempts": 2, "latency_ms": 812.4, "steps": {"generate": 790.1, ...},
     "model": "...", "model_version": "v3", "client": "127.0.0.1"}

``python -m nl2sql_fine_tuning.loop monitor`` summarises it (requests, latency p50/p95,
error/repair rates per time bucket and per model version); ``loop intake --requests``
takes its failures (errors, empty results) in.  The question and SQL stay on this
machine, as the feedback store's do.  Lines are appended whole (one ``write`` on an
``O_APPEND`` file), so concurrent writers never interleave a line.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_NAME = "requests.jsonl"


def entry(answer: Any, model_version: str = "", client: str | None = None) -> dict[str, Any]:
    """The log line for an :class:`nl2sql_agent.core.Answer`."""
    steps: dict[str, float] = {}
    for step in answer.trace:
        steps[step.name] = round(steps.get(step.name, 0.0) + float(step.elapsed_ms), 3)
    failed = [a for a in answer.attempts if not a.ok]
    error = None
    if answer.status == "failed":
        last = failed[-1] if failed else None
        error = f"{last.layer}: {last.reason}" if last else (answer.message or "failed")
    return {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "answer_id": answer.id,
        "conversation_id": answer.conversation_id,
        "question": answer.question,
        "sql": answer.sql,
        "status": answer.status,
        "kind": "clarify" if answer.status == "clarify" else "answer",
        "error": error,
        "empty": answer.status == "empty",
        "rows": len(answer.rows),
        "repairs": answer.repairs,
        "attempts": len(answer.attempts),
        "latency_ms": round(float(answer.elapsed_ms), 3),
        "steps": steps,
        "model": answer.model,
        "model_version": model_version,
        "client": client,
    }


class RequestLog:
    """Appends lines to ``<state_dir>/requests.jsonl``."""

    def __init__(self, state_dir: str | os.PathLike[str]):
        self.path = Path(state_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)

    def log(self, answer: Any, model_version: str = "", client: str | None = None) -> None:
        self.append(entry(answer, model_version, client))
