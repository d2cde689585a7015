"""Tag any SQL with what the synthesizer's candidates carry: tables, difficulty, features.

An LLM's SQL comes without the tags the offline synthesizer attaches to what it builds,
so :func:`tag` reads them off the AST.  Difficulty follows the synthesizer's ladder
(:mod:`data_create.synth.shapes`): single-table lists, counts, DISTINCT and top-N are
easy; GROUP BY, HAVING, BETWEEN, LIKE, IS NULL and two-table joins are medium; three or
more tables, subqueries, CTEs, set operations, CASE, window functions and date buckets are
hard.

>>> t = tag("SELECT city, COUNT(*) FROM stores GROUP BY city", "sqlite")
>>> t.difficulty, t.features, t.tables
('medium', ('aggregate', 'count', 'group_by'), ('stores',))
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from . import engines
from .engines import BUCKET_FORMATS as FORMAT_LITERALS
from .records import SQL_FEATURES, SchemaMetadata

__all__ = ["SqlTags", "literals", "missing_literal", "tag"]

# The synthesizer's ladder: any of these makes a query hard, else any medium one medium.
HARD = frozenset(
    {"multi_join", "subquery_in", "exists", "scalar_subquery", "set_operation", "case", "window",
     "date_bucket"}
)  # fmt: skip
MEDIUM = frozenset(
    {"group_by", "having", "between", "like", "is_null", "aggregate", "join", "arithmetic"}
)


def level(features: set[str] | frozenset[str] | tuple[str, ...]) -> str:
    """The difficulty of a query with these features (the synthesizer's ladder).

    >>> level({"join", "filter"}), level({"filter"}), level({"join", "multi_join"})
    ('medium', 'easy', 'hard')
    """
    found = set(features)
    return "hard" if found & HARD else "medium" if found & MEDIUM else "easy"


# Functions that bucket dates, as sqlglot parses them (typed) or keeps them (anonymous).
_DATE_NODES = (
    exp.TimeToStr,
    exp.Extract,
    exp.Year,
    exp.Month,
    exp.DateTrunc,
    exp.TimestampTrunc,
    exp.DateToDateStr,
)
_DATE_FUNCTIONS = frozenset(
    {"STRFTIME", "TO_CHAR", "DATE_FORMAT", "FORMAT", "YEAR", "MONTH", "DATE_TRUNC", "DATEPART",
     "DATE_PART", "EXTRACT", "TRUNC"}
)  # fmt: skip


@dataclass(frozen=True)
class SqlTags:
    tables: tuple[str, ...]  # metadata's qualified names where known, in textual order
    difficulty: str  # one of records.DIFFICULTIES
    features: tuple[str, ...]  # sorted, from records.SQL_FEATURES
    parsed: bool = True  # False: the SQL did not parse; tags are empty defaults


def tag(sql: str, dialect: str, metadata: SchemaMetadata | None = None) -> SqlTags:
    """Tables, difficulty and features of ``sql``; never raises (unparsable -> easy, no tags)."""
    try:
        tree = sqlglot.parse_one(sql, read=engines.dialect(dialect))
    except (ParseError, TokenError, ValueError, RecursionError):
        return SqlTags((), "easy", (), parsed=False)
    if tree is None:
        return SqlTags((), "easy", (), parsed=False)
    return tag_tree(tree, metadata)


def tag_tree(tree: exp.Expr, metadata: SchemaMetadata | None = None) -> SqlTags:
    """:func:`tag` of a statement already parsed, or built as a tree; ``tree`` is only read.

    >>> tag_tree(sqlglot.parse_one("SELECT COUNT(*) FROM t WHERE x = 1")).features
    ('count', 'filter')
    """
    features = _features(tree)
    # A CTE or a derived table is a subquery by another name: hard, like the synthesizer's.
    hard = bool(features & HARD) or tree.find(exp.With) is not None or _from_subquery(tree)
    difficulty = "hard" if hard else level(features)
    known = tuple(sorted(f for f in features if f in SQL_FEATURES))
    return SqlTags(_tables(tree, metadata), difficulty, known)


def literals(sql: str, dialect: str) -> list[str]:
    """The texts of ``sql``'s literals a question about it must state.

    Strings without their quotes, numbers as written, LIKE patterns without their ``%``;
    date-format strings (``'%Y-%m'``) are left out: no question states them.

    >>> literals("SELECT name FROM t WHERE city = 'Paris' AND name LIKE '%an%' LIMIT 5", "sqlite")
    ['5', 'Paris', 'an']
    """
    try:
        tree = sqlglot.parse_one(sql, read=engines.dialect(dialect))
    except (ParseError, TokenError, ValueError, RecursionError):
        return []
    out: list[str] = []
    for node in tree.find_all(exp.Literal, exp.National, bfs=False):
        text = str(node.this)
        if _structural_number(node):
            continue
        if (isinstance(node, exp.Literal) and node.is_string) or isinstance(node, exp.National):
            if node.arg_key == "format" or text in FORMAT_LITERALS:
                continue
            text = text.strip("%")
        if text and text not in out:
            out.append(text)
    return out


def _structural_number(node: exp.Expr) -> bool:
    """A number that is part of how a figure is computed, not a value a person states:
    the 1 / 0 a conditional count adds up (``SUM(CASE WHEN c THEN 1 ELSE 0 END)``), the
    ``* 1.0`` that keeps a ratio from integer division (``* 100.0``: a percentage), the
    0 of ``NULLIF(total, 0)``, the 1 of ``LIMIT 1`` (the one with the most, or any one
    row: "give one review of May 2021") and the size of a type (``DECIMAL(38, 10)``).

    >>> literals("SELECT SUM(CASE WHEN s = 'x' THEN 1 ELSE 0 END) * 1.0 / COUNT(*) FROM t", "sqlite")
    ['x']
    >>> literals("SELECT a FROM t ORDER BY b DESC LIMIT 1", "sqlite"), literals("SELECT TOP 1 a FROM t ORDER BY b", "tsql")
    ([], [])
    >>> literals("SELECT a FROM t WHERE m = 'May' LIMIT 1", "sqlite"), literals("SELECT a FROM t LIMIT 2", "sqlite")
    (['May'], ['2'])
    >>> literals("SELECT CAST(COUNT(*) AS DECIMAL(38, 10)) / 7 FROM t", "mysql")
    ['7']
    """
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    parent = node.parent
    if isinstance(parent, exp.If) and node.arg_key == "true" and parent.find_ancestor(exp.AggFunc):
        return node.this in ("0", "1", "1.0")  # AVG(CASE WHEN c THEN 1.0 ELSE 0 END)
    if isinstance(parent, exp.Case) and node.arg_key == "default":
        return node.this in ("0", "1") and parent.find_ancestor(exp.AggFunc) is not None
    if isinstance(parent, exp.DataTypeParam):
        return True  # CAST(x AS DECIMAL(38, 10)): the size of a type, not a value
    if isinstance(parent, exp.Nullif) and node.arg_key == "expression":
        return node.this == "0"  # NULLIF(total, 0): no division by zero
    if isinstance(parent, exp.Limit | exp.Fetch) and node.this == "1":
        # LIMIT 1 is "the one with the most" (after ORDER BY) or "any one", said in words.
        return True
    if isinstance(parent, exp.EQ) and node.this == "1" and isinstance(parent.this, exp.Column):
        return _row_number_alias(parent.this)  # rn = 1: "the latest ... of each", in words
    if isinstance(parent, exp.EQ) and node.arg_key == "expression" and _all_of(parent, node.this):
        return True  # HAVING COUNT(DISTINCT c) = 2 over c IN ('a', 'b'): "both", in words
    # * 100.0 makes a ratio a percentage, which the question says in words.
    return isinstance(parent, exp.Mul) and node.this in ("1.0", "100.0")


def _all_of(eq: exp.EQ, n: str) -> bool:
    """Whether ``eq`` is ``HAVING COUNT(DISTINCT ...) = n`` in a SELECT whose WHERE lists
    ``n`` values with IN (at any depth): the groups having all of them ("both ... and ...").

    >>> literals("SELECT a FROM t WHERE c IN ('x', 'y') GROUP BY a HAVING COUNT(DISTINCT c) = 2", "sqlite")
    ['x', 'y']
    """
    count = eq.this
    if not (isinstance(count, exp.Count) and isinstance(count.this, exp.Distinct)):
        return False
    select = eq.find_ancestor(exp.Having, exp.Select)
    select = select.parent if isinstance(select, exp.Having) else None
    where = select.args.get("where") if isinstance(select, exp.Select) else None
    return where is not None and any(
        str(len(i.expressions)) == n for i in where.find_all(exp.In) if i.expressions
    )


def _row_number_alias(column: exp.Column) -> bool:
    """Whether ``column`` names a ``ROW_NUMBER() OVER (...)`` of the statement.

    >>> literals("WITH r AS (SELECT a, ROW_NUMBER() OVER (PARTITION BY a ORDER BY d DESC) AS rn "
    ...          "FROM t WHERE b = 'x') SELECT a FROM r WHERE rn = 1", "sqlite")
    ['x']
    """
    return any(
        isinstance(w.this, exp.RowNumber)
        and isinstance(w.parent, exp.Alias)
        and w.parent.alias.lower() == column.name.lower()
        for w in column.root().find_all(exp.Window)
    )


def missing_literal(question: str, sql: str, dialect: str) -> str | None:
    """The first literal of ``sql`` that ``question`` does not state, or None.

    >>> missing_literal("Stores in Paris", "SELECT * FROM stores WHERE city = 'Lyon'", "sqlite")
    'Lyon'
    """
    for text in literals(sql, dialect):
        if text not in question:
            return text
    return None


def _features(tree: exp.Expr) -> set[str]:
    # One walk sorts the nodes by class; every test below asks that index instead of
    # walking the tree again (two dozen finds per query were a twentieth of a run).
    by_class: dict[type, list[exp.Expr]] = {}
    for node in tree.walk():
        by_class.setdefault(type(node), []).append(node)

    def nodes(*classes: type) -> list[exp.Expr]:
        return [n for cls, found in by_class.items() if issubclass(cls, classes) for n in found]

    def has(*classes: type) -> bool:
        return any(issubclass(cls, classes) for cls in by_class)

    found: set[str] = set()
    if has(exp.Join):
        found.add("join")
        # Two joins in one SELECT (three tables): the synthesizer's multi_join.  Comma
        # joins (FROM a, b) parse as joins too.
        if any(len(s.args.get("joins") or []) >= 2 for s in nodes(exp.Select)):
            found.add("multi_join")
    if has(exp.Where):
        found.add("filter")
    if has(exp.Count):
        found.add("count")
    if has(exp.Distinct) or any(s.args.get("distinct") for s in nodes(exp.Select)):
        found.add("distinct")
    if any(not isinstance(o.parent, exp.Window) for o in nodes(exp.Order)):
        found.add("order_by")
    if has(exp.Limit, exp.Fetch):
        found.add("limit")
    aggs = [a for a in nodes(exp.AggFunc) if not isinstance(a, exp.Count)]
    if any(a.find_ancestor(exp.Window) is None for a in aggs):
        found.add("aggregate")
    if has(exp.Group):
        found.add("group_by")
        if has(exp.AggFunc):
            found.add("aggregate")
    if has(exp.Having):
        found.add("having")
    if has(exp.Between):
        found.add("between")
    if has(exp.Like, exp.ILike):
        found.add("like")
    if any(isinstance(i.expression, exp.Null) for i in nodes(exp.Is)):
        found.add("is_null")
    if any(i.args.get("query") is not None for i in nodes(exp.In)):
        found.add("subquery_in")
    if has(exp.Exists):
        found.add("exists")
    if any(_scalar(s) for s in nodes(exp.Subquery)):
        found.add("scalar_subquery")
    if has(exp.SetOperation):
        found.add("set_operation")
    # Rows that lack something: NOT IN (subquery), NOT EXISTS, EXCEPT.
    if has(exp.Except) or any(
        isinstance(n.this, exp.Exists)
        or (isinstance(n.this, exp.In) and n.this.args.get("query") is not None)
        for n in nodes(exp.Not)
    ):
        found.add("negation")

    # Arithmetic between columns (price * quantity, a - b) or aggregates (a share:
    # SUM(CASE ...) * 1.0 / COUNT(*)), not inside a date function.
    def _operand(node: exp.Expr) -> bool:
        return node.find(exp.Column, exp.AggFunc) is not None

    if any(
        _operand(n.left) and _operand(n.right) for n in nodes(exp.Mul, exp.Sub, exp.Add, exp.Div)
    ):
        found.add("arithmetic")
    if has(exp.Case, exp.If):
        found.add("case")
    if has(exp.Window):
        found.add("window")
    if has(*_DATE_NODES) or any(
        str(a.this).upper() in _DATE_FUNCTIONS for a in nodes(exp.Anonymous)
    ):
        found.add("date_bucket")
    if _projects_columns(tree):
        found.add("projection")
    return found


def _projects_columns(tree: exp.Expr) -> bool:
    """A list of rows rather than one aggregate: the outer SELECT shows a plain column
    and does not group (the synthesizer's ``projection``)."""
    selects = [tree] if isinstance(tree, exp.Select) else list(tree.find_all(exp.Select))[:2]
    for select in selects:
        if not isinstance(select, exp.Select) or select.args.get("group"):
            continue
        for e in select.expressions:
            node = e.unalias() if isinstance(e, exp.Alias) else e
            if isinstance(node, (exp.Column, exp.Case)) or (
                isinstance(node, exp.Star) and not select.find(exp.AggFunc)
            ):
                return True
    return False


def _scalar(sub: exp.Subquery) -> bool:
    """A subquery used as a value (in SELECT or a comparison), not as a table."""
    return not isinstance(sub.parent, (exp.From, exp.Join, exp.In, exp.Exists, exp.With))


def _from_subquery(tree: exp.Expr) -> bool:
    return any(isinstance(s.parent, (exp.From, exp.Join)) for s in tree.find_all(exp.Subquery))


def _tables(tree: exp.Expr, metadata: SchemaMetadata | None) -> tuple[str, ...]:
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    known: dict[tuple[str, str], str] = {}
    by_name: dict[str, str] = {}
    if metadata is not None:
        for t in metadata.tables:
            known[((t.schema or "").lower(), t.name.lower())] = t.qualified_name
            by_name.setdefault(t.name.lower(), t.qualified_name)
    out: list[str] = []
    # In the order the text names them (the tree's order puts a CTE's tables last).
    nodes = sorted(tree.find_all(exp.Table), key=lambda t: t.this.meta.get("start", 0))
    for node in nodes:
        name, schema = node.name, node.db
        if not name or (not schema and name.lower() in ctes):
            continue
        if schema:
            found = known.get((schema.lower(), name.lower()), f"{schema}.{name}")
        else:
            found = by_name.get(name.lower(), name)
        if found not in out:
            out.append(found)
    return tuple(out)
