"""The connection layer: DSN shapes, drivers, and one clear error per failure kind."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pymysql
import pytest

from data_create import connect as c
from data_create import engines
from data_create.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    ConnectTimeout,
    DriverMissing,
    HostUnreachable,
    PrivilegedAccount,
    UnknownDatabase,
    UnknownScheme,
)


@pytest.mark.parametrize(
    ("dsn", "drivername", "database"),
    [
        ("postgres://u@h/db", "postgresql+psycopg2", "db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg2", "db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2", "db"),
        ("mysql://root@127.0.0.1/shop", "mysql+pymysql", "shop"),
        ("mariadb://root@127.0.0.1/shop", "mysql+pymysql", "shop"),
        ("mysql+pymysql://root@127.0.0.1/shop", "mysql+pymysql", "shop"),
        ("mssql://sa@db.example/erp", "mssql+pyodbc", "erp"),
        ("sqlserver://sa@db.example:1433/erp", "mssql+pyodbc", "erp"),
        ("sqlite:///data/shop.db", "sqlite", "data/shop.db"),
        ("sqlite:////abs/shop.db", "sqlite", "/abs/shop.db"),
        ("data/shop.sqlite", "sqlite", "data/shop.sqlite"),
    ],
)
def test_parse_dsn_shapes(dsn, drivername, database):
    url = c.parse_dsn(dsn)
    assert url.drivername == drivername
    assert url.database == database


def test_engine_specific_defaults():
    assert c.parse_dsn("mysql://root@h/x").query["charset"] == "utf8mb4"
    assert c.parse_dsn("mssql://sa@h/x").query["driver"] == "ODBC Driver 18 for SQL Server"
    assert c.parse_dsn("mssql://sa@h/x?driver=FreeTDS").query["driver"] == "FreeTDS"
    # A driver the user names explicitly is kept.
    assert c.parse_dsn("mysql+mysqldb://root@h/x").drivername == "mysql+mysqldb"


def test_password_from_environment(monkeypatch):
    monkeypatch.setenv("NL2SQL_DB_PASSWORD", "from-env")
    assert c.parse_dsn("postgres://u@h/db").password == "from-env"
    # A password in the URL wins over the default variable.
    assert c.parse_dsn("postgres://u:inline@h/db").password == "inline"
    monkeypatch.setenv("MY_PW", "named")
    assert c.parse_dsn("postgres://u@h/db", password_env="MY_PW").password == "named"
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        c.parse_dsn("postgres://u@h/db", password_env="NOPE_NOT_SET")


def test_mask_hides_password():
    url = c.parse_dsn("postgres://alice:s3cr3t@db.example:5432/sales")
    assert "s3cr3t" not in c.mask(url)
    assert "***" in c.mask(url)
    assert "s3cr3t" not in c.mask("mysql://bob:s3cr3t@h/x")
    assert c.scrub("failed for s3cr3t", url) == "failed for ***"


@pytest.mark.parametrize("dsn", ["oracle://scott@h/orcl", "mongodb://h/db", "nonsense"])
def test_unknown_scheme_is_one_clear_line(dsn):
    with pytest.raises(UnknownScheme) as info:
        c.parse_dsn(dsn)
    message = str(info.value)
    assert "\n" not in message
    assert "postgresql://" in message  # says what would work


def test_missing_driver_names_the_install_command(monkeypatch):
    real = c.importlib.util.find_spec
    monkeypatch.setattr(
        c.importlib.util, "find_spec", lambda name: None if name == "pyodbc" else real(name)
    )
    with pytest.raises(DriverMissing) as info:
        c.connect("mssql://sa:pw@127.0.0.1:1/erp")
    assert "pip install" in str(info.value)
    assert "pw@" not in str(info.value)


def test_all_engine_profiles_are_consistent():
    for name, profile in engines.ENGINES.items():
        assert engines.get(name) is profile
        assert engines.get(profile.sqlglot_dialect) is profile
        for scheme in profile.schemes:
            assert engines.get(scheme) is profile
    assert "pg_sleep" in engines.ALL_DANGEROUS_FUNCTIONS
    assert "xp_cmdshell" in engines.ALL_DANGEROUS_FUNCTIONS


def test_sqlite_missing_file(tmp_path):
    with pytest.raises(UnknownDatabase, match="does not exist"):
        c.connect(f"sqlite:///{tmp_path / 'nope.db'}")


def test_sqlite_not_a_database(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not sqlite" * 100)
    with pytest.raises(UnknownDatabase):
        c.connect(f"sqlite:///{bogus}")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_host_unreachable(scheme):
    with pytest.raises(HostUnreachable) as info:
        c.connect(f"{scheme}://u:pw@127.0.0.1:{_closed_port()}/db", connect_timeout=2)
    assert "\n" not in str(info.value)
    assert ":pw@" not in str(info.value)


def test_unknown_host():
    with pytest.raises(HostUnreachable, match=r"unknown host|cannot reach"):
        c.connect("postgresql://u@no-such-host.invalid/db", connect_timeout=2)


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_connect_timeout(scheme, silent_server):
    with pytest.raises(ConnectTimeout) as info:
        c.connect(f"{scheme}://u:pw@127.0.0.1:{silent_server}/db", connect_timeout=1)
    assert "timed out" in str(info.value)


def test_postgres_unknown_database_and_role(pg_server):
    with pytest.raises(UnknownDatabase, match="does not exist"):
        c.connect("postgresql://postgres@127.0.0.1:5432/no_such_db_xyz")
    with pytest.raises(AuthenticationFailed):
        c.connect("postgresql://no_such_role_xyz:pw@127.0.0.1:5432/postgres")


@pytest.fixture
def mysql_user(mysql_server) -> Iterator[tuple[str, str]]:
    user = f"t_{uuid.uuid4().hex[:10]}"
    password = f"S3cret-{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
    yield user, password
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    admin.close()


def test_mysql_wrong_password_never_echoes_it(mysql_user):
    user, password = mysql_user
    wrong = password + "-wrong"
    with pytest.raises(AuthenticationFailed) as info:
        c.connect(f"mysql://{user}:{wrong}@127.0.0.1:3306/")
    assert wrong not in str(info.value)
    assert "\n" not in str(info.value)


def test_mysql_password_from_env_connects(mysql_user, monkeypatch):
    user, password = mysql_user
    monkeypatch.setenv("NL2SQL_DB_PASSWORD", password)
    db = c.connect(f"mysql://{user}@127.0.0.1:3306/")
    try:
        assert password not in db.display
        assert db.profile.name == "mysql"
    finally:
        db.dispose()


def test_mysql_unknown_database(mysql_server):
    with pytest.raises(UnknownDatabase):
        c.connect("mysql://root@127.0.0.1:3306/no_such_db_xyz")


def test_connected_database_reports_name_and_dialect(pg_database):
    db = c.connect(pg_database)
    try:
        assert db.dialect == "postgres"
        assert db.name.startswith("t_pg_")
    finally:
        db.dispose()


# ---------------------------------------------------------------- passwords in every DSN form


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("postgresql://alice@127.0.0.1:1/db?password=Sup3rS3cret", "Sup3rS3cret"),
        ("postgresql://alice@127.0.0.1:1/db?sslmode=disable&PASSWORD=Sup3rS3cret", "Sup3rS3cret"),
        ("postgresql://alice:Pa55@W0rd@99@127.0.0.1:1/db", "Pa55@W0rd@99"),
        ("mysql://bob:Sup3r@S3cret@127.0.0.1:1/db", "Sup3r@S3cret"),
        ("mysql://bob@127.0.0.1:1/db?password=Sup3rS3cret", "Sup3rS3cret"),
    ],
)
def test_password_masked_in_every_dsn_form(dsn, secret):
    url = c.parse_dsn(dsn)
    assert url.host == "127.0.0.1"  # "@" in the password does not move the host
    shown = c.mask(url)
    assert "***" in shown
    for part in (secret, *(p for p in secret.split("@") if len(p) > 2)):
        assert part not in shown and part not in c.mask(dsn), shown
    with pytest.raises(ConnectionFailed) as info:  # nothing listens on port 1
        c.connect(dsn, connect_timeout=2)
    for part in (secret, *(p for p in secret.split("@") if len(p) > 2)):
        assert part not in str(info.value), str(info.value)


@pytest.mark.parametrize("dsn", ["alice:Sup3r@S3cret@db.example/sales", "alice:Sup3rS3cret@h/x"])
def test_password_masked_in_a_dsn_without_scheme(dsn):
    with pytest.raises(UnknownScheme) as info:
        c.parse_dsn(dsn)
    assert "S3cret" not in str(info.value) and "alice:***@" in str(info.value)


@pytest.mark.postgres
def test_password_in_query_never_reaches_run_files(pg_database, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from data_create.example import load_into

    load_into(pg_database)
    dsn = pg_database + "?password=Sup3rS3cret"  # trust auth: any password works
    out = tmp_path / "run"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "data_create", "--dsn", dsn, "--out", str(out), "--samples", "5",
         "-q"],
        capture_output=True, text=True, cwd=root, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "Sup3rS3cret" not in proc.stdout + proc.stderr
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".html", ".md", ".txt"):
            assert "Sup3rS3cret" not in path.read_text(encoding="utf-8"), path
    assert "password=***" in json.loads((out / "run.json").read_text())["database"]


# ---------------------------------------------------------------- least privilege


@pytest.fixture
def no_privileged_env(monkeypatch):
    monkeypatch.delenv(c.ALLOW_PRIVILEGED_ENV, raising=False)


@pytest.mark.postgres
def test_postgres_superuser_is_refused_unless_allowed(pg_database, no_privileged_env, caplog):
    with pytest.raises(PrivilegedAccount) as info:
        c.connect(pg_database)
    message = str(info.value)
    assert "superuser" in message and "--allow-privileged-role" in message
    assert "\n" not in message
    db = c.connect(pg_database, allow_privileged=True)
    try:
        assert "superuser" in db.privileged
        assert "PRIVILEGED ACCOUNT" in caplog.text
    finally:
        db.dispose()


@pytest.mark.mysql
def test_mariadb_root_is_refused_unless_allowed(mysql_database, no_privileged_env):
    with pytest.raises(PrivilegedAccount, match="ALL PRIVILEGES"):
        c.connect(mysql_database)
    c.connect(mysql_database, allow_privileged=True).dispose()


def test_sqlite_is_never_privileged(tmp_path, no_privileged_env):
    import sqlite3

    path = tmp_path / "x.sqlite"
    sqlite3.connect(path).close()
    db = c.connect(str(path))
    assert db.privileged == ()
    db.dispose()


@pytest.mark.postgres
def test_postgres_read_only_role_connects_and_file_roles_are_refused(
    pg_database, no_privileged_env
):
    """The README's recipe: a role that may only read connects without a flag; membership
    in pg_read_server_files alone is refused."""
    import psycopg2

    role = f"t_ro_{uuid.uuid4().hex[:8]}"
    name = pg_database.rsplit("/", 1)[1]
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE items (id integer)")
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"GRANT CONNECT ON DATABASE {name} TO {role}")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    dsn = pg_database.replace("postgres@", f"{role}@")
    try:
        db = c.connect(dsn)
        assert db.privileged == ()
        db.dispose()
        with admin.cursor() as cur:
            cur.execute(f"GRANT pg_read_server_files TO {role}")
        with pytest.raises(PrivilegedAccount, match="pg_read_server_files"):
            c.connect(dsn)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
        admin.close()
        from tests.conftest import drop_pg_database

        drop_pg_database(name)
        cleanup = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
        cleanup.autocommit = True
        with cleanup.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        cleanup.close()


@pytest.mark.mysql
def test_mariadb_read_only_user_connects_and_file_grant_is_refused(
    mysql_database, mysql_user, no_privileged_env
):
    user, password = mysql_user
    name = mysql_database.rsplit("/", 1)[1]
    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    dsn = f"mysql://{user}:{password}@127.0.0.1:3306/{name}"
    try:
        with admin.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"GRANT SELECT ON `{name}`.* TO '{user}'@'{host}'")
        db = c.connect(dsn)
        assert db.privileged == ()
        db.dispose()
        with admin.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"GRANT FILE ON *.* TO '{user}'@'{host}'")
        with pytest.raises(PrivilegedAccount, match="FILE"):
            c.connect(dsn)
    finally:
        admin.close()
