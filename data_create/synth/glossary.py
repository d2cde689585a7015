"""Chinese words for the English words column names are made of, the last resort of a Chinese
question about a column nobody commented.

The schema's own words come first (a comment on a column of the same name, the linked
table's name, words its comments use: see ``questions._zh_names``); only a word the schema
never names in Chinese is looked up here, and a name with any word missing from both stays
as the split identifier.  So ``growth_point`` in a schema that comments ``growth`` nowhere
reads 成长积分, not "growth point" inside a Chinese sentence.

Data, not logic: one entry per word, the usual term in Chinese business software (ERP,
e-commerce, admin systems).  Words whose meaning depends on the schema (``type``, ``flag``)
are given their neutral sense.

>>> ZH["level"], ZH["status"]
('等级', '状态')
"""

from __future__ import annotations

ZH: dict[str, str] = {
    # people and organisations
    "user": "用户", "member": "会员", "customer": "客户", "client": "客户", "admin": "管理员",
    "employee": "员工", "staff": "员工", "manager": "经理", "owner": "负责人", "author": "作者",
    "supplier": "供应商", "vendor": "供应商", "merchant": "商家", "seller": "卖家",
    "buyer": "买家", "company": "公司", "dept": "部门", "department": "部门", "role": "角色",
    "tenant": "租户", "group": "分组", "team": "团队", "contact": "联系人", "receiver": "收货人",
    "sender": "发送方", "creator": "创建人", "operator": "操作人", "reviewer": "审核人",
    "doctor": "医生", "patient": "患者", "student": "学生", "teacher": "教师",
    # things sold and stored
    "product": "商品", "goods": "商品", "item": "项目", "sku": "SKU", "spu": "SPU",
    "brand": "品牌", "category": "类目", "catalog": "目录", "stock": "库存",
    "inventory": "库存", "warehouse": "仓库", "store": "门店", "shop": "店铺", "cart": "购物车",
    "order": "订单", "invoice": "发票", "bill": "账单", "payment": "支付", "pay": "支付",
    "refund": "退款", "return": "退货", "delivery": "配送", "shipping": "运费", "freight": "运费",
    "logistics": "物流", "coupon": "优惠券", "promotion": "促销", "discount": "折扣",
    "flash": "秒杀", "gift": "赠送", "point": "积分", "points": "积分", "integration": "积分",
    "growth": "成长", "balance": "余额", "wallet": "钱包", "account": "账户", "card": "卡",
    "comment": "评论", "review": "评价", "feedback": "反馈", "question": "问题", "answer": "回答",
    "topic": "话题", "subject": "专题", "article": "文章", "notice": "通知", "message": "消息",
    "ad": "广告", "advertise": "广告", "banner": "横幅", "recommend": "推荐", "hot": "热门",
    "new": "新品", "preview": "预告", "album": "相册", "pic": "图片", "picture": "图片",
    "image": "图片", "video": "视频", "file": "文件", "attachment": "附件", "tag": "标签",
    "label": "标签", "keyword": "关键词", "attr": "属性", "attribute": "属性", "spec": "规格",
    "specification": "规格", "feature": "特性", "unit": "单位", "package": "包装",
    "service": "服务", "contract": "合同", "project": "项目", "task": "任务", "plan": "计划",
    "log": "日志", "record": "记录", "history": "历史", "detail": "明细", "rule": "规则",
    "setting": "设置", "config": "配置", "menu": "菜单", "permission": "权限",
    "resource": "资源", "dict": "字典", "session": "场次", "activity": "活动", "event": "事件",
    "channel": "渠道", "source": "来源", "platform": "平台", "device": "设备", "app": "App",
    "region": "地区", "area": "区域", "province": "省份", "city": "城市", "district": "区县",
    "country": "国家", "address": "地址", "street": "街道", "zip": "邮编", "location": "位置",
    # figures
    "price": "价格", "amount": "金额", "money": "金额", "cost": "成本", "fee": "费用",
    "total": "总计", "sum": "合计", "count": "数量", "number": "数量", "num": "数量",
    "quantity": "数量", "qty": "数量", "weight": "重量", "height": "高度", "width": "宽度",
    "length": "长度", "size": "尺寸", "volume": "体积", "rate": "比率", "ratio": "比例",
    "percent": "百分比", "score": "评分", "rating": "评分", "star": "星级", "level": "等级",
    "grade": "等级", "rank": "排名", "limit": "限制", "min": "最低", "max": "最高",
    "low": "最低", "high": "最高", "full": "满额", "reduce": "减免", "reduction": "减免",
    "tax": "税费", "commission": "佣金", "salary": "工资", "income": "收入", "revenue": "收入",
    "sale": "销售", "sales": "销量", "sold": "已售", "view": "浏览", "click": "点击",
    "visit": "访问", "like": "点赞", "share": "分享", "age": "年龄", "days": "天数",
    "day": "天", "hours": "小时数", "hour": "小时", "minutes": "分钟数", "year": "年份",
    "month": "月份", "week": "周", "duration": "时长", "period": "周期", "times": "次数",
    "capacity": "容量", "deposit": "押金", "budget": "预算", "profit": "利润",
    # states and kinds
    "status": "状态", "state": "状态", "type": "类型", "kind": "种类", "mode": "模式",
    "flag": "标志", "enable": "启用", "enabled": "启用", "disable": "禁用", "valid": "有效",
    "show": "显示", "visible": "可见", "hidden": "隐藏", "delete": "删除", "deleted": "已删除",
    "publish": "发布", "published": "已发布", "verify": "审核", "audit": "审核",
    "confirm": "确认", "default": "默认", "free": "免费", "open": "开启", "close": "关闭",
    "lock": "锁定", "online": "在线", "sort": "排序", "seq": "序号",
    "is": "是否", "has": "是否有", "use": "使用", "used": "已使用", "need": "需要",
    "auto": "自动", "special": "特殊", "public": "公开", "private": "私有",
    # names and text
    "name": "名称", "title": "标题", "nickname": "昵称", "code": "编码", "sn": "编号",
    "no": "编号", "id": "编号", "desc": "描述", "description": "描述", "note": "备注",
    "remark": "备注", "memo": "备注", "content": "内容", "text": "文本", "intro": "简介",
    "summary": "摘要", "url": "链接", "link": "链接", "icon": "图标", "logo": "标志",
    "email": "邮箱", "phone": "电话", "mobile": "手机号", "tel": "电话", "gender": "性别",
    "sex": "性别", "birthday": "生日", "nationality": "国籍", "language": "语言",
    "version": "版本", "path": "路径", "ip": "IP", "key": "键", "value": "值", "sign": "签名",
    # time
    "time": "时间", "date": "日期", "create": "创建", "created": "创建", "update": "更新",
    "updated": "更新", "modify": "修改", "modified": "修改", "start": "开始", "end": "结束",
    "begin": "开始", "finish": "完成", "expire": "过期", "expired": "过期", "login": "登录",
    "register": "注册", "birth": "出生", "deadline": "截止", "last": "最近", "first": "首次",
    "next": "下次", "at": "时间",
    # common tables of sample and legacy schemas
    "film": "电影", "movie": "电影", "actor": "演员", "rental": "租赁", "territory": "区域",
    "territories": "区域", "shipper": "承运商", "track": "曲目", "artist": "艺术家",
    "playlist": "播放列表", "genre": "流派", "media": "媒体", "line": "行", "employees": "员工",
    "course": "课程", "class": "班级", "school": "学校", "hospital": "医院", "flight": "航班",
    "airport": "机场", "airline": "航空公司", "ticket": "票", "booking": "预订", "room": "房间",
    "hotel": "酒店", "restaurant": "餐厅", "paper": "论文", "journal": "期刊", "venue": "会议",
    "publication": "出版物", "citation": "引用", "transaction": "交易", "ticker": "股票代码",
    "ship": "发货", "release": "发行", "active": "活跃", "replacement": "重置",
    "original": "原始", "discontinued": "已停产", "reorder": "再订购", "us": "美国",
    "abbreviation": "缩写", "units in stock": "库存数量", "units on order": "在订数量",
    # phrases whose words would mislead one by one (first name is not 首次名称)
    "first name": "名字", "last name": "姓氏", "full name": "全名", "user name": "用户名",
    "username": "用户名", "zip code": "邮编", "postal code": "邮编", "post code": "邮编",
    "unit price": "单价", "list price": "标价", "hire date": "入职日期",
    "birth date": "出生日期", "order date": "下单日期", "last update": "最后更新时间",
    "create date": "创建日期", "home page": "主页", "company name": "公司名称",
    "contact name": "联系人姓名", "phone number": "电话号码", "last login": "最近登录",
}  # fmt: skip


def compose(words: str, known: dict[str, str] | None = None) -> str | None:
    """Chinese for a split identifier (``growth point`` -> 成长积分), longest phrases first,
    each word from ``known`` (the schema's own words) before the glossary; None when
    any word has no Chinese.

    >>> compose("first name"), compose("growth point"), compose("wibble count")
    ('名字', '成长积分', None)
    """
    parts = words.lower().split()
    out: list[str] = []
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            phrase = " ".join(parts[i:j])
            hit = (known or {}).get(phrase) if j == i + 1 else None
            hit = hit or ZH.get(phrase)
            if hit:
                out.append(hit)
                i = j
                break
        else:
            return None
    return "".join(out) if out else None
