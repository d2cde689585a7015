"""Nested shapes: per-group figures inside a derived table or CTE, and windows over aggregates.

People ask for figures *about* per-group figures: ``the average number of orders per
customer`` (AVG over a per-group COUNT in a derived table), ``customers whose total spend
is above the average customer's`` (a CTE compared with its own average), ``the top 5
merchants by revenue`` (a CTE of per-group figures, ranked outside), ``rank each doctor by
number of treatments`` (``RANK() OVER (ORDER BY COUNT(*) DESC)`` next to GROUP BY),
``each category's share of total sales`` (``SUM(x) * 100.0 / SUM(SUM(x)) OVER ()``),
``the running total of sales by month`` (a date bucket, ``SUM(...) OVER (ORDER BY month)``),
``sales per month and the change from the previous month`` (``total - LAG(total) OVER
(ORDER BY month)``) and ``the share of customers with at least 3 orders`` (``CASE`` over a
derived table of per-customer counts).

Every shape groups the rows of a *fact* table (:func:`_grouped`): by a category of that
table, or through a foreign key by a parent's row or category, or along a two-edge path
(a chain to a grandparent, or one parent grouped and the other filtered); the fact table
is always the child side, so that each of its rows is counted once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from random import Random

import sqlglot
from sqlglot import exp

from .. import engines
from ..records import Table
from . import dialects
from .builder import Built, Col, Cond, Lit, Scope
from .shapes import (
    AGGS,
    _agg,
    _apart,
    _edge,
    _extra_agg,
    _group_of,
    _Join,
    _join_filter,
    _n,
    _other_filter,
    _over,
    _path3,
    _pick,
    _row_count,
    _row_filter,
    _second_agg,
    _select,
    _spelled_over,
    _table,
)

_CTE = "per_group"  # the per-group figures, as a CTE or a derived table
_FILTER = 0.4  # how often the grouped rows are filtered too


@dataclass
class _Grouped:
    """Rows of ``fact`` grouped by ``groups`` (the first is what a question names; a row
    of a table is grouped by its label and key), over ``join`` when there is one."""

    scope: Scope
    fact: Table
    groups: list[Col]
    row: bool
    join: _Join | None
    joined: tuple[str, ...] = ()  # the fact's link columns the join goes through
    where: list[Cond] = field(default_factory=list)
    slots: dict = field(default_factory=dict)

    @property
    def alias(self) -> str | None:
        return "t1" if self.join else None

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(self.join.tables) if self.join else (self.fact,)

    def names(self, figure: str) -> list[str]:
        """Output names of the group columns: their own, unless two clash or one is a name
        the outer query uses for a figure."""
        out: list[str] = []
        for g in self.groups:
            name = g.column.name
            if name in out or name.lower() in (figure, "rnk", "pct", "share", "running_total"):
                name = f"{g.table.name}_{name}"
            out.append(name)
        return out

    def select(self, *cols: exp.Expr) -> exp.Select:
        """``SELECT cols FROM fact [JOIN ...] [WHERE ...] GROUP BY groups``."""
        scope = self.scope
        q = self.join.select(*cols) if self.join else _select(scope, self.fact, *cols)
        if self.where:  # copy=False: q and its parts are new here
            q = q.where(scope.where(self.where), copy=False)
        return q.group_by(*(scope.ref(g) for g in self.groups), copy=False)

    def whole(self, figure: exp.Expr) -> exp.Select:
        """``SELECT figure FROM fact [JOIN ...] [WHERE ...]``: the rows the groups split,
        as one whole (a group's share of it is against exactly these rows)."""
        scope = self.scope
        q = self.join.select(figure) if self.join else _select(scope, self.fact, figure)
        return q.where(scope.where(self.where), copy=False) if self.where else q

    def features(self) -> list[str]:
        feats = ["group_by", "aggregate"]
        if self.join:
            feats += ["join"] + (["multi_join"] if len(self.join.edges) == 2 else [])
        return feats + (["filter"] if self.where else [])


def _grouped(scope: Scope, rng: Random) -> _Grouped | None:
    """One table grouped by a category; a child grouped by its parent's row or category;
    or a two-edge path: a chain grouped by its far end, or a child of two parents grouped
    by one and filtered by the other (so that the second join is a condition it states)."""
    kind = rng.choices(("one", "join", "path"), (0.35, 0.45, 0.2))[0]
    path = _path3(scope, rng) if kind == "path" else None
    if path is not None:
        return _grouped_path(scope, rng, path)
    e = _edge(scope, rng) if kind != "one" else None
    if e is not None:
        j = _Join(scope, (e,), e.child)
        groups, row = _group_of(scope, rng, j, e.parent)
        where = (
            _join_filter(scope, rng, j, (e.child, e.parent), groups[0])
            if rng.random() < _FILTER
            else []
        )
        slots = {"t": e.child, "t2": e.parent, "g": groups[0], "g_row": row}
        return _Grouped(scope, e.child, groups, row, j, e.cols, where, slots)
    t = _table(scope, rng)
    g = _pick(rng, scope.cols(t, "cat")) if t else None
    if g is None:
        return None
    other = _other_filter(scope, rng, t, g) if rng.random() < _FILTER else None
    where = [other] if other else []
    return _Grouped(scope, t, [g], False, None, (), where, {"t": t, "g": g})


def _grouped_path(scope: Scope, rng: Random, path) -> _Grouped | None:
    children = Counter(e.child.qualified_name for e in path)
    parents = Counter(e.parent.qualified_name for e in path)
    tables = {t.qualified_name: t for e in path for t in (e.child, e.parent)}
    fact = tables[max(tables, key=lambda n: (children[n], -parents[n]))]
    if parents[fact.qualified_name]:  # the fact table must be a child only
        return None
    j = _Join(scope, path, fact)
    joined = tuple(c for e in path if e.child is fact for c in e.cols)
    if children[fact.qualified_name] == 1:  # a chain: grouped by its far end
        groups, row = _group_of(scope, rng, j, j.tables[2])
        where = (
            _join_filter(scope, rng, j, tuple(j.tables), groups[0])
            if rng.random() < _FILTER
            else []
        )
    else:  # two parents: grouped by one, filtered by the other
        groups, row = _group_of(scope, rng, j, j.tables[1])
        cond = _row_filter(scope, rng, j.tables[2])
        if cond is None:
            return None
        where = [Cond(j.at(cond.col), cond.op, cond.values)]
    slots = {"t": fact, "t2": j.tables[1], "t3": j.tables[2], "g": groups[0], "g_row": row}
    return _Grouped(scope, fact, groups, row, j, joined, where, slots)


def _additive(scope: Scope, rng: Random, gr: _Grouped):
    """(expression, slot) of a figure that adds up across groups: a count of rows or the
    total of an additive measure (shares and running totals of averages mean nothing)."""
    num = _pick(rng, scope.cols(gr.fact, "sum"))
    if num is None or rng.random() < 0.45:
        return exp.Count(this=exp.Star()), ("count", None, gr.fact)
    num = num.at(gr.alias)
    return exp.Sum(this=scope.ref(num)), ("sum", num, gr.fact)


def _figure(scope: Scope, rng: Random, gr: _Grouped, kinds=("count_distinct", "product")):
    """A figure of each group; the groups' WHERE loses a condition that would fix what the
    figure counts (:func:`~.shapes._apart`: the distinct cities of customers in one city)."""
    made = _agg(
        scope, rng, gr.fact, gr.alias, extra=True, exclude=gr.groups[0], kinds=kinds,
        joined=gr.joined,
    )  # fmt: skip
    gr.where = _apart({"agg": made[1]}, gr.where)
    return made


def _avg(scope: Scope, node: exp.Expr) -> exp.Expr:
    """AVG of ``node``: CAST first where AVG of integers is an integer (SQL Server), or the
    average number of orders per customer would lose its fraction."""
    profile = engines.get(scope.dialect)
    if profile.avg_of_integers_truncates:
        node = exp.Cast(this=node, to=exp.DataType.build(profile.numeric_text_type))
    return exp.Avg(this=node)


def _col(scope: Scope, name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=scope.ident(name), table=exp.to_identifier(table) if table else None)


def _per_group(gr: _Grouped, figure: exp.Expr, name: str) -> exp.Select:
    """``SELECT g AS g, figure AS name FROM ... GROUP BY g``, to nest."""
    scope = gr.scope
    cols = [
        exp.Alias(this=scope.ref(g), alias=scope.ident(n))
        for g, n in zip(gr.groups, gr.names(name), strict=True)
    ]
    return gr.select(*cols, exp.Alias(this=figure, alias=scope.ident(name)))


def _nest(outer: exp.Select, inner: exp.Select, cte: bool) -> exp.Select:
    """``outer`` reads ``per_group``: a CTE (``WITH per_group AS (...)``) or a derived table
    (``FROM (...) AS per_group``); both are written, as people write both."""
    # copy=False: both are new, made for this one query by the callers.
    if cte:
        return outer.from_(_CTE, copy=False).with_(_CTE, as_=inner, copy=False)
    return outer.from_(inner.subquery(_CTE, copy=False), copy=False)


def _fig_name(gr: _Grouped) -> str:
    taken = {g.column.name.lower() for g in gr.groups}
    return "total" if "total" not in taken else "group_total"


def _built(shape: str, q: exp.Expr, gr: _Grouped, feats: list[str], **slots) -> Built:
    s = {**gr.slots, "where": gr.where, **slots}
    return Built(q, shape, "hard", tuple(dict.fromkeys(feats)), gr.tables, s)


# ---------------------------------------------------------------- derived tables, CTEs


def nested_avg(scope: Scope, rng: Random) -> Built | None:
    """A figure over the per-group figures: ``the average number of orders per customer``
    (``SELECT AVG(total) FROM (SELECT customer, COUNT(*) AS total ... GROUP BY customer)``),
    or the highest / lowest of them."""
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    # Counts and totals per group; a highest of lowests says nothing.
    made = _extra_agg(scope, rng, gr.fact, gr.alias, gr.groups[0], ("count_distinct",), gr.joined)
    fig, aslot = made if made and rng.random() < 0.25 else _additive(scope, rng, gr)
    gr.where = _apart({"agg": aslot}, gr.where)
    name = _fig_name(gr)
    outer_fn = rng.choice(("avg", "avg", "avg", "max", "min"))
    total = _col(scope, name)
    top = _avg(scope, total) if outer_fn == "avg" else AGGS[outer_fn](this=total)
    q = _nest(sqlglot.select(top), _per_group(gr, fig, name), rng.random() < 0.5)
    feats = gr.features() + (["count"] if aslot[0] == "count" else [])
    return _built("nested_avg", q, gr, feats, agg=aslot, outer=outer_fn)


def nested_count(scope: Scope, rng: Random) -> Built | None:
    """How many groups have at least k rows: ``how many customers have at least 3 orders``
    (``SELECT COUNT(*) FROM (SELECT ... GROUP BY customer HAVING COUNT(*) >= 3)``)."""
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    rows = gr.fact.row_count or 100
    if gr.row:
        groups = gr.groups[0].table.row_count or 10
    else:
        groups = len(scope.values(gr.groups[0].table, gr.groups[0].column)) or 10
    per = rows / max(groups, 1)
    k = rng.choice([x for x in (2, 3, 5, 10, 20, 50, 100) if x <= max(2, per * 1.5)])
    kl = Lit(exp.Literal.number(k), str(k), False)
    name = _fig_name(gr)
    inner = _per_group(gr, exp.Count(this=exp.Star()), name).having(
        exp.GTE(this=exp.Count(this=exp.Star()), expression=kl.node)
    )
    q = _nest(sqlglot.select(exp.Count(this=exp.Star())), inner, rng.random() < 0.5)
    feats = [*gr.features(), "having", "count"]
    return _built("nested_count", q, gr, feats, k=kl, agg=("count", None, gr.fact))


def nested_above(scope: Scope, rng: Random) -> Built | None:
    """Groups whose figure is above (below) the average group's: ``customers whose total
    spend is above the average customer's`` -- a CTE of per-group figures compared with
    ``(SELECT AVG(total) FROM per_group)``."""
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    fig, aslot = _additive(scope, rng, gr)
    name = _fig_name(gr)
    above = rng.random() < 0.75
    label = _col(scope, gr.names(name)[0])
    average = sqlglot.select(_avg(scope, _col(scope, name))).from_(_CTE)
    cmp = exp.GT if above else exp.LT
    outer = sqlglot.select(label, _col(scope, name)).where(
        cmp(this=_col(scope, name), expression=average.subquery())
    )
    slots = {"agg": aslot, "above": above}
    if rng.random() < 0.5:  # the most extreme first
        outer = outer.order_by(scope.ordered(_col(scope, name), above))
        slots["order"] = (None, above)
    q = _nest(outer, _per_group(gr, fig, name), cte=True)
    feats = (
        gr.features() + ["scalar_subquery", "filter"] + (["count"] if aslot[0] == "count" else [])
    )
    return _built("nested_above", q, gr, feats, **slots)


# How often cte_top, grouping by a parent's row, figures the groups from the child table
# alone (by its link column) and joins the parent back outside for its label.
_JOIN_BACK = 0.35


def cte_top(scope: Scope, rng: Random) -> Built | None:
    """Per-group figures in a CTE (or derived table), ranked in the outer query: ``the top 5
    merchants by revenue from paid orders``, the one with the most, or every group sorted.

    Grouped by a parent's row, the figures are also written per link column of the child,
    the parent joined back in the outer query for its name (:func:`_join_back`)."""
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    fig, aslot = _figure(scope, rng, gr)
    back = gr.row and gr.join is not None and rng.random() < _JOIN_BACK
    made = _join_back(gr, fig) if back else None
    if made is not None:
        inner, outer, name, label = made
        total = _col(scope, name, _CTE)
    else:
        name = _fig_name(gr)
        inner, outer = _per_group(gr, fig, name), sqlglot.select()
        label, total = _col(scope, gr.names(name)[0]), _col(scope, name)
    desc = rng.random() < 0.75
    kind = rng.choice(("top", "top", "one", "sorted"))
    shown = [label] if kind == "one" else [label, total]
    outer = outer.select(*shown, copy=False).order_by(scope.ordered(total.copy(), desc), copy=False)
    slots = {"agg": aslot, "order": (None, desc), "join_back": made is not None}
    feats = gr.features() + ["order_by"] + (["count"] if aslot[0] == "count" else [])
    if kind != "sorted":
        slots["n"] = _n(rng) if kind == "top" else Lit(exp.Literal.number(1), "1", False)
        outer = outer.limit(slots["n"].node.copy(), copy=False)
        feats.append("limit")
    cte = rng.random() < 0.7
    if made is not None:  # the parent joined after FROM per_group: built here, not by _nest
        q = outer.with_(_CTE, as_=inner) if cte else outer
        q.set("from_", exp.From(this=exp.to_table(_CTE) if cte else inner.subquery(_CTE)))
    else:
        q = _nest(outer, inner, cte)
    shape = {"top": "cte_top", "one": "cte_argmax", "sorted": "cte_sorted"}[kind]
    return _built(shape, q, gr, feats, **slots)


def _join_back(gr: _Grouped, fig: exp.Expr):
    """``gr``'s figures per value of the link to the grouped parent, from the rows that
    hold the link, and the outer query joining the parent on it:
    ``WITH per_group AS (SELECT t1.customer_id, COUNT(*) AS total FROM orders AS t1 GROUP
    BY t1.customer_id) SELECT t2.name, per_group.total FROM per_group JOIN customers AS t2
    ON t2.id = per_group.customer_id`` -- over a chain the CTE keeps the join to the middle
    table that holds the link.  Each link value is one parent row (it references a unique
    key) and a NULL link joins none, so the groups and figures are those of grouping by the
    parent's row.  Conditions on the parent move to the outer query: they keep or drop a
    whole group.  Returns ``(inner, outer without its columns, figure name, label)``, or
    None when a condition could not stay with its table or each link value has one row."""
    scope, j = gr.scope, gr.join
    parent = gr.groups[0].table.qualified_name
    at = j.alias[parent]
    edge = next((e for e in j.edges if e.parent.qualified_name == parent), None)
    if edge is None or any(c.col.alias is None for c in gr.where):
        return None
    child = j.alias[edge.child.qualified_name]
    links = [Col(edge.child, c, child) for c in map(edge.child.column, edge.cols)]
    if child == "t1" and any(scope.role(c.table, c.column).unique for c in links):
        return None  # one fact row per link value (a one-to-one child): groups of one row
    taken = {c.column.name.lower() for c in links}
    name = "total" if "total" not in taken else "group_total"
    cols = [exp.Alias(this=scope.ref(c), alias=scope.ident(c.column.name)) for c in links]
    q = _select(scope, j.tables[0], *cols, fig.as_(name), alias="t1")
    for e, new in j.order:  # the same aliases as the grouped join, less the parent's
        if e is not edge:
            on = scope.join_on(e, j.alias[e.child.qualified_name], j.alias[e.parent.qualified_name])
            q = q.join(scope.table_ref(new, j.alias[new.qualified_name]), on=on)
    inner = [c for c in gr.where if c.col.alias != at]
    outside = [c for c in gr.where if c.col.alias == at]
    if inner:
        q = q.where(scope.where(inner))
    q = q.group_by(*(scope.ref(c) for c in links))
    on = exp.and_(*(
        exp.EQ(this=_col(scope, r, at), expression=_col(scope, c, _CTE))
        for c, r in zip(edge.cols, edge.ref_cols, strict=True)
    ))  # fmt: skip
    outer = sqlglot.select().join(scope.table_ref(edge.parent, at), on=on)
    if outside:
        outer = outer.where(scope.where(outside))
    return q, outer, name, scope.ref(gr.groups[0])


# How often the entities compared are the values of a fact's own link column (``writes``
# grouped by ``authorid``): a question that only counts entities needs no label of theirs.
_BY_LINK = 0.5
# Thresholds of rows an entity has, the round numbers people say; k is picked near the
# typical number.
_LADDER = (
    1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200, 250, 300,
    400, 500, 750, 1000, 1500, 2000, 3000, 5000,
)  # fmt: skip


def _linked(scope: Scope, rng: Random) -> _Grouped | None:
    """A child's rows grouped by its single-column link to a parent (never NULL in the
    sampled rows: a NULL group is no parent); the question names the parent's rows."""
    e = _edge(scope, rng)
    if e is None or len(e.cols) != 1:
        return None
    link, ref = e.child.column(e.cols[0]), e.parent.column(e.ref_cols[0])
    if link is None or ref is None or link.stats is None or link.stats.nulls:
        return None
    other = _other_filter(scope, rng, e.child) if rng.random() < _FILTER else None
    slots = {"t": e.child, "g": Col(e.parent, ref), "g_row": True}
    return _Grouped(scope, e.child, [Col(e.child, link)], True, None, e.cols,
                    [other] if other else [], slots)  # fmt: skip


def _distinct(scope: Scope, col: Col) -> int | None:
    """About how many different values ``col`` has in its whole table: the distinct count
    of the sampled rows, scaled up to the table's rows unless the sample saw the values
    repeat a lot already (then it has seen about all of them)."""
    stats, rows = col.column.stats, col.table.row_count
    if stats is None or not stats.distinct:
        return len(scope.values(col.table, col.column)) or None
    n = float(stats.distinct)
    if rows and stats.rows and rows > stats.rows and stats.distinct_ratio > 0.2:
        n *= rows / stats.rows
    return max(1, round(n))


def _entity_rows(scope: Scope, gr: _Grouped) -> tuple[float, int] | None:
    """About how many rows each entity counted by :func:`bucket_share` has, and how many
    entities there are: rows of a table (the parents a link column points at, or the far
    end of a chain), each with about the fact's rows over their number -- a sample of
    the link column's values undercounts them when the rows come sorted by it -- or the
    values of a category."""
    g, rows = gr.groups[-1], gr.fact.row_count
    if not rows:
        return None
    n = _distinct(scope, g)
    if gr.row:
        # The fact's link column to them, when the sample read all its rows: exact.
        one = gr.join is None or len(gr.join.edges) == 1
        link = gr.fact.column(gr.joined[0]) if one and gr.joined else None
        stats = link.stats if link is not None else None
        if stats is not None and stats.rows >= rows:
            n = stats.distinct
        else:
            n = gr.slots["g"].table.row_count or n
    if not n:
        return None
    kept = 1.0  # the share of rows the conditions keep: one value of so many, or about half
    for c in gr.where:
        values = _distinct(scope, Col(c.col.table, c.col.column)) or 2
        kept *= {"eq": 1 / values, "in": 2 / values}.get(c.op, 0.5)
    return rows * kept / n, n


def _threshold(rng: Random, per: float, lowest: int, near: float) -> Lit:
    """k at most the mean number of rows per entity, so that some entity has k rows or
    more (at least the mean), and at least ``near`` times it, so that some have fewer:
    an answer neither 0 nor undefined (entities may all have about the mean)."""
    fits = [k for k in _LADDER if lowest <= k and per * near <= k <= per]
    if not fits:  # the ladder value nearest below the typical number
        fits = [max([k for k in _LADDER if lowest <= k <= max(per, lowest)] or [lowest])]
    k = rng.choice(fits)
    return Lit(exp.Literal.number(k), str(k), False)


def bucket_share(scope: Scope, rng: Random) -> Built | None:
    """Entities compared by how many rows each has, over a CTE (or derived table) of their
    counts: ``the share of customers with at least 3 orders``
    (``COUNT(CASE WHEN total >= 3 THEN 1 END) * 1.0 / COUNT(*)``), or ``the ratio of authors
    with more than 2 papers to those with at most 2``
    (``... / NULLIF(COUNT(CASE WHEN total <= 2 THEN 1 END), 0)``); counted with
    ``COUNT(DISTINCT CASE WHEN ... THEN <entity> END)`` too, as people write it."""
    gr = _linked(scope, rng) if rng.random() < _BY_LINK else None
    gr = gr or _grouped(scope, rng)
    if gr is None:
        return None
    stats = gr.groups[-1].column.stats  # the key of a row, or the category
    if stats is not None and stats.nulls:  # a NULL group is no entity
        return None
    made = _entity_rows(scope, gr)
    if made is None:
        return None
    per, groups = made
    if groups < 4 or per < 1.2:  # too few entities, or nearly all with one row
        return None
    ratio = rng.random() < 0.45
    # "more than k" against "at most k" needs entities on both sides: k just under the
    # mean; "at least k" only some at or above it.
    kl = _threshold(rng, per, 1, 0.8) if ratio else _threshold(rng, per, 2, 0.5)
    k = int(kl.text)
    name = _fig_name(gr)
    total, entity = _col(scope, name), _col(scope, gr.names(name)[-1])
    spelling = rng.choices(("count", "distinct", "sum"), (0.5, 0.35, 0.15))[0]

    def meeting(cmp: type[exp.Expr]) -> exp.Expr:
        test = cmp(this=total.copy(), expression=kl.node.copy())
        if spelling == "sum":
            return exp.Sum(this=exp.Case(ifs=[exp.If(this=test, true=exp.Literal.number(1))],
                                         default=exp.Literal.number(0)))  # fmt: skip
        then = entity.copy() if spelling == "distinct" else exp.Literal.number(1)
        case = exp.Case(ifs=[exp.If(this=test, true=then)])
        return exp.Count(this=exp.Distinct(expressions=[case]) if spelling == "distinct" else case)

    slots: dict = {"k": kl, "agg": ("count", None, gr.fact)}
    if ratio:
        # "at most k" or "exactly k" below the line (one and the same for k = 1: every
        # entity here has a row).
        exact = k <= 3 and rng.random() < 0.4
        slots["low"] = "eq" if exact or k == 1 else "le"
        fig = _over(meeting(exp.GT), meeting(exp.EQ if exact else exp.LTE))
    else:
        slots["pct"] = rng.random() < 0.3
        whole = (
            exp.Count(this=exp.Distinct(expressions=[entity.copy()]))
            if spelling == "distinct"
            else exp.Count(this=exp.Star())
        )
        fig = _over(meeting(exp.GTE), whole, "100.0" if slots["pct"] else "1.0")
    inner = _per_group(gr, exp.Count(this=exp.Star()), name)
    q = _nest(sqlglot.select(fig.as_("ratio" if ratio else "share")), inner, rng.random() < 0.5)
    feats = [*gr.features(), "count", "case", "arithmetic"]
    return _built("bucket_ratio" if ratio else "bucket_share", q, gr, feats, **slots)


# ---------------------------------------------------------------- windows over aggregates


# How often rank_groups' GROUP BY spelling shows a second figure of the groups, and how
# often its CTE spelling ranks a parent's rows within each of its categories.
_SECOND_FIGURE = 0.45
_WITHIN = 0.6


def _within(scope: Scope, rng: Random, gr: _Grouped) -> Col | None:
    """A category of the grouped parent rows to rank them within (``each doctor within
    their specialty``): one no condition pins, with a few values that each hold several
    of the rows (one row per value ranks every row first)."""
    if not gr.row or gr.join is None:
        return None
    g = gr.groups[0]
    pinned = {
        c.col.column.name for c in gr.where
        if c.col.table.qualified_name == g.table.qualified_name
    }  # fmt: skip
    rows = g.table.row_count or 0
    cats = [
        c for c in scope.cols(g.table, "cat")
        if c.column.name not in pinned and 2 <= (_distinct(scope, c) or 0) <= rows / 2
    ]  # fmt: skip
    cat = _pick(rng, cats)
    return gr.join.at(cat) if cat is not None else None


def rank_groups(scope: Scope, rng: Random) -> Built | None:
    """Every group with its figure and its rank by it: ``rank each doctor by number of
    treatments`` (``RANK() OVER (ORDER BY COUNT(*) DESC)`` next to ``GROUP BY``); over a
    CTE of the figures, a parent's rows also ranked within each of its categories: ``rank
    each doctor within their specialty`` (``RANK() OVER (PARTITION BY specialty ORDER BY
    total DESC)``, the category grouped by with the row it belongs to)."""
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    fig, aslot = _figure(scope, rng, gr)
    desc = rng.random() < 0.8
    dense = rng.random() < 0.35
    over = exp.Window(
        this=exp.DenseRank() if dense else exp.Rank(),
        order=exp.Order(expressions=[scope.ordered(fig.copy(), desc)]),
    )
    name = _fig_name(gr)
    slots = {"agg": aslot, "order": (None, desc), "dense": dense, "rank": not dense}
    feats = gr.features() + ["window"] + (["count"] if aslot[0] == "count" else [])
    by_rank: list[exp.Expr] = [exp.column("rnk")]
    if rng.random() < 0.3:  # the figures in a CTE, ranked outside
        part = _within(scope, rng, gr) if rng.random() < _WITHIN else None
        if part is not None:
            gr.groups.append(part)  # one category per row: the same groups
            slots["part"] = part
        over.set("order", exp.Order(expressions=[scope.ordered(_col(scope, name), desc)]))
        names = gr.names(name)
        shown = [_col(scope, names[0])]
        if part is not None:
            shown.append(_col(scope, names[-1]))
            over.set("partition_by", [_col(scope, names[-1])])
            by_rank.insert(0, _col(scope, names[-1]))  # each category's rows together
        q = _nest(
            sqlglot.select(*shown, _col(scope, name), over.as_("rnk")),
            _per_group(gr, fig, name),
            cte=True,
        )
    else:
        q = gr.select(scope.ref(gr.groups[0]), fig.as_(name), over.as_("rnk"))
        if rng.random() < _SECOND_FIGURE and (
            second := _second_agg(
                scope,
                rng,
                gr.fact,
                aslot,
                gr.alias,
                exclude=gr.groups[0],
                taken=tuple(gr.where),
                joined=gr.joined,
            )
        ):
            q.select(second[0].as_("other_value"), copy=False)  # "... and their total amount"
            slots["agg2"] = second[1]
    if rng.random() < 0.6:
        q = q.order_by(*(scope.ordered(c, False) for c in by_rank), copy=False)
        feats.append("order_by")
        slots["by_rank"] = True
    return _built("rank_groups", q, gr, feats, **slots)


def share_of_total(scope: Scope, rng: Random) -> Built | None:
    """Each group's percentage of the whole: ``each category's share of total sales``
    (``SUM(x) * 100.0 / SUM(SUM(x)) OVER ()``; ``* 100.0`` keeps integer division out).

    The whole is also written as a scalar subquery over the same rows, as many people
    write it: ``COUNT(*) * 100.0 / (SELECT COUNT(*) FROM t [JOIN ...] [WHERE ...])`` --
    the grouped rows' joins and conditions repeated, so that it counts exactly what the
    groups count -- and then sometimes as a fraction (``* 1.0``) rather than a percentage;
    over a CTE of the figures it is ``(SELECT SUM(total) FROM per_group)``.
    """
    gr = _grouped(scope, rng)
    if gr is None:
        return None
    fig, aslot = _additive(scope, rng, gr)
    name = _fig_name(gr)
    show = rng.random() < 0.4
    spelling = rng.choices(("window", "cte", "subquery"), (0.4, 0.3, 0.3))[0]
    sub = spelling == "subquery" or (spelling == "cte" and rng.random() < 0.4)
    fraction = spelling == "subquery" and rng.random() < 0.4
    scale = "1.0" if fraction else "100.0"
    out = "share" if fraction else "pct"
    # A total can be 0 (a count of rows meeting the groups' conditions never is).
    guard = aslot[0] != "count" or rng.random() < 0.5
    if spelling == "cte":  # the figures in a CTE, each against their sum
        total = _col(scope, name)
        whole: exp.Expr = (
            sqlglot.select(exp.Sum(this=total.copy())).from_(_CTE).subquery()
            if sub
            else exp.Window(this=exp.Sum(this=total.copy()))
        )
        pct = _over(total, whole, scale, guard or not sub)
        cols = [_col(scope, gr.names(name)[0])] + ([total.copy()] if show else [])
        q = _nest(sqlglot.select(*cols, pct.as_(out)), _per_group(gr, fig, name), cte=True)
    else:
        if sub:  # the same rows, ungrouped: (SELECT COUNT(*) FROM ... WHERE ...)
            whole = gr.whole(fig.copy()).subquery()
            top = _row_count(scope, rng, gr.fact, gr.alias) if aslot[0] == "count" else fig
            pct = _spelled_over(scope, rng, top.copy(), whole, scale, guard)
        else:
            pct = _over(fig.copy(), exp.Window(this=exp.Sum(this=fig.copy())), scale)
        cols = [scope.ref(gr.groups[0])] + ([fig.as_(name)] if show else [])
        q = gr.select(*cols, pct.as_(out))
    feats = gr.features() + ["arithmetic"] + (["count"] if aslot[0] == "count" else [])
    feats += ["scalar_subquery"] if sub else ["window"]
    slots = {"agg": aslot, "show": show, "fraction": fraction}
    if rng.random() < 0.5:
        q = q.order_by(scope.ordered(exp.column(out), True), copy=False)
        slots["order"] = (None, True)
        feats.append("order_by")
    return _built("share_of_total", q, gr, feats, **slots)


def _period(scope: Scope, rng: Random, d: Col, monthly: bool):
    """``(bucket, output name, conditions)`` of a date bucketed by month of one of its real
    years (the year is the condition) or by year; None when ``d`` has no year to pick."""
    if not monthly:
        return dialects.year_of(scope.ref(d), scope.dialect), "year_no", []
    year = scope.year_cond(d, rng)
    if year is None:
        return None
    return dialects.month_bucket(scope.ref(d), scope.dialect), "month_label", [year]


def running_total(scope: Scope, rng: Random) -> Built | None:
    """A figure per month of a year (or per year) and its running total:
    ``SUM(total) OVER (ORDER BY month_label)`` over a CTE of the buckets, or
    ``SUM(COUNT(*)) OVER (ORDER BY <bucket>)`` next to the GROUP BY."""
    t = _table(scope, rng)
    d = _pick(rng, scope.cols(t, "date")) if t else None
    if d is None:
        return None
    monthly = rng.random() < 0.6
    made = _period(scope, rng, d, monthly)
    if made is None:
        return None
    bucket, name, where = made
    if rng.random() < 0.3 and (other := _other_filter(scope, rng, t, d)):
        where.append(other)
    gr = _Grouped(scope, t, [], False, None, (), where, {"t": t})
    fig, aslot = _additive(scope, rng, gr)
    feats = ["date_bucket", "group_by", "aggregate", "window", "order_by"]
    feats += (["filter"] if where else []) + (["count"] if aslot[0] == "count" else [])
    base = _select(scope, t, bucket.as_(name), fig.as_("total"))
    base = (base.where(scope.where(where)) if where else base).group_by(bucket.copy())
    if rng.random() < 0.6:  # the buckets in a CTE, the running total outside
        running = exp.Window(
            this=exp.Sum(this=exp.column("total")),
            order=exp.Order(expressions=[scope.ordered(exp.column(name), False)]),
        )
        q = (
            sqlglot.select(exp.column(name), exp.column("total"), running.as_("running_total"))
            .from_("buckets")
            .with_("buckets", as_=base)
            .order_by(scope.ordered(exp.column(name), False))
        )
    else:
        running = exp.Window(
            this=exp.Sum(this=fig.copy()),
            order=exp.Order(expressions=[scope.ordered(bucket.copy(), False)]),
        )
        q = base.select(running.as_("running_total"), copy=False).order_by(
            scope.ordered(exp.column(name), False)
        )
    slots = {"t": t, "d": d, "agg": aslot, "where": where}
    if monthly:
        slots["year"] = where[0].values[0]
        slots["where"] = where[1:]  # the year is said with the months
    shape = "running_month" if monthly else "running_year"
    return Built(q, shape, "hard", tuple(feats), (t,), slots)


# How often the rows bucketed by period are those of one parent (``sales of cars made by
# Toyota``): joined to it and filtered by it.
_OF_PARENT = 0.35


def period_change(scope: Scope, rng: Random) -> Built | None:
    """A figure per month of a year (or per year) and its change from the previous one:
    ``total - LAG(total) OVER (ORDER BY month_label)`` over a CTE of the buckets, or
    ``SUM(x) - LAG(SUM(x)) OVER (ORDER BY <bucket>)`` next to the GROUP BY; sometimes the
    change in percent too (``* 100.0 / NULLIF(LAG(total) ..., 0)``).  The rows may be
    filtered, or be those of one parent row or category (a join, filtered by the parent)."""
    e = _edge(scope, rng) if rng.random() < _OF_PARENT else None
    j = _Join(scope, (e,), e.child) if e is not None and scope.cols(e.child, "date") else None
    t = j.tables[0] if j else _table(scope, rng)
    monthly = rng.random() < 0.6
    # Every year of a date with NULLs would have a NULL year too, its change from nothing
    # (the months of one year leave the NULLs out).
    dates = [
        c for c in (scope.cols(t, "date") if t else [])
        if monthly or c.column.stats is None or not c.column.stats.nulls
    ]  # fmt: skip
    d = _pick(rng, dates)
    if d is None:
        return None
    alias = "t1" if j else None
    d = d.at(alias)
    made = _period(scope, rng, d, monthly)
    if made is None:
        return None
    bucket, name, where = made
    if j is not None:  # the parent the rows belong to: why it is joined
        parent = _row_filter(scope, rng, j.tables[1])
        if parent is None:
            return None
        where.append(Cond(j.at(parent.col), parent.op, parent.values))
    elif rng.random() < 0.3 and (other := _other_filter(scope, rng, t)):
        where.append(other)
    gr = _Grouped(scope, t, [], False, j, e.cols if j else (), where, {"t": t})
    fig, aslot = _additive(scope, rng, gr)
    cols = [bucket.as_(name), fig.as_("total")]
    slots: dict = {"t": t, "d": d, "agg": aslot, "where": where}
    if rng.random() < 0.3 and (
        second := _second_agg(scope, rng, t, aslot, alias, taken=tuple(where), joined=gr.joined)
    ):
        cols.append(second[0].as_("other_value"))  # "... and their average price"
        slots["agg2"] = second[1]
    base = j.select(*cols) if j else _select(scope, t, *cols)
    base = (base.where(scope.where(where)) if where else base).group_by(bucket.copy())
    pct = slots["pct"] = rng.random() < 0.35
    cte = rng.random() < 0.6  # the buckets in a CTE, the change outside
    now = exp.column("total") if cte else fig.copy()
    by = exp.column(name) if cte else bucket.copy()
    before = exp.Window(
        this=exp.Lag(this=now.copy()),
        order=exp.Order(expressions=[scope.ordered(by, False)]),
    )
    change = [exp.Sub(this=now.copy(), expression=before.copy()).as_("total_change")]
    if pct:
        rise = exp.Paren(this=exp.Sub(this=now.copy(), expression=before.copy()))
        change.append(_over(rise, before.copy(), "100.0").as_("pct_change"))
    if cte:
        shown = [exp.column(name), exp.column("total")]
        shown += [exp.column("other_value")] if "agg2" in slots else []
        q = sqlglot.select(*shown, *change).from_("buckets").with_("buckets", as_=base)
    else:
        q = base.select(*change, copy=False)
    q = q.order_by(scope.ordered(exp.column(name), False))
    feats = ["date_bucket", "group_by", "aggregate", "window", "order_by", "arithmetic"]
    feats += (["join"] if j else []) + (["filter"] if where else [])
    feats += ["count"] if "count" in (aslot[0], slots.get("agg2", ("",))[0]) else []
    if j is not None:
        slots["t2"] = j.tables[1]
    if monthly:
        slots["year"] = where[0].values[0]
        slots["where"] = where[1:]  # the year is said with the months
    shape = "period_month" if monthly else "period_year"
    tables = tuple(j.tables) if j else (t,)
    return Built(q, shape, "hard", tuple(feats), tables, slots)


def window_over_groups(scope: Scope, rng: Random) -> Built | None:
    """A rank of each group, or its share of the whole: the two windows over aggregates."""
    return (rank_groups if rng.random() < 0.5 else share_of_total)(scope, rng)
