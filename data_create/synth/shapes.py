"""The difficulty ladder: one function per SQL shape, ``(scope, rng) -> Built | None``.

easy: projections with filters on real values, COUNT / COUNT(DISTINCT), DISTINCT, top-N;
medium: GROUP BY with aggregates, HAVING, BETWEEN, LIKE, IS [NOT] NULL, two-table joins;
hard: 3-table joins, IN / EXISTS / scalar subqueries, set operations, CASE, window
functions (top-N per group), date bucketing by month and year.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from random import Random

import sqlglot
from sqlglot import exp

from .. import engines
from . import dialects
from .builder import _LIMITS, _PICK, Built, Col, Cond, Edge, Figure, Lit, Scope

Shape = Callable[[Scope, Random], Built | None]
AGGS = {"sum": exp.Sum, "avg": exp.Avg, "max": exp.Max, "min": exp.Min}


def _pick(rng: Random, items: list):
    return rng.choice(items) if items else None


def _n(rng: Random) -> Lit:
    n = rng.choice(_LIMITS)
    return Lit(exp.Literal.number(n), str(n), False)


def _table(scope: Scope, rng: Random):
    return rng.choice(scope.tables) if scope.tables else None


# What a condition on a question's rows is about, and how often: a category equal to a
# value most often, then a period of a date, then a measure above or below a value.  The
# defog questions that filter grouped or joined rows use all three ("in 2023", "with a sale
# price over 30,000"); with categories alone, a table without one was never filtered
# (filtered share of joined questions: theirs 67%, ours 50%).
_FILTER_KINDS = (("cat", 0.6), ("date", 0.25), ("num", 0.15))


def _other_filter(scope: Scope, rng: Random, table, exclude: Col | None = None) -> Cond | None:
    """A condition on ``table``'s rows, on any column but ``exclude``: a category equal to
    one of its values, a date in a year or a month, or a measure above / below a value
    (:data:`_FILTER_KINDS`); another kind when the one drawn has no column."""
    kinds = [k for k, _ in _FILTER_KINDS]
    first = rng.choices(kinds, [w for _, w in _FILTER_KINDS])[0]
    for kind in [first, *(k for k in kinds if k != first)]:
        cands = [c for c in scope.cols(table, kind)
                 if exclude is None or c.column != exclude.column]  # fmt: skip
        col = _pick(rng, cands)
        if col is None:
            continue
        if kind == "date":
            cond = scope.date_range(col, rng) if rng.random() < 0.5 else scope.year_cond(col, rng)
        elif kind == "num":
            cond = scope.filter_cond(col, rng, ("gt", "lt"))
        else:
            cond = scope.filter_cond(col, rng)
        if cond is not None:
            return cond
    return None


def _select(scope: Scope, table, *cols, alias: str | None = None) -> exp.Select:
    # copy=False: the SELECT is new here; copying it again cost 1% of a run.
    return sqlglot.select(*cols).from_(scope.table_ref(table, alias), copy=False)


# ---------------------------------------------------------------- easy


def filter_list(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    if t is None:
        return None
    col = _pick(rng, scope.cols(t, "cat") + scope.cols(t, "num"))
    if col is None:
        return None
    cond = scope.filter_cond(col, rng, ("eq", "eq", "gt", "lt"))
    label = scope.label_col(t)
    if label.column == col.column:
        label = _pick(rng, [c for c in scope.cols(t, "text") if c.column != col.column]) or label
    extra = _pick(
        rng, [c for c in scope.cols(t, "any") if c.column not in (label.column, col.column)]
    )
    shown = [label] + ([extra] if extra else [])
    conds = [cond]
    if rng.random() < 0.3 and (other := _other_filter(scope, rng, t, col)):
        conds.append(other)
    q = _select(scope, t, *(scope.ref(c) for c in shown)).where(scope.where(conds), copy=False)
    slots = {"t": t, "cols": shown, "where": conds}
    feats = ["projection", "filter"]
    if rng.random() < _ONE_ROW:
        # "Give one review written in May 2021": any one row, LIMIT 1 without an order
        # (the question says "one" / "any"; sorted, it would be "the highest").
        q = q.limit(exp.Literal.number(1), copy=False)
        return Built(q, "filter_one", "easy", (*feats, "limit"), (t,), slots)
    _sort_listing(scope, rng, q, t, slots, feats, [c.column for c in shown])
    return Built(q, "filter_list", "easy", tuple(feats), (t,), slots)


# How often a filtered listing asks for one example row rather than all of them.
_ONE_ROW = 0.08


def _sort_listing(scope: Scope, rng: Random, q: exp.Select, t, slots: dict, feats: list,
                  shown: list) -> None:  # fmt: skip
    """Sometimes sort a listing by a measure or date of ``t`` (``... sorted by price, highest
    first``), in place; the column is shown too, so that the order can be seen.  Plain,
    filtered and LIKE listings alike: people sort 23% of their single-table questions
    without a GROUP BY (defog), the synthesizer sorted 9% when only filtered ones were."""
    if rng.random() >= 0.45:
        return
    col = _pick(rng, scope.cols(t, "num") + scope.cols(t, "date"))
    if col is None:
        return
    desc = rng.random() < 0.6
    if col.column not in shown:
        q.select(scope.ref(col), copy=False)
        slots["cols"] = [*slots["cols"], col]
    q.order_by(scope.ordered(scope.ref(col), desc), copy=False)
    slots["by"] = (col, desc)
    feats.append("order_by")


def count_in(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    col = _pick(rng, scope.cols(t, "cat")) if t else None
    cond = scope.filter_cond(col, rng, ("in", "eq")) if col else None
    if cond is None:
        return None
    conds = [cond]
    if rng.random() < 0.3 and (other := _other_filter(scope, rng, t, col)):
        conds.append(other)
    q = _select(scope, t, exp.Count(this=exp.Star())).where(scope.where(conds), copy=False)
    return Built(q, "count", "easy", ("count", "filter"), (t,), {"t": t, "where": conds})


def count_distinct(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    col = _pick(rng, scope.cols(t, "cat") + scope.cols(t, "text")) if t else None
    if col is None:
        return None
    q = _select(scope, t, exp.Count(this=exp.Distinct(expressions=[scope.ref(col)])))
    conds = []
    if rng.random() < 0.5 and (other := _other_filter(scope, rng, t, col)):
        conds = [other]
        q = q.where(scope.where(conds), copy=False)
    feats = ("count", "distinct", "filter") if conds else ("count", "distinct")
    return Built(q, "count_distinct", "easy", feats, (t,), {"t": t, "g": col, "where": conds})


def distinct_values(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    col = _pick(rng, scope.cols(t, "cat")) if t else None
    if col is None:
        return None
    q = _select(scope, t, scope.ref(col)).distinct(copy=False)
    q = q.order_by(scope.ordered(scope.ref(col), False), copy=False)
    conds = []
    if rng.random() < 0.4 and (other := _other_filter(scope, rng, t, col)):
        conds = [other]
        q = q.where(scope.where(conds), copy=False)
    feats = ("distinct", "order_by", "filter") if conds else ("distinct", "order_by")
    return Built(q, "distinct", "easy", feats, (t,), {"t": t, "g": col, "where": conds})


def top_n(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    num = _pick(rng, scope.cols(t, "num")) if t else None
    if num is None:
        return None
    label = scope.label_col(t)
    desc = rng.random() < 0.7
    n = _n(rng)
    q = (
        _select(scope, t, scope.ref(label), scope.ref(num))
        .order_by(scope.ordered(scope.ref(num), desc), copy=False)
        .limit(n.node.copy(), copy=False)
    )
    slots = {"t": t, "cols": [label, num], "order": (num, desc), "n": n}
    return Built(q, "top_n", "easy", ("projection", "order_by", "limit"), (t,), slots)


# ---------------------------------------------------------------- medium


def _agg(
    scope: Scope,
    rng: Random,
    t,
    alias: str | None = None,
    *,
    extra: bool = False,
    exclude: Col | None = None,
    kinds: tuple[str, ...] | None = None,
    joined: tuple[str, ...] = (),
):
    """(expression, slot) for an aggregate over ``t``: COUNT(*) or SUM/AVG/MIN/MAX(numeric).

    With ``extra`` (grouped questions, where each group gets its own figure) it may also be
    ``COUNT(DISTINCT category)``, the total / average of a product of two measures
    (``SUM(price * quantity)``) or one of the composed figures of :func:`_figure` (a share,
    a percentage, a ratio, a conditional count...), those of ``kinds`` (default: all);
    ``exclude`` is the grouping column, never the subject of a distinct count or a
    condition (one value per group says nothing).
    """
    if extra and rng.random() < _EXTRA_AGG:
        kinds = kinds if kinds is not None else ("count_distinct", "product", *_FIGURES)
        made = _extra_agg(scope, rng, t, alias, exclude, kinds, joined)
        if made is not None:
            return made
    num = _pick(rng, scope.cols(t, "num"))
    if num is None or rng.random() < 0.3:
        return exp.Count(this=exp.Star()), ("count", None, t)
    func = _func(scope, rng, num)
    num = num.at(alias)
    return AGGS[func](this=scope.ref(num)), (func, num, t)


# How often a question asks for a second figure of the same rows (``_second_agg``).
_SECOND_AGG = 0.25
# How often a grouped question's aggregate is one of the composed kinds of ``_extra_agg``.
_EXTRA_AGG = 0.45
# The weight of a figure over each row's arithmetic (``SUM(price * quantity)``,
# ``AVG(amount / NULLIF(quantity, 0))``) among those kinds: people's grouped questions
# compute with a row's columns twice as often as ours did at 0.15 (7.6% vs 3.8%).
_PRODUCT = 0.3


def _extra_agg(scope: Scope, rng: Random, t, alias, exclude: Col | None, kinds, joined=()):
    # A distinct count most often where there is something to count (people ask "how many
    # different customers" per group more than any composed figure), then a composed
    # figure, then a product of two measures.
    figures = [k for k in kinds if k in _FIGURES]
    pool = [(k, w) for k, w in (("count_distinct", 0.4), ("product", _PRODUCT)) if k in kinds]
    total = sum(_FIGURE_WEIGHT.get(k, 1.0) for k in figures)
    pool += [(k, 0.45 * _FIGURE_WEIGHT.get(k, 1.0) / total) for k in figures]
    kind = rng.choices([k for k, _ in pool], [w for _, w in pool])[0]
    if kind == "count_distinct":
        col = _pick(rng, _countables(scope, t, exclude, joined))
        if col is None:
            return None
        col = col.at(alias)
        node = exp.Count(this=exp.Distinct(expressions=[scope.ref(col)]))
        return node, ("count_distinct", col, t)
    if kind == "product" and (pair := _row_pair(scope, rng, t)) is not None:
        a, b, op = pair
        a, b = a.at(alias), b.at(alias)
        # A ratio of each row's amounts averages (the average price paid per unit); a sum
        # of ratios means nothing.
        # A duration averages or has a longest / shortest one (a row whose end is NULL
        # is left out by the aggregate itself); its total means little.
        funcs = {"times": ("sum", "avg"), "minus": ("sum", "avg", "max"), "per": ("avg", "max"),
                 "days": ("avg", "max", "min")}  # fmt: skip
        func = rng.choice(funcs[op])
        node = _arith_node(scope, a, b, op)
        if func == "avg" and op == "days":
            node = _avg_whole(scope, node)
        return AGGS[func](this=node), (func, (a, b, op), t)
    if kind in _FIGURES:
        return _figure(scope, rng, t, alias, exclude, kind, joined)
    return None


def _countables(scope: Scope, t, exclude: Col | None, joined=(), names: bool = True) -> list[Col]:
    """What a distinct count counts: a category or name (not with ``names=False``: a
    ratio per distinct name is about 1), or a link to another table ("how many different
    authors wrote for each venue") -- not the link the query joins through, which has one
    value per joined row, nor the grouping column."""
    links = [Col(t, c) for c in t.columns
             if not c.sensitive and scope.role(t, c).role == "foreign_key"
             and c.name not in joined]  # fmt: skip
    named = scope.cols(t, "label") if names else []
    return [c for c in scope.cols(t, "cat") + named + links
            if exclude is None or c.column != exclude.column]  # fmt: skip


# How often the second figure is how many of the rows meet a condition (``the number of
# orders per week and how many of them were paid``).
_SECOND_COND = 0.3
# How often it is a distinct count next to a total or an average (``the number of
# different patients and the average score per insurance type``): people's grouped
# questions with two figures pair a distinct count with a total in a third of them;
# none of ours did.
_SECOND_DISTINCT = 0.3


def _second_agg(scope: Scope, rng: Random, t, first: tuple, alias: str | None = None,
                exclude: Col | None = None, taken: tuple[Cond, ...] = (),
                joined=()):  # fmt: skip
    """A second figure for the same rows, of another kind than ``first``: the number of
    rows next to a total, or a total / average next to a count (``the number of orders
    and their total amount per city``), or how many of them meet a condition
    (``COUNT(CASE WHEN c THEN 1 END)``: "... and how many of them were paid"), or how
    many different customers (a link or a category) they have, never on the grouping
    column ``exclude``, on a link the query joins through (``joined``: one value per
    group) nor on a column the WHERE (``taken``) already conditions; None when ``t`` has
    no measure for it."""
    if first[0] not in _FIGURES and rng.random() < _SECOND_COND:
        made = _share(scope, rng, t, alias, exclude, "cond_count")
        if made is not None and not any(_same_col(made[1][1].cond.col, c.col) for c in taken):
            return made[0], ("cond_them", made[1][1], t)
    if first[0] in AGGS and first[0] != "count" and rng.random() < _SECOND_DISTINCT:
        cands = [c for c in _countables(scope, t, exclude, joined, names=False)
                 if not any(c.column is k.col.column for k in taken)]  # fmt: skip
        col = _pick(rng, cands)
        if col is not None:
            col = col.at(alias)
            node = exp.Count(this=exp.Distinct(expressions=[scope.ref(col)]))
            return node, ("count_distinct", col, t)
    num = _pick(rng, scope.cols(t, "num"))
    # After a distinct count either: "the number of different customers and the total
    # amount per city", or "... and the number of orders".
    count_next = first[0] != "count" and (first[0] != "count_distinct" or rng.random() < 0.4)
    if count_next or (first[0] != "count" and num is None):
        return exp.Count(this=exp.Star()), ("count", None, t)
    if num is None:
        return None
    func = _func(scope, rng, num)
    num = num.at(alias)
    return AGGS[func](this=scope.ref(num)), (func, num, t)


def _same_col(a: Col, b: Col) -> bool:
    return a.table is b.table and a.column is b.column


def _apart(slots: dict, conds: list[Cond]) -> list[Cond]:
    """``conds`` less those on the column of a figure's condition: "how many of them were
    paid" among paid orders only says nothing, "the share of standard stores" among
    standard stores is always 100%, and among stores in 'A' the number in 'B' always 0
    (106 of 13,000 samples did that when only the second figure was looked at); and less
    those that fix the column a figure counts the distinct values of (``COUNT(DISTINCT
    city)`` among customers in one city is 1)."""
    figs = [slot for key in ("agg", "agg2") if (slot := slots.get(key)) is not None]
    taken = [
        c.col
        for slot in figs if isinstance(slot[1], Figure)
        for c in (slot[1].cond, slot[1].cond2)
        if c is not None
    ]  # fmt: skip
    # What a figure counts the distinct values of: one value under ``c = 'x'`` (always 1).
    counted = [slot[1] for slot in figs if slot[0] == "count_distinct"] + [
        col for slot in figs if isinstance(slot[1], Figure)
        and slot[0] in ("distinct_cond", "distinct_share", "distinct_per", "count_per", "sum_per")
        for col in (slot[1].den, slot[1].num if slot[0] == "distinct_per" else None)
        if col is not None
    ]  # fmt: skip
    return [
        c for c in conds
        if not any(_same_col(c.col, t) for t in taken)
        and not (c.op == "eq" and any(_same_col(c.col, d) for d in counted))
    ]  # fmt: skip


def _product(scope: Scope, rng: Random, t) -> tuple[Col, Col, str] | None:
    """Two measures of ``t`` whose product or difference means something: a price or rate
    times a whole count (``unit price * quantity``), else two additive measures of one
    type (``amount - discount``)."""
    nums = scope.cols(t, "num")
    adds = scope.cols(t, "sum")
    rates = [c for c in nums if all(c.column != a.column for a in adds)]
    # A count of things is additive and whole: price x quantity, never price x amount.
    counts = [c for c in adds if c.type == "integer"]
    if rates and counts:
        return rng.choice(rates), rng.choice(counts), "times"
    pairs = [(x, y) for x in adds for y in adds if x.column != y.column and x.type == y.type]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return a, b, "minus"


def _func(scope: Scope, rng: Random, num: Col) -> str:
    """An aggregate that means something for ``num``: SUM only of what adds up (amounts,
    quantities), never of prices, rates or ages."""
    additive = scope.role(num.table, num.column).can_sum
    return rng.choice(list(AGGS) if additive else ["avg", "max", "min"])


# ---------------------------------------------------------------- composed figures

# Figures composed of aggregates and CASE, each named by its slot's first item; the
# question templates (``questions._AGG``) say each one in words.
#   share / pct     rows meeting c among all rows, as a fraction or a percentage
#   ratio           rows meeting c per row meeting c2 (two values, or above / below one)
#   cond_count      rows meeting c (grouped only: a WHERE says it more simply otherwise)
#   cond_sum        the total of an additive measure over the rows meeting c (grouped only)
#   weighted        the share of an additive measure's total from the rows meeting c
#   count_per       rows per distinct value of a link or category (orders per customer)
#   sum_per         an additive measure's total per distinct value (revenue per customer)
#   per_measure     one additive measure's total per another's (amount per quantity)
#   spread          the highest value of a measure minus the lowest
#   distinct_cond   distinct values among the rows meeting c (grouped only)
#   distinct_share  the share of distinct values found among the rows meeting c
#   distinct_per    distinct values of one link or category per distinct value of another
#                   (different products per different customer)
_FIGURES = (
    "share", "pct", "ratio", "cond_count", "cond_sum", "weighted", "count_per", "sum_per",
    "per_measure", "spread", "distinct_cond", "distinct_share", "distinct_per",
)  # fmt: skip
# How often each is drawn, relative to the others: shares, percentages and ratios of rows
# are what people ask most.
_FIGURE_WEIGHT = {"share": 2.0, "pct": 2.0, "ratio": 2.0, "cond_count": 2.0, "distinct_per": 2.0}
# Figures that say nothing new without a GROUP BY: a WHERE counts those rows already.
_GROUPED_ONLY = frozenset({"cond_count", "cond_sum", "distinct_cond"})
# Figures divided by something that can be 0 (NULLIF makes that NULL): ranked highest
# first with NULLs last, so an undefined ratio is never "the highest".
_NULLABLE = frozenset(
    {"ratio", "weighted", "count_per", "sum_per", "per_measure", "distinct_share", "distinct_per"}
)


def _when(scope: Scope, cond: Cond, then: exp.Expr | None = None, zero: bool = True) -> exp.Case:
    """``CASE WHEN c THEN 1 ELSE 0 END``; without ``zero`` no ELSE (NULL, which COUNT skips)."""
    then = then if then is not None else exp.Literal.number(1)
    default = exp.Literal.number(0) if zero else None
    return exp.Case(ifs=[exp.If(this=scope.cond(cond), true=then)], default=default)


def _meeting(scope: Scope, cond: Cond, spelling: str) -> exp.Expr:
    """The number of rows meeting ``cond``, in one of the ways people write it:
    ``SUM(CASE WHEN c THEN 1 ELSE 0 END)`` or ``COUNT(CASE WHEN c THEN 1 END)``."""
    if spelling == "sum":
        return exp.Sum(this=_when(scope, cond))
    return exp.Count(this=_when(scope, cond, zero=False))


def _over(top: exp.Expr, bottom: exp.Expr, scale: str = "1.0", guard: bool = True) -> exp.Expr:
    """``top * 1.0 / NULLIF(bottom, 0)``: * 1.0 (or * 100.0 for a percentage) because
    integer division would make every share 0 or 1; NULLIF where the bottom can be 0."""
    if guard:
        bottom = exp.Nullif(this=bottom, expression=exp.Literal.number(0))
    top = exp.Mul(this=top, expression=exp.Literal.number(scale))
    # typed: the engine's own division, which * 1.0 already keeps from being an integer
    # one (untyped, sqlglot would add its own CAST(... AS DOUBLE PRECISION) on top).
    return exp.Div(this=top, expression=bottom, typed=True)


# How often a ratio is written ``CAST(top AS <float type>) / bottom`` instead of ``* 1.0``.
_CAST_SHARE = 0.3


def _spelled_over(scope: Scope, rng: Random, top: exp.Expr, bottom: exp.Expr, scale: str = "1.0",
                  guard: bool = True) -> exp.Expr:  # fmt: skip
    """``top`` over ``bottom`` in one of the ways people write it: ``top * 1.0 / bottom``
    (:func:`_over`), or ``CAST(top AS <type>) / bottom`` (then ``* 100.0`` for a
    percentage), the type being the engine's type for numbers stored as text (REAL,
    NUMERIC, DECIMAL(38, 10), FLOAT): never an integer, so never an integer division."""
    if rng.random() >= _CAST_SHARE:
        return _over(top, bottom, scale, guard)
    if guard:
        bottom = exp.Nullif(this=bottom, expression=exp.Literal.number(0))
    top = exp.Cast(this=top, to=exp.DataType.build(dialects.NUMERIC[scope.dialect]))
    if scale != "1.0":
        top = exp.Mul(this=top, expression=exp.Literal.number(scale))
    return exp.Div(this=top, expression=bottom, typed=True)


def _row_count(scope: Scope, rng: Random, t, alias: str | None = None) -> exp.Expr:
    """The number of ``t``'s rows: ``COUNT(*)``, or as people also write it, the count of
    its single-column primary key (never NULL, so the same number)."""
    key = scope.key_col(t)
    if key is None or rng.random() >= 0.3:
        return exp.Count(this=exp.Star())
    ident = scope.ident(key.column.name)
    return exp.Count(this=exp.Column(this=ident, table=exp.to_identifier(alias) if alias else None))


def _split(scope: Scope, rng: Random, t, alias, exclude: Col | None) -> Cond | None:
    """A condition that splits ``t``'s rows: a category equal to one of its real values, or
    a measure above / below one."""
    cats = [c for c in scope.cols(t, "cat") if exclude is None or c.column != exclude.column]
    nums = scope.cols(t, "num")
    col = _pick(rng, cats + nums)
    if col is None:
        return None
    cond = scope.filter_cond(col, rng, ("gt", "lt") if col in nums else ("eq",))
    if cond is None or cond.op not in ("eq", "gt", "lt"):
        return None
    return Cond(cond.col.at(alias), cond.op, cond.values)


def _sides(scope: Scope, rng: Random, t, alias, exclude: Col | None) -> tuple[Cond, Cond] | None:
    """The two sides of a ratio, on one column: two of a category's values (``'CA'`` to
    ``'NY'``), or above and below a measure's middle value (both sides have rows)."""
    cond = _split(scope, rng, t, alias, exclude)
    if cond is None:
        return None
    vals = scope.values(t, cond.col.column)
    if cond.op == "eq":
        others = [v for v in vals[:_PICK] if v.text != cond.values[0].text]
        return (cond, Cond(cond.col, "eq", (rng.choice(others),))) if others else None
    nums = sorted(vals, key=lambda x: float(x.text))
    if len(nums) < 3:
        return None
    mid = (rng.choice(nums[1:-1]),)
    return Cond(cond.col, "gt", mid), Cond(cond.col, "lt", mid)


