"""One connection layer for every engine: DSN parsing, drivers, reachability, masking.

Users type DSNs in many shapes::

    postgresql://user@host/db        postgres://...       postgresql+psycopg2://...
    mysql://root@127.0.0.1/shop      mariadb://...        mysql+pymysql://...
    mssql://sa@host:1433/erp         sqlserver://...      mssql+pyodbc://...
    sqlite:///path/to/file.db        path/to/file.sqlite

:func:`parse_dsn` turns each into a SQLAlchemy :class:`~sqlalchemy.engine.URL` for the
driver we support; :func:`connect` builds an engine and proves it works, turning each
driver's failure into one :class:`~data_create.errors.ConnectionFailed` line.  The
password may stay out of the DSN (and out of shell history): it is then read from
``NL2SQL_DB_PASSWORD`` or from the variable named by ``password_env``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import engines
from .errors import (
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

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

PASSWORD_ENV = "NL2SQL_DB_PASSWORD"
# "1" lets a privileged account connect (like --allow-privileged-role), for tools that
# have no such option (eval_model, vllm_test) and for test suites run as superuser.
ALLOW_PRIVILEGED_ENV = "NL2SQL_ALLOW_PRIVILEGED_ROLE"
DEFAULT_CONNECT_TIMEOUT = 10
log = logging.getLogger("data_create")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


@dataclass(frozen=True)
class Database:
    """A connected database: the engine, its profile and a printable (masked) DSN."""

    engine: Engine
    profile: engines.EngineProfile
    url: URL
    display: str  # masked DSN, safe to log
    # Why the account is privileged (superuser, file access...), when it was allowed to
    # connect anyway with allow_privileged; empty for a least-privilege account.
    privileged: tuple[str, ...] = ()

    @property
    def dialect(self) -> str:
        return self.profile.sqlglot_dialect

    @property
    def name(self) -> str:
        """The database name (the file stem for SQLite)."""
        if self.profile.file_database:
            return Path(self.url.database or "memory").stem
        return self.url.database or ""

    def dispose(self) -> None:
        self.engine.dispose()


def parse_dsn(dsn: str, password_env: str | None = None) -> URL:
    """Normalise a DSN to a SQLAlchemy URL with our driver for that engine.

    >>> parse_dsn("postgres://u@h/db").drivername
    'postgresql+psycopg2'
    >>> parse_dsn("mariadb://root@127.0.0.1/shop").render_as_string()
    'mysql+pymysql://root@127.0.0.1/shop?charset=utf8mb4'
    >>> parse_dsn("data/shop.sqlite").database
    'data/shop.sqlite'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    dsn = (dsn or "").strip()
    if not dsn:
        raise ConfigError("no DSN given", "pass --dsn, e.g. --dsn postgresql://user@host/db")
    if "://" not in dsn:
        if dsn.lower().endswith(_SQLITE_SUFFIXES) or Path(dsn).is_file():
            dsn = "sqlite:///" + dsn
        else:
            raise UnknownScheme(f"DSN {_mask_dsn(dsn)!r} has no scheme")
    dsn = _encode_at_in_password(dsn)
    scheme = dsn.split("://", 1)[0]
    profile = engines.get(scheme)  # raises UnknownScheme with the list of known ones
    try:
        url = make_url(dsn)
    except ArgumentError as exc:
        raise ConfigError(f"cannot parse DSN {_mask_dsn(dsn)!r}: {scrub(str(exc), None)}") from None
    except ValueError as exc:  # e.g. a non-numeric port
        raise ConfigError(f"cannot parse DSN {_mask_dsn(dsn)!r}: {scrub(str(exc), None)}") from None
    driver = url.drivername.split("+", 1)[1] if "+" in url.drivername else None
    wanted_driver = profile.drivername.split("+", 1)[1] if "+" in profile.drivername else None
    if driver and wanted_driver and driver != wanted_driver:
        # The user asked for a driver we do not test (e.g. mysql+mysqldb); honour it.
        drivername = url.drivername
    else:
        drivername = profile.drivername
    url = url.set(drivername=drivername)
    for key, value, overridden_by in profile.url_defaults:
        if key not in url.query and not any(k in url.query for k in overridden_by):
            url = url.update_query_dict({key: value})
    if not profile.file_database and url.password is None:
        env_name = password_env or PASSWORD_ENV
        password = os.environ.get(env_name)
        if password_env and password is None:
            raise ConfigError(
                f"environment variable {password_env} (named by --password-env) is not set"
            )
        if password is not None:
            url = url.set(password=password)
    return url


