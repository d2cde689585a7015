"""A lint of generated samples for the nonsense a careful reader finds in them.

Each rule has a name (the key in :attr:`LintReport.by_rule`) and says what it catches.
Rules about a column's meaning ask :mod:`data_create.roles` (``role_of(table, column)``) --
the one place column roles are inferred; this module has no heuristics of its own about
what a column is.  Where roles are not available (an old ``metadata.json`` and no
``data_create.roles``), those rules are reported as not run, never as passed.

Rules on one query (columns resolved through the query's tables and aliases):

=========================  ===============================================================
``aggregate_role``         SUM/AVG/MIN/MAX over a column that cannot be aggregated (an id,
                           code, flag, sort key, year ...): ``MIN(update_by)``, ``SUM(year)``
``sum_not_additive``       SUM over a measure that does not add up (price, rate, age)
``rank_role``              ORDER BY ... LIMIT ranking such a column (or free text); only
                           the first key counts, later keys break ties
``threshold_role``         ``<``, ``>``, BETWEEN against a literal on such a column
``like_role``              LIKE on a column that is not a name or free text (``LIKE '%mw%'``
                           on a code)
``group_unique``           GROUP BY a unique key of the only table (every group is one row)
                           or by free text
``between_datetime``       ``BETWEEN 'd1' AND 'd2'`` with date-only bounds on a datetime
                           column (drops the last day)
``text_number_order``      ORDER BY / MIN / MAX / comparison on numbers stored as text,
                           without a CAST (``'10' < '9'``)
``contradiction``          filters that cannot both hold (``x = 1 AND x = 2``,
                           ``x > 5 AND x < 3``, ``BETWEEN 9 AND 1``)
``fixed_condition``        a condition inside an aggregate on a column the WHERE fixes to
                           one value: ``COUNT(CASE WHEN city = 'A' THEN 1 END) ... WHERE
                           city = 'B'`` is always 0, "the share of standard stores among
                           standard stores" always 100%; or a distinct count of it
                           (``COUNT(DISTINCT city) ... WHERE city = 'B'`` is 1)
``template_tail``          a question carrying a template tail no person writes
                           ("limited to 5 rows", "showing only the first 10", "Sort by it
                           in", "(NULL)", "values across", "只显示前10条", "（取前5个）",
                           "结果按从高到低排序")
=========================  ===============================================================

Rules on the set: ``same_question`` (one question text, two different SQLs) and the
share of trivial answers (a single row of 0 / NULL: :func:`is_trivial`).

>>> r = lint_samples([{"id": "a", "question": "Total year of cars?", "sql":
...     "SELECT COUNT(*) FROM cars WHERE price > 5 AND price < 3"}], dialect="postgres")
>>> r.by_rule
{'contradiction': 1}
>>> lint_question("List the cars, limited to 5 rows.")
['template_tail']
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

RULES = (
    "aggregate_role", "sum_not_additive", "rank_role", "threshold_role", "like_role",
    "group_unique", "between_datetime", "text_number_order", "contradiction",
    "fixed_condition", "template_tail", "same_question",
)  # fmt: skip
ROLE_RULES = frozenset(RULES[:8])

# Roles a person never aggregates, ranks or thresholds (see data_create.roles.ROLES).
_NOT_QUANTITIES = frozenset(
    {"primary_key", "foreign_key", "identifier", "category", "flag", "sort_key"}
)

# ... nor ranks by (ORDER BY ... LIMIT): free text and personal data neither.
_NOT_RANKED = _NOT_QUANTITIES | {"text", "contact"}

# Tails the old templates glued onto questions; no human question has them.  English and
# Chinese forms; matched case-insensitively.
TEMPLATE_TAILS = (
    re.compile(r"\blimited to (the first )?\d+ rows?\b", re.I),
    re.compile(r"\bshowing only the first \d+\b", re.I),
    re.compile(r"\bsort(ed)? by it\b", re.I),
    re.compile(r"\(NULL\)"),
    re.compile(r"\bvalues across\b", re.I),
    re.compile(r"只显示前\s*\d+\s*[条个行]"),
    re.compile(r"[（(]取前\s*\d+\s*[条个行][)）]"),
    re.compile(r"结果按从(高到低|低到高)排"),
)

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

RoleLookup = Callable[[str, str], Any]  # (table, column) -> ColumnRole | None


@dataclass(frozen=True)
class Hit:
    """One lint finding; ``detail`` names columns and functions, never database values."""

    sample_id: str
    rule: str
    detail: str


@dataclass(frozen=True)
class LintReport:
    samples: int
    hits: tuple[Hit, ...]
    roles_checked: bool  # False: the role rules were not run (no roles available)
    trivial: int | None = None  # samples whose answer is a single 0/NULL row (None: unknown)
    executed: int | None = None  # samples whose answer was looked at for triviality
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        """Samples with at least one hit."""
        return len({h.sample_id for h in self.hits})

    @property
    def trivial_share(self) -> float | None:
        if self.trivial is None or not self.executed:
            return None
        return round(self.trivial / self.executed, 4)

    def to_dict(self, max_hits: int = 50) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "hits": len(self.hits),
            "flagged_samples": self.flagged,
            "by_rule": dict(self.by_rule),
            "roles_checked": self.roles_checked,
            "trivial": self.trivial,
            "trivial_share": self.trivial_share,
            "examples": [h.__dict__ for h in self.hits[:max_hits]],
        }


# ---------------------------------------------------------------- trivial answers


def _is_nothing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float | Decimal) and value == 0


def is_trivial(rows: Sequence[Sequence[Any]]) -> bool:
    """A single row whose every value is 0 or NULL: an answer that teaches nothing.

    >>> is_trivial([(0,)]), is_trivial([(None, 0)]), is_trivial([(3,)]), is_trivial([(0,), (0,)])
    (True, True, False, False)
    """
    return len(rows) == 1 and all(_is_nothing(v) for v in rows[0])


# ---------------------------------------------------------------- questions


def lint_question(question: str) -> list[str]:
    """Rules the question text alone breaks."""
    return ["template_tail"] if any(p.search(question) for p in TEMPLATE_TAILS) else []


# ---------------------------------------------------------------- roles


def _roles_module() -> Any:
    """``data_create.roles`` from this checkout, or None.

    An editable install elsewhere on the machine can answer for a module this checkout
    lacks; roles from another checkout would not match these records, so only a module
    beside this package counts.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("data_create.roles")
    here = Path(__file__).resolve().parent.parent
    if spec is None or not spec.origin or Path(spec.origin).resolve().parent != here:
        return None
    import data_create.roles as roles

    return roles


