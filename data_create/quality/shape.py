"""The structural shape of a query: what kind of question it answers, without its words.

Two queries have the same shape key when they answer "the same kind of question": the
key ignores literals, column names, table names, aliases and how many columns are
projected, and keeps the structure a person's question implies -- how many tables it
involves, whether it filters, which kind of aggregate it takes, whether it groups,
keeps groups (HAVING), ranks (ORDER BY, with LIMIT 1 = argmax/argmin, LIMIT N = top-N),
nests (IN / EXISTS / scalar / derived-table subqueries), combines (UNION / INTERSECT /
EXCEPT), negates a subquery (NOT IN / NOT EXISTS), and uses windows, CASE, arithmetic,
``SELECT *``, DISTINCT or ``COUNT(DISTINCT ...)``.

The key is ``t<N>`` (distinct tables, ``t3`` meaning three or more) followed by the
structural tags in a fixed order, joined with ``+`` (``distinct`` is recorded but left
out of the key: after a join it is mostly the writer's habit, not the question).  Tags are collected over the whole
statement (every SELECT, nested ones included), so a HAVING inside an ``IN`` subquery
still shows.  SUM, AVG, MIN, MAX and other aggregate functions share the tag ``agg``
("the total / average / highest price" are one kind of question); COUNT and
COUNT(DISTINCT) keep their own tags because people ask "how many" differently.  The
exact aggregate functions stay in :attr:`Shape.aggregates` for reports.

>>> shape_key("SELECT name FROM artist")
't1'
>>> shape_key("SELECT a.title, b.name FROM album a JOIN artist b ON a.artist_id = b.id")
't2+join'
>>> shape_key("SELECT COUNT(*) FROM album a JOIN artist b ON a.artist_id = b.id "
...           "WHERE b.name = 'Metallica'")
't2+join+filter+count'
>>> shape_key("SELECT b.name FROM album a JOIN artist b ON a.artist_id = b.id "
...           "GROUP BY b.name ORDER BY COUNT(*) DESC LIMIT 1")
't2+join+count+group+argmax'
>>> shape_key("SELECT name, price FROM track ORDER BY price LIMIT 5")
't1+top'
>>> shape_key("SELECT x FROM t WHERE y NOT IN (SELECT y FROM u)")
't2+filter+in_subquery+not_in'
>>> shape_key("SELECT name FROM t EXCEPT SELECT name FROM u")
't2+except'
>>> shape_key("SELECT city, AVG(salary) FROM emp GROUP BY city HAVING COUNT(*) > 3")
't1+count+agg+group+having'
>>> shape_key("SELECT * FROM emp WHERE salary > (SELECT AVG(salary) FROM emp)")
't1+filter+agg+scalar_subquery+star'

Literals, names and the number of projected columns do not change the key:

>>> shape_key("SELECT a, b, c FROM t1 WHERE x = 5") == shape_key("SELECT q FROM t2 WHERE z = 'k'")
True

Dialects parse with their own rules (``TOP`` in SQL Server is a LIMIT):

>>> shape_key("SELECT TOP 1 name FROM t ORDER BY n DESC", "tsql")
't1+argmax'
>>> shape_key("SELECT `name` FROM `t` WHERE `n` > 1 LIMIT 3", "mysql")
't1+filter+limit'
>>> shape_key("SELEC nothing")
'unparsed'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from .. import engines
from ..errors import UnknownScheme

# The order tags appear in a key; also the full vocabulary of tags.
TAGS = (
    "join", "filter", "count", "count_distinct", "agg", "group", "having",
    "order", "argmax", "top", "limit",
    "in_subquery", "exists", "scalar_subquery", "derived",
    "union", "intersect", "except", "not_in", "not_exists",
    "window", "case", "arithmetic", "star", "distinct",
)  # fmt: skip
_TAG_ORDER = {t: i for i, t in enumerate(TAGS)}
MAX_TABLES = 3  # "t3" means three or more tables: a chain of joins
# Tags kept on the Shape but left out of the key: SELECT DISTINCT is mostly a writer's
# habit after a join (people ask "which artists ...", not "which distinct artists ...").
NOT_IN_KEY = frozenset({"distinct"})

UNPARSED = "unparsed"


@dataclass(frozen=True)
class Shape:
    """The structure of one statement.

    ``tables``: distinct tables named anywhere (CTE names excluded); ``tags``: the
    structural tags (see :data:`TAGS`); ``aggregates``: the aggregate functions used,
    lower-case (``count``, ``sum``, ...); ``parsed``: False when sqlglot could not parse it.
    """

    tables: int
    tags: frozenset[str]
    aggregates: frozenset[str] = frozenset()
    parsed: bool = True

    @property
    def key(self) -> str:
        """``t<N>`` plus the tags in :data:`TAGS` order (less :data:`NOT_IN_KEY`), joined
        with ``+``; ``unparsed`` for what is not a query."""
        if not self.parsed:
            return UNPARSED
        head = f"t{min(self.tables, MAX_TABLES)}"
        tags = sorted(self.tags - NOT_IN_KEY, key=_TAG_ORDER.__getitem__)
        return "+".join([head, *tags])


# The only node classes a tag or a table name comes from.  Every other node (names,
# literals, comparisons, clauses: most of a tree) is skipped after one dict lookup by its
# class; running each through the chain of isinstance checks below was half of this
# module's time, and the synthesizer asks for the shape of every query it builds.
_TAGGED = (
    exp.Table, exp.CTE, exp.Select, exp.SetOperation, exp.AggFunc, exp.Window, exp.Case,
    exp.If, exp.In, exp.Exists, exp.Subquery, exp.Add, exp.Sub, exp.Mul, exp.Div,
)  # fmt: skip
_INERT: dict[type, bool] = {}


def _dialect(dialect: str | None) -> str | None:
    if not dialect:
        return None
    try:
        return engines.get(dialect).sqlglot_dialect  # the one name normaliser
    except UnknownScheme:  # another sqlglot dialect: sqlglot reads it or names the ones it knows
        return dialect.lower()


def _has_column(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) or node.find(exp.Column) is not None


def _is_arithmetic(node: exp.Expression) -> bool:
    """+ - * / over at least one column, not date arithmetic with an INTERVAL."""
    if not isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        return False
    if node.find(exp.Interval) is not None:
        return False
    return _has_column(node.this) or _has_column(node.expression)


def _limit_value(limit: exp.Expression) -> int | None:
    value = limit.args.get("expression") or limit.args.get("count") or limit.this
    if isinstance(value, exp.Literal) and not value.is_string:
        try:
            return int(value.this)
        except ValueError:
            return None
    return None


def _select_tags(select: exp.Select) -> set[str]:
    tags: set[str] = set()
    if select.args.get("joins"):
        tags.add("join")
    if select.args.get("where"):
        tags.add("filter")
    if select.args.get("group"):
        tags.add("group")
    if select.args.get("having"):
        tags.add("having")
    if select.args.get("distinct"):
        tags.add("distinct")
    if any(isinstance(e, exp.Star) for e in select.expressions) or any(
        isinstance(e, exp.Column) and isinstance(e.this, exp.Star) for e in select.expressions
    ):
        tags.add("star")
    order = select.args.get("order")
    limit = select.args.get("limit") or select.args.get("fetch")
    if order is not None and limit is not None:
        tags.add("argmax" if _limit_value(limit) == 1 else "top")
    elif order is not None:
        tags.add("order")
    elif limit is not None:
        tags.add("limit")
    return tags


@lru_cache(maxsize=65536)
def shape(sql: str, dialect: str | None = None) -> Shape:
    """The :class:`Shape` of the first statement in ``sql`` (parsed in ``dialect``)."""
    try:
        tree = sqlglot.parse_one(sql, read=engines.dialect(_dialect(dialect)))
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return Shape(0, frozenset(), parsed=False)
    return shape_of(tree)


def shape_of(tree: exp.Expression | None) -> Shape:
    """The :class:`Shape` of an already parsed statement (the tagger parses each
    generated query once and asks for its shape too)."""
    if not isinstance(tree, exp.Query):  # e.g. "SELEC x" parses as a bare command
        return Shape(0, frozenset(), parsed=False)

    ctes: set[str] = set()
    named: set[str] = set()
    tags: set[str] = set()
    aggregates: set[str] = set()
    for node in tree.walk():
        kind = type(node)
        inert = _INERT.get(kind)
        if inert is None:
            inert = _INERT[kind] = not issubclass(kind, _TAGGED)
        if inert:
            continue
        if isinstance(node, exp.Table):
            if node.name:
                named.add(node.name.lower())
        elif isinstance(node, exp.CTE):
            ctes.add(node.alias_or_name.lower())
        elif isinstance(node, exp.Select):
            tags |= _select_tags(node)
        elif isinstance(node, exp.Union):
            tags.add("union")
        elif isinstance(node, exp.Intersect):
            tags.add("intersect")
        elif isinstance(node, exp.Except):
            tags.add("except")
        elif isinstance(node, exp.Count):
            if isinstance(node.this, exp.Distinct):
                tags.add("count_distinct")
                aggregates.add("count_distinct")
            else:
                tags.add("count")
                aggregates.add("count")
        elif isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window):
            tags.add("agg")
            aggregates.add(node.key.lower())
        elif isinstance(node, exp.Window):
            tags.add("window")
            if isinstance(node.this, exp.AggFunc):
                aggregates.add(node.this.key.lower())
        elif isinstance(node, exp.Case | exp.If):
            tags.add("case")
        elif isinstance(node, exp.In) and node.args.get("query") is not None:
            tags.add("in_subquery")
            if isinstance(node.parent, exp.Not):
                tags.add("not_in")
        elif isinstance(node, exp.Exists):
            tags.add("exists")
            if isinstance(node.parent, exp.Not):
                tags.add("not_exists")
        elif isinstance(node, exp.Subquery):
            parent = node.parent
            if isinstance(parent, exp.From | exp.Join):
                tags.add("derived")
            elif not isinstance(parent, exp.In | exp.Exists | exp.SetOperation):
                tags.add("scalar_subquery")
        elif _is_arithmetic(node):
            tags.add("arithmetic")
    if ctes:
        tags.add("derived")
    return Shape(len(named - ctes), frozenset(tags), frozenset(aggregates))


def shape_key(sql: str, dialect: str | None = None) -> str:
    """The shape key of ``sql``; see the module docstring."""
    return shape(sql, dialect).key
