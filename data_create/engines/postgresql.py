"""PostgreSQL: identifiers fold to lower case; read-only by session characteristics."""

from __future__ import annotations

from types import MappingProxyType

from sqlglot import exp

from .profile import AliasRule, EngineProfile, SessionFacts, StatementTimeout, call

# Functions that read or write the server's files, run programs, sleep, take locks,
# change settings or reach other servers.  A generated query never needs them.  The
# safety layer rejects a name from *any* engine's list whatever the dialect: a
# function called ``sleep`` is suspicious everywhere, and this costs nothing.
DANGEROUS_FUNCTIONS = frozenset(
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

# Functions sqlglot does not model (``exp.Anonymous``), by the name this engine knows.
READ_FUNCTIONS = frozenset(
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

SESSION = SessionFacts(
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
)


def month_bucket(column: exp.Expr) -> exp.Expr:
    return call("TO_CHAR", column, exp.Literal.string("YYYY-MM"))


def year_of(column: exp.Expr) -> exp.Expr:
    year = exp.Extract(this=exp.var("YEAR"), expression=column)
    return exp.Cast(this=year, to=exp.DataType.build("INT"))


def days_between(later: exp.Expr, earlier: exp.Expr) -> exp.Expr:
    # date - date is an integer number of days (timestamps would give an interval).
    as_date = exp.DataType.build("DATE")
    return exp.Sub(
        this=exp.Cast(this=later, to=as_date), expression=exp.Cast(this=earlier, to=as_date.copy())
    )


PROFILE = EngineProfile(
    nulls_last_syntax=True,
    name="postgresql",
    display_name="PostgreSQL",
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
    timeouts=(StatementTimeout("SET statement_timeout = {ms}", "RESET statement_timeout"),),
    dangerous_functions=DANGEROUS_FUNCTIONS,
    catalog_module="data_create.catalog.postgresql",
    session_class="data_create.executor:_PostgresSession",
    allowed_functions=READ_FUNCTIONS,
    verbatim_functions=("date_part",),
    connect_timeout_arg="connect_timeout",
    # Socket-level limits for the engine's own connections (metadata, sampling): a
    # network that goes silent ends in an error instead of a hang.  Generous, because
    # catalogue queries on large schemas are slow; the executor sets its own, tied to
    # its timeout.  Keepalives find a peer that vanished while we wait for an answer;
    # tcp_user_timeout one that stops acknowledging what we send (libpq 12+).
    connect_args=MappingProxyType(
        {
            "application_name": "nl2sql-factory",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 60_000,
        }
    ),
    alias_rule=AliasRule(frozenset({"order", "group"}), whole_item_only=True),
    implicit_columns=frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"}),
    session=SESSION,
    numeric_text_type="NUMERIC",
    month_bucket=month_bucket,
    year_of=year_of,
    days_between=days_between,
    bucket_formats=frozenset({"YYYY-MM"}),
    idioms=(
        ("limit", "ORDER BY ... LIMIT n"),
        (
            "dates",
            "date_trunc('month', d), EXTRACT(YEAR FROM d), d - INTERVAL '30 days', CURRENT_DATE",
        ),
        ("quoting", "identifiers in \"double quotes\" when needed, strings in 'single quotes'"),
        ("other", "ILIKE for case-insensitive match; cast with ::numeric before dividing integers"),
    ),
    view_comment_sql="COMMENT ON VIEW {name} IS {comment}",
)