# Query parameters that carry a password (libpq, PyMySQL, ODBC spell it differently);
# keep _QUERY_PASSWORD in step.
_PASSWORD_KEYS = frozenset({"password", "passwd", "pwd", "pass"})
_QUERY_PASSWORD = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass)=)[^&;\s'\"]*")
# "scheme://user:secret@host": greedy up to the token's last "@", so a password holding
# "@" is masked whole.
_URL_USERINFO = re.compile(r"(://[^:/@\s]*:)\S*@")


def mask(url: URL | str) -> str:
    """The URL as text with its password replaced by ``***``, wherever the DSN carries it.

    >>> mask("postgresql://u:p@ss@h/db?sslmode=require&password=x")
    'postgresql://u:***@h/db?sslmode=require&password=***'
    >>> mask("u:secret@h/db")
    'u:***@h/db'
    """
    if isinstance(url, str):
        return _mask_dsn(url)
    return _mask_text(url.render_as_string(hide_password=True))


def _mask_text(text: str) -> str:
    """Passwords of the URLs inside free text (driver messages, logs)."""
    return _URL_USERINFO.sub(r"\1***@", _QUERY_PASSWORD.sub(r"\1***", text))


def _mask_dsn(dsn: str) -> str:
    """One DSN as the user typed it, with or without a scheme."""
    if "://" not in dsn and "@" in dsn:
        # "user:secret@host/db": everything before the last "@" is user information.
        userinfo, _, rest = dsn.rpartition("@")
        user = userinfo.split(":", 1)[0]
        dsn = f"{user}:***@{rest}" if ":" in userinfo else dsn
    return _mask_text(dsn)


def _encode_at_in_password(dsn: str) -> str:
    """Percent-encode an ``@`` inside the password, which URL parsers split at.

    SQLAlchemy reads ``u:p@ss@host`` as password ``p`` on host ``ss@host``, and the
    error that follows shows the rest of the password.  The host part never holds an
    "@", so the last one before the path ends the user information.

    >>> _encode_at_in_password("postgresql://u:p@ss@h/db")
    'postgresql://u:p%40ss@h/db'
    """
    scheme, sep, rest = dsn.partition("://")
    query_at = rest.find("?")
    at = rest.rfind("@", 0, query_at if query_at >= 0 else len(rest))
    if at < 0:
        return dsn
    userinfo = rest[:at]
    if "@" not in userinfo or ":" not in userinfo:
        return dsn
    user, password = userinfo.split(":", 1)
    return f"{scheme}{sep}{user}:{password.replace('@', '%40')}{rest[at:]}"


def scrub(text: str, url: URL | None) -> str:
    """Remove passwords from arbitrary text (driver messages echo DSNs and parameters)."""
    text = _mask_text(text)
    if url is not None:
        secrets = [url.password] if url.password else []
        for key, value in url.query.items():
            if key.lower() in _PASSWORD_KEYS:
                secrets += [value] if isinstance(value, str) else list(value)
        for secret in secrets:
            for form in {str(secret), quote(str(secret), safe="")}:
                if form:
                    text = text.replace(form, "***")
    return text


def shutdown_fd(fd: int) -> None:
    """Shut down the socket behind a driver's file descriptor (both directions).

    ``shutdown`` acts on the socket, not on the descriptor, so doing it through a
    duplicate leaves the driver's descriptor valid (closing it under the driver would
    let the number be reused by another file); the driver's blocked read returns
    end-of-file at once, and the server sees the client go.
    """
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down or not connected
    finally:
        sock.close()


# Every DBAPI connection our engines opened (metadata, sampling), for abort_connections.
_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()


def _track(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        return  # in-process (no network to wait on), and not weak-referenceable
    with _OPEN_LOCK:
        _OPEN.add(dbapi_connection)


def abort_connections() -> int:
    """Cut every connection the engines of this process opened; for Ctrl-C.

    A thread blocked in a driver call (a catalogue query over a network gone silent)
    gets an error at once instead of waiting for the server.  Safe from any thread.
    """
    with _OPEN_LOCK:
        connections = list(_OPEN)
    for conn in connections:
        try:
            if hasattr(conn, "get_backend_pid"):  # psycopg2
                if not conn.closed:
                    shutdown_fd(conn.fileno())
            elif getattr(conn, "_sock", None) is not None:  # PyMySQL
                conn._sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass  # closed meanwhile
    return len(connections)


def driver_available(profile: engines.EngineProfile) -> bool:
    return importlib.util.find_spec(profile.driver_module) is not None


def create_engine(url: URL, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT) -> Engine:
    """A SQLAlchemy engine for ``url`` with connect timeouts set; does not connect."""
    import sqlalchemy

    profile = engines.get(url.drivername)
    if not driver_available(profile):
        raise DriverMissing(
            f"the {profile.name} driver ({profile.driver_module}) is not installed",
            f"install it: {profile.install_hint}",
        )
    connect_args: dict[str, object] = dict(profile.connect_args)
    if profile.connect_timeout_arg:
        connect_args[profile.connect_timeout_arg] = connect_timeout
    kwargs: dict[str, object] = {"pool_pre_ping": False}
    if profile.file_database:
        path = url.database
        if (
            path
            and path != ":memory:"
            and not path.startswith("file:")
            and not Path(path).is_file()
        ):
            raise UnknownDatabase(f"SQLite file {path!r} does not exist")
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, **kwargs)
    # First, so a connection is tracked before SQLAlchemy's own first-connect queries.
    sqlalchemy.event.listen(engine, "connect", _track, insert=True)
    return engine


def connect(
    dsn: str,
    password_env: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    allow_privileged: bool | None = None,
) -> Database:
    """Parse ``dsn``, build an engine and prove it answers ``SELECT 1``.

    Every failure is a :class:`ConnectionFailed` subclass whose message names the
    masked DSN and says what to do.  An account that can do far more than read
    (:func:`privileges`) is refused with :class:`PrivilegedAccount` unless
    ``allow_privileged`` (None: the ``NL2SQL_ALLOW_PRIVILEGED_ROLE`` environment
    variable decides); allowed, it is logged as a warning and kept in
    :attr:`Database.privileged`.
    """
    url = parse_dsn(dsn, password_env)
    profile = engines.get(url.drivername)
    display = mask(url)
    engine = create_engine(url, connect_timeout)
    if profile.server_greets_first:
        _greeting_probe(url, connect_timeout)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(profile.ping_sql).fetchall()
            reasons = privileges(conn, profile.name)
    except Exception as exc:
        engine.dispose()
        raise classify(exc, url) from None
    if reasons:
        if allow_privileged is None:
            allow_privileged = os.environ.get(ALLOW_PRIVILEGED_ENV, "") in ("1", "true", "yes")
        if not allow_privileged:
            engine.dispose()
            raise PrivilegedAccount(
                f"the account of {display} is privileged ({', '.join(reasons)}): generated "
                "SQL must not run with more than read access"
            )
        log.warning(
            "PRIVILEGED ACCOUNT: %s is %s; generated SQL will run with these rights "
            "(allowed by --allow-privileged-role). Use a read-only role for anything "
            "but a throwaway database.",
            display,
            ", ".join(reasons),
        )
    return Database(
        engine=engine, profile=profile, url=url, display=display, privileged=tuple(reasons)
    )


_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<on>\S+) TO .*$", re.I)


