"""Run untrusted, already validated read queries: read-only, time-limited, row-capped.

The validator's execution layer, the evaluation and the SQL agent all run SQL through
here.  The executor is the second line of defence behind the AST safety layer, so it
does not trust the text it gets:

* every query runs in a **read-only session** (SQLite: a ``mode=ro`` connection with
  ``PRAGMA query_only`` and an authorizer; PostgreSQL/MariaDB: read-only transactions,
  rolled back after each query; SQL Server, which has no read-only session, refuses
  statements that could write);
* a **timeout that really cancels** the query on the server: the engine's own statement
  timeout, plus a watchdog that cancels from the client side a little after the deadline
  (``conn.cancel()``, ``KILL QUERY``, ``SQLCancel``) in case the server-side one is not in
  effect; SQLite is interrupted by a progress handler;
* a **row cap**: at most ``row_cap + 1`` rows are ever fetched (server-side cursors or
  streaming), so a huge result costs neither memory nor transfer;
* a **byte cap** (``byte_cap``) counted while fetching, so a few huge values cannot
  fill the memory either (see :ref:`what bounds memory <byte-cap>` below);
* **clean sessions**: after every query the transaction is rolled back and whatever
  else could survive in the connection (advisory and user locks, session and user
  variables, prepared statements, temporary tables) is reset with the engine's own
  statements (:data:`data_create.engines.SESSIONS`); a connection whose state is not
  known (a cleanup that failed, a timeout, a cancel, an interrupt) is closed, never
  used again;
* **bounded waits**: client-side socket timeouts (PostgreSQL keepalives and
  ``tcp_user_timeout``, PyMySQL ``read_timeout``), and a watchdog that, when even the
  cancel gets no answer, shuts the connection's socket down so a silent network ends
  in the timeout instead of a hang; :func:`abort_all` does the same for every open
  session at once (Ctrl-C);
* **no data in errors**: a server's error text is reduced to its class and the names
  the query itself contains (:func:`reduce_error`), because the text goes to LLM
  repair prompts, ``rejects.jsonl`` and reports, and "invalid input syntax for type
  integer: \"+1 555 0100\"" would carry a customer's phone number there;
* **connection reuse**: one connection per :class:`Executor`, reopened transparently
  once if it died.

.. _byte-cap:

What bounds memory, per engine: PostgreSQL runs a query inside a wrapper that sends
each row's ``pg_column_size`` total with it and NULLs in place of a row larger than
``byte_cap / 16``; rows come 16 per FETCH and the client stops once the running total
passes the cap, so a FETCH never holds more than the cap.  SQLite refuses any single
string or blob longer than the cap (``SQLITE_LIMIT_LENGTH``, at least 16 MiB) while it
computes it, and rows are counted as they come.  MariaDB/MySQL stream rows one at a
time, and the budget is enforced where PyMySQL reads packets from the socket, so a
row's 16 MB packets are refused before they are read.

>>> from data_create.connect import connect
>>> with Executor(connect("shop.sqlite"), timeout_s=2) as ex:  # doctest: +SKIP
...     ex.execute("SELECT name FROM products WHERE product_id = 17")
ExecResult(ok=True, columns=('name',), rows=(('Teapot',),), row_count=1, ...)
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import engines, statements
from .connect import classify, scrub, shutdown_fd
from .errors import ConnectionFailed
from .hygiene import one_line

if TYPE_CHECKING:
    from .connect import Database

__all__ = ["DEFAULT_BYTE_CAP", "ExecResult", "Executor", "ExecutorPool", "abort_all"]

# The client-side watchdog sends a cancel this long after the server-side timeout
# should have fired ...
_GRACE_S = 0.25
# ... and, if the query still has not ended this much later (the network is silent, the
# cancel itself cannot get through), shuts the connection's socket down.
_HARD_KILL_S = 0.75
# Our own statements around a query (session setup, cleanup, reset) get this long before
# the watchdog cuts the socket: a network that goes silent between queries must not
# hang the cleanup either.
_HOUSEKEEPING_S = 1.5
_MAX_ERROR_CHARS = 500
# Bytes of result values one query may fetch (about: strings and blobs count their
# length, other values 16 bytes).
DEFAULT_BYTE_CAP = 32 * 1024 * 1024
# Seconds beyond the query timeout that a socket read may wait (PyMySQL read_timeout).
_SOCKET_SLACK_S = 5.0

# Every open session, so that Ctrl-C can stop all of them (abort_all).
_LIVE: weakref.WeakSet[_Session] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def abort_all() -> int:
    """Stop every query in flight in this process at once; the number of sessions hit.

    For Ctrl-C: each open session's socket is shut down (SQLite: interrupted), so a
    thread blocked in a driver call returns at once with an error, and the session is
    closed instead of reused.  The server sees the client go and rolls back (PostgreSQL
    also ends a backend left idle in a transaction, see ``idle_in_transaction_session_timeout``
    in :data:`data_create.engines.SESSIONS`).  Safe to call from any thread.
    """
    with _LIVE_LOCK:
        sessions = list(_LIVE)
    for session in sessions:
        session.abort()
    return len(sessions)


@dataclass(frozen=True, slots=True)
class ExecResult:
    ok: bool
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()  # at most row_cap rows
    row_count: int = 0  # rows fetched (<= row_cap)
    truncated: bool = False  # the query had more rows than row_cap
    elapsed_ms: float = 0.0
    # None | "timeout" | "error" | "readonly" | "connection" | "too_large" (byte cap)
    error_kind: str | None = None
    error: str | None = None  # one line: the error's class and names only, no values

    @property
    def empty(self) -> bool:
        return self.ok and self.row_count == 0


class _Refused(Exception):
    """The executor itself refuses a statement before it reaches the server."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Executor:
    """One read-only connection, reused for many queries. Not thread-safe: one per worker thread.

    The connection opens on the first :meth:`execute`; a server that cannot be reached
    gives ``error_kind="connection"`` results, and each later call tries again.
    """

    def __init__(
        self,
        db: Database,
        timeout_s: float = 10.0,
        row_cap: int = 1000,
        byte_cap: int = DEFAULT_BYTE_CAP,
    ):
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if row_cap < 0:
            raise ValueError(f"row_cap must be >= 0, got {row_cap!r}")
        if byte_cap < 1:
            raise ValueError(f"byte_cap must be >= 1, got {byte_cap!r}")
        self.db = db
        self.timeout_s = float(timeout_s)
        self.row_cap = int(row_cap)
        self.byte_cap = int(byte_cap)
        self._session_type: type[_Session] = engines.session_class(db.profile.name)
        self._session: _Session | None = None

    @property
    def backend_id(self) -> int | None:
        """The server's id of this executor's connection (PostgreSQL pid, MySQL connection id,
        SQL Server SPID); None for SQLite or before the first query."""
        return self._session.backend_id if self._session is not None else None

    def execute(self, sql: str) -> ExecResult:
        """Run one statement; never raises for problems with the query or the server."""
        start = time.perf_counter()
        for attempt in (1, 2):
            session = self._session
            if session is None:
                try:
                    session = self._session = self._session_type(
                        self.db, self.timeout_s, self.row_cap, self.byte_cap
                    )
                except ConnectionFailed as exc:
                    return self._failed(start, "connection", exc.message)
            try:
                columns, rows, truncated = session.run(sql)
            except _Refused as exc:
                if not session.usable:
                    self._drop()
                return self._failed(start, exc.kind, str(exc))
            except (*session.errors, ValueError) as exc:
                kind = session.classify(exc)
                if session.aborted:
                    kind = "interrupted"
                if kind in ("timeout", "interrupted"):
                    # Cancelled, killed or cut off: the connection's state is not known.
                    session.usable = False
                if not session.usable or kind == "connection":
                    self._drop()
                if kind == "connection" and attempt == 1:
                    continue  # the connection died under us: reopen once and retry
                message = session.describe(exc, sql)
                if kind == "timeout" and session.cut:
                    message = "no answer from the server, even to the cancel: connection cut"
                if kind == "interrupted":
                    message = "interrupted (the run is stopping)"
                elif kind == "timeout":
                    message = f"cancelled after the {self.timeout_s:g} s timeout ({message})"
                return self._failed(start, kind, message)
            if not session.usable:
                self._drop()
            return ExecResult(
                ok=True,
                columns=columns,
                rows=rows,
                row_count=len(rows),
                truncated=truncated,
                elapsed_ms=(time.perf_counter() - start) * 1000,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, start: float, kind: str, message: str) -> ExecResult:
        text = one_line(scrub(message, self.db.url), _MAX_ERROR_CHARS)
        return ExecResult(
            ok=False,
            elapsed_ms=(time.perf_counter() - start) * 1000,
            error_kind=kind,
            error=text,
        )

    def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ExecutorPool:
    """N workers, each with its own Executor (own connection), for parallel execution."""

    def __init__(
        self,
        db: Database,
        workers: int = 4,
        timeout_s: float = 10.0,
        row_cap: int = 1000,
        byte_cap: int = DEFAULT_BYTE_CAP,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self._make = lambda: Executor(db, timeout_s=timeout_s, row_cap=row_cap, byte_cap=byte_cap)
        self._local = threading.local()
        self._executors: list[Executor] = []
        self._lock = threading.Lock()
        self._busy = 0  # queries running in the workers now
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nl2sql-exec")

    def _execute(self, sql: str) -> ExecResult:
        executor = getattr(self._local, "executor", None)
        if executor is None:
            executor = self._local.executor = self._make()
            with self._lock:
                self._executors.append(executor)
        with self._lock:
            self._busy += 1
        try:
            return executor.execute(sql)
        finally:
            with self._lock:
                self._busy -= 1

    def map(self, sqls: Iterable[str]) -> list[ExecResult]:
        """Run every statement; the results come back in input order."""
        return list(self._threads.map(self._execute, sqls))

    def close(self) -> None:
        """Wait for the queries in flight, then close every connection.

        Interrupted (Ctrl-C while :meth:`map` waited), queries may still run in the
        workers: their sessions are aborted so the workers end at once.
        """
        if self._busy:
            self._threads.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                for executor in self._executors:
                    if executor._session is not None:
                        executor._session.abort()
        self._threads.shutdown(wait=True)
        with self._lock:
            executors, self._executors = self._executors, []
        for executor in executors:
            executor.close()

    def __enter__(self) -> ExecutorPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ---------------------------------------------------------------- watchdog


class _Watchdog:
    """A thread that stops a query that outlives its deadline, in two steps.

    First it asks the server to cancel (``cancel``, in a thread of its own: a cancel
    opens a connection, which a silent network can hang); if the query has still not
    ended ``_HARD_KILL_S`` later, it calls ``kill``, which shuts the connection's socket
    down so the blocked driver call returns.  Either way the session is discarded
    afterwards (the executor drops a timed-out session), so a late cancel can only hit a
    connection nobody uses any more.

    One per session, armed around each query (a ``threading.Timer`` per query would start
    a thread each time).  Arming only wakes the thread when it sleeps without a deadline,
    so back-to-back fast queries cost two lock round trips each.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._cancel: Callable[[], None] | None = None
        self._kill: Callable[[], None] | None = None
        self._fired = False
        self._idle = False
        self._closed = False
        self.cut = False  # the last query's socket was shut down
        self.failure: str | None = None  # why the last cancel did not go through
        self._thread = threading.Thread(target=self._run, name="nl2sql-watchdog", daemon=True)
        self._thread.start()

    def arm(
        self,
        deadline: float,
        cancel: Callable[[], None] | None,
        kill: Callable[[], None] | None = None,
    ) -> None:
        with self._cond:
            self._deadline, self._cancel, self._kill = deadline, cancel, kill
            self._fired = self.cut = False
            if self._idle:
                self._cond.notify()

    def disarm(self) -> bool:
        """Stop watching; True if the cancel was called for the query just finished."""
        with self._cond:
            self._deadline = self._cancel = self._kill = None
            return self._fired

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                if not self._fired:
                    self._fired = True
                    if self._cancel is not None:
                        threading.Thread(
                            target=self._call_cancel, args=(self._cancel,), daemon=True,
                            name="nl2sql-cancel",
                        ).start()  # fmt: skip
                    self._deadline = time.monotonic() + _HARD_KILL_S
                    if self._kill is None:
                        self._deadline = self._cancel = None
                    continue
                # Still running after the cancel: the last resort.  Under the lock, so
                # disarm() cannot return while the socket of this query is being shut.
                kill, self._deadline, self._cancel, self._kill = self._kill, None, None, None
                self.cut = True
                try:
                    kill()  # type: ignore[misc]
                except Exception as exc:  # reported through .failure
                    self.failure = f"{type(exc).__name__}: {exc}"

    def _call_cancel(self, cancel: Callable[[], None] | None) -> None:
        if cancel is None:
            return
        try:
            cancel()
            self.failure = None
        except Exception as exc:  # reported through .failure
            self.failure = f"{type(exc).__name__}: {exc}"


_VALUE_OVERHEAD = 16  # bytes counted for a value that is not a string or blob


def _row_bytes(row: tuple[Any, ...]) -> int:
    return sum(
        len(v) if isinstance(v, str | bytes | bytearray | memoryview) else _VALUE_OVERHEAD
        for v in row
    )


# ---------------------------------------------------------------- error reduction

# A server's error text goes to LLM repair prompts, rejects.jsonl and reports, so it
# must not carry values from the database.  The texts quote what they are about;
# quoted parts and unquoted tokens that are not plain English wording are kept only
# when the query itself contains them (names of tables, columns, functions, and the
# query's own literals, which are no news to anyone who has the query).
_QUOTED_PART = re.compile(
    r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|“[^”]*”|‘[^’]*’|«[^»]*»"""
)
_TOKEN = re.compile(r"[^\s'\"`“”‘’«»(),:;=<>\[\]{}!?]+")
_PLAIN_WORD = re.compile(r"[A-Za-z_]+(?:[.\-/][A-Za-z_]+)*")
_SQL_WORD = re.compile(r"\w+")
_REDACTED = "…"


