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
    ConnectTimeout,
    DriverMissing,
    HostUnreachable,
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
