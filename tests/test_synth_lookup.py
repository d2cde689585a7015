"""A parent looked up in a subquery instead of joined (data_create/synth/lookup.py), the
entities related to both of two values (shapes.both) and groups kept by a total or an
average (shapes.group_having, shapes.join_having).

A rewritten query gives the same answer as the joined one it was made from, on SQLite and
on PostgreSQL and MariaDB; it drops the join and gains the lookup's tag.  The new shapes
render and pass the static checks in every dialect, run with rows, carry the shape keys of
people's questions, and their questions state every condition in English and Chinese."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal
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
from data_create.records import SchemaMetadata, Topic
from data_create.synth import FAMILIES, Synthesizer, lookup, shapes
from data_create.synth.builder import Built, Scope
from data_create.synth.questions import Phraser
from data_create.synth.synthesizer import _render
from data_create.validator import Validator
from tests.test_synth_staging import ENGINE, SHAPES, topics, unlimited

NEW = (shapes.both, shapes.group_having, shapes.join_having)


def lookup_pairs(meta: SchemaMetadata, dialect: str, tries: int, seed: int = 0):
    """(joined, rewritten) pairs of every shape that joins a table only to filter on it."""
    rng, names, out = Random(seed), topics(meta), []
    for i in range(tries):
        scope = Scope(meta, names[i % len(names)], dialect, None, "en")
        built = SHAPES[i % len(SHAPES)](scope, rng)
        if built is not None and lookup.share(built.expression, scope):
            out.append((built, lookup.rewrite(built.expression, scope, rng)))
    return out


def rows(result) -> Counter:
    """The rows of a result, floats to 10 significant digits: a plan that reads the rows in
    another order adds them up in another order (``629.8321428571426`` / ``...429``)."""
    return Counter(
        tuple(float(f"{v:.10g}") if isinstance(v, float | Decimal) else v for v in r)
        for r in result.rows
    )


def same_answers(db: connect.Database, dialect: str, pairs) -> int:
    """Runs both queries of each pair and asserts the same rows; the number compared."""
    compared = 0
    with Executor(db, timeout_s=20, row_cap=100_000) as ex:
        for built, new in pairs:
            joined = _render(unlimited(built.expression), dialect)
            looked = _render(unlimited(new), dialect)
            a, b = ex.execute(joined), ex.execute(looked)
            if not a.ok:  # the joined query's own trouble (a timeout), not the rewrite's
                continue
            assert b.ok, (b.error, looked)
            assert rows(a) == rows(b), (joined, looked)
            compared += 1
    return compared


def test_lookups_give_the_same_answers_and_drop_the_join(example):
    pairs = lookup_pairs(example.meta, "sqlite", 6000)
    assert len(pairs) >= 100
    assert same_answers(example.db, "sqlite", pairs) == len(pairs)
    keys, forms = set(), Counter()
    for built, new in pairs:
        flat, looked = shape(_render(built.expression, "sqlite")), shape(_render(new, "sqlite"))
        # Same tables, one join fewer; a lookup by '=' or by IN, and its condition.
        assert looked.tables == flat.tables, (flat, looked)
        assert len(new.args.get("joins") or ()) == len(built.expression.args["joins"]) - 1
        form = "scalar_subquery" if "scalar_subquery" in looked.tags else "in_subquery"
        assert looked.tags - flat.tags == {form}, (flat, looked)
        assert flat.tags - looked.tags <= {"join"}, (flat, looked)
        forms[form] += 1
        keys.add(looked.key)
    assert forms["in_subquery"] > forms["scalar_subquery"] > 0.1 * len(pairs)
    assert {"t2+filter+in_subquery", "t2+filter+count+scalar_subquery"} <= keys, keys
    assert any(k.startswith("t3+join+filter") for k in keys), keys


def test_lookup_rewrites_only_a_join_that_filters(example):
    scope = Scope(example.meta, ["orders", "stores", "customers"], "sqlite", None)

    def rewrite(sql: str, seed: int = 0) -> str | None:
        new = lookup.rewrite(sqlglot.parse_one(sql), scope, Random(seed))
        return new.sql() if new is not None else None

    # The FROM table goes too: the first join's table takes its place.  A unique name is
    # looked up with '=' (sometimes IN); a range's two conditions move together.
    by_name = {
        rewrite("SELECT t2.full_name FROM stores AS t1 JOIN customers AS t2 ON "
                "t2.home_store_id = t1.store_id WHERE t1.store_name = 'X'", seed)
        for seed in range(20)
    }  # fmt: skip
    assert by_name == {
        "SELECT full_name FROM customers WHERE home_store_id = "
        "(SELECT store_id FROM stores WHERE store_name = 'X')",
        "SELECT full_name FROM customers WHERE home_store_id IN "
        "(SELECT store_id FROM stores WHERE store_name = 'X')",
    }
    assert rewrite(
        "SELECT COUNT(*) FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "JOIN customers AS t3 ON t1.customer_id = t3.customer_id WHERE t1.channel = 'app' "
        "AND (t2.opened_on >= '2020-01-01' AND t2.opened_on < '2021-01-01') AND t3.gender = 'F'"
    ) in (
        "SELECT COUNT(*) FROM orders AS t1 JOIN customers AS t3 ON t1.customer_id = "
        "t3.customer_id WHERE t1.channel = 'app' AND t1.store_id IN (SELECT store_id FROM "
        "stores WHERE opened_on >= '2020-01-01' AND opened_on < '2021-01-01') AND t3.gender = 'F'",
        "SELECT COUNT(*) FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t1.channel = 'app' AND t2.opened_on >= '2020-01-01' AND t2.opened_on < "
        "'2021-01-01' AND t1.customer_id IN (SELECT customer_id FROM customers WHERE gender = 'F')",
    )
    # One table left, its qualifiers go -- unless an output is named like a column.
    assert rewrite(
        "SELECT SUM(t1.total_amount) AS total_amount FROM orders AS t1 JOIN stores AS t2 "
        "ON t1.store_id = t2.store_id WHERE t2.city = 'X'"
    ) == ("SELECT SUM(t1.total_amount) AS total_amount FROM orders AS t1 WHERE t1.store_id IN "
          "(SELECT store_id FROM stores WHERE city = 'X')")  # fmt: skip
    for sql in (
        # The parent is shown, grouped or sorted by: its join is more than a filter.
        "SELECT t2.city, COUNT(*) FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = "
        "t2.store_id WHERE t2.store_type = 'outlet' GROUP BY t2.city",
        "SELECT t1.order_no FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t2.city = 'X' ORDER BY t2.opened_on",
        # No condition on it; a condition that reads both tables; a LEFT JOIN; SELECT *.
        "SELECT COUNT(*) FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id",
        "SELECT COUNT(*) FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t2.city = 'X' OR t1.channel = 'app'",
        "SELECT COUNT(*) FROM orders AS t1 LEFT JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t2.city = 'X'",
        "SELECT * FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t2.city = 'X'",
        # The child's side: its key repeats, so the join repeats stores (a lookup would not).
        "SELECT t2.store_name FROM orders AS t1 JOIN stores AS t2 ON t1.store_id = t2.store_id "
        "WHERE t1.channel = 'app'",
    ):
        assert rewrite(sql) is None, sql
        assert lookup.share(sqlglot.parse_one(sql), scope) == 0.0


def built_new(meta: SchemaMetadata, dialect: str, language: str, n: int = 60, seed: int = 0):
    """``n`` queries of each new shape (the HAVING ones only on a total or an average)."""
    rng, names, out = Random(seed), topics(meta), []
    for fn in NEW:
        made = []
        for i in range(n * 40):
            b = fn(Scope(meta, names[i % len(names)], dialect, None, language), rng)
            if b is not None and b.shape in ("both", "having_agg"):
                made.append(b)
            if len(made) == n:
                break
        assert len(made) >= n // 2, fn.__name__
        out += made
    return out


def test_new_shapes_run_with_rows_and_carry_the_keys_people_ask(example):
    built = built_new(example.meta, "sqlite", "en")
    keys: dict[str, Counter] = {}
    nonempty: Counter = Counter()
    with Executor(example.db, timeout_s=10, row_cap=100_000) as ex:
        for b in built:
            sql = _render(b.expression, "sqlite")
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            nonempty[b.shape] += result.row_count > 0
            keys.setdefault(b.shape, Counter())[shape(sql, "sqlite").key] += 1
    made = Counter(b.shape for b in built)
    # The pipeline drops an empty answer; the thresholds and the pairs come from the data
    # so that few are.
    assert nonempty["having_agg"] >= 0.85 * made["having_agg"], nonempty
    assert nonempty["both"] >= 0.7 * made["both"], nonempty
    assert {
        "t2+filter+count_distinct+group+having+in_subquery",
        "t3+filter+count_distinct+group+having+in_subquery",
        "t3+join+filter+count_distinct+group+having+in_subquery",
    } <= set(keys["both"]), keys["both"]
    assert {
        "t1+agg+group+having+order",
        "t1+filter+agg+group+having+order",
        "t2+join+agg+group+having+order",
        "t2+join+filter+agg+group+having+order",
    } <= set(keys["having_agg"]), keys["having_agg"]
    having = [b for b in built if b.shape == "having_agg"]
    assert {b.slots["agg"][0] for b in having} == {"sum", "avg"}
    assert {b.slots["above"] for b in having} == {True, False}


def test_both_counts_the_two_values_of_one_column(example):
    """``HAVING COUNT(DISTINCT c) = 2`` over ``c IN (a, b)``: the two values, different."""
    for b in built_new(example.meta, "sqlite", "en", 40, seed=2):
        if b.shape != "both":
            continue
        a, c = b.slots["where"]
        assert a.col.column == c.col.column and a.values[0].text != c.values[0].text
        having = b.expression.find(exp.Having)
        counted = having.this.this.this.expressions[0].sql()  # HAVING COUNT(DISTINCT x) = 2
        assert having.sql() == f"HAVING COUNT(DISTINCT {counted}) = 2"
        # ... of what the WHERE of the same SELECT keeps to the two values (or their keys).
        assert counted in [i.this.sql() for i in having.parent.args["where"].find_all(exp.In)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_lookups_and_new_shapes_render_in_every_dialect(example, dialect):
    meta = example.meta.replace(engine=ENGINE[dialect], dialect=dialect)
    validator = Validator(meta, dialect)
    queries = [new for _, new in lookup_pairs(meta, dialect, 1500)] + [
        b.expression for b in built_new(meta, dialect, "en", 20)
    ]
    text = []
    for q in queries:
        sql = _render(q, dialect)
        sqlglot.parse_one(sql, read=dialect)
        verdict = validator.check_static(sql)
        assert verdict.ok, (verdict.reason, sql)
        text.append(sql)
    text = "\n".join(text)
    assert " = (SELECT " in text and " IN (SELECT " in text and "HAVING SUM(" in text
    assert "HAVING AVG(" in text and "HAVING COUNT(DISTINCT " in text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_questions_state_every_condition(example, language):
    phraser = Phraser(language, example.meta)
    built = built_new(example.meta, "sqlite", language, 40, seed=1)
    asked = {}
    for b in built:
        q = phraser.question(b, Random(0))
        sql = _render(b.expression, "sqlite")
        for text in literals(sql, "sqlite"):  # COUNT(DISTINCT c) = 2 is "both", in words
            assert text in q, (text, q, sql)
        assert "{" not in q, q
        for c in b.slots["where"]:
            assert phraser.column(c.col) in q or phraser.column(c.col, True) in q, (q, sql)
        # The rows a figure is taken of, and the entities kept, are named.
        assert phraser.table(b.slots["t"], many=language == "en") in q, q
        if b.shape == "both":
            assert phraser.table(b.slots["t2"], many=language == "en") in q, q
        asked[q] = sql
    report = lint_samples(
        [{"id": str(i), "question": q, "sql": s} for i, (q, s) in enumerate(asked.items())],
        dialect="sqlite", metadata=example.meta,
    )  # fmt: skip
    assert not report.hits, report.by_rule


def scalar_lookup(sql: str) -> bool:
    """Whether ``sql`` looks a row up with ``= (SELECT key FROM ...)``: a subquery with no
    aggregate (the tied-for-the-top shapes compare with ``(SELECT MAX(...))``)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    return any(
        isinstance(s.parent, exp.EQ) and s.this.find(exp.AggFunc) is None
        for s in tree.find_all(exp.Subquery)
    )


