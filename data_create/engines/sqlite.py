"""SQLite: a file, one process, no accounts; read-only by PRAGMA, timed by a progress handler."""

from __future__ import annotations

from types import MappingProxyType

from sqlglot import exp

from .profile import AliasRule, EngineProfile, SessionFacts, call

# Functions that read or write the server's files, run programs, sleep, take locks,
# change settings or reach other servers.  A generated query never needs them.  The
# safety layer rejects a name from *any* engine's list whatever the dialect: a
# function called ``sleep`` is suspicious everywhere, and this costs nothing.
DANGEROUS_FUNCTIONS = frozenset(
    {
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zeroblob",
        "sqlite_compileoption_get", "sqlite_compileoption_used", "randomblob",
    }
)  # fmt: skip

# Functions sqlglot does not model (``exp.Anonymous``), by the name this engine knows.
READ_FUNCTIONS = frozenset(
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

SESSION = SessionFacts()  # one process, no server session; the file's permissions rule


def month_bucket(column: exp.Expr) -> exp.Expr:
    return call("STRFTIME", exp.Literal.string("%Y-%m"), column)


def year_of(column: exp.Expr) -> exp.Expr:
    year = call("STRFTIME", exp.Literal.string("%Y"), column)
    return exp.Cast(this=year, to=exp.DataType.build("INTEGER"))


def days_between(later: exp.Expr, earlier: exp.Expr) -> exp.Expr:
    # DATE() first: whole days, as the other engines count them for timestamps too.
    return exp.Sub(
        this=call("JULIANDAY", call("DATE", later)),
        expression=call("JULIANDAY", call("DATE", earlier)),
    )


PROFILE = EngineProfile(
    nulls_last_syntax=True,
    name="sqlite",
    display_name="SQLite",
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
    timeouts=(),  # enforced with a progress handler
    dangerous_functions=DANGEROUS_FUNCTIONS,
    catalog_module="data_create.catalog.sqlite",
    session_class="data_create.executor:_SqliteSession",
    allowed_functions=READ_FUNCTIONS,
    double_quoted_string_fallback=True,
    ping_sql="SELECT count(*) FROM sqlite_master",
    file_database=True,
    # The executor's threads share the connection, one at a time.
    connect_args=MappingProxyType({"check_same_thread": False}),
    # SQLite even resolves aliases in WHERE.
    alias_rule=AliasRule(
        frozenset({"order", "group", "having", "where"}), order_by_output_columns=False
    ),
    implicit_columns=frozenset({"rowid", "oid", "_rowid_"}),
    session=SESSION,
    numeric_text_type="REAL",
    month_bucket=month_bucket,
    year_of=year_of,
    days_between=days_between,
    bucket_formats=frozenset({"%Y-%m", "%Y"}),
    idioms=(
        ("limit", "ORDER BY ... LIMIT n"),
        (
            "dates",
            "strftime('%Y-%m', d), date('now', '-30 days'), julianday(a) - julianday(b); "
            "dates are ISO text",
        ),
        ("quoting", "identifiers in \"double quotes\" when needed, strings in 'single quotes'"),
        ("other", "string concatenation with ||; no ILIKE (LIKE is case-insensitive for ASCII)"),
    ),
)
