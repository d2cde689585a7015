"""Bounded waits on the real engines: a network that goes silent mid-query, and Ctrl-C.

A small TCP proxy on 127.0.0.1 stands between the CLI and the server.  It forwards
until it sees a marker in what the client sends, then goes silent: nothing more is
forwarded either way and new connections are accepted but never served, while every
socket stays open (so neither side sees the connection end: the worst kind of network
failure).  The command must still end within its timeout + 2 s, and Ctrl-C within 3 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from data_create import connect as c

ROOT = Path(__file__).resolve().parent.parent
MARKER = "blackhole-marker"
TIMEOUT_S = 2.0
pytestmark = pytest.mark.slow


class Blackhole:
    """A forwarding proxy that can go silent (see the module docstring)."""

    def __init__(self, port: int, marker: bytes | None = None, after_reply: bool = False):
        # after_reply: the marker's query is answered, then silence (the executor's
        # cleanup after the query gets no answer).
        self.port, self.marker, self.after_reply = port, marker, after_reply
        self.silent_at: float | None = None
        self._armed = False
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.address = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def go_silent(self) -> None:
        if self.silent_at is None:
            self.silent_at = time.monotonic()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            self._sockets.append(client)
            if self.silent_at is not None:
                continue  # accepted, never served
            upstream = socket.create_connection(("127.0.0.1", self.port))
            self._sockets.append(upstream)
            for src, dst, from_client in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pipe, args=(src, dst, from_client), daemon=True
                ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        src.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if self.silent_at is not None:
                continue  # read and dropped: the peer's sends never block
            if from_client and self.marker and self.marker in data:
                if self.after_reply:
                    self._armed = True
                else:
                    # Silent from now on, before the server can answer: the query
                    # reaches the server, its answer never comes back.
                    self.go_silent()
            try:
                dst.sendall(data)
            except OSError:
                return
            if not from_client and self._armed:
                self.go_silent()

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def items_pg(pg_database) -> Iterator[str]:
    db = c.connect(pg_database)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40))"))
        conn.execute(
            text("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 3000) i")
        )
    db.dispose()
    yield pg_database


@pytest.fixture
def items_mysql(mysql_database) -> Iterator[str]:
    db = c.connect(mysql_database)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40))"))
        conn.execute(text("INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_3000"))
    db.dispose()
    yield mysql_database


ENGINES = [
    pytest.param("items_pg", 5432, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("items_mysql", 3306, marks=pytest.mark.mysql, id="mariadb"),
]


def _through(dsn: str, proxy: Blackhole, port: int) -> str:
    return dsn.replace(f":{port}/", f":{proxy.address}/")


def _validate(dsn: str, tmp_path: Path, sql: str, timeout_s: float) -> subprocess.Popen:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"question": "how many", "sql": sql}) + "\n", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "data_create", "validate", "--dsn", dsn, "--input", str(pairs),
         "--out", str(tmp_path / "out"), "--timeout", str(timeout_s), "--workers", "1",
         "--connect-timeout", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _wait_for(condition, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _pg_admin_scalar(sql: str, *params):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _readable(out: Path) -> None:
    """Every output file that exists parses, line by line."""
    for path in out.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)


@pytest.mark.parametrize(("fixture", "port"), ENGINES)
def test_silent_network_ends_in_the_timeout(request, fixture, port, tmp_path):
    dsn = request.getfixturevalue(fixture)
    proxy = Blackhole(port, MARKER.encode())
    try:
        proc = _validate(
            _through(dsn, proxy, port),
            tmp_path,
            f"SELECT count(*) FROM items WHERE name <> '{MARKER}'",
            TIMEOUT_S,
        )
        _, stderr = proc.communicate(timeout=60)
        ended = time.monotonic()
        assert proxy.silent_at is not None, stderr
        took = ended - proxy.silent_at
        print(f"{fixture}: ended {took:.2f} s after the network went silent")
        assert proc.returncode == 0, stderr
        assert took < TIMEOUT_S + 2, took
        reject = json.loads((tmp_path / "out" / "rejects.jsonl").read_text(encoding="utf-8"))
        assert reject["reason"].startswith("timeout"), reject
        if fixture == "items_pg":
            # The backend behind the silent proxy is left in its transaction (the
            # rollback never reached it) but ends itself within
            # idle_in_transaction_session_timeout, though the proxy keeps its socket open.
            name = dsn.rsplit("/", 1)[1]

            def idle_in_transaction() -> int:
                return _pg_admin_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND state LIKE 'idle in transaction%%'",
                    name,
                )

            assert idle_in_transaction() == 1
            assert _wait_for(lambda: idle_in_transaction() == 0, limit_s=15)
    finally:
        proxy.close()


@pytest.mark.parametrize(("fixture", "port"), ENGINES)
def test_silent_network_after_the_answer_does_not_hang_the_cleanup(
    request, fixture, port, tmp_path
):
    dsn = request.getfixturevalue(fixture)
    proxy = Blackhole(port, MARKER.encode(), after_reply=True)
    try:
        proc = _validate(
            _through(dsn, proxy, port),
            tmp_path,
            f"SELECT count(*) FROM items WHERE name <> '{MARKER}'",
            TIMEOUT_S,
        )
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - proxy.silent_at
        print(f"{fixture}: silent after the answer, ended {took:.2f} s later")
        assert proc.returncode == 0, stderr
        assert took < TIMEOUT_S + 2, took
    finally:
        proxy.close()


@pytest.mark.parametrize(("fixture", "port"), ENGINES)
def test_ctrl_c_ends_validate_on_a_silent_network(request, fixture, port, tmp_path):
    dsn = request.getfixturevalue(fixture)
    proxy = Blackhole(port, MARKER.encode())
    try:
        proc = _validate(
            _through(dsn, proxy, port),
            tmp_path,
            f"SELECT count(*) FROM items WHERE name <> '{MARKER}'",
            timeout_s=60,
        )
        assert _wait_for(lambda: proxy.silent_at is not None, limit_s=30)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        print(f"{fixture}: Ctrl-C ended validate in {took:.2f} s (rc {proc.returncode})")
        assert took < 3, took
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr, stderr
        _readable(tmp_path / "out")
    finally:
        proxy.close()


@pytest.mark.postgres
def test_ctrl_c_ends_a_running_query_and_its_backend(items_pg, tmp_path):
    proc = _validate(
        items_pg,
        tmp_path,
        "SELECT count(*) FROM items a, items b, items c WHERE a.name <> 'runaway'",
        timeout_s=60,
    )
    name = items_pg.rsplit("/", 1)[1]
    admin = c.connect(items_pg.rsplit("/", 1)[0] + "/postgres")
    activity = text(
        "SELECT state FROM pg_stat_activity WHERE datname = :d "
        "AND application_name = 'nl2sql-factory' AND query LIKE '%runaway%'"
    )
    try:
        with admin.engine.connect() as conn:

            def states() -> list[str]:
                found = [row[0] for row in conn.execute(activity, {"d": name})]
                conn.rollback()  # pg_stat_activity is a snapshot per transaction
                return found

            assert _wait_for(lambda: "active" in states(), limit_s=30)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
            took = time.monotonic() - sent
            print(f"Ctrl-C ended validate in {took:.2f} s")
            assert took < 3 and proc.returncode == 130, (took, stderr)
            # The server stops the query of the client that went away
            # (client_connection_check_interval) and nothing is left in a transaction.
            assert _wait_for(lambda: states() == [], limit_s=5), states()
    finally:
        admin.dispose()
    _readable(tmp_path / "out")


@pytest.mark.postgres
def test_ctrl_c_ends_generation_on_a_silent_network(pg_database, tmp_path):
    from data_create.example import load_into

    load_into(pg_database)
    proxy = Blackhole(5432)
    out = tmp_path / "run"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "data_create", "--dsn", _through(pg_database, proxy, 5432),
             "--out", str(out), "--samples", "100000", "--timeout", "60", "-q"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        # Let it generate for a while, then cut the network under it.
        assert _wait_for(lambda: (out / "samples.jsonl").exists(), limit_s=60)
        time.sleep(1.0)
        proxy.go_silent()
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        print(f"Ctrl-C ended generation in {took:.2f} s (rc {proc.returncode})")
        assert took < 3, took
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr, stderr
        _readable(out)
    finally:
        proxy.close()


@pytest.mark.postgres
def test_ctrl_c_ends_a_main_thread_blocked_in_the_driver(items_pg, tmp_path):
    # The catalogue queries run in the main thread, inside psycopg2, where Python's own
    # KeyboardInterrupt cannot be raised until the driver returns: the interrupt
    # watcher has to cut the connection.
    proxy = Blackhole(5432, b"pg_catalog")
    try:
        proc = _validate(_through(items_pg, proxy, 5432), tmp_path, "SELECT 1", timeout_s=60)
        assert _wait_for(lambda: proxy.silent_at is not None, limit_s=30)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        print(f"Ctrl-C ended validate blocked in the driver in {took:.2f} s")
        assert took < 3, took
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    finally:
        proxy.close()