def privileges(conn: object, engine: str) -> list[str]:
    """Why the connected account is privileged; empty for a least-privilege account.

    ``conn`` is a SQLAlchemy connection.  PostgreSQL: superuser or a member of the
    roles that read/write server files or run programs; MySQL/MariaDB: a global grant
    from :attr:`~data_create.engines.SessionFacts.privileged_grants` or any privilege
    on the ``mysql`` schema; SQL Server: sysadmin, CONTROL SERVER or db_owner.
    """
    facts = engines.session_facts(engine)
    if facts.privileged_sql:
        rows = conn.exec_driver_sql(facts.privileged_sql).fetchall()  # type: ignore[attr-defined]
        return [str(r[0]) for r in rows]
    if not facts.privileged_grants:
        return []
    reasons: list[str] = []
    for (line,) in conn.exec_driver_sql("SHOW GRANTS").fetchall():  # type: ignore[attr-defined]
        match = _GRANT.match(str(line))
        if match is None:
            continue  # GRANT role TO user, PROXY grants
        target = match["on"].replace("`", "").lower()
        granted = {p.strip().upper() for p in re.sub(r"\([^)]*\)", "", match["privs"]).split(",")}
        if "WITH GRANT OPTION" in str(line).upper():
            granted.add("GRANT OPTION")
        if target == "*.*":
            reasons += sorted(p for p in granted & facts.privileged_grants)
        elif (schema := target.split(".", 1)[0]) in facts.privileged_schemas:
            reasons.append(f"privileges on the {schema} schema ({', '.join(sorted(granted))})")
    return list(dict.fromkeys(reasons))


