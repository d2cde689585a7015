"""The nested shapes (data_create/synth/nested.py): per-group figures in derived tables and
CTEs, windows over aggregates.  They render, parse and pass the static checks in every
dialect, run with rows on real engines, carry the shape tags people's questions have, and
their questions state every condition, in English and Chinese."""

from __future__ import annotations

import itertools
from collections import Counter
from random import Random

import pytest
import sqlglot
from conftest import SAKILA_SERVERS

from data_create import connect, metadata
from data_create.executor import Executor
from data_create.features import literals
from data_create.quality.lint import lint_samples
from data_create.quality.shape import shape
from data_create.records import Topic
from data_create.synth import Synthesizer, check_shape_mix, latest, nested
from data_create.synth.builder import Scope
from data_create.synth.families import DEFAULT_SHAPE_MIX, FAMILIES
from data_create.synth.naming import plural
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator

SHAPES = (
    nested.nested_avg, nested.nested_count, nested.nested_above, nested.cte_top,
    nested.rank_groups, nested.share_of_total, nested.running_total,
)  # fmt: skip
ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "tsql": "mssql"}
# The topics: a fact table with its parents, and a chain (items -> orders -> customers).
TOPICS = (
    ("orders", "customers", "stores"),
    ("order_items", "orders", "customers"),
    ("order_items", "products", "orders"),
    ("payments", "orders"),
    ("employees",),
)


def build(meta, dialect: str, language: str, n: int = 60, seed: int = 0):
    """``n`` built queries of every nested shape over the example's topics."""
    rng = Random(seed)
    out = []
    for fn in SHAPES:
        made = 0
        for i in range(n * 10):
            scope = Scope(meta, TOPICS[i % len(TOPICS)], dialect, None, language)
            built = fn(scope, rng)
            if built is not None:
                out.append(built)
                made += 1
            if made == n:
                break
        assert made >= n // 2, fn.__name__
    return out


def test_nested_shapes_run_and_carry_their_tags(example):
    meta, phraser = example.meta, Phraser("en", example.meta)
    built = build(meta, "sqlite", "en")
    tags: dict[str, Counter] = {}
    made: Counter = Counter()
    with Executor(example.db, timeout_s=10, row_cap=1000) as ex:
        rows = 0
        for b in built:
            sql = _render(b.expression, "sqlite")
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            rows += result.row_count > 0
            tags.setdefault(b.shape, Counter()).update(shape(sql, "sqlite").tags)
            made[b.shape] += 1
    assert rows >= 0.9 * len(built)
    for name in ("nested_avg", "nested_count", "nested_above", "cte_top"):
        assert tags[name]["derived"] == made[name] > 0, name
    assert tags["nested_above"]["scalar_subquery"] and tags["nested_count"]["having"]
    assert tags["cte_top"]["top"] and tags["rank_groups"]["window"]
    # (the shape key sees arithmetic only over a column: SUM(x) * 100.0, not COUNT(*) * 100.0)
    # The whole is a window over the groups, or a scalar subquery over the same rows.
    share = tags["share_of_total"]
    assert share["window"] + share["scalar_subquery"] == made["share_of_total"]
    assert share["window"] and share["scalar_subquery"]
    assert tags["share_of_total"]["arithmetic"] > 0
    # A running total: over a CTE of the buckets, or next to their GROUP BY.
    assert (
        tags["running_month"]["window"]
        == made["running_month"]
        > tags["running_month"]["derived"]
        > 0
    )
    every = Counter()
    for counts in tags.values():
        every.update(counts)
    # Over one table, a join and a two-edge path; filtered and not.
    assert every["join"] and every["filter"] and every["count"] and every["agg"]
    assert every["count_distinct"]
    keys = {shape(_render(b.expression, "sqlite"), "sqlite").key for b in built}
    assert {k[:2] for k in keys} == {"t1", "t2", "t3"}, keys
    assert len(keys) >= 30, keys
    # One sample per question, as the synthesizer keeps them (a CTE and the same query as a
    # derived table ask one question).
    asked = {phraser.question(b, Random(0)): _render(b.expression, "sqlite") for b in built}
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": sql} for i, (q, sql) in enumerate(asked.items())],
        dialect="sqlite", metadata=meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_nested_shapes_render_in_every_dialect(example, dialect):
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
    assert "WITH per_group AS (" in text and ") AS per_group" in text
    assert "OVER ()" in text and "RANK() OVER (ORDER BY" in text
    if dialect == "tsql":  # AVG of integers is an integer there: the counts are CAST first
        assert "AVG(CAST(total AS FLOAT))" in text and "TOP " in text
    else:
        assert "AVG(total)" in text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_nested_questions_state_every_condition(example, language):
    phraser = Phraser(language, example.meta)
    for b in build(example.meta, "sqlite", language, n=40, seed=1):
        q = phraser.question(b, Random(0))
        sql = _render(b.expression, "sqlite")
        for text in literals(sql, "sqlite"):
            if text == "1" and b.shape == "cte_argmax":
                continue  # LIMIT 1 is "the one with the most"
            assert text in q, (text, q, sql)
        assert "{" not in q and "limited to" not in q, q
        if b.slots.get("where"):  # and the filter's column, not just its value
            for c in b.slots["where"]:
                assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
        g = b.slots.get("g")
        if g is not None:  # the groups are named: their table, or their column
            named = phraser.table(g.table) if b.slots.get("g_row") else phraser.column(g)
            assert named in q or plural(named) in q, (named, q)


def test_the_nested_family_is_registered():
    assert "nested" in FAMILIES and DEFAULT_SHAPE_MIX["nested"] > 0
    assert check_shape_mix({"nested": 0.3})["nested"] == 0.3
    assert set(FAMILIES["nested"]) == set(SHAPES[:4]) | {
        nested.window_over_groups,
        nested.running_total,
        nested.period_change,
        nested.bucket_share,
        latest.latest_row,
    }


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_nested_family_executes_on_real_engines(request, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    only = {f: 0.0 for f in FAMILIES} | {"nested": 1.0}
    synth = Synthesizer(meta, dialect=meta.dialect, seed=2, shape_mix=only)
    streams = []
    for t in meta.tables:  # each table with the tables its foreign keys point at
        refs = [fk.ref_table for fk in t.foreign_keys if meta.table(fk.ref_table, fk.ref_schema)]
        names = tuple(dict.fromkeys([t.qualified_name, *refs]))[:4]
        streams.append(synth.candidates(Topic(t.name, names, "test", 10, meta.dialect)))
    cands = list(itertools.islice(itertools.chain(*(itertools.islice(s, 8) for s in streams)), 120))
    assert len(cands) >= 100 and {c.shape for c in cands} == {"nested"}
    nonempty = 0
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        for c in cands:
            result = ex.execute(c.sql)
            assert result.ok, (result.error, c.sql)
            nonempty += result.row_count > 0
    db.dispose()
    assert nonempty >= 0.85 * len(cands)  # the pipeline drops the empty ones
