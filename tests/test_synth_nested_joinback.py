"""Two more spellings of the nested shapes (data_create/synth/nested.py): per-parent figures
taken from the child table alone, by its link column, with the parent joined back in the
outer query for its name (a spelling of cte_top that answers exactly what it answers), and
a parent's rows ranked within each of its categories (``RANK() OVER (PARTITION BY ...)``
over a CTE of their figures).  They run with rows on SQLite, PostgreSQL and MariaDB, render
and pass the static checks in every dialect, carry the shape keys of the human questions
that ask them, and their questions state every condition in English and Chinese."""

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
from data_create.synth.naming import plural
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator

ENGINE = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "tsql": "mssql"}
TOPICS = (
    ("orders", "customers", "stores"),
    ("order_items", "orders", "customers"),
    ("order_items", "products", "orders"),
    ("payments", "orders"),
    ("employees",),
)


def joined_back(built) -> bool:
    return bool(built.slots.get("join_back"))


def within(built) -> bool:
    return built.slots.get("part") is not None


def build(meta, dialect: str, language: str, n: int = 40, seed: int = 0, topics=TOPICS):
    """``n`` join-back cte_top queries and ``n`` rank_groups ranked within a category."""
    rng = Random(seed)
    out = []
    for fn, wanted in ((nested.cte_top, joined_back), (nested.rank_groups, within)):
        made = 0
        for i in range(n * 200):
            built = fn(Scope(meta, topics[i % len(topics)], dialect, None, language), rng)
            if built is not None and wanted(built):
                out.append(built)
                made += 1
            if made == n:
                break
        assert made >= n // 2, fn.__name__
    return out


@pytest.fixture
def always(monkeypatch):
    """Every eligible draw takes the new spelling, so that tests see enough of them."""
    monkeypatch.setattr(nested, "_JOIN_BACK", 1.0)
    monkeypatch.setattr(nested, "_WITHIN", 1.0)


def _unlimited(built) -> str:
    q = built.expression.copy()
    q.set("limit", None)
    return _render(q, "sqlite")


def _rows(rows) -> Counter:
    return Counter(tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows)


def test_joining_back_answers_what_grouping_by_the_parent_answers(example, monkeypatch):
    """The same draw spelled both ways: the same rows (without the LIMIT, whose cut may
    fall among ties differently) and, with it, the same figures."""
    compared = Counter()
    keys = Counter()
    with Executor(example.db, timeout_s=10, row_cap=100_000) as ex:
        for seed in range(600):
            topic = TOPICS[seed % len(TOPICS)]
            made = []
            for back in (0.0, 1.0):
                monkeypatch.setattr(nested, "_JOIN_BACK", back)
                scope = Scope(example.meta, topic, "sqlite", None, "en")
                made.append(nested.cte_top(scope, Random(seed)))
            plain, back = made
            if back is None or not joined_back(back):
                continue
            assert plain is not None and not joined_back(plain)
            assert plain.shape == back.shape and plain.slots["agg"] == back.slots["agg"]
            a, b = ex.execute(_unlimited(plain)), ex.execute(_unlimited(back))
            assert a.ok and b.ok, (a.error, b.error, _unlimited(back))
            assert _rows(a.rows) == _rows(b.rows), (_unlimited(plain), _unlimited(back))
            if back.shape == "cte_top":  # the top n figures, whichever ties were kept
                sql = [_render(x.expression, "sqlite") for x in (plain, back)]
                tops = [sorted(_rows((r[1],) for r in ex.execute(s).rows), key=repr) for s in sql]
                assert tops[0] == tops[1], sql
            compared[back.shape] += 1
            keys[shape(_render(back.expression, "sqlite"), "sqlite").key] += 1
    assert sum(compared.values()) >= 100 and len(compared) == 3, compared
    # The shapes of the human questions that ask it (defog: broker, derm_treatment ...).
    assert {
        "t2+join+count+group+argmax+derived",
        "t2+join+filter+count+group+top+derived",
        "t3+join+count+group+argmax+derived",
    } <= set(keys), keys


