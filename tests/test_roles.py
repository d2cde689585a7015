"""Column roles and data-verified links, on constructed tables and on real engines."""

from __future__ import annotations

import json

import pytest

from data_create import links, metadata
from data_create.connect import connect
from data_create.records import Column, ColumnStats, SchemaMetadata, Table
from data_create.roles import infer, parse_meanings
from tests.test_metadata import run_sql, sqlite_db

MEANINGS = [
    ("订单状态：0->待付款；1->待发货；2->已发货；3->已完成",
     [("0", "待付款"), ("1", "待发货"), ("2", "已发货"), ("3", "已完成")]),
    ("状态（0正常 1停用）", [("0", "正常"), ("1", "停用")]),
    ("0 可用, 1 禁用, 2 注销", [("0", "可用"), ("1", "禁用"), ("2", "注销")]),
    ("售后状态，0是可申请，1是用户已申请，2是管理员审核通过",
     [("0", "可申请"), ("1", "用户已申请"), ("2", "管理员审核通过")]),
    ("帐号启用状态:0->禁用；1->启用", [("0", "禁用"), ("1", "启用")]),
    ("possible values: active, inactive, suspended, closed",
     [("active", "active"), ("inactive", "inactive"), ("suspended", "suspended"),
      ("closed", "closed")]),
    ("Insurance type. Possible values: private, medicare, medicaid, uninsured",
     [("private", "private"), ("medicare", "medicare"), ("medicaid", "medicaid"),
      ("uninsured", "uninsured")]),
    ("每次使用积分最小单位100", []),
    ("评分， 1-5", []),
    ("商品名称", []),
    ("", []),
]  # fmt: skip


@pytest.mark.parametrize(("comment", "expected"), MEANINGS)
def test_value_meanings_from_comments(comment, expected):
    assert list(parse_meanings(comment)) == expected


def _col(name, raw, type_, comment=None, stats=None, samples=()):
    return Column(name, raw, type_, comment=comment, stats=stats, samples=samples)


ROLE_CASES = [
    # (column, expected role, additive)
    (_col("update_by", "varchar(64)", "text"), "identifier", False),
    (_col("Year", "int", "integer"), "year", False),
    (_col("sort", "int", "integer", "排序"), "sort_key", False),
    (_col("display_order", "int", "integer"), "sort_key", False),
    (_col("UnitPrice", "numeric", "decimal"), "measure", False),
    (_col("Quantity", "int", "integer"), "measure", True),
    (_col("discount_amount", "decimal", "decimal", "折扣金额"), "measure", True),
    (_col("status", "char(1)", "text", "状态（0正常 1停用）"), "category", False),
    (_col("del_flag", "char(1)", "text", "删除标志（0代表存在 2代表删除）"), "flag", False),
    (_col("is_active", "tinyint(1)", "boolean"), "flag", False),
    (_col("user_name", "varchar(30)", "text", "用户姓名--例如张三"), "label", False),
    (_col("remark", "varchar(500)", "text", "备注"), "text", False),
    (_col("email", "varchar(50)", "text"), "contact", False),
    (_col("order_sn", "varchar(64)", "text", "订单编号"), "identifier", False),
    (_col("created_at", "timestamp", "datetime"), "datetime", False),
    (_col("Composer", "nvarchar(220)", "text", stats=ColumnStats(3000, 900, 800)), "label", False),
    (_col("MediaTypeId", "int", "integer"), "identifier", False),
    (_col("Milliseconds", "int", "integer"), "measure", True),
    (_col("weight", "decimal", "decimal", "商品重量，默认为克"), "measure", True),
    (_col("latitude", "float", "float"), "other", False),
    (
        _col("amount", "text", "text", stats=ColumnStats(50, 0, 40, numeric_text=True)),
        "measure",
        True,
    ),
]


