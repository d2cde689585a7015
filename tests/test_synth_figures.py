"""Figures people ask of grouped and single rows (data_create/synth/shapes.py):
how many of a group's rows meet a condition next to its first figure (``COUNT(CASE WHEN c
THEN 1 END)``: "the number of orders per city and how many of those were cancelled"), how
many different customers they have next to a total, and
the number of days between two dates of a row (``hire_date`` to ``termination_date``) per
row, ranked, or averaged / maximised per group.  They render and pass the static checks in
every dialect, count days as the dates say on SQLite, run on PostgreSQL and MariaDB, and
their questions state every condition in English and Chinese."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import date
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
from data_create.synth import shapes
from data_create.synth.builder import Built, Scope
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator

ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "tsql": "mssql"}
# The example's tables with two dates of a row's life, and the tables they link to.
TOPICS = (
    ("employees", "stores"),
    ("orders", "customers", "stores"),
    ("shipments", "orders"),
    ("products", "product_categories"),
    ("stores", "regions"),
    ("order_items", "orders"),
)


def _durational(b: Built) -> bool:
    s = b.slots
    figures = [s.get("agg"), s.get("agg2")]
    return s.get("op") == "days" or any(f is not None and shapes._durational(f) for f in figures)


def _them(b: Built) -> bool:
    return s[0] == "cond_them" if (s := b.slots.get("agg2")) else False


def _distinct_next(b: Built) -> bool:
    return s[0] == "count_distinct" if (s := b.slots.get("agg2")) else False


# What each new figure is: the shapes that make it, and how to tell it apart.
KINDS: dict[str, tuple[tuple[Callable, ...], Callable[[Built], bool]]] = {
    "cond_them": ((shapes.group_agg, shapes.join_group, shapes.join_agg), _them),
    "distinct_next": ((shapes.group_agg, shapes.join_group, shapes.join_agg), _distinct_next),
    "days_rows": ((shapes.arithmetic,), lambda b: b.slots.get("op") == "days"),
    "days_groups": ((shapes.group_agg, shapes.join_group, shapes.argmax), _durational),
}


def build(meta, dialect: str, kind: str, n: int, seed: int = 0, language: str = "en",
          topics=TOPICS) -> list[tuple[Built, str, Scope]]:  # fmt: skip
    """Up to ``n`` built queries of one new figure, with their SQL and scope."""
    fns, wanted = KINDS[kind]
    rng = Random(seed)
    out = []
    for i in range(n * 200):
        scope = Scope(meta, topics[i % len(topics)], dialect, None, language)
        built = fns[i % len(fns)](scope, rng)
        if built is None or not wanted(built):
            continue
        out.append((built, _render(built.expression, dialect), scope))
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module")
def built(example):
    return {kind: build(example.meta, "sqlite", kind, 40) for kind in KINDS}


def test_new_figures_run_with_the_shape_keys_people_ask(example, built):
    keys: Counter = Counter()
    with Executor(example.db, timeout_s=10, row_cap=1000) as ex:
        for kind, made in built.items():
            assert len(made) >= 30, kind
            nonempty = 0
            for _b, sql, _ in made:
                result = ex.execute(sql)
                assert result.ok, (result.error, sql)
                nonempty += result.row_count > 0
                keys[shape(sql, "sqlite").key] += 1
            assert nonempty >= 0.9 * len(made), kind
    assert any(k.endswith("+group+case") and "+count+" in k for k in keys), sorted(keys)
    assert any("+order+case" in k for k in keys), sorted(keys)
    assert any("+argmax+arithmetic" in k for k in keys), sorted(keys)
    assert any("+agg+group+" in k and k.endswith("arithmetic") for k in keys), sorted(keys)


def test_a_conditional_count_is_the_rows_meeting_it(example, built):
    """``COUNT(CASE WHEN c THEN 1 END)`` / ``SUM(CASE ... ELSE 0 END)`` per group is the
    group's row count under ``WHERE c``; never more than its rows, never on the grouping
    column, never on a column the WHERE conditions already."""
    spellings = set()
    with Executor(example.db, timeout_s=10, row_cap=50_000) as ex:
        for b, sql, _ in built["cond_them"]:
            cond = b.slots["agg2"][1].cond
            g = b.slots.get("g")
            assert g is None or g.column is not cond.col.column, sql
            for c in b.slots.get("where") or []:
                assert not shapes._same_col(c.col, cond.col), sql
            spellings.add("COUNT(CASE" in sql)
            if b.slots["agg"][0] == "count" and " LIMIT " not in sql:
                rows = ex.execute(sql).rows
                assert all(r[-1] <= r[-2] for r in rows), sql
    assert spellings == {True, False}  # both ways people write it


def test_a_distinct_count_next_to_a_total_counts_something_that_varies(example, built):
    """``COUNT(DISTINCT customer_id)`` next to ``SUM(amount)``: never of the grouping
    column nor of the link the query joins through (one value per group: always 1), and
    some group has more than one."""
    more_than_one = 0
    with Executor(example.db, timeout_s=10, row_cap=50_000) as ex:
        for b, sql, _ in built["distinct_next"]:
            col = b.slots["agg2"][1]
            assert b.slots["agg"][0] in shapes.AGGS, sql  # next to a total or an average
            g = b.slots.get("g")
            assert g is None or g.column is not col.column, sql
            q = sqlglot.parse_one(sql, read="sqlite")
            on = {
                c.sql()
                for j in q.args.get("joins") or []
                for c in j.args["on"].find_all(exp.Column)
            }
            grouped = (
                {e.sql() for e in q.args["group"].expressions} if q.args.get("group") else set()
            )
            # Grouped by a parent's category, the link counts the group's parents: it varies.
            if not grouped or grouped & on:
                assert f"{col.alias}.{col.column.name}" not in on, sql
            rows = ex.execute(sql).rows
            more_than_one += any(r[-1] > 1 for r in rows)
    assert more_than_one >= 0.8 * len(built["distinct_next"])


def test_days_between_two_dates_are_counted_as_the_dates_say(example, built):
    checked = 0
    with Executor(example.db, timeout_s=10, row_cap=50_000) as ex:
        for b, sql, scope in built["days_rows"]:
            late, early = b.slots["a"], b.slots["b"]
            # the dates themselves next to the computed value
            q = sqlglot.parse_one(sql, read="sqlite")
            q.select(scope.ref(late), scope.ref(early), copy=False)
            got = ex.execute(q.sql("sqlite"))
            assert got.ok, (got.error, sql)
            for row in got.rows:
                days, a, c = row[-3], row[-2], row[-1]
                if a is None or c is None:
                    assert days is None
                    continue
                want = (date.fromisoformat(str(a)[:10]) - date.fromisoformat(str(c)[:10])).days
                assert days == want, (sql, row)
                checked += 1
    assert checked
    pairs = {(b.slots["a"].column.name, b.slots["b"].column.name) for b, _, _ in built["days_rows"]}
    assert ("termination_date", "hire_date") in pairs and ("delivered_at", "shipped_at") in pairs


def test_durations_pair_the_dates_a_row_lives_by(example):
    scope = Scope(example.meta, [t.qualified_name for t in example.meta.tables], "sqlite", None)
    found = {
        t.name: {(a.column.name, b.column.name) for a, b in shapes._durations(scope, t)}
        for t in scope.tables
    }
    assert found["employees"] == {("termination_date", "hire_date")}
    assert found["orders"] == {("shipped_at", "ordered_at")}  # ordered, then shipped
    assert found["promotions"] == {("end_date", "start_date")}
    assert not found["customers"]  # birth and registration both start something


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_new_figures_render_in_every_dialect(example, dialect):
    meta = example.meta.replace(engine=ENGINE[dialect], dialect=dialect)
    validator = Validator(meta, dialect)
    text = []
    for kind in KINDS:
        made = build(meta, dialect, kind, 15, seed=3)
        assert len(made) >= 10, kind
        for _, sql, _ in made:
            sqlglot.parse_one(sql, read=dialect)
            verdict = validator.check_static(sql)
            assert verdict.ok, (verdict.reason, sql)
            text.append(sql)
    joined = "\n".join(text)
    spans = {
        "sqlite": "JULIANDAY(DATE(",
        "postgres": " AS DATE) - CAST(",
        "mysql": "DATEDIFF(",
        "tsql": "DATEDIFF(day, ",
    }
    assert spans[dialect] in joined
    assert "THEN 1 END)" in joined and "THEN 1 ELSE 0 END)" in joined
    if dialect == "tsql":  # AVG of whole days keeps its fraction
        assert "AVG(CAST(DATEDIFF(day, " in joined


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
            if _them(b):
                conds.append(b.slots["agg2"][1].cond)
                assert (
                    ("how many of those" in q or "among them" in q)
                    if language == "en"
                    else ("其中" in q)
                ), q
            for c in conds:  # and the condition's column, not just its value
                assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
            if _durational(b):
                assert ("number of days from" in q) if language == "en" else ("天数" in q), q
            asked[q] = sql
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": sql} for i, (q, sql) in enumerate(asked.items())],
        dialect="sqlite", metadata=example.meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_new_figures_execute_on_real_engines(request, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    topics = []
    for t in meta.tables:  # each table with the tables its foreign keys point at
        refs = [fk.ref_table for fk in t.foreign_keys if meta.table(fk.ref_table, fk.ref_schema)]
        topics.append(tuple(dict.fromkeys([t.qualified_name, *refs]))[:4])
    made = {
        kind: build(meta, meta.dialect, kind, 12, seed=2, topics=tuple(topics)) for kind in KINDS
    }
    nonempty = total = 0
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        for kind, items in made.items():
            assert len(items) >= 6, kind  # rental_date to return_date
            for _, sql, _ in itertools.islice(items, 12):
                result = ex.execute(sql)
                assert result.ok, (result.error, sql)
                total += 1
                nonempty += result.row_count > 0
    db.dispose()
    assert nonempty >= 0.9 * total