def _greeting_probe(url: URL, timeout: float) -> None:
    """Wait at most ``timeout`` for the MySQL server's greeting.

    PyMySQL bounds only the TCP connect with ``connect_timeout``; a peer that accepts and
    then says nothing (a stuck server, a wrong port behind a proxy) would hang the
    handshake forever.  MySQL servers speak first, so reading the greeting ourselves
    turns that hang into a timeout.
    """
    if "unix_socket" in url.query:
        return
    host = url.host or "localhost"
    port = url.port or 3306
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if not sock.recv(4):
                raise HostUnreachable(f"the server of {mask(url)} closed the connection at once")
    except TimeoutError:
        raise ConnectTimeout(f"timed out waiting for the server of {mask(url)} to answer") from None
    except socket.gaierror:
        raise HostUnreachable(f"unknown host in {mask(url)}") from None
    except OSError as exc:
        raise HostUnreachable(
            f"cannot reach the server of {mask(url)} ({exc.strerror or exc})"
        ) from None


# Driver messages -> our error kinds.  Checked in order against the lower-cased text.
_PATTERNS: tuple[tuple[str, type[ConnectionFailed], str], ...] = (
    (r"timeout expired|timed out|hyt00|login timeout", ConnectTimeout, "timed out connecting to"),
    (
        r"password authentication failed|access denied|authentication failed|login failed|28000"
        r"|no password supplied|role .* does not exist",
        AuthenticationFailed,
        "authentication failed for",
    ),
    (
        r"database .* does not exist|unknown database|cannot open database|4060",
        UnknownDatabase,
        "database does not exist:",
    ),
    (
        r"could not translate host name|name or service not known|unknown mysql server host"
        r"|nodename nor servname|temporary failure in name resolution|getaddrinfo",
        HostUnreachable,
        "unknown host in",
    ),
    (
        r"connection refused|can't connect|could not connect|no route to host|network is unreachable"
        r"|is the server running|08001|server has gone away|lost connection",
        HostUnreachable,
        "cannot reach the server of",
    ),
    (
        r"unable to open database|file is not a database|unsupported file format",
        UnknownDatabase,
        "cannot open SQLite database",
    ),
    (r"can't open lib|data source name not found|im002", DriverMissing, "ODBC driver missing for"),
)


def classify(exc: BaseException, url: URL) -> ConnectionFailed:
    """Turn a driver exception into one of our :class:`ConnectionFailed` errors."""
    display = mask(url)
    original = getattr(exc, "orig", None) or exc
    text = scrub(f"{type(original).__name__}: {original}", url)
    first_line = text.strip().splitlines()[0] if text.strip() else type(original).__name__
    low = text.lower()
    if isinstance(original, socket.timeout | TimeoutError):
        return ConnectTimeout(f"timed out connecting to {display}")
    for pattern, kind, what in _PATTERNS:
        if re.search(pattern, low):
            err = kind(f"{what} {display} ({first_line})")
            if kind is DriverMissing:
                err.hint = (
                    "install unixODBC and Microsoft's ODBC driver, or name the one you have with "
                    "?driver=... in the DSN"
                )
            return err
    return ConnectionFailed(f"cannot use {display}: {first_line}")