@pytest.mark.parametrize(
    ("column", "role", "additive"), ROLE_CASES, ids=lambda x: getattr(x, "name", None)
)
def test_roles(column, role, additive):
    table = Table("t", columns=(Column("id", "int", "integer"), column), primary_key=("id",))
    got = infer(table, column)
    assert (got.role, got.additive) == (role, additive)
    if column.name == "amount":
        assert got.numeric_text
    if role == "year":
        assert not got.can_aggregate and got.can_group and got.can_rank
    if role in ("identifier", "sort_key", "flag"):
        assert not got.can_aggregate and not got.can_rank


def test_keys_and_links_make_key_roles():
    t = Table("order_item", columns=(Column("id", "int", "integer"), Column("order_id", "int", "integer")),
              primary_key=("id",))  # fmt: skip
    assert infer(t, t.columns[0]).role == "primary_key"
    assert infer(t, t.columns[1]).role == "identifier"  # no link known: still never summed
    md = SchemaMetadata(
        "sqlite", "sqlite", "x",
        (t, Table("orders", columns=(Column("id", "int", "integer"),), primary_key=("id",))),
        links=(links.Link("order_item", ("order_id",), "orders", ("id",), "verified", 1.0),),
    )  # fmt: skip
    folded = links.fold(md)
    assert folded.table("order_item").foreign_keys[0].name == "verified"
    assert links.fold(folded) == folded  # idempotent
    assert infer(folded.table("order_item"), t.columns[1]).role == "foreign_key"


def test_metadata_v1_files_still_read(tmp_path):
    t = Table("orders", columns=(Column("id", "int", "integer"), Column("amount", "decimal", "decimal")),
              primary_key=("id",))  # fmt: skip
    v2 = SchemaMetadata("sqlite", "sqlite", "x", (t,)).to_dict()
    v1 = {**v2, "version": 1}
    for c in v1["tables"][0]["columns"]:
        c.pop("role", None)
        c.pop("stats", None)
    v1.pop("links")
    v1.pop("rejected_links")
    md = SchemaMetadata.from_json(json.dumps(v1))
    assert md.table("orders").column("amount").role.role == "measure"
    assert SchemaMetadata.from_json(md.to_json()) == md


LINK_SCHEMA = """
CREATE TABLE jsh_tenant (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, login_name VARCHAR(40));
CREATE TABLE jsh_user (id BIGINT PRIMARY KEY, username VARCHAR(40), tenant_id BIGINT,
                       dept_code VARCHAR(20));
CREATE TABLE dept (dept_id BIGINT PRIMARY KEY, dept_name VARCHAR(40));
CREATE TABLE staff (id BIGINT PRIMARY KEY, dept_id VARCHAR(20), name VARCHAR(40));
CREATE TABLE brand (id INT PRIMARY KEY, name VARCHAR(40));
CREATE TABLE goods (id INT PRIMARY KEY, brand_id INT, name VARCHAR(40));
CREATE TABLE sale (id INT PRIMARY KEY, goods_id INT, amount DECIMAL(10,2));
INSERT INTO jsh_tenant VALUES (1, 63, 'a'), (2, 64, 'b'), (3, 65, 'c');
INSERT INTO jsh_user VALUES (10, 'u1', 63, 'x'), (11, 'u2', 64, 'y'), (12, 'u3', 63, 'x'), (13, 'u4', 65, 'z');
INSERT INTO dept VALUES (1, 'sales'), (2, 'ops');
INSERT INTO staff VALUES (1, '1', 'ann'), (2, '2', 'bob');
INSERT INTO brand VALUES (1, 'acme'), (2, 'globex');
INSERT INTO goods VALUES (1, 1, 'g1'), (2, 2, 'g2'), (3, 0, 'g3'), (4, 1, 'g4');
INSERT INTO sale VALUES (1, 1, 5.00), (2, 2, 7.50), (3, 9, 1.00), (4, 8, 2.00)
"""


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_links_confirmed_by_data(engine, request, tmp_path):
    if engine == "sqlite":
        dsn = sqlite_db(tmp_path, LINK_SCHEMA)
    else:
        dsn = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
        run_sql(dsn, LINK_SCHEMA)
    db = connect(dsn)
    try:
        md = metadata.extract(db)
    finally:
        db.dispose()
    kept = {lk.describe(): lk for lk in md.links if lk.source == "verified"}
    rejected = {lk.describe(): lk.reason for lk in md.rejected_links}
    # The real key is jsh_tenant.tenant_id, not jsh_tenant.id (the name-only guess).
    assert "jsh_user.tenant_id -> jsh_tenant.tenant_id" in kept
    assert "jsh_user.tenant_id -> jsh_tenant.id" not in kept
    assert "goods.brand_id -> brand.id" in kept  # 0 means "no brand", not a dangling key
    assert "sale.goods_id -> goods.id" not in kept  # half the values dangle
    assert "only 2 of 4 values" in rejected["sale.goods_id -> goods.id"]
    assert rejected["staff.dept_id -> dept.dept_id"].startswith("types differ")
    assert md.table("goods").column("brand_id").role.role == "foreign_key"
    assert md.table("sale").column("goods_id").role.role == "identifier"
    assert md.table("sale").column("amount").role.can_sum
    assert md.table("goods").row_count == 4  # counted, whatever the catalogue says