def test_synthesizer_looks_up_a_share_of_its_stream(example):
    meta, names = example.meta, topics(example.meta)

    def stream(synth: Synthesizer, t: tuple[str, ...]) -> list[str]:
        return [
            c.sql for c in itertools.islice(synth.candidates(Topic("t", t, "x", 20, "sqlite")), 80)
        ]

    synth = Synthesizer(meta, dialect="sqlite", seed=5)
    sqls = [sql for t in names for sql in stream(synth, t)]
    assert 0 < sum(map(scalar_lookup, sqls)) < 0.05 * len(sqls)
    first = stream(Synthesizer(meta, dialect="sqlite", seed=5), names[0])
    assert first == sqls[: len(first)]
    assert shapes.both in FAMILIES["set_operation"]


DATABASES = SAKILA_SERVERS


@pytest.mark.parametrize("fixture", DATABASES)
def test_lookups_and_new_shapes_run_on_real_engines(request, fixture):
    db = connect.connect(request.getfixturevalue(fixture))
    meta = metadata.extract(db)
    pairs = lookup_pairs(meta, meta.dialect, 3000, seed=3)
    assert len(pairs) >= 30
    assert same_answers(db, meta.dialect, pairs) >= 0.95 * len(pairs)
    built: list[Built] = built_new(meta, meta.dialect, "en", 15)
    with Executor(db, timeout_s=20, row_cap=100_000) as ex:
        nonempty = 0
        for b in built:
            sql = _render(b.expression, meta.dialect)
            result = ex.execute(sql)
            assert result.ok, (result.error, sql)
            nonempty += result.row_count > 0
    assert nonempty >= 0.7 * len(built)
    db.dispose()
