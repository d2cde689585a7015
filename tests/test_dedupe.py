"""Duplicate detection: exact SQL, same structure, near-duplicate questions; skeletons."""

from __future__ import annotations

import random

import pytest

from data_create import dedupe
from data_create.dedupe import Deduper, normalized_sql, skeleton, structural_key

DIALECTS = ("sqlite", "postgres", "mysql", "tsql")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_exact_duplicates_ignore_formatting_comments_and_case(dialect):
    a = "SELECT name, COUNT(*) FROM orders WHERE status = 'shipped' GROUP BY name"
    b = "select  name,count(*)\n from ORDERS  -- the orders\n where status='shipped' group by name;"
    assert normalized_sql(a, dialect) == normalized_sql(b, dialect)
    # Literal case is data, not formatting.
    assert normalized_sql(a, dialect) != normalized_sql(a.replace("shipped", "Shipped"), dialect)
    d = Deduper(dialect)
    assert d.check("How many shipped orders per name?", a) is None
    assert d.check("Something else entirely", b) == dedupe.EXACT


def test_postgres_quoted_identifiers_keep_their_case():
    assert normalized_sql('SELECT "Name" FROM t', "postgres") != normalized_sql(
        "SELECT Name FROM t", "postgres"
    )
    assert normalized_sql('SELECT "name" FROM t', "postgres") == normalized_sql(
        "SELECT Name FROM t", "postgres"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_structure_ignores_aliases_and_and_order(dialect):
    a = "SELECT a.x FROM t AS a WHERE a.y = 1 AND a.z = 2"
    b = "SELECT b.x FROM t b WHERE b.z = 2 AND b.y = 1"
    assert structural_key(a, dialect) == structural_key(b, dialect)
    assert normalized_sql(a, dialect) != normalized_sql(b, dialect)
    c = "SELECT SUM(o.amount) AS total FROM orders o JOIN stores s ON s.id = o.store_id GROUP BY s.name ORDER BY total DESC"
    e = "SELECT SUM(x.amount) AS revenue FROM orders x JOIN stores y ON y.id = x.store_id GROUP BY y.name ORDER BY revenue DESC"
    assert structural_key(c, dialect) == structural_key(e, dialect)
    # Different literals are a different query.
    assert structural_key(a, dialect) != structural_key(a.replace("= 2", "= 3"), dialect)
    d = Deduper(dialect)
    assert d.check("List x where y is 1 and z is 2", a) is None
    assert d.check("Which x have z 2 and y 1?", b) == dedupe.STRUCTURAL


def test_aliases_resolve_per_scope():
    # The inner `a` is another table; renaming must follow scopes, not names.
    a = "SELECT a.x FROM t a WHERE EXISTS (SELECT 1 FROM u a WHERE a.k = 1)"
    b = "SELECT p.x FROM t p WHERE EXISTS (SELECT 1 FROM u q WHERE q.k = 1)"
    c = "SELECT p.x FROM t p WHERE EXISTS (SELECT 1 FROM u q WHERE p.k = 1)"
    assert structural_key(a, "sqlite") == structural_key(b, "sqlite")
    assert structural_key(b, "sqlite") != structural_key(c, "sqlite")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_skeleton_equal_for_literal_only_differences(dialect):
    a = "SELECT name FROM products WHERE price > 10 AND category IN ('a', 'b', 'c') ORDER BY name LIMIT 5"
    b = "SELECT name FROM products WHERE price > 99.5 AND category IN ('z') ORDER BY name LIMIT 20"
    assert skeleton(a, dialect) == skeleton(b, dialect)
    assert "10" not in skeleton(a, dialect) and "'a'" not in skeleton(a, dialect)
    assert skeleton("SELECT * FROM t WHERE x > -3", dialect) == skeleton(
        "SELECT * FROM t WHERE x > 4", dialect
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_skeleton_distinct_for_different_structure(dialect):
    queries = [
        "SELECT name FROM products WHERE price > 10",
        "SELECT name FROM products WHERE price < 10",
        "SELECT name FROM products WHERE stock > 10",
        "SELECT COUNT(*) FROM products WHERE price > 10",
        "SELECT name FROM products WHERE price > 10 ORDER BY name",
        "SELECT name FROM suppliers WHERE price > 10",
        "SELECT name FROM products WHERE name = 'x'",
    ]
    assert len({skeleton(q, dialect) for q in queries}) == len(queries)


def test_unparsable_sql_falls_back_to_normalized_text():
    bad = "SELEC  broken ((( FROM"
    assert normalized_sql(bad, "sqlite") == "selec broken ((( from"
    d = Deduper("sqlite")
    assert d.check("q1", bad) is None
    assert d.check("q2", "selec broken (((   FROM;") == dedupe.EXACT


def test_near_duplicate_question_needs_the_same_skeleton():
    d = Deduper("sqlite")
    q = "How many orders did the Downtown store ship in March 2024?"
    assert d.check(q, "SELECT COUNT(*) FROM orders WHERE store = 'Downtown' AND m = 3") is None
    near = "How many orders did the Downtown store ship in March 2024"
    # Same skeleton, other literals, near-identical wording: a duplicate.
    assert d.check(near, "SELECT COUNT(*) FROM orders WHERE store = 'Uptown' AND m = 4") == (
        dedupe.NEAR_QUESTION
    )
    # Same wording but a different query shape is a legitimate new sample.
    assert d.check(near, "SELECT SUM(total) FROM orders WHERE store = 'Downtown'") is None
    # Clearly different wording with the same skeleton is fine too.
    other = "Count the orders shipped by the Uptown store during April"
    assert d.check(other, "SELECT COUNT(*) FROM orders WHERE store = 'Uptown' AND m = 5") is None


def test_cjk_near_duplicates():
    d = Deduper("mysql")
    sql = "SELECT COUNT(*) FROM orders WHERE status = '{}'"
    assert d.check("统计二零二四年三月份所有门店已发货的订单数量是多少？", sql.format("a")) is None
    assert (
        d.check("统计二零二四年三月份所有门店已发货的订单数量是多少", sql.format("b"))
        == dedupe.NEAR_QUESTION
    )
    assert d.check("查询每个客户的累计消费金额", sql.format("c")) is None


def test_threshold_and_add_existing():
    strict = Deduper("sqlite", question_threshold=1.0)
    loose = Deduper("sqlite", question_threshold=0.5)
    for d in (strict, loose):
        d.add_existing(
            "list the names of all products sold online", "SELECT name FROM p WHERE x = 1"
        )
        assert len(d) == 1
        assert d.check("q", "SELECT name FROM p WHERE x = 1") == dedupe.EXACT
    q2 = "list the names of all products sold in stores"
    assert strict.check(q2, "SELECT name FROM p WHERE x = 2") is None
    assert loose.check(q2, "SELECT name FROM p WHERE x = 2") == dedupe.NEAR_QUESTION
    with pytest.raises(ValueError):
        Deduper("sqlite", question_threshold=0)


def test_many_questions_exact_near_duplicate_detection():
    # 3,000 varied questions plus planted near-duplicates: every plant is caught and
    # no original is flagged (the index must not lose candidates).
    rng = random.Random(7)
    words = [
        "orders",
        "customers",
        "stores",
        "products",
        "revenue",
        "monthly",
        "average",
        "top",
        "region",
        "supplier",
    ]
    d = Deduper("sqlite")
    originals = []
    for i in range(3000):
        q = " ".join(rng.choice(words) for _ in range(8)) + f" case {i:05d} of the quarterly report"
        sql = f"SELECT c{i % 50} FROM t{i % 40} WHERE k = {i}"
        assert d.check(q, sql) is None, q
        originals.append((q, sql))
    for i, (q, sql) in enumerate(originals[::100]):
        planted = sql.split(" = ")[0] + f" = {100000 + i}"  # same skeleton, new literal
        assert d.check(q + "s", planted) == dedupe.NEAR_QUESTION
    assert len(d) == 3000
