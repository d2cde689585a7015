"""Deterministic rows for the example retail database (see :mod:`data_create.example.database`).

:func:`generate` draws everything from one ``random.Random(seed)`` in a fixed order, so
the same seed gives the same rows on every machine.  The data is meant to look like a
real shop's, because generated questions and SQL are only as good as the data they
run on: orders follow yearly growth, seasons and shopping festivals (6·18, 11·11);
product popularity is Zipf-like; most orders are completed, a few cancelled or
returned; walk-in guests have no customer; recent online orders are still pending or
in transit; stores open and close, staff come and go; names and places are Chinese.

>>> rows = generate(1)
>>> sorted(rows)[:3]
['customers', 'employees', 'inventory']
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from typing import Any

Row = dict[str, Any]
When = dt.datetime | None

START = dt.date(2021, 1, 1)
END = dt.date(2024, 12, 31)
END_TS = dt.datetime(2024, 12, 31, 23, 59, 59)
N_CUSTOMERS = 2000
N_ORDERS = 8000
PRODUCTS_PER_LEAF = 19
CENT = Decimal("0.01")

# ---------------------------------------------------------------- vocabulary

REGIONS = [
    ("EC", "华东", "East China"),
    ("NC", "华北", "North China"),
    ("SC", "华南", "South China"),
    ("SW", "西南", "Southwest China"),
    ("CC", "华中", "Central China"),
    ("NW", "西北", "Northwest China"),
]
CITY_REGION = {
    "上海": "EC", "杭州": "EC", "南京": "EC", "苏州": "EC", "北京": "NC", "天津": "NC",
    "广州": "SC", "深圳": "SC", "成都": "SW", "重庆": "SW", "武汉": "CC", "长沙": "CC",
    "西安": "NW",
}  # fmt: skip
# (code, name, type, city, address, opened, closed); the online shop is store 1.
STORES = [
    ("ONL001", "线上旗舰店", "online", "上海", None, "2019-06-01", None),
    ("SH001", "上海南京西路旗舰店", "flagship", "上海", "上海市静安区南京西路1266号", "2018-09-28", None),
    ("SH002", "上海徐家汇店", "standard", "上海", "上海市徐汇区虹桥路1号", "2019-04-20", None),
    ("SH003", "上海青浦奥特莱斯店", "outlet", "上海", "上海市青浦区沪青平公路2888号", "2020-10-01", None),
    ("BJ001", "北京三里屯旗舰店", "flagship", "北京", "北京市朝阳区三里屯路19号", "2019-01-18", None),
    ("BJ002", "北京国贸店", "standard", "北京", "北京市朝阳区建国门外大街1号", "2019-11-09", None),
    ("BJ003", "北京西单店", "standard", "北京", "北京市西城区西单北大街131号", "2021-05-01", None),
    ("TJ001", "天津滨江道店", "standard", "天津", "天津市和平区滨江道208号", "2020-06-18", "2023-08-31"),
    ("GZ001", "广州天河城旗舰店", "flagship", "广州", "广州市天河区天河路208号", "2019-05-01", None),
    ("GZ002", "广州北京路店", "standard", "广州", "广州市越秀区北京路68号", "2022-01-15", None),
    ("SZ001", "深圳万象城店", "standard", "深圳", "深圳市罗湖区宝安南路1881号", "2019-12-12", None),
    ("SZ002", "深圳海岸城店", "standard", "深圳", "深圳市南山区文心五路33号", "2021-09-30", None),
    ("HZ001", "杭州湖滨银泰店", "standard", "杭州", "杭州市上城区延安路258号", "2019-08-08", None),
    ("HZ002", "杭州西溪店", "standard", "杭州", "杭州市西湖区文二西路551号", "2022-04-16", None),
    ("NJ001", "南京新街口店", "standard", "南京", "南京市秦淮区中山路18号", "2020-01-10", None),
    ("SU001", "苏州观前街店", "standard", "苏州", "苏州市姑苏区观前街245号", "2020-09-19", "2024-03-31"),
    ("CD001", "成都春熙路旗舰店", "flagship", "成都", "成都市锦江区春熙路西段8号", "2019-10-01", None),
    ("CD002", "成都太古里店", "standard", "成都", "成都市锦江区中纱帽街8号", "2023-06-18", None),
    ("CQ001", "重庆解放碑店", "standard", "重庆", "重庆市渝中区民权路88号", "2020-11-11", None),
    ("WH001", "武汉江汉路店", "standard", "武汉", "武汉市江汉区江汉路118号", "2020-05-01", None),
    ("CS001", "长沙五一广场店", "standard", "长沙", "长沙市天心区黄兴南路步行街99号", "2021-12-18", None),
    ("XA001", "西安钟楼店", "standard", "西安", "西安市碑林区东大街1号", "2022-08-08", None),
]  # fmt: skip
CUSTOMER_CITIES = {
    "上海": 18, "北京": 16, "广州": 10, "深圳": 10, "杭州": 8, "成都": 8, "重庆": 5, "武汉": 5,
    "南京": 5, "苏州": 4, "天津": 3, "长沙": 3, "西安": 3, "青岛": 2, "厦门": 2, "宁波": 2,
    "郑州": 2, "合肥": 1, "昆明": 1, "大连": 1,
}  # fmt: skip
AREA_CODES = {
    "上海": "021", "北京": "010", "广州": "020", "深圳": "0755", "杭州": "0571", "成都": "028",
    "重庆": "023", "武汉": "027", "南京": "025", "苏州": "0512", "天津": "022", "长沙": "0731",
    "西安": "029", "青岛": "0532", "厦门": "0592", "宁波": "0574", "义乌": "0579", "东莞": "0769",
}  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
)
MALE_CHARS = (
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林博文轩昊晨阳毅峰建国志鸿睿泽"
)
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀玲婷雪慧莹倩琳颖欣怡佳悦瑶梦雨萱涵琪晓婧璐蕾薇洁丹楠思嘉婉茜"
FOREIGN_FIRST = [
    "David",
    "Emily",
    "Sophie",
    "José",
    "Chloé",
    "Lukas",
    "Anna",
    "Kenji",
    "Min-jun",
    "Olga",
]
FOREIGN_LAST = [
    "Müller",
    "Johnson",
    "Laurent",
    "García",
    "Sato",
    "Kim",
    "Ivanova",
    "Smith",
    "Rossi",
]

# Top category -> (English name, brands, variants, leaves); leaf -> (zh, en, items);
# item -> (zh, en, low price, high price).
CATALOG: list[tuple[str, str, list[tuple[str, str]], list[tuple[str, str]], list[Any]]] = [
    ("数码电子", "Electronics",
     [("星辰", "Xingchen"), ("极光", "Aurora"), ("声浪", "SoundWave")],
     [("标准版", "Standard"), ("Pro", "Pro"), ("Lite", "Lite"), ("Max", "Max"), ("2代", "Gen 2"), ("青春版", "Youth")],
     [("手机配件", "Phone Accessories",
       [("快充充电器", "Fast Charger", 59, 199), ("数据线", "Charging Cable", 19, 69),
        ("手机壳", "Phone Case", 29, 99), ("移动电源", "Power Bank", 99, 299)]),
      ("耳机音箱", "Audio",
       [("蓝牙耳机", "Bluetooth Earbuds", 129, 999), ("头戴式耳机", "Over-ear Headphones", 299, 1999),
        ("便携音箱", "Portable Speaker", 149, 899)]),
      ("智能设备", "Smart Devices",
       [("智能手表", "Smartwatch", 399, 2499), ("运动手环", "Fitness Band", 149, 399),
        ("平板电脑", "Tablet", 1299, 4999), ("电子阅读器", "E-reader", 599, 1499)])]),
    ("家居生活", "Home & Living",
     [("禾木", "Hemu"), ("暖居", "CosyHome"), ("青瓷", "Celadon")],
     [("小号", "Small"), ("中号", "Medium"), ("大号", "Large"), ("米白", "Ivory"), ("灰色", "Grey")],
     [("厨房用品", "Kitchenware",
       [("不粘锅", "Non-stick Pan", 89, 399), ("刀具套装", "Knife Set", 129, 599),
        ("保温杯", "Vacuum Flask", 59, 259), ("电饭煲", "Rice Cooker", 199, 899)]),
      ("床上用品", "Bedding",
       [("四件套", "Bedding Set", 199, 899), ("乳胶枕", "Latex Pillow", 99, 399),
        ("蚕丝被", "Silk Duvet", 499, 2499)]),
      ("收纳整理", "Storage",
       [("收纳箱", "Storage Box", 29, 129), ("衣架", "Hangers", 19, 59),
        ("桌面收纳盒", "Desk Organizer", 25, 89)])]),
    ("服装鞋包", "Apparel",
     [("木棉", "Kapok"), ("北纬", "NorthLat"), ("素白", "PureWhite")],
     [("黑色", "Black"), ("白色", "White"), ("藏青", "Navy"), ("卡其", "Khaki"), ("酒红", "Burgundy")],
     [("男装", "Menswear",
       [("T恤", "T-shirt", 59, 199), ("衬衫", "Shirt", 129, 399), ("羽绒服", "Down Jacket", 499, 1999),
        ("牛仔裤", "Jeans", 159, 499)]),
      ("女装", "Womenswear",
       [("连衣裙", "Dress", 199, 899), ("针织衫", "Cardigan", 159, 599), ("风衣", "Trench Coat", 399, 1299)]),
      ("鞋靴", "Footwear",
       [("跑步鞋", "Running Shoes", 299, 999), ("帆布鞋", "Canvas Shoes", 99, 299),
        ("皮靴", "Leather Boots", 399, 1299)])]),
    ("食品饮料", "Food & Drinks",
     [("山水", "Shanshui"), ("茶语", "TeaTalk"), ("果园记", "OrchardTale")],
     [("250g", "250 g"), ("500g", "500 g"), ("礼盒装", "Gift Box"), ("家庭装", "Family Pack"), ("经典款", "Classic")],
     [("茶叶", "Tea",
       [("西湖龙井", "Longjing Green Tea", 128, 898), ("普洱茶饼", "Pu'er Tea Cake", 98, 598),
        ("铁观音", "Tieguanyin Oolong", 88, 468), ("白茶", "White Tea", 98, 498)]),
      ("零食", "Snacks",
       [("坚果礼盒", "Mixed Nuts", 59, 259), ("牛肉干", "Beef Jerky", 29, 99),
        ("月饼", "Mooncakes", 98, 398), ("饼干", "Biscuits", 15, 49)]),
      ("咖啡", "Coffee",
       [("挂耳咖啡", "Drip Coffee Bags", 39, 129), ("咖啡豆", "Coffee Beans", 59, 229),
        ("速溶咖啡", "Instant Coffee", 29, 89)])]),
    ("美妆个护", "Beauty & Personal Care",
     [("花间", "Huajian"), ("水润", "AquaSoft"), ("初雪", "FirstSnow")],
     [("50ml", "50 ml"), ("100ml", "100 ml"), ("旅行装", "Travel Size"), ("滋润型", "Moisturising"), ("清爽型", "Fresh")],
     [("护肤", "Skincare",
       [("面霜", "Face Cream", 99, 899), ("精华液", "Serum", 159, 1299), ("洗面奶", "Cleanser", 39, 199),
        ("面膜", "Sheet Masks", 49, 299)]),
      ("个人护理", "Personal Care",
       [("电动牙刷", "Electric Toothbrush", 129, 699), ("洗发水", "Shampoo", 29, 139),
        ("沐浴露", "Body Wash", 25, 99)])]),
    ("运动户外", "Sports & Outdoors",
     [("远山", "FarPeak"), ("北极熊", "PolarBear"), ("疾风", "Gale")],
     [("入门款", "Basic"), ("专业款", "Pro"), ("轻量款", "Lightweight"), ("双人", "2-Person"), ("加厚", "Extra Thick")],
     [("健身器材", "Fitness",
       [("瑜伽垫", "Yoga Mat", 59, 299), ("哑铃", "Dumbbells", 79, 499), ("跳绳", "Jump Rope", 19, 89)]),
      ("露营装备", "Camping",
       [("帐篷", "Tent", 299, 1999), ("睡袋", "Sleeping Bag", 149, 799), ("折叠椅", "Folding Chair", 59, 299),
        ("露营灯", "Camping Lantern", 49, 249)])]),
]  # fmt: skip
INDUSTRY = ["电子科技", "家居用品", "服饰", "食品", "生物科技", "体育用品"]
# Foreign suppliers: (name, country, city, top category index)
FOREIGN_SUPPLIERS = [
    ("Pacific Audio Inc.", "US", "San Jose", 0),
    ("Nordisk Hjem ApS", "DK", "København", 1),
    ("Kaffee Rösterei Hamburg GmbH", "DE", "Hamburg", 3),
    ("Sakura Cosmetics Co., Ltd.", "JP", "大阪", 4),
    ("Seoul Beauty Lab", "KR", "Seoul", 4),
    ("Fjällräven Outdoor AB", "SE", "Örnsköldsvik", 5),
]
DIAL_CODES = {"US": "1", "DK": "45", "DE": "49", "JP": "81", "KR": "82", "SE": "46"}
# (code, name, start month-day, end month-day, discount %, top category index or None)
SEASONAL_PROMOTIONS = [
    ("CNY", "春节年货节", (1, 10), (2, 10), 10, 3),
    ("CLR", "换季清仓", (3, 1), (3, 15), 30, 2),
    ("618", "618年中大促", (6, 1), (6, 18), 15, None),
    ("BTS", "开学季", (8, 20), (9, 10), 10, 0),
    ("NDAY", "国庆黄金周", (10, 1), (10, 7), 12, None),
    ("D11", "双十一狂欢节", (11, 1), (11, 11), 20, None),
    ("D12", "双十二", (12, 10), (12, 12), 15, None),
]
OPEN_PROMOTIONS = [
    ("MEMBER-DAY", "会员日 (每月8日)", dt.date(2022, 3, 1), 5, None),
    ("NEWUSER", "新客专享", dt.date(2023, 1, 1), 8, None),
    ("CAMPING", "露营季", dt.date(2024, 4, 1), 10, 5),
]
STORE_POSITIONS = {
    "flagship": ["店长", "副店长"] + ["导购"] * 6 + ["收银员"] * 2 + ["仓管员"],
    "standard": ["店长"] + ["导购"] * 3 + ["收银员", "仓管员"],
    "outlet": ["店长"] + ["导购"] * 3 + ["收银员", "仓管员"],
    "online": ["电商运营经理"] + ["客服专员"] * 6 + ["仓管员"] * 2,
}
HQ_POSITIONS = [
    "财务经理",
    "采购经理",
    "采购专员",
    "人力资源专员",
    "数据分析师",
    "市场专员",
    "市场专员",
    "会计",
]
SALARY = {
    "总经理": (60000, 80000), "区域经理": (25000, 35000), "店长": (12000, 18000),
    "电商运营经理": (15000, 22000), "副店长": (9000, 12000), "导购": (5000, 8000),
    "收银员": (4500, 6500), "仓管员": (4800, 7000), "客服专员": (5500, 8000),
    "财务经理": (18000, 26000), "采购经理": (16000, 24000), "采购专员": (8000, 12000),
    "人力资源专员": (7000, 11000), "数据分析师": (12000, 20000), "市场专员": (7000, 12000),
    "会计": (7000, 10000),
}  # fmt: skip
# Tiers by rank of spending: the top 4% platinum, the next 11% gold, then 25% silver.
MEMBER_TIERS = [("platinum", 0.04), ("gold", 0.15), ("silver", 0.40), ("bronze", 1.01)]
SELLING_TITLES = {"店长", "副店长", "导购", "收银员"}
MONTH_WEIGHT = [1.3, 0.9, 0.9, 0.95, 1.0, 1.3, 0.95, 0.95, 1.0, 1.15, 1.6, 1.3]
FESTIVAL_WEIGHT = {(11, 11): 6.0, (6, 18): 4.0, (12, 12): 3.0}
ONLINE_HOURS = [3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 6, 7, 8, 10, 11, 10, 6]
STORE_HOURS = [4, 6, 7, 6, 6, 7, 8, 9, 10, 10, 8, 5]  # 10:00 to 21:59
STORE_WEIGHT = {"flagship": 3.0, "standard": 1.6, "outlet": 1.0}
LINE_COUNT_WEIGHTS = [35, 25, 17, 10, 6, 4, 2, 1]  # 1 to 8 lines per order
YEAR_WEIGHT = {2021: 1.0, 2022: 1.2, 2023: 1.45, 2024: 1.7}
ONLINE_SHARE = {2021: 0.35, 2022: 0.42, 2023: 0.47, 2024: 0.52}
# Prices rose a little each year; products.unit_price is today's list price.
PRICE_LEVEL = {
    2021: Decimal("0.94"),
    2022: Decimal("0.96"),
    2023: Decimal("0.98"),
    2024: Decimal(1),
}
CARRIERS = [("顺丰速运", "SF", 35), ("京东物流", "JDV", 25), ("中通快递", "ZT", 15),
            ("圆通速递", "YT", 12), ("韵达快递", "YD", 8), ("EMS", "EMS", 5)]  # fmt: skip
RETURN_REASONS = {"尺码不合适": 25, "质量问题": 20, "与描述不符": 15, "七天无理由退货": 25,
                  "发错货": 5, "物流损坏": 10}  # fmt: skip
ORDER_NOTES = ["请尽快发货", "周末送货", "需要开发票", "礼品包装, 谢谢", "放快递柜", "送货前请电话联系",
               "Please leave it at the front desk"]  # fmt: skip


def _d(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _money(value: Decimal | float) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class _Gen:
    """One generation run; methods fill ``self.rows`` table by table, parents first."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.rows: dict[str, list[Row]] = defaultdict(list)
        self.top_category_ids: list[int] = []

    # ------------------------------------------------------------ small helpers

    def pick(self, weights: dict[Any, float]) -> Any:
        return self.r.choices(list(weights), weights=list(weights.values()))[0]

    def date_between(self, lo: dt.date, hi: dt.date) -> dt.date:
        return lo + dt.timedelta(days=self.r.randint(0, (hi - lo).days))

    def name(self, gender: str | None) -> str:
        r = self.r
        surname = "欧阳" if r.random() < 0.01 else r.choice(SURNAMES)  # a rare two-character one
        chars = MALE_CHARS if gender == "M" else FEMALE_CHARS
        if gender is None:
            chars = MALE_CHARS + FEMALE_CHARS
        given = r.choice(chars) + (r.choice(chars) if r.random() < 0.7 else "")
        return surname + given

    def mobile(self) -> str:
        return "1" + self.r.choice("3589") + "".join(self.r.choices("0123456789", k=9))

    def landline(self, city: str) -> str:
        return f"{AREA_CODES.get(city, '0571')}-{self.r.randint(5000_0000, 8999_9999)}"

    # ------------------------------------------------------------ master data

    def regions_and_stores(self) -> None:
        region_ids = {}
        for i, (code, zh, en) in enumerate(REGIONS, 1):
            region_ids[code] = i
            self.rows["regions"].append(
                {"region_id": i, "region_code": code, "region_name": zh, "region_name_en": en}
            )
        for i, (code, name, kind, city, address, opened, closed) in enumerate(STORES, 1):
            self.rows["stores"].append(
                {"store_id": i, "store_code": code, "store_name": name, "store_type": kind,
                 "region_id": region_ids[CITY_REGION[city]], "city": city, "address": address,
                 "opened_on": _d(opened), "closed_on": _d(closed)}
            )  # fmt: skip

    def employees(self) -> None:
        r = self.r
        rows = self.rows["employees"]

        def hire(title: str, store_id: int | None, manager_id: int | None, hired: dt.date,
                 left: dt.date | None) -> int:  # fmt: skip
            gender = "M" if r.random() < 0.5 else "F"
            eid = len(rows) + 1
            lo, hi = SALARY[title]
            no_email = title in ("收银员", "仓管员") and r.random() < 0.4
            rows.append(
                {"employee_id": eid, "employee_no": f"E{eid:05d}", "full_name": self.name(gender),
                 "gender": gender, "job_title": title, "store_id": store_id,
                 "manager_id": manager_id, "hire_date": hired, "termination_date": left,
                 "monthly_salary": _money(r.randrange(lo, hi + 1, 100)),
                 "email": None if no_email else f"e{eid:05d}@retail.example.com"}
            )  # fmt: skip
            return eid

        ceo = hire("总经理", None, None, dt.date(2018, 3, 1), None)
        regional = {
            code: hire("区域经理", None, ceo, self.date_between(dt.date(2018, 6, 1), dt.date(2020, 6, 30)), None)
            for code, _, _ in REGIONS
        }  # fmt: skip
        for title in HQ_POSITIONS:
            left = None
            if r.random() < 0.25:
                left = self.date_between(dt.date(2021, 3, 1), dt.date(2024, 10, 31))
            hire(
                title,
                None,
                ceo,
                self.date_between(dt.date(2018, 6, 1), dt.date(2021, 12, 31)),
                left,
            )
        # Per store: a chain of people per position, each staying a while or past the end.
        self.sellers: dict[int, list[tuple[int, dt.date, dt.date]]] = defaultdict(list)
        for store in self.rows["stores"]:
            sid, opened, closed = store["store_id"], store["opened_on"], store["closed_on"]
            region = REGIONS[store["region_id"] - 1][0]
            last_day = closed or END
            managers: list[tuple[dt.date, int]] = []
            for pos_index, title in enumerate(STORE_POSITIONS[store["store_type"]]):
                hired = opened - dt.timedelta(days=r.randint(15, 60))
                while hired <= last_day:
                    left: dt.date | None = None
                    if r.random() < (0.2 if pos_index == 0 else 0.35):
                        left = hired + dt.timedelta(days=r.randint(180, 1100))
                        if left >= last_day:
                            left = None
                    if left is None and closed:
                        left = closed
                    if pos_index == 0:
                        boss = ceo if store["store_type"] == "online" else regional[region]
                    else:  # the store manager in post when they were hired
                        at = bisect_right([d for d, _ in managers], hired)
                        boss = managers[max(at - 1, 0)][1]
                    eid = hire(title, sid, boss, hired, left)
                    if pos_index == 0:
                        managers.append((hired, eid))
                    if title in SELLING_TITLES:
                        self.sellers[sid].append((eid, hired, left or END))
                    if left is None or left >= last_day:
                        break
                    hired = left + dt.timedelta(days=r.randint(7, 45))

    def catalog(self) -> None:
        r = self.r
        cats, products, suppliers = (
            self.rows["product_categories"], self.rows["products"], self.rows["suppliers"],
        )  # fmt: skip
        # Suppliers: one per brand, a few more per category, some from abroad.
        by_top: dict[int, list[int]] = defaultdict(list)
        brand_supplier: dict[str, int] = {}

        def supplier(name: str, country: str, city: str, top: int) -> int:
            sid = len(suppliers) + 1
            domestic = country == "CN"
            contact = None
            if r.random() < 0.85:
                contact = (self.name(r.choice("MF")) if domestic
                           else f"{r.choice(FOREIGN_FIRST)} {r.choice(FOREIGN_LAST)}")  # fmt: skip
            email = f"sales{sid:03d}@supplier{sid:03d}.example.com" if r.random() < 0.8 else None
            if domestic:
                phone = self.landline(city)
            else:
                phone = f"+{DIAL_CODES[country]} {r.randint(10, 99)} {r.randint(100000, 999999)}"
            suppliers.append(
                {"supplier_id": sid, "supplier_name": name, "country_code": country, "city": city,
                 "contact_name": contact, "contact_email": email, "phone": phone}
            )  # fmt: skip
            by_top[top].append(sid)
            return sid

        supplier_cities = list(AREA_CODES)
        for top, (_, _, brands, _, _) in enumerate(CATALOG):
            for zh, _ in brands:
                city = r.choice(supplier_cities)
                brand_supplier[zh] = supplier(f"{city}{zh}{INDUSTRY[top]}有限公司", "CN", city, top)
            for _ in range(4):
                city = r.choice(supplier_cities)
                word = r.choice("华盛恒信达兴隆泰安宏鑫源丰瑞和") + r.choice("通远嘉诚德利美航晟辉")
                supplier(f"{city}{word}{INDUSTRY[top]}有限公司", "CN", city, top)
        for name, country, city, top in FOREIGN_SUPPLIERS:
            supplier(name, country, city, top)

        self.top_of: dict[int, int] = {}  # product_id -> top category index
        for top, (zh, en, brands, variants, leaves) in enumerate(CATALOG):
            top_id = len(cats) + 1
            cats.append({"category_id": top_id, "parent_id": None, "category_name": zh,
                         "category_name_en": en})  # fmt: skip
            self.top_category_ids.append(top_id)
            for leaf_zh, leaf_en, items in leaves:
                leaf_id = len(cats) + 1
                cats.append({"category_id": leaf_id, "parent_id": top_id,
                             "category_name": leaf_zh, "category_name_en": leaf_en})  # fmt: skip
                combos = [(b, i, v) for b in brands for i in items for v in variants]
                for n, (brand, item, variant) in enumerate(r.sample(combos, PRODUCTS_PER_LEAF), 1):
                    pid = len(products) + 1
                    lo, hi = item[2], item[3]
                    price = lo + (hi - lo) * r.random() ** 1.5
                    if price >= 100:
                        list_price = _money(int(price / 10) * 10 + 9)
                    else:
                        list_price = _money(int(price)) + Decimal("0.90")
                    launched = (
                        self.date_between(dt.date(2018, 1, 1), dt.date(2020, 12, 31))
                        if r.random() < 0.7
                        else self.date_between(START, dt.date(2024, 9, 30))
                    )
                    gone = None
                    if r.random() < 0.12 and (END - launched).days > 240:
                        gone = self.date_between(launched + dt.timedelta(days=180), END)
                    own = brand_supplier[brand[0]]
                    products.append(
                        {"product_id": pid, "sku": f"{leaf_id:02d}-{n:03d}-{pid:04d}",
                         "product_name": f"{brand[0]} {item[0]} {variant[0]}",
                         "product_name_en": f"{brand[1]} {item[1]} {variant[1]}",
                         "brand": brand[0], "category_id": leaf_id,
                         "supplier_id": own if r.random() < 0.8 else r.choice(by_top[top]),
                         "unit_price": list_price,
                         "unit_cost": _money(list_price * Decimal(r.uniform(0.4, 0.7))),
                         "launched_on": launched, "discontinued_on": gone, "is_active": gone is None}
                    )  # fmt: skip
                    self.top_of[pid] = top
        # Zipf-like popularity over a random ranking, nudged towards cheaper items.
        ranks = list(range(1, len(products) + 1))
        r.shuffle(ranks)
        self.popularity = [
            (rank + 2) ** -0.9 * min(2.0, (100.0 / float(p["unit_price"])) ** 0.3)
            for rank, p in zip(ranks, products, strict=True)
        ]
        self.cum_popularity = list(accumulate(self.popularity))

    def promotions(self) -> None:
        rows = self.rows["promotions"]
        tops = self.top_category_ids
        for year in range(START.year, END.year + 1):
            for code, name, start, end, pct, top in SEASONAL_PROMOTIONS:
                rows.append(
                    {"promotion_id": len(rows) + 1, "promo_code": f"{code}-{year}",
                     "promo_name": f"{name} {year}", "discount_pct": Decimal(pct),
                     "category_id": None if top is None else tops[top],
                     "start_date": dt.date(year, *start), "end_date": dt.date(year, *end)}
                )  # fmt: skip
        for code, name, start, pct, top in OPEN_PROMOTIONS:
            rows.append(
                {"promotion_id": len(rows) + 1, "promo_code": code, "promo_name": name,
                 "discount_pct": Decimal(pct), "category_id": None if top is None else tops[top],
                 "start_date": start, "end_date": None}
            )  # fmt: skip

    def customers(self) -> None:
        r = self.r
        stores = self.rows["stores"]
        drafts = []
        for _ in range(N_CUSTOMERS):
            # A third joined before the period; the rest sign up through it, faster later.
            if r.random() < 0.33:
                day = self.date_between(dt.date(2019, 1, 1), dt.date(2020, 12, 31))
            else:
                day = START + dt.timedelta(days=int((END - START).days * r.random() ** 0.8))
            at = dt.datetime.combine(
                day, dt.time(r.randint(8, 22), r.randint(0, 59), r.randint(0, 59))
            )
            drafts.append(at)
        drafts.sort()
        rows = self.rows["customers"]
        self.activity = []
        for cid, registered in enumerate(drafts, 1):
            city = self.pick(CUSTOMER_CITIES)
            foreign = r.random() < 0.03
            gender = self.pick({"M": 48, "F": 49, None: 3})
            if foreign:
                name = f"{r.choice(FOREIGN_FIRST)} {r.choice(FOREIGN_LAST)}"
            else:
                name = self.name(gender)
            local = [s for s in stores if s["city"] == city and s["store_type"] != "online"
                     and s["opened_on"] <= registered.date()
                     and (s["closed_on"] is None or s["closed_on"] > registered.date())]  # fmt: skip
            roll = r.random()
            home = (
                r.choice(local)["store_id"]
                if local and roll < 0.7
                else (1 if roll < 0.85 else None)
            )
            birth = None
            if r.random() < 0.75:
                age = min(75, max(18, int(r.gauss(34, 10))))
                birth = dt.date(2024 - age, 1, 1) + dt.timedelta(days=r.randint(0, 364))
            email = None
            if r.random() < 0.7:
                local_part = "".join(r.choices("abcdefghijklmnopqrstuvwxyz", k=r.randint(4, 8)))
                email = f"{local_part}{r.randint(1, 9999)}@" + self.pick(
                    {"example.com": 5, "example.net": 3, "example.org": 2, "mail.example.cn": 4}
                )
            rows.append(
                {"customer_id": cid, "customer_code": f"C{cid:06d}", "full_name": name,
                 "gender": gender, "birth_date": birth, "email": email,
                 "phone": self.mobile() if r.random() < 0.95 else None, "city": city,
                 "member_level": "bronze",  # set from spending once orders exist
                 "registered_at": registered, "home_store_id": home}
            )  # fmt: skip
            self.activity.append(min(40.0, r.paretovariate(1.3)))

    # ------------------------------------------------------------ transactions

    def order_times(self) -> list[tuple[dt.datetime, bool]]:
        """(order time, online?) for every order, sorted: growth, seasons, festivals."""
        r = self.r
        days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
        weights = []
        for d in days:
            w = YEAR_WEIGHT[d.year] * MONTH_WEIGHT[d.month - 1] * (1.25 if d.weekday() >= 5 else 1)
            weights.append(w * FESTIVAL_WEIGHT.get((d.month, d.day), 1.0))
        stamps = []
        for d in r.choices(days, weights=weights, k=N_ORDERS):
            festival = (d.month, d.day) in ((11, 11), (6, 18))
            online = r.random() < (0.85 if festival else ONLINE_SHARE[d.year])
            if online:
                hour = r.choices(range(24), weights=ONLINE_HOURS)[0]
            else:
                hour = r.choices(range(10, 22), weights=STORE_HOURS)[0]
            at = dt.datetime.combine(d, dt.time(hour, r.randint(0, 59), r.randint(0, 59)))
            stamps.append((at, online))
        return sorted(stamps)

    def customer_picker(self) -> Callable[[dt.datetime, str | None], int | None]:
        """A function choosing a customer who had signed up by then, the active ones more often."""
        r = self.r
        # Customer ids are in registration order; per city (None: everyone) keep the
        # registration times, the ids and the cumulative activity weights.
        groups: dict[str | None, list[Row]] = defaultdict(list)
        for c in self.rows["customers"]:
            groups[None].append(c)
            groups[c["city"]].append(c)
        index = {
            key: (
                [c["registered_at"] for c in members],
                [c["customer_id"] for c in members],
                list(accumulate(self.activity[c["customer_id"] - 1] for c in members)),
            )
            for key, members in groups.items()
        }

        def pick(at: dt.datetime, city: str | None) -> int | None:
            registered, ids, cum = index[city]
            k = bisect_right(registered, at)
            if k == 0:
                return None
            return ids[bisect_right(cum, r.random() * cum[k - 1], 0, k - 1)]

        return pick

    def promotion_for(self, d: dt.date) -> Row | None:
        live = [p for p in self.rows["promotions"] if p["start_date"] <= d
                and (p["end_date"] is None or d <= p["end_date"])]  # fmt: skip
        seasonal = [p for p in live if p["end_date"] is not None]
        if seasonal:
            return self.r.choice(seasonal) if self.r.random() < 0.6 else None
        return self.r.choice(live) if live and self.r.random() < 0.06 else None

    def order_lines(self, oid: int, d: dt.date, promo: Row | None) -> list[Row]:
        """Distinct products on sale that day, popular ones more often, priced as of then."""
        r = self.r
        products = self.rows["products"]
        chosen: list[int] = []
        for _ in range(r.choices(range(1, 9), weights=LINE_COUNT_WEIGHTS)[0]):
            for _try in range(30):
                i = bisect_right(self.cum_popularity, r.random() * self.cum_popularity[-1])
                p = products[min(i, len(products) - 1)]
                gone = p["discontinued_on"]
                if (
                    p["launched_on"] <= d
                    and (gone is None or d < gone)
                    and p["product_id"] not in chosen
                ):
                    chosen.append(p["product_id"])
                    break
        items = []
        for line_no, pid in enumerate(chosen, 1):
            price = products[pid - 1]["unit_price"]
            unit = _money(price * PRICE_LEVEL[d.year])
            if price < 30:
                qty = r.choices([1, 2, 3, 4, 5, 6], weights=[40, 25, 15, 10, 5, 5])[0]
            elif price < 150:
                qty = r.choices([1, 2, 3], weights=[70, 22, 8])[0]
            else:
                qty = r.choices([1, 2], weights=[92, 8])[0]
            discount = Decimal(0)
            top_id = self.top_category_ids[self.top_of[pid]]
            if promo and promo["category_id"] in (None, top_id):
                discount = _money(qty * unit * promo["discount_pct"] / 100)
            items.append(
                {"order_id": oid, "line_no": line_no, "product_id": pid, "quantity": qty,
                 "unit_price": unit, "discount_amount": discount,
                 "line_total": qty * unit - discount}
            )  # fmt: skip
        return items

    def fulfilment(self, at: dt.datetime, online: bool) -> tuple[str, When, When, When]:
        """(status, shipped_at, delivered_at, returned_at) of an order placed at ``at``."""
        r = self.r

        def later(t: dt.datetime, hours: float) -> dt.datetime:
            return (t + dt.timedelta(hours=hours)).replace(microsecond=0)

        if r.random() < (0.06 if online else 0.015):
            return "cancelled", None, None, None
        shipped_at = delivered_at = None
        if online:
            # Mostly shipped within three days (five around 11·11); a few wait for stock.
            lag = r.uniform(2, 120 if at.month == 11 else 72)
            if r.random() < 0.05:
                lag = r.uniform(72, 400)
            shipped_at = later(at, lag)
            delivered_at = later(shipped_at, r.uniform(18, 120))
            if shipped_at > END_TS:
                return "pending", None, None, None
            if delivered_at > END_TS:
                return "shipped", shipped_at, None, None
        if r.random() < (0.035 if online else 0.015):
            returned_at = later(delivered_at or at, r.uniform(12, 14 * 24))
            if returned_at <= END_TS:
                return "returned", shipped_at, delivered_at, returned_at
        return "completed", shipped_at, delivered_at, None

    def orders(self) -> None:
        r = self.r
        stores, customers, out = self.rows["stores"], self.rows["customers"], self.rows
        physical = [s for s in stores if s["store_type"] != "online"]
        customer_for = self.customer_picker()
        for at, online in self.order_times():
            oid = len(out["orders"]) + 1
            d = at.date()
            if online:
                store, employee = stores[0], None
                channel = "online" if r.random() < 0.75 - 0.08 * (d.year - 2021) else "app"
                customer = customer_for(at, None)
            else:
                open_now = [s for s in physical if s["opened_on"] <= d
                            and (s["closed_on"] is None or d <= s["closed_on"])]  # fmt: skip
                weights = [STORE_WEIGHT[s["store_type"]] for s in open_now]
                store = r.choices(open_now, weights=weights)[0]
                channel = "store"
                customer = None
                if r.random() >= 0.12:  # the rest are walk-in guests
                    customer = customer_for(at, store["city"] if r.random() < 0.8 else None)
                sellers = self.sellers[store["store_id"]]
                staff = [e for e, start, stop in sellers if start <= d <= stop]
                employee = r.choice(staff) if staff else None
            promo = self.promotion_for(d)
            items = self.order_lines(oid, d, promo)
            if not items or (online and customer is None):
                continue  # nothing on sale, or nobody signed up yet: no order
            if promo and not any(it["discount_amount"] for it in items):
                promo = None
            total = sum(it["line_total"] for it in items)
            status, shipped_at, delivered_at, returned_at = self.fulfilment(at, online)
            note = None
            if r.random() < (0.08 if online else 0.01):
                note = r.choice(ORDER_NOTES) if online else "需要开发票"
            out["orders"].append(
                {"order_id": oid, "order_no": f"SO{at:%Y%m%d}{oid:06d}", "customer_id": customer,
                 "store_id": store["store_id"], "employee_id": employee,
                 "promotion_id": promo["promotion_id"] if promo else None, "channel": channel,
                 "status": status, "ordered_at": at, "shipped_at": shipped_at,
                 "total_amount": total, "note": note}
            )  # fmt: skip
            out["order_items"].extend(items)
            self.payments(oid, at, online, status, total)
            if shipped_at is not None:
                carrier, prefix, _ = r.choices(CARRIERS, weights=[c[2] for c in CARRIERS])[0]
                fee = Decimal(0) if total >= 99 else _money(r.choice([6, 8, 10, 12]))
                out["shipments"].append(
                    {"shipment_id": len(out["shipments"]) + 1, "order_id": oid,
                     "carrier": carrier, "tracking_no": prefix + "".join(r.choices("0123456789", k=12)),
                     "ship_city": customers[customer - 1]["city"], "shipping_fee": fee,
                     "shipped_at": shipped_at, "delivered_at": delivered_at}
                )  # fmt: skip
            if status == "returned":
                for it in r.sample(items, 1 if len(items) == 1 or r.random() < 0.8 else 2):
                    qty = it["quantity"] if r.random() < 0.8 else r.randint(1, it["quantity"])
                    out["returns"].append(
                        {"return_id": len(out["returns"]) + 1, "order_id": oid,
                         "line_no": it["line_no"], "returned_at": returned_at, "quantity": qty,
                         "reason": self.pick(RETURN_REASONS),
                         "refund_amount": _money(it["line_total"] * qty / it["quantity"])}
                    )  # fmt: skip

    def payments(
        self, oid: int, at: dt.datetime, online: bool, status: str, total: Decimal
    ) -> None:
        r = self.r
        rows = self.rows["payments"]
        if status == "cancelled" and (not online or r.random() < 0.4):
            return  # cancelled before paying
        paid_at = at + dt.timedelta(seconds=r.randint(5, 600 if online else 180))
        if online:
            methods = {"alipay": 48, "wechat_pay": 40, "bank_card": 10, "gift_card": 2}
        else:
            cash = max(3, 12 - 3 * (at.year - 2021))
            methods = {
                "wechat_pay": 40,
                "alipay": 30,
                "bank_card": 14,
                "cash": cash,
                "gift_card": 4,
            }
        parts = [(self.pick(methods), total)]
        if total > 200 and r.random() < 0.04:  # part paid with a gift card
            card = Decimal(r.choice([50, 100, 200]))
            parts = [
                ("gift_card", card),
                (self.pick({k: v for k, v in methods.items() if k != "gift_card"}), total - card),
            ]
        for method, amount in parts:
            rows.append(
                {"payment_id": len(rows) + 1, "order_id": oid, "paid_at": paid_at, "method": method,
                 "amount": amount, "status": "refunded" if status == "cancelled" else "paid"}
            )  # fmt: skip

    def member_levels(self) -> None:
        spent: dict[int, Decimal] = defaultdict(Decimal)
        for o in self.rows["orders"]:
            if o["customer_id"] is not None and o["status"] != "cancelled":
                spent[o["customer_id"]] += o["total_amount"]
        ranked = sorted(spent, key=lambda cid: (-spent[cid], cid))
        n = len(self.rows["customers"])
        for pos, cid in enumerate(ranked):
            share = pos / n
            level = next(name for name, upto in MEMBER_TIERS if share < upto)
            self.rows["customers"][cid - 1]["member_level"] = level

    def inventory(self) -> None:
        r = self.r
        top = max(self.popularity)
        for store in self.rows["stores"]:
            if store["closed_on"] is not None:
                continue
            kind = store["store_type"]
            carry = {"online": 1.0, "flagship": 0.85, "standard": 0.6, "outlet": 0.45}[kind]
            for p, pop in zip(self.rows["products"], self.popularity, strict=True):
                if not p["is_active"] and not (kind in ("outlet", "online") and r.random() < 0.5):
                    continue
                if r.random() > carry:
                    continue
                mean = (8 + 300 * pop / top) * (5 if kind == "online" else 1)
                stock = (
                    0
                    if r.random() < 0.06 or not p["is_active"]
                    else max(0, int(r.gauss(mean, mean / 2)))
                )
                restocked = None
                if r.random() < 0.95:
                    day = END - dt.timedelta(days=r.randint(0, 90))
                    restocked = dt.datetime.combine(
                        day, dt.time(r.randint(6, 10), r.choice([0, 15, 30, 45]))
                    )
                self.rows["inventory"].append(
                    {"store_id": store["store_id"], "product_id": p["product_id"],
                     "quantity_on_hand": stock,
                     "reorder_level": r.choice([5, 10, 20]) * (4 if kind == "online" else 1),
                     "last_restocked_at": restocked}
                )  # fmt: skip


def generate(seed: int) -> dict[str, list[Row]]:
    """Rows for every example table, keyed by table name; the same seed, the same rows."""
    g = _Gen(seed)
    g.regions_and_stores()
    g.employees()
    g.catalog()
    g.promotions()
    g.customers()
    g.orders()
    g.member_levels()
    g.inventory()
    return dict(g.rows)
