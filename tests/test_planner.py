"""The offline planner: FK-based topics, names in the requested language, exact budgets."""

from __future__ import annotations

import re

import pytest

from data_create import example, metadata, planner
from data_create.connect import connect
from data_create.errors import ConfigError, PlanningError
from data_create.links import propose, verify
from data_create.records import Column, ForeignKey, Plan, SchemaMetadata, Table

BUDGETS = (1, 3, 7, 100, 1000)


def extract(dsn: str) -> SchemaMetadata:
    db = connect(dsn)
    try:
        return metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def example_md() -> SchemaMetadata:
    return extract(example.example_dsn())


def non_empty_base_tables(md: SchemaMetadata) -> set[str]:
    return {t.qualified_name for t in md.tables if t.kind == "table" and t.row_count != 0}


def check_plan(md: SchemaMetadata, budget: int, **kw) -> Plan:
    p = planner.plan(md, budget, **kw)
    assert p.total == budget
    assert p.planner == "offline"
    assert all(t.count >= 1 for t in p.topics)
    assert len({t.name for t in p.topics}) == len(p.topics)
    names = {t.qualified_name: t for t in md.tables}
    for topic in p.topics:
        assert topic.dialect == md.dialect
        assert 1 <= len(topic.tables) <= kw.get("max_tables", 5)
        assert len(set(topic.tables)) == len(topic.tables)
        for name in topic.tables:
            assert names[name].kind == "table" and names[name].row_count != 0
    return p


def test_example_db_topics_are_fk_cohesive(example_md):
    p = check_plan(example_md, 1000)
    covered = {t for topic in p.topics for t in topic.tables}
    assert covered == non_empty_base_tables(example_md)
    assert not any(t.startswith("v_") for t in covered)  # views duplicate their base tables
    by_table = {t.tables[0]: t for t in p.topics}
    orders = by_table["orders"]
    assert set(orders.tables) >= {"orders", "customers", "stores"}
    assert "orders references customers" in orders.reason
    # Every multi-table topic is connected through foreign keys inside it.
    refs = {t.name: {fk.ref_table for fk in t.foreign_keys} for t in example_md.tables}
    for topic in p.topics:
        if len(topic.tables) == 1:
            continue
        linked = {a for a in topic.tables for b in topic.tables if b in refs[a] or a in refs[b]}
        assert linked == set(topic.tables), topic
    assert orders.name.startswith("Sales order header")


@pytest.mark.parametrize("budget", BUDGETS)
def test_budgets_sum_exactly_and_cover_tables(example_md, budget):
    p = check_plan(example_md, budget)
    full = planner.plan(example_md, 1000)
    if budget >= len(full.topics):
        assert {t for topic in p.topics for t in topic.tables} == non_empty_base_tables(example_md)
    else:
        # Trimmed: the richest topics survive, one sample each.
        assert len(p.topics) == budget
        assert [t.tables for t in p.topics] == [t.tables for t in full.topics[:budget]]


def test_richer_topics_get_more_and_a_floor_holds(example_md):
    p = planner.plan(example_md, 1000)
    counts = [t.count for t in p.topics]
    assert counts == sorted(counts, reverse=True)
    assert min(counts) >= 0.3 * 1000 / len(counts) - 1


def test_chinese_names_from_bilingual_comments(example_md):
    zh = planner.plan(example_md, 100, language="zh")
    en = planner.plan(example_md, 100, language="en")
    assert [t.tables for t in zh.topics] == [t.tables for t in en.topics]
    assert all(re.search(r"[\u4e00-\u9fff]", t.name) for t in zh.topics)
    assert not any(re.search(r"[\u4e00-\u9fff]", t.name) for t in en.topics)
    assert any(t.name.startswith("订单主表") for t in zh.topics)


def test_deterministic(example_md):
    again = extract(example.example_dsn())
    assert planner.plan(example_md, 777).to_dict() == planner.plan(again, 777).to_dict()
    reversed_md = example_md.replace(tables=tuple(reversed(example_md.tables)))
    assert planner.plan(reversed_md, 777).to_dict() == planner.plan(example_md, 777).to_dict()
    assert Plan.from_dict(planner.plan(example_md, 50).to_dict()) == planner.plan(example_md, 50)


@pytest.mark.parametrize("max_tables", [1, 2, 3])
def test_max_tables_respected(example_md, max_tables):
    p = check_plan(example_md, 200, max_tables=max_tables)
    assert {t for topic in p.topics for t in topic.tables} == non_empty_base_tables(example_md)