def reduce_error(text: str, sql: str, phrases: frozenset[str] = frozenset()) -> str:
    """The error text with every part that could be a database value replaced by ``…``.

    Kept: the server's wording (plain ASCII words), and quoted or unquoted parts whose
    words all occur in ``sql`` (the names involved) or that are one of the engine's
    fixed ``phrases``.  Numbers, non-ASCII text and other quoted parts go.

    >>> reduce_error('invalid input syntax for type integer: "+1 555 0100"',
    ...              "SELECT CAST(phone AS integer) FROM customers")
    'invalid input syntax for type integer: "…"'
    >>> reduce_error('column "nme" does not exist', "SELECT nme FROM t")
    'column "nme" does not exist'
    >>> reduce_error("XPATH syntax error: '$2y$10$abc'", "SELECT EXTRACTVALUE(1, x) FROM t")
    "XPATH syntax error: '…'"
    >>> reduce_error("date field value out of range: 2024-13-01", "SELECT make_date(y, m, d)")
    'date field value out of range: …'
    """
    sql_words = {w.lower() for w in _SQL_WORD.findall(sql)}
    lowered_phrases = {p.lower() for p in phrases}

    def known(part: str) -> bool:
        words = _SQL_WORD.findall(part)
        return bool(words) and all(w.lower() in sql_words for w in words)

    def quoted(match: re.Match[str]) -> str:
        whole = match.group()
        inner = whole[1:-1]
        if inner.lower() in lowered_phrases or known(inner):
            return whole
        return whole[0] + _REDACTED + whole[-1]

    def unquoted(chunk: str) -> str:
        def token(match: re.Match[str]) -> str:
            word = match.group()
            if _PLAIN_WORD.fullmatch(word) or known(word):
                return word
            return _REDACTED

        return _TOKEN.sub(token, chunk)

    out: list[str] = []
    pos = 0
    for match in _QUOTED_PART.finditer(text):
        out.append(unquoted(text[pos : match.start()]))
        out.append(quoted(match))
        pos = match.end()
    out.append(unquoted(text[pos:]))
    return "".join(out)


