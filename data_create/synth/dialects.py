"""What the synthesizer asks of an engine: identifier quoting, NULL ordering, date buckets.

The facts themselves are per-engine data in :mod:`data_create.engines` (date buckets,
numeric-text casts, national strings, identifier folding), and NULL ordering is
sqlglot's own ``Dialect.NULL_ORDERING``; this module turns them into the sqlglot nodes
the builder needs, for a sqlglot dialect name.
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp

from .. import engines

# The dialects the synthesizer writes, in the engines' order.
DIALECTS = tuple(p.sqlglot_dialect for p in engines.ENGINES.values())

# Words that must be quoted as identifiers on at least one engine.
RESERVED = frozenset(
    ["add", "all", "alter", "and", "any", "as", "asc", "between", "by", "case", "cast", "check", "column", "constraint", "create", "cross", "current", "current_date", "current_time", "current_timestamp", "current_user", "database", "default", "delete", "desc", "distinct", "drop", "else", "end", "except", "exists", "false", "fetch", "for", "foreign", "from", "full", "grant", "group", "having", "in", "index", "inner", "insert", "intersect", "into", "is", "join", "key", "left", "like", "limit", "natural", "not", "null", "of", "offset", "on", "or", "order", "outer", "over", "partition", "primary", "references", "right", "row", "rows", "select", "session_user", "set", "some", "table", "then", "to", "top", "true", "union", "unique", "update", "user", "using", "values", "view", "when", "where", "window", "with", "year", "month", "day", "level", "rank", "position", "range", "file", "function", "return", "returns", "status", "comment"]
)  # fmt: skip

# The type numbers stored as text are CAST to before comparing, sorting or aggregating.
NUMERIC = {p.sqlglot_dialect: p.numeric_text_type for p in engines.ENGINES.values()}

# Dialects whose non-ASCII string literals must be national (N'...') to keep their characters.
NATIONAL_STRINGS = frozenset(
    p.sqlglot_dialect for p in engines.ENGINES.values() if p.national_strings
)

# Format strings of the date buckets (literals the question does not need to state).
FORMAT_LITERALS = engines.BUCKET_FORMATS


def identifier(name: str, dialect: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=_quoted(name, dialect))


# The same few hundred names are written tens of thousands of times per run.
@lru_cache(maxsize=8192)
def _quoted(name: str, dialect: str) -> bool:
    return not engines.get(dialect).plain_identifier(name) or name.lower() in RESERVED


def ordered(expression: exp.Expr, desc: bool, dialect: str) -> exp.Ordered:
    # Ordered nodes carry the engine's own default, so sqlglot adds no NULLS FIRST/LAST:
    # where NULL sorts as the largest value, DESC puts NULLs first.
    nulls_large = engines.get(dialect).nulls_are_large
    return exp.Ordered(this=expression, desc=desc, nulls_first=desc == nulls_large)


def month_bucket(column: exp.Expr, dialect: str) -> exp.Expr:
    """``'YYYY-MM'`` text of a date or timestamp column."""
    return engines.get(dialect).month_bucket(column)


def year_of(column: exp.Expr, dialect: str) -> exp.Expr:
    """The year of a date or timestamp column, as an integer."""
    return engines.get(dialect).year_of(column)


def days_between(later: exp.Expr, earlier: exp.Expr, dialect: str) -> exp.Expr | None:
    """The whole days from the date ``earlier`` to ``later`` (NULL when either is NULL);
    None where the engine has no such fact."""
    span = engines.get(dialect).days_between
    return None if span is None else span(later, earlier)
