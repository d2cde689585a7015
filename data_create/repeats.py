"""Identical warnings, said once with a count.

A run against a failing endpoint used to print the same line a hundred times before
its final error, burying it.  :class:`RepeatedWarnings` counts messages and, on
:meth:`~RepeatedWarnings.flush` (at the end of a batch of work, and when the client or
command closes), logs each distinct one once, with how often it came::

    >>> import logging, sys
    >>> log = logging.getLogger("doctest.repeats")
    >>> log.addHandler(logging.StreamHandler(sys.stdout)); log.propagate = False
    >>> warnings = RepeatedWarnings(log)
    >>> for _ in range(3):
    ...     warnings.warn("LLM %s request failed: %s", "eval", "connection")
    >>> warnings.warn("LLM %s request failed: %s", "eval", "timeout")
    >>> warnings.flush()
    LLM eval request failed: connection (3 times)
    LLM eval request failed: timeout
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any


class RepeatedWarnings:
    """Warnings through ``logger``: each distinct message once, with its count, on flush.

    Thread-safe: the LLM client warns from its event loop and from callers' threads."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def warn(self, message: str, *args: Any) -> None:
        text = message % args if args else message
        with self._lock:
            self._counts[text] += 1

    def flush(self) -> None:
        """One line per distinct message, in first-seen order; then start afresh."""
        with self._lock:
            counted = list(self._counts.items())
            self._counts.clear()
        for text, n in counted:
            if n > 1:
                self.logger.warning("%s (%d times)", text, n)
            else:
                self.logger.warning("%s", text)


__all__ = ["RepeatedWarnings"]