# ---------------------------------------------------------------- statement scanning

# Where a multi-statement string could slip past a read-only transaction (PostgreSQL's
# simple protocol and SQL Server batches run "COMMIT; ..." happily), the executor splits
# the text itself with the servers' rules for quotes and comments (data_create.statements);
# a construct the lexer cannot close is refused rather than guessed at.
_PG_TOKEN = statements.POSTGRES
_TSQL_TOKEN = statements.TSQL


def _split_one(sql: str, token: re.Pattern[str], want_words: bool = False) -> statements.Statement:
    """The single statement in ``sql``; :class:`_Refused` if there is more than one.

    >>> _split_one("SELECT ';' AS x; -- done", _PG_TOKEN).body
    "SELECT ';' AS x"
    >>> _split_one("SELECT 1; DELETE FROM t", _PG_TOKEN)
    Traceback (most recent call last):
    ...
    data_create.executor._Refused: only one statement may run at a time
    """
    try:
        return statements.single_statement(sql, token, want_words)
    except statements.NotOneStatement as exc:
        raise _Refused("error", str(exc)) from None


# ---------------------------------------------------------------- sessions

Rows = tuple[tuple[Any, ...], ...]


class _Session:
    """One open connection of one engine, configured read-only.

    ``run`` returns (columns, rows, truncated) or raises a driver error (one of
    ``errors``) or :class:`_Refused`; ``classify`` names the error's kind.  A session
    sets ``usable = False`` when its connection must not be used again.
    """

    errors: tuple[type[BaseException], ...] = ()
    backend_id: int | None = None
    usable = True
    aborted = False  # abort() was called: whatever the query raised, it was us
    cut = False  # the watchdog shut the socket down: the server did not answer at all

    def __init__(self, db: Database, timeout_s: float, row_cap: int, byte_cap: int):
        self.db, self.timeout_s, self.row_cap, self.byte_cap = db, timeout_s, row_cap, byte_cap
        self.facts = db.profile.session
        with _LIVE_LOCK:
            _LIVE.add(self)

    def run(self, sql: str) -> tuple[tuple[str, ...], Rows, bool]:
        raise NotImplementedError

    def classify(self, exc: BaseException) -> str:
        return "error"

    def describe(self, exc: BaseException, sql: str) -> str:
        """The error's class and the names involved, never values (:func:`reduce_error`)."""
        return f"{type(exc).__name__}: {self._reduce(str(exc), sql)}"

    def _reduce(self, message: str, sql: str) -> str:
        return reduce_error(one_line(message), sql, self.facts.error_phrases)

    def abort(self) -> None:
        """Make a query in flight in another thread end now; the session is then closed.

        Thread-safe; only shuts the socket down (closing it under the driver could let
        its descriptor number be reused by another file)."""
        self.aborted = True
        self.usable = False
        with contextlib.suppress(Exception):  # best effort: the connection may be gone
            self._hard_kill()

    def _hard_kill(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def _housekeeping(self) -> Iterator[None]:
        """Bound our own statements: past ``_HOUSEKEEPING_S`` (+ ``_HARD_KILL_S``) the
        socket is cut, the statement fails and the session is not used again."""
        self._watchdog.arm(time.monotonic() + _HOUSEKEEPING_S, None, self._hard_kill)
        try:
            yield
        finally:
            if self._watchdog.disarm():
                self.usable = False

    def close(self) -> None:
        raise NotImplementedError

    def _fetch(self, cur: Any, limit: int) -> list[Any]:
        """Up to ``limit`` rows, counting bytes; :class:`_Refused` past the byte cap.

        One row at a time: a streaming cursor (MariaDB) holds only the row in hand, so
        the count stops a result after at most one row over the cap."""
        rows: list[Any] = []
        total = 0
        while len(rows) < limit:
            row = cur.fetchone()
            if row is None:
                break
            total += _row_bytes(row)
            if total > self.byte_cap:
                raise _Refused("too_large", self._too_large())
            rows.append(row)
        return rows

    def _too_large(self) -> str:
        return (
            f"the result is larger than the {self.byte_cap:,}-byte cap "
            "(select fewer rows or smaller columns)"
        )

    def _open_dbapi(self) -> Any:
        """A DBAPI connection of our own: taken from the engine's pool and detached from
        it, so our session settings never leak back into the pool."""
        try:
            proxied = self.db.engine.raw_connection()
        except Exception as exc:  # every driver failure becomes one message
            raise classify(exc, self.db.url) from None
        connection = proxied.driver_connection
        proxied.detach()
        return connection

    def _cut(self, description: Any, rows: list[Any]) -> tuple[tuple[str, ...], Rows, bool]:
        columns = tuple(d[0] for d in description) if description else ()
        truncated = len(rows) > self.row_cap
        if truncated:
            rows = rows[: self.row_cap]
        return columns, tuple(rows), truncated


class _SqliteSession(_Session):
    # How many virtual-machine instructions between two deadline checks.
    PROGRESS_STEPS = 1000
    # Pragmas that only read; any other pragma with an argument could change the session.
    _READ_PRAGMAS = frozenset(
        {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
    )
    errors = (sqlite3.Error,)
    _MIN_LENGTH_LIMIT = 16 * 1024 * 1024

    def __init__(self, db: Database, timeout_s: float, row_cap: int, byte_cap: int):
        super().__init__(db, timeout_s, row_cap, byte_cap)
        self._deadline = math.inf
        self._proxied = None
        self._saved_length: int | None = None
        path = db.url.database
        try:
            if path and path != ":memory:" and not path.startswith("file:"):
                # mode=ro never creates a missing file; query_only and the authorizer
                # refuse what mode=ro alone would let through.
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(
                    uri, uri=True, check_same_thread=False, isolation_level=None, timeout=timeout_s
                )
                self._guard(on=True)
            else:
                # In-memory and URI databases: a second connection would see another (or
                # no) database, so borrow the engine's own and make it read-only only while
                # one of our queries runs.
                self._proxied = db.engine.raw_connection()
                self.conn = self._proxied.driver_connection
        except sqlite3.Error as exc:
            raise classify(exc, db.url) from None

    def _guard(self, on: bool) -> None:
        conn = self.conn
        if on:
            for statement in self.db.profile.readonly_session:  # PRAGMA query_only = ON
                conn.execute(statement)
            conn.set_authorizer(self._authorize)
            conn.set_progress_handler(self._progress, self.PROGRESS_STEPS)
            # No string or blob longer than the byte cap is ever built: SQLite computes
            # values in this process, so "printf('%.*c', 800000000, 'x')" would
            # otherwise take 800 MB before a single row could be counted.
            # Not below 16 MiB: SQLite applies the limit to its own records too (rows
            # it reads, sorts), so a small cap would fail queries that return little.
            length = conn.setlimit(
                sqlite3.SQLITE_LIMIT_LENGTH, max(self.byte_cap, self._MIN_LENGTH_LIMIT)
            )
            if self._saved_length is None:
                self._saved_length = length
        else:  # the authorizer would refuse switching query_only off
            conn.set_authorizer(None)
            conn.set_progress_handler(None, self.PROGRESS_STEPS)
            conn.execute("PRAGMA query_only = OFF")
            if self._saved_length is not None:
                conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self._saved_length)

    def _progress(self) -> int:
        return time.monotonic() > self._deadline

    def _authorize(self, action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
        # ATTACH and VACUUM INTO create files even on a read-only connection; a pragma
        # could switch query_only off.
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) or (
            action == sqlite3.SQLITE_PRAGMA and arg2 is not None and arg1 not in self._READ_PRAGMAS
        ):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def run(self, sql: str) -> tuple[tuple[str, ...], Rows, bool]:
        conn = self.conn
        if self._proxied is not None:
            self._guard(on=True)
        self._deadline = time.monotonic() + self.timeout_s
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            description = cursor.description
            rows = self._fetch(cursor, self.row_cap + 1) if description else []
        finally:
            self._deadline = math.inf
            cursor.close()  # resets an unfinished statement, which would hold a read lock
            if conn.in_transaction:  # the query was "BEGIN"
                conn.rollback()
            if self._proxied is not None:
                self._guard(on=False)
        return self._cut(description, rows)

    def _hard_kill(self) -> None:
        self.conn.interrupt()  # thread-safe; the statement ends with SQLITE_INTERRUPT

    def classify(self, exc: BaseException) -> str:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_TOOBIG":
            return "too_large"
        if name in ("SQLITE_INTERRUPT", "SQLITE_BUSY"):  # busy: locked for all of timeout_s
            return "timeout"
        if name in ("SQLITE_READONLY", "SQLITE_AUTH"):
            return "readonly"
        if name == "SQLITE_NOTADB" or (
            isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc)
        ):
            self.usable = False
            return "connection"
        return "error"

    def describe(self, exc: BaseException, sql: str) -> str:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_TOOBIG":
            return self._too_large()
        return super().describe(exc, sql)

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self._proxied is not None:
            self._proxied.close()  # back to the engine's pool
        else:
            self.conn.close()


