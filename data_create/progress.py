"""Terminal progress: one line per stage on stderr, redrawn in place on a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """One line per stage on stderr: redrawn in place on a terminal; elsewhere (logs, CI)
    one line when a stage finishes, so a failure's message stands alone."""

    def __init__(self, stream: Any = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._label = ""

    def start(self, label: str, total: int | None = None) -> None:
        self._label, self._total, self._started = label, total, time.perf_counter()
        if self.tty:
            self.stream.write(f"\r{label} ...\x1b[K")
            self.stream.flush()

    def update(self, done: int, note: str = "") -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last < 0.1:
            return
        self._last = now
        self.stream.write("\r" + self._line(done, note) + "\x1b[K")
        self.stream.flush()

    def finish(self, done: int | None = None, note: str = "") -> None:
        if not self.enabled:
            return
        took = time.perf_counter() - self._started
        line = self._line(done, note) if done is not None else self._label
        end = f"{line}  ({took:.1f}s)"
        if self.tty:
            self.stream.write("\r" + end + "\x1b[K\n")
        else:
            print(end, file=self.stream)
        self.stream.flush()

    def _line(self, done: int | None, note: str) -> str:
        if done is None:
            return self._label
        if self._total:
            width = 24
            filled = min(width, int(width * done / self._total))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self._label:<10} [{bar}] {done}/{self._total}"
        else:
            text = f"{self._label:<10} {done}"
        return f"{text} {note}".rstrip()


__all__ = ["Progress"]
