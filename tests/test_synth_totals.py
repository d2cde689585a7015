"""Totals as scalar subqueries, two named rows compared, and three small shapes
(data_create/synth/shapes.py, nested.py): ``COUNT(*) * 1.0 / (SELECT COUNT(*) FROM t)``
for a share of rows, ``(SELECT COUNT(*) FROM ... same rows)`` for each group's share of
the whole, ``(SELECT m ... 'A') * 1.0 / NULLIF((SELECT m ... 'B'), 0)`` for a ratio of two
rows, one example row (``LIMIT 1``), the row with the smallest computed value, and every
row with the names of both rows it links to.  They render and pass the static checks in
every dialect, give the answers of their other spellings on SQLite, run on PostgreSQL and
MariaDB, and their questions state every condition in English and Chinese."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from random import Random

import pytest
import sqlglot
from conftest import SAKILA_SERVERS
from sqlglot import exp

from data_create import connect, metadata
from data_create.executor import Executor
from data_create.features import literals
from data_create.quality.lint import lint_samples
from data_create.quality.shape import shape
from data_create.synth import nested, shapes
from data_create.synth.builder import Built, Scope
from data_create.synth.families import FAMILIES
from data_create.synth.naming import plural
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator

ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "tsql": "mssql"}
TOPICS = (
    ("orders", "customers", "stores"),
    ("order_items", "orders", "customers"),
    ("payments", "orders"),
    ("products", "product_categories", "suppliers"),
    ("employees",),
    ("stores", "regions"),
    ("suppliers",),
)


def _scalar_sub(sql: str, dialect: str) -> bool:
    return "scalar_subquery" in shape(sql, dialect).tags


# What each new spelling is: the shape function that makes it, and how to tell it apart.
KINDS: dict[str, tuple[Callable, Callable[[Built, str, str], bool]]] = {
    "share_of_all": (shapes.share, lambda b, sql, d: _scalar_sub(sql, d)),
    "share_of_total": (nested.share_of_total, lambda b, sql, d: _scalar_sub(sql, d)),
    "row_ratio": (shapes.row_ratio, lambda b, sql, d: True),
    "filter_one": (shapes.filter_list, lambda b, sql, d: b.shape == "filter_one"),
    "arith_argmin": (shapes.arithmetic, lambda b, sql, d: bool(b.slots.get("least"))),
    "star_pairs": (shapes._chain_list, lambda b, sql, d: b.shape == "star_pairs"),
}


# The example's one table with two measures to compute with (price x quantity ...).
TOPICS_OF = {"arith_argmin": (("order_items", "orders"), ("order_items",))}


def build(meta, dialect: str, kind: str, n: int, seed: int = 0, language: str = "en",
          topics=None) -> list[tuple[Built, str, Scope]]:  # fmt: skip
    """Up to ``n`` built queries of one new spelling, with their SQL and scope."""
    fn, wanted = KINDS[kind]
    topics = topics or TOPICS_OF.get(kind, TOPICS)
    rng = Random(seed)
    out = []
    for i in range(n * 100):
        scope = Scope(meta, topics[i % len(topics)], dialect, None, language)
        built = fn(scope, rng)
        if built is None:
            continue
        sql = _render(built.expression, dialect)
        if wanted(built, sql, dialect):
            out.append((built, sql, scope))
        if len(out) == n:
            break
    return out


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) or isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _row_key(row) -> tuple[str, ...]:
    return tuple(f"{float(v):.6g}" if isinstance(v, int | float) else str(v) for v in row)


def _same_rows(left, right) -> bool:
    """The same rows in any order (two spellings may order ties differently)."""
    if len(left) != len(right):
        return False
    pairs = zip(sorted(left, key=_row_key), sorted(right, key=_row_key), strict=True)
    return all(all(_close(a, b) for a, b in zip(x, y, strict=True)) for x, y in pairs)


@pytest.fixture(scope="module")
def built(example):
    return {kind: build(example.meta, "sqlite", kind, 40) for kind in KINDS}


def test_new_spellings_run_with_the_shape_keys_people_ask(example, built):
    keys: Counter = Counter()
    with Executor(example.db, timeout_s=10, row_cap=1000) as ex:
        for kind, made in built.items():
            assert len(made) >= 20, kind
            nonempty = 0
            for _b, sql, _ in made:
                result = ex.execute(sql)
                assert result.ok, (result.error, sql)
                nonempty += result.row_count > 0
                keys[shape(sql, "sqlite").key] += 1
            assert nonempty >= 0.9 * len(made), kind
    for key in (
        "t1+filter+count+scalar_subquery",  # the share of rows meeting a condition
        "t1+count+group+scalar_subquery",  # each group's share of all rows
        "t2+join+count+group+scalar_subquery+arithmetic",  # COUNT(t1.key) through a join
        "t1+filter+scalar_subquery+arithmetic",  # two named rows, FROM-less
        "t1+join+filter+derived+arithmetic",  # two named rows, a cross join
        "t1+filter+limit",  # one example row
        "t1+argmax+arithmetic",  # the row with the smallest computed value
        "t3+join",  # each row with the names of both its parents
    ):
        assert keys[key], (key, sorted(keys))


def test_the_share_of_rows_equals_its_case_spelling(example, built):
    """``COUNT(*) * 1.0 / (SELECT COUNT(*) FROM t WHERE o) FROM t WHERE c AND o`` is
    ``AVG(CASE WHEN c THEN 1.0 ELSE 0 END) FROM t WHERE o``: the whole is the same rows."""
    fractions = 0
    with Executor(example.db, timeout_s=10, row_cap=10) as ex:
        for b, sql, scope in built["share_of_all"]:
            kind, fig, t = b.slots["agg"]
            avg = exp.Avg(this=shapes._when(scope, fig.cond, exp.Literal.number("1.0")))
            if kind == "pct":
                avg = exp.Mul(this=avg, expression=exp.Literal.number("100"))
            other = sqlglot.select(avg).from_(scope.table_ref(t))
            if b.slots["where"]:
                other = other.where(scope.where(b.slots["where"]))
            got, want = ex.execute(sql), ex.execute(_render(other, "sqlite"))
            assert got.ok and want.ok, (got.error, want.error, sql)
            assert _close(got.rows[0][0], want.rows[0][0]), (sql, got.rows, want.rows)
            fractions += not float(got.rows[0][0] or 0).is_integer()
    assert fractions  # never an integer division (it would make every share 0 or 1)


def _as_window(sql: str) -> str:
    """The same query with each scalar-subquery whole as a window over the groups:
    ``(SELECT COUNT(*) FROM ...)`` -> ``SUM(COUNT(*)) OVER ()`` next to the GROUP BY, or
    ``(SELECT SUM(total) FROM per_group)`` -> ``SUM(total) OVER ()`` over the CTE."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    for sub in list(tree.find_all(exp.Subquery)):
        if isinstance(sub.parent, exp.From | exp.Join | exp.CTE):
            continue
        whole = sub.this.expressions[0].copy()
        outer = sub.find_ancestor(exp.Select)
        grouped = outer is not None and outer.args.get("group") is not None
        sub.replace(exp.Window(this=exp.Sum(this=whole) if grouped else whole))
    return tree.sql("sqlite")


