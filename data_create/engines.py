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
        # Found by the adversarial test of issue 10: they run an SQL string, read
        # catalogues or server files, or change server state.
        "ts_stat", "ts_rewrite", "table_to_xml_and_xmlschema", "table_to_xmlschema",
        "schema_to_xml_and_xmlschema", "database_to_xml_and_xmlschema",
        "pg_show_all_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings",
        "pg_stat_get_activity", "current_setting", "pg_stat_reset_slru", "pg_settings_get_flags",
        "pg_read_file_old", "pg_show_all_settings", "dblink_get_result", "dblink_close",
        "dblink_cancel_query", "dblink_get_notify", "pg_authid",
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
_TYPED_READ_FUNCTIONS = frozenset(
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

# Functions sqlglot does not model (``exp.Anonymous``), by the name each engine knows.
_PG_READ_FUNCTIONS = frozenset(
    {
        "age", "date_part", "to_char", "to_date", "to_timestamp", "to_number", "make_date",
        "make_time", "make_timestamp", "make_timestamptz", "make_interval", "date_bin",
        "isfinite", "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
        "date_trunc", "justify_days", "justify_hours", "justify_interval", "btrim", "ltrim",
        "rtrim", "lpad", "rpad", "strpos", "position", "split_part", "initcap", "concat",
        "concat_ws", "format", "char_length", "character_length", "octet_length",
        "bit_length", "regexp_match", "regexp_matches", "regexp_replace",
        "regexp_split_to_array", "regexp_split_to_table", "regexp_count", "regexp_instr",
        "regexp_like", "regexp_substr", "starts_with", "string_agg", "array_agg",
        "string_to_array", "array_to_string", "array_length", "array_position",
        "array_positions", "cardinality", "array_upper", "array_lower", "array_ndims",
        "array_remove", "array_replace", "array_cat", "array_append", "array_prepend",
        "unnest", "generate_series", "to_json", "to_jsonb", "json_build_object",
        "jsonb_build_object", "json_build_array", "jsonb_build_array", "json_agg",
        "jsonb_agg", "json_object_agg", "jsonb_object_agg", "json_array_length",
        "jsonb_array_length", "json_extract_path", "json_extract_path_text",
        "jsonb_extract_path", "jsonb_extract_path_text", "json_typeof", "jsonb_typeof",
        "json_each", "jsonb_each", "json_each_text", "jsonb_each_text",
        "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
        "jsonb_array_elements_text", "json_object_keys", "jsonb_object_keys",
        "jsonb_path_query", "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query_array",
        "jsonb_path_query_first", "jsonb_pretty", "json_strip_nulls", "jsonb_strip_nulls",
        "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor", "percentile_cont",
        "percentile_disc", "mode", "stddev", "stddev_pop", "stddev_samp", "var_pop",
        "var_samp", "variance", "corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy",
        "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
        "regr_syy", "trunc", "round", "ceil", "ceiling", "floor", "div", "mod", "power",
        "sqrt", "cbrt", "exp", "ln", "log", "log10", "sign", "abs", "pi", "degrees", "radians",
        "random", "width_bucket", "gcd", "lcm", "scale", "md5", "upper", "lower", "length",
        "substr", "substring", "replace", "translate", "repeat", "reverse", "ascii", "chr",
        "left", "right", "overlay", "to_hex", "num_nonnulls", "num_nulls", "sin", "cos", "tan",
        "cot", "asin", "acos", "atan", "atan2", "lag", "lead", "first_value", "last_value",
        "nth_value", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
        "count", "sum", "avg", "min", "max", "greatest", "least", "coalesce", "nullif", "row",
    }
)  # fmt: skip
_MYSQL_READ_FUNCTIONS = frozenset(
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
_SQLITE_READ_FUNCTIONS = frozenset(
    {
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff", "abs",
        "char", "coalesce", "concat", "concat_ws", "format", "printf", "glob", "hex",
        "ifnull", "iif", "instr", "length", "octet_length", "like", "likely", "unlikely",
        "likelihood", "lower", "upper", "ltrim", "rtrim", "trim", "max", "min", "nullif",
        "quote", "random", "replace", "round", "sign", "soundex", "substr", "substring",
        "typeof", "unhex", "unicode", "avg", "count", "group_concat", "string_agg", "sum",
        "total", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil",
        "ceiling", "cos", "cosh", "degrees", "exp", "floor", "ln", "log", "log10", "log2",
        "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        "json", "json_array", "json_array_length", "json_extract", "json_object",
        "json_quote", "json_type", "json_valid", "json_group_array", "json_group_object",
        "json_each", "json_tree", "row_number", "rank", "dense_rank", "percent_rank",
        "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
        "generate_series",
    }
)  # fmt: skip
_MSSQL_READ_FUNCTIONS = frozenset(
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

# Schemas/databases whose tables hold credentials or server internals.
# information_schema / pg_catalog / sqlite_master describe the server to whoever reads
# them; metadata extraction has its own catalogue queries (data_create/catalog) and
# never goes through the validator, so generated and predicted SQL need none of them.
_SYSTEM_SCHEMAS = frozenset(
    {
        "mysql", "performance_schema", "sys", "pg_catalog", "information_schema",
        "pg_toast", "master", "msdb", "tempdb",
    }
)  # fmt: skip
_SYSTEM_TABLES = frozenset(
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
    # Function names (exp.Anonymous) a read query may call on this engine; typed
    # sqlglot nodes are allowed by ``allowed_nodes`` (sqlglot node keys).
    allowed_functions: frozenset[str] = frozenset()
    allowed_nodes: frozenset[str] = _TYPED_READ_FUNCTIONS
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
        allowed_functions=_SQLITE_READ_FUNCTIONS,
        double_quoted_string_fallback=True,
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
        allowed_functions=_PG_READ_FUNCTIONS,
        verbatim_functions=("date_part",),
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
        allowed_functions=_MYSQL_READ_FUNCTIONS,
        double_quoted_string_fallback=True,
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
        allowed_functions=_MSSQL_READ_FUNCTIONS,
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