def role_lookup(metadata: Any) -> RoleLookup | None:
    """``(table, column) -> ColumnRole`` over ``metadata`` through :mod:`data_create.roles`;
    None when that module is not available (the role rules then do not run)."""
    roles = _roles_module()
    if roles is None:
        return None
    by_name: dict[str, Any] = {}
    for t in metadata.tables:
        by_name.setdefault(t.name.lower(), t)
        by_name.setdefault(t.qualified_name.lower(), t)
    cache: dict[tuple[str, str], Any] = {}

    def lookup(table: str, column: str) -> Any:
        key = (table.lower(), column.lower())
        if key not in cache:
            t = by_name.get(key[0])
            col = None
            if t is not None:
                col = next((c for c in t.columns if c.name.lower() == key[1]), None)
            cache[key] = roles.role_of(t, col) if col is not None else None
        return cache[key]

    return lookup


# ---------------------------------------------------------------- one query


def _literal_value(node: exp.Expression) -> Any:
    """A comparable Python value for a literal (negative numbers too), else a sentinel."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        v = _literal_value(node.this)
        return -v if isinstance(v, Decimal) else _NO
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        try:
            return Decimal(node.this)
        except ArithmeticError:
            return _NO
    return _NO


_NO = object()


class _Scope:
    """Resolves columns of one SELECT to (table, column) through its sources."""

    def __init__(self, scope: Any, tables_by_alias: Mapping[str, str]):
        self.scope = scope
        self.tables_by_alias = tables_by_alias

    def resolve(self, column: exp.Column, columns_of: Callable[[str], set[str]]) -> str | None:
        name = column.name.lower()
        if column.table:
            return self.tables_by_alias.get(column.table.lower())
        owners = [t for t in set(self.tables_by_alias.values()) if name in columns_of(t)]
        return owners[0] if len(owners) == 1 else None


def _scopes(tree: exp.Expression) -> list[_Scope]:
    out = []
    for scope in traverse_scope(tree):
        aliases = {}
        for alias, (_node, source) in scope.selected_sources.items():
            if isinstance(source, exp.Table) and source.name:
                aliases[alias.lower()] = source.name.lower()
        out.append(_Scope(scope, aliases))
    return out


def _bare_column(node: exp.Expression | None) -> exp.Column | None:
    """The column itself, or inside DISTINCT; not a column inside a CAST or expression."""
    if isinstance(node, exp.Distinct) and len(node.expressions) == 1:
        node = node.expressions[0]
    return node if isinstance(node, exp.Column) else None


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _column_key(col: exp.Column) -> str:
    return f"{col.table.lower()}.{col.name.lower()}" if col.table else col.name.lower()


def _fixed_conditions(select: exp.Select) -> list[str]:
    """Conditions inside the aggregates of ``select`` (``CASE WHEN c ...``) on a column its
    WHERE sets equal to a literal, true for every row counted or for none; and distinct
    counts of such a column (``COUNT(DISTINCT city) ... WHERE city = 'Paris'``: 1)."""
    fixed = set()
    for c in _conjuncts(select.args["where"].this):
        if not isinstance(c, exp.EQ):
            continue
        col, other = (
            (c.this, c.expression) if isinstance(c.this, exp.Column) else (c.expression, c.this)
        )
        if isinstance(col, exp.Column) and _literal_value(other) is not _NO:
            fixed.add(_column_key(col))
    if not fixed:
        return []
    found = []
    for agg in (a for e in select.expressions for a in e.find_all(exp.AggFunc)):
        # COUNT(DISTINCT c) of a column the WHERE fixes: 1 (or 0) whatever the rows.
        if isinstance(agg, exp.Count) and isinstance(distinct := agg.this, exp.Distinct):
            for col in distinct.expressions:
                if isinstance(col, exp.Column) and _column_key(col) in fixed:
                    found.append(f"a distinct count of {col.name}, which the WHERE fixes")
        for branch in (b for case in agg.find_all(exp.Case) for b in case.args.get("ifs") or ()):
            for col in branch.this.find_all(exp.Column):
                if _column_key(col) in fixed and col.find_ancestor(exp.Select) is select:
                    found.append(
                        f"a condition on {col.name} inside an aggregate, which the WHERE fixes"
                    )
    return found


def _contradictions(where: exp.Expression) -> list[str]:
    """Column-vs-literal conditions in one AND chain that cannot all hold."""
    eq: dict[str, set] = defaultdict(set)
    ne: dict[str, set] = defaultdict(set)
    lo: dict[str, list] = defaultdict(list)  # (value, strict)
    hi: dict[str, list] = defaultdict(list)
    is_null: set[str] = set()
    not_null_filter: set[str] = set()
    found = []
    for c in _conjuncts(where):
        if isinstance(c, exp.Between) and isinstance(c.this, exp.Column):
            a, b = _literal_value(c.args["low"]), _literal_value(c.args["high"])
            if isinstance(a, Decimal) and isinstance(b, Decimal):
                if a > b:
                    found.append(f"{c.this.name} BETWEEN with low > high")
                key = _column_key(c.this)
                lo[key].append((a, False))
                hi[key].append((b, False))
                not_null_filter.add(key)
            continue
        if isinstance(c, exp.Is) and isinstance(c.this, exp.Column):
            if isinstance(c.expression, exp.Null):
                is_null.add(_column_key(c.this))
            continue
        if not isinstance(c, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            continue
        left, right = c.this, c.expression
        if not isinstance(left, exp.Column):
            left, right = right, left
            flip = True
        else:
            flip = False
        if not isinstance(left, exp.Column):
            continue
        value = _literal_value(right)
        if value is _NO:
            continue
        key = _column_key(left)
        not_null_filter.add(key)
        kind = type(c)
        if flip:
            kind = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}.get(
                kind, kind
            )
        if kind is exp.EQ:
            eq[key].add(value)
        elif kind is exp.NEQ:
            ne[key].add(value)
        elif isinstance(value, Decimal):
            if kind in (exp.GT, exp.GTE):
                lo[key].append((value, kind is exp.GT))
            else:
                hi[key].append((value, kind is exp.LT))
    for key in set(eq) | set(lo) | set(hi) | set(ne):
        values = eq.get(key, set())
        if len(values) > 1:
            found.append(f"{key} equal to two different values")
        if values & ne.get(key, set()):
            found.append(f"{key} equal to and different from one value")
        nums = [v for v in values if isinstance(v, Decimal)]
        floor = max(lo.get(key, []), default=None, key=lambda x: (x[0], x[1]))
        ceil = min(hi.get(key, []), default=None, key=lambda x: (x[0], not x[1]))
        if (
            floor
            and ceil
            and (floor[0] > ceil[0] or (floor[0] == ceil[0] and (floor[1] or ceil[1])))
        ):
            found.append(f"{key} bounded below above its upper bound")
        for v in nums:
            if (floor and (v < floor[0] or (v == floor[0] and floor[1]))) or (
                ceil and (v > ceil[0] or (v == ceil[0] and ceil[1]))
            ):
                found.append(f"{key} equal to a value outside its range")
                break
    for key in is_null & not_null_filter:
        found.append(f"{key} IS NULL and compared with a value")
    return found


def lint_sql(
    sql: str,
    dialect: str | None = None,
    roles: RoleLookup | None = None,
    columns_of: Callable[[str], set[str]] | None = None,
) -> list[tuple[str, str]]:
    """``(rule, detail)`` for every rule ``sql`` breaks.  ``roles`` resolves a column's
    role (None: the role rules are skipped); ``columns_of(table)`` lists a table's column
    names (lower case) so unqualified columns can be resolved."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return []
    if not isinstance(tree, exp.Query):
        return []
    found: list[tuple[str, str]] = []
    for where in tree.find_all(exp.Where):
        found += [("contradiction", d) for d in _contradictions(where.this)]
        if isinstance(where.parent, exp.Select):
            found += [("fixed_condition", d) for d in _fixed_conditions(where.parent)]
    if roles is None:
        return found
    cols = columns_of or (lambda _t: set())
    try:
        scopes = _scopes(tree)
    except (sqlglot.errors.OptimizeError, KeyError, ValueError):
        return found

    for sc in scopes:
        select = sc.scope.expression
        if not isinstance(select, exp.Select):
            continue

        def role(col: exp.Column, sc: _Scope = sc) -> tuple[Any, str]:
            table = sc.resolve(col, cols)
            if table is None:
                return None, col.name
            return roles(table, col.name), f"{table}.{col.name}"

        own_tables = set(sc.tables_by_alias.values())
        limit = select.args.get("limit") or select.args.get("fetch")
        order = select.args.get("order")
        first_key = order.expressions[0] if order is not None and order.expressions else None
        for node in select.walk():
            # Nested SELECTs are their own scopes; walk() still visits them, so stop there.
            if node is not select and isinstance(node, exp.Select):
                continue
            if _in_nested_select(node, select):
                continue
            if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max):
                col = _bare_column(node.this)
                if col is None:
                    continue
                r, name = role(col)
                if r is None:
                    continue
                fn = node.key.upper()
                if r.numeric_text and isinstance(node, exp.Min | exp.Max):
                    found.append(("text_number_order", f"{fn}({name}) on numbers stored as text"))
                if isinstance(node, exp.Min | exp.Max):
                    bad = not (r.can_aggregate or r.can_rank)
                else:
                    bad = not r.can_aggregate
                if bad:
                    found.append(("aggregate_role", f"{fn}({name}) ({r.role})"))
                elif isinstance(node, exp.Sum) and not r.can_sum:
                    found.append(("sum_not_additive", f"SUM({name}) (non-additive {r.role})"))
            elif isinstance(node, exp.Ordered):
                col = _bare_column(node.this)
                if col is None:
                    continue
                r, name = role(col)
                if r is None:
                    continue
                if r.numeric_text:
                    found.append(("text_number_order", f"ORDER BY {name}: numbers stored as text"))
                # Only the first key ranks; later keys break ties (by a name, an id ...).
                if limit is not None and r.role in _NOT_RANKED and node is first_key:
                    found.append(("rank_role", f"ORDER BY {name} ... LIMIT ({r.role})"))
            elif isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Between):
                col = _bare_column(node.this)
                other = node.args.get("low") if isinstance(node, exp.Between) else node.expression
                if col is None and not isinstance(node, exp.Between):
                    col, other = _bare_column(node.expression), node.this
                if col is None or other is None or _literal_value(other) is _NO:
                    continue
                r, name = role(col)
                if r is None:
                    continue
                if r.role in _NOT_QUANTITIES:
                    found.append(("threshold_role", f"range filter on {name} ({r.role})"))
                if r.numeric_text and isinstance(_literal_value(other), str):
                    found.append(("text_number_order", f"{name} compared as text"))
                if isinstance(node, exp.Between) and r.role == "datetime":
                    lo = _literal_value(node.args["low"])
                    hi = _literal_value(node.args["high"])
                    if isinstance(lo, str) and isinstance(hi, str) and _DATE_ONLY.match(hi):
                        found.append(
                            ("between_datetime", f"{name} BETWEEN date-only bounds (datetime)")
                        )
            elif isinstance(node, exp.Like | exp.ILike):
                col = _bare_column(node.this)
                if col is None:
                    continue
                r, name = role(col)
                if r is not None and not r.can_like:
                    found.append(("like_role", f"LIKE on {name} ({r.role})"))
        group = select.args.get("group")
        if group is not None:
            for g in group.expressions:
                col = _bare_column(g)
                if col is None:
                    continue
                r, name = role(col)
                if r is None:
                    continue
                if r.role == "text":
                    found.append(("group_unique", f"GROUP BY {name}, free text"))
                elif r.unique and len(own_tables) == 1 and not select.args.get("joins"):
                    found.append(("group_unique", f"GROUP BY {name}, unique in its only table"))
    return found


