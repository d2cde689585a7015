"""The example's schema: fourteen tables and three views, defined once for every engine.

The SQLAlchemy ``Table`` objects below are created with ``create_all`` on PostgreSQL and
MariaDB/MySQL (comments become ``COMMENT ON`` / ``COMMENT '...'``), and rendered by
hand for SQLite, which has no COMMENT: there a ``-- comment`` at the end of a column's
line documents the column and one on the ``CREATE TABLE name (`` line documents the
table::

    CREATE TABLE orders (  -- 订单主表 / Sales order header
        order_id INTEGER NOT NULL,  -- 订单编号 / Order id
        ...

Each view's SQL is written once in the SQLite dialect and transpiled per engine by sqlglot.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..hygiene import one_line

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table

_NAMING = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}


@lru_cache(maxsize=1)
def schema() -> MetaData:
    """The example's tables as SQLAlchemy Core objects, in :func:`tables` order."""
    from sqlalchemy import (
        Boolean,
        CheckConstraint,
        Column,
        Date,
        DateTime,
        ForeignKey,
        ForeignKeyConstraint,
        Index,
        Integer,
        MetaData,
        Numeric,
        String,
        Table,
        Text,
    )

    md = MetaData(naming_convention=_NAMING)

    def col(name: str, type_: Any, comment: str, *args: Any, null: bool = False, **kw: Any):
        return Column(name, type_, *args, nullable=null, comment=comment, **kw)

    def pk(name: str, comment: str) -> Column:
        return Column(name, Integer, primary_key=True, autoincrement=False, comment=comment)

    money = Numeric(12, 2)
    Table(
        "regions", md,
        pk("region_id", "地区编号 / Region id"),
        col("region_code", String(8), "地区代码 / Region code", unique=True),
        col("region_name", String(40), "地区名称 / Region name (Chinese)"),
        col("region_name_en", String(40), "地区英文名 / Region name (English)"),
        comment="销售大区 / Sales region",
    )  # fmt: skip
    Table(
        "stores", md,
        pk("store_id", "门店编号 / Store id"),
        col("store_code", String(12), "门店代码 / Store code", unique=True),
        col("store_name", String(100), "门店名称 / Store name"),
        col("store_type", String(20), "门店类型: flagship 旗舰店, standard 标准店, outlet 奥莱店, online 线上店 / Store type"),
        col("region_id", Integer, "所属大区 / Region of the store", ForeignKey("regions.region_id")),
        col("city", String(40), "所在城市 / City"),
        col("address", String(200), "门店地址, 线上店为空 / Street address (NULL for the online store)", null=True),
        col("opened_on", Date, "开业日期 / Opening date"),
        col("closed_on", Date, "关店日期, 营业中为空 / Closing date (NULL while open)", null=True),
        comment="门店 / Retail store, including the online shop",
    )  # fmt: skip
    Table(
        "employees", md,
        pk("employee_id", "员工编号 / Employee id"),
        col("employee_no", String(12), "工号 / Staff number", unique=True),
        col("full_name", String(60), "姓名 / Full name"),
        col("gender", String(1), "性别: M 男, F 女 / Gender"),
        col("job_title", String(40), "职位 / Job title"),
        col("store_id", Integer, "所属门店, 总部员工为空 / Store (NULL for head-office staff)", ForeignKey("stores.store_id"), null=True),
        col("manager_id", Integer, "直属上级 / Line manager (NULL for the CEO)", ForeignKey("employees.employee_id"), null=True),
        col("hire_date", Date, "入职日期 / Hire date"),
        col("termination_date", Date, "离职日期, 在职为空 / Termination date (NULL while employed)", null=True),
        col("monthly_salary", Numeric(10, 2), "月薪(元) / Monthly salary in CNY"),
        col("email", String(100), "工作邮箱 / Work e-mail", null=True),
        comment="员工 / Employee",
    )  # fmt: skip
    Table(
        "customers", md,
        pk("customer_id", "客户编号 / Customer id"),
        col("customer_code", String(12), "会员卡号 / Membership number", unique=True),
        col("full_name", String(60), "客户姓名 / Full name"),
        col("gender", String(1), "性别: M 男, F 女 / Gender", null=True),
        col("birth_date", Date, "出生日期 / Date of birth", null=True),
        col("email", String(100), "电子邮箱 / E-mail", null=True),
        col("phone", String(20), "手机号 / Mobile phone", null=True),
        col("city", String(40), "所在城市 / City"),
        col("member_level", String(20), "会员等级: bronze 普通, silver 银卡, gold 金卡, platinum 白金 / Membership tier"),
        col("registered_at", DateTime, "注册时间 / Registration time"),
        col("home_store_id", Integer, "开卡门店 / Store where the membership was opened", ForeignKey("stores.store_id"), null=True),
        comment="客户 / Customer (loyalty member)",
    )  # fmt: skip
    Table(
        "product_categories", md,
        pk("category_id", "类目编号 / Category id"),
        col("parent_id", Integer, "上级类目, 一级类目为空 / Parent category (NULL for top level)", ForeignKey("product_categories.category_id"), null=True),
        col("category_name", String(40), "类目名称 / Category name (Chinese)"),
        col("category_name_en", String(40), "类目英文名 / Category name (English)"),
        comment="商品类目 / Product category (two-level tree)",
    )  # fmt: skip
    Table(
        "suppliers", md,
        pk("supplier_id", "供应商编号 / Supplier id"),
        col("supplier_name", String(100), "供应商名称 / Supplier name"),
        col("country_code", String(2), "国家代码 ISO 3166 / Country code"),
        col("city", String(40), "所在城市 / City"),
        col("contact_name", String(60), "联系人 / Contact person", null=True),
        col("contact_email", String(100), "联系邮箱 / Contact e-mail", null=True),
        col("phone", String(30), "联系电话 / Phone"),
        comment="供应商 / Supplier",
    )  # fmt: skip
    Table(
        "products", md,
        pk("product_id", "商品编号 / Product id"),
        col("sku", String(20), "商品货号 / Stock keeping unit", unique=True),
        col("product_name", String(120), "商品名称 / Product name (Chinese)"),
        col("product_name_en", String(120), "商品英文名 / Product name (English)"),
        col("brand", String(40), "品牌 / Brand"),
        col("category_id", Integer, "所属类目(二级) / Leaf category", ForeignKey("product_categories.category_id")),
        col("supplier_id", Integer, "供应商 / Supplier", ForeignKey("suppliers.supplier_id")),
        col("unit_price", Numeric(10, 2), "零售价(元) / List price in CNY"),
        col("unit_cost", Numeric(10, 2), "进货成本(元) / Purchase cost in CNY"),
        col("launched_on", Date, "上市日期 / Launch date"),
        col("discontinued_on", Date, "停售日期 / Date the product was discontinued", null=True),
        col("is_active", Boolean, "是否在售 / Still on sale"),
        CheckConstraint("unit_price > 0", name="price_positive"),
        comment="商品 / Product (SKU)",
    )  # fmt: skip
    Table(
        "promotions", md,
        pk("promotion_id", "活动编号 / Promotion id"),
        col("promo_code", String(20), "活动代码 / Promotion code", unique=True),
        col("promo_name", String(100), "活动名称 / Promotion name"),
        col("discount_pct", Numeric(5, 2), "折扣百分比 / Discount in percent"),
        col("category_id", Integer, "适用一级类目, 全场为空 / Top-level category it applies to (NULL: all)", ForeignKey("product_categories.category_id"), null=True),
        col("start_date", Date, "开始日期 / First day"),
        col("end_date", Date, "结束日期, 长期活动为空 / Last day (NULL for open-ended)", null=True),
        comment="促销活动 / Promotion campaign",
    )  # fmt: skip
    Table(
        "orders", md,
        pk("order_id", "订单编号 / Order id"),
        col("order_no", String(24), "订单号 / Order number shown to customers", unique=True),
        col("customer_id", Integer, "客户, 散客为空 / Customer (NULL for walk-in guests)", ForeignKey("customers.customer_id"), null=True),
        col("store_id", Integer, "下单门店 / Store that took the order", ForeignKey("stores.store_id")),
        col("employee_id", Integer, "导购员工, 线上订单为空 / Sales assistant (NULL for online orders)", ForeignKey("employees.employee_id"), null=True),
        col("promotion_id", Integer, "参与的促销活动 / Promotion applied", ForeignKey("promotions.promotion_id"), null=True),
        col("channel", String(12), "渠道: store 门店, online 网站, app 手机应用 / Sales channel"),
        col("status", String(12), "状态: pending 待发货, shipped 已发货, completed 已完成, cancelled 已取消, returned 已退货 / Order status"),
        col("ordered_at", DateTime, "下单时间 / Order time"),
        col("shipped_at", DateTime, "发货时间, 未发货或门店自提为空 / Shipping time (NULL if not shipped)", null=True),
        col("total_amount", money, "订单金额(元), 明细金额之和 / Order total in CNY (sum of line totals)"),
        col("note", Text, "订单备注 / Customer note", null=True),
        Index(None, "ordered_at"),
        Index(None, "customer_id"),
        comment="订单主表 / Sales order header",
    )  # fmt: skip
    Table(
        "order_items", md,
        Column("order_id", Integer, ForeignKey("orders.order_id"), primary_key=True, autoincrement=False, comment="订单编号 / Order id"),
        Column("line_no", Integer, primary_key=True, autoincrement=False, comment="行号 / Line number within the order"),
        col("product_id", Integer, "商品 / Product", ForeignKey("products.product_id")),
        col("quantity", Integer, "数量 / Quantity"),
        col("unit_price", Numeric(10, 2), "成交单价(元) / Unit price in CNY"),
        col("discount_amount", Numeric(10, 2), "优惠金额(元) / Discount in CNY"),
        col("line_total", money, "行金额(元) = 数量 × 单价 − 优惠 / Line total in CNY"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index(None, "product_id"),
        comment="订单明细 / Sales order line",
    )  # fmt: skip
    Table(
        "payments", md,
        pk("payment_id", "支付流水号 / Payment id"),
        col("order_id", Integer, "订单 / Order", ForeignKey("orders.order_id")),
        col("paid_at", DateTime, "支付时间 / Payment time"),
        col("method", String(20), "支付方式: alipay 支付宝, wechat_pay 微信支付, bank_card 银行卡, cash 现金, gift_card 礼品卡 / Payment method"),
        col("amount", money, "支付金额(元) / Amount in CNY"),
        col("status", String(12), "支付状态: paid 已支付, refunded 已退款 / Payment status"),
        Index(None, "order_id"),
        comment="支付记录 / Payment",
    )  # fmt: skip
    Table(
        "shipments", md,
        pk("shipment_id", "运单编号 / Shipment id"),
        col("order_id", Integer, "订单 / Order", ForeignKey("orders.order_id"), unique=True),
        col("carrier", String(30), "快递公司 / Carrier"),
        col("tracking_no", String(30), "快递单号 / Tracking number"),
        col("ship_city", String(40), "收货城市 / Destination city"),
        col("shipping_fee", Numeric(8, 2), "运费(元) / Shipping fee in CNY"),
        col("shipped_at", DateTime, "发货时间 / Shipping time"),
        col("delivered_at", DateTime, "签收时间, 运输中为空 / Delivery time (NULL while in transit)", null=True),
        comment="物流发货 / Shipment of an online order",
    )  # fmt: skip
    Table(
        "inventory", md,
        Column("store_id", Integer, ForeignKey("stores.store_id"), primary_key=True, autoincrement=False, comment="门店 / Store"),
        Column("product_id", Integer, ForeignKey("products.product_id"), primary_key=True, autoincrement=False, comment="商品 / Product"),
        col("quantity_on_hand", Integer, "当前库存数量 / Units in stock"),
        col("reorder_level", Integer, "补货阈值 / Reorder when stock falls below this"),
        col("last_restocked_at", DateTime, "最近补货时间 / Last restock time", null=True),
        comment="门店库存 / Stock per store and product (snapshot at 2024-12-31)",
    )  # fmt: skip
    Table(
        "returns", md,
        pk("return_id", "退货单号 / Return id"),
        col("order_id", Integer, "订单编号 / Order id"),
        col("line_no", Integer, "订单行号 / Order line number"),
        col("returned_at", DateTime, "退货时间 / Return time"),
        col("quantity", Integer, "退货数量 / Units returned"),
        col("reason", String(40), "退货原因 / Reason"),
        col("refund_amount", money, "退款金额(元) / Refund in CNY"),
        ForeignKeyConstraint(["order_id", "line_no"], ["order_items.order_id", "order_items.line_no"]),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        comment="退货 / Return of an order line",
    )  # fmt: skip
    return md


# Written once in SQLite's dialect; sqlglot writes the others.  (Not PostgreSQL's
# EXTRACT: sqlglot 30 passes it through to SQLite, which has no such function.)
VIEWS: dict[str, tuple[str, str]] = {
    "v_monthly_sales": (
        "月度销售汇总(不含已取消订单) / Monthly sales summary, cancelled orders excluded",
        """
        SELECT
          CAST(STRFTIME('%Y', o.ordered_at) AS INTEGER) AS sales_year,
          CAST(STRFTIME('%m', o.ordered_at) AS INTEGER) AS sales_month,
          COUNT(DISTINCT o.order_id) AS order_count,
          SUM(oi.quantity) AS units_sold,
          ROUND(SUM(oi.line_total), 2) AS revenue
        FROM orders AS o
        JOIN order_items AS oi ON oi.order_id = o.order_id
        WHERE o.status <> 'cancelled'
        GROUP BY
          CAST(STRFTIME('%Y', o.ordered_at) AS INTEGER),
          CAST(STRFTIME('%m', o.ordered_at) AS INTEGER)
        """,
    ),
    "v_product_sales": (
        "商品销售汇总(不含已取消订单) / Sales per product, cancelled orders excluded",
        """
        SELECT
          p.product_id,
          p.sku,
          p.product_name,
          c.category_name,
          COALESCE(s.order_count, 0) AS order_count,
          COALESCE(s.units_sold, 0) AS units_sold,
          COALESCE(s.revenue, 0) AS revenue
        FROM products AS p
        JOIN product_categories AS c ON c.category_id = p.category_id
        LEFT JOIN (
          SELECT
            oi.product_id,
            COUNT(DISTINCT oi.order_id) AS order_count,
            SUM(oi.quantity) AS units_sold,
            ROUND(SUM(oi.line_total), 2) AS revenue
          FROM order_items AS oi
          JOIN orders AS o ON o.order_id = oi.order_id
          WHERE o.status <> 'cancelled'
          GROUP BY oi.product_id
        ) AS s ON s.product_id = p.product_id
        """,
    ),
    "v_customer_orders": (
        "客户消费汇总 / Orders and spending per customer, cancelled orders excluded",
        """
        SELECT
          cu.customer_id,
          cu.full_name,
          cu.city,
          cu.member_level,
          COUNT(o.order_id) AS order_count,
          COALESCE(ROUND(SUM(o.total_amount), 2), 0) AS total_spent,
          MIN(o.ordered_at) AS first_order_at,
          MAX(o.ordered_at) AS last_order_at
        FROM customers AS cu
        LEFT JOIN orders AS o ON o.customer_id = cu.customer_id AND o.status <> 'cancelled'
        GROUP BY cu.customer_id, cu.full_name, cu.city, cu.member_level
        """,
    ),
}


def view_sql(name: str, dialect: str) -> str:
    """The SELECT behind view ``name`` in a sqlglot dialect."""
    import sqlglot

    _, select = VIEWS[name]
    return sqlglot.transpile(select, read="sqlite", write=dialect, pretty=True)[0]


def tables() -> list[Table]:
    """The example's tables in definition order, which puts every parent before its children."""
    return list(schema().tables.values())


def object_names() -> list[str]:
    """Every table and view the example creates."""
    return [t.name for t in tables()] + list(VIEWS)


def sqlite_ddl() -> list[str]:
    """CREATE statements for SQLite, rendered from :func:`schema` with ``--`` comments."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    statements = []
    kind_rank = {"PrimaryKeyConstraint": 0, "ForeignKeyConstraint": 1, "UniqueConstraint": 2}
    for table in tables():
        compiler = dialect.ddl_compiler(dialect, CreateTable(table))
        items = [(compiler.get_column_specification(c), c.comment) for c in table.columns]
        constraints = sorted(
            table.constraints, key=lambda c: (kind_rank.get(type(c).__name__, 3), c.name)
        )
        items += [(compiler.process(c), None) for c in constraints]
        lines = [f"CREATE TABLE {table.name} ({_line_comment(table.comment)}"]
        for i, (text, comment) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"    {text}{comma}{_line_comment(comment)}")
        lines.append(")")
        statements.append("\n".join(lines))
        statements += [
            str(CreateIndex(ix).compile(dialect=dialect)).strip()
            for ix in sorted(table.indexes, key=lambda ix: ix.name)
        ]
    for name, (comment, _) in VIEWS.items():
        statements.append(
            f"CREATE VIEW {name} AS{_line_comment(comment)}\n{view_sql(name, 'sqlite')}"
        )
    return statements


def _line_comment(comment: str | None) -> str:
    if not comment:
        return ""
    # A line comment ends at the newline; keep the text on one line.
    return "  -- " + one_line(comment)
