"""Per-dialect facts the synthesizer needs: identifier quoting, NULL ordering, date buckets.

Dialect differences are data here: each table maps a sqlglot dialect name to what the
builder asks for.  Date buckets are built explicitly per dialect rather than transpiled,
because sqlglot's transpilation of date functions between engines is not reliable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

DIALECTS = ("sqlite", "postgres", "mysql", "tsql")

# Words that must be quoted as identifiers on at least one engine.
RESERVED = frozenset(
    ["add", "all", "alter", "and", "any", "as", "asc", "between", "by", "case", "cast", "check", "column", "constraint", "create", "cross", "current", "current_date", "current_time", "current_timestamp", "current_user", "database", "default", "delete", "desc", "distinct", "drop", "else", "end", "except", "exists", "false", "fetch", "for", "foreign", "from", "full", "grant", "group", "having", "in", "index", "inner", "insert", "intersect", "into", "is", "join", "key", "left", "like", "limit", "natural", "not", "null", "of", "offset", "on", "or", "order", "outer", "over", "partition", "primary", "references", "right", "row", "rows", "select", "session_user", "set", "some", "table", "then", "to", "top", "true", "union", "unique", "update", "user", "using", "values", "view", "when", "where", "window", "with", "year", "month", "day", "level", "rank", "position", "range", "file", "function", "return", "returns", "status", "comment"]
)  # fmt: skip

_PLAIN = {
    # Unquoted names PostgreSQL folds to lower case; the others compare case-insensitively.
    "postgres": re.compile(r"[a-z_][a-z0-9_]*"),
    "sqlite": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    "mysql": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    "tsql": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
}

# Whether NULL sorts as the largest value: then DESC puts NULLs first by default.
# Ordered nodes carry the engine's own default, so sqlglot adds no NULLS FIRST/LAST.
NULLS_ARE_LARGE = {"postgres": True, "sqlite": False, "mysql": False, "tsql": False}

# The type numbers stored as text are CAST to before comparing, sorting or aggregating.
NUMERIC = {"sqlite": "REAL", "postgres": "NUMERIC", "mysql": "DECIMAL(38, 10)", "tsql": "FLOAT"}

# Dialects whose non-ASCII string literals must be national (N'...') to keep their characters.
NATIONAL_STRINGS = frozenset({"tsql"})

# Format strings of the date buckets (literals the question does not need to state).
FORMAT_LITERALS = frozenset({"%Y-%m", "%Y", "YYYY-MM", "yyyy-MM"})


def identifier(name: str, dialect: str) -> exp.Identifier:
    quoted = not _PLAIN[dialect].fullmatch(name) or name.lower() in RESERVED
    return exp.Identifier(this=name, quoted=quoted)


def ordered(expression: exp.Expr, desc: bool, dialect: str) -> exp.Ordered:
    return exp.Ordered(this=expression, desc=desc, nulls_first=desc == NULLS_ARE_LARGE[dialect])


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


_MONTH: dict[str, Callable[[exp.Expr], exp.Expr]] = {
    "sqlite": lambda c: _fn("STRFTIME", exp.Literal.string("%Y-%m"), c),
    "postgres": lambda c: _fn("TO_CHAR", c, exp.Literal.string("YYYY-MM")),
    "mysql": lambda c: _fn("DATE_FORMAT", c, exp.Literal.string("%Y-%m")),
    "tsql": lambda c: _fn("FORMAT", c, exp.Literal.string("yyyy-MM")),
}

_YEAR: dict[str, Callable[[exp.Expr], exp.Expr]] = {
    "sqlite": lambda c: exp.Cast(
        this=_fn("STRFTIME", exp.Literal.string("%Y"), c), to=exp.DataType.build("INTEGER")
    ),
    "postgres": lambda c: exp.Cast(
        this=exp.Extract(this=exp.var("YEAR"), expression=c), to=exp.DataType.build("INT")
    ),
    "mysql": lambda c: _fn("YEAR", c),
    "tsql": lambda c: _fn("YEAR", c),
}


def month_bucket(column: exp.Expr, dialect: str) -> exp.Expr:
    """``'YYYY-MM'`` text of a date or timestamp column."""
    return _MONTH[dialect](column)


def year_of(column: exp.Expr, dialect: str) -> exp.Expr:
    """The year of a date or timestamp column, as an integer."""
    return _YEAR[dialect](column)