def test_prefixed_and_initial_keys_are_proposed():
    """sbTransaction.sbTxCustId -> sbCustomer.sbCustId (a schema-wide prefix on both
    sides), and wallet.user_id -> users.uid (the entity's initial + id)."""

    def tbl(name, *cols, pk=None):
        return Table(name, columns=tuple(Column(c, "varchar(20)", "text") for c in cols),
                     primary_key=(pk,) if pk else ())  # fmt: skip

    tables = [
        tbl("sbCustomer", "sbCustId", "sbCustName", pk="sbCustId"),
        tbl("sbTicker", "sbTickerId", "sbTickerSymbol", pk="sbTickerId"),
        tbl("sbTransaction", "sbTxId", "sbTxCustId", "sbTxTickerId", pk="sbTxId"),
        tbl("users", "uid", "username", pk="uid"),
        tbl("wallet", "wid", "user_id", pk="wid"),
    ]
    got = {(g.table, g.columns[0], g.ref_table, g.ref_columns[0]) for g in links.propose(tables)}
    assert ("sbTransaction", "sbTxCustId", "sbCustomer", "sbCustId") in got
    assert ("sbTransaction", "sbTxTickerId", "sbTicker", "sbTickerId") in got
    assert ("wallet", "user_id", "users", "uid") in got
    folded = [
        tbl("sbcustomer", "sbcustid", "sbcustname", pk="sbcustid"),
        tbl("sbtransaction", "sbtxid", "sbtxcustid", pk="sbtxid"),
    ]
    got = {(g.table, g.columns[0], g.ref_table) for g in links.propose(folded)}
    assert ("sbtransaction", "sbtxcustid", "sbcustomer") in got


def test_extension_keys_and_name_keyed_dimensions_are_proposed():
    """location(restaurant_id, ...) -- its only distinct id is the restaurant's, still a
    link; geographic(city_name, county, region) has no id: its first column, a distinct
    name, is the key restaurant.city_name points at.  users.user_id stays its own key."""
    from data_create.records import ColumnStats

    unique = ColumnStats(rows=4, nulls=0, distinct=4)
    repeated = ColumnStats(rows=4, nulls=0, distinct=2)

    def tbl(name, *cols):
        return Table(name, columns=tuple(
            Column(c, *(("bigint", "integer") if c.endswith("id") else ("text", "text")),
                   stats=unique)
            for c in cols))  # fmt: skip

    restaurant = Table("restaurant", columns=(
        Column("id", "bigint", "integer", stats=unique), Column("name", "text", "text", stats=unique),
        Column("city_name", "text", "text", stats=repeated)))  # fmt: skip
    location = tbl("location", "restaurant_id", "street_name")
    geographic = tbl("geographic", "city_name", "county", "region")
    users = tbl("users", "user_id", "user_name")
    got = {
        (g.table, g.columns[0], g.ref_table, g.ref_columns[0])
        for g in links.propose([restaurant, location, geographic, users])
    }
    assert ("location", "restaurant_id", "restaurant", "id") in got
    assert ("restaurant", "city_name", "geographic", "city_name") in got
    assert not any(t == "users" for t, *_ in got)
