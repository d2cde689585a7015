"""The latest (first, highest) row of each entity: ``the most recent order of each customer``.

People write it with ``ROW_NUMBER()`` in a CTE or a derived table and keep the first row
of each partition::

    WITH ranked AS (SELECT t2.name, t1.order_id, t1.ordered_at,
                           ROW_NUMBER() OVER (PARTITION BY t1.customer_id
                                              ORDER BY t1.ordered_at DESC, t1.order_id) AS rn
                    FROM orders AS t1 JOIN customers AS t2 ON t1.customer_id = t2.customer_id)
    SELECT name, order_id, ordered_at FROM ranked WHERE rn = 1

The entity is a parent row reached through a foreign key (its label shown), or a repeated
link or category of one table.  The rows are ordered by a date or a measure and then by
the table's key, so that ties give one answer on every run, which the question states.
"""

from __future__ import annotations

from random import Random

import sqlglot
from sqlglot import exp

from .builder import Built, Col, Cond, Scope
from .shapes import _Join, _pick, _select, _table

_RANKED = "ranked"
_FILTER = 0.35  # how often the rows are filtered before ranking
_SORTED = 0.4  # how often the outer query sorts the kept rows


def latest_row(scope: Scope, rng: Random) -> Built | None:
    """The latest / earliest row (by a date) or the highest / lowest one (by a measure) of
    each entity, with ``ROW_NUMBER() ... = 1``."""
    # Single-column links only: a parent named by one label is told apart by one key.
    edges = [e for e in scope.edges if len(e.cols) == 1]
    e = _pick(rng, edges) if rng.random() < 0.5 else None
    if e is not None:  # each parent with its child's latest row, by the link
        t, j = e.child, _Join(scope, (e,), e.child)
        entity = j.at(scope.label_col(e.parent))
        parts = [Col(t, t.column(c), "t1") for c in e.cols]
        slots = {"t": t, "t2": e.parent, "g": entity, "g_row": True}
    else:  # one table, partitioned by a link or category its rows repeat
        t, j = _table(scope, rng), None
        entity = _pick(rng, _entities(scope, t)) if t else None
        if entity is None:
            return None
        parts = [entity]
        slots = {"t": t, "g": entity}
    alias = "t1" if j else None
    by = _order_col(scope, rng, t)
    if by is None:
        return None
    by = by.at(alias)
    desc = rng.random() < 0.75
    label = scope.label_col(t).at(alias)
    # The child's label when it is not the link itself (a line of an order is "order 7"
    # by its first key column): shown after the entity, then the date or measure.
    own = [label] if label.column not in (p.column for p in parts) else []
    shown = list({(c.table.qualified_name, c.column.name): c for c in (entity, *own, by)}.values())
    key = scope.key_col(t)
    # Ties on the date or measure go to the lowest key; without a key, to the shown
    # columns (rows tied on everything shown read the same).
    ties = [key.at(alias)] if key is not None else [c for c in shown if c is not by]
    where: list[Cond] = []
    if not _never_null(scope, by):  # a missing date is neither the latest nor the first
        where.append(Cond(by, "not_null"))
    # A category of the ranked rows, not the entity's own (one value per entity says nothing).
    cats = [c for c in _categories(scope, t) if c.column not in (p.column for p in parts)]
    other = _pick(rng, cats) if rng.random() < _FILTER else None
    cond = scope.filter_cond(other, rng) if other is not None else None
    if cond is not None:
        where.append(Cond(cond.col.at(alias), cond.op, cond.values))
    names = _names(shown)
    over = exp.Window(
        this=exp.RowNumber(),
        partition_by=[scope.ref(p) for p in parts],
        order=exp.Order(
            expressions=[scope.ordered(scope.ref(by), desc)]
            + [scope.ordered(scope.ref(c), False) for c in ties]
        ),
    )
    cols = [_named(scope, c, n) for c, n in zip(shown, names, strict=True)]
    inner = (j.select(*cols) if j else _select(scope, t, *cols)).select(over.as_("rn"), copy=False)
    if where:
        inner = inner.where(scope.where(where))
    outer = sqlglot.select(*(exp.column(scope.ident(n)) for n in names)).where(
        exp.EQ(this=exp.column("rn"), expression=exp.Literal.number(1))
    )
    feats = ["window", "projection", "filter"] + (["join"] if j else [])
    slots |= {"cols": shown, "num": by, "order": (by, desc), "where": where}
    if key is not None:
        slots["tie"] = key
    if rng.random() < _SORTED:  # the kept rows, latest (highest) first
        by_name = names[shown.index(by)]
        outer = outer.order_by(scope.ordered(exp.column(scope.ident(by_name)), desc))
        slots["by"] = (by, desc)
        feats.append("order_by")
    if rng.random() < 0.6:
        q = outer.from_(_RANKED).with_(_RANKED, as_=inner)
    else:
        q = outer.from_(inner.subquery(_RANKED))
    tables = tuple(j.tables) if j else (t,)
    return Built(q, "latest_row", "hard", tuple(feats), tables, slots)


def _entities(scope: Scope, t) -> list[Col]:
    """What one table's rows repeat and a person asks "each ..." of: a single-column link
    to another table, or a category or year; never one with missing values (a NULL entity)."""
    links = [
        Col(t, c) for fk in t.foreign_keys if len(fk.columns) == 1
        if (c := t.column(fk.columns[0])) is not None and not scope.role(t, c).unique
    ]  # fmt: skip
    return [c for c in links + _categories(scope, t, "year") if _never_null(scope, c)]


def _categories(scope: Scope, t, *more: str) -> list[Col]:
    """Categories proper: not the names and yes/no flags ``cols(t, "cat")`` also gives
    ("for each still on sale" says nothing)."""
    roles = ("category", *more)
    return [c for c in scope.cols(t, "cat") if scope.role(c.table, c.column).role in roles]


def _order_col(scope: Scope, rng: Random, t) -> Col | None:
    """A date (most often: "the most recent ...") or a measure ("the most expensive ...")."""
    dates, nums = scope.cols(t, "date"), scope.cols(t, "num")
    if dates and (not nums or rng.random() < 0.7):
        return _pick(rng, dates)
    return _pick(rng, nums)


def _never_null(scope: Scope, col: Col) -> bool:
    """NOT NULL, or no NULL among the rows the metadata read, when it read them all."""
    c = col.column
    stats = c.stats
    rows = col.table.row_count
    return not c.nullable or (
        stats is not None and stats.nulls == 0 and rows is not None and stats.rows >= rows
    )


def _names(cols: list[Col]) -> list[str]:
    """Output names: each column's own, its table's name before it when two clash."""
    out: list[str] = []
    for c in cols:
        name = c.column.name
        if name.lower() in (o.lower() for o in out) or name.lower() == "rn":
            name = f"{c.table.name}_{name}"
        out.append(name)
    return out


def _named(scope: Scope, col: Col, name: str) -> exp.Expr:
    ref = scope.ref(col)
    if isinstance(ref, exp.Column) and name == col.column.name:
        return ref
    return exp.alias_(ref, scope.ident(name))