def test_each_groups_share_of_a_subquery_whole_equals_the_window(example, built):
    """The whole as a scalar subquery counts exactly the grouped rows (same joins, same
    conditions): the answers equal the window spelling's, and the shares add up to all."""
    joined = filtered = 0
    with Executor(example.db, timeout_s=10, row_cap=50_000) as ex:
        for b, sql, _ in built["share_of_total"]:
            window = _as_window(sql)
            assert "OVER ()" in window and window != sql
            got, want = ex.execute(sql), ex.execute(window)
            assert got.ok and want.ok, (got.error, want.error, sql)
            assert not got.truncated, sql  # every group, to add up
            assert _same_rows(got.rows, want.rows), (sql, window)
            shares = [r[-1] for r in got.rows if r[-1] is not None]
            if shares:
                whole = 1.0 if b.slots.get("fraction") else 100.0
                assert math.isclose(sum(float(s) for s in shares), whole, rel_tol=1e-6), sql
            joined += "JOIN" in sql
            filtered += "WHERE" in sql
    assert joined and filtered  # the joins and conditions are repeated in the subquery


def test_two_named_rows_compared_equal_their_two_values(example, built):
    seen = Counter()
    with Executor(example.db, timeout_s=10, row_cap=10) as ex:
        for b, sql, scope in built["row_ratio"]:
            got = ex.execute(sql)
            assert got.ok and got.row_count == 1, (got.error, sql)
            m, t = b.slots["num"], b.slots["t"]
            sides = []
            for cond in b.slots["where"]:
                one = sqlglot.select(scope.ref(m)).from_(scope.table_ref(t)).where(scope.cond(cond))
                rows = ex.execute(_render(one, "sqlite")).rows
                assert len(rows) == 1, sql  # the name picks one row
                sides.append(rows[0][0])
            a, c = sides
            want = (float(a) / float(c) if c else None) if b.slots["rel"] == "ratio" else a - c
            assert _close(got.rows[0][0], want), (sql, got.rows, sides)
            seen[(b.slots["rel"], " FROM (" in sql)] += 1  # a cross join, or FROM-less
    assert len(seen) == 4, seen  # ratios and differences, both spellings