def col(name):
    return Column(name, "integer", "integer")


def test_views_and_empty_tables_excluded_unknown_counts_kept():
    md = SchemaMetadata(
        "sqlite", "sqlite", "x",
        (
            Table("a", columns=(col("id"),), row_count=10),
            Table("b", columns=(col("id"), col("a_id")), row_count=None,
                  foreign_keys=(ForeignKey(("a_id",), "a", ("id",)),)),
            Table("empty", columns=(col("id"),), row_count=0),
            Table("v", kind="view", columns=(col("id"),)),
            Table("lonely_thing", columns=(col("id"),), row_count=5),
        ),
    )  # fmt: skip
    p = check_plan(md, 10)
    assert sorted(t.tables for t in p.topics) == [("b", "a"), ("lonely_thing",)]
    assert [t.name for t in p.topics if t.tables == ("lonely_thing",)] == ["Lonely thing"]
    assert "no foreign-key link" in p.topics[1].reason
    with_views = planner.plan(md, 10, include_views=True)
    assert ("v",) in [t.tables for t in with_views.topics]


def test_errors():
    md = SchemaMetadata("sqlite", "sqlite", "x", (Table("v", kind="view", columns=(col("id"),)),))
    with pytest.raises(PlanningError, match="1 views skipped"):
        planner.plan(md, 10)
    ok = md.replace(tables=(Table("t", columns=(col("id"),)),))
    for bad in (0, -5):
        with pytest.raises(ConfigError):
            planner.plan(ok, bad)
    with pytest.raises(ConfigError):
        planner.plan(ok, 10, max_tables=0)


@pytest.mark.mysql
def test_sakila_mysql(sakila_mysql):
    md = extract(sakila_mysql)
    for budget in BUDGETS:
        p = check_plan(md, budget)
    p = planner.plan(md, 1000)
    assert {t for topic in p.topics for t in topic.tables} == non_empty_base_tables(md)
    rental = next(t for t in p.topics if "rental" in t.tables and len(t.tables) > 2)
    assert "rental references" in rental.reason


@pytest.mark.mysql
def test_mall_mysql_chinese(mall_mysql):
    md = extract(mall_mysql)
    p = check_plan(md, 1000, language="zh")
    assert {t for topic in p.topics for t in topic.tables} == non_empty_base_tables(md)
    chinese = [t for t in p.topics if re.search(r"[\u4e00-\u9fff]", t.name)]
    assert len(chinese) >= 0.9 * len(p.topics)
    en = planner.plan(md, 1000, language="en")
    assert not any(t.name.startswith(("oms ", "pms ", "sms ", "ums ")) for t in en.topics)


def test_links_implied_by_column_names_when_none_are_declared():
    def t(name, *cols, comment=None):
        return Table(name, columns=tuple(col(c) for c in ("id", *cols)), primary_key=("id",),
                     comment=comment, row_count=50)  # fmt: skip

    md = SchemaMetadata(
        "mysql", "mysql", "mall",
        (
            t("oms_order", "member_id", comment="订单表"),
            t("oms_order_item", "order_id", "product_id"),
            t("pms_product", "brand_id"),
            t("pms_brand"),
            t("ums_member"),
            t("ums_log", "parent_id"),
        ),
    )  # fmt: skip
    guesses = propose(md.tables)
    assert sorted((g.table, g.columns, g.ref_table) for g in guesses) == [
        ("oms_order", ("member_id",), "ums_member"),
        ("oms_order_item", ("order_id",), "oms_order"),
        ("oms_order_item", ("product_id",), "pms_product"),
        ("pms_product", ("brand_id",), "pms_brand"),
    ]
    # Only what the data confirmed joins topics: here every guess holds.
    kept, rejected = verify(guesses, lambda g: (10, 10))
    assert rejected == []
    md = md.replace(links=tuple(kept))
    p = check_plan(md, 20, max_tables=3)
    item = next(topic for topic in p.topics if topic.tables[0] == "oms_order_item")
    assert set(item.tables) == {"oms_order_item", "oms_order", "pms_product"}
    assert (
        "oms_order_item references oms_order (implied by column names, confirmed by the data)"
        in item.reason
    )
    assert planner.plan(md, 20, language="en").topics[0].name[0].isupper()
    assert ("ums_log",) in [topic.tables for topic in p.topics]