class _PostgresSession(_Session):
    # Statements that may run inside a server-side cursor, so FETCH can cap the rows.
    _CURSOR_WORDS = frozenset({"select", "with", "values", "table"})
    _CHUNK = 16  # rows per FETCH of a capped result; a row may hold byte_cap / _CHUNK

    def __init__(self, db: Database, timeout_s: float, row_cap: int, byte_cap: int):
        import psycopg2

        super().__init__(db, timeout_s, row_cap, byte_cap)
        self.errors = (psycopg2.Error,)
        self._idle = psycopg2.extensions.TRANSACTION_STATUS_IDLE
        self.conn = self._open_dbapi()
        # A backend left in a transaction by a client that vanished ends itself after
        # this long (the watchdog has given up on the query well before).
        idle_ms = round((timeout_s + _GRACE_S + _HARD_KILL_S + _SOCKET_SLACK_S) * 1000)
        self._watchdog = _Watchdog()
        try:
            self.conn.autocommit = True  # we send BEGIN/ROLLBACK ourselves
            with self._housekeeping(), self.conn.cursor() as cur:
                for statement in (
                    *db.profile.readonly_session,
                    db.profile.timeout_sql(timeout_s),
                    "SET standard_conforming_strings = on",  # _split_one lexes by that rule
                    *(s.format(idle_ms=idle_ms) for s in self.facts.setup),
                    *(s for v, s in self.facts.setup_since if self.conn.server_version >= v),
                ):
                    cur.execute(statement)
            self.backend_id = self.conn.get_backend_pid()
        except psycopg2.Error as exc:
            self._watchdog.close()
            self.conn.close()
            raise classify(exc, db.url) from None
        self._reset_sql = "; ".join(self.facts.reset)
        self.fired = False

    def run(self, sql: str) -> tuple[tuple[str, ...], Rows, bool]:
        statement = _split_one(sql, _PG_TOKEN)
        if statement.first_word == "copy":
            raise _Refused("readonly", "COPY is not allowed: it reads and writes server files")
        if statement.first_word in self._CURSOR_WORDS:
            try:
                return self._run(statement.body, cursor=True)
            except self.errors as exc:
                # DECLARE refuses SELECT INTO and data-modifying WITH with errors of its
                # own; run the plain statement for the server's real verdict.
                if getattr(exc, "pgcode", None) not in ("0A000", "42601") or not self.usable:
                    raise
        return self._run(statement.body, cursor=False)

    def _run(self, body: str, cursor: bool) -> tuple[tuple[str, ...], Rows, bool]:
        # One round trip: a read-only transaction, a snapshot (after which no statement
        # can switch the transaction to read-write), then the query.  The newline ends
        # a trailing "--" comment in the body before what follows.
        if cursor:
            # FETCH 0 gives the columns without computing a row; the second cursor then
            # runs the query inside the byte-capping wrapper (see _capped).
            text = (
                f"BEGIN READ ONLY; SELECT; DECLARE _nl2sql_q NO SCROLL CURSOR FOR {body}\n;"
                " FETCH 0 FROM _nl2sql_q"
            )
        else:
            text = f"BEGIN READ ONLY; SELECT; {body}"
        self.fired = False
        cur = self.conn.cursor()
        self._watchdog.arm(
            time.monotonic() + self.timeout_s + _GRACE_S, self._cancel, self._hard_kill
        )
        try:
            cur.execute(text)
            description = cur.description
            if cursor and description:
                cur.execute(self._capped(body, description))
                description = cur.description[:-1]
                rows = self._fetch_capped(cur)
            else:
                rows = self._fetch(cur, self.row_cap + 1) if description else []
        finally:
            self.fired = self._watchdog.disarm()
            self.cut = self._watchdog.cut
            with self._housekeeping():
                self._cleanup(cur)
        return self._cut(description, rows)

    @property
    def _row_limit(self) -> int:
        # A chunk holds at most byte_cap bytes (or 16 x 64 KiB for a tiny cap).
        return max(self.byte_cap // self._CHUNK, min(self.byte_cap, 65536))

    def _capped(self, body: str, description: Any) -> str:
        """The query wrapped so that no more than ``byte_cap`` bytes of values are sent.

        psycopg2 reads a whole row into memory before it can look at it, and a single
        value may be up to 1 GB, so sizes are judged on the server: each row comes with
        its ``pg_column_size`` total, and a row over ``byte_cap / _CHUNK`` comes as NULLs.
        The client fetches ``_CHUNK`` rows at a time and keeps the running total, so one
        FETCH never holds more than ``byte_cap`` bytes of values.  (A running sum in a
        window would be exact, but PostgreSQL's WindowAgg reads the whole result before
        it returns the first row.)
        """
        n = len(description)
        size = " + ".join(f"coalesce(pg_column_size(c{i}), 0)" for i in range(n))
        values = ", ".join(
            f"CASE WHEN _nl2sql_r.n > {self._row_limit} THEN NULL ELSE c{i} END AS "
            + '"'
            + str(d[0]).replace('"', '""')
            + '"'
            for i, d in enumerate(description)
        )
        columns = ", ".join(f"c{i}" for i in range(n))
        return (
            "CLOSE _nl2sql_q; DECLARE _nl2sql_c NO SCROLL CURSOR FOR "
            # OFFSET 0 keeps the planner from pulling the query up into the wrapper,
            # which would compute each value once per place the wrapper names it.
            f"SELECT {values}, _nl2sql_r.n FROM (SELECT * FROM ({body}\n) AS _nl2sql_b "
            f"OFFSET 0) AS _nl2sql_q({columns}) "
            f"CROSS JOIN LATERAL (SELECT {size} AS n) AS _nl2sql_r; "
            f"FETCH FORWARD {min(self.row_cap + 1, self._CHUNK)} FROM _nl2sql_c"
        )

    def _fetch_capped(self, cur: Any) -> list[Any]:
        """The rows, a chunk at a time, counting the sizes the server reports; the server
        computes only the rows asked for, so an oversized result stops within a chunk."""
        rows: list[Any] = []
        total = 0
        limit = self.row_cap + 1
        while True:
            chunk = cur.fetchall()
            for row in chunk:
                size = row[-1] or 0
                total += size
                if size > self._row_limit or total > self.byte_cap:
                    raise _Refused("too_large", self._too_large())
                rows.append(row[:-1])
            if len(chunk) < self._CHUNK or len(rows) >= limit:
                return rows[:limit]
            cur.execute(f"FETCH FORWARD {min(limit - len(rows), self._CHUNK)} FROM _nl2sql_c")

    def _cleanup(self, cur: Any) -> None:
        # Rollback plus the reset of what a rollback leaves (advisory locks, prepared
        # statements, cursors, LISTEN, temporary tables, sequence state) in one round
        # trip; a connection that cannot be shown clean is not used again.
        try:
            cur.execute(self._reset_sql)
            cur.close()
            if self.conn.get_transaction_status() != self._idle:
                self.usable = False
        except self.errors:
            self.usable = False

    def _cancel(self) -> None:
        # Not conn.cancel(): psycopg2 calls libpq's PQcancel holding the GIL, and over a
        # silent network PQcancel waits forever, freezing every thread of the process.
        # A cancel from a second connection is bounded by the connect timeout and
        # blocks only the watchdog's cancel thread.
        killer = self._open_dbapi()
        try:
            killer.autocommit = True
            with killer.cursor() as cur:
                cur.execute("SELECT pg_cancel_backend(%s)", (self.backend_id,))
        finally:
            killer.close()

    def _hard_kill(self) -> None:
        if not self.conn.closed:
            shutdown_fd(self.conn.fileno())

    def classify(self, exc: BaseException) -> str:
        if self.fired:
            return "timeout"
        if self.conn.closed:
            self.usable = False
            return "connection"
        code = getattr(exc, "pgcode", None)
        if code == "57014":  # query_canceled
            return "timeout"
        if code == "25006" or "data-modifying" in str(exc):  # read_only_sql_transaction
            return "readonly"
        if code == "54000":  # program_limit_exceeded: a value over 1 GB
            return "too_large"
        return "error"

    def describe(self, exc: BaseException, sql: str) -> str:
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(exc)
        code = getattr(exc, "pgcode", None)
        where = f" ({code})" if code else ""
        return f"{type(exc).__name__}{where}: {self._reduce(primary, sql)}"

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._watchdog.close()
        self.conn.close()


class _MySqlSession(_Session):
    # Words a read query never needs that would write server files from a read-only
    # transaction; refused even inside literals (a false alarm costs nothing here).
    _FILE_WRITE = re.compile(r"\b(?:outfile|dumpfile)\b", re.I)
    _TIMEOUT_ERRNOS = frozenset({1969, 3024})  # max_statement_time / max_execution_time
    _KILLED_ERRNOS = frozenset({1317, 1028})  # interrupted; "sort aborted" when killed mid-sort
    _READONLY_ERRNOS = frozenset({1792, 1290, 1836})
    _GONE_ERRNOS = frozenset({2006, 2013, 2014, 2045, 2055, 4031})
    _COM_RESET_CONNECTION = 0x1F  # not in PyMySQL's COMMAND constants

    def __init__(self, db: Database, timeout_s: float, row_cap: int, byte_cap: int):
        import pymysql
        from pymysql.cursors import SSCursor

        super().__init__(db, timeout_s, row_cap, byte_cap)
        self.errors = (pymysql.err.MySQLError,)
        self._ss_cursor = SSCursor
        self.conn = self._open_dbapi()
        # A silent network ends a socket read here, not never (PyMySQL reads block
        # without limit by default); the watchdog normally acts well before.
        self.conn._read_timeout = self.conn._write_timeout = (
            timeout_s + _GRACE_S + _HARD_KILL_S + _SOCKET_SLACK_S
        )
        self._can_reset = self.facts.reset_command == "com_reset_connection"
        # PyMySQL reads a whole row (up to 16 MB per value, many values per row) before
        # the caller sees it, so the byte cap is enforced where it reads from the socket:
        # a packet that would pass the budget is refused before it is read.  PyMySQL has
        # no hook for this; the wrapper shadows its private _read_bytes on this one
        # connection only.
        self._budget: float = math.inf
        read_bytes = self.conn._read_bytes

        def _read_bytes_within_budget(num_bytes: int) -> bytes:
            if num_bytes > self._budget:
                self._budget = -1  # marks the overflow for run()
                raise _Refused("too_large", self._too_large())
            self._budget -= num_bytes
            return read_bytes(num_bytes)

        self.conn._read_bytes = _read_bytes_within_budget
        self._watchdog = _Watchdog()
        try:
            with self._housekeeping(), self.conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchone()[0])
                timeout = db.profile.timeout_sql(timeout_s, version) or ""
                self._setup = (
                    *db.profile.readonly_session,
                    # One statement for the rest.  A reset puts the character set back
                    # to the server's default, so it is named again.  sql_select_limit
                    # caps the outermost result only (subqueries, views, CTEs see all).
                    f"SET NAMES {self.conn.charset}, "
                    + timeout.removeprefix("SET ")
                    + f", SESSION sql_select_limit = {row_cap + 1}"
                    + "".join(", " + s.removeprefix("SET ") for s in self.facts.setup),
                )
                self._configure(cur)
            self.backend_id = self.conn.thread_id()
        except pymysql.err.MySQLError as exc:
            self._watchdog.close()
            self.conn.close()
            raise classify(exc, db.url) from None
        self.fired = False

    def _configure(self, cur: Any) -> None:
        for statement in self._setup:
            cur.execute(statement)

    def _kill(self) -> None:
        # KILL QUERY stops the statement and leaves the connection usable.
        killer = self._open_dbapi()
        try:
            with killer.cursor() as cur:
                cur.execute(f"KILL QUERY {int(self.backend_id)}")  # type: ignore[arg-type]
        finally:
            killer.close()

    def _hard_kill(self) -> None:
        sock = self.conn._sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)

    def run(self, sql: str) -> tuple[tuple[str, ...], Rows, bool]:
        if self._FILE_WRITE.search(sql):
            raise _Refused(
                "readonly", "INTO OUTFILE/DUMPFILE is not allowed: it writes server files"
            )
        self.fired = False
        description, rows = None, []
        cur = self.conn.cursor(self._ss_cursor)  # streams rows instead of buffering them all
        try:
            self._watchdog.arm(
                time.monotonic() + self.timeout_s + _GRACE_S, self._kill, self._hard_kill
            )
            cur.execute("START TRANSACTION READ ONLY")
            # The cap plus room for the packet headers and column definitions.
            self._budget = self.byte_cap + 65536
            cur.execute(sql)
            description = cur.description
            if description:
                rows = self._fetch(cur, self.row_cap + 1)
            if len(rows) > self.row_cap and cur.fetchone() is not None:
                # sql_select_limit did not stop it (the query has a larger LIMIT of its
                # own): stop it on the server rather than stream the rest.
                self._stop_streaming()
            try:
                cur.close()  # reads what is left of the unbuffered result
            except self.errors:
                if len(rows) <= self.row_cap:
                    raise
        except _Refused:
            self._stop_streaming()  # the byte cap: stop the rest on the server
            if self._budget < 0:
                # Refused mid-packet: the protocol state is lost, so the connection
                # goes, and PyMySQL must not try to read the rest when it does.
                self.usable = False
                result, self.conn._result, cur._result = self.conn._result, None, None
                if result is not None:
                    result.unbuffered_active = False
            raise
        finally:
            self._budget = math.inf
            self.fired = self._watchdog.disarm()
            self.cut = self._watchdog.cut
            with self._housekeeping():
                self._cleanup()
        return self._cut(description, rows)

    def _stop_streaming(self) -> None:
        try:
            self._kill()
        except (ConnectionFailed, *self.errors):
            # Then the rest is read and dropped by the cleanup, still under the watchdog.
            pass

    def _cleanup(self) -> None:
        """Leave nothing behind: COM_RESET_CONNECTION (rollback, GET_LOCK locks, @user
        variables, session variables, temporary tables, prepared statements), then our
        settings again.  A server without the command, or any failure, costs the
        connection: a fresh one is opened for the next query."""
        conn = self.conn
        if self.fired or self.aborted or not self.usable:
            self.usable = False  # cancelled or cut off: its state is not known
            return
        try:
            if conn._result is not None and conn._result.unbuffered_active:
                conn._result._finish_unbuffered_query()  # the rest of a cut-off stream
            if self._can_reset:
                conn._execute_command(self._COM_RESET_CONNECTION, b"")
                conn._read_ok_packet()
                with conn.cursor() as cur:
                    self._configure(cur)
            else:
                self.usable = False
                with conn.cursor() as cur:  # release what we can before closing
                    for statement in self.facts.reset:
                        cur.execute(statement)
        except self.errors:
            self.usable = False
        except (OSError, AttributeError, ValueError):  # a socket shut, a PyMySQL change
            self.usable = False

    def classify(self, exc: BaseException) -> str:
        errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if self.fired and (errno in self._KILLED_ERRNOS or errno in self._GONE_ERRNOS):
            return "timeout"
        if errno in self._GONE_ERRNOS or not self.conn.open:
            self.usable = False
            return "connection"
        if errno in self._TIMEOUT_ERRNOS:
            return "timeout"
        if errno in self._READONLY_ERRNOS:
            return "readonly"
        return "error"

    def describe(self, exc: BaseException, sql: str) -> str:
        if len(exc.args) == 2:
            return f"{type(exc).__name__}: ({exc.args[0]}) {self._reduce(str(exc.args[1]), sql)}"
        return super().describe(exc, sql)

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._watchdog.close()
        self.conn.close()