def _figure(scope: Scope, rng: Random, t, alias, exclude: Col | None, kind: str, joined=()):
    """(expression, slot) for the composed figure ``kind`` over ``t``'s rows (see
    :data:`_FIGURES`), or None when ``t`` lacks what it needs.  The slot is
    ``(kind, Figure, t)``: everything the question must name."""
    if kind in ("share", "pct", "cond_count"):
        return _share(scope, rng, t, alias, exclude, kind)
    if kind == "ratio":
        sides = _sides(scope, rng, t, alias, exclude)
        if sides is None:
            return None
        spelling = rng.choice(("sum", "count"))
        node = _over(_meeting(scope, sides[0], spelling), _meeting(scope, sides[1], spelling))
        return node, ("ratio", Figure(cond=sides[0], cond2=sides[1]), t)
    if kind in ("cond_sum", "weighted"):
        cond = _split(scope, rng, t, alias, exclude)
        m = _pick(rng, [c for c in scope.cols(t, "sum") if cond and c.column != cond.col.column])
        if cond is None or m is None:
            return None
        m = m.at(alias)
        part = exp.Sum(this=_when(scope, cond, scope.ref(m)))
        node = part if kind == "cond_sum" else _over(part, exp.Sum(this=scope.ref(m)))
        return node, (kind, Figure(cond=cond, num=m), t)
    if kind in ("count_per", "sum_per", "distinct_per"):
        return _per_distinct(scope, rng, t, alias, exclude, kind, joined)
    if kind == "per_measure":
        adds = scope.cols(t, "sum")
        if len(adds) < 2:
            return None
        a, b = (c.at(alias) for c in rng.sample(adds, 2))
        node = _over(exp.Sum(this=scope.ref(a)), exp.Sum(this=scope.ref(b)))
        return node, ("per_measure", Figure(num=a, den=b), t)
    if kind == "spread":
        m = _pick(rng, scope.cols(t, "num"))
        if m is None:
            return None
        m = m.at(alias)
        node = exp.Sub(this=exp.Max(this=scope.ref(m)), expression=exp.Min(this=scope.ref(m)))
        return node, ("spread", Figure(num=m), t)
    return _distinct_among(scope, rng, t, alias, exclude, kind, joined)


def _share(scope: Scope, rng: Random, t, alias, exclude: Col | None, kind: str):
    """The rows meeting a condition: their number, their share (``* 1.0 / COUNT(*)``, or
    the average of a 1.0 / 0 flag) or their percentage (``* 100.0``)."""
    cond = _split(scope, rng, t, alias, exclude)
    if cond is None:
        return None
    spelling = rng.choice(("sum", "count", "avg") if kind != "cond_count" else ("sum", "count"))
    if kind == "cond_count":
        node = _meeting(scope, cond, spelling)
    elif spelling == "avg":  # AVG(CASE WHEN c THEN 1.0 ELSE 0 END): 1.0, not integer 1
        node = exp.Avg(this=_when(scope, cond, exp.Literal.number("1.0")))
        if kind == "pct":
            node = exp.Mul(this=node, expression=exp.Literal.number("100.0"))
    else:
        # A group's COUNT(*) is never 0; the rows of an ungrouped question (no grouping
        # column to ``exclude``) are whatever its WHERE leaves, which can be none at all:
        # a share of "orders of customer 'X'" divided by zero in 7 of 11,000 samples.
        scale = "100.0" if kind == "pct" else "1.0"
        whole = exp.Count(this=exp.Star())
        node = _over(_meeting(scope, cond, spelling), whole, scale, guard=exclude is None)
    return node, (kind, Figure(cond=cond), t)


def _per_distinct(scope: Scope, rng: Random, t, alias, exclude, kind: str, joined=()):
    """Rows (or an additive measure's total, or the distinct values of another link or
    category) per distinct value of a link or category:
    ``COUNT(*) * 1.0 / NULLIF(COUNT(DISTINCT customer_id), 0)``, orders per customer.  A
    row count is sometimes written ``COUNT(DISTINCT <primary key>)``, as people do."""
    countables = _countables(scope, t, exclude, joined, names=False)
    d = _pick(rng, countables)
    if d is None:
        return None
    d = d.at(alias)
    m = _pick(rng, scope.cols(t, "sum")) if kind == "sum_per" else None
    if kind == "distinct_per":  # COUNT(DISTINCT a) * 1.0 / NULLIF(COUNT(DISTINCT b), 0)
        m = _pick(rng, [c for c in countables if c.column.name != d.column.name])
    if kind in ("sum_per", "distinct_per") and m is None:
        return None
    key = scope.key_col(t)
    if kind == "distinct_per":
        m = m.at(alias)
        top: exp.Expr = exp.Count(this=exp.Distinct(expressions=[scope.ref(m)]))
    elif m is not None:
        m = m.at(alias)
        top = exp.Sum(this=scope.ref(m))
    elif key is not None and rng.random() < 0.4:
        top = exp.Count(this=exp.Distinct(expressions=[scope.ref(key.at(alias))]))
    else:
        top = exp.Count(this=exp.Star())
    node = _over(top, exp.Count(this=exp.Distinct(expressions=[scope.ref(d)])))
    return node, (kind, Figure(num=m, den=d), t)