def test_a_chain_keeps_its_inner_join_and_a_parent_condition_moves_out(example, always):
    texts = [_render(b.expression, "sqlite") for b in build(example.meta, "sqlite", "en", 60)]
    backs = [t for t in texts if "PARTITION BY" not in t]
    # The child's link column grouped, the parent joined on it outside.
    assert all("per_group JOIN " in t or ") AS per_group JOIN " in t for t in backs)
    assert any(t.startswith("WITH per_group AS") for t in backs)
    assert any(t.startswith("SELECT") and ") AS per_group JOIN " in t for t in backs)
    chain = "FROM order_items AS t1 JOIN orders AS t2 ON t1.order_id = t2.order_id"
    assert any(chain in t and "JOIN customers AS t3" in t for t in backs)
    # A condition on the parent said in the outer query, after its join.
    assert any(t.split("per_group JOIN ")[1].count(" WHERE t2.") for t in backs)


def test_they_run_with_answers(example, always):
    built = build(example.meta, "sqlite", "en", n=60, seed=2)
    answered = trivial = 0
    keys = Counter()
    with Executor(example.db, timeout_s=10, row_cap=1000) as ex:
        for b in built:
            sql = _render(b.expression, "sqlite")
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            answered += result.row_count > 0
            trivial += is_trivial(result.rows)
            if within(b):
                keys[shape(sql, "sqlite").key] += 1
    assert answered >= 0.9 * len(built)
    assert trivial <= 0.1 * len(built)
    assert any(k.startswith("t2+join+count_distinct+group+") for k in keys), keys
    assert all("+derived+window" in k for k in keys), keys


def test_rank_groups_shows_a_second_figure_more_often(example):
    rng = Random(4)
    plain = second = 0
    for i in range(1500):
        b = nested.rank_groups(Scope(example.meta, TOPICS[i % 4], "sqlite", None, "en"), rng)
        if b is not None and "WITH" not in _render(b.expression, "sqlite"):
            plain += 1
            second += "agg2" in b.slots
    assert 0.3 <= second / plain <= 0.5, (second, plain)


def test_their_samples_lint_clean(example, always):
    meta, phraser = example.meta, Phraser("en", example.meta)
    asked = {}
    for b in build(meta, "sqlite", "en", n=50, seed=3):
        asked[phraser.question(b, Random(0))] = _render(b.expression, "sqlite")
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": sql} for i, (q, sql) in enumerate(asked.items())],
        dialect="sqlite", metadata=meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_they_render_in_every_dialect(example, always, dialect):
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
    assert "OVER (PARTITION BY " in text and "per_group JOIN " in text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_their_questions_state_every_condition(example, always, language):
    phraser = Phraser(language, example.meta)
    ranked = 0
    for b in build(example.meta, "sqlite", language, n=40, seed=1):
        q = phraser.question(b, Random(0))
        sql = _render(b.expression, "sqlite")
        for text in literals(sql, "sqlite"):
            assert text in q, (text, q, sql)
        assert "{" not in q, q
        for c in b.slots.get("where") or []:  # the filter's column, not just its value
            assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
        g = b.slots["g"]  # the parent's rows, named by their table
        named = phraser.table(g.table)
        assert named in q or plural(named) in q, (named, q)
        if within(b):
            category = phraser.column(b.slots["part"])
            said = f"within each {category}" if language == "en" else f"在每个{category}内"
            assert said.lower() in q.lower(), q
            ranked += 1
    assert ranked


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_they_execute_on_real_engines(request, always, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    topics = []
    for t in meta.tables:  # each table with the tables its foreign keys point at
        refs = [fk.ref_table for fk in t.foreign_keys if meta.table(fk.ref_table, fk.ref_schema)]
        topics.append(tuple(dict.fromkeys([t.qualified_name, *refs]))[:4])
    built = build(meta, meta.dialect, "en", n=30, seed=5, topics=topics)
    answered = trivial = 0
    with Executor(db, timeout_s=10, row_cap=1000) as ex:
        for b in built:
            sql = _render(b.expression, meta.dialect)
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            answered += result.row_count > 0
            trivial += is_trivial(result.rows)
    db.dispose()
    assert answered >= 0.85 * len(built)
    assert trivial <= 0.15 * len(built)
