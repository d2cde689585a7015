"""The shape of an engine profile: what the rest of the project may ask of an engine.

Each engine module (:mod:`.sqlite`, :mod:`.postgresql`, :mod:`.mysql`, :mod:`.mssql`)
fills one :class:`EngineProfile` with its facts; :mod:`data_create.engines` looks them
up by any of their names.  Facts shared by every engine (the typed-function allow-list,
system schemas and tables) live here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from sqlglot import exp

Bucket = Callable[[exp.Expr], exp.Expr]
# (later, earlier) -> the whole days from ``earlier`` to ``later``.
Span = Callable[[exp.Expr, exp.Expr], exp.Expr]

# ----------------------------------------------------------------- allow-lists
#
# What a read query may call.  Everything else is refused by name, including
# schema-qualified (``public.f(x)``), quoted (``"f"(x)``) and user-defined functions.
# A user allows more with ``--allow-function NAME`` (or ``allow_functions`` in the
# config); the dangerous lists above can never be allowed.
#
# Typed nodes: sqlglot parses the functions it knows into typed nodes and regenerates
# them in the engine's own spelling (``Upper`` -> ``UPPER``, ``TimeToStr`` ->
# ``TO_CHAR``/``DATE_FORMAT``/``STRFTIME``), so one list of sqlglot node keys serves
# every engine.  Only pure functions of their arguments: aggregates, window functions,
# string, math, date/time, casts, conditionals, JSON and array readers.
TYPED_READ_FUNCTIONS = frozenset(
    {
        # aggregates
        "count", "sum", "avg", "min", "max", "groupconcat", "arrayagg", "stddev",
        "stddevpop", "stddevsamp", "variance", "variancepop", "median", "mode",
        "percentilecont", "percentiledisc", "corr", "covarpop", "covarsamp", "countif",
        "anyvalue", "first", "last", "logicaland", "logicalor", "booland", "boolor",
        "bitwiseandagg", "bitwiseoragg", "bitwisexoragg", "approxdistinct", "regravgx",
        "regravgy", "regrcount", "regrintercept", "regrr2", "regrslope", "regrsxx", "regrsxy",
        "regrsyy", "jsonarrayagg", "jsonobjectagg", "jsonbobjectagg", "kurtosis", "skewness",
        "grouping", "groupingid",
        # window functions
        "rownumber", "rank", "denserank", "percentrank", "cumedist", "ntile", "lag", "lead",
        "firstvalue", "lastvalue", "nthvalue",
        # conditionals, casts, operators sqlglot models as functions
        "and", "or", "xor", "case", "if", "coalesce", "nullif", "greatest", "least", "nvl2",
        "cast", "trycast", "convert", "collate", "exists", "extract", "struct", "typeof",
        # strings
        "lower", "upper", "length", "bitlength", "bytelength", "concat", "concatws",
        "substring", "substringindex", "trim", "left", "right", "replace", "reverse",
        "repeat", "pad", "initcap", "strposition", "splitpart", "translate", "ascii", "chr",
        "unicode", "space", "stuff", "format", "hex", "lowerhex", "unhex", "md5", "sha",
        "sha2", "soundex", "levenshtein", "regexplike", "regexpilike", "regexpreplace",
        "regexpextract", "regexpextractall", "regexpsubstr", "regexpcount", "regexpinstr",
        "regexpsplit", "startswith", "endswith", "overlay", "normalize", "encode", "decode",
        "tobase64", "frombase64", "casttostrtype", "tochar", "tonumber", "numbertostr",
        "matchagainst", "split", "stringtoarray", "arraytostring",
        # math
        "abs", "ceil", "floor", "round", "trunc", "sqrt", "cbrt", "exp", "ln", "log", "pow",
        "sign", "pi", "degrees", "radians", "sin", "cos", "tan", "cot", "asin", "acos",
        "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "rand",
        "widthbucket", "isnan", "isinf", "factorial",
        # date and time
        "currentdate", "currenttime", "currenttimestamp", "currentdatetime", "localtime",
        "localtimestamp", "utcdate", "utctime", "utctimestamp", "systimestamp", "date",
        "time", "datetime", "timestamp", "dateadd", "datesub", "datediff", "datetrunc",
        "datetimeadd", "datetimesub", "datetimediff", "datetimetrunc", "timestampadd",
        "timestampsub", "timestampdiff", "timestamptrunc", "timeadd", "timesub", "timediff",
        "timetrunc", "day", "dayofmonth", "dayofweek", "dayofweekiso", "dayofyear",
        "dayname", "month", "monthname", "year", "quarter", "week", "weekofyear", "hour",
        "minute", "second", "lastday", "addmonths", "monthsbetween", "makeinterval",
        "justifydays", "justifyhours", "justifyinterval", "datefromparts", "timefromparts",
        "timestampfromparts", "strtodate", "strtotime", "strtounix", "timetostr",
        "timetotimestr", "timetounix", "timestrtodate", "timestrtotime", "timestrtounix",
        "unixtostr", "unixtotime", "unixtotimestr", "unixdate", "unixseconds", "unixmillis",
        "unixmicros", "datestrtodate", "datetodatestr", "datetodi", "ditodate", "tsorditodi",
        "tsordstodate", "tsordstotime", "tsordstotimestamp", "tsordstodatetime",
        "tsordstodatestr", "tsordsadd", "tsordsdiff", "datebin", "converttimezone", "todays",
        "nextday", "previousday", "datefromunixdate", "fromiso8601date",
        "fromiso8601timestamp",
        # JSON and array readers
        "jsonextract", "jsonextractscalar", "jsonbextract", "jsonbextractscalar",
        "jsonextractarray", "jsonarraycontains", "jsonbcontains", "jsonbexists", "jsonexists",
        "jsonkeys", "jsontype", "jsonformat", "parsejson", "jsonobject", "jsonarray",
        "jsoncast", "checkjson", "jsonbcontainsalltopkeys", "jsonbcontainsanytopkeys",
        "jsonbcontainstopkey", "jsonvaluearray", "jsonbpathexists", "isarray", "array",
        "arraysize", "arraycontains", "arraycontainsall", "arrayoverlaps",
        "arraycontainedby", "arrayposition", "arrayslice", "arrayconcat",
        # table functions that only produce values
        "unnest", "explode", "generateseries", "explodinggenerateseries", "jsontable",
    }
)  # fmt: skip

# Schemas/databases whose tables hold credentials or server internals.
# information_schema / pg_catalog / sqlite_master describe the server to whoever reads
# them; metadata extraction has its own catalogue queries (data_create/catalog) and
# never goes through the validator, so generated and predicted SQL need none of them.
SYSTEM_SCHEMAS = frozenset(
    {
        "mysql", "performance_schema", "sys", "pg_catalog", "information_schema",
        "pg_toast", "master", "msdb", "tempdb",
    }
)  # fmt: skip
SYSTEM_TABLES = frozenset(
    {
        "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_hba_file_rules",
        "pg_file_settings", "pg_stat_activity", "user", "sql_logins", "syslogins",
        "sysxlogins", "server_principals", "sqlite_master", "sqlite_schema",
        "sqlite_temp_master", "sqlite_temp_schema", "sqlite_sequence", "sqlite_stat1",
        "sqlite_stat4", "pg_roles", "pg_settings", "pg_user", "pg_stat_ssl",
        "pg_stat_replication", "pg_locks", "pg_prepared_xacts", "pg_config",
        "pg_available_extensions", "pg_proc", "pg_class", "pg_namespace", "pg_attribute",
        "pg_database", "pg_tables", "pg_views", "pg_stats", "pg_statistic",
        "global_priv", "processlist", "sysobjects", "syscolumns", "sysprocesses",
    }
)  # fmt: skip


def call(name: str, *args: exp.Expr) -> exp.Expr:
    """``NAME(args)`` kept as written (``exp.Anonymous``), for date buckets: sqlglot
    renders it unchanged in any dialect."""
    return exp.Anonymous(this=name, expressions=list(args))


def year_function(column: exp.Expr) -> exp.Expr:
    """``YEAR(column)``: the year bucket of MySQL and SQL Server."""
    return call("YEAR", column)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_LOWER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class StatementTimeout:
    """How one server flavour limits each statement's run time, and how that is undone.

    ``set`` has ``{ms}`` / ``{s}`` placeholders.  ``marker``: a substring of the
    lower-cased server version string that selects this flavour ("" for the default).
    """

    set: str
    reset: str
    marker: str = ""


@dataclass(frozen=True)
class AliasRule:
    """Where a SELECT-list alias may stand for its expression in one engine."""

    clauses: frozenset[str]  # arg names of exp.Select: "order", "group", "having", "where"
    whole_item_only: bool = False  # PostgreSQL: ORDER BY total, not ORDER BY total + 1
    # ORDER BY id after SELECT a.id FROM a JOIN b: the output column, not ambiguous
    # (SQLite only looks at AS aliases first).
    order_by_output_columns: bool = True


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
    # Schemas on which any privilege makes an account privileged (MySQL's ``mysql``).
    privileged_schemas: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EngineProfile:
    name: str  # our name: "sqlite" | "postgresql" | "mysql" | "mssql"
    display_name: str  # how people call it, in prompts and messages: "PostgreSQL"
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
    # How a per-statement timeout is set (first flavour whose marker is in the server
    # version, else the one without a marker); the executor also cancels from the
    # client side, so this is the first line only.  Empty: the engine has no such
    # statement (SQLite: a progress handler; SQL Server: the driver's query timeout).
    timeouts: tuple[StatementTimeout, ...]
    dangerous_functions: frozenset[str]
    # Where the rest of the project finds this engine's code, by dotted name so that
    # importing the profiles imports no driver: the catalogue reader module
    # (data_create/catalog) and the executor's session class ("module:Class").
    catalog_module: str
    session_class: str
    # Function names (exp.Anonymous) a read query may call on this engine; typed
    # sqlglot nodes are allowed by ``allowed_nodes`` (sqlglot node keys).
    allowed_functions: frozenset[str] = frozenset()
    allowed_nodes: frozenset[str] = TYPED_READ_FUNCTIONS
    # SQLite, and MySQL/MariaDB without ANSI_QUOTES, read a double-quoted token that
    # names no column as a string literal (``WHERE State = "NY"``); PostgreSQL and SQL
    # Server keep it an identifier.  sqlglot's MySQL tokenizer already reads "..." as
    # a string; for SQLite the schema layer applies the rule.
    double_quoted_string_fallback: bool = False
    # Functions the validator's parser keeps as written (exp.Anonymous) because sqlglot
    # would regenerate them as another function with another result type, and what runs
    # is the regenerated SQL: PostgreSQL's date_part() returns double precision, the
    # EXTRACT() sqlglot writes for it returns numeric.
    verbatim_functions: tuple[str, ...] = ()
    system_schemas: frozenset[str] = SYSTEM_SCHEMAS
    system_tables: frozenset[str] = SYSTEM_TABLES
    # Keyword for "first N rows" in generated SQL.
    limit_style: str = "limit"  # "limit" | "top"
    # Proves a connection works; SQLite answers SELECT 1 even for a file that is not a database.
    ping_sql: str = "SELECT 1"
    # ------------------------------------------------------------ connecting
    # The database is a local file named by the DSN (no server, no password, no port).
    file_database: bool = False
    # Query parameters added to the DSN unless the user set them, or set one of the
    # keys in the third item (SQL Server's odbc_connect names its own driver).
    url_defaults: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # The driver's keyword for the connect timeout (seconds); None: it has none.
    connect_timeout_arg: str | None = None
    # Fixed keyword arguments for the driver's connect().
    connect_args: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The server speaks first (MySQL's greeting): connect() waits for that greeting
    # itself, because the driver's connect timeout bounds only the TCP connect.
    server_greets_first: bool = False
    # ------------------------------------------------------------ reading SQL safely
    # A backslash in '...' is an escape or not depending on a server mode (MySQL's
    # NO_BACKSLASH_ESCAPES), so sqlglot and the server may disagree where a string ends.
    backslash_escapes: bool = False
    # "--" starts a comment only when a space or control character follows (MySQL).
    dash_comment_needs_space: bool = False
    # Where a SELECT-list alias may stand for its expression (checked against the real
    # engines in tests/test_schema_check.py), and the columns every table has without
    # declaring them.
    alias_rule: AliasRule = AliasRule(frozenset({"order"}))
    implicit_columns: frozenset[str] = frozenset()
    # ------------------------------------------------------------ sessions, prompts
    session: SessionFacts = SessionFacts()
    # How to say the things questions need most, shown to an LLM that writes SQL for
    # this engine: ((topic, idiom), ...), e.g. ("limit", "SELECT TOP (n) ...").
    idioms: tuple[tuple[str, str], ...] = ()
    # How to attach a comment to a view (``{name}``, ``{comment}`` an SQL string
    # literal); None: the engine has no comments on views.
    view_comment_sql: str | None = None
    # ------------------------------------------------------------ synthesis (data_create/synth)
    # The type numbers stored as text are CAST to before comparing, sorting or aggregating.
    numeric_text_type: str = "NUMERIC"
    # AVG of an integer column is an integer (SQL Server): an average of counts is CAST to
    # ``numeric_text_type`` first, or "the average number of orders per customer" is 2, not 2.4.
    avg_of_integers_truncates: bool = False
    # ``ORDER BY x DESC NULLS LAST`` is written as such (elsewhere it is emulated).
    nulls_last_syntax: bool = False
    # Non-ASCII string literals must be national (N'...') to keep their characters.
    national_strings: bool = False
    # Date buckets, built per engine rather than transpiled (sqlglot's transpilation of
    # date functions between engines is not reliable): the 'YYYY-MM' text and the year
    # (an integer) of a date or timestamp column, and the format strings they use
    # (literals a question does not need to state).
    month_bucket: Bucket | None = None
    year_of: Bucket | None = None
    bucket_formats: frozenset[str] = frozenset()
    # The number of days between two dates of a row (``later - earlier``, NULL when
    # either is), built per engine for the same reason as the buckets.
    days_between: Span | None = None

    @cached_property
    def nulls_are_large(self) -> bool:
        """Whether NULL sorts as the largest value (then DESC puts NULLs first), as
        sqlglot's dialect says (``Dialect.NULL_ORDERING``).

        >>> from data_create import engines
        >>> engines.get("postgresql").nulls_are_large, engines.get("mysql").nulls_are_large
        (True, False)
        """
        from sqlglot.dialects.dialect import Dialect

        return Dialect.get_or_raise(self.sqlglot_dialect).NULL_ORDERING == "nulls_are_large"

    def plain_identifier(self, name: str) -> bool:
        """Whether ``name`` can be written unquoted and still mean itself: any ASCII
        letters, digits and underscores, lower case only where unquoted names fold.

        >>> from data_create import engines
        >>> engines.get("postgres").plain_identifier("OrderId")
        False
        >>> engines.get("mysql").plain_identifier("OrderId")
        True
        """
        plain = _PLAIN_LOWER if self.fold_unquoted == "lower" else _PLAIN
        return plain.fullmatch(name) is not None

    def _timeout(self, server_version: str) -> StatementTimeout | None:
        version = server_version.lower()
        marked = (t for t in self.timeouts if t.marker and t.marker in version)
        default = (t for t in self.timeouts if not t.marker)
        return next(marked, None) or next(default, None)

    def timeout_sql(self, timeout_s: float, server_version: str = "") -> str | None:
        """The statement that limits each statement to ``timeout_s`` on this server.

        >>> from data_create import engines
        >>> engines.get("mysql").timeout_sql(2.5, "10.11.6-MariaDB")
        'SET SESSION max_statement_time = 2.5'
        >>> engines.get("postgresql").timeout_sql(2.5)
        'SET statement_timeout = 2500'
        """
        timeout = self._timeout(server_version)
        if timeout is None:
            return None
        return timeout.set.format(ms=max(1, round(timeout_s * 1000)), s=f"{timeout_s:g}")

    def timeout_reset_sql(self, server_version: str = "") -> str | None:
        """The statement that puts the server's own statement timeout back.

        >>> from data_create import engines
        >>> engines.get("postgresql").timeout_reset_sql()
        'RESET statement_timeout'
        """
        timeout = self._timeout(server_version)
        return None if timeout is None else timeout.reset
