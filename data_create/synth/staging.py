"""Stage a query's rows in a CTE or a derived table, the outer query doing the rest.

People often write a question's rows first and the figure second: ``WITH filtered AS
(SELECT t.a, p.b, t.amount FROM t JOIN p ON ... WHERE p.kind = 'k') SELECT b, SUM(amount)
AS total FROM filtered GROUP BY b ORDER BY total DESC LIMIT 5``, or the same rows as
``FROM (SELECT ...) AS filtered``.  :func:`stage` turns a flat SELECT of the shapes into
that form: its FROM, JOINs and WHERE move into the CTE, which selects exactly the columns
the outer query reads (under unique names), and the outer query keeps the projection,
GROUP BY, HAVING, ORDER BY and LIMIT.  The answer is the same; the question is the same.

ORDER BY and LIMIT stay outside (SQL Server takes no ORDER BY in a CTE without TOP), and a
derived table always has an alias (MySQL and SQL Server require one).
"""

from __future__ import annotations

from random import Random

from sqlglot import exp

from . import dialects

# How often a query is staged: most often the joined figures people write this way,
# rarely a plain listing (a CTE around "the names of albums by AC/DC" is unusual), and a
# query over one table a quarter as often as a joined one (of people's queries with a
# derived table 86% join; of ours 60% did, when one table was staged as often).  With
# the low shape cap of the synthesizer every variant counts: 0.12 made derived tables 26%
# of samples against people's 12%.
FIGURE_SHARE = 0.08
LISTING_SHARE = 0.04
_ONE_TABLE = 0.25
# A CTE more often than a derived table, as in people's queries.
_CTE_SHARE = 0.7
# Longer output names risk PostgreSQL's 63-character truncation (two names made one).
_MAX_NAME = 60
# The clauses the outer query keeps; FROM, JOIN and WHERE go inside.
_OUTER = ("expressions", "group", "having", "order")


def share(query: exp.Expr) -> float:
    """How often to stage ``query``: :data:`FIGURE_SHARE` for a joined or filtered figure
    (an aggregate or a grouping), :data:`LISTING_SHARE` for a joined or filtered listing
    (a quarter of those over one table), 0 for what :func:`stage` cannot rewrite.

    >>> import sqlglot
    >>> share(sqlglot.parse_one("SELECT SUM(x) FROM t JOIN u ON t.a = u.b WHERE y = 1"))
    0.08
    >>> share(sqlglot.parse_one("SELECT SUM(x) FROM t WHERE y = 1"))
    0.02
    >>> share(sqlglot.parse_one("SELECT x FROM t JOIN u ON t.a = u.b")), share(sqlglot.parse_one("SELECT x FROM t"))
    (0.04, 0.0)
    """
    if not _stageable(query):
        return 0.0
    figure = query.args.get("group") or any(
        isinstance(n, exp.AggFunc) for e in query.expressions for n in e.walk()
    )
    return (FIGURE_SHARE if figure else LISTING_SHARE) * (
        1.0 if query.args.get("joins") else _ONE_TABLE
    )


