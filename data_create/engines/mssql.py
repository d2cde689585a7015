"""SQL Server: TOP instead of LIMIT; read-only by a transaction rolled back after each query."""

from __future__ import annotations

from sqlglot import exp

from .profile import AliasRule, EngineProfile, SessionFacts, StatementTimeout, call, year_function

# Functions that read or write the server's files, run programs, sleep, take locks,
# change settings or reach other servers.  A generated query never needs them.  The
# safety layer rejects a name from *any* engine's list whatever the dialect: a
# function called ``sleep`` is suspicious everywhere, and this costs nothing.
DANGEROUS_FUNCTIONS = frozenset(
    {
        "xp_cmdshell", "xp_regread", "xp_regwrite", "xp_dirtree", "xp_fileexist",
        "xp_subdirs", "xp_servicecontrol", "sp_oacreate", "sp_oamethod", "sp_executesql",
        "sp_configure", "sp_addlogin", "sp_addsrvrolemember", "sp_makewebtask",
        "openrowset", "opendatasource", "openquery", "openxml", "bulk",
    }
)  # fmt: skip

# Functions sqlglot does not model (``exp.Anonymous``), by the name this engine knows.
READ_FUNCTIONS = frozenset(
    {
        "datepart", "datename", "dateadd", "datediff", "datediff_big", "datefromparts",
        "datetimefromparts", "eomonth", "getdate", "getutcdate", "sysdatetime",
        "current_timestamp", "year", "month", "day", "isdate", "isnull", "iif", "choose",
        "coalesce", "nullif", "cast", "convert", "try_cast", "try_convert", "format", "len",
        "datalength", "charindex", "patindex", "substring", "left", "right", "ltrim", "rtrim",
        "trim", "upper", "lower", "replace", "replicate", "reverse", "stuff", "concat",
        "concat_ws", "string_agg", "str", "space", "ascii", "char", "unicode", "nchar",
        "translate", "abs", "ceiling", "floor", "round", "power", "sqrt", "square", "exp",
        "log", "log10", "sign", "pi", "rand", "count", "count_big", "sum", "avg", "min", "max",
        "stdev", "stdevp", "var", "varp", "row_number", "rank", "dense_rank", "ntile", "lag",
        "lead", "first_value", "last_value", "percent_rank", "cume_dist", "percentile_cont",
        "percentile_disc", "json_value", "json_query", "isjson", "greatest", "least",
        "approx_count_distinct",
    }
)  # fmt: skip

SESSION = SessionFacts(
    # pyodbc has no sp_reset_connection call of its own; the rollback after every
    # query plus the statement guard (no SET, EXEC, DECLARE...) leave nothing behind.
    privileged_sql=(
        "SELECT 'sysadmin' WHERE IS_SRVROLEMEMBER('sysadmin') = 1 "
        "UNION ALL SELECT 'CONTROL SERVER' "
        "WHERE HAS_PERMS_BY_NAME(NULL, NULL, 'CONTROL SERVER') = 1 "
        "UNION ALL SELECT 'db_owner' WHERE IS_MEMBER('db_owner') = 1"
    ),
)


def month_bucket(column: exp.Expr) -> exp.Expr:
    return call("FORMAT", column, exp.Literal.string("yyyy-MM"))


def days_between(later: exp.Expr, earlier: exp.Expr) -> exp.Expr:
    return call("DATEDIFF", exp.var("day"), earlier, later)


PROFILE = EngineProfile(
    name="mssql",
    display_name="SQL Server",
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
    timeouts=(StatementTimeout("SET LOCK_TIMEOUT {ms}", "SET LOCK_TIMEOUT -1"),),
    dangerous_functions=DANGEROUS_FUNCTIONS,
    catalog_module="data_create.catalog.mssql",
    session_class="data_create.executor:_MssqlSession",
    allowed_functions=READ_FUNCTIONS,
    limit_style="top",
    url_defaults=(("driver", "ODBC Driver 18 for SQL Server", ("odbc_connect",)),),
    connect_timeout_arg="timeout",
    # SQL Server resolves SELECT-list aliases only in ORDER BY.
    alias_rule=AliasRule(frozenset({"order"})),
    session=SESSION,
    numeric_text_type="FLOAT",
    avg_of_integers_truncates=True,
    national_strings=True,
    month_bucket=month_bucket,
    year_of=year_function,
    days_between=days_between,
    bucket_formats=frozenset({"yyyy-MM"}),
    idioms=(
        (
            "limit",
            "SELECT TOP (n) ... ORDER BY ... (never LIMIT); or OFFSET 0 ROWS FETCH NEXT n ROWS ONLY",
        ),
        (
            "dates",
            "YEAR(d), FORMAT(d, 'yyyy-MM'), DATEADD(day, -30, GETDATE()), DATEDIFF(day, a, b)",
        ),
        (
            "quoting",
            "identifiers in [brackets] when needed, strings in 'single quotes' (N'...' for "
            "Unicode)",
        ),
        ("other", "a + b for strings; no boolean type (compare with 1/0)"),
    ),
)