def _distinct_among(scope: Scope, rng: Random, t, alias, exclude, kind: str, joined=()):
    """Distinct values among the rows meeting a condition,
    ``COUNT(DISTINCT CASE WHEN c THEN customer_id END)``, or their share of all the
    distinct values (``distinct_share``)."""
    cond = _split(scope, rng, t, alias, exclude)
    if cond is None:
        return None
    cands = [c for c in _countables(scope, t, exclude, joined, names=kind == "distinct_cond")
             if c.column != cond.col.column]  # fmt: skip
    d = _pick(rng, cands)
    if d is None:
        return None
    d = d.at(alias)
    hit = exp.Count(this=exp.Distinct(expressions=[_when(scope, cond, scope.ref(d), zero=False)]))
    node = hit
    if kind == "distinct_share":
        node = _over(hit, exp.Count(this=exp.Distinct(expressions=[scope.ref(d)])))
    return node, (kind, Figure(cond=cond, den=d), t)


def _durational(slot: tuple) -> bool:
    """A figure of durations: NULL for a group whose every row has no end date yet."""
    return isinstance(slot[1], tuple) and slot[1][2] == "days"


def _rank(node: exp.Expr, desc: bool, slot: tuple, scope: Scope) -> tuple[exp.Ordered, bool]:
    """ORDER BY the figure; a figure that can be NULL (a ratio over 0) goes highest first
    with NULLs last, so that an undefined ratio never comes out on top (written NULLS
    LAST only where the engine needs it)."""
    if slot[0] in _NULLABLE or _durational(slot):
        return exp.Ordered(this=node, desc=True, nulls_first=False), True
    return scope.ordered(node, desc), desc


# How often one table's groups are simply counted (``the number of customers in each
# city``): a third of people's single-table grouped questions; ``_agg`` alone made it one
# in six, and the plainest grouped kinds went missing from 1,000 samples.
_GROUP_COUNT = 0.3


def group_agg(scope: Scope, rng: Random) -> Built | None:
    """An aggregate for every group of one table: ``the number of customers in each city``."""
    t = _table(scope, rng)
    g = _pick(rng, scope.cols(t, "cat")) if t else None
    if g is None:
        return None
    if rng.random() < _GROUP_COUNT:
        agg, aslot = exp.Count(this=exp.Star()), ("count", None, t)
    else:
        agg, aslot = _agg(scope, rng, t, extra=True, exclude=g)
    alias = "total" if aslot[0] in ("sum", "count") else f"{aslot[0]}_value"
    q = _select(scope, t, scope.ref(g), agg.as_(alias, copy=False))
    q = q.group_by(scope.ref(g), copy=False)
    slots = {"t": t, "g": g, "agg": aslot}
    ranked = _second_ranked(scope, rng, q, t, aslot, slots, None)
    conds = []
    # A condition on grouped rows: 39% of people's grouped questions carry one.
    if rng.random() < 0.55 and (other := _other_filter(scope, rng, t, g)):
        conds = _apart(slots, [other])
    if conds:
        q = q.where(scope.where(conds), copy=False)
    feats = ["group_by", "aggregate"] + (["count"] if aslot[0] == "count" else [])
    feats += ["filter"] if conds else []
    slots["where"] = conds
    shape = "group_agg"
    # Sorted by the figure (people ask for sorted groups twice as often as for the top N):
    # every group, or the top N of them; by the second figure when that is the ranking.
    if rng.random() < 0.65 or ranked is not None:
        by, rank_slot = (
            (ranked, slots["agg2"]) if ranked is not None else (exp.column(alias), aslot)
        )
        q, top = _sort_groups(scope, rng, q, by, 0.75, rank_slot, slots, feats, 0.3)
        shape = "group_top" if top else shape
    return Built(q, shape, "medium", tuple(feats), (t,), slots)


def _sort_groups(scope: Scope, rng: Random, q: exp.Select, by: exp.Expr, desc_p: float,
                 slot: tuple, slots: dict, feats: list, top_p: float) -> tuple[exp.Select, bool]:  # fmt: skip
    """Grouped rows sorted by their figure ``by`` (descending with probability ``desc_p``),
    and with probability ``top_p`` only the top N of them: (query, whether it is a top-N)."""
    order, desc = _rank(by, rng.random() < desc_p, slot, scope)
    # copy=False: every caller passes a query of its own and drops the one it passed.
    q = q.order_by(order, copy=False)
    slots["order"] = (None, desc)
    feats.append("order_by")
    if rng.random() >= top_p:
        return q, False
    slots["n"] = _n(rng)
    feats.append("limit")
    return q.limit(slots["n"].node.copy(), copy=False), True