def stage(query: exp.Expr, dialect: str, rng: Random) -> exp.Select | None:
    """``query`` with its rows staged in a CTE (or, about 3 times in 10, a derived table),
    or None when it is not a flat SELECT with a join or a WHERE.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT t2.name, SUM(t1.amount) AS total FROM orders AS t1 "
    ...     "JOIN customers AS t2 ON t1.cid = t2.id WHERE t1.status = 'paid' GROUP BY t2.name "
    ...     "ORDER BY total DESC LIMIT 5")
    >>> print(stage(q, "sqlite", Random(1)).sql())
    WITH filtered AS (SELECT t2.name, t1.amount FROM orders AS t1 JOIN customers AS t2 ON t1.cid = t2.id WHERE t1.status = 'paid') SELECT name, SUM(amount) AS total FROM filtered GROUP BY name ORDER BY total DESC LIMIT 5
    """
    if not _stageable(query):
        return None
    outer = query.copy()
    aliases = {e.alias.lower() for e in outer.expressions if isinstance(e, exp.Alias)}
    tables = _tables(outer)
    name = "filtered" if outer.args.get("where") else "joined"
    while name in {n.lower() for n in tables.values()}:  # a CTE named like a table hides it
        name += "_rows"
    taken = aliases | {name}
    # (qualifier, column) -> (output name, the column's own name)
    staged: dict[tuple[str, str], tuple[exp.Identifier, exp.Identifier]] = {}
    inner: list[exp.Expr] = []

    def output(col: exp.Column) -> exp.Identifier | None:
        key = (col.table.lower(), col.name.lower())
        if key not in staged:
            if not col.table and len(tables) > 1:
                return None  # an unqualified column over a join: whose is it?
            owner = (
                tables.get(col.table.lower(), col.table)
                if col.table
                else next(iter(tables.values()))
            )
            ident = _unique(col, owner, taken, dialect)
            taken.add(ident.name.lower())
            staged[key] = (ident, col.this.copy())
            qualifier = col.args.get("table")
            source = exp.Column(this=col.this.copy(), table=qualifier.copy() if qualifier else None)
            inner.append(source if ident.name == col.name else exp.alias_(source, ident))
        return staged[key][0]

    for col in _outer_columns(outer, aliases):
        ident = output(col)
        if ident is None:
            return None
        col.replace(exp.Column(this=ident.copy()))
    if not inner:  # COUNT(*) alone reads no column: the rows still need one
        first = next(outer.find_all(exp.Column), None)
        if first is None or output(first) is None:
            return None
    _keep_output_names(outer, staged)
    rows = exp.Select(expressions=inner, **{
        k: outer.args.get(k) for k in ("from_", "joins", "where") if outer.args.get(k)
    })  # fmt: skip
    for k in ("from_", "joins", "where"):
        outer.set(k, None)
    # copy=False: outer is this function's copy, rows new.
    if rng.random() < _CTE_SHARE:
        return outer.from_(name, copy=False).with_(name, as_=rows, copy=False)
    return outer.from_(rows.subquery(name, copy=False), copy=False)


def _stageable(query: exp.Expr) -> bool:
    """A flat SELECT over tables, with a join or a WHERE, that names its columns: no CTE,
    no subquery anywhere, no ``SELECT *`` (a staged star would change what it shows)."""
    if not isinstance(query, exp.Select) or query.args.get("with_"):
        return False
    if not (query.args.get("joins") or query.args.get("where")):
        return False
    source = query.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return False
    if any(not isinstance(j.this, exp.Table) for j in query.args.get("joins") or ()):
        return False
    if any(isinstance(n, exp.Select | exp.Subquery) for n in query.walk() if n is not query):
        return False
    return not any(
        isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
        for e in query.expressions
    )


def _tables(query: exp.Select) -> dict[str, str]:
    """Each table of the FROM and JOINs, by its alias (or name), lower case -> its name."""
    sources = [query.args["from_"].this, *(j.this for j in query.args.get("joins") or ())]
    return {(t.alias or t.name).lower(): t.name for t in sources}


def _outer_columns(query: exp.Select, aliases: set[str]) -> list[exp.Column]:
    """The columns the outer clauses read, less ORDER BY's references to output aliases
    (``ORDER BY total``), which keep working as they are."""
    found = []
    for key in _OUTER:
        value = query.args.get(key)
        for part in value if isinstance(value, list) else [value] if value else []:
            for col in list(part.find_all(exp.Column)):
                if key == "order" and not col.table and col.name.lower() in aliases:
                    continue
                found.append(col)
    return found


def _unique(col: exp.Column, table: str, taken: set[str], dialect: str) -> exp.Identifier:
    """The column's own name, or its table's name before it, or a numbered name: one no
    other staged column or output alias uses (an output alias that is also a column name
    reads differently in GROUP BY and ORDER BY from engine to engine)."""
    if col.name.lower() not in taken:
        return col.this.copy()
    for name in (f"{table}_{col.name}", *(f"{col.name}_{i}" for i in range(2, 100))):
        if name.lower() not in taken and len(name) <= _MAX_NAME:
            return dialects.identifier(name, dialect)
    return dialects.identifier(f"c{len(taken)}", dialect)


def _keep_output_names(query: exp.Select, staged: dict) -> None:
    """A shown column renamed in the CTE (``artist_name``) is shown under its own name again
    (``artist_name AS name``), unless another output or staged column has that name."""
    names = [e.alias_or_name.lower() for e in query.expressions]
    used = {ident.name.lower() for ident, _ in staged.values()}
    renamed = {ident.name: own for ident, own in staged.values() if ident.name != own.name}
    for i, e in enumerate(list(query.expressions)):
        own = renamed.get(e.name) if isinstance(e, exp.Column) else None
        if own is not None and own.name.lower() not in names[:i] + names[i + 1 :] + list(used):
            e.replace(exp.alias_(e.copy(), own.copy()))
