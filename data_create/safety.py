"""The safety layer: is a parsed statement a plain read query, and nothing else?

Generated SQL is untrusted.  :func:`check_safety` is an allow-list at the root (a
``SELECT`` or a set operation of them, with CTEs, possibly parenthesised: anything
else, including a statement type nobody thought of, is refused) and an allow-list for
what the query may call: the functions, table functions and casts of the engine's
profile (:mod:`data_create.engines`), everything else refused by name, including
schema-qualified, quoted and user-defined functions.  Inside the tree it also refuses
data-modifying CTEs, ``SELECT ... INTO``, locking clauses, system catalogues and
information schemas, server variables and optimizer hints.

>>> import sqlglot
>>> from data_create import engines
>>> pg = engines.get("postgresql")
>>> check_safety(sqlglot.parse_one("SELECT 1", read="postgres"), pg) is None
True
>>> check_safety(sqlglot.parse_one("SELECT pg_catalog.pg_sleep(10)", read="postgres"), pg)
'function pg_sleep() is not allowed'
>>> check_safety(sqlglot.parse_one("SELECT ts_stat('DELETE FROM t')", read="postgres"), pg)
'function ts_stat() is not allowed'

:func:`check_tokens` covers what the tree no longer shows: MySQL's executable
comments ``/*! ... */`` (MySQL runs their content; sqlglot keeps them as comments),
``U&"..."`` escapes that sqlglot does not decode, and backslash escapes whose
meaning depends on MySQL's ``NO_BACKSLASH_ESCAPES``.  It is one of several layers:
the executor also runs in a read-only session with a timeout and a row cap.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from .engines import ALL_DANGEROUS_FUNCTIONS, EngineProfile
from .errors import ConfigError

# Besides the engines' lists (engines.ALL_DANGEROUS_FUNCTIONS): table functions that
# read files or reach other servers in any engine sqlglot parses, and a few more
# functions with side effects (locks, statistics resets, replication, waits).  A
# generated query never needs them; like the engines' lists they apply everywhere.
_MORE_FORBIDDEN = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto",
        "read_ndjson", "read_text", "read_blob", "sqlite_scan", "postgres_scan",
        "mysql_scan", "iceberg_scan", "delta_scan", "file", "url", "s3", "hdfs", "remote",
        "lo_get", "pg_logdir_ls",
        "pg_advisory_unlock", "pg_advisory_unlock_all", "pg_advisory_unlock_shared",
        "pg_advisory_xact_lock_shared", "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock_shared", "pg_stat_reset", "pg_stat_reset_shared",
        "pg_stat_reset_single_table_counters", "pg_stat_statements_reset",
        "pg_replication_origin_create", "pg_create_physical_replication_slot",
        "pg_logical_slot_get_changes", "pg_replication_slot_advance",
        "pg_log_backend_memory_contexts", "pg_file_sync", "dblink_disconnect",
        "wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids",
    }
)  # fmt: skip
FORBIDDEN_FUNCTIONS = ALL_DANGEROUS_FUNCTIONS | _MORE_FORBIDDEN

# Statement (or statement-part) node types that never belong inside a read query.
# The root is allow-listed; this catches what can hide below it (``WITH d AS
# (DELETE ... RETURNING *) SELECT ...``).  Names missing from this sqlglot version
# are skipped.
_STATEMENT_TYPES = tuple(
    getattr(exp, name)
    for name in (
        "DML", "DDL", "Insert", "Update", "Delete", "Merge", "Copy", "Create", "Drop", "Alter",
        "AlterSession", "TruncateTable", "Grant", "Revoke", "Transaction", "Commit", "Rollback",
        "Set", "Use", "Pragma", "Attach", "Detach", "Analyze", "Kill", "Execute", "ExecuteSql",
        "Declare", "IfBlock", "WhileBlock", "Block", "StoredProcedure", "Show", "Describe",
        "Comment", "LoadData", "Refresh", "Cache", "Uncache", "Summarize", "Export", "Put",
        "Get", "Undrop", "LockingStatement", "Try", "Return",
    )
    if hasattr(exp, name)
)  # fmt: skip

_READ_ROOTS = (exp.Select, exp.SetOperation)

# T-SQL table hints that only change how rows are read; every other hint (UPDLOCK,
# XLOCK, TABLOCKX, HOLDLOCK, ...) takes locks.
_HARMLESS_TABLE_HINTS = frozenset(
    {"nolock", "readuncommitted", "readcommitted", "noexpand", "index", "forceseek",
     "forcescan", "nowait"}
)  # fmt: skip

_ANONYMOUS_FUNCS = (exp.Anonymous, exp.AnonymousAggFunc)

# Per typed-function class: the lower-cased SQL names it answers to (cached).
_CLASS_NAMES: dict[type, frozenset[str]] = {}


def _class_names(cls: type) -> frozenset[str]:
    try:
        return _CLASS_NAMES[cls]
    except KeyError:
        pass
    names: set[str] = set()
    with contextlib.suppress(Exception):  # a class without a SQL name
        names.update(n.lower() for n in cls.sql_names())
    _CLASS_NAMES[cls] = frozenset(names)
    return _CLASS_NAMES[cls]


def allowed_extra_functions(names: Iterable[str]) -> frozenset[str]:
    """The user's ``--allow-function`` names, lower-cased; a dangerous one is refused.

    >>> sorted(allowed_extra_functions(["My_UDF", "public.rank_score"]))
    ['my_udf', 'public.rank_score']
    >>> allowed_extra_functions(["pg_sleep"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data_create.errors.ConfigError: function pg_sleep cannot be allowed: ...
    """
    out: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name.rsplit(".", 1)[-1] in FORBIDDEN_FUNCTIONS:
            raise ConfigError(
                f"function {name} cannot be allowed: it sleeps, reads files, takes locks, "
                "changes settings or runs SQL",
                "remove it from --allow-function / allow_functions",
            )
        out.add(name)
    return frozenset(out)


_KIND_NAMES = {
    "truncatetable": "TRUNCATE",
    "executesql": "EXECUTE",
    "ifblock": "IF",
    "whileblock": "WHILE",
    "loaddata": "LOAD DATA",
    "altersession": "ALTER SESSION",
}


def statement_kind(expression: exp.Expr | None) -> str:
    """A short upper-case name for a statement node: ``DELETE``, ``VACUUM``, ``UNION``."""
    if expression is None:
        return "nothing"
    if isinstance(expression, exp.Command):
        return str(expression.this).upper()
    if isinstance(expression, (*_STATEMENT_TYPES, exp.Query, exp.Values)):
        return _KIND_NAMES.get(expression.key, expression.key.upper())
    # Not a statement at all (``LISTEN x`` parses as an alias): name its first word.
    words = expression.sql().split()
    return words[0].upper() if words else expression.key.upper()


def unsafe_comment(comments: Sequence[str] | None) -> str | None:
    """A reason if a comment is one MySQL/MariaDB executes (``/*! ... */``, ``/*M! ... */``).

    sqlglot strips the delimiters, so ``/* !x */`` (a plain comment for MySQL) is
    refused too; nobody needs one in a generated query.
    """
    for comment in comments or ():
        text = comment.lstrip()
        if text.startswith("!") or text[:2] in ("M!", "m!"):
            return "executable comment /*!...*/ is not allowed"
    return None


@dataclass(frozen=True)
class _Context:
    system_schemas: frozenset[str]
    system_tables: frozenset[str]
    known_tables: frozenset[str]
    functions: frozenset[str]  # allowed function names (anonymous, or a typed class's)
    nodes: frozenset[str]  # allowed typed sqlglot node keys
    qualified: frozenset[str]  # allowed "schema.function" names


_CONTEXTS: dict[tuple[str, frozenset[str], frozenset[str]], _Context] = {}


def _context(
    profile: EngineProfile, known_tables: frozenset[str], extra: frozenset[str]
) -> _Context:
    key = (profile.name, known_tables, extra)
    context = _CONTEXTS.get(key)
    if context is None:
        if len(_CONTEXTS) > 256:
            _CONTEXTS.clear()
        context = _CONTEXTS[key] = _Context(
            profile.system_schemas,
            profile.system_tables,
            known_tables,
            profile.allowed_functions | {n for n in extra if "." not in n},
            profile.allowed_nodes,
            frozenset(n for n in extra if "." in n),
        )
    return context


def check_safety(
    expression: exp.Expr,
    profile: EngineProfile,
    *,
    known_tables: frozenset[str] = frozenset(),
    allow_functions: frozenset[str] = frozenset(),
) -> str | None:
    """None when ``expression`` is a plain read query, else the reason it is refused.

    ``known_tables`` holds lower-cased names of the user's own tables: an unqualified
    table that is one of them is not taken for a system table of the same name (a
    shop's ``user`` table is not ``mysql.user``).  ``allow_functions``: more function
    names to allow (lower-case, from :func:`allowed_extra_functions`).
    """
    root = _unwrap(expression)
    if not isinstance(root, _READ_ROOTS):
        return f"only a SELECT query is allowed, not {statement_kind(root)}"

    context = _context(profile, known_tables, allow_functions)
    checks = _CHECKS
    for node in expression.walk(bfs=False):
        if node.comments:
            reason = unsafe_comment(node.comments)
            if reason:
                return reason
        cls = type(node)
        try:
            check = checks[cls]
        except KeyError:
            check = checks[cls] = _check_for(cls)
        if check is not None:
            reason = check(node, context)
            if reason:
                return reason
    return None


def _unwrap(node: exp.Expr | None) -> exp.Expr | None:
    while isinstance(node, exp.Subquery):  # (SELECT ...), ((SELECT ...) UNION ...)
        node = node.this
    return node


_Check = Callable[[Any, _Context], "str | None"]


def _refuse(reason: str) -> _Check:
    return lambda _node, _context: reason


def _check_for(cls: type) -> _Check | None:
    """The check for one node class, decided once per class (most classes need none)."""
    if issubclass(cls, exp.NextValueFor):
        return _refuse("NEXT VALUE FOR (advances a sequence) is not allowed")
    if issubclass(cls, _ANONYMOUS_FUNCS):
        return _check_anonymous
    if issubclass(cls, exp.Func):
        return _typed_check(cls)
    if issubclass(cls, exp.Dot):
        return _check_dot
    if issubclass(cls, exp.Operator):
        return lambda node, _c: (
            f"operator {node.args.get('operator')} (OPERATOR(...)) is not allowed"
        )
    if issubclass(cls, exp.ObjectIdentifier):
        return lambda node, _c: (
            f"cast to {node.name.lower()} (reads the system catalogue) is not allowed"
        )
    if issubclass(cls, exp.DataType):
        return _check_data_type
    if issubclass(cls, exp.Table):
        return _check_table
    if issubclass(cls, exp.Command):
        return lambda node, _c: f"unparsed statement {statement_kind(node)} is not allowed"
    if issubclass(cls, exp.Into):
        return _refuse("SELECT ... INTO (a table, file or variable) is not allowed")
    if issubclass(cls, exp.Lock):
        return _refuse(
            "locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE) is not allowed"
        )
    if issubclass(cls, _STATEMENT_TYPES):
        return lambda node, _c: f"{statement_kind(node)} inside the query is not allowed"
    if issubclass(cls, exp.Hint):
        return _refuse("optimizer hints (/*+ ... */) are not allowed")
    if issubclass(cls, exp.Select):
        return _check_select
    if issubclass(cls, exp.SetOperation):
        return _check_set_operation
    if issubclass(cls, exp.CTE):
        return _check_cte
    if issubclass(cls, exp.WithTableHint):
        return _check_table_hint
    if issubclass(cls, exp.SessionParameter):
        return lambda node, _c: f"server variable {node.sql()} is not allowed"
    if issubclass(cls, exp.Parameter):
        return _check_parameter
    if issubclass(cls, exp.PropertyEQ):
        return _check_assignment
    return None


def _typed_check(cls: type) -> _Check | None:
    """A typed sqlglot node is allowed by its node key, or by one of its SQL names."""
    key = cls.key
    names = _class_names(cls)
    shown = min(names) if names else key

    def check(_node: exp.Expr, context: _Context) -> str | None:
        if key in context.nodes or not names.isdisjoint(context.functions):
            return None
        return f"function {shown}() is not allowed"

    return check


def _check_anonymous(node: exp.Expr, context: _Context) -> str | None:
    this = node.this
    if isinstance(this, exp.Identifier) and this.quoted:
        # "f"(x) names a case-sensitive function, maybe not the built-in one; and
        # sqlglot would regenerate it in another case.  Nobody needs the quotes.
        return f"quoted function name {this.sql()} is not allowed"
    name = node.name.lower()
    if name in context.functions and name not in FORBIDDEN_FUNCTIONS:
        return None
    if isinstance(node.parent, exp.Dot) and node.arg_key == "expression":
        return None  # a schema-qualified call: _check_dot decides
    return f"function {name}() is not allowed"


def _check_dot(node: exp.Expr, context: _Context) -> str | None:
    func = node.expression
    if not isinstance(func, exp.Func):
        return None
    qualifier = node.this.sql().strip('"`[]').lower() if node.this is not None else ""
    short = func.name.lower()
    name = f"{qualifier}.{short}"
    if name in context.qualified and short not in FORBIDDEN_FUNCTIONS:
        return None
    if short in FORBIDDEN_FUNCTIONS or short not in context.functions:
        return f"function {short}() is not allowed"
    # pg_catalog.upper() is the built-in, public.upper() may be anybody's.
    return f"schema-qualified function {name}() is not allowed; call {short}() unqualified"


def _check_data_type(node: exp.Expr, _context: _Context) -> str | None:
    # A user-defined type's input function is user code; the built-in types are not.
    if node.this == exp.DataType.Type.USERDEFINED:
        return f"cast to the user-defined type {node.sql()} is not allowed"
    return None


def _check_select(node: exp.Expr, _context: _Context) -> str | None:
    if node.args.get("options"):
        return "query options (OPTION (...)) are not allowed"
    return None


def _check_set_operation(node: exp.Expr, _context: _Context) -> str | None:
    # `items UNION SELECT ...` parses, with a bare column as the left operand.
    for side in (node.this, node.expression):
        operand = _unwrap(side)
        if not isinstance(operand, (*_READ_ROOTS, exp.Values)):
            return f"an operand of {statement_kind(node)} is not a query"
    return None


def _check_cte(node: exp.Expr, _context: _Context) -> str | None:
    body = _unwrap(node.this)
    if isinstance(body, (*_READ_ROOTS, exp.Values, *_STATEMENT_TYPES)):
        return None  # a data-modifying body is reported by its own check, with its kind
    return f"the body of WITH {node.alias} is not a query"


def _check_table_hint(node: exp.Expr, _context: _Context) -> str | None:
    for hint in node.expressions:
        name = (hint.name if isinstance(hint, exp.Func | exp.Var) else hint.sql()).lower()
        if name not in _HARMLESS_TABLE_HINTS:
            return f"table hint {name.upper()} is not allowed"
    return None


def _check_parameter(node: exp.Expr, _context: _Context) -> str | None:
    # T-SQL @@VERSION parses as a parameter of a parameter; @x is a local variable.
    if isinstance(node.this, exp.Parameter):
        return f"server variable {node.sql()} is not allowed"
    return None


def _check_assignment(node: exp.Expr, _context: _Context) -> str | None:
    if isinstance(node.this, exp.Parameter | exp.SessionParameter):
        return "variable assignment (:=) is not allowed"
    return None


def _check_table(table: exp.Expr, context: _Context) -> str | None:
    for part in (table.args.get("db"), table.args.get("catalog")):
        if isinstance(part, exp.Identifier) and part.this.lower() in context.system_schemas:
            return f"system schema {part.this} is not allowed"
    if isinstance(table.this, exp.Identifier):
        name = table.this.this.lower()
        qualified = bool(table.args.get("db") or table.args.get("catalog"))
        if name in context.system_tables and (qualified or name not in context.known_tables):
            return f"system table {table.this.this} is not allowed"
    return None


_CHECKS: dict[type, _Check | None] = {}

# MySQL/MariaDB start a "--" comment only when a space or control character follows
# (U+3000 or U+00A0 is not one; EngineProfile.dash_comment_needs_space); sqlglot takes
# every "--" for a comment, so text after "--\u3000" would run on the server unchecked.
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _dash_comment_mismatch(tokens: Sequence[Token], sql: str) -> str | None:
    """A reason if a ``--`` comment is one MySQL would not read as a comment."""
    gaps: list[str] = []
    end = 0
    for token in tokens:
        gaps.append(sql[end : token.start])
        end = token.end + 1
    gaps.append(sql[end:])
    for gap in gaps:
        if "--" not in gap:
            continue
        for line in _BLOCK_COMMENT.sub(" ", gap).splitlines():
            at = line.find("--")
            if at >= 0 and at + 2 < len(line) and not (line[at + 2] <= " "):
                return (
                    "a '--' comment must be followed by a space for MySQL/MariaDB "
                    f"(found '--' + U+{ord(line[at + 2]):04X}, which the server runs as code)"
                )
    return None


def check_tokens(tokens: Sequence[Token], sql: str, profile: EngineProfile) -> str | None:
    """Lexical checks on the token stream the statement was parsed from.

    These catch where the engine would read the text differently from sqlglot, so the
    tree the other checks saw is not the statement the server would run.
    """
    # A backslash in '...' is an escape or not depending on a server mode (MySQL's
    # NO_BACKSLASH_ESCAPES), so sqlglot and the server may disagree where a string ends.
    backslash_escapes = profile.backslash_escapes
    if profile.dash_comment_needs_space and "--" in sql:
        reason = _dash_comment_mismatch(tokens, sql)
        if reason:
            return reason
    previous: Token | None = None
    for token in tokens:
        if token.comments:
            reason = unsafe_comment(token.comments)
            if reason:
                return reason
        if (
            previous is not None
            and token.token_type == TokenType.AMP
            and previous.text in ("U", "u")
            and previous.end + 1 == token.start
        ):
            return "Unicode escapes (U&'...' / U&\"...\") are not allowed"
        if (
            backslash_escapes
            and token.token_type == TokenType.STRING
            and "\\" in sql[token.start : token.end]
        ):
            return (
                "backslash escapes in string literals are not allowed for MySQL "
                "(their meaning depends on sql_mode NO_BACKSLASH_ESCAPES)"
            )
        previous = token
    return None
