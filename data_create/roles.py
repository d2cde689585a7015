"""Column roles: what a column *means* to someone asking questions about the data.

A type says ``integer``; a role says "this integer is an order's amount" (aggregate it),
"a status code whose 0 means 正常" (filter and group by it, say 正常), "the display-order
key" (never sum it) or "a year" (filter, group and order by it, never total it).  Roles are
inferred once, in :func:`data_create.metadata.extract`, from the column's type, name and
comment, the table's keys and links, and cheap statistics read from the sampled rows
(:class:`ColumnStats`); ``metadata.json`` stores them and the cards show them, so every
generator (the offline synthesizer, the LLM, the lint) works from the same facts.

>>> from .records import Column, Table
>>> t = Table("orders", columns=(
...     Column("id", "int", "integer"),
...     Column("status", "tinyint", "integer", comment="订单状态：0->待付款；1->已发货"),
...     Column("total_amount", "decimal(10,2)", "decimal"),
...     Column("unit_price", "decimal(10,2)", "decimal"),
...     Column("sort", "int", "integer"),
...     Column("remark", "varchar(500)", "text"),
... ), primary_key=("id",))
>>> [(c.name, infer(t, c).role) for c in t.columns]  # doctest: +NORMALIZE_WHITESPACE
[('id', 'primary_key'), ('status', 'category'), ('total_amount', 'measure'),
 ('unit_price', 'measure'), ('sort', 'sort_key'), ('remark', 'text')]
>>> infer(t, t.columns[1]).meanings
(('0', '待付款'), ('1', '已发货'))
>>> infer(t, t.columns[2]).can_sum, infer(t, t.columns[3]).can_sum
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Column, Table

ROLES = (
    "primary_key",
    "foreign_key",
    "identifier",
    "measure",
    "year",
    "category",
    "flag",
    "sort_key",
    "label",
    "text",
    "date",
    "datetime",
    "contact",
    "other",
)


@dataclass(frozen=True)
class ColumnStats:
    """Cheap statistics over the rows :mod:`data_create.metadata` sampled (the whole
    table when it is small, else the first ``sample_rows`` rows).

    >>> s = ColumnStats(rows=10, nulls=2, distinct=8)
    >>> s.non_null, s.distinct_ratio, s.null_ratio, s.unique
    (8, 1.0, 0.2, True)
    """

    rows: int
    nulls: int
    distinct: int
    numeric_text: bool = False  # a text-typed column whose non-null values all parse as numbers
    min: Any = None  # JSON-safe, over the non-null values
    max: Any = None
    avg_length: float | None = None  # text columns: mean length of the non-null values

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def distinct_ratio(self) -> float:
        return self.distinct / self.non_null if self.non_null else 0.0

    @property
    def null_ratio(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def unique(self) -> bool:
        return self.non_null > 1 and self.distinct == self.non_null


@dataclass(frozen=True)
class ColumnRole:
    role: str
    # measure only: SUM means something (amount, quantity), unlike price, rate, age or score.
    additive: bool = False
    # Numbers stored in a text column: compare, sort and aggregate them through a CAST.
    numeric_text: bool = False
    # Every value distinct in the data read: grouping by it makes one group per row.
    unique: bool = False
    # Code -> meaning, from the comment ("0->待付款；1->已发货", "possible values: a, b").
    meanings: tuple[tuple[str, str], ...] = ()

    @property
    def can_aggregate(self) -> bool:
        """SUM/AVG/MIN/MAX and ranking by value make sense."""
        return self.role == "measure"

    @property
    def can_sum(self) -> bool:
        return self.role == "measure" and self.additive

    @property
    def can_group(self) -> bool:
        if self.role in ("category", "flag", "year", "foreign_key"):
            return True
        return self.role == "label" and not self.unique

    @property
    def can_rank(self) -> bool:
        """ORDER BY it to find the top / latest / first rows."""
        return self.role in ("measure", "date", "datetime", "year")

    @property
    def can_like(self) -> bool:
        return self.role in ("label", "text")

    @property
    def can_filter(self) -> bool:
        return self.role not in ("contact", "text", "sort_key", "other")

    def meaning(self, code: Any) -> str | None:
        """The meaning of a stored value, or None.

        >>> ColumnRole("category", meanings=(("0", "正常"), ("1", "停用"))).meaning(1)
        '停用'
        """
        text = str(code)
        for key, value in self.meanings:
            if key == text:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role}
        for key in ("additive", "numeric_text", "unique"):
            if getattr(self, key):
                d[key] = True
        if self.meanings:
            d["meanings"] = [list(m) for m in self.meanings]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnRole:
        return cls(
            role=d["role"],
            additive=bool(d.get("additive")),
            numeric_text=bool(d.get("numeric_text")),
            unique=bool(d.get("unique")),
            meanings=tuple((str(k), str(v)) for k, v in d.get("meanings", ())),
        )


# ---------------------------------------------------------------- name vocabularies
# Matched against the column name in snake_case, lower case.  Chinese words are matched
# against the comment's head (the part before any colon or bracket).


def _words(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts))


_FLAG = _words(
    r"^(is|has|can|should|allow|enable|need)_",
    r"(^|_)(flag|enabled|disabled|deleted|active|visible|hidden|default|valid|locked)$",
    r"^(del|deleted)(_flag)?$",
    r"是否",
    r"^yn_|_yn$",
)
_CONTACT = _words(
    r"(^|_)(e_?mail|phone|mobile|tel|telephone|fax|address|addr|street|id_?card|passport)$",
    r"^(e_?mail|phone|mobile|tel|telephone|fax|address)_(no|num|number|address)$",
    r"(^|_)(ssn|wechat|qq|contact)$",
    r"手机|电话|邮箱|地址|身份证|联系方式",
)
_YEAR = _words(r"(^|_)(year|yr|fiscal_year|yyyy)$", r"^year_", r"年份|年度")
_SORT = _words(
    r"(^|_)(sort|sort_?order|seq|sequence|ordinal|position|pos|display_?order|order_?num|"
    r"order_?no|rank_?no|idx|index|priority|version|revision)$",
    r"^(sort|seq)_",
    r"排序|顺序|序号|权重|版本",
)
_IDENT = _words(
    r"(^|_)(id|uid|uuid|guid|key|code|sn|no|sku|isbn|ean|upc|barcode|vin|zip|"
    r"zipcode|postal|postcode|hash|serial|token|ip|mac|oid|pid|cid|did|aid|kid|jid|sid|tid)$",
    r"(_|^)(id|code|sn|no)_",
    r"(^|_)(create|created|update|updated|modify|modified|delete|deleted)_(by|user|uid)$",
    r"(^|_)(creator|updater|operator|modifier)$",
    r"编号|编码|代码|单号|条码|工号|账号|帐号|(?<!名)号码",
)
# "number" is a quantity in one schema and an order number in the next: only a text
# column called so is taken for an identifier.
_IDENT_TEXT = _words(r"(^|_)(num|number|nbr)$", r"_(num|number)_")
_MEASURE = _words(
    r"(^|_)(amount|amt|total|qty|quantity|count|cnt|sum|sales|revenue|cost|fee|fees|price|"
    r"freight|income|expense|profit|stock|inventory|points|balance|salary|budget|payment|paid|"
    r"num|number|citations?|citation_num|duration|length|width|height|weight_kg|size_mb)($|_)",
    r"金额|数量|价格|总额|总价|费用|积分|库存|销量|次数|人数|件数|成长值|运费|余额|工资|薪|收入|支出|利润|重量",
)
_LABEL = _words(
    r"(^|_)(name|title|label|nickname|nick_name|username|user_name|caption|heading|subject|"
    r"full_?name|first_?name|last_?name|surname|alias)$",
    r"_name_|^name_",
    r"名称|名字|姓名|标题|昵称",
)
_TEXT = _words(
    r"(^|_)(desc|description|remark|remarks|note|notes|comment|comments|content|detail|details|"
    r"memo|summary|body|text|abstract|url|uri|link|href|pic|picture|image|img|icon|logo|photo|"
    r"avatar|path|file|html|json|xml|keywords|tags|introduction|intro|bio|message|msg|reason|"
    r"homepage|website|web|site|signature|slogan|address_detail)$",
    r"备注|描述|说明|内容|详情|简介|介绍|图片|链接|地址栏|网址|图标|照片|头像|原因|理由",
)
_CATEGORY = _words(
    r"(^|_)(status|state|type|kind|category|class|level|tier|grade|gender|sex|method|channel|"
    r"mode|source|platform|currency|ccy|country|region|province|city|district|language|lang|"
    r"unit|color|colour|size|brand|carrier|segment|group|role|stage|phase|specialty|"
    r"department|dept|nationality|genre|rating|payment_?type|pay_?type)$",
    r"状态|类型|类别|分类|级别|等级|性别|方式|来源|平台|币种|国家|地区|省|城市|语言|单位|颜色|渠道",
)
# Measures whose SUM means nothing: a price, rate or score describes one row.
_NON_ADDITIVE = _words(
    r"(^|_)(price|rate|ratio|percent|percentage|pct|age|score|avg|average|mean|median|"
    r"discount|temperature|temp|lat|lng|lon|latitude|longitude|level|grade|rank|rating|"
    r"balance|factor|multiplier|fx|exchange_?rate|tax_?rate|margin|stars?)($|_)",
    r"单价|价格|比例|比率|率|年龄|评分|得分|折扣|余额|星级",
)
# An amount stays additive even when it is a discount or a tax ("discount_amount").
_AMOUNT = _words(r"(^|_)(amount|amt|total|sum|qty|quantity|count|cnt)($|_)", r"金额|总额|数量|次数")
_COORDINATE = _words(r"(^|_)(lat|lng|lon|latitude|longitude|x|y|z|coord|coordinate)$", r"经度|纬度")


@lru_cache(maxsize=65536)
def snake(name: str) -> str:
    """``HomePhone`` / ``sbCustStatus`` -> ``home_phone`` / ``sb_cust_status``.

    >>> snake("HomePhone"), snake("sbCustStatus"), snake("order_ID")
    ('home_phone', 'sb_cust_status', 'order_id')
    """
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^0-9a-zA-Z\u3400-\u9fff]+", "_", out).strip("_").lower()


def _head(comment: str | None) -> str:
    """The noun part of a comment: ``订单状态：0->待付款`` -> ``订单状态``."""
    if not comment:
        return ""
    return re.split(r"[:：;；,，(（\[【\-—=]|\s{2,}", comment, maxsplit=1)[0].strip()


# ---------------------------------------------------------------- value meanings

_SEP = r"[;；,，、/|\n]"
# "0->待付款", "0=正常", "0:正常", "0 - inactive", "0是可申请", "如果是0则是正常可用", "0正常"
_PAIR = re.compile(
    r"(?:如果是|如果|若为|若是|为|是)?\s*(?P<code>-?[0-9]{1,3}|[A-Za-z])\s*"
    r"(?:->|=>|=|:|：|-|—|是|则是|则|表示|代表|为)?\s*(?P<meaning>[^;；,，、|\n0-9()（）]{1,20})"
)
_POSSIBLE = re.compile(
    r"(?:possible values?(?: are)?|allowed values?|one of|取值|可选值|枚举值?)\s*[:：]?\s*(?P<list>.+)",
    re.I,
)


def parse_meanings(comment: str | None) -> tuple[tuple[str, str], ...]:
    """Code -> meaning pairs a comment spells out, or ``()``.

    >>> parse_meanings("订单状态：0->待付款；1->待发货；2->已发货")
    (('0', '待付款'), ('1', '待发货'), ('2', '已发货'))
    >>> parse_meanings("状态（0正常 1停用）")
    (('0', '正常'), ('1', '停用'))
    >>> parse_meanings("0 可用, 1 禁用, 2 注销")
    (('0', '可用'), ('1', '禁用'), ('2', '注销'))
    >>> parse_meanings("优惠券状态，如果是0则是正常可用；如果是1则是过期; 如果是2则是下架。")
    (('0', '正常可用'), ('1', '过期'), ('2', '下架'))
    >>> parse_meanings("possible values: active, inactive, suspended")
    (('active', 'active'), ('inactive', 'inactive'), ('suspended', 'suspended'))
    >>> parse_meanings("Possible values are 'Yes' and 'No'.")
    (('Yes', 'Yes'), ('No', 'No'))
    >>> parse_meanings("每次使用积分最小单位100"), parse_meanings("评分， 1-5"), parse_meanings(None)
    ((), (), ())
    """
    if not comment:
        return ()
    text = comment.strip()
    m = _POSSIBLE.search(text)
    if m:
        items = re.split(r"\s*(?:,|，|、|/|\band\b|\bor\b|和|或)\s*", m.group("list").strip(" .。"))
        values = [i.strip(" '\"`“”‘’.。") for i in items]
        values = [v for v in values if v and len(v) <= 40]
        if len(values) >= 2:
            return tuple((v, v) for v in values)
    # Code lists: the part after the noun ("订单状态：" / "状态（").
    body = (
        re.sub(r"^[^0-9:：(（]*[:：(（]", "", text, count=1)
        if re.search(r"[:：(（]", text)
        else text
    )
    body = body.rstrip("）)。. ")
    pairs: list[tuple[str, str]] = []
    for part in re.split(
        _SEP + r"|\s{1,}(?=-?[0-9]{1,3}\s*(?:->|=|:|：|是|[\u3400-\u9fff]))", body
    ):
        part = part.strip()
        if not part:
            continue
        pm = _PAIR.fullmatch(part) or _PAIR.match(part)
        if not pm:
            continue
        code, meaning = pm.group("code"), pm.group("meaning").strip(" 。.'\"")
        if not meaning or re.fullmatch(r"[0-9.\s-]*", meaning):
            continue
        if code.isalpha() and not re.search(r"->|=|:|：", part):
            continue  # "a b" prose, not a code list
        pairs.append((code, meaning))
    codes = [c for c, _ in pairs]
    if len(pairs) >= 2 and len(set(codes)) == len(codes):
        return tuple(pairs)
    return ()


# ---------------------------------------------------------------- inference

_NUMERIC_TYPES = frozenset({"integer", "decimal", "float"})
_TEXT_TYPES = frozenset({"text", "enum", "other"})
_FLAG_VALUES = frozenset(
    {"0", "1", "y", "n", "yes", "no", "t", "f", "true", "false", "是", "否", "on", "off"}
)


def _numberish(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, Decimal)):
        return True
    if isinstance(value, str):
        try:
            Decimal(value.strip())
        except InvalidOperation:
            return False
        return bool(value.strip())
    return False


def _yearish(column: Column) -> bool:
    values = [v for v in column.samples if v is not None]
    if column.stats is not None and column.stats.min is not None:
        values += [column.stats.min, column.stats.max]
    if not values:
        return True
    try:
        return all(1800 <= int(str(v).strip()) <= 2200 for v in values)
    except ValueError:
        return False


def infer(table: Table, column: Column) -> ColumnRole:
    """The role of ``column`` in ``table`` (see the module docstring)."""
    name = snake(column.name)
    head = _head(column.comment)
    stats = column.stats
    meanings = parse_meanings(column.comment)
    unique = (
        bool(stats is not None and stats.unique and stats.non_null >= 5)
        or (column.name,) in table.unique
        or (tuple(table.primary_key) == (column.name,))
    )
    numeric_text = bool(stats is not None and stats.numeric_text) and column.type in _TEXT_TYPES
    numeric = column.type in _NUMERIC_TYPES or numeric_text

    def role(kind: str, **kw: Any) -> ColumnRole:
        return ColumnRole(kind, numeric_text=numeric_text, unique=unique, meanings=meanings, **kw)

    def says(pattern: re.Pattern[str]) -> bool:
        return bool(pattern.search(name) or (head and pattern.search(head)))

    if table.primary_key == (column.name,):
        return role("primary_key")
    if any(column.name in fk.columns for fk in table.foreign_keys):
        return role("foreign_key")
    if column.name in table.primary_key:
        return role("identifier")
    if column.sensitive or says(_CONTACT):
        return role("contact")
    if column.type in ("date", "datetime"):
        return role(column.type)
    if (
        column.type == "boolean"
        or "bool" in column.raw_type.lower()
        or (says(_FLAG) and not meanings_beyond_two(meanings))
    ):
        return role("flag")
    if column.type in ("binary", "json", "array", "interval", "time"):
        return role("other")
    if column.type == "uuid":
        return role("identifier")
    if numeric or column.type in _TEXT_TYPES:
        if meanings:
            return role("category")
        if says(_YEAR) and _yearish(column):
            return role("year")
        additive = says(_AMOUNT) or not says(_NON_ADDITIVE)
        if numeric and says(_MEASURE) and not says(_SORT):
            return role("measure", additive=additive)
        if says(_IDENT) or (not numeric and says(_IDENT_TEXT)):
            return role("identifier")
        if numeric and says(_SORT):
            return role("sort_key")
        if says(_CATEGORY) and not says(_NON_ADDITIVE):
            return role("category")
        if column.type == "enum":
            return role("category")
        if _two_valued(column):
            return role("flag")
        if numeric:
            if says(_COORDINATE):
                return role("other")
            if (
                stats is not None
                and stats.unique
                and stats.non_null >= 20
                and column.type == "integer"
                and not says(_NON_ADDITIVE)
            ):
                # A unique integer with no measure-like name: a serial or external id.
                return role("identifier")
            return role("measure", additive=additive)
        # Text.
        if says(_LABEL):
            return role("label")
        if says(_TEXT):
            return role("text")
        if stats is not None:
            if stats.avg_length is not None and stats.avg_length > 40:
                return role("text")
            if stats.non_null and (stats.distinct <= 12 or stats.distinct_ratio <= 0.2):
                return role("category")
        elif 1 < len(column.samples) < 5:
            return role("category")
        return role("label")
    return role("other")


def meanings_beyond_two(meanings: tuple[tuple[str, str], ...]) -> bool:
    return len(meanings) > 2


def _two_valued(column: Column) -> bool:
    values = {str(v).strip().lower() for v in column.samples if v is not None}
    if column.stats is not None and column.stats.distinct > 2:
        return False
    return len(values) == 2 and values <= _FLAG_VALUES


def role_of(table: Table, column: Column) -> ColumnRole:
    """``column.role`` when metadata stored one, else :func:`infer`."""
    return column.role if column.role is not None else infer(table, column)


def with_roles(table: Table) -> Table:
    """``table`` with every column's role inferred afresh (after keys or links changed)."""
    import dataclasses

    return dataclasses.replace(
        table, columns=tuple(dataclasses.replace(c, role=infer(table, c)) for c in table.columns)
    )
