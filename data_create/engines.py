"""Per-engine facts, as data.

Code that needs to know how an engine behaves takes an engine name and asks
:func:`get` for its :class:`EngineProfile`; nothing else in the project branches on
``if engine == ...`` for these facts.  Add an engine by adding a profile here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownScheme

# Functions that read or write the server's files, run programs, sleep, take locks,
# change settings or reach other servers.  A generated query never needs them.  The
# safety layer rejects a name from *any* engine's list whatever the dialect: a
# function called ``sleep`` is suspicious everywhere, and this costs nothing.
_PG_DANGEROUS = frozenset(
    {
        "pg_sleep", "pg_sleep_for", "pg_sleep_until",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
        "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
        "lo_import", "lo_export", "lo_create", "lo_unlink", "lo_put", "lo_from_bytea",
        "lo_open", "lo_write", "lowrite", "lo_truncate",
        "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_send_query",
        "dblink_open", "dblink_fetch",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_switch_wal", "pg_promote", "pg_create_restore_point", "pg_start_backup",
        "pg_stop_backup", "pg_backup_start", "pg_backup_stop", "pg_logical_emit_message",
        "pg_create_logical_replication_slot", "pg_drop_replication_slot",
        "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock",
        "pg_advisory_lock_shared", "pg_try_advisory_xact_lock",
        "set_config", "nextval", "setval",
        "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema",
        "cursor_to_xml", "table_to_xml", "database_to_xml", "schema_to_xml",
        "pg_file_write", "pg_file_unlink", "pg_file_rename",
        "txid_current", "pg_current_xact_id",
        "pg_import_system_collations", "pg_notify",
    }
)  # fmt: skip
_MYSQL_DANGEROUS = frozenset(
    {
        "sleep", "benchmark", "load_file", "get_lock", "release_lock", "release_all_locks",
        "is_free_lock", "is_used_lock", "master_pos_wait", "source_pos_wait",
        "master_gtid_wait", "sys_exec", "sys_eval", "sys_get", "sys_set",
        "name_const", "extractvalue", "updatexml",
    }
)  # fmt: skip
_SQLITE_DANGEROUS = frozenset(
    {
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zeroblob",
        "sqlite_compileoption_get", "sqlite_compileoption_used", "randomblob",
    }
)  # fmt: skip
_MSSQL_DANGEROUS = frozenset(
    {
        "xp_cmdshell", "xp_regread", "xp_regwrite", "xp_dirtree", "xp_fileexist",
        "xp_subdirs", "xp_servicecontrol", "sp_oacreate", "sp_oamethod", "sp_executesql",
        "sp_configure", "sp_addlogin", "sp_addsrvrolemember", "sp_makewebtask",
        "openrowset", "opendatasource", "openquery", "openxml", "bulk",
    }
)  # fmt: skip

# Schemas/databases whose tables hold credentials or server internals.
_SYSTEM_SCHEMAS = frozenset({"mysql", "performance_schema", "sys", "pg_catalog", "master", "msdb"})
_SYSTEM_TABLES = frozenset(
    {
        "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_hba_file_rules",
        "pg_file_settings", "pg_stat_activity", "user", "sql_logins", "syslogins",
        "sysxlogins", "server_principals",
    }
)  # fmt: skip


@dataclass(frozen=True)
class EngineProfile:
    name: str  # our name: "sqlite" | "postgresql" | "mysql" | "mssql"
    sqlglot_dialect: str
    drivername: str  # SQLAlchemy drivername we connect with
    driver_module: str  # module that must be importable
    install_hint: str  # how to get the driver
    default_port: int | None
    schemes: tuple[str, ...]  # DSN schemes that mean this engine
    # Identifier rules.  ``fold_unquoted``: "lower" (PostgreSQL) or None (no folding);
    # ``case_insensitive_*``: names compare case-insensitively whatever the quoting.
    fold_unquoted: str | None
    case_insensitive_tables: bool
    case_insensitive_columns: bool
    # Statements run once when a read-only session opens.
    readonly_session: tuple[str, ...]
    # How a per-statement timeout is set, with ``{ms}`` / ``{s}`` placeholders; the
    # executor also cancels from the client side, so this is the first line only.
    timeout_statement: str | None
    dangerous_functions: frozenset[str]
    # Server flavours whose timeout statement differs from ``timeout_statement``:
    # (substring of the lower-cased server version string, statement).
    timeout_variants: tuple[tuple[str, str], ...] = ()
    system_schemas: frozenset[str] = _SYSTEM_SCHEMAS
    system_tables: frozenset[str] = _SYSTEM_TABLES
    # Keyword for "first N rows" in generated SQL.
    limit_style: str = "limit"  # "limit" | "top"
    # Proves a connection works; SQLite answers SELECT 1 even for a file that is not a database.
    ping_sql: str = "SELECT 1"

    def timeout_sql(self, timeout_s: float, server_version: str = "") -> str | None:
        """The statement that limits each statement to ``timeout_s`` on this server.

        >>> get("mysql").timeout_sql(2.5, "10.11.6-MariaDB")
        'SET SESSION max_statement_time = 2.5'
        >>> get("postgresql").timeout_sql(2.5)
        'SET statement_timeout = 2500'
        """
        version = server_version.lower()
        template = next(
            (stmt for marker, stmt in self.timeout_variants if marker in version),
            self.timeout_statement,
        )
        if template is None:
            return None
        return template.format(ms=max(1, round(timeout_s * 1000)), s=f"{timeout_s:g}")


ENGINES: dict[str, EngineProfile] = {
    "sqlite": EngineProfile(
        name="sqlite",
        sqlglot_dialect="sqlite",
        drivername="sqlite",
        driver_module="sqlite3",
        install_hint="SQLite support is part of Python; reinstall Python with the sqlite3 module",
        default_port=None,
        schemes=("sqlite", "sqlite3"),
        fold_unquoted=None,
        case_insensitive_tables=True,
        case_insensitive_columns=True,
        readonly_session=("PRAGMA query_only = ON",),
        timeout_statement=None,  # enforced with a progress handler
        dangerous_functions=_SQLITE_DANGEROUS,
        ping_sql="SELECT count(*) FROM sqlite_master",
    ),
    "postgresql": EngineProfile(
        name="postgresql",
        sqlglot_dialect="postgres",
        drivername="postgresql+psycopg2",
        driver_module="psycopg2",
        install_hint="pip install psycopg2-binary",
        default_port=5432,
        schemes=("postgresql", "postgres", "pgsql", "psql"),
        fold_unquoted="lower",
        case_insensitive_tables=False,
        case_insensitive_columns=False,
        readonly_session=(
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "SET default_transaction_read_only = on",
        ),
        timeout_statement="SET statement_timeout = {ms}",
        dangerous_functions=_PG_DANGEROUS,
    ),
    "mysql": EngineProfile(
        name="mysql",
        sqlglot_dialect="mysql",
        drivername="mysql+pymysql",
        driver_module="pymysql",
        install_hint="pip install PyMySQL",
        default_port=3306,
        schemes=("mysql", "mariadb"),
        fold_unquoted=None,
        # Follows lower_case_table_names; the metadata records what the server says.
        case_insensitive_tables=True,
        case_insensitive_columns=True,
        readonly_session=("SET SESSION TRANSACTION READ ONLY",),
        # MySQL: max_execution_time (ms, SELECT only); MariaDB: max_statement_time (s).
        # The executor picks the one the server has.
        timeout_statement="SET SESSION max_execution_time = {ms}",
        dangerous_functions=_MYSQL_DANGEROUS,
        timeout_variants=(("mariadb", "SET SESSION max_statement_time = {s}"),),
    ),
    "mssql": EngineProfile(
        name="mssql",
        sqlglot_dialect="tsql",
        drivername="mssql+pyodbc",
        driver_module="pyodbc",
        install_hint=(
            'pip install "nl2sql-factory[mssql]" (pyodbc), plus unixODBC and '
            "Microsoft's 'ODBC Driver 18 for SQL Server'"
        ),
        default_port=1433,
        schemes=("mssql", "sqlserver", "tsql"),
        fold_unquoted=None,
        case_insensitive_tables=True,  # default collations are case-insensitive
        case_insensitive_columns=True,
        readonly_session=(
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET IMPLICIT_TRANSACTIONS ON",  # every statement runs in a transaction we roll back
        ),
        timeout_statement="SET LOCK_TIMEOUT {ms}",
        dangerous_functions=_MSSQL_DANGEROUS,
        limit_style="top",
    ),
}

ALL_DANGEROUS_FUNCTIONS: frozenset[str] = frozenset().union(
    *(e.dangerous_functions for e in ENGINES.values())
)

_BY_SCHEME = {scheme: e for e in ENGINES.values() for scheme in e.schemes}
_BY_DIALECT = {e.sqlglot_dialect: e for e in ENGINES.values()}


def get(name: str) -> EngineProfile:
    """The profile for an engine name, a DSN scheme or a sqlglot dialect name.

    >>> get("postgres").name
    'postgresql'
    >>> get("mssql+pyodbc").sqlglot_dialect
    'tsql'
    """
    key = name.lower().split("+", 1)[0]
    profile = ENGINES.get(key) or _BY_SCHEME.get(key) or _BY_DIALECT.get(key)
    if profile is None:
        raise UnknownScheme(f"unknown database engine {name!r}")
    return profile


# ---------------------------------------------------------------- sessions and cleanup
# (issue 10, executor side: what the executor does around every query so that nothing a
# query did survives in its pooled connection, and how a privileged account is found.)


@dataclass(frozen=True)
class SessionFacts:
    """Per-engine facts for clean, bounded, least-privilege sessions.

    ``reset`` runs after every query, after the rollback; when ``reset_command`` is set
    (the MySQL protocol's COM_RESET_CONNECTION) the driver sends that instead, and the
    session settings (``readonly_session``, the timeout, ``setup``) are applied again.
    """

    # Statements sent after every query, in one round trip where the engine allows it.
    reset: tuple[str, ...] = ()
    # A protocol command that resets the whole session server-side ("com_reset_connection").
    reset_command: str | None = None
    # Extra session settings applied when a session opens (and again after a reset).
    # ``{idle_ms}`` is filled with the idle-in-transaction limit in milliseconds.
    setup: tuple[str, ...] = ()
    # Settings that need a newer server: (lowest server_version_num, statement).
    setup_since: tuple[tuple[int, str], ...] = ()
    # Returns one row per reason the connected account is privileged (superuser, file
    # access...).  None: the engine has no accounts (SQLite) or the check is code
    # (MySQL's SHOW GRANTS needs parsing: see ``privileged_grants``).
    privileged_sql: str | None = None
    # MySQL/MariaDB: global privileges (ON *.*) that make an account privileged.
    privileged_grants: frozenset[str] = frozenset()
    # Quoted phrases in the server's error texts that are fixed wording, not data.
    error_phrases: frozenset[str] = frozenset()


SESSIONS: dict[str, SessionFacts] = {
    "sqlite": SessionFacts(),  # one process, no server session; the file's permissions rule
    "postgresql": SessionFacts(
        # A rollback ends every transaction-scoped effect (SET, set_config, LISTEN, temp
        # tables, cursors); what survives it is reset here: DISCARD ALL without the
        # RESET ALL that would drop our read-only settings, and without its "cannot run
        # inside a transaction block" restriction, so all of it is one round trip.
        reset=(
            "ROLLBACK",
            "CLOSE ALL",
            "DEALLOCATE ALL",
            "UNLISTEN *",
            "SELECT pg_advisory_unlock_all()",
            "DISCARD PLANS",
            "DISCARD SEQUENCES",
            "DISCARD TEMP",
        ),
        setup=(
            # A backend whose client vanished mid-transaction (network gone, process
            # killed) ends itself instead of holding its snapshot and locks.
            "SET idle_in_transaction_session_timeout = {idle_ms}",
        ),
        # A running query whose client is gone (Ctrl-C cut the socket) is ended within
        # a second instead of running to its timeout (PostgreSQL 14+).
        setup_since=((140000, "SET client_connection_check_interval = 1000"),),
        privileged_sql=(
            "SELECT 'superuser' FROM pg_roles WHERE rolname = current_user AND rolsuper "
            "UNION ALL SELECT 'member of ' || g.rolname FROM pg_roles g "
            "WHERE g.rolname IN "
            "('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program') "
            "AND pg_has_role(current_user, g.oid, 'MEMBER') "
            # A superuser is a member of every role: saying so once is enough.
            "AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND rolsuper)"
        ),
    ),
    "mysql": SessionFacts(
        # COM_RESET_CONNECTION: rolls back, releases GET_LOCK locks and table locks, drops
        # temporary tables and prepared statements, clears @user variables and puts
        # every session variable back to its global value (MySQL 5.7.3+, MariaDB 10.2.4+).
        reset_command="com_reset_connection",
        # Used only when the server lacks the command (then the executor reconnects).
        reset=("ROLLBACK", "DO RELEASE_ALL_LOCKS()"),
        # English messages: the error reducer tells fixed wording from data by them.
        setup=("SET SESSION lc_messages = 'en_US'",),
        privileged_grants=frozenset(
            {
                "ALL PRIVILEGES",
                "SUPER",
                "FILE",
                "PROCESS",
                "SHUTDOWN",
                "RELOAD",
                "CREATE USER",
                "GRANT OPTION",
                "BINLOG ADMIN",
                "CONNECTION ADMIN",
                "READ_ONLY ADMIN",
                "REPLICATION MASTER ADMIN",
                "REPLICATION SLAVE ADMIN",
                "FEDERATED ADMIN",
                "SET USER",
            }
        ),
        error_phrases=frozenset(
            {
                "field list",
                "where clause",
                "having clause",
                "order clause",
                "on clause",
                "group statement",
                "from clause",
                "IN/ALL/ANY subquery",
                "NOT IN/ALL/ANY",
            }
        ),
    ),
    "mssql": SessionFacts(
        # pyodbc has no sp_reset_connection call of its own; the rollback after every
        # query plus the statement guard (no SET, EXEC, DECLARE...) leave nothing behind.
        privileged_sql=(
            "SELECT 'sysadmin' WHERE IS_SRVROLEMEMBER('sysadmin') = 1 "
            "UNION ALL SELECT 'CONTROL SERVER' "
            "WHERE HAS_PERMS_BY_NAME(NULL, NULL, 'CONTROL SERVER') = 1 "
            "UNION ALL SELECT 'db_owner' WHERE IS_MEMBER('db_owner') = 1"
        ),
    ),
}


def session_facts(name: str) -> SessionFacts:
    """The session facts for an engine (any name :func:`get` accepts).

    >>> session_facts("mariadb").reset_command
    'com_reset_connection'
    """
    return SESSIONS[get(name).name]
