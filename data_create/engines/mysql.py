"""MySQL and MariaDB: one profile; where the two differ (the timeout variable) the
server version picks."""

from __future__ import annotations

from types import MappingProxyType

from sqlglot import exp

from .profile import AliasRule, EngineProfile, SessionFacts, StatementTimeout, call, year_function

# Functions that read or write the server's files, run programs, sleep, take locks,
# change settings or reach other servers.  A generated query never needs them.  The
# safety layer rejects a name from *any* engine's list whatever the dialect: a
# function called ``sleep`` is suspicious everywhere, and this costs nothing.
DANGEROUS_FUNCTIONS = frozenset(
    {
        "sleep", "benchmark", "load_file", "get_lock", "release_lock", "release_all_locks",
        "is_free_lock", "is_used_lock", "master_pos_wait", "source_pos_wait",
        "master_gtid_wait", "sys_exec", "sys_eval", "sys_get", "sys_set",
        "name_const", "extractvalue", "updatexml",
    }
)  # fmt: skip

# Functions sqlglot does not model (``exp.Anonymous``), by the name this engine knows.
READ_FUNCTIONS = frozenset(
    {
        "date_format", "str_to_date", "datediff", "timestampdiff", "timestampadd", "date_add",
        "date_sub", "adddate", "subdate", "addtime", "subtime", "curdate", "current_date",
        "curtime", "current_time", "current_timestamp", "now", "localtime", "localtimestamp",
        "utc_date", "utc_time", "utc_timestamp", "unix_timestamp", "from_unixtime", "year",
        "month", "day", "dayofmonth", "dayofweek", "dayofyear", "dayname", "monthname",
        "weekday", "week", "weekofyear", "yearweek", "quarter", "hour", "minute", "second",
        "microsecond", "last_day", "makedate", "maketime", "period_add", "period_diff",
        "to_days", "from_days", "to_seconds", "time_to_sec", "sec_to_time", "time_format",
        "timediff", "convert_tz", "date", "time", "timestamp", "ifnull", "if", "isnull",
        "nullif", "coalesce", "greatest", "least", "concat", "concat_ws", "group_concat",
        "substring", "substr", "mid", "substring_index", "left", "right", "length",
        "char_length", "character_length", "octet_length", "bit_length", "lower", "upper",
        "lcase", "ucase", "trim", "ltrim", "rtrim", "lpad", "rpad", "replace", "reverse",
        "repeat", "locate", "instr", "position", "field", "find_in_set", "format", "space",
        "ascii", "ord", "char", "hex", "unhex", "md5", "sha1", "sha2", "soundex", "strcmp",
        "regexp_like", "regexp_replace", "regexp_substr", "regexp_instr", "abs", "ceil",
        "ceiling", "floor", "round", "truncate", "mod", "pow", "power", "sqrt", "exp", "ln",
        "log", "log2", "log10", "sign", "pi", "degrees", "radians", "rand", "sin", "cos",
        "tan", "cot", "asin", "acos", "atan", "atan2", "conv", "bin", "oct", "crc32",
        "json_extract", "json_unquote", "json_contains", "json_contains_path", "json_keys",
        "json_length", "json_type", "json_valid", "json_search", "json_value", "json_object",
        "json_array", "json_arrayagg", "json_objectagg", "json_table", "json_depth",
        "json_overlaps", "count", "sum", "avg", "min", "max", "std", "stddev", "stddev_pop",
        "stddev_samp", "var_pop", "var_samp", "variance", "bit_and", "bit_or", "bit_xor",
        "any_value", "median", "percentile_cont", "percentile_disc", "row_number", "rank",
        "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
        "last_value", "nth_value", "cast", "convert",
    }
)  # fmt: skip

SESSION = SessionFacts(
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
    # Any privilege on the schema holding the accounts table is a privilege too much.
    privileged_schemas=frozenset({"mysql"}),
)


def month_bucket(column: exp.Expr) -> exp.Expr:
    return call("DATE_FORMAT", column, exp.Literal.string("%Y-%m"))


def days_between(later: exp.Expr, earlier: exp.Expr) -> exp.Expr:
    return call("DATEDIFF", later, earlier)


PROFILE = EngineProfile(
    name="mysql",
    display_name="MySQL",
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
    # The server's version string picks the one the server has.
    timeouts=(
        StatementTimeout(
            "SET SESSION max_statement_time = {s}",
            "SET SESSION max_statement_time = DEFAULT",
            marker="mariadb",
        ),
        StatementTimeout(
            "SET SESSION max_execution_time = {ms}", "SET SESSION max_execution_time = DEFAULT"
        ),
    ),
    dangerous_functions=DANGEROUS_FUNCTIONS,
    catalog_module="data_create.catalog.mysql",
    session_class="data_create.executor:_MySqlSession",
    allowed_functions=READ_FUNCTIONS,
    double_quoted_string_fallback=True,
    url_defaults=(("charset", "utf8mb4", ()),),
    connect_timeout_arg="connect_timeout",
    # Socket limits for the engine's own connections (metadata, sampling), generous
    # because catalogue queries on large schemas are slow.
    connect_args=MappingProxyType({"read_timeout": 120, "write_timeout": 120}),
    server_greets_first=True,
    backslash_escapes=True,
    dash_comment_needs_space=True,
    alias_rule=AliasRule(frozenset({"order", "group", "having"})),
    session=SESSION,
    numeric_text_type="DECIMAL(38, 10)",
    month_bucket=month_bucket,
    year_of=year_function,
    days_between=days_between,
    bucket_formats=frozenset({"%Y-%m"}),
    idioms=(
        ("limit", "ORDER BY ... LIMIT n"),
        (
            "dates",
            "DATE_FORMAT(d, '%Y-%m'), YEAR(d), DATE_SUB(CURDATE(), INTERVAL 30 DAY), "
            "DATEDIFF(a, b)",
        ),
        ("quoting", "identifiers in `backticks` when needed, strings in 'single quotes'"),
        ("other", "CONCAT(a, b) for strings; no FULL OUTER JOIN"),
    ),
)