def _in_nested_select(node: exp.Expression, select: exp.Select) -> bool:
    parent = node.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.Select):
            return True
        parent = parent.parent
    return False


# ---------------------------------------------------------------- a set of samples


def _field(sample: Any, name: str) -> Any:
    return sample[name] if isinstance(sample, Mapping) else getattr(sample, name)


def lint_samples(
    samples: Iterable[Any],
    *,
    dialect: str | None = None,
    metadata: Any = None,
    roles: RoleLookup | None = None,
    results: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    columns_of: Callable[[str], set[str]] | None = None,
) -> LintReport:
    """Lint samples (``Sample`` objects or their dicts: ``id``, ``question``, ``sql``).

    ``metadata`` (a :class:`~data_create.records.SchemaMetadata`) gives the role lookup
    (through :mod:`data_create.roles`) unless ``roles`` is given; ``results`` maps a
    sample id to its answer's rows for the trivial-answer share; ``columns_of(table)``
    (lower-case names) resolves unqualified columns when there is no ``metadata``.
    """
    samples = list(samples)
    if roles is None and metadata is not None:
        roles = role_lookup(metadata)
    columns: dict[str, set[str]] = {}
    if metadata is not None:
        for t in metadata.tables:
            names = {c.name.lower() for c in t.columns}
            columns.setdefault(t.name.lower(), names)
            columns.setdefault(t.qualified_name.lower(), names)

    def _known(table: str) -> set[str]:
        return columns.get(table, set())

    hits: list[Hit] = []
    sqls_by_question: dict[str, dict[str, str]] = defaultdict(dict)
    for s in samples:
        sid, question, sql = str(_field(s, "id")), _field(s, "question"), _field(s, "sql")
        sample_dialect = dialect or (s.get("dialect") if isinstance(s, Mapping) else None)
        for rule in lint_question(question):
            hits.append(Hit(sid, rule, "template tail in the question"))
        for rule, detail in lint_sql(sql, sample_dialect, roles, columns_of or _known):
            hits.append(Hit(sid, rule, detail))
        norm = " ".join(question.lower().split())
        sqls_by_question[norm].setdefault(" ".join(sql.split()), sid)
    for variants in sqls_by_question.values():
        if len(variants) > 1:
            first, *others = variants.values()
            hits += [Hit(o, "same_question", f"same question text as {first}") for o in others]

    trivial = executed = None
    if results is not None:
        answered = [str(_field(s, "id")) for s in samples if str(_field(s, "id")) in results]
        executed = len(answered)
        trivial = sum(1 for sid in answered if is_trivial(results[sid]))
    by_rule = Counter(h.rule for h in hits)
    return LintReport(
        samples=len(samples),
        hits=tuple(hits),
        roles_checked=roles is not None,
        trivial=trivial,
        executed=executed,
        by_rule={r: by_rule[r] for r in RULES if by_rule[r]},
    )
