"""Ctrl-C that really stops a run, even while a thread waits on a silent database.

Python raises :class:`KeyboardInterrupt` in the main thread only when that thread runs
Python code again; a thread blocked inside a driver call (psycopg2 waiting for a
result, PyMySQL reading a socket) keeps the process alive until the server answers,
which over a dead network is never.  :func:`stop_on_interrupt` watches for SIGINT from
a thread of its own, through :func:`signal.set_wakeup_fd` (written by the C-level
handler at once, whatever the main thread is doing), and escalates:

1. at once: nothing but Python's own KeyboardInterrupt, which unwinds the run normally
   (``finally`` blocks close files; the executor pool aborts the queries in flight);
2. after ``grace_s``: every database connection of the process is cut
   (:func:`data_create.executor.abort_all`, :func:`data_create.connect.abort_connections`),
   which ends every blocked driver call with an error;
3. after ``exit_s`` more: the process exits with status 130.  Every output file is
   written line by line with whole-line appends (see :mod:`data_create.pipeline`), so
   even this leaves files that read back; ``--resume`` cuts a torn last line.

The server side: a cut connection makes PostgreSQL end the backend (and roll back)
when it next reads or writes, and at once while it is idle in a transaction;
MariaDB ends the connection's transaction likewise.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Iterator

__all__ = ["stop_on_interrupt"]


def _cut_everything() -> None:
    from .connect import abort_connections
    from .executor import abort_all

    abort_all()
    abort_connections()


@contextlib.contextmanager
def stop_on_interrupt(grace_s: float = 1.0, exit_s: float = 1.5) -> Iterator[None]:
    """Within the block, Ctrl-C ends the process in at most ``grace_s + exit_s`` seconds.

    Only in the main thread (signals are delivered there); elsewhere it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        reader.close()
        writer.close()
        yield
        return
    done = threading.Event()
    interrupted = threading.Event()

    def escalate() -> None:
        if done.wait(grace_s):
            return
        _cut_everything()
        if done.wait(exit_s):
            return
        with contextlib.suppress(OSError):
            sys.stderr.write("interrupted (stopped waiting for the database)\n")
            sys.stderr.flush()
        os._exit(130)

    def watch() -> None:
        while not done.is_set():
            ready, _, _ = select.select([reader], [], [], 0.2)
            if not ready:
                continue
            try:
                data = reader.recv(256)
            except OSError:
                continue
            if signal.SIGINT in data and not interrupted.is_set():
                interrupted.set()
                escalate()
                return

    watcher = threading.Thread(target=watch, name="nl2sql-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        if interrupted.is_set():
            # Leaving because of Ctrl-C: cut what may still run (worker threads are
            # joined at exit), and let the watcher's deadline stand until the process
            # is gone.
            _cut_everything()
        else:
            done.set()
            watcher.join(timeout=1)
            reader.close()
            writer.close()
        signal.set_wakeup_fd(previous)
