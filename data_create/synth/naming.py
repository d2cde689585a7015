"""Human names for tables and columns, from their comments or, failing that, their names.

Comments in real schemas are often bilingual (``"订单状态 / Order status"``) and carry
notes after a colon or comma (``"状态: pending 待发货, ... / Order status"``); a question
wants only the label.

>>> label("状态: pending 待发货, shipped 已发货 / Order status", "status", "zh")
'状态'
>>> label("状态: pending 待发货, shipped 已发货 / Order status", "status", "en")
'order status'
>>> label(None, "customer_id", "en"), label(None, "OrderDate", "en")
('customer', 'order date')
"""

from __future__ import annotations

import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# A Chinese label ends where a note, an example or a list of codes begins:
# "用户姓名--例如张三", "状态（0正常 1停用）", "性别 0=男 1=女".
_ZH_CUT = re.compile(r"[:：,，(（;；=【\[]|--+|\s-\s|—|例如|比如|如：|\s+(?=\d)")
# What a table's comment calls the table rather than its rows: "用户信息表" -> "用户".
_ZH_TABLE_SUFFIX = re.compile(r"(?:信息表|数据表|主表|记录表|表|信息)$")
_EN_CUT = re.compile(r"\s*(?:[:,(;=]|\s-\s)")
_ACRONYM = re.compile(r"^[A-Z]{2,}\b")
# A comment that starts with its list of values names nothing: "Possible values: buy, sell";
# nor does one that starts with a note on its NULLs or a condition ("NULL if the treatment is
# ongoing", "If set, ...", "Whether ...": the identifier says more).
_NOT_A_LABEL = re.compile(
    r"^(?:(?:possible|allowed|valid|accepted)\s+values?|values?|one of|e\.?g\.?|for example)$"
    r"|^(?:null|empty|if|when|whether)\b",
    re.IGNORECASE,
)
# "The title of the publication" is said after "whose" and "the": the article goes.
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@lru_cache(maxsize=8192)
def humanize(name: str) -> str:
    """``order_date`` -> ``order date``; ``customer_id`` -> ``customer``; ``UnitPrice`` -> ``unit price``."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = re.sub(r"[_\-\s]+", " ", words).strip().lower()
    parts = words.split()
    if len(parts) > 1 and parts[-1] in ("id", "no", "fk"):
        parts = parts[:-1]
    return " ".join(parts) or name


def _parts(comment: str) -> list[str]:
    return [p.strip() for p in re.split(r"\s+/\s+", comment) if p.strip()]


# Asked for the same few hundred columns and tables tens of thousands of times per run
# (every question phrased names some): 3% of a run, recomputed.
@lru_cache(maxsize=8192)
def label(
    comment: str | None, name: str, language: str, keep_note: bool = False, table: bool = False
) -> str:
    """The short label of a table or column for questions in ``language`` ("zh" or "en").

    ``keep_note`` keeps a one-word parenthetical (``category name (English)``), which
    tells apart columns that otherwise share a label; ``table`` drops the "表" a table's
    comment ends with.

    >>> label("用户信息表", "sys_user", "zh", table=True), label("用户姓名--例如张三", "x", "zh")
    ('用户', '用户姓名')
    >>> label("The title of the paper", "title", "en"), label("NULL if ongoing", "end_dt", "en")
    ('title of the paper', 'end dt')
    """
    parts = _parts(comment or "")
    if language == "zh":
        for part in parts:
            if has_cjk(part):
                text = _ZH_CUT.split(part, maxsplit=1)[0].strip()
                if table:
                    short = _ZH_TABLE_SUFFIX.sub("", text)
                    text = short if len(short) >= 2 else text
                if text:
                    return text
    else:
        for part in parts:
            if not has_cjk(part):
                text = _EN_CUT.split(part, maxsplit=1)[0].strip()
                note = re.match(r"\s*\((\w+)\)\s*$", part[len(text) :]) if keep_note else None
                if note:
                    text = f"{text} ({note.group(1)})"
                text = _ARTICLE.sub("", text)
                if text and len(text) <= 40 and not _NOT_A_LABEL.match(text):
                    return text if _ACRONYM.match(text) else text[0].lower() + text[1:]
    return humanize(name)


@lru_cache(maxsize=8192)
def plural(noun: str) -> str:
    """A rough English plural of the last word: ``order status`` -> ``order statuses``."""
    if " of " in noun:
        head, _, tail = noun.partition(" of ")
        return f"{plural(head)} of {tail}"
    if not noun or has_cjk(noun) or noun.endswith("data") or re.search(r"[^su]s$", noun):
        return noun
    if re.search(r"(s|x|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


@lru_cache(maxsize=8192)
def singular(noun: str) -> str:
    """``customers`` -> ``customer``, ``categories`` -> ``category``: for names of plural tables."""
    if has_cjk(noun):
        return noun
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("ches", "ch"),
        ("shes", "sh"),
    ):
        if noun.endswith(suffix):
            return noun[: -len(suffix)] + repl
    return noun[:-1] if re.search(r"[^sui]s$", noun) else noun