def test_the_smallest_computed_value_and_one_row(example, built):
    with Executor(example.db, timeout_s=10, row_cap=50_000) as ex:
        for _b, sql, _ in built["arith_argmin"]:
            got = ex.execute(sql)
            every = ex.execute(sql.rsplit(" ORDER BY ", 1)[0])
            assert not every.truncated
            values = [r[-1] for r in every.rows if r[-1] is not None]
            assert got.ok and got.row_count == 1 and got.rows[0][-1] is not None, sql
            assert _close(got.rows[0][-1], min(values)), sql
        for _b, sql, _ in built["filter_one"]:
            assert sql.endswith(" LIMIT 1") and " ORDER BY " not in sql
    for _b, sql, _ in built["star_pairs"]:
        assert sql.count(" JOIN ") == 2 and " WHERE " not in sql


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_new_spellings_render_in_every_dialect(example, dialect):
    meta = example.meta.replace(engine=ENGINE[dialect], dialect=dialect)
    validator = Validator(meta, dialect)
    text = []
    for kind in KINDS:
        made = build(meta, dialect, kind, 15, seed=3)
        assert len(made) >= 8, kind
        for _, sql, _ in made:
            sqlglot.parse_one(sql, read=dialect)
            verdict = validator.check_static(sql)
            assert verdict.ok, (verdict.reason, sql)
            text.append(sql)
    joined = "\n".join(text)
    assert "NULLIF((SELECT COUNT(*) FROM " in joined and ") AS a CROSS JOIN (" in joined
    numeric = {"sqlite": "REAL", "postgres": "DECIMAL", "mysql": "DECIMAL(38, 10)", "tsql": "FLOAT"}
    assert f"CAST(COUNT(*) AS {numeric[dialect]}) / " in joined
    # * 1.0 keeps the division from being an integer one, with no CAST added on top.
    assert "COUNT(*) * 1.0 / (SELECT COUNT(*) FROM " in joined and "DOUBLE PRECISION" not in joined
    if dialect == "tsql":
        assert "SELECT TOP 1 " in joined
    else:
        assert " LIMIT 1" in joined


@pytest.mark.parametrize("language", ["en", "zh"])
def test_new_questions_state_every_condition(example, language):
    phraser = Phraser(language, example.meta)
    asked = {}
    for kind in KINDS:
        for b, sql, _ in build(example.meta, "sqlite", kind, 25, seed=1, language=language):
            q = phraser.question(b, Random(0))
            for text in literals(sql, "sqlite"):
                assert text in q, (text, q, sql)
            assert "{" not in q, q
            conds = list(b.slots.get("where") or [])
            fig = b.slots.get("agg", (None, None))[1]
            conds += [c for c in (getattr(fig, "cond", None),) if c is not None]
            for c in conds:  # and the condition's column, not just its value
                assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
            g = b.slots.get("g")
            if g is not None:
                named = phraser.table(g.table) if b.slots.get("g_row") else phraser.column(g)
                assert named in q or plural(named) in q, (named, q)
            if kind == "row_ratio":  # the measure compared is named
                assert phraser.column(b.slots["num"]) in q, q
            if kind == "filter_one":
                assert ("one" in q or "single" in q) if language == "en" else ("一" in q), q
            if kind == "star_pairs":
                assert phraser.column(b.slots["c2"]) in q and phraser.column(b.slots["c3"]) in q
            asked[q] = sql
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": sql} for i, (q, sql) in enumerate(asked.items())],
        dialect="sqlite", metadata=example.meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


def test_row_ratio_is_an_arithmetic_question():
    assert shapes.row_ratio in FAMILIES["arithmetic"]


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_new_spellings_execute_on_real_engines(request, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    topics = []
    for t in meta.tables:  # each table with the tables its foreign keys point at
        refs = [fk.ref_table for fk in t.foreign_keys if meta.table(fk.ref_table, fk.ref_schema)]
        topics.append(tuple(dict.fromkeys([t.qualified_name, *refs]))[:4])
    made = {
        kind: build(meta, meta.dialect, kind, 12, seed=2, topics=tuple(topics))
        for kind in KINDS if kind != "star_pairs"  # sakila's small tables link to no two names
    }  # fmt: skip
    nonempty = total = 0
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        for kind, items in made.items():
            assert len(items) >= 6, kind
            for _, sql, _ in itertools.islice(items, 12):
                result = ex.execute(sql)
                assert result.ok, (result.error, sql)  # a name picking two rows would fail here
                total += 1
                nonempty += result.row_count > 0
    db.dispose()
    assert nonempty >= 0.9 * total
