"""SQL shapes over one topic's tables, built as sqlglot expressions from real values.

Each shape is a function ``(scope, rng) -> Built | None``: ``None`` when the topic's
tables lack what the shape needs (no numeric column, no foreign key...).  A
:class:`Built` carries the expression, the features it exercises and the *slots* the
question templates fill, so that the question states every condition the SQL applies.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from random import Random
from typing import Any

from sqlglot import exp

from ..records import Column, SchemaMetadata, Table
from ..roles import ColumnRole, role_of, snake
from . import dialects

_NUMERIC = frozenset({"integer", "decimal", "float"})
_DATES = frozenset({"date", "datetime"})
_SKIP = frozenset({"binary", "json", "array", "uuid", "interval", "time", "boolean"})
_LIMITS = (3, 5, 10, 20)
# Filters draw from this many of a column's most frequent values (the pipeline fetches
# more of them for larger requests): more distinct questions at large sizes.
_PICK = 400


# ---------------------------------------------------------------- column roles

# ---------------------------------------------------------------- what shapes work with

_NAME_OF = re.compile(r"^(?P<stem>[a-z][a-z0-9]*?)_?name$")


def _names_another(table: Table, column: Column) -> bool:
    """A repeated name of *another* entity stored on each row (``city.country_name``,
    ``restaurant.city_name``): a category people group and filter by ("cities per
    country"), unlike the row's own name (``city.city_name``)."""
    m = _NAME_OF.match(snake(column.name))
    if m is None:
        return False
    stem, own = m.group("stem"), snake(table.name).replace("_", "")
    return not (own.startswith(stem) or stem.startswith(own.rstrip("s")))


@dataclass(frozen=True)
class Lit:
    """A literal and how the question shows it (exactly the text inside the SQL literal)."""

    node: exp.Expr
    text: str
    is_string: bool


def literal(value: Any) -> Lit | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Lit(exp.Literal.number(value), str(value), False)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = repr(value)
        return Lit(exp.Literal.number(text), text, False) if "e" not in text else None
    if isinstance(value, Decimal):
        text = str(value)
        return Lit(exp.Literal.number(text), text, False) if "E" not in text else None
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    if isinstance(value, str):
        if not value.strip() or len(value) > 60 or "\n" in value or "\\" in value:
            return None
        return Lit(exp.Literal.string(value), value, True)
    return None


@dataclass(frozen=True)
class Col:
    """A column of a table as one query names it (``alias`` when the query joins)."""

    table: Table
    column: Column
    alias: str | None = None

    @property
    def type(self) -> str:
        return self.column.type

    def at(self, alias: str | None) -> Col:
        return Col(self.table, self.column, alias)


@dataclass(frozen=True)
class Cond:
    """One condition of a WHERE/HAVING clause, as the question will state it."""

    col: Col
    op: str  # eq gt lt ge in between range like_prefix like_contains is_null not_null year
    values: tuple[Lit, ...] = ()


@dataclass(frozen=True)
class Figure:
    """What a composed figure is taken of, for the question to name: the rows meeting
    ``cond`` (``cond2``: the other side of a ratio), a measure ``num`` and a second column
    ``den`` (the measure or the distinct values under a ratio's line)."""

    cond: Cond | None = None
    cond2: Cond | None = None
    num: Col | None = None
    den: Col | None = None


@dataclass
class Built:
    expression: exp.Expr
    shape: str
    difficulty: str
    features: tuple[str, ...]
    tables: tuple[Table, ...]
    slots: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    """A foreign key between two tables of the topic: ``child.cols`` -> ``parent.ref_cols``."""

    child: Table
    parent: Table
    cols: tuple[str, ...]
    ref_cols: tuple[str, ...]


class Scope:
    """The topic's usable tables, their columns sorted by role, and the FK edges between them."""

    def __init__(
        self,
        metadata: SchemaMetadata,
        table_names: Sequence[str],
        dialect: str,
        values: Callable[[Table, Column], Sequence[Any]] | None,
        language: str = "en",
    ):
        self.dialect = dialect
        self.language = language
        self._values = values
        self._cache: dict[tuple[str, str], tuple[Lit, ...]] = {}
        self._roles: dict[tuple[str, str], ColumnRole] = {}
        # cols() is asked the same few questions thousands of times a run (every build,
        # every look): the answer depends only on the table and the use.
        self._cols: dict[tuple[str, str], tuple[Col, ...]] = {}
        by_name = {t.qualified_name: t for t in metadata.tables}
        self.tables: list[Table] = []
        for name in table_names:
            table = by_name.get(name)
            usable = table is not None and table.row_count != 0 and table not in self.tables
            if usable and any(self.values(table, c) for c in table.columns):
                self.tables.append(table)
        names = {t.qualified_name for t in self.tables}
        self.edges: list[Edge] = []
        for child in self.tables:
            for fk in child.foreign_keys:
                ref = f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table
                if ref not in names or ref == child.qualified_name:
                    continue
                parent = by_name[ref]
                if all(
                    child.column(c) and parent.column(r) and self._linked(child, child.column(c))
                    for c, r in zip(fk.columns, fk.ref_columns, strict=True)
                ):
                    self.edges.append(Edge(child, parent, fk.columns, fk.ref_columns))

    def _linked(self, child: Table, column: Column) -> bool:
        """Whether a link column holds any value: a join through one that is NULL in every
        row (Sakila's ``film.original_language_id``) has no rows, whatever it asks."""
        return column.sensitive or column.type in _SKIP or bool(self.values(child, column))

    # ---------------------------------------------------------------- values and roles

    def values(self, table: Table, column: Column) -> tuple[Lit, ...]:
        key = (table.qualified_name, column.name)
        if key not in self._cache:
            lits: tuple[Lit, ...] = ()
            if not column.sensitive and column.type not in _SKIP:
                raw = self._values(table, column) if self._values else column.samples
                out = []
                numeric_text = self.role(table, column).numeric_text
                for value in raw or ():
                    lit = literal(_coerce(value, "decimal" if numeric_text else column.type))
                    fits = lit is not None and (lit.is_string or self.numeric(table, column))
                    if fits and all(o.text != lit.text for o in out):
                        out.append(lit)
                lits = tuple(out)
            self._cache[key] = lits
        return self._cache[key]

    def role(self, table: Table, column: Column) -> ColumnRole:
        """The column's role (:mod:`data_create.roles`): what a question may do with it."""
        key = (table.qualified_name, column.name)
        if key not in self._roles:
            self._roles[key] = role_of(table, column)
        return self._roles[key]

    def is_key(self, table: Table, column: Column) -> bool:
        return self.role(table, column).role in ("primary_key", "foreign_key", "identifier")

    def numeric(self, table: Table, column: Column) -> bool:
        if column.type in _NUMERIC:
            return True
        if self.role(table, column).numeric_text:
            return True
        if column.type == "other" and column.samples:
            return all(
                isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
                for v in column.samples
            )
        return False

    def cols(self, table: Table, role: str) -> list[Col]:
        """The columns of ``table`` fit for a use: ``num`` (aggregate, rank, threshold),
        ``sum`` (additive measures), ``cat`` (group by, filter by equality), ``text`` (names
        and free text: show, LIKE), ``label``, ``date``, ``any`` (filter)."""
        key = (table.qualified_name, role)
        if key not in self._cols:
            self._cols[key] = self._fit(table, role)
        return list(self._cols[key])  # a list of its own: callers may extend it

    def _fit(self, table: Table, role: str) -> tuple[Col, ...]:
        out = []
        for c in table.columns:
            if c.sensitive or c.type in _SKIP:
                continue
            r = self.role(table, c)
            if r.role == "contact":
                continue
            vals = self.values(table, c)
            if not vals:
                continue
            text = vals[0].is_string and c.type not in _DATES
            ok = (
                (role == "num" and r.can_aggregate and self.numeric(table, c) and len(vals) >= 2)
                or (role == "sum" and r.can_sum and self.numeric(table, c) and len(vals) >= 2)
                or (role == "cat" and r.role in ("category", "flag", "year") and not r.unique
                    and (text or r.meanings or r.role != "category" or len(vals) <= 12))
                or (role == "cat" and r.role == "label" and not r.unique and text
                    and _names_another(table, c))
                or (role == "text" and r.can_like and text)
                or (role == "label" and r.role == "label" and text)
                or (role == "date" and c.type in _DATES and r.role not in _NOT_RANGED
                    and any(_year(v.text) for v in vals))
                or (role == "any" and r.can_filter)
            )  # fmt: skip
            if ok:
                out.append(Col(table, c))
        return tuple(out)

    def label_col(self, table: Table) -> Col:
        """The column a person would show for a row: its name or title; a table without one
        is shown by its key (``order id``), and only failing that by a text column."""
        found = self.cols(table, "label")
        if found:
            return found[0]
        for c in table.columns:
            if c.name in table.primary_key and not c.sensitive:
                return Col(table, c)
        found = self.cols(table, "text")
        return found[0] if found else Col(table, table.columns[0])

    def key_col(self, table: Table) -> Col | None:
        """The table's single-column primary key, to group rows that may share a label."""
        if len(table.primary_key) == 1 and (c := table.column(table.primary_key[0])):
            return Col(table, c)
        return None

    def unique(self, table: Table, column: Column) -> bool:
        """Whether no two rows of ``table`` share a value of ``column``, as far as it is
        known: its primary key, a UNIQUE constraint, or every row read when the metadata
        was extracted (the role's ``unique`` trusts a sample of a big table, which a lookup
        that must find at most one row cannot)."""
        if table.primary_key == (column.name,) or (column.name,) in table.unique:
            return True
        stats = column.stats
        return bool(
            stats is not None
            and stats.unique
            and table.row_count is not None
            and stats.rows >= table.row_count
        )

    def big(self, table: Table) -> bool:
        return table.row_count is None or table.row_count > 50

    # ---------------------------------------------------------------- SQL pieces

    def ident(self, name: str) -> exp.Identifier:
        return dialects.identifier(name, self.dialect)

    def table_ref(self, table: Table, alias: str | None = None) -> exp.Table:
        return exp.Table(
            this=self.ident(table.name),
            db=self.ident(table.schema) if table.schema else None,
            alias=exp.TableAlias(this=exp.to_identifier(alias)) if alias else None,
        )

    def ref(self, col: Col) -> exp.Expr:
        """The column in an expression; numbers stored as text are CAST, so that they compare,
        sort and aggregate as numbers ('10' > '9')."""
        node = exp.Column(
            this=self.ident(col.column.name),
            table=exp.to_identifier(col.alias) if col.alias else None,
        )
        if self.role(col.table, col.column).numeric_text:
            return exp.Cast(this=node, to=exp.DataType.build(dialects.NUMERIC[self.dialect]))
        return node

    def ordered(self, expression: exp.Expr, desc: bool) -> exp.Ordered:
        return dialects.ordered(expression, desc, self.dialect)

    def cond(self, c: Cond) -> exp.Expr:
        ref = self.ref(c.col)
        v = [x.node.copy() for x in c.values]
        if c.op == "eq":
            return exp.EQ(this=ref, expression=v[0])
        if c.op == "gt":
            return exp.GT(this=ref, expression=v[0])
        if c.op == "lt":
            return exp.LT(this=ref, expression=v[0])
        if c.op == "ge":
            return exp.GTE(this=ref, expression=v[0])
        if c.op == "in":
            return exp.In(this=ref, expressions=v)
        if c.op == "between":
            return exp.Between(this=ref, low=v[0], high=v[1])
        if c.op == "range":  # half-open: [v0, v1)
            return exp.and_(
                exp.GTE(this=ref, expression=v[0]),
                exp.LT(this=self.ref(c.col), expression=v[1]),
                copy=False,
            )
        if c.op == "like_prefix":
            return exp.Like(this=ref, expression=exp.Literal.string(c.values[0].text + "%"))
        if c.op == "like_contains":
            return exp.Like(this=ref, expression=exp.Literal.string("%" + c.values[0].text + "%"))
        if c.op == "is_null":
            return exp.Is(this=ref, expression=exp.Null())
        if c.op == "not_null":
            return exp.Not(this=exp.Is(this=ref, expression=exp.Null()))
        if c.op == "year":
            return exp.EQ(this=dialects.year_of(ref, self.dialect), expression=v[0])
        raise ValueError(c.op)

    def where(self, conds: Sequence[Cond]) -> exp.Expr | None:
        parts = [self.cond(c) for c in conds]
        # copy=False here and below: every part is new, made for this one condition.
        return exp.and_(*parts, copy=False) if parts else None

    def join_on(self, edge: Edge, child_alias: str, parent_alias: str) -> exp.Expr:
        return exp.and_(
            *(
                exp.EQ(
                    this=exp.Column(this=self.ident(c), table=exp.to_identifier(child_alias)),
                    expression=exp.Column(
                        this=self.ident(r), table=exp.to_identifier(parent_alias)
                    ),
                )
                for c, r in zip(edge.cols, edge.ref_cols, strict=True)
            ),
            copy=False,
        )

    # ---------------------------------------------------------------- conditions from real values

    def filter_cond(self, col: Col, rng: Random, ops: Sequence[str] = ("eq",)) -> Cond | None:
        vals = self.values(col.table, col.column)
        if not vals:
            return None
        op = rng.choice(list(ops))
        ranged = self.role(col.table, col.column).role not in _NOT_RANGED
        if not ranged:
            op = "in" if op == "in" else "eq"  # a code or flag is equal to a value, never above
        if self.numeric(col.table, col.column) and col.type not in _DATES:
            nums = sorted(vals, key=lambda x: Decimal(x.text))
            if op == "gt" and len(nums) >= 2:
                return Cond(col, "gt", (rng.choice(nums[:-1]),))
            if op == "lt" and len(nums) >= 2:
                return Cond(col, "lt", (rng.choice(nums[1:]),))
            if op == "between" and len(nums) >= 2:
                i = rng.randrange(len(nums) - 1)
                j = rng.randrange(i + 1, len(nums))
                if nums[i].text != nums[j].text:
                    return Cond(col, "between", (nums[i], nums[j]))
            if col.type == "float":
                # Equality on binary floating point misses on some engines (MySQL FLOAT).
                ok = ranged and len(nums) >= 2
                return Cond(col, "gt", (rng.choice(nums[:-1]),)) if ok else None
            return Cond(col, "eq", (rng.choice(vals[:_PICK]),))
        if op == "in" and len(vals) >= 2:
            return Cond(col, "in", tuple(rng.sample(list(vals[:_PICK]), 2)))
        if op in ("like_prefix", "like_contains"):
            text = rng.choice(vals[:_PICK]).text
            if "%" in text or "_" in text or "'" in text:
                return None
            if op == "like_prefix":
                n = 1 if _cjk(text[:1]) else min(len(text), rng.choice((2, 3, 4)))
                piece = text[:n]
            else:
                words = [w for w in re.split(r"\s+", text) if len(w) >= 3]
                piece = (
                    rng.choice(words)
                    if len(words) > 1
                    else text[len(text) // 3 : len(text) // 3 + 2]
                )
            if not piece.strip() or piece != piece.strip():
                return None
            return Cond(col, op, (Lit(exp.Literal.string(piece), piece, True),))
        return Cond(col, "eq", (rng.choice(vals[:_PICK]),))

    def year_cond(self, col: Col, rng: Random) -> Cond | None:
        years = sorted({y for v in self.values(col.table, col.column) if (y := _year(v.text))})
        if not years:
            return None
        year = rng.choice(years)
        return Cond(col, "year", (Lit(exp.Literal.number(year), str(year), False),))

    def date_range(self, col: Col, rng: Random) -> Cond | None:
        """A whole-year or half-year range, half-open on datetime columns.

        ``col >= '2021-01-01' AND col < '2022-01-01'`` keeps the last day's afternoon that
        ``BETWEEN '2021-01-01' AND '2021-12-31'`` would drop on a datetime column.
        """
        vals = self.values(col.table, col.column)
        years = sorted({y for v in vals if (y := _year(v.text))})
        if not years:
            return None
        if rng.random() < 0.4:  # one calendar month of a real value
            month = rng.choice([v.text[:7] for v in vals if _year(v.text)])
            y, m = int(month[:4]), int(month[5:7])
            lo, hi = f"{month}-01", f"{y + m // 12}-{m % 12 + 1:02d}-01"
        else:  # whole years
            a = rng.choice(years)
            b = rng.choice([y for y in years if y >= a])
            lo, hi = f"{a}-01-01", f"{b + 1}-01-01"
        return Cond(
            col,
            "range",
            (Lit(exp.Literal.string(lo), lo, True), Lit(exp.Literal.string(hi), hi, True)),
        )


# Roles whose values are names for things, not amounts: never above, below or between a value
# (the lint's threshold_role rule, data_create.quality.lint, says the same).
_NOT_RANGED = frozenset(
    {"primary_key", "foreign_key", "identifier", "category", "flag", "sort_key"}
)


def _coerce(value: Any, type_: str) -> Any:
    if isinstance(value, str) and type_ in _NUMERIC:
        try:
            return int(value) if re.fullmatch(r"-?\d+", value) else Decimal(value)
        except ArithmeticError:
            return None
    return value


def _year(text: str) -> int | None:
    m = re.match(r"((?:19|20)\d\d)-\d\d", text)
    return int(m.group(1)) if m else None


def _cjk(text: str) -> bool:
    return bool(re.search(r"[\u3400-\u9fff]", text))
