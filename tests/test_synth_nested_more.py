"""Two more nested shapes (data_create/synth/nested.py): a figure per period and its change
from the previous one (``LAG`` over the buckets), and entities compared by how many rows
each has (``CASE`` over a derived table of per-entity counts).  They run with rows on
SQLite, PostgreSQL and MariaDB, render and pass the static checks in every dialect, carry
the shape keys of the human questions that ask them, and their questions state every
condition in English and Chinese."""

from __future__ import annotations

from collections import Counter
from random import Random

import pytest
import sqlglot
from conftest import SAKILA_SERVERS

from data_create import connect, metadata
from data_create.executor import Executor
from data_create.features import literals
from data_create.quality.lint import is_trivial, lint_samples
from data_create.quality.shape import shape
from data_create.synth import nested
from data_create.synth.builder import Scope
from data_create.synth.families import FAMILIES
from data_create.synth.naming import plural
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator

SHAPES = (nested.period_change, nested.bucket_share)
ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "tsql": "mssql"}
TOPICS = (
    ("orders", "customers", "stores"),
    ("order_items", "orders", "customers"),
    ("order_items", "products", "orders"),
    ("payments", "orders"),
    ("employees",),
)


def build(meta, dialect: str, language: str, n: int = 60, seed: int = 0, topics=TOPICS):
    """``n`` built queries of each shape over ``topics``."""
    rng = Random(seed)
    out = []
    for fn in SHAPES:
        made = 0
        for i in range(n * 20):
            built = fn(Scope(meta, topics[i % len(topics)], dialect, None, language), rng)
            if built is not None:
                out.append(built)
                made += 1
            if made == n:
                break
        assert made >= n // 2, fn.__name__
    return out


def test_they_run_with_answers_and_carry_the_human_shape_keys(example):
    built = build(example.meta, "sqlite", "en", n=80)
    keys: dict[str, Counter] = {}
    tags: dict[str, Counter] = {}
    answered = trivial = 0
    with Executor(example.db, timeout_s=10, row_cap=1000) as ex:
        for b in built:
            sql = _render(b.expression, "sqlite")
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            answered += result.row_count > 0
            trivial += is_trivial(result.rows)
            s = shape(sql, "sqlite")
            keys.setdefault(b.shape[:6], Counter())[s.key] += 1
            tags.setdefault(b.shape[:6], Counter()).update(s.tags)
    assert answered >= 0.9 * len(built)
    assert trivial <= 0.1 * len(built)  # k is picked so that entities fall on both sides
    period, bucket = sum(keys["period"].values()), sum(keys["bucket"].values())
    assert tags["period"]["window"] == tags["period"]["arithmetic"] == period
    assert tags["period"]["order"] == period > tags["period"]["derived"] > 0  # CTE or not
    assert tags["period"]["join"] and tags["period"]["filter"]
    assert tags["bucket"]["case"] == tags["bucket"]["derived"] == bucket
    assert tags["bucket"]["arithmetic"] == bucket and tags["bucket"]["count_distinct"]
    # The shapes of the human questions these answer (defog: scholar, car_dealership ...).
    assert {
        "t1+agg+group+order+derived+window+arithmetic",
        "t1+count+group+order+window+arithmetic",
    } <= set(keys["period"]), keys["period"]
    assert any(k.startswith("t2+join+filter+") and "derived+window" in k for k in keys["period"])
    assert {
        "t1+count+group+derived+case+arithmetic",
        "t1+count+count_distinct+group+derived+case+arithmetic",
        "t2+join+count+group+derived+case+arithmetic",
    } <= set(keys["bucket"]), keys["bucket"]


def test_their_samples_lint_clean(example):
    meta, phraser = example.meta, Phraser("en", example.meta)
    asked = {}
    for b in build(meta, "sqlite", "en", n=60, seed=3):
        asked[phraser.question(b, Random(0))] = _render(b.expression, "sqlite")
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": sql} for i, (q, sql) in enumerate(asked.items())],
        dialect="sqlite", metadata=meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_they_render_in_every_dialect(example, dialect):
    meta = example.meta.replace(engine=ENGINE[dialect], dialect=dialect)
    validator = Validator(meta, dialect)
    sqls = []
    for b in build(meta, dialect, "en", n=25):
        sql = _render(b.expression, dialect)
        sqlglot.parse_one(sql, read=dialect)
        verdict = validator.check_static(sql)
        assert verdict.ok, (verdict.reason, sql)
        sqls.append(sql)
    text = "\n".join(sqls)
    assert "LAG(total) OVER (ORDER BY" in text and "- LAG(" in text
    assert "NULLIF(LAG(" in text  # the percent change
    assert "WITH buckets AS (" in text and ") AS per_group" in text
    assert "COUNT(CASE WHEN total" in text and "COUNT(DISTINCT CASE WHEN total" in text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_their_questions_state_every_condition(example, language):
    phraser = Phraser(language, example.meta)
    said = Counter()
    for b in build(example.meta, "sqlite", language, n=40, seed=1):
        q = phraser.question(b, Random(0))
        sql = _render(b.expression, "sqlite")
        for text in literals(sql, "sqlite"):
            assert text in q, (text, q, sql)
        assert "{" not in q, q
        for c in b.slots.get("where") or []:  # the filter's column, not just its value
            assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
        g = b.slots.get("g")
        if g is not None:  # the entities are named: their table, or their column
            named = phraser.table(g.table) if b.slots.get("g_row") else phraser.column(g)
            assert named in q or plural(named) in q, (named, q)
        if b.shape.startswith("period_"):
            assert phraser.column(b.slots["d"]) in q or phraser.column(b.slots["d"], True) in q
            said["change"] += ("previous" if language == "en" else "上") in q
            if b.slots.get("pct"):
                assert ("percentage" if language == "en" else "百分比") in q, q
        elif b.shape == "bucket_share":
            said["share"] += 1
            assert ("share" in q or "percentage" in q) if language == "en" else "比" in q, q
        else:
            said["ratio"] += 1
            assert ("ratio" in q or "for each one" in q) if language == "en" else "之比" in q, q
    assert said["change"] and said["share"] and said["ratio"]


def test_they_are_in_the_nested_family():
    assert {nested.period_change, nested.bucket_share} <= set(FAMILIES["nested"])


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_they_execute_on_real_engines(request, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    topics = []
    for t in meta.tables:  # each table with the tables its foreign keys point at
        refs = [fk.ref_table for fk in t.foreign_keys if meta.table(fk.ref_table, fk.ref_schema)]
        topics.append(tuple(dict.fromkeys([t.qualified_name, *refs]))[:4])
    built = build(meta, meta.dialect, "en", n=40, seed=5, topics=topics)
    answered = trivial = 0
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        for b in built:
            sql = _render(b.expression, meta.dialect)
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            answered += result.row_count > 0
            trivial += is_trivial(result.rows)
    db.dispose()
    assert answered >= 0.85 * len(built)  # the pipeline drops the empty ones
    assert trivial <= 0.15 * len(built)