def group_having(scope: Scope, rng: Random) -> Built | None:
    """Groups kept by their number of rows (``cities with at least 5 customers``) or, about
    half the time, by a total or an average (:func:`_having_figure`)."""
    t = _table(scope, rng)
    g = _pick(rng, scope.cols(t, "cat")) if t else None
    if g is None:
        return None
    if rng.random() < _HAVING_FIGURE and (made := _group_having_figure(scope, rng, t, g)):
        return made
    rows = t.row_count or 100
    k = rng.choice([x for x in (2, 3, 5, 10, 20, 50) if x <= max(2, rows // 20)])
    kl = Lit(exp.Literal.number(k), str(k), False)
    q = (
        _select(scope, t, scope.ref(g), exp.Count(this=exp.Star()).as_("total"))
        .group_by(scope.ref(g))
        .having(exp.GTE(this=exp.Count(this=exp.Star()), expression=kl.node))
    )
    slots = {"t": t, "g": g, "agg": ("count", None, t), "k": kl}
    feats = ("group_by", "having", "count", "aggregate")
    if rng.random() < 0.6:
        q = q.order_by(scope.ordered(exp.column("total"), True))
        slots["order"] = (None, True)
        feats += ("order_by",)
    return Built(q, "group_having", "medium", feats, (t,), slots)


# How often a HAVING keeps groups by a total or an average of a measure, not a row count.
_HAVING_FIGURE = 0.5


def _spread(scope: Scope, col: Col) -> tuple[float, float] | None:
    """A low and a high estimate of a measure's mean: the lower quartile of its real values
    (the most frequent ones, or the smallest when none repeats: below the mean of the
    right-skewed amounts most measures are), and the middle of its range in the rows the
    metadata read (above it, for the same reason)."""
    nums = sorted(float(v.text) for v in scope.values(col.table, col.column))
    if not nums:
        return None
    lo, hi = nums[len(nums) // 4], nums[-1]
    stats = col.column.stats
    # No statistics, or not numbers: the largest value known.
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        hi = (float(stats.min) + float(stats.max)) / 2
    return lo, max(lo, hi)


def _distinct(scope: Scope, col: Col) -> int:
    """About how many different values ``col`` has (in the rows the metadata read)."""
    stats = col.column.stats
    return max(stats.distinct if stats is not None else len(scope.values(col.table, col.column)), 1)


def _selectivity(scope: Scope, conds: list[Cond]) -> float:
    """About what share of the rows ``conds`` keep: one of n values of a category is 1/n
    of them (less than the share of the frequent values the filters draw)."""
    share = 1.0
    for c in conds:
        if c.op in ("eq", "in"):
            share *= min(1.0, len(c.values) / _distinct(scope, c.col))
        elif c.op in ("year", "range"):
            share *= _period_share(scope, c)
        else:
            share *= 0.5
    return share


def _period_share(scope: Scope, c: Cond) -> float:
    """About what share of the rows a year or a date range keeps: the period's length over
    the span of the column's years (a month of a column over five years keeps 1/60)."""
    years = sorted({int(v.text[:4]) for v in scope.values(c.col.table, c.col.column)
                    if v.text[:4].isdigit()})  # fmt: skip
    span = (years[-1] - years[0] + 1) if years else 1
    if c.op == "year":
        return min(1.0, 1 / span)
    lo, hi = (v.text for v in c.values)
    with contextlib.suppress(ValueError):
        days = (date.fromisoformat(hi[:10]) - date.fromisoformat(lo[:10])).days
        return min(1.0, days / (365.0 * span))
    return 0.5


def _round_down(x: float) -> Lit | None:
    """``x`` rounded down to two significant digits, as a person states a threshold.

    >>> _round_down(12345.6).text, _round_down(0.0347).text, _round_down(7.0).text
    ('12000', '0.034', '7')
    """
    if not (x > 0 and math.isfinite(x)):
        return None
    step = Decimal(10) ** (math.floor(math.log10(x)) - 1)
    value = (Decimal(repr(x)) / step).to_integral_value(rounding=ROUND_FLOOR) * step
    text = format(value.normalize(), "f")
    return Lit(exp.Literal.number(text), text, False)


def _having_figure(scope: Scope, rng: Random, t, alias: str | None, groups: int,
                   conds: list[Cond]) -> tuple[exp.Expr, tuple, Lit, bool] | None:  # fmt: skip
    """``(figure, slot, threshold, above)`` for a HAVING on a measure of ``t``: its total
    (additive measures only) or its average, above or below a threshold from the data, so
    that some of the ``groups`` pass.  The groups' averages straddle the overall one: an
    average is kept above a low estimate of it or below a high one (:func:`_spread`).  A
    total is held against a share (above) or a multiple (below) of a typical group's total,
    the estimate times the rows per group that ``conds`` keep: the biggest group is above
    the mean group and the smallest below it."""
    num = _pick(rng, scope.cols(t, "num"))
    spread = _spread(scope, num) if num is not None else None
    if spread is None or spread[0] <= 0:
        return None
    func = "sum" if scope.role(t, num.column).can_sum and rng.random() < 0.6 else "avg"
    above = rng.random() < 0.75
    # Above a low estimate of a row's mean, or below one between the low and the high (the
    # middle of a skewed range is far above most rows): the groups straddle the mean.
    lo, hi = spread
    typical = (
        lo * rng.choice((0.7, 0.85, 1.0))
        if above
        else math.sqrt(lo * hi) * rng.choice((1.0, 1.25, 1.5))
    )
    if func == "sum":  # rows per group: at least one, or there is no group
        rows = max(1.0, (t.row_count or 100) * _selectivity(scope, conds) / max(groups, 1))
        typical *= rows * rng.choice((0.3, 0.5, 0.8) if above else (1.0, 1.5, 2.0))
    k = _round_down(typical)
    if k is None:
        return None
    num = num.at(alias)
    return AGGS[func](this=scope.ref(num)), (func, num, t), k, above


def _having_query(scope: Scope, rng: Random, q: exp.Select, made: tuple, slots: dict,
                  feats: list[str]) -> exp.Select:  # fmt: skip
    """``q`` (the grouping shown, grouped) with the figure of :func:`_having_figure`
    shown, the groups kept by it and, most often, sorted by it; fills ``slots``/``feats``."""
    node, aslot, k, above = made
    name = "total" if aslot[0] == "sum" else "avg_value"
    cmp = exp.GT if above else exp.LT
    q = q.select(node.as_(name)).having(cmp(this=node.copy(), expression=k.node))
    slots.update(agg=aslot, k=k, above=above)
    feats += ["group_by", "having", "aggregate"]
    if rng.random() < 0.7:
        desc = rng.random() < 0.75
        q = q.order_by(scope.ordered(exp.column(name), desc))
        slots["order"] = (None, desc)
        feats.append("order_by")
    return q


def _group_having_figure(scope: Scope, rng: Random, t, g: Col) -> Built | None:
    """Groups of one table kept by a total or an average of their rows, sometimes only of
    the rows meeting a condition: ``cities whose paid orders total more than 12000``."""
    conds = []
    if rng.random() < 0.4 and (other := _other_filter(scope, rng, t, g)):
        conds = [other]
    made = _having_figure(scope, rng, t, None, _distinct(scope, g), conds)
    if made is None:
        return None
    slots: dict = {"t": t, "g": g, "where": conds}
    feats = ["filter"] if conds else []
    q = _select(scope, t, scope.ref(g)).group_by(scope.ref(g))
    q = _having_query(scope, rng, q.where(scope.where(conds)) if conds else q, made, slots, feats)
    return Built(q, "having_agg", "medium", tuple(feats), (t,), slots)


def between(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    if t is None:
        return None
    dates, nums = scope.cols(t, "date"), scope.cols(t, "num")
    col = _pick(rng, dates + nums)
    if col is None:
        return None
    cond = scope.date_range(col, rng) if col in dates else scope.filter_cond(col, rng, ("between",))
    if cond is None or cond.op not in ("between", "range"):
        return None
    label = scope.label_col(t)
    q = _select(scope, t, scope.ref(label), scope.ref(col)).where(scope.where([cond]))
    slots = {"t": t, "cols": [label, col], "where": [cond]}
    feats = (
        ("projection", "between", "filter") if cond.op == "between" else ("projection", "filter")
    )
    return Built(q, "filter_list", "medium", feats, (t,), slots)


def like(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    # LIKE only on real text: PostgreSQL has no LIKE for enum or other user-defined types.
    col = _pick(rng, [c for c in scope.cols(t, "text") if c.type == "text"]) if t else None
    cond = scope.filter_cond(col, rng, ("like_prefix", "like_contains")) if col else None
    if cond is None or not cond.op.startswith("like"):
        return None
    label = scope.label_col(t)
    shown = [label] if label.column == col.column else [label, col]
    if rng.random() < 0.35:
        q = _select(scope, t, exp.Count(this=exp.Star())).where(scope.where([cond]))
        return Built(
            q, "count", "medium", ("count", "like", "filter"), (t,), {"t": t, "where": [cond]}
        )
    q = _select(scope, t, *(scope.ref(c) for c in shown)).where(scope.where([cond]))
    slots = {"t": t, "cols": shown, "where": [cond]}
    feats = ["projection", "like", "filter"]
    _sort_listing(scope, rng, q, t, slots, feats, [c.column for c in shown])
    return Built(q, "filter_list", "medium", tuple(feats), (t,), slots)


def null_check(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    if t is None:
        return None
    cols = [c for c in scope.cols(t, "any") if c.column.name not in t.primary_key]
    col = _pick(rng, cols)
    if col is None:
        return None
    note = (col.column.comment or "").lower()
    maybe_null = col.column.nullable or "null" in note or "为空" in note
    op = "is_null" if maybe_null and rng.random() < 0.6 else "not_null"
    cond = Cond(col, op)
    q = _select(scope, t, exp.Count(this=exp.Star())).where(scope.where([cond]))
    return Built(
        q, "count", "medium", ("count", "is_null", "filter"), (t,), {"t": t, "where": [cond]}
    )


def agg_filter(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    num = _pick(rng, scope.cols(t, "num")) if t else None
    cond = _other_filter(scope, rng, t, num) if num else None
    if cond is None:
        return None
    # The spread of a measure (MAX - MIN), or one total per another; the condition is on
    # a category, never on the measures these take.
    if rng.random() < 0.25 and (
        made := _figure(scope, rng, t, None, None, rng.choice(("spread", "per_measure")))
    ):
        q = _select(scope, t, made[0]).where(scope.where([cond]))
        slots = {"t": t, "agg": made[1], "where": [cond]}
        return Built(q, "agg", "medium", ("aggregate", "filter", "arithmetic"), (t,), slots)
    func = _func(scope, rng, num)
    q = _select(scope, t, AGGS[func](this=scope.ref(num))).where(scope.where([cond]))
    slots = {"t": t, "agg": (func, num, t), "where": [cond]}
    return Built(q, "agg", "medium", ("aggregate", "filter"), (t,), slots)


def _edge(scope: Scope, rng: Random) -> Edge | None:
    return _pick(rng, scope.edges)


def _one_to_one(e: Edge) -> bool:
    """Whether the child's link is itself unique (one shipment per order): each parent row
    has at most one child row."""
    return e.cols == e.child.primary_key or e.cols in e.child.unique


# ---------------------------------------------------------------- hard


def _path3(scope: Scope, rng: Random) -> tuple[Edge, Edge] | None:
    """Two FK edges that join three distinct tables without fanning out.

    Either a chain (child -> parent -> grandparent) or two parents of one child; never two
    children of one parent, whose join multiplies each child's rows by the other's.
    """
    options = []
    for e1 in scope.edges:
        for e2 in scope.edges:
            ends1 = {e1.child.qualified_name, e1.parent.qualified_name}
            ends2 = {e2.child.qualified_name, e2.parent.qualified_name}
            shared = e1.parent.qualified_name == e2.parent.qualified_name
            if e1 is not e2 and not shared and len(ends1 & ends2) == 1 and len(ends1 | ends2) == 3:
                options.append((e1, e2))
    return rng.choice(options) if options else None


def join3(scope: Scope, rng: Random) -> Built | None:
    """Aggregate the fact table of a 3-table FK path, grouped by a column of the far end.

    The fact table is the one that is a child in most of the two edges (the middle of a
    star like products <- inventory -> stores, or the leaf of a chain), so that COUNT and
    SUM count its rows, not rows multiplied by the join.
    """
    path = _path3(scope, rng)
    if path is None:
        return None
    e1, e2 = path
    tables = {}
    for e in path:
        for t in (e.child, e.parent):
            tables.setdefault(t.qualified_name, t)
    children = Counter(e.child.qualified_name for e in path)
    parents = Counter(e.parent.qualified_name for e in path)
    fact_name = max(tables, key=lambda n: (children[n], -parents[n]))
    # Walk outward from the fact table: the edge touching it first.
    first = e1 if fact_name in (e1.child.qualified_name, e1.parent.qualified_name) else e2
    second = e2 if first is e1 else e1
    aliases = {fact_name: "t1"}
    order = []
    for e in (first, second):
        new = e.parent if e.child.qualified_name in aliases else e.child
        aliases[new.qualified_name] = f"t{len(aliases) + 1}"
        order.append((e, new))
    fact = tables[fact_name]
    far = order[-1][1]
    g = (_pick(rng, scope.cols(far, "cat")) or scope.label_col(far)).at(aliases[far.qualified_name])
    mid = order[0][1]
    groups = [g]
    if children[fact_name] == 2:
        # Both others are parents of the fact table: group by one column of each, so the
        # second join is not a mere (hidden) filter.
        g2 = _pick(rng, scope.cols(mid, "cat")) or scope.label_col(mid)
        groups = [g2.at(aliases[mid.qualified_name]), g]
    agg, aslot = _agg(scope, rng, fact, "t1")
    q = _select(scope, fact, *(scope.ref(c) for c in groups), agg.as_("total"), alias="t1")
    for e, new in order:
        on = scope.join_on(e, aliases[e.child.qualified_name], aliases[e.parent.qualified_name])
        q = q.join(scope.table_ref(new, aliases[new.qualified_name]), on=on, copy=False)
    q = q.group_by(*(scope.ref(c) for c in groups), copy=False)
    slots = {"t": fact, "t2": mid, "t3": far, "g": groups[0], "agg": aslot}
    slots.update(g2=groups[1] if len(groups) > 1 else None)
    if len(groups) == 1:  # a chain: the middle table is the way to the far end
        slots["via"] = mid
    feats = ["join", "multi_join", "group_by", "aggregate"]
    feats += ["count"] if aslot[0] == "count" else []
    shape = "join3"
    if rng.random() < 0.5:  # sorted by the figure: every group, or the top N of them
        q, top = _sort_groups(scope, rng, q, exp.column("total"), 0.8, aslot, slots, feats, 0.5)
        shape = "group_top" if top else shape
    return Built(q, shape, "hard", tuple(feats), (fact, mid, far), slots)


def _single_edges(scope: Scope) -> list[Edge]:
    return [e for e in scope.edges if len(e.cols) == 1]


def subquery_in(scope: Scope, rng: Random) -> Built | None:
    e = _pick(rng, _single_edges(scope))
    if e is None:
        return None
    fcol = _pick(rng, scope.cols(e.child, "cat"))
    cond = scope.filter_cond(fcol, rng) if fcol else None
    if cond is None:
        return None
    inner = _select(scope, e.child, exp.Column(this=scope.ident(e.cols[0]))).where(
        scope.where([cond]), copy=False
    )
    label = scope.label_col(e.parent)
    q = _select(scope, e.parent, scope.ref(label)).where(
        exp.In(this=exp.Column(this=scope.ident(e.ref_cols[0])), query=inner.subquery(copy=False)),
        copy=False,
    )
    slots = {"t": e.parent, "t2": e.child, "cols": [label], "where": [cond]}
    feats = ("subquery_in", "projection", "filter")
    return Built(q, "in_sub", "hard", feats, (e.parent, e.child), slots)


def exists(scope: Scope, rng: Random) -> Built | None:
    e = _pick(rng, scope.edges)
    if e is None:
        return None
    negate = rng.random() < 0.4
    inner = _select(
        scope,
        e.child,
        exp.Column(this=scope.ident(e.cols[0]), table=exp.to_identifier("t2")),
        alias="t2",
    )
    inner = inner.where(scope.join_on(e, "t2", "t1"))
    pred: exp.Expr = exp.Exists(this=inner)
    if negate:
        pred = exp.Not(this=pred)
    q = _select(scope, e.parent, exp.Count(this=exp.Star()), alias="t1").where(pred)
    slots = {"t": e.parent, "t2": e.child, "negate": negate}
    return Built(q, "exists", "hard", ("exists", "count"), (e.parent, e.child), slots)


def scalar_subquery(scope: Scope, rng: Random) -> Built | None:
    """Rows compared with an aggregate: ``products priced above the average price``."""
    t = _table(scope, rng)
    num = _pick(rng, scope.cols(t, "num")) if t else None
    if num is None:
        return None
    label = scope.label_col(t)
    above = rng.random() < 0.7
    inner = _select(scope, t, exp.Avg(this=scope.ref(num)))
    cmp = exp.GT if above else exp.LT
    q = _select(scope, t, scope.ref(label), scope.ref(num)).where(
        cmp(this=scope.ref(num), expression=inner.subquery())
    )
    slots = {"t": t, "cols": [label, num], "num": num, "above": above}
    feats = ["scalar_subquery", "aggregate", "projection"]
    if t.row_count is None or t.row_count > 400:  # a long list: the few extreme ones
        n = _n(rng)
        q = q.order_by(scope.ordered(scope.ref(num), above)).limit(n.node)
        slots.update(n=n, order=(num, above))
        feats += ["order_by", "limit"]
    shape = "scalar_sub_top" if "n" in slots else "scalar_sub"
    return Built(q, shape, "hard", tuple(feats), (t,), slots)


def set_operation(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    if t is None:
        return None
    fcol = _pick(rng, scope.cols(t, "cat"))
    if fcol is None:
        return None
    vals = scope.values(t, fcol.column)
    if len(vals) < 2:
        return None
    v1, v2 = rng.sample(list(vals[:_PICK]), 2)
    keys = [Col(t, c) for c in t.columns if c.name != fcol.column.name and not c.sensitive
            and any(c.name in fk.columns for fk in t.foreign_keys)]  # fmt: skip
    names = scope.cols(t, "label")
    shown = _pick(rng, keys) or _pick(rng, names)
    if shown is None:  # nothing a person would list: the row's own key says nothing
        return None
    # Two filters on one column rarely share a row's own label: only UNION is non-empty then.
    op = rng.choice(("union", "union", "intersect", "except")) if keys else "union"
    c1, c2 = Cond(fcol, "eq", (v1,)), Cond(fcol, "eq", (v2,))
    left = _select(scope, t, scope.ref(shown)).where(scope.cond(c1))
    right = _select(scope, t, scope.ref(shown)).where(scope.cond(c2))
    node = {"union": exp.union, "intersect": exp.intersect, "except": exp.except_}[op]
    q = node(left, right, distinct=True)
    slots = {"t": t, "g": shown, "where": [c1, c2], "setop": op}
    return Built(q, "setop", "hard", ("set_operation", "filter", "projection"), (t,), slots)


def both(scope: Scope, rng: Random) -> Built | None:
    """Entities related to both of two values (relational division): ``customers with
    orders in the channel 'store' and orders in the channel 'online'`` --
    ``SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE channel
    IN ('store', 'online') GROUP BY customer_id HAVING COUNT(DISTINCT channel) = 2)``; or,
    through a link table, values of a third table (``authors in both the domain 'A' and
    the domain 'B'``: author <- domain_author -> domain)."""
    options = [("child", e, None) for e in _single_edges(scope)]
    options += [("bridge", e, d) for e in _single_edges(scope) for d in _single_edges(scope)
                if d.child is e.child and d.parent is not e.parent
                and e.child not in (e.parent, d.parent)]  # fmt: skip
    if not options:
        return None
    kind, e, d = rng.choice(options)
    return _both_child(scope, rng, e) if kind == "child" else _both_bridge(scope, rng, e, d)


# What "both" is asked of: fewer expected entities than this, and the answer is most often
# empty (an entity needs rows with each of the two values).
_BOTH_EXPECTED = 0.5


def _both_values(scope: Scope, rng: Random, col: Col, per: float, entities: int,
                 unique: bool) -> tuple[Lit, Lit] | None:  # fmt: skip
    """Two values of ``col`` that some of ``entities`` (each with about ``per`` related
    rows) likely have both of: among the most frequent ones (any two of a unique name).
    None when even a typical pair is unlikely (fewer than two rows per entity, or so many
    values that one entity's rows rarely reach two of them)."""
    vals = scope.values(col.table, col.column)
    n = (col.table.row_count or len(vals)) if unique else _distinct(scope, col)
    if len(vals) < 2 or per < 1.5 or entities * min(1.0, per / max(n, 1)) ** 2 < _BOTH_EXPECTED:
        return None
    a, b = rng.sample(list(vals[: _PICK if unique else 4]), 2)
    return a, b


def _both_cols(scope: Scope, table) -> list[Col]:
    """The columns "both" may be asked of: a category (not a yes/no flag, whose two values
    say nothing together, nor a float, never compared for equality) or a name."""
    return [c for c in scope.cols(table, "cat") + scope.cols(table, "label")
            if scope.role(table, c.column).role != "flag" and c.type != "float"]  # fmt: skip


def _both_query(scope: Scope, entity, key: str, inner: exp.Select) -> tuple[exp.Select, Col]:
    """``SELECT <entity's label> FROM entity WHERE key IN (inner)``, and that label."""
    label = scope.label_col(entity)
    cond = exp.In(this=exp.Column(this=scope.ident(key)), query=inner.subquery())
    return _select(scope, entity, scope.ref(label)).where(cond), label


def _both_built(q: exp.Select, col: Col, pair: tuple[Lit, Lit], label: Col, tables: tuple,
                t2) -> Built:  # fmt: skip
    slots = {"t": tables[0], "t2": t2, "cols": [label],
             "where": [Cond(col, "eq", (pair[0],)), Cond(col, "eq", (pair[1],))]}  # fmt: skip
    feats = ("subquery_in", "group_by", "having", "count", "distinct", "filter", "projection")
    return Built(q, "both", "hard", feats, tables, slots)


def _both_child(scope: Scope, rng: Random, e: Edge) -> Built | None:
    """Parents with children of both values of a child's category."""
    col = _pick(rng, [c for c in _both_cols(scope, e.child) if c.column.name not in e.cols])
    if col is None:
        return None
    per = (e.child.row_count or 0) / max(e.parent.row_count or 1, 1)
    pair = _both_values(scope, rng, col, per, e.parent.row_count or 0, False)
    if pair is None:
        return None
    fk = exp.Column(this=scope.ident(e.cols[0]))
    inner = (
        _select(scope, e.child, fk)
        .where(exp.In(this=scope.ref(col), expressions=[v.node.copy() for v in pair]))
        .group_by(fk.copy())
        .having(exp.EQ(this=exp.Count(this=exp.Distinct(expressions=[scope.ref(col)])),
                       expression=exp.Literal.number(2)))
    )  # fmt: skip
    q, label = _both_query(scope, e.parent, e.ref_cols[0], inner)
    return _both_built(q, col, pair, label, (e.parent, e.child), e.child)


def _both_bridge(scope: Scope, rng: Random, e: Edge, d: Edge) -> Built | None:
    """Entities (``e.parent``) linked through a link table (``e.child``) to both of two
    rows of a third table (``d.parent``), named by a unique name or a category of it.  By
    a unique name the link table's own key to the third table is counted, the names
    looked up in a nested IN most of the time; otherwise the third table is joined."""
    link, entity, other = e.child, e.parent, d.parent
    col = _pick(rng, _both_cols(scope, other))
    if col is None:
        return None
    unique = scope.unique(other, col.column)
    per = (link.row_count or 0) / max(entity.row_count or 1, 1)
    pair = _both_values(scope, rng, col, per, entity.row_count or 0, unique)
    if pair is None:
        return None
    values = [v.node.copy() for v in pair]
    two = exp.Literal.number(2)
    fk = exp.Column(this=scope.ident(e.cols[0]))
    if unique and rng.random() < 0.7:
        link_col = exp.Column(this=scope.ident(d.cols[0]))
        names = _select(scope, other, exp.Column(this=scope.ident(d.ref_cols[0]))).where(
            exp.In(this=scope.ref(col), expressions=values)
        )
        inner = (
            _select(scope, link, fk)
            .where(exp.In(this=link_col, query=names.subquery()))
            .group_by(fk.copy())
            .having(exp.EQ(this=exp.Count(this=exp.Distinct(expressions=[link_col.copy()])),
                           expression=two))
        )  # fmt: skip
    else:
        j = _Join(scope, (d,), link)
        at, fk = j.at(col), exp.Column(this=scope.ident(e.cols[0]), table=exp.to_identifier("t1"))
        inner = (
            j.select(fk)
            .where(exp.In(this=scope.ref(at), expressions=values))
            .group_by(fk.copy())
            .having(exp.EQ(this=exp.Count(this=exp.Distinct(expressions=[scope.ref(at)])),
                           expression=two))
        )  # fmt: skip
    q, label = _both_query(scope, entity, e.ref_cols[0], inner)
    return _both_built(q, col, pair, label, (entity, link, other), other)


_CASE_LABELS = {"en": ("high", "low"), "zh": ("高", "低")}


def case_label(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    num = _pick(rng, scope.cols(t, "num")) if t else None
    if num is None:
        return None
    vals = sorted(scope.values(t, num.column), key=lambda x: float(x.text))
    v = vals[len(vals) // 2]
    hi, lo = (Lit(exp.Literal.string(s), s, True) for s in _CASE_LABELS[scope.language])
    label = scope.label_col(t)
    case = exp.Case(
        ifs=[exp.If(this=exp.GTE(this=scope.ref(num), expression=v.node.copy()), true=hi.node)],
        default=lo.node,
    )
    n = _n(rng)
    q = (
        _select(scope, t, scope.ref(label), scope.ref(num), case.as_("level"))
        .order_by(scope.ordered(scope.ref(num), True))
        .limit(n.node)
    )
    slots = {
        "t": t,
        "cols": [label, num],
        "num": num,
        "v": v,
        "hi": hi,
        "lo": lo,
        "n": n,
        "order": (num, True),
    }
    return Built(q, "case", "hard", ("case", "projection", "order_by", "limit"), (t,), slots)


def window_top(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    if t is None:
        return None
    g, num = _pick(rng, scope.cols(t, "cat")), _pick(rng, scope.cols(t, "num"))
    if g is None or num is None:
        return None
    label = scope.label_col(t)
    k = rng.choice((1, 2, 3))
    kl = Lit(exp.Literal.number(k), str(k), False)
    func = rng.choice((exp.RowNumber, exp.Rank))
    over = exp.Window(
        this=func(),
        partition_by=[scope.ref(g)],
        order=exp.Order(expressions=[scope.ordered(scope.ref(num), True)]),
    )
    # Each column once: a label that is also the ranked measure, shown twice, made the
    # outer query's ``ranked.<name>`` ambiguous.
    cols: list[Col] = []
    for c in (g, label, num):
        if all(c.column.name != d.column.name for d in cols):
            cols.append(c)
    # Named, so that the outer query can refer to a CAST column too.
    named = [ref if isinstance(ref := scope.ref(c), exp.Column) else ref.as_(c.column.name)
             for c in cols]  # fmt: skip
    inner = _select(scope, t, *named, over.as_("rn"))
    outer_cols = [
        exp.Column(this=scope.ident(c.column.name), table=exp.to_identifier("ranked")) for c in cols
    ]
    q = (
        sqlglot.select(*outer_cols)
        .from_(inner.subquery("ranked"))
        .where(exp.LTE(this=exp.column("rn", table="ranked"), expression=kl.node))
        .order_by(
            scope.ordered(
                exp.Column(this=scope.ident(g.column.name), table=exp.to_identifier("ranked")),
                False,
            ),
            scope.ordered(exp.column("rn", table="ranked"), False),
        )
    )
    slots = {"t": t, "g": g, "cols": cols, "num": num, "k": kl, "rank": func is exp.Rank}
    return Built(q, "window", "hard", ("window", "projection", "order_by", "filter"), (t,), slots)


def date_month(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    d = _pick(rng, scope.cols(t, "date")) if t else None
    cond = scope.year_cond(d, rng) if d else None
    if cond is None:
        return None
    bucket = dialects.month_bucket(scope.ref(d), scope.dialect)
    agg, aslot = _agg(scope, rng, t)
    q = (
        _select(scope, t, bucket.as_("month_label"), agg.as_("total"))
        .where(scope.where([cond]))
        .group_by(bucket.copy())
        .order_by(scope.ordered(exp.column("month_label"), False))
    )
    slots = {"t": t, "d": d, "agg": aslot, "where": [cond], "year": cond.values[0]}
    feats = ["date_bucket", "group_by", "aggregate", "filter", "order_by"]
    feats += ["count"] if aslot[0] == "count" else []
    return Built(q, "date_month", "hard", tuple(feats), (t,), slots)


def date_year(scope: Scope, rng: Random) -> Built | None:
    t = _table(scope, rng)
    d = _pick(rng, scope.cols(t, "date")) if t else None
    if d is None:
        return None
    bucket = dialects.year_of(scope.ref(d), scope.dialect)
    agg, aslot = _agg(scope, rng, t)
    q = (
        _select(scope, t, bucket.as_("year_no"), agg.as_("total"))
        .group_by(bucket.copy())
        .order_by(scope.ordered(exp.column("year_no"), False))
    )
    slots = {"t": t, "d": d, "agg": aslot}
    feats = ["date_bucket", "group_by", "aggregate", "order_by"] + (
        ["count"] if aslot[0] == "count" else []
    )
    return Built(q, "date_year", "hard", tuple(feats), (t,), slots)


# ---------------------------------------------------------------- listings, joins, argmax, negation


def plain_list(scope: Scope, rng: Random) -> Built | None:
    """Every row of a small table: ``List the names of all regions.``"""
    t = _table(scope, rng)
    if t is None or t.row_count is None or t.row_count > 200:
        return None
    label = scope.label_col(t)
    extra = _pick(rng, [c for c in scope.cols(t, "any") if c.column != label.column] + [None])
    shown = [label] + ([extra] if extra else [])
    q = _select(scope, t, *(scope.ref(c) for c in shown))
    slots = {"t": t, "cols": shown}
    feats = ["projection"]
    _sort_listing(scope, rng, q, t, slots, feats, [c.column for c in shown])
    return Built(q, "plain_list", "easy", tuple(feats), (t,), slots)


def select_star(scope: Scope, rng: Random) -> Built | None:
    """``Show all information about the product 'X'`` -> ``SELECT * ... WHERE name = 'X'``."""
    t = _table(scope, rng)
    if t is None:
        return None
    col = _pick(rng, scope.cols(t, "label")) or _pick(rng, scope.cols(t, "cat"))
    cond = scope.filter_cond(col, rng) if col else None
    if cond is None:
        return None
    q = _select(scope, t, exp.Star()).where(scope.where([cond]))
    return Built(
        q, "select_star", "easy", ("projection", "filter"), (t,), {"t": t, "where": [cond]}
    )


class _Join:
    """One or two FK joins over distinct tables, aliased ``t1``..``t3`` from ``first``."""

    def __init__(self, scope: Scope, edges: tuple[Edge, ...], first):
        self.scope, self.edges = scope, edges
        self.alias = {first.qualified_name: "t1"}
        self.tables = [first]
        self.order: list[tuple[Edge, object]] = []
        todo = list(edges)
        while todo:
            e = next(
                e for e in todo
                if e.child.qualified_name in self.alias or e.parent.qualified_name in self.alias
            )  # fmt: skip
            todo.remove(e)
            new = e.parent if e.child.qualified_name in self.alias else e.child
            self.alias[new.qualified_name] = f"t{len(self.alias) + 1}"
            self.tables.append(new)
            self.order.append((e, new))

    def at(self, col: Col) -> Col:
        return col.at(self.alias[col.table.qualified_name])

    def is_parent(self, table) -> bool:
        """Whether rows of ``table`` can repeat in the join (it is the parent of an edge)."""
        return any(e.parent.qualified_name == table.qualified_name for e in self.edges)

    def select(self, *cols) -> exp.Select:
        q = _select(self.scope, self.tables[0], *cols, alias="t1")
        for e, new in self.order:
            on = self.scope.join_on(
                e, self.alias[e.child.qualified_name], self.alias[e.parent.qualified_name]
            )
            ref = self.scope.table_ref(new, self.alias[new.qualified_name])
            q = q.join(ref, on=on, copy=False)  # q and on are new here: nothing to copy
        return q


def _join(scope: Scope, rng: Random, two: float = 0.3) -> _Join | None:
    """A one-edge join, or (with probability ``two``) a two-edge one when the topic has one."""
    path = _path3(scope, rng) if rng.random() < two else None
    if path is not None:
        tables = {t.qualified_name: t for e in path for t in (e.child, e.parent)}
        return _Join(scope, path, tables[rng.choice(sorted(tables))])
    e = _edge(scope, rng)
    return _Join(scope, (e,), rng.choice((e.child, e.parent))) if e else None


class _Path:
    """A two-edge join seen from its fact table ``t1``, whose rows are counted: the leaf of a
    chain (``fact -> mid -> far``) or the child of two parents (``p1 <- fact -> p2``).
    Each fact row meets one row of each other table, so nothing is counted twice."""

    def __init__(self, scope: Scope, path: tuple[Edge, Edge]):
        tables = {t.qualified_name: t for e in path for t in (e.child, e.parent)}
        children = Counter(e.child.qualified_name for e in path)
        parents = Counter(e.parent.qualified_name for e in path)
        name = max(tables, key=lambda n: (children[n], -parents[n]))
        self.fact = tables[name]
        self.star = children[name] == 2
        self.join = _Join(scope, path, self.fact)
        self.mid, self.far = self.join.tables[1], self.join.tables[2]
        # The fact's own link columns the join uses: never the subject of a distinct count.
        self.joined = tuple(c for e in path if e.child is self.fact for c in e.cols)


def _fact_path(scope: Scope, rng: Random) -> _Path | None:
    """A two-edge path whose fact table is a child (a chain from its leaf, or a star)."""
    path = _path3(scope, rng)
    if path is None:
        return None
    p = _Path(scope, path)
    return p if p.star or not p.join.is_parent(p.fact) else None


def _path_groups(scope: Scope, rng: Random, p: _Path):
    """What a grouped question over a fact's two-edge path groups by, and what it filters
    by so that every join is needed: ``(groups, g_row, g2, conds, via)``.

    A chain groups by its far end (the middle table is named as the way there: ``via``) or
    by its middle with a condition on the far end; a star groups by one column of each
    parent, or by one parent with a condition on the other.
    """
    j = p.join
    if p.star:
        first, second = rng.sample([p.mid, p.far], 2)
        if rng.random() < 0.5:
            g1 = _pick(rng, scope.cols(first, "cat")) or scope.label_col(first)
            g2 = _pick(rng, scope.cols(second, "cat")) or scope.label_col(second)
            return [j.at(g1), j.at(g2)], False, j.at(g2), [], None
        groups, row = _group_of(scope, rng, j, first)
        cond = _row_filter(scope, rng, second)
        if not groups or cond is None:
            return None
        return groups, row, None, [Cond(j.at(cond.col), cond.op, cond.values)], None
    if rng.random() < 0.6:
        groups, row = _group_of(scope, rng, j, p.far)
        if not groups:
            return None
        return groups, row, None, [], p.mid
    groups, row = _group_of(scope, rng, j, p.mid)
    cond = _row_filter(scope, rng, p.far)
    if not groups or cond is None:
        return None
    return groups, row, None, [Cond(j.at(cond.col), cond.op, cond.values)], None


def _row_filter(scope: Scope, rng: Random, table) -> Cond | None:
    """A condition naming rows of ``table`` the way people do: by name, else by a category."""
    col = _pick(rng, scope.cols(table, "label")) if rng.random() < 0.6 else None
    col = col or _pick(rng, scope.cols(table, "cat")) or _pick(rng, scope.cols(table, "label"))
    return scope.filter_cond(col, rng) if col else None


def join_list(scope: Scope, rng: Random) -> Built | None:
    """Rows of one table picked by a condition on a joined one:
    ``titles of albums by the artist 'AC/DC'``."""
    if rng.random() < 0.12 and (made := _chain_list(scope, rng)) is not None:
        return made
    j = _join(scope, rng)
    if j is None:
        return None
    shown_t, filter_t = rng.sample(j.tables, 2)
    if len(j.edges) == 1 and rng.random() < 0.3:
        return _join_pairs(scope, rng, j)
    cond = _row_filter(scope, rng, filter_t)
    if cond is None:
        return None
    cond = Cond(j.at(cond.col), cond.op, cond.values)
    label = j.at(scope.label_col(shown_t))
    shown = [label]
    extra = _pick(rng, [c for c in scope.cols(shown_t, "any") if c.column != label.column])
    if extra is not None and rng.random() < 0.4 and not j.is_parent(shown_t):
        shown.append(j.at(extra))
    q = j.select(*(scope.ref(c) for c in shown)).where(scope.where([cond]), copy=False)
    feats = ["join", "projection", "filter"]
    sort = None
    if j.is_parent(shown_t):  # a parent row repeats once per matching child
        q = q.distinct()
        feats.append("distinct")
    elif rng.random() < 0.3 and (col := _pick(rng, scope.cols(shown_t, "num"))) is not None:
        desc = rng.random() < 0.6  # sorted by a measure of the listed rows
        col = j.at(col)
        if all(c.column != col.column for c in shown):
            shown.append(col)
            q.select(scope.ref(col), copy=False)
        q = q.order_by(scope.ordered(scope.ref(col), desc), copy=False)
        feats.append("order_by")
        sort = (col, desc)
    if len(j.edges) == 2:
        feats.append("multi_join")
    slots = {"t": shown_t, "t2": filter_t, "cols": shown, "where": [cond]}
    if sort is not None:
        slots["by"] = sort
    level = "hard" if len(j.edges) == 2 else "medium"
    return Built(q, "join_list", level, tuple(feats), tuple(j.tables), slots)


def _chain_list(scope: Scope, rng: Random) -> Built | None:
    """The far end's rows reached through a chain, no filter: ``patients who have
    treatments with an outcome`` (``SELECT DISTINCT`` the far end's name: a row repeats
    once per leaf row); or, sometimes, every leaf row with the far end's name."""
    p = _fact_path(scope, rng)
    if p is None:
        return None
    if p.star:
        return _star_pairs(scope, rng, p)
    j = p.join
    names = scope.cols(p.far, "label")
    if not names:
        return None
    far = j.at(rng.choice(names))
    slots = {"t": p.far, "t2": p.mid, "t3": p.fact, "cols": [far]}
    small = p.fact.row_count is not None and p.fact.row_count <= 1000
    if small and rng.random() < 0.3:  # each leaf row with the name at the far end
        leaf = j.at(scope.label_col(p.fact))
        q = j.select(scope.ref(leaf), scope.ref(far))
        slots.update(t=p.fact, t3=p.far, cols=[leaf], c2=far)
        return Built(q, "chain_pairs", "hard", ("join", "multi_join", "projection"),
                     tuple(j.tables), slots)  # fmt: skip
    q = j.select(scope.ref(far)).distinct()
    feats = ("join", "multi_join", "projection", "distinct")
    return Built(q, "chain_list", "hard", feats, tuple(j.tables), slots)


def _star_pairs(scope: Scope, rng: Random, p: _Path) -> Built | None:
    """Every row of a table with the names of the two rows it links to, no filter:
    ``each treatment with its patient's first name and its drug's name``; only over a
    table small enough to list."""
    j = p.join
    mid_names, far_names = scope.cols(p.mid, "label"), scope.cols(p.far, "label")
    small = p.fact.row_count is not None and p.fact.row_count <= 1000
    if not (small and mid_names and far_names):
        return None
    leaf = j.at(scope.label_col(p.fact))
    c2, c3 = j.at(rng.choice(mid_names)), j.at(rng.choice(far_names))
    q = j.select(scope.ref(leaf), scope.ref(c2), scope.ref(c3))
    slots = {"t": p.fact, "t2": p.mid, "t3": p.far, "cols": [leaf], "c2": c2, "c3": c3}
    feats = ("join", "multi_join", "projection")
    return Built(q, "star_pairs", "hard", feats, tuple(j.tables), slots)


def _join_pairs(scope: Scope, rng: Random, j: _Join) -> Built | None:
    """Every child row with its parent's name, no filter: ``each album's title and the name
    of its artist``; only over a child table small enough to list."""
    (e,) = j.edges
    names = scope.cols(e.parent, "label")  # a parent's key says nothing to a person
    if e.child.row_count is None or e.child.row_count > 1000 or not names:
        return None
    child, parent = j.at(scope.label_col(e.child)), j.at(rng.choice(names))
    q = j.select(scope.ref(child), scope.ref(parent))
    slots = {"t": e.child, "t2": e.parent, "cols": [child], "c2": parent}
    feats = ["join", "projection"]
    if rng.random() < 0.3 and (num := _pick(rng, scope.cols(e.child, "num"))) is not None:
        desc = rng.random() < 0.6
        q = q.order_by(scope.ordered(scope.ref(j.at(num)), desc))
        slots["by"] = (j.at(num), desc)
        slots["cols"] = [child, j.at(num)]
        q = j.select(*(scope.ref(c) for c in slots["cols"]), scope.ref(parent)).order_by(
            scope.ordered(scope.ref(j.at(num)), desc)
        )
        feats.append("order_by")
    return Built(q, "join_pairs", "medium", tuple(feats), (e.child, e.parent), slots)


def join_agg(scope: Scope, rng: Random) -> Built | None:
    """An aggregate of child rows picked through their parent:
    ``how many albums does the artist 'Metallica' have``; or, over a two-edge path, through
    a grandparent or a second parent (``how many tracks does the artist 'X' have``)."""
    p = _fact_path(scope, rng) if rng.random() < 0.25 else None
    extra: list[Cond] = []
    if p is not None:
        # From the fact table, so that nothing is counted twice: through a chain to its
        # far end (the middle join is needed to get there), or through both parents of a
        # star with a condition on each, so that neither join is a filter nobody said
        # (``transactions of customers in 'CA' in tickers of type 'stock'``).
        j, fact, via, joined = p.join, p.fact, p.far, p.joined
        if p.star:
            first = _row_filter(scope, rng, p.mid)
            if first is None:
                return None
            extra = [Cond(j.at(first.col), first.op, first.values)]
    else:
        e = _edge(scope, rng)
        if e is None:
            return None
        fact, via, joined = e.child, e.parent, e.cols
        j = _Join(scope, (e,), fact)
    cond = _row_filter(scope, rng, via)
    if cond is None:
        return None
    conds = [*extra, Cond(j.at(cond.col), cond.op, cond.values)]
    # A distinct count, a product or a composed figure; not one that only a grouped
    # question needs (a conditional count under a WHERE is a second WHERE).
    kinds = ("count_distinct", "product", *(k for k in _FIGURES if k not in _GROUPED_ONLY))
    agg, aslot = _agg(scope, rng, fact, "t1", extra=True, kinds=kinds, joined=joined)
    q = j.select(agg).where(scope.where(conds), copy=False)
    feats = ["join", "filter", *_agg_features(agg)]
    feats += ["multi_join"] if p is not None else []
    slots = {"t": fact, "t2": via, "agg": aslot, "where": conds}
    if p is not None and not p.star:
        slots["via"] = p.mid
    if rng.random() < _SECOND_AGG and (
        second := _second_agg(scope, rng, fact, aslot, "t1", taken=tuple(conds), joined=joined)
    ):
        q.select(second[0], copy=False)
        slots["agg2"] = second[1]
    return Built(q, "join_agg", "medium", tuple(feats), tuple(j.tables), slots)


def _group_of(scope: Scope, rng: Random, j: _Join, table) -> tuple[list[Col], bool]:
    """What to group ``table``'s rows by in a join: a category, or the row itself (its key
    and label, so that two rows sharing a name stay apart)."""
    cat = _pick(rng, scope.cols(table, "cat")) if rng.random() < 0.35 else None
    if cat is not None:
        return [j.at(cat)], False
    label = j.at(scope.label_col(table))
    key = scope.key_col(table)
    if scope.role(label.table, label.column).role == "text":
        # No name column, only free text (a description): groups by the key alone, or
        # by a category; never by the text.
        if key is not None:
            return [j.at(key)], True
        cat = _pick(rng, scope.cols(table, "cat"))
        return ([j.at(cat)], False) if cat is not None else ([], False)
    return ([label] if key is None or key.column == label.column else [label, j.at(key)]), True


def _grouped_join(scope: Scope, rng: Random, path: float):
    """The join, grouping and conditions of a grouped question over a fact table's joined
    parents: one edge (``the number of albums of each artist``) or, with probability
    ``path``, a two-edge path (:func:`_path_groups`).  Returns ``(join, fact, groups,
    slots, conds, joined)``; ``slots`` says the tables, the grouping and the way there."""
    p = _fact_path(scope, rng) if rng.random() < path else None
    if p is not None and (made := _path_groups(scope, rng, p)) is not None:
        groups, row, g2, conds, via = made
        slots = {"t": p.fact, "t2": p.mid, "t3": p.far, "g": groups[0], "g_row": row}
        if g2 is not None:  # one column of each parent, both grouped by and shown
            slots.update(g=groups[0], g2=g2, g_row=False)
        if via is not None:
            slots["via"] = via
        return p.join, p.fact, groups, slots, conds, p.joined
    e = _edge(scope, rng)
    if e is None:
        return None
    j = _Join(scope, (e,), e.child)
    groups, row = _group_of(scope, rng, j, e.parent)
    if not groups or (row and _one_to_one(e)):
        return None  # a parent row has at most one row of a 1:1 extension: nothing to sum
    slots = {"t": e.child, "t2": e.parent, "g": groups[0], "g_row": row}
    # Grouped by a category of the parent, the link to it has many values per group: how
    # many different parents the group's rows belong to, and the rows per parent ("the
    # number of authors per organization on each continent") are figures of the group.
    return j, e.child, groups, slots, [], e.cols if row else ()


# How often a grouped join goes over a two-edge path when the topic has one: three tables
# are in 14% of people's grouped joins (defog), in 26% of ours at 0.2.  With the rest of the
# 2026-12-01 changes, defog shapes covered at 0.12: 210.25, 210.0, 209.0 of 247 (three
# variants, mean of seeds 1-4); at 0.2: 206.75 and 206.75 (two).
_PATH_GROUP = 0.12
# How often a grouped question also gives a second figure of its rows, and how often it
# is ranked by that second figure.
_SECOND_GROUP = 0.35
_BY_SECOND = 0.4


def _shown_groups(scope: Scope, slots: dict, groups: list[Col]) -> list[exp.Expr]:
    """The grouping columns a grouped join shows: its label, and a second parent's."""
    shown = [groups[0]] + ([slots["g2"]] if slots.get("g2") is not None else [])
    return [scope.ref(c) for c in shown]


def _second_ranked(scope: Scope, rng: Random, q: exp.Select, fact, aslot, slots: dict,
                   alias: str | None, joined=()) -> exp.Expr | None:  # fmt: skip
    """Adds a second figure of the group's rows (``other_value``) to ``q``, in place;
    returns what ranks the groups when it is the second figure."""
    if rng.random() >= _SECOND_GROUP:
        return None
    second = _second_agg(scope, rng, fact, aslot, alias, exclude=slots.get("g"), joined=joined)
    if second is None:
        return None
    q.select(second[0].as_("other_value"), copy=False)
    slots["agg2"] = second[1]
    if rng.random() < _BY_SECOND:
        slots["rank2"] = True
        return exp.column("other_value")
    return None


def join_group(scope: Scope, rng: Random) -> Built | None:
    """An aggregate for every parent row or parent category: ``the number of albums of each
    artist``; with a limit it is a top-N (``the 5 artists with the most albums``).  Over a
    two-edge path it groups by the far end of a chain or by a fact's two parents
    (``the number of transactions per customer state and ticker type``)."""
    made = _grouped_join(scope, rng, _PATH_GROUP)
    if made is None:
        return None
    j, fact, groups, slots, conds, joined = made
    links = []
    if len(j.edges) == 2:
        # A distinct count is the same however often the join repeats a row, so it may
        # count a link of any of the joined tables, not only the fact's: "the number of
        # different patients per diagnosis" of outcomes -> treatments -> diagnoses.
        # Never a column of the grouped row itself (one value per group), nor one the
        # path's condition fixes (one value in all).
        through = {(e.child.qualified_name, c) for e in j.edges for c in e.cols}
        rows = {g.table.qualified_name for g in groups} if slots["g_row"] else set()
        links = [
            c for t in j.tables if t.qualified_name not in rows
            for c in _countables(scope, t, groups[0], names=False)
            if (t.qualified_name, c.column.name) not in through
            and not any(_same_col(c, g) for g in groups)
            and not any(k.op == "eq" and _same_col(c, k.col) for k in conds)
        ]  # fmt: skip
    if links and rng.random() < 0.35:
        # Through a link table people count the entity at its other end: "the number of
        # different authors per journal" (writes -> paper -> journal).
        d = j.at(rng.choice(links))
        agg, aslot = (
            exp.Count(this=exp.Distinct(expressions=[scope.ref(d)])),
            ("count_distinct", d, fact),
        )
    else:
        agg, aslot = _agg(scope, rng, fact, "t1", extra=True, exclude=groups[0], joined=joined)
    q = j.select(*_shown_groups(scope, slots, groups), agg.as_("total", copy=False))
    q = q.group_by(*(scope.ref(g) for g in groups), copy=False)
    slots["agg"] = aslot
    ranked = _second_ranked(scope, rng, q, fact, aslot, slots, "t1", joined)
    feats = ["join", "group_by", "aggregate"] + (["count"] if aslot[0] == "count" else [])
    feats += ["multi_join"] if len(j.edges) == 2 else []
    # A condition on the joined rows: half of people's grouped joins carry one (defog),
    # 40% of ours did at 0.5.
    if rng.random() < 0.65:
        more = _join_filter(scope, rng, j, tuple(j.tables), groups[0], conds)
        conds = conds + _apart(slots, more)
    if conds:
        q = q.where(scope.where(conds), copy=False)
        slots["where"] = conds
        feats.append("filter")
    shape = "group_agg"
    if rng.random() < 0.65 or ranked is not None:  # sorted: every group, or the top N
        by = ranked if ranked is not None else exp.column("total")
        rank_slot = slots["agg2"] if ranked is not None else aslot
        q, top = _sort_groups(scope, rng, q, by, 0.8, rank_slot, slots, feats, 0.4)
        shape = "group_top" if top else shape
    level = "hard" if len(j.edges) == 2 else "medium"
    return Built(q, shape, level, tuple(feats), tuple(j.tables), slots)


def _join_filter(scope: Scope, rng: Random, j: _Join, tables, exclude: Col | None,
                 taken: list[Cond] = ()) -> list[Cond]:  # fmt: skip
    """A condition on one of ``tables`` of a join (:func:`_other_filter`: a category, a
    period or a measure), not on the grouping column, nor on a column ``taken``
    conditions already name."""
    table = rng.choice(tables)
    used = {(c.col.table.qualified_name, c.col.column.name) for c in taken}
    for _ in range(2):  # a column no condition names yet
        cond = _other_filter(scope, rng, table, exclude)
        if cond is not None and (table.qualified_name, cond.col.column.name) not in used:
            return [Cond(j.at(cond.col), cond.op, cond.values)]
    return []


def join_having(scope: Scope, rng: Random) -> Built | None:
    """Parent rows with at least k children: ``artists with at least 3 albums``."""
    e = _edge(scope, rng)
    if e is None:
        return None
    j = _Join(scope, (e,), e.child)
    groups, row = _group_of(scope, rng, j, e.parent)
    if not groups:
        return None
    if rng.random() < _HAVING_FIGURE and (made := _join_having_figure(scope, rng, j, groups, row)):
        return made
    per = (e.child.row_count or 100) / max(e.parent.row_count or 10, 1)
    ks = [k for k in (2, 3, 5, 10, 20, 50, 100) if k <= max(2, per * 1.5)]
    k = rng.choice(ks)
    kl = Lit(exp.Literal.number(k), str(k), False)
    q = (
        j.select(scope.ref(groups[0]))
        .group_by(*(scope.ref(g) for g in groups))
        .having(exp.GTE(this=exp.Count(this=exp.Star()), expression=kl.node))
    )
    slots = {"t": e.child, "t2": e.parent, "g": groups[0], "k": kl, "g_row": row}
    feats = ("join", "group_by", "having", "count", "aggregate")
    return Built(q, "join_having", "hard", feats, (e.child, e.parent), slots)


def _join_having_figure(scope: Scope, rng: Random, j: _Join, groups: list[Col],
                        row: bool) -> Built | None:  # fmt: skip
    """Parent rows or categories kept by a total or an average of their children, sometimes
    only of the children meeting a condition (on either table): ``stores whose online
    orders average more than 300``."""
    (e,) = j.edges
    conds = (
        _join_filter(scope, rng, j, (e.child, e.parent), groups[0]) if rng.random() < 0.5 else []
    )
    n = (e.parent.row_count or 10) if row else _distinct(scope, groups[0])
    made = _having_figure(scope, rng, e.child, "t1", n, conds)
    if made is None:
        return None
    slots: dict = {"t": e.child, "t2": e.parent, "g": groups[0], "g_row": row, "where": conds}
    feats = ["join"] + (["filter"] if conds else [])
    q = j.select(scope.ref(groups[0])).group_by(*(scope.ref(g) for g in groups))
    q = _having_query(scope, rng, q.where(scope.where(conds)) if conds else q, made, slots, feats)
    return Built(q, "having_agg", "hard", tuple(feats), (e.child, e.parent), slots)


def argmax(scope: Scope, rng: Random) -> Built | None:
    """The one row or group with the most or least of something (``ORDER BY ... LIMIT 1``),
    or every row tied for it (``WHERE x = (SELECT MAX(x) ...)``)."""
    kind = rng.choice(("row", "row", "ties", "group", "join", "join", "join_row"))
    most = rng.random() < 0.75
    one = Lit(exp.Literal.number(1), "1", False)
    if kind == "join":
        made = _grouped_join(scope, rng, _PATH_GROUP)
        if made is None:
            return None
        j, fact, groups, slots, conds, joined = made
        agg, aslot = _agg(scope, rng, fact, "t1", extra=True, exclude=groups[0], joined=joined)
        order, most = _rank(agg, most, aslot, scope)
        q = (
            j.select(*_shown_groups(scope, slots, groups))
            .group_by(*(scope.ref(g) for g in groups), copy=False)
            .order_by(order, copy=False)
            .limit(one.node, copy=False)
        )
        slots.update(agg=aslot, order=(None, most))
        feats = ["join", "group_by", "aggregate", "order_by", "limit"]
        feats += ["multi_join"] if len(j.edges) == 2 else []
        if rng.random() < 0.45:
            conds = conds + _join_filter(scope, rng, j, (fact,), groups[0], conds)
        if conds:
            q = q.where(scope.where(conds), copy=False)
            slots["where"] = conds
            feats.append("filter")
        return Built(q, "argmax_group", "medium", tuple(feats), tuple(j.tables), slots)
    if kind == "join_row":
        return _argmax_joined_row(scope, rng, most)
    t = _table(scope, rng)
    if t is None:
        return None
    if kind == "group":
        g = _pick(rng, scope.cols(t, "cat"))
        if g is None:
            return None
        agg, aslot = _agg(scope, rng, t, extra=True, exclude=g)
        order, most = _rank(agg, most, aslot, scope)
        q = _select(scope, t, scope.ref(g)).group_by(scope.ref(g), copy=False)
        q = q.order_by(order, copy=False).limit(one.node, copy=False)
        slots = {"t": t, "g": g, "agg": aslot, "order": (None, most)}
        feats = ["group_by", "aggregate", "order_by", "limit"]
        if rng.random() < 0.45 and (other := _other_filter(scope, rng, t, g)):
            q = q.where(scope.where([other]), copy=False)
            slots["where"] = [other]
            feats.append("filter")
        return Built(q, "argmax_group", "medium", tuple(feats), (t,), slots)
    num = _pick(rng, scope.cols(t, "num") + scope.cols(t, "date"))
    if num is None:
        return None
    label = scope.label_col(t)
    shown = [label] + ([num] if rng.random() < 0.4 else [])
    slots = {"t": t, "cols": shown, "num": num, "order": (num, most)}
    if kind == "ties":
        best = (exp.Max if most else exp.Min)(this=scope.ref(num))
        inner = _select(scope, t, best)
        q = _select(scope, t, *(scope.ref(c) for c in shown)).where(
            exp.EQ(this=scope.ref(num), expression=inner.subquery())
        )
        feats = ("projection", "scalar_subquery", "aggregate")
        return Built(q, "argmax_ties", "hard", feats, (t,), slots)
    q = _select(scope, t, *(scope.ref(c) for c in shown))
    conds = []
    if rng.random() < 0.35 and (other := _other_filter(scope, rng, t, num)):
        conds = [other]  # "the most expensive product in category X"
        slots["where"] = conds
    not_null = exp.Not(this=exp.Is(this=scope.ref(num), expression=exp.Null()))
    if most or engines.get(scope.dialect).nulls_last_syntax:
        # NULLS LAST (written only where the dialect needs it) keeps a missing value from
        # being "the highest", as a NOT NULL filter would, without a condition to say.
        order = exp.Ordered(this=scope.ref(num), desc=most, nulls_first=False)
        q = q.where(scope.where(conds), copy=False) if conds else q
    else:
        order = scope.ordered(scope.ref(num), most)
        q = q.where(exp.and_(not_null, *(scope.cond(c) for c in conds), copy=False), copy=False)
    q = q.order_by(order, copy=False).limit(one.node, copy=False)
    feats = ("projection", "order_by", "limit") + (("filter",) if conds else ())
    return Built(q, "argmax_row", "easy", feats, (t,), slots)


def _argmax_joined_row(scope: Scope, rng: Random, most: bool) -> Built | None:
    """The fact row with the most or least of a measure among those picked through a joined
    table: ``the largest transaction of a customer in the state 'CA'``; over a chain the
    condition is on the far end, over a star on one parent, the other parent's name shown."""
    p = _fact_path(scope, rng) if rng.random() < 0.5 else None
    if p is not None:
        j, fact = p.join, p.fact
        on, other = (rng.sample([p.mid, p.far], 2)) if p.star else (p.far, None)
    else:
        e = _edge(scope, rng)
        if e is None:
            return None
        j, fact, on, other = _Join(scope, (e,), e.child), e.child, e.parent, None
    num = _pick(rng, scope.cols(fact, "num") + scope.cols(fact, "date"))
    cond = _row_filter(scope, rng, on)
    if num is None or cond is None:
        return None
    num, cond = j.at(num), Cond(j.at(cond.col), cond.op, cond.values)
    shown = [j.at(scope.label_col(fact))]
    if other is not None:  # the second parent's join shows its name, never a silent filter
        names = scope.cols(other, "label")
        if not names:
            return None
        shown.append(j.at(rng.choice(names)))
    shown += [num] if rng.random() < 0.4 else []
    q = j.select(*(scope.ref(c) for c in shown))
    if most or engines.get(scope.dialect).nulls_last_syntax:  # as in argmax: no NULL on top
        q = q.where(scope.cond(cond), copy=False)
        order = exp.Ordered(this=scope.ref(num), desc=most, nulls_first=False)
    else:
        not_null = exp.Not(this=exp.Is(this=scope.ref(num), expression=exp.Null()))
        q = q.where(exp.and_(not_null, scope.cond(cond), copy=False), copy=False)
        order = scope.ordered(scope.ref(num), most)
    q = q.order_by(order, copy=False).limit(exp.Literal.number(1), copy=False)
    slots = {"t": fact, "t2": on, "cols": shown, "num": num, "order": (num, most),
             "where": [cond]}  # fmt: skip
    if p is not None and not p.star:
        slots["via"] = p.mid
    feats = ["join", "projection", "order_by", "limit", "filter"]
    feats += ["multi_join"] if p is not None else []
    level = "hard" if p is not None else "medium"
    return Built(q, "argmax_row", level, tuple(feats), tuple(j.tables), slots)


def _child_filter(scope: Scope, rng: Random, e: Edge, alias: str | None) -> list[Cond]:
    if rng.random() < 0.5:
        return []
    col = _pick(rng, scope.cols(e.child, "cat"))
    cond = scope.filter_cond(col, rng) if col else None
    return [Cond(cond.col.at(alias), cond.op, cond.values)] if cond else []


def negation(scope: Scope, rng: Random) -> Built | None:
    """Parent rows without (matching) children, by NOT IN, NOT EXISTS or EXCEPT:
    ``artists that have no album``, ``customers with no order paid by 'card'``."""
    e = _pick(rng, _single_edges(scope))
    if e is None:
        return None
    label = scope.label_col(e.parent)
    # EXCEPT compares what is shown: only a name says which row it is (two rows can share
    # a free-text value, never a key).
    named = label.column.name in e.parent.primary_key or bool(scope.cols(e.parent, "label"))
    how = rng.choice(("not_in", "not_exists", "except") if named else ("not_in", "not_exists"))
    fk, key = e.cols[0], e.ref_cols[0]
    if how == "not_in":
        conds = _child_filter(scope, rng, e, None)
        fk_col = exp.Column(this=scope.ident(fk))
        # NOT IN over a list with a NULL is never true: keep NULLs out of the subquery.
        not_null = exp.Not(this=exp.Is(this=fk_col.copy(), expression=exp.Null()))
        inner = _select(scope, e.child, fk_col).where(
            exp.and_(not_null, *(scope.cond(c) for c in conds))
        )
        q = _select(scope, e.parent, scope.ref(label)).where(
            exp.Not(this=exp.In(this=exp.Column(this=scope.ident(key)), query=inner.subquery()))
        )
        feats = ["subquery_in", "projection", "negation"]
    elif how == "not_exists":
        conds = _child_filter(scope, rng, e, "t2")
        inner = _select(scope, e.child, exp.Literal.number(1), alias="t2").where(
            exp.and_(scope.join_on(e, "t2", "t1"), *(scope.cond(c) for c in conds))
        )
        q = _select(scope, e.parent, scope.ref(label.at("t1")), alias="t1").where(
            exp.Not(this=exp.Exists(this=inner))
        )
        feats = ["exists", "projection", "negation"]
    else:
        conds = _child_filter(scope, rng, e, "t1")
        left = _select(scope, e.parent, scope.ref(label))
        right = _Join(scope, (e,), e.child).select(scope.ref(label.at("t2")))
        if conds:
            right = right.where(scope.where(conds))
        q = exp.except_(left, right, distinct=True)
        feats = ["set_operation", "join", "projection", "negation"]
    feats += ["filter"] if conds else []
    slots = {"t": e.parent, "t2": e.child, "cols": [label], "where": conds}
    return Built(q, "negation", "hard", tuple(feats), (e.parent, e.child), slots)


def arithmetic(scope: Scope, rng: Random) -> Built | None:
    """Simple arithmetic on two measures of a row: ``unit price * quantity``, ``a - b``,
    ``a * 1.0 / NULLIF(b, 0)``; summed or averaged (over every row or the rows meeting a
    condition), or per row: the top N, the top one, or every row sorted by it."""
    t = _table(scope, rng)
    if t is None:
        return None
    return _arith_total(scope, rng, t) if rng.random() < 0.5 else _arith_rows(scope, rng, t)


def _arith_node(scope: Scope, a: Col, b: Col, op: str) -> exp.Expr:
    if op == "days":  # the days from the date b to the date a, as the engine counts them
        span = dialects.days_between(scope.ref(a), scope.ref(b), scope.dialect)
        assert span is not None  # _durations finds none where the engine cannot
        return span
    if op == "per":  # a ratio of two amounts of one row: NULL where the second is 0
        return _over(scope.ref(a), scope.ref(b))
    return (exp.Mul if op == "times" else exp.Sub)(this=scope.ref(a), expression=scope.ref(b))


def _arith_total(scope: Scope, rng: Random, t) -> Built | None:
    pair = _product(scope, rng, t)
    if pair is None:
        return None
    a, b, op = pair
    conds = []
    if rng.random() < 0.6:
        cond = _other_filter(scope, rng, t, a)
        if cond is None:
            return None
        conds = [cond]
    func = rng.choice(("sum", "sum", "avg"))
    q = _select(scope, t, AGGS[func](this=_arith_node(scope, a, b, op)))
    if conds:
        q = q.where(scope.where(conds))
    slots = {"t": t, "a": a, "b": b, "op": op, "where": conds, "fn": func}
    feats = ("aggregate", "arithmetic") + (("filter",) if conds else ())
    return Built(q, "arith_sum", "medium", feats, (t,), slots)


# How often a row with two dates of its life computes the days between them rather than
# with its measures ("the salesperson employed for the shortest time").
_DURATION = 0.5


def _row_pair(scope: Scope, rng: Random, t) -> tuple[Col, Col, str] | None:
    """Two measures of a row to compute with: a product or difference (:func:`_product`),
    or one amount per another (``amount / quantity``: the price paid per unit), or the
    number of days between two of its dates (:func:`_durations`: ``(later, earlier,
    "days")``)."""
    spans = _durations(scope, t)
    if spans and rng.random() < _DURATION:
        return (*rng.choice(spans), "days")
    adds = scope.cols(t, "sum")
    if len(adds) >= 2 and rng.random() < 0.3:
        a, b = rng.sample(adds, 2)
        return a, b, "per"
    pair = _product(scope, rng, t)
    if pair is None and spans:
        return (*rng.choice(spans), "days")
    return pair


# The stages of a row's life its dates are named after, earliest first: a row's date of
# an earlier stage comes before its date of a later one (hired, then terminated; ordered,
# then shipped, then delivered).  Stems start a word of the column's name or comment
# (``to`` / ``from`` only whole); the Chinese ones are found anywhere in the comment.
_STAGES: tuple[tuple[str, ...], ...] = (
    ("start", "begin", "from", "creat", "hire", "join", "open", "issu", "order", "birth",
     "launch", "enrol", "regist", "rent", "borrow", "开始", "创建", "入职", "下单", "出生"),
    ("ship", "dispatch", "发货"),
    ("end", "finish", "to", "clos", "terminat", "deliver", "complet", "resolv", "return",
     "expir", "due", "updat", "discontinu", "cancel", "结束", "更新", "离职", "完成", "送达",
     "到期"),
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _stage(col: Col) -> int | None:
    """The one stage of a row's life a date column is named after, by its name or, failing
    that, its comment (a comment also names the row: "the date the order shipped")."""
    c = col.column
    for text in (c.name, c.comment or ""):
        words = [w.lower() for w in _WORD.findall(text)]
        found = {
            i for i, stems in enumerate(_STAGES) for stem in stems
            if (not stem.isascii() and stem in text)
            or any(w == stem or (len(stem) > 2 and w.startswith(stem)) for w in words)
        }  # fmt: skip
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def _durations(scope: Scope, t) -> list[tuple[Col, Col]]:
    """``(later, earlier)`` date columns of ``t`` whose names say they start and end
    something of the row (``hire_date`` / ``termination_date``), where the sample values
    agree (the later column's middle value is not before the earlier one's), and only
    where the engine has a day count."""
    if dialects.days_between(exp.Null(), exp.Null(), scope.dialect) is None:
        return []
    staged = [(c, _stage(c)) for c in scope.cols(t, "date")]
    out = []
    for early, i in staged:
        for late, k in staged:
            if i is None or k is None or k <= i:
                continue
            # Medians: a few sampled values each, whose maxima differ by chance (a sample
            # of a promotion's end dates may stop before that of its start dates).
            mids = [_median_day(scope, t, c) for c in (late, early)]
            if mids[0] >= mids[1]:
                out.append((late, early))
    return out


def _median_day(scope: Scope, t, col: Col) -> str:
    days = sorted(v.text[:10] for v in scope.values(t, col.column))
    return days[len(days) // 2]


def _avg_whole(scope: Scope, node: exp.Expr) -> exp.Expr:
    """``node`` made fractional where AVG of integers is an integer (SQL Server): the
    average number of days would otherwise lose its fraction."""
    profile = engines.get(scope.dialect)
    if profile.avg_of_integers_truncates:
        return exp.Cast(this=node, to=exp.DataType.build(profile.numeric_text_type))
    return node


def _arith_rows(scope: Scope, rng: Random, t) -> Built | None:
    """Each row with a computed value, sometimes with the name of the row it links to
    (``each order line's product name and its price times quantity``)."""
    pair = _row_pair(scope, rng, t)
    if pair is None:
        return None
    a, b, op = pair
    label = scope.label_col(t)
    links = [e for e in scope.edges if e.child is t and e.parent is not t
             and scope.cols(e.parent, "label")]  # fmt: skip
    e = _pick(rng, links) if rng.random() < 0.35 else None
    alias = "t1" if e is not None else None
    a, b, label = a.at(alias), b.at(alias), label.at(alias)
    node = _arith_node(scope, a, b, op)
    shown = [label]
    name = "days" if op == "days" else "amount"
    if e is not None:
        j = _Join(scope, (e,), t)
        shown.append(j.at(rng.choice(scope.cols(e.parent, "label"))))
        q = j.select(*(scope.ref(c) for c in shown), node.as_(name))
    else:
        q = _select(scope, t, scope.ref(label), node.as_(name))
    tables = (t, e.parent) if e is not None else (t,)
    slots = {"t": t, "a": a, "b": b, "op": op, "cols": shown, "where": []}
    kind = rng.choice(("top", "top", "one", "one", "all", "plain"))
    small = t.row_count is not None and t.row_count <= 200
    if rng.random() < 0.3 and (cond := _other_filter(scope, rng, t, a)) is not None:
        cond = Cond(cond.col.at(alias), cond.op, cond.values)
        q = q.where(scope.where([cond]))
        slots["where"] = [cond]
        small = True  # a subset: listing it whole is what was asked
    if kind in ("all", "plain") and not small:
        kind = "top"
    feats = ["projection", "arithmetic"] + (["filter"] if slots["where"] else [])
    feats += ["join"] if e is not None else []
    if kind == "plain":  # every row with the computed value, in no particular order
        return Built(q, "arith_rows", "medium", tuple(feats), tables, slots)
    if kind == "one" and rng.random() < 0.4:  # the smallest: "the shortest gap between ..."
        slots["least"] = True
        if engines.get(scope.dialect).nulls_last_syntax:
            order = exp.Ordered(this=node.copy(), desc=False, nulls_first=False)
        else:  # as in argmax: a missing value is never "the lowest", with no condition to say
            not_null = exp.Not(this=exp.Is(this=node.copy(), expression=exp.Null()))
            q = q.where(not_null)  # AND the row condition, when there is one
            order = scope.ordered(node.copy(), False)
        q = q.order_by(order).limit(exp.Literal.number(1))
        slots["n"] = Lit(exp.Literal.number(1), "1", False)
        feats += ["order_by", "limit"]
        return Built(q, "arith_argmax", "medium", tuple(feats), tables, slots)
    # Highest first, a missing value last (NULLS LAST, written only where it is needed).
    q = q.order_by(exp.Ordered(this=node.copy(), desc=True, nulls_first=False))
    feats.append("order_by")
    if kind != "all":
        slots["n"] = _n(rng) if kind == "top" else Lit(exp.Literal.number(1), "1", False)
        q = q.limit(slots["n"].node)
        feats.append("limit")
    shape = {"top": "arith_top", "one": "arith_argmax", "all": "arith_list"}[kind]
    return Built(q, shape, "medium", tuple(feats), tables, slots)


def share(scope: Scope, rng: Random) -> Built | None:
    """A composed figure over a whole table or the rows meeting a condition: ``what
    percentage of orders were paid by card`` (``COUNT(CASE WHEN c THEN 1 END) * 100.0 /
    COUNT(*)``), the ratio of two kinds of rows, a share of a measure's total, the orders
    per distinct customer, the spread of a measure (see :data:`_FIGURES`)."""
    t = _table(scope, rng)
    if t is None:
        return None
    kinds = [k for k in _FIGURES if k not in _GROUPED_ONLY]
    kind = rng.choices(kinds, [_FIGURE_WEIGHT.get(k, 1.0) for k in kinds])[0]
    if kind in ("share", "pct") and rng.random() < _WHOLE_SUBQUERY:
        return _share_of_all(scope, rng, t, kind)
    made = _figure(scope, rng, t, None, None, kind)
    if made is None:
        return None
    node, aslot = made
    q = _select(scope, t, node)
    slots: dict = {"t": t, "agg": aslot}
    other = _other_filter(scope, rng, t) if rng.random() < 0.4 else None
    # Not on the column split on, nor fixing one counted ("suppliers in '西安' per
    # different city" is the number of suppliers there).
    conds = _apart(slots, [other]) if other is not None else []
    if conds:
        q = q.where(scope.where(conds))
    slots["where"] = conds
    # "arithmetic" when the tagger sees it (AVG(CASE ...) * 100.0 is not, to it).
    feats = [*_agg_features(node)] + (["filter"] if conds else [])
    feats += ["case"] if node.find(exp.Case) else []
    return Built(q, "share", "medium", tuple(feats), (t,), slots)


# How often the share of rows meeting a condition is written with the whole as a scalar
# subquery (``COUNT(*) * 1.0 / (SELECT COUNT(*) FROM t)``) rather than as a CASE.
_WHOLE_SUBQUERY = 0.35


def _share_of_all(scope: Scope, rng: Random, t, kind: str) -> Built | None:
    """The share (or percentage) of ``t``'s rows meeting a condition, written the way many
    people do: the rows in the WHERE, the whole as a scalar subquery,
    ``SELECT COUNT(*) * 1.0 / (SELECT COUNT(*) FROM t) FROM t WHERE c`` -- sometimes
    ``CAST(COUNT(*) AS <type>)``, sometimes with ``NULLIF(..., 0)`` around the subquery.
    A condition on every row ("among the orders of 2021, ...") is in both queries, so that
    the whole is exactly the rows the share is of."""
    cond = _split(scope, rng, t, None, None)
    if cond is None:
        return None
    other = _other_filter(scope, rng, t, cond.col) if rng.random() < 0.4 else None
    conds = [other] if other is not None else []
    whole = _select(scope, t, exp.Count(this=exp.Star()))
    if conds:
        whole = whole.where(scope.where(conds))
    # A non-empty table never counts 0 rows; people guard the division all the same.
    guard = rng.random() < 0.5
    scale = "100.0" if kind == "pct" else "1.0"
    node = _spelled_over(scope, rng, _row_count(scope, rng, t), whole.subquery(), scale, guard)
    q = _select(scope, t, node).where(scope.where([cond, *conds]))
    slots = {"t": t, "agg": (kind, Figure(cond=cond), t), "where": conds}
    feats = ("count", "filter", "scalar_subquery")
    return Built(q, "share", "hard", feats, (t,), slots)


def _naming(scope: Scope, t) -> list[Col]:
    """``t``'s name columns that pick one row each (``river.river_name``): declared unique,
    or unique over every row of ``t`` (the metadata read them all).  A name shared by two
    rows -- one row per state a river crosses -- would pick two rows, not one."""
    out = []
    for c in scope.cols(t, "label"):
        stats = c.column.stats
        read_all = stats is not None and t.row_count is not None and stats.rows >= t.row_count
        declared = (c.column.name,) in t.unique or t.primary_key == (c.column.name,)
        if declared or (read_all and scope.role(t, c.column).unique):
            out.append(c)
    return out


def row_ratio(scope: Scope, rng: Random) -> Built | None:
    """A measure of one named row against the same measure of another: ``how many times
    longer is the Mississippi than the Rhine`` (a ratio, ``* 1.0 / NULLIF(..., 0)``) or
    ``how much higher is X than Y`` (a difference).  Written as two scalar subqueries under
    a SELECT without FROM, or as a cross join of two one-row derived tables."""
    t = _table(scope, rng)
    label = _pick(rng, _naming(scope, t)) if t else None
    if label is None:
        return None
    # A measure known to be recorded on every row read: a missing one makes the answer NULL.
    nums = [m for m in scope.cols(t, "num") if m.column.stats is None or not m.column.stats.nulls]
    vals = scope.values(t, label.column)[:_PICK]
    if not nums or len(vals) < 2:
        return None
    m = rng.choice(nums)
    first, second = (Cond(label, "eq", (v,)) for v in rng.sample(list(vals), 2))
    rel = rng.choice(("ratio", "ratio", "diff"))
    if "unsigned" in m.column.raw_type.lower():
        rel = "ratio"  # MySQL: an UNSIGNED a - b below 0 is an error, not a negative number

    def combine(a: exp.Expr, b: exp.Expr) -> exp.Expr:
        if rel == "ratio":
            return _spelled_over(scope, rng, a, b)
        return exp.Sub(this=a, expression=b)

    name = "ratio" if rel == "ratio" else "difference"
    ref = scope.ref(m)
    if rng.random() < 0.5:  # SELECT (SELECT m ... 'A') * 1.0 / NULLIF((SELECT m ... 'B'), 0)
        a, b = (_select(scope, t, ref.copy()).where(scope.cond(c)).subquery()
                for c in (first, second))  # fmt: skip
        q = sqlglot.select(combine(a, b).as_(name))
        feats: tuple[str, ...] = ("scalar_subquery", "filter", "arithmetic")
    else:  # FROM (SELECT m ... 'A') AS a CROSS JOIN (SELECT m ... 'B') AS b (or a comma)
        shown = ref if isinstance(ref, exp.Column) else ref.as_(m.column.name)  # a CAST, named
        a, b = (_select(scope, t, shown.copy()).where(scope.cond(c)).subquery(alias)
                for c, alias in ((first, "a"), (second, "b")))  # fmt: skip
        side = [exp.Column(this=scope.ident(m.column.name), table=exp.to_identifier(x))
                for x in ("a", "b")]  # fmt: skip
        q = sqlglot.select(combine(*side).as_(name)).from_(a)
        if rng.random() < 0.5:
            q = q.join(b, join_type="cross")
        else:
            q.append("joins", exp.Join(this=b))
        feats = ("join", "filter", "arithmetic")
    slots = {"t": t, "num": m, "where": [first, second], "rel": rel}
    return Built(q, "row_ratio", "hard", feats, (t,), slots)


def _agg_features(node: exp.Expr) -> list[str]:
    """The features an ungrouped figure carries, as the tagger reads them: ``count`` for a
    COUNT, ``aggregate`` for any other aggregate (``COUNT(CASE ...) * 1.0 / COUNT(*)`` is
    counts only)."""
    out = ["count"] if node.find(exp.Count) else []
    if any(not isinstance(a, exp.Count) for a in node.find_all(exp.AggFunc)):
        out.append("aggregate")
    return out