class _MssqlSession(_Session):
    """SQL Server has no read-only session: every query runs in an implicit transaction
    that is rolled back, and statements that could write are refused before they are
    sent (the words below are reserved in T-SQL, so none can be a bare column name)."""

    _WRITE_WORDS = frozenset(
        {
            "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP", "TRUNCATE",
            "INTO", "EXEC", "EXECUTE", "GRANT", "REVOKE", "DENY", "COMMIT", "SAVE", "BEGIN",
            "BULK", "DBCC", "BACKUP", "RESTORE", "KILL", "SHUTDOWN", "RECONFIGURE", "USE",
            "SET", "DECLARE", "WAITFOR", "OPENROWSET", "OPENDATASOURCE", "OPENQUERY",
            "OPENXML", "WRITETEXT", "UPDATETEXT",
        }
    )  # fmt: skip
    _TIMEOUT_STATES = frozenset({"HYT00", "HYT01", "HY008"})  # timeout expired / cancelled
    _GONE_STATES = frozenset({"08S01", "08003", "08001", "08007", "01002"})

    def __init__(self, db: Database, timeout_s: float, row_cap: int, byte_cap: int):
        import pyodbc  # lazy: SQL Server support is optional

        super().__init__(db, timeout_s, row_cap, byte_cap)
        self.errors = (pyodbc.Error,)
        self.conn = self._open_dbapi()
        try:
            self.conn.autocommit = False
            self.conn.timeout = max(1, math.ceil(timeout_s))  # query timeout, whole seconds
            cur = self.conn.cursor()
            for statement in (*db.profile.readonly_session, db.profile.timeout_sql(timeout_s)):
                cur.execute(statement)
            self.backend_id = int(cur.execute("SELECT @@SPID").fetchone()[0])
            cur.close()
            self.conn.rollback()
        except pyodbc.Error as exc:
            self.conn.close()
            raise classify(exc, db.url) from None
        self.fired = False
        self._watchdog = _Watchdog()

    def run(self, sql: str) -> tuple[tuple[str, ...], Rows, bool]:
        statement = _split_one(sql, _TSQL_TOKEN, want_words=True)
        writes = statement.words & self._WRITE_WORDS
        if writes:
            raise _Refused(
                "readonly", f"{min(writes)} is not allowed: SQL Server sessions here are read-only"
            )
        self.fired = False
        description, rows = None, []
        cur = self._cur = self.conn.cursor()
        self._watchdog.arm(time.monotonic() + self.timeout_s + _GRACE_S, cur.cancel)
        try:
            cur.execute(statement.body)
            description = cur.description
            if description:
                try:
                    rows = [tuple(row) for row in self._fetch(cur, self.row_cap + 1)]
                except _Refused:
                    cur.cancel()
                    raise
                if len(rows) > self.row_cap:
                    cur.cancel()  # an attention stops the rest instead of reading it
        finally:
            self.fired = self._watchdog.disarm()
            try:
                cur.close()
                self.conn.rollback()
            except self.errors:
                self.usable = False
        return self._cut(description, rows)

    def _hard_kill(self) -> None:
        # pyodbc exposes no socket; an attention (SQLCancel) is the strongest stop.
        cur = getattr(self, "_cur", None)
        if cur is not None:
            cur.cancel()

    def classify(self, exc: BaseException) -> str:
        state = exc.args[0] if exc.args else ""
        if state in self._GONE_STATES:
            self.usable = False
            return "connection"
        if state in self._TIMEOUT_STATES or self.fired:
            return "timeout"
        if "read-only" in str(exc) or "3906" in str(exc):
            return "readonly"
        return "error"

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._watchdog.close()
        self.conn.close()
