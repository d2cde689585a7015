"""Question templates in English and Chinese, filled from a :class:`~.builder.Built`'s slots.

Every template states every condition the SQL applies: filter values, limits, ordering
direction, grouping, HAVING thresholds and date ranges.  Each shape has several phrasings
per language; the synthesizer's seeded RNG picks one, so the set is not monotone.
"""

from __future__ import annotations

import re
from collections import Counter
from random import Random
from typing import Any

from ..roles import role_of
from . import glossary
from .builder import Built, Col, Cond, Figure, Lit
from .naming import has_cjk, humanize, label, plural, singular

_COND = {
    "en": {
        "eq": "{c} is {v0}", "gt": "{c} is greater than {v0}", "lt": "{c} is less than {v0}",
        "ge": "{c} is at least {v0}", "in": "{c} is {v0} or {v1}",
        "between": "{c} is between {v0} and {v1}", "like_prefix": "{c} starts with {v0}",
        "like_contains": "{c} contains {v0}", "is_null": "{c} is missing",
        "not_null": "{c} is recorded", "year": "{c} is in the year {v0}",
        "range": "{c} is on or after {v0} and before {v1}",
    },
    "zh": {
        "eq": "{c}为{v0}", "gt": "{c}大于{v0}", "lt": "{c}小于{v0}", "ge": "{c}不小于{v0}",
        "in": "{c}为{v0}或{v1}", "between": "{c}在{v0}到{v1}之间", "like_prefix": "{c}以{v0}开头",
        "like_contains": "{c}包含{v0}", "is_null": "{c}为空", "not_null": "{c}不为空",
        "year": "{c}在{v0}年", "range": "{c}不早于{v0}且早于{v1}",
    },
}  # fmt: skip

_BARE = {  # an aggregate as a noun after "the highest ..." / "...最高"
    "en": {"sum": "total {c}", "avg": "average {c}", "max": "maximum {c}", "min": "minimum {c}",
           "count": "{ts}", "count_distinct": "different {c} values",
           "share": "share of {ts} whose {c}", "pct": "percentage of {ts} whose {c}",
           "ratio": "ratio of {ts} whose {c} to {ts} whose {c2}",
           "cond_count": "{ts} whose {c}", "cond_sum": "total {m} of {ts} whose {c}",
           "cond_them": "{ts} among them whose {c}",
           "weighted": "share of the total {m} from {ts} whose {c}",
           "count_per": "number of {ts} per different {d}",
           "sum_per": "total {m} per different {d}",
           "per_measure": "ratio of the total {m} to the total {d}",
           "spread": "difference between the highest and the lowest {m}",
           "distinct_cond": "different {d} values among {ts} whose {c}",
           "distinct_share": "share of the different {d} values found among {ts} whose {c}",
           "distinct_per": "number of different {m} values per different {d}"},
    "zh": {"sum": "{c}总和", "avg": "平均{c}", "max": "最大{c}", "min": "最小{c}", "count": "{t}数量",
           "count_distinct": "不同{c}的数量", "share": "{c}的{t}占比",
           "pct": "{c}的{t}所占百分比", "ratio": "{c}的{t}与{c2}的{t}的数量之比",
           "cond_count": "{c}的{t}数量", "cond_sum": "{c}的{t}的{m}总和",
           "cond_them": "其中{c}的{t}数量",
           "weighted": "{c}的{t}的{m}占{m}总和的比例", "count_per": "平均每个不同{d}的{t}数量",
           "sum_per": "平均每个不同{d}的{m}总和", "per_measure": "{m}总和与{d}总和之比",
           "spread": "最高{m}与最低{m}之差", "distinct_cond": "{c}的{t}中不同{d}的数量",
           "distinct_share": "{c}的{t}中出现的不同{d}占全部不同{d}的比例",
           "distinct_per": "平均每个不同{d}对应的不同{m}数量"},
}  # fmt: skip

_AGG = {
    "en": {"count": "the number of {ts}", "sum": "the total {c}", "avg": "the average {c}",
           "max": "the highest {c}", "min": "the lowest {c}",
           "count_distinct": "the number of different {c} values among {ts}",
           "count_distinct_of": "the number of different {c} values",
           "share": "the share of {ts} whose {c}", "pct": "the percentage of {ts} whose {c}",
           "ratio": "the ratio of the number of {ts} whose {c} to the number of {ts} whose {c2}",
           "cond_count": "the number of {ts} whose {c}",
           "cond_them": "how many of those {ts} are ones whose {c}",
           "cond_sum": "the total {m} of {ts} whose {c}",
           "weighted": "the share of the total {m} that comes from {ts} whose {c}",
           "count_per": "the number of {ts} per different {d}",
           "sum_per": "the total {m} per different {d}",
           "per_measure": "the ratio of the total {m} to the total {d}",
           "spread": "the difference between the highest and the lowest {m}",
           "distinct_cond": "the number of different {d} values among {ts} whose {c}",
           "distinct_share": "the share of the different {d} values that are found among {ts} whose {c}",
           "distinct_per": "the number of different {m} values of {ts} per different {d}"},
    "zh": {"count": "{t}数量", "sum": "{c}总和", "avg": "平均{c}", "max": "最高{c}", "min": "最低{c}",
           "count_distinct": "{t}中不同{c}的数量", "share": "{c}的{t}所占比例",
           "count_distinct_of": "不同{c}的数量", "pct": "{c}的{t}所占百分比",
           "ratio": "{c}的{t}数量与{c2}的{t}数量之比", "cond_count": "{c}的{t}数量",
           "cond_them": "其中{c}的{t}数量",
           "cond_sum": "{c}的{t}的{m}总和", "weighted": "{c}的{t}的{m}占{m}总和的比例",
           "count_per": "平均每个不同{d}对应的{t}数量", "sum_per": "平均每个不同{d}对应的{m}总和",
           "per_measure": "{m}总和与{d}总和之比", "spread": "最高{m}与最低{m}之差",
           "distinct_cond": "{c}的{t}中不同{d}的数量",
           "distinct_share": "{c}的{t}中出现的不同{d}占全部不同{d}的比例",
           "distinct_per": "{t}中平均每个不同{d}对应的不同{m}数量"},
}  # fmt: skip

_WORDS = {
    "en": {"dir": ("ascending", "descending"), "most": ("lowest", "highest"),
           "fromto": ("lowest to highest", "highest to lowest"), "more": ("below", "above"),
           "and": " and ", "list": ", ", "rank": " (ties share the same rank)",
           "many": ("fewest", "most"), "late": ("earliest", "latest"),
           "recent": ("earliest", "most recent"),
           "dense": " (ties share a rank, and no rank is skipped)",
           "op": {"times": "{a} times {b}", "minus": "{a} minus {b}", "per": "{a} divided by {b}",
                  "days": "number of days from {b} to {a}"},
           "via": " (through their {t2s})"},
    "zh": {"dir": ("升序", "降序"), "most": ("最低", "最高"), "fromto": ("从低到高", "从高到低"),
           "more": ("低于", "高于"), "and": "且", "list": "、", "rank": "（并列名次都保留）",
           "many": ("最少", "最多"), "late": ("最早", "最晚"), "recent": ("最早", "最近"),
           "dense": "（并列名次相同，名次不跳号）",
           "op": {"times": "{a}乘以{b}", "minus": "{a}减去{b}", "per": "{a}除以{b}",
                  "days": "从{b}到{a}的天数"},
           "via": "（经由{t2}）"},
}  # fmt: skip

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "filter_list": {
        "en": ("List the {cols} of {ts} whose {w}{sorted}.", "Show the {cols} of all {ts} where {w}{sorted}.",
               "Give the {cols} of {ts} where {w}{sorted}.", "What are the {cols} of the {ts} whose {w}{sorted}?"),
        "zh": ("列出{w}的{t}的{cols}{sorted}。", "查询所有{w}的{t}，显示其{cols}{sorted}。",
               "{w}的{t}有哪些？请给出{cols}{sorted}。", "{w}的{t}的{cols}是什么{sorted}？"),
    },
    "filter_one": {
        "en": ("Give one {t} whose {w}: show its {cols}.", "Show the {cols} of any one {t} where {w}.",
               "Name a single {t} for which {w}, with its {cols}."),
        "zh": ("给出任意一个{w}的{t}，显示其{cols}。", "随便列出一个{w}的{t}的{cols}。",
               "找一个{w}的{t}，给出它的{cols}（一条即可）。"),
    },
    "plain_list": {
        "en": ("List the {cols} of all {ts}{sorted}.", "What are the {cols} of every {t}{sorted}?",
               "Show the {cols} of each {t}{sorted}."),
        "zh": ("列出所有{t}的{cols}{sorted}。", "每个{t}的{cols}是什么{sorted}？", "查询全部{t}的{cols}{sorted}。"),
    },
    "join_pairs": {
        "en": ("List the {cols} of every {t} together with the {c2} of its {t2}{sorted}.",
               "Show each {t}'s {cols} and the {c2} of the {t2} it belongs to{sorted}.",
               "For all {ts}, give their {cols} and their {t2}'s {c2}{sorted}."),
        "zh": ("列出每个{t}的{cols}及其所属{t2}的{c2}{sorted}。", "查询所有{t}的{cols}和对应{t2}的{c2}{sorted}。",
               "显示全部{t}的{cols}，以及它们所属{t2}的{c2}{sorted}。"),
    },
    "star_pairs": {
        "en": ("List the {cols} of every {t} together with the {c2} of its {t2} and the {c3} of its {t3}.",
               "For each {t}, show its {cols}, its {t2}'s {c2} and its {t3}'s {c3}.",
               "Give every {t}'s {cols} with the {c2} of the {t2} and the {c3} of the {t3} it belongs to."),
        "zh": ("列出每个{t}的{cols}，以及其{t2}的{c2}和{t3}的{c3}。", "查询所有{t}的{cols}、对应{t2}的{c2}和对应{t3}的{c3}。",
               "显示全部{t}的{cols}，以及它们所属{t2}的{c2}、所属{t3}的{c3}。"),
    },
    "row_ratio": {
        "en": ("What is the ratio of the {num} of the {t} whose {w0} to the {num} of the {t} whose {w1}?",
               "The {num} of the {t} whose {w0} is how many times the {num} of the {t} whose {w1}?",
               "Divide the {num} of the {t} where {w0} by the {num} of the {t} where {w1}."),
        "zh": ("{w0}的{t}的{num}与{w1}的{t}的{num}之比是多少？", "{w0}的{t}的{num}是{w1}的{t}的{num}的多少倍？",
               "计算{w0}的{t}的{num}除以{w1}的{t}的{num}。"),
    },
    "row_diff": {
        "en": ("How much higher is the {num} of the {t} whose {w0} than that of the {t} whose {w1}?",
               "What is the {num} of the {t} whose {w0} minus the {num} of the {t} whose {w1}?",
               "By how much does the {num} of the {t} where {w0} exceed the {num} of the {t} where {w1}?"),
        "zh": ("{w0}的{t}的{num}比{w1}的{t}的{num}高多少？", "{w0}的{t}的{num}减去{w1}的{t}的{num}是多少？",
               "计算{w0}的{t}与{w1}的{t}的{num}之差（前者减后者）。"),
    },
    "argmax_row_where": {
        "en": ("Among {ts} whose {w}, which has the {most} {num}? Show its {cols}.",
               "Give the {cols} of the {t} with the {most} {num} among those where {w}.",
               "Of the {ts} where {w}, which one's {num} is the {most}? Show its {cols}."),
        "zh": ("在{w}的{t}中，{num}{most}的是哪个？列出其{cols}。", "查询{w}的{t}中{num}{most}的那个的{cols}。",
               "{w}的{t}里，哪个{t}的{num}{most}？给出{cols}。"),
    },
    "select_star": {
        "en": ("Show all information about the {ts} whose {w}.", "Give every detail of the {ts} where {w}.",
               "What are the full records of the {ts} whose {w}?"),
        "zh": ("查询{w}的{t}的全部信息。", "{w}的{t}的所有信息是什么？", "显示{w}的{t}的详细信息。"),
    },
    "join_agg_count": {
        "en": ("How many {ts} does the {t2} whose {wu} have?", "How many {ts} belong to {t2s} whose {wu}?",
               "Count the {ts} of the {t2} where {wu}.", "What is the number of {ts} whose {w}?"),
        "zh": ("{wu}的{t2}有多少{t}？", "统计{wu}的{t2}的{t}数量。", "{w}的{t}有多少个？"),
    },
    # Conditions on two joined tables (both parents of the counted rows): said with
    # their tables' names.
    "join_agg_count_where": {
        "en": ("How many {ts} are there whose {w}?", "Count the {ts} for which {w}.",
               "What is the number of {ts} whose {w}?"),
        "zh": ("{w}的{t}有多少个？", "统计{w}的{t}数量。", "满足{w}的{t}共有多少？"),
    },
    "join_agg_where": {
        "en": ("What is {agg} of {ts} whose {w}?", "Compute {agg} over the {ts} where {w}.",
               "Among {ts} for which {w}, what is {agg}?"),
        "zh": ("{w}的{t}的{agg}是多少？", "计算{w}的{t}的{agg}。", "在{w}的{t}中，{agg}是多少？"),
    },
    "chain_list": {
        "en": ("Which {ts} have {t2s} that have {t3s}? List their {cols}.",
               "List the {cols} of the {ts} with at least one {t2} that has {t3s}.",
               "Show the different {cols} of {ts} whose {t2s} have any {t3}."),
        "zh": ("哪些{t}有{t2}且这些{t2}有{t3}？列出其{cols}。", "列出拥有带{t3}的{t2}的{t}的{cols}（去重）。",
               "查询存在{t3}记录的{t2}所属的{t}，显示其{cols}（不重复）。"),
    },
    "chain_pairs": {
        "en": ("List the {cols} of every {t} together with the {c2} of the {t3} its {t2} belongs to.",
               "For each {t}, show its {cols} and the {c2} of its {t2}'s {t3}.",
               "Give every {t}'s {cols} and the {c2} of the {t3} that its {t2} is under."),
        "zh": ("列出每个{t}的{cols}，以及其{t2}所属{t3}的{c2}。", "查询所有{t}的{cols}和其{t2}对应{t3}的{c2}。",
               "显示全部{t}的{cols}，以及它们的{t2}所属{t3}的{c2}。"),
    },
    "join_agg": {
        "en": ("What is {agg} of {ts} whose {w}?", "For the {t2} whose {wu}, what is {agg} of its {ts}?",
               "Compute {agg} over the {ts} of {t2s} where {wu}."),
        "zh": ("{wu}的{t2}的{agg}是多少？", "计算{w}的{t}的{agg}。", "{w}的{t}，{agg}是多少？"),
    },
    "group_top": {
        "en": ("Which {n} {gs} have the {most} {bare}{ww}? Show each with its {shown}.",
               "List the {n} {gs} with the {most} {bare}{ww}, together with their {shown}.",
               "Show the top {n} {gs} by {bare}{ww} ({fromto}), with their {shown}."),
        "zh": ("{wz}{bare}{most}的{n}个{g}是哪些？同时列出{shown}。", "列出{wz}{bare}{most}的前{n}个{g}及其{shown}。",
               "按{wz}{bare}{fromto}排列，前{n}个{g}是哪些？给出{shown}。"),
    },
    "argmax_row": {
        "en": ("Which {t} has the {most} {num}? Show its {cols}.", "Give the {cols} of the {t} with the {most} {num}.",
               "What is the {cols} of the {t} whose {num} is the {most}?"),
        "zh": ("{num}{most}的{t}是哪个？列出其{cols}。", "查询{num}{most}的{t}的{cols}。", "哪个{t}的{num}{most}？给出{cols}。"),
    },
    "argmax_ties": {
        "en": ("Which {ts} have the {most} {num}? List the {cols} of all of them.",
               "List the {cols} of every {t} whose {num} equals the {most} {num}.",
               "Show the {cols} of the {ts} tied for the {most} {num}."),
        "zh": ("{num}{most}的{t}有哪些？列出它们的{cols}（并列的都要）。", "列出{num}等于{most}{num}的所有{t}的{cols}。",
               "查询{num}{most}的全部{t}（含并列）的{cols}。"),
    },
    "argmax_group": {
        "en": ("Which {g} has the {most} {bare}{ww}?", "Find the {g} with the {most} {bare}{ww}.",
               "Name the {g} with the {most} {bare}{ww}."),
        "zh": ("哪个{g}的{wz}{bare}{most}？", "找出{wz}{bare}{most}的{g}。", "{wz}{bare}{most}的{g}是什么？"),
    },
    "join_having": {
        "en": ("Which {gs} have at least {k} {ts}?", "List the {gs} with {k} or more {ts}.",
               "Find every {g} that has no fewer than {k} {ts}."),
        "zh": ("哪些{g}的{t}数量不少于{k}个？", "列出拥有至少{k}个{t}的{g}。", "找出{t}数量大于等于{k}的{g}。"),
    },
    "negation": {
        "en": ("Which {ts} have no {t2s}{ww}? Show their {cols}.", "List the {cols} of {ts} without any {t2}{ww}.",
               "Find the {ts} that have no {t2}{ww}, and give their {cols}."),
        "zh": ("哪些{t}没有{wz}{t2}？列出{cols}。", "列出没有任何{wz}{t2}的{t}的{cols}。", "查询不存在{wz}{t2}的{t}，显示{cols}。"),
    },
    "scalar_sub_plain": {
        "en": ("List the {cols} of {ts} whose {num} is {more} the average {num}.",
               "Which {ts} have a {num} {more} the average? Show their {cols}.",
               "Find the {ts} with {num} {more} the overall average, and give their {cols}."),
        "zh": ("列出{num}{more}平均值的{t}的{cols}。", "哪些{t}的{num}{more}所有{t}的平均{num}？给出{cols}。",
               "查询{num}{more}平均水平的{t}，显示{cols}。"),
    },
    "arith_top": {
        "en": ("Which {n} {ts}{ww} have the largest {expr}? Show {cols} and that value.",
               "List the {cols} of the {n} {ts}{ww} with the highest {expr}, with the value.",
               "Show the top {n} {ts}{ww} by {expr}: their {cols} and {expr}."),
        "zh": ("{wz}{t}中{expr}最大的{n}个是哪些？列出{cols}和该值。", "按{expr}从高到低，列出{wz}前{n}个{t}的{cols}及该值。",
               "查询{wz}{expr}最高的{n}个{t}的{cols}和{expr}。"),
    },
    "arith_rows": {
        "en": ("List the {cols} of every {t}{ww} together with its {expr}.",
               "Show the {cols} and {expr} of all {ts}{ww}.",
               "For each {t}{ww}, give its {cols} and {expr}."),
        "zh": ("列出{wz}每个{t}的{cols}及其{expr}。", "查询{wz}所有{t}的{cols}和{expr}。",
               "给出{wz}全部{t}的{cols}与{expr}。"),
    },
    "arith_sum": {
        "en": ("What is the total of {expr} over all {ts}{ww}?", "For all {ts}{ww}, sum up {expr}.",
               "Add up {expr} across every {t}{ww}."),
        "zh": ("{wz}{t}的{expr}总和是多少？", "计算{wz}{t}的{expr}之和。", "统计{wz}全部{t}的{expr}合计。"),
    },
    "arith_avg": {
        "en": ("What is the average of {expr} over all {ts}{ww}?", "For all {ts}{ww}, what is {expr} on average?",
               "Compute the mean of {expr} across every {t}{ww}."),
        "zh": ("{wz}{t}的{expr}平均是多少？", "计算{wz}{t}的{expr}的平均值。", "统计{wz}全部{t}的平均{expr}。"),
    },
    "arith_argmax": {
        "en": ("Which {t}{ww} has the largest {expr}? Show its {cols} and that value.",
               "Give the {cols} of the {t}{ww} with the highest {expr}, with the value.",
               "Among {ts}{ww}, find the one whose {expr} is the highest: its {cols} and {expr}."),
        "zh": ("{wz}{t}中{expr}最大的是哪个？列出其{cols}和该值。", "查询{wz}{expr}最高的{t}的{cols}及该值。",
               "找出{wz}{expr}最大的那个{t}，给出{cols}和{expr}。"),
    },
    "arith_argmin": {
        "en": ("Which {t}{ww} has the smallest {expr}? Show its {cols} and that value.",
               "Give the {cols} of the {t}{ww} with the lowest {expr}, with the value.",
               "Among {ts}{ww}, find the one whose {expr} is the lowest: its {cols} and {expr}."),
        "zh": ("{wz}{t}中{expr}最小的是哪个？列出其{cols}和该值。", "查询{wz}{expr}最低的{t}的{cols}及该值。",
               "找出{wz}{expr}最小的那个{t}，给出{cols}和{expr}。"),
    },
    "arith_list": {
        "en": ("List the {cols} of every {t}{ww} with its {expr}, from highest to lowest.",
               "Show the {cols} and {expr} of all {ts}{ww}, sorted by {expr} from highest to lowest.",
               "For each {t}{ww}, give its {cols} and {expr}, largest first."),
        "zh": ("列出{wz}每个{t}的{cols}及其{expr}，按{expr}从高到低排列。", "查询{wz}所有{t}的{cols}和{expr}，按{expr}从高到低排序。",
               "给出{wz}全部{t}的{cols}与{expr}，{expr}大的在前。"),
    },
    "group_having_plain": {
        "en": ("Which {gs} have at least {k} {ts}? Show each with its number of {ts}.",
               "List every {g} with {k} or more {ts}, and how many it has.",
               "For each {g} that has at least {k} {ts}, how many {ts} does it have?"),
        "zh": ("哪些{g}的{t}数量不少于{k}个？列出{g}及数量。", "按{g}统计{t}数量，只保留数量大于等于{k}的分组。",
               "列出拥有至少{k}个{t}的{g}及对应数量。"),
    },
    # Groups kept by a total or an average of their rows (shapes._having_figure).
    "having_agg": {
        "en": ("For which {gs} is {agg} of {ts}{ww} {more} {k}? Show each with its {bare}{sorted}.",
               "For each {g}, give {agg} of its {ts}{ww}, keeping only those {more} {k}{sorted}.",
               "List the {gs} whose {bare} over their {ts}{ww} is {more} {k}, with that {bare}{sorted}."),
        "zh": ("{wz}{t}中，哪些{g}的{agg}{more}{k}？列出{g}及其{bare}{sorted}。",
               "按{g}统计{wz}{t}的{agg}，只保留{more}{k}的{g}{sorted}。",
               "列出{wz}{t}的{agg}{more}{k}的{g}及其{bare}{sorted}。"),
    },
    # Entities related to both of two values (relational division, shapes.both).
    "both": {
        "en": ("Which {ts} have both {t2s} whose {w0} and {t2s} whose {w1}? List their {cols}.",
               "List the {cols} of the {ts} with {t2s} whose {w0} as well as {t2s} whose {w1}.",
               "Find the {ts} that have {t2s} for which {w0} and also {t2s} for which {w1}; give their {cols}."),
        "zh": ("哪些{t}既有{w0}的{t2}，又有{w1}的{t2}？列出其{cols}。",
               "列出同时拥有{w0}的{t2}和{w1}的{t2}的{t}的{cols}。",
               "找出{w0}的{t2}和{w1}的{t2}都有的{t}，给出{cols}。"),
    },
    "figure": {
        "en": ("What is {agg}?", "Compute {agg}.", "Over all {ts}, what is {agg}?"),
        "zh": ("{agg}是多少？", "计算{agg}。", "在全部{t}中，{agg}是多少？"),
    },
    "figure_where": {
        "en": ("Among {ts} whose {w}, what is {agg}?", "For the {ts} where {w}, compute {agg}.",
               "What is {agg}, counting only {ts} whose {w}?"),
        "zh": ("在{w}的{t}中，{agg}是多少？", "只看{w}的{t}，计算{agg}。", "{w}的{t}里，{agg}是多少？"),
    },
    "top_n": {
        "en": ("List the {cols} of the {n} {ts} with the {most} {oc}.",
               "Show the {n} {ts} with the {most} {oc}, along with their {cols}.",
               "Which {n} {ts} have the {most} {oc}? Give their {cols}."),
        "zh": ("{oc}{most}的{n}个{t}是哪些？列出{cols}。", "按{oc}{dir}排列，列出前{n}个{t}的{cols}。",
               "查询{oc}{most}的前{n}个{t}，显示{cols}。"),
    },
    "count": {
        "en": ("How many {ts} are there where {w}?", "Count the {ts} whose {w}.",
               "What is the number of {ts} for which {w}?"),
        "zh": ("{w}的{t}有多少个？", "统计{w}的{t}数量。", "共有多少{t}满足{w}？"),
    },
    "count_distinct": {
        "en": ("How many different {gs} do {ts}{ww} have?", "Count the distinct {gs} of {ts}{ww}.",
               "How many unique {gs} are there among {ts}{ww}?"),
        "zh": ("{wz}{t}共有多少种不同的{g}？", "统计{wz}{t}中不同{g}的个数。", "{wz}{t}的{g}有多少个不同的取值？"),
    },
    "distinct": {
        "en": ("List the different {gs} of {ts}{ww}, in alphabetical order.",
               "What different {gs} do {ts}{ww} have? Sort them.",
               "Show each {g} found among {ts}{ww}, once, in order."),
        "zh": ("列出{wz}{t}的所有不同{g}，按升序排列。", "{wz}{t}有哪些不同的{g}？请按升序列出。",
               "按升序给出{wz}{t}中出现过的{g}（去重）。"),
    },
    "group_agg": {
        "en": ("For each {g}, what is {agg}{ww}{sorted}?", "Show {agg} per {g}{ww}{sorted}.",
               "What is {agg} of each {g}{ww}{sorted}?"),
        "zh": ("{wz}每个{g}的{agg}是多少{sorted}？", "按{g}统计{wz}{t}的{agg}{sorted}。",
               "{wz}各{g}的{agg}分别是多少{sorted}？"),
    },
    "group_having": {
        "en": ("Which {gs} have at least {k} {ts}? Show each with its number of {ts}, from most to fewest.",
               "List every {g} with {k} or more {ts}, and how many it has, most first.",
               "For each {g} that has at least {k} {ts}, how many {ts} does it have? Sort from most to fewest."),
        "zh": ("哪些{g}的{t}数量不少于{k}个？列出{g}及数量，按数量从高到低排列。",
               "按{g}统计{t}数量，只保留数量大于等于{k}的分组，并按数量降序排列。",
               "列出拥有至少{k}个{t}的{g}及对应数量，按数量降序。"),
    },
    "agg": {
        "en": ("What is {agg} for {ts} whose {w}?", "Compute {agg} among {ts} where {w}.",
               "Among {ts} for which {w}, what is {agg}?"),
        "zh": ("{w}的{t}的{agg}是多少？", "计算{w}的{t}的{agg}。", "在{w}的{t}中，{agg}是多少？"),
    },
    "in_sub": {
        "en": ("List the {cols} of {ts} that have at least one {t2} where {w}.",
               "Which {ts} have {t2s} whose {w}? Show their {cols}.",
               "Find the {ts} with some {t2} for which {w}, and give their {cols}."),
        "zh": ("列出存在{w}的{t2}的{t}的{cols}。", "哪些{t}有{w}的{t2}？请给出{cols}。",
               "查询至少有一条{w}的{t2}记录的{t}，显示{cols}。"),
    },
    "exists": {
        "en": ("How many {ts} have at least one {t2}?", "Count the {ts} that have any {t2}.",
               "What is the number of {ts} with one or more {t2s}?"),
        "zh": ("有{t2}的{t}有多少个？", "统计至少有一条{t2}的{t}数量。", "存在{t2}记录的{t}共有多少？"),
    },
    "not_exists": {
        "en": ("How many {ts} have no {t2}?", "Count the {ts} without any {t2}.",
               "What is the number of {ts} that have no {t2s} at all?"),
        "zh": ("没有任何{t2}的{t}有多少个？", "统计没有{t2}的{t}数量。", "不存在{t2}记录的{t}共有多少？"),
    },
    "scalar_sub": {
        "en": ("List the {cols} of {ts} whose {num} is {more} the average {num}, showing the {n} with the {most} {num}.",
               "Find {ts} with {num} {more} the overall average; return {cols} for the {n} with the {most} {num}.",
               "Among {ts} whose {num} is {more} average, show the {cols} of the {n} with the {most} {num}."),
        "zh": ("{num}{more}平均值的{t}中，{num}{most}的{n}个是哪些？列出{cols}。",
               "查询{num}{more}所有{t}平均{num}的{t}，按{num}{dir}排列取前{n}个，显示{cols}。",
               "列出{num}{more}平均水平的{t}的{cols}，按{num}{dir}只取前{n}条。"),
    },
    "union": {
        "en": ("Which {gs} appear among {ts} where {w0}, or among those where {w1}?",
               "Combine, without duplicates, the {g} of {ts} whose {w0} with those whose {w1}.",
               "Show every {g} that occurs in {ts} for which {w0} or in {ts} for which {w1}."),
        "zh": ("列出{w0}或{w1}的{t}的所有{g}（去重）。", "{w0}的{t}与{w1}的{t}合在一起，涉及哪些不同的{g}？",
               "查询在{w0}或{w1}的{t}中出现过的{g}。"),
    },
    "intersect": {
        "en": ("Which {gs} appear both in {ts} where {w0} and in {ts} where {w1}?",
               "Find the {g} shared by {ts} whose {w0} and {ts} whose {w1}.",
               "List each {g} that has {ts} for which {w0} as well as {ts} for which {w1}."),
        "zh": ("哪些{g}同时出现在{w0}的{t}和{w1}的{t}中？", "找出既有{w0}的{t}、又有{w1}的{t}的{g}。",
               "列出{w0}的{t}与{w1}的{t}共有的{g}。"),
    },
    "except": {
        "en": ("Which {gs} appear in {ts} where {w0} but never in {ts} where {w1}?",
               "List the {g} of {ts} whose {w0}, excluding any that also occur where {w1}.",
               "Find the {gs} found among {ts} for which {w0} and not among those for which {w1}."),
        "zh": ("哪些{g}出现在{w0}的{t}中，但没有出现在{w1}的{t}中？", "列出{w0}的{t}的{g}，排除在{w1}的{t}中也出现过的。",
               "找出只在{w0}的{t}中出现、不在{w1}的{t}中出现的{g}。"),
    },
    "case": {
        "en": ("List the {cols} of the {n} {ts} with the highest {num}, and label each {hi} if its {num} is at least {v}, otherwise {lo}.",
               "For the top {n} {ts} by {num} (descending), show {cols} and a level that is {hi} when {num} is at least {v} and {lo} otherwise.",
               "Show {cols} for the {n} {ts} with the largest {num}, marking them {hi} ({num} at least {v}) or {lo}."),
        "zh": ("列出{num}最高的{n}个{t}的{cols}，并在{num}大于等于{v}时标记为{hi}，否则标记为{lo}。",
               "按{num}降序取前{n}个{t}，显示{cols}，以及等级：{num}不低于{v}为{hi}，否则为{lo}。",
               "查询{num}排名前{n}的{t}的{cols}，{num}大于等于{v}的记为{hi}，其余记为{lo}。"),
    },
    "window": {
        "en": ("For each {g}, list the top {k} {ts} by {num} (highest first){rank}, showing {cols}, ordered by {g} and rank.",
               "Within every {g}, which {ts} rank in the top {k} by {num} in descending order{rank}? Show {cols}, sorted by {g} and rank.",
               "Show the top {k} {ts} per {g} by {num} from highest to lowest{rank}, with their {cols}, ordered by {g} then rank."),
        "zh": ("每个{g}中{num}最高的前{k}个{t}是哪些{rank}？列出{cols}，按{g}和名次排序。",
               "按{g}分组，找出每组{num}降序排名前{k}的{t}{rank}，显示{cols}，按{g}和名次排序。",
               "列出各{g}内{num}从高到低前{k}名的{t}的{cols}{rank}，按{g}和名次排列。"),
    },
    "date_month": {
        "en": ("For each month of {year}, what is {agg} by {d}? List the months in chronological order.",
               "Show {agg} per month in {year}, based on {d}, in chronological order.",
               "Break down {agg} by month of {d} for the year {year}, sorted by month."),
        "zh": ("{year}年每个月的{agg}是多少（按{d}统计）？按月份先后列出。", "按{d}的月份统计{year}年的{agg}，按月份排序。",
               "统计{year}年各月（依据{d}）的{agg}，按时间先后排列。"),
    },
    "date_year": {
        "en": ("What is {agg} for each year of {d}? List the years in ascending order.",
               "Show {agg} per year, based on {d}, in chronological order.",
               "Break down {agg} by the year of {d}, sorted by year."),
        "zh": ("按{d}的年份统计，每年的{agg}是多少？按年份升序列出。", "统计每年（依据{d}）的{agg}，按年份排序。",
               "按年份汇总{agg}（按{d}），并按年份升序排列。"),
    },
    # ---- nested: figures about per-group figures (data_create/synth/nested.py)
    "nested_avg": {
        "en": ("What is the average {fig} per {g}{ww}?", "Across all {gs}, what is the average {fig}{ww}?",
               "Compute the average {fig} per {g}{ww}."),
        "zh": ("{zpre}平均每个{g}的{fig}是多少？", "{zpre}各{g}的{fig}平均是多少？", "{zpre}计算每个{g}的平均{fig}。"),
    },
    "nested_extreme": {
        "en": ("What is the {most} {fig} of any {g}{ww}?", "Among all {gs}, what is the {most} {fig}{ww}?",
               "Find the {most} {fig} that a single {g} has{ww}."),
        "zh": ("{zpre}各{g}的{fig}中{most}的是多少？", "{zpre}单个{g}的{fig}{most}是多少？",
               "{zpre}找出各{g}的{fig}里{most}的值。"),
    },
    "nested_count": {
        "en": ("How many {gs} have at least {k} {ts}{ww}?", "Count the {gs} with {k} or more {ts}{ww}.",
               "What is the number of {gs} that have no fewer than {k} {ts}{ww}?"),
        "zh": ("{zpre}{t}数量不少于{k}个的{g}有多少个？", "{zpre}统计拥有至少{k}个{t}的{g}的数量。",
               "{zpre}有多少个{g}的{t}数量大于等于{k}？"),
    },
    "nested_above": {
        "en": ("Which {gs} have a {fig} {more} the average {fig} per {g}{ww}? Show each with its {fig}{sorted}.",
               "List the {gs} whose {fig} is {more} the average over all {gs}{ww}, with their {fig}{sorted}.",
               "Find the {gs} whose {fig} is {more} average{ww}, and give their {fig}{sorted}."),
        "zh": ("{zpre}哪些{g}的{fig}{more}所有{g}的平均值？列出{g}及其{fig}{sorted}。",
               "{zpre}列出{fig}{more}平均水平的{g}及其{fig}{sorted}。",
               "{zpre}找出{fig}{more}各{g}平均{fig}的{g}，显示其{fig}{sorted}。"),
    },
    "rank_groups": {
        "en": ("Rank the {gs} by {bare}{ww}, {most} first{rank}: show each {g}'s {shown} and its rank{sorted}.",
               "For each {g}, give its {shown}{ww} and its rank by it, {most} first{rank}{sorted}.",
               "Show every {g} with its {shown}{ww}, ranked from {fromto}{rank}{sorted}."),
        "zh": ("{zpre}按{bare}{fromto}给各{g}排名{rank}，列出{g}、{shown}和名次{sorted}。",
               "{zpre}列出每个{g}的{shown}及其按{bare}{dir}的排名{rank}{sorted}。",
               "{zpre}对{g}按{bare}排名（{most}的为第1名）{rank}，显示{shown}和名次{sorted}。"),
    },
    # Ranked within each category of the grouped rows (RANK() OVER (PARTITION BY ...)).
    "rank_within": {
        "en": ("Rank the {gs} within each {pc} by {bare}{ww}, {most} first{rank}: show each {g}'s {pc}, {shown} and its rank{sorted}.",
               "Within each {pc}, rank the {gs} by {bare}{ww}, {most} first{rank}; give each {g}'s {pc}, {shown} and rank{sorted}.",
               "For each {g}, give its {pc}, its {shown}{ww} and its rank by it within each {pc}, {most} first{rank}{sorted}."),
        "zh": ("{zpre}在每个{pc}内按{bare}{fromto}给{g}排名{rank}，列出{g}、{pc}、{shown}和名次{sorted}。",
               "{zpre}在每个{pc}内部对{g}按{bare}排名（{most}的为第1名）{rank}，显示{g}、{pc}、{shown}和名次{sorted}。"),
    },
    "share_of_total": {
        "en": ("What percentage of {whole}{ww} does each {g} account for{sorted}?",
               "For each {g}, what share (in percent) of {whole}{ww} does it have{sorted}?",
               "Show each {g}'s percentage of {whole}{ww}{sorted}."),
        "zh": ("{zpre}每个{g}占{whole}的百分比是多少{sorted}？", "{zpre}计算各{g}在{whole}中所占的百分比{sorted}。",
               "{zpre}列出每个{g}占{whole}的百分比{sorted}。"),
    },
    "share_of_total_shown": {
        "en": ("Show each {g}'s {shown} and its percentage of {whole}{ww}{sorted}.",
               "For each {g}, give {agg} and its share (in percent) of {whole}{ww}{sorted}."),
        "zh": ("{zpre}列出每个{g}的{shown}及其占{whole}的百分比{sorted}。",
               "{zpre}统计各{g}的{shown}，以及占{whole}的百分比{sorted}。"),
    },
    "share_of_total_frac": {
        "en": ("What fraction of {whole}{ww} does each {g} account for{sorted}?",
               "For each {g}, what proportion of {whole}{ww} does it have, as a fraction{sorted}?",
               "Show each {g}'s share of {whole}{ww} as a ratio between 0 and 1{sorted}."),
        "zh": ("{zpre}每个{g}占{whole}的比例是多少{sorted}？", "{zpre}计算各{g}在{whole}中所占的比例（以小数表示）{sorted}。",
               "{zpre}列出每个{g}占{whole}的比例{sorted}。"),
    },
    "share_of_total_frac_shown": {
        "en": ("Show each {g}'s {shown} and its fraction of {whole}{ww}{sorted}.",
               "For each {g}, give {agg} and what proportion of {whole}{ww} it is{sorted}."),
        "zh": ("{zpre}列出每个{g}的{shown}及其占{whole}的比例{sorted}。",
               "{zpre}统计各{g}的{shown}，以及占{whole}的比例{sorted}。"),
    },
    "running_month": {
        "en": ("For each month of {year}, what is {agg} by {d}{ww}, and what is the running total? List the months in order.",
               "Show {agg} per month of {year} (by {d}){ww}, with a running total, in chronological order.",
               "Month by month in {year} (based on {d}){ww}, give {agg} and its cumulative total, earliest month first."),
        "zh": ("{zpre}按{d}统计{year}年每个月的{agg}及累计值，按月份先后排列。",
               "{zpre}{year}年（依据{d}）各月的{agg}是多少？同时给出逐月累计值，按时间顺序列出。"),
    },
    "running_year": {
        "en": ("For each year of {d}, what is {agg}{ww}, and what is the running total? List the years in order.",
               "Show {agg} per year (by {d}){ww} with a cumulative total, in chronological order."),
        "zh": ("{zpre}按{d}的年份统计每年的{agg}及累计值，按年份升序排列。",
               "{zpre}每年（依据{d}）的{agg}及截至该年的累计值是多少？按年份排列。"),
    },
    "period_month": {
        "en": ("For each month of {year}, what is {agg} by {d}{ww}, and how much did {chg} change from the previous month{pct}? List the months in order.",
               "Show {agg} per month of {year} (by {d}){ww}, with the change{chgin} from the previous month{pct}, in chronological order.",
               "Month by month in {year} (based on {d}){ww}, give {agg} and how {chg} changed from the month before{pct}, earliest month first."),
        "zh": ("{zpre}按{d}统计{year}年每个月的{agg}，以及{chgz}比上个月的变化{pctz}，按月份先后排列。",
               "{zpre}{year}年（依据{d}）各月的{agg}是多少？{chgz}比上个月变化了多少{pctz}？按时间顺序列出。"),
    },
    "period_year": {
        "en": ("For each year of {d}, what is {agg}{ww}, and how much did {chg} change from the previous year{pct}? List the years in order.",
               "Show {agg} per year (by {d}){ww} with the change{chgin} from the previous year{pct}, in chronological order."),
        "zh": ("{zpre}按{d}的年份统计每年的{agg}，以及{chgz}比上一年的变化{pctz}，按年份升序排列。",
               "{zpre}每年（依据{d}）的{agg}是多少？{chgz}比上一年变化了多少{pctz}？按年份排列。"),
    },
    # ---- entities compared by how many rows each has (nested.bucket_share)
    "bucket_share": {
        "en": ("What {share} of {pop} have at least {k} {rows}?",
               "Among {pop}, what {share} have {k} or more {rows}?",
               "Of {pop}, what is the {share} of those with no fewer than {k} {rows}?"),
        "zh": ("{zpop}中，{zrows}数量不少于{k}个的{g}所占{zshare}是多少？",
               "{zpop}中，拥有至少{k}个{zrows}的{g}所占{zshare}是多少？"),
    },
    "bucket_ratio": {
        "en": ("Among {pop}, what is the ratio of those with more than {k} {rows} to those with {low}?",
               "Of {pop}, how many have more than {k} {rows} for each one with {low}?"),
        "zh": ("{zpop}中，{zrows}数量多于{k}个的{g}与{zrows}数量{zlow}的{g}的数量之比是多少？",
               "{zpop}中，{zrows}超过{k}个的{g}数量与{zrows}{zlow}的{g}数量之比是多少？"),
    },
    # ---- the latest / first / highest row of each entity (data_create/synth/latest.py)
    "latest_row": {
        "en": ("For each {g}, which is the {recent} {t} by {num}{among}{tie}? Show the {cols}{sorted}.",
               "Show the {recent} {t} of each {g}, by {num}{among}{tie}: the {cols}{sorted}.",
               "List the {cols} of each {g}'s {recent} {t} by {num}{among}{tie}{sorted}."),
        "zh": ("{zpre}每个{g}{recent}的一条{t}是哪条（按{num}）{tie}？列出{cols}{sorted}。",
               "{zpre}按{num}找出每个{g}{recent}的一条{t}{tie}，列出{cols}{sorted}。",
               "{zpre}查询各{g}{recent}的一条{t}（依据{num}）{tie}，显示{cols}{sorted}。"),
    },
    "top_row": {
        "en": ("For each {g}, which {t} has the {most} {num}{among}{tie}? Show the {cols}{sorted}.",
               "Show, for each {g}, the one {t} with the {most} {num}{among}{tie}: the {cols}{sorted}.",
               "List the {cols} of each {g}'s {t} with the {most} {num}{among}{tie}{sorted}."),
        "zh": ("{zpre}每个{g}中{num}{most}的{t}是哪一条{tie}？列出{cols}{sorted}。",
               "{zpre}找出各{g}{num}{most}的一条{t}{tie}，列出{cols}{sorted}。",
               "{zpre}查询每个{g}里{num}{most}的那一条{t}{tie}，显示{cols}{sorted}。"),
    },
}  # fmt: skip

# Shapes of data_create/synth/nested.py whose words Phraser._nested adds.
_NESTED = frozenset(
    {"nested_avg", "nested_count", "nested_above", "rank_groups", "share_of_total",
     "running_month", "running_year", "period_month", "period_year", "bucket_share",
     "bucket_ratio"}
)  # fmt: skip
_TEMPLATE_OF = {
    "join_list": "filter_list", "join3": "group_agg",
    # Per-group figures ranked in the outer query ask what the flat ranked shapes ask.
    "cte_top": "group_top", "cte_argmax": "argmax_group", "cte_sorted": "group_agg",
}  # fmt: skip
# How a nested shape says its outer ORDER BY, by language.
_NESTED_SORTED = {
    "en": {"rank_groups": ", listed by rank", "share_of_total": ", from highest to lowest",
           "nested_above": (", from lowest to highest", ", from highest to lowest")},
    "zh": {"rank_groups": "，按名次排列", "share_of_total": "，按百分比从高到低排列",
           "nested_above": ("，按{fig}从低到高排列", "，按{fig}从高到低排列")},
}  # fmt: skip
# Figures that count rows or values: "the most / fewest", not "the highest / lowest".
_COUNTS = frozenset({"count", "count_distinct", "cond_count", "cond_them", "distinct_cond"})


class Phraser:
    """Renders a :class:`Built` as a question in one language."""

    def __init__(self, language: str, metadata: Any = None):
        if language not in _COND:
            raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
        self.language = language
        self.words = _WORDS[language]
        self.names = _zh_names(metadata) if language == "zh" and metadata is not None else {}

    def table(self, t: Any, many: bool = False) -> str:
        text = label(t.comment, t.name, self.language, table=True)
        if self.language == "en" and text == humanize(t.name):
            text = singular(text)
        elif self.language == "zh" and not has_cjk(text):
            # An uncommented table: its name's words in Chinese when every one is known.
            text = self._compose(" ".join(singular(w) for w in text.split()))
        return plural(text) if many and self.language == "en" else text

    def column(self, col: Col, qualify: bool = False) -> str:
        """A column's label; ``qualify`` names its table too, unless the label already does."""
        text = label(col.column.comment, col.column.name, self.language, keep_note=True)
        if self.language == "zh" and not has_cjk(text):
            text = (
                self.names.get((col.table.qualified_name, col.column.name))
                or self.names.get(col.column.name)
                or self._compose(text)
            )
        if not qualify:
            return text
        owner = self.table(col.table)
        if self.language == "en":
            return text if owner.split()[-1].lower() in text.lower().split() else f"{owner} {text}"
        if owner[-2:] in text:
            return text
        return f"{owner}{text}" if has_cjk(owner) and has_cjk(text) else f"{owner} {text}"

    def _compose(self, words: str) -> str:
        """``subject name`` -> 专题名称 when the schema names every word in Chinese elsewhere
        (a column called ``name``, a table ``cms_subject``) or the glossary of common
        schema words does (``growth point`` -> 成长积分); else the split identifier."""
        known = {
            w: self.names[("word", w)] for w in words.lower().split() if ("word", w) in self.names
        }
        return glossary.compose(words, known) or words

    def value(self, lit: Lit) -> str:
        return f"'{lit.text}'" if lit.is_string else lit.text

    def cond(self, c: Cond, qualify: bool) -> str:
        vals = {f"v{i}": self.value(v) for i, v in enumerate(c.values)}
        if c.op in ("eq", "in"):
            # A code says what it means: 状态为正常, not 状态为'0' (roles parse the comment).
            role = role_of(c.col.table, c.col.column)
            for i, v in enumerate(c.values):
                meaning = role.meaning(v.text) if role.meanings else None
                if (
                    meaning
                    and meaning != v.text
                    and (self.language == "zh" or not has_cjk(meaning))
                ):
                    vals[f"v{i}"] = meaning
        if c.op == "year":
            vals["v0"] = c.values[0].text
        return _COND[self.language][c.op].format(c=self.column(c.col, qualify), **vals)

    def conds(self, conds: list[Cond], qualify: bool) -> str:
        return self.words["and"].join(self.cond(c, qualify) for c in conds)

    def _subject(self, col: Any, qualify: bool, main: Any) -> str:
        """What an aggregate is taken of: a column or a product / difference of two columns
        (``unit price times quantity``)."""
        if col is None:
            return ""
        if isinstance(col, tuple):
            a, b, op = col
            return self.words["op"][op].format(a=self.column(a), b=self.column(b))
        return self.column(col, qualify and col.table is not main)

    def _parts(self, slot: tuple, qualify: bool, main: Any) -> dict[str, str]:
        """The words an aggregate template takes: its rows ({t}, {ts}), its column or
        product ({c}); for a composed :class:`Figure`, its conditions ({c}, {c2}), its
        measure ({m}) and the column under its line ({d})."""
        _, col, table = slot
        f = {"ts": self.table(table, many=True), "t": self.table(table)}
        if not isinstance(col, Figure):
            return f | {"c": self._subject(col, qualify, main)}
        for key, cond in (("c", col.cond), ("c2", col.cond2)):
            if cond is not None:
                f[key] = self.cond(cond, qualify and cond.col.table is not main)
        for key, c in (("m", col.num), ("d", col.den)):
            if c is not None:
                f[key] = self.column(c, qualify and c.table is not main)
        return f

    def agg(self, slot: tuple, qualify: bool, main: Any, named: bool = False) -> str:
        """``named``: the sentence names the rows already (``... of tracks whose ...``)."""
        func = slot[0]
        text = _AGG[self.language][func + "_of" if named and func == "count_distinct" else func]
        return text.format(**self._parts(slot, qualify, main))

    def bare(self, slot: tuple, qualify: bool, main: Any) -> str:
        return _BARE[self.language][slot[0]].format(**self._parts(slot, qualify, main))

    def question(self, built: Built, rng: Random) -> str:
        s, en = built.slots, self.language == "en"
        qualify = len(built.tables) > 1
        f: dict[str, str] = {}
        t = s["t"]
        f["t"], f["ts"] = self.table(t), self.table(t, many=en)
        for key in ("t2", "t3"):
            if key in s:
                f[key], f[key + "s"] = self.table(s[key]), self.table(s[key], many=en)
        if "cols" in s:
            names = [self.column(c, qualify and c.table is not t) for c in s["cols"]]
            if len(set(names)) < len(names):
                names = [humanize(c.column.name) for c in s["cols"]]
            joiner = self.words["list"]
            f["cols"] = (
                joiner.join(names[:-1]) + " and " + names[-1]
                if en and len(names) > 1
                else joiner.join(names)
            )
        where = s.get("where") or []
        f["w"] = self.conds(where, qualify)
        # The same conditions without their table's name, after "the <table> whose ...".
        f["wu"] = self.conds(where, False)
        for i, c in enumerate(where):
            f[f"w{i}"] = self.cond(c, qualify)
        f["ww"] = f" where {f['w']}" if where else ""
        f["wz"] = f"{f['w']}的" if where else ""
        if built.shape == "negation":  # conditions on the missing rows, said without owner
            f["ww"] = f" whose {f['wu']}" if where else ""
            f["wz"] = f"{f['wu']}的" if where else ""
        if built.shape == "both":  # each said right after the table it is about
            for i, c in enumerate(where):
                f[f"w{i}"] = self.cond(c, False)
        for key in ("c2", "c3"):
            if key in s:
                f[key] = self.column(s[key])
        for key in ("g", "num", "d"):
            if key in s:
                f[key] = self.column(s[key], qualify)
        if "g" in s:
            g = s["g"]
            # Grouped by the rows of a joined table (its label): name the table, not the label.
            if s.get("g_row"):
                f["g"] = self.table(g.table)
            f["gs"] = plural(f["g"]) if en else f["g"]
        if s.get("g2") is not None:
            both = " and " if en else "和"
            f["g"] = f["g"] + both + self.column(s["g2"], qualify)
            f["gs"] = f["g"]
        if "via" in s:  # the middle of a chain, the way its far end is reached
            via = self.words["via"].format(t2=self.table(s["via"]),
                                           t2s=self.table(s["via"], many=en))  # fmt: skip
            for key in ("g", "gs") if "g" in s else ("t", "ts"):
                f[key] += via
        for key in ("n", "k", "v", "hi", "lo", "year"):
            if key in s:
                f[key] = self.value(s[key]) if key in ("hi", "lo") else s[key].text
        if "agg" in s:
            f["agg"] = self.agg(s["agg"], qualify, t, named=built.shape == "join_agg")
            f["bare"] = f["shown"] = self.bare(s["agg"], qualify, t)
            if "agg2" in s:  # a second figure of the same rows: said wherever the first is
                both = " and " if en else "和"
                f["agg"] += both + self.agg(s["agg2"], qualify, t, named=built.shape == "join_agg")
                f["shown"] += both + self.bare(s["agg2"], qualify, t)
        ranking = s["agg2"] if s.get("rank2") else s.get("agg")
        if s.get("rank2"):  # the groups are ranked by the second figure
            f["bare"] = self.bare(s["agg2"], qualify, t)
        desc = s["order"][1] if "order" in s else s.get("above", True)
        f["dir"], f["most"] = self.words["dir"][desc], self.words["most"][desc]
        if ranking is not None and ranking[0] in _COUNTS:
            f["most"] = self.words["many"][desc]
        elif "num" in s and s["num"].type in ("date", "datetime"):
            f["most"] = self.words["late"][desc]
        f["fromto"] = self.words["fromto"][desc]
        f["more"] = self.words["more"][s.get("above", True)]
        f["rank"] = self.words["rank"] if s.get("rank") else ""
        if "order" in s and s["order"][0] is not None:
            f["oc"] = self.column(s["order"][0], qualify)
        if "op" in s:
            f["expr"] = self.words["op"][s["op"]].format(
                a=self.column(s["a"]), b=self.column(s["b"])
            )
        order = s.get("order")
        f["sorted"] = ""
        key = _TEMPLATE_OF.get(built.shape, built.shape)
        if key in _NESTED:
            self._nested(built, f)
        if key == "group_agg" and order is not None:
            f["sorted"] = (
                f", from {self.words['fromto'][order[1]]}" if en and "agg2" not in s
                else f", sorted by {f['bare']} from {self.words['fromto'][order[1]]}" if en
                else f"（按{f.get('bare', '')}{self.words['fromto'][order[1]]}排列）"
            )  # fmt: skip
        if key == "having_agg" and order is not None:
            f["sorted"] = (
                f", from {self.words['fromto'][order[1]]}" if en
                else f"，按{f['bare']}{self.words['fromto'][order[1]]}排列"
            )  # fmt: skip
        if "by" in s:  # a listing sorted by one of its columns
            col, desc = s["by"]
            name = self.column(col, qualify and col.table is not t)
            words = self.words["late" if col.type in ("date", "datetime") else "most"]
            f["sorted"] = (
                f", sorted by {name} from {words[desc]} to {words[not desc]}" if en
                else f"，按{name}从{words[desc][1:]}到{words[not desc][1:]}排列"
            )  # fmt: skip
        if key == "exists" and s.get("negate"):
            key = "not_exists"
        if key == "setop":
            key = s["setop"]
        if key == "join_agg" and s["agg"][0] == "count" and "agg2" not in s:
            key = "join_agg_count"
        if key.startswith("join_agg") and len(where) > 1:
            key += "_where"
        if key == "scalar_sub":
            key = "scalar_sub_plain"
        if key == "share":
            key = "figure_where" if where else "figure"
        if key == "group_having" and "order" not in s:
            key = "group_having_plain"
        if key == "arith_sum" and s.get("fn") == "avg":
            key = "arith_avg"
        if key == "argmax_row" and where:
            key = "argmax_row_where"
        if key == "scalar_sub_top":
            key = "scalar_sub"
        if key == "nested_avg" and s["outer"] != "avg":
            key = "nested_extreme"
        if key == "rank_groups" and "part" in s:
            key = "rank_within"
        if key == "share_of_total":
            key += ("_frac" if s.get("fraction") else "") + ("_shown" if s.get("show") else "")
        if key == "row_ratio" and s["rel"] == "diff":
            key = "row_diff"
        if key == "arith_argmax" and s.get("least"):
            key = "arith_argmin"
        if key == "latest_row":
            key = self._latest(built, f)
        return rng.choice(TEMPLATES[key][self.language]).format(**f)

    def _nested(self, built: Built, f: dict[str, str]) -> None:
        """The words of the nested shapes: the per-group figure as a noun (``number of
        orders``), the whole a share is of, the conditions as a Chinese lead-in
        (``在...的订单中，``), the rank rule and how the outer query sorts."""
        s, en = built.slots, self.language == "en"
        fig = self.agg(s["agg"], len(built.tables) > 1, s["t"])
        f["fig"] = fig[4:] if en and fig.startswith("the ") else fig
        where = s.get("where") or []
        f["zpre"] = f"在{f['w']}的{f['t']}中，" if where and not en else ""
        func, col, _ = s["agg"]
        if func == "count":
            f["whole"] = f"all {f['ts']}" if en else f"全部{f['t']}"
        else:
            c = self._subject(col, False, s["t"])
            f["whole"] = f"the total {c}" if en else f"{c}总和"
        if s.get("outer") in ("max", "min"):
            f["most"] = self.words["most"][s["outer"] == "max"]
        if s.get("dense"):
            f["rank"] = self.words["dense"]
        sorted_ = _NESTED_SORTED[self.language].get(built.shape)
        if isinstance(sorted_, tuple):
            sorted_ = sorted_[s["order"][1]].format(fig=f["fig"]) if "order" in s else None
        if sorted_ and s.get("fraction") and not en:
            sorted_ = "，按比例从高到低排列"
        if sorted_ and ("order" in s or s.get("by_rank")):
            f["sorted"] = sorted_
        if built.shape == "rank_groups" and not s.get("by_rank"):
            f["sorted"] = ""
        if "part" in s:  # ranked within each category: listed category by category
            f["pc"] = self.column(s["part"])
            if s.get("by_rank"):
                f["sorted"] = (
                    f", listed by {f['pc']} and rank" if en else f"，按{f['pc']}和名次排列"
                )
        if built.shape.startswith("period_"):
            self._period(built, f)
        if built.shape.startswith("bucket_"):
            self._buckets(built, f)

    def _period(self, built: Built, f: dict[str, str]) -> None:
        """A figure per period and its change: which figure changed, when there are two
        (``how much did the number of sales change``), and whether in percent too."""
        s = built.slots
        two = "agg2" in s
        first = self.agg(s["agg"], len(built.tables) > 1, s["t"])
        f["chg"] = first if two else "it"
        f["chgin"] = f" in {first}" if two else ""
        f["chgz"] = first if two else ""
        f["pct"] = ", as an amount and as a percentage" if s.get("pct") else ""
        f["pctz"] = "（差值及百分比）" if s.get("pct") else ""

    def _buckets(self, built: Built, f: dict[str, str]) -> None:
        """Entities compared by how many rows each has.  Only entities with a (matching)
        row are counted, so the question says whose share it is: ``customers with any
        orders where ...``; rows under a condition are ``such orders`` after that."""
        s = built.slots
        where = s.get("where") or []
        some = bool(s.get("g_row") or where)
        f["pop"] = f"{f['gs']} with any {f['ts']}{f['ww']}" if some else f"all {f['gs']}"
        f["rows"] = f"such {f['ts']}" if where else f["ts"]
        f["zpop"] = f"在有{f['wz']}{f['t']}的{f['g']}" if some else f"在所有{f['g']}"
        f["zrows"] = f"这类{f['t']}" if where else f["t"]
        f["share"] = "percentage" if s.get("pct") else "share"
        f["zshare"] = "百分比" if s.get("pct") else "比例"
        k = s["k"].text
        if s.get("low") == "eq":
            f["low"], f["zlow"] = f"exactly {k}", f"恰好{k}个"
        else:
            f["low"], f["zlow"] = f"at most {k}", f"不超过{k}个"

    def _latest(self, built: Built, f: dict[str, str]) -> str:
        """The words of the latest row of each entity: which one (``most recent``, by a
        date; ``highest``, by a measure), the rows it is taken from and how ties go."""
        s, en = built.slots, self.language == "en"
        where = s.get("where") or []
        f["among"] = f", among {f['ts']} whose {f['wu']}" if where else ""
        f["zpre"] = f"在{f['wu']}的{f['t']}中，" if where else ""
        f["recent"] = self.words["recent"][s["order"][1]]
        f["tie"] = ""
        if "tie" in s:
            key = self.column(s["tie"])
            f["tie"] = f" (ties go to the lowest {key})" if en else f"，并列时取{key}最小的"
        return "latest_row" if s["num"].type in ("date", "datetime") else "top_row"


def _zh_names(metadata: Any) -> dict[Any, str]:
    """Chinese names for columns whose own comment has none: the comment of a column of the
    same name elsewhere in the schema (when most of them agree), or, for a key that links to
    another table, that table's name (``product_id`` -> 商品).  Keys: a column name, or
    (table, column) for link columns."""
    seen: dict[str, Counter[str]] = {}
    for t in metadata.tables:
        for c in t.columns:
            if c.comment and has_cjk(c.comment):
                text = label(c.comment, c.name, "zh")
                if has_cjk(text):
                    seen.setdefault(c.name, Counter())[text] += 1
    # Only where the schema mostly agrees: "title" may be 标题 in most tables and
    # 秒杀时间段名称 in one, which says nothing about a third.
    names: dict[Any, str] = {}
    for name, count in seen.items():
        (text, n), total = count.most_common(1)[0], sum(count.values())
        if len(count) == 1 or (n >= 2 and n / total >= 0.6):
            names[name] = text
        elif common := _shared_suffix(count):
            names[name] = common
    # Words: a one-word column name with a Chinese comment (name -> 名称), and the last
    # word of a table's name (cms_subject -> 专题), for composing names of the rest.
    for name, text in list(names.items()):
        if isinstance(name, str) and re.fullmatch(r"[a-z]+", name.lower()):
            names[("word", name.lower())] = text
    for t in metadata.tables:
        if t.comment and has_cjk(t.comment):
            word = humanize(t.name).split()[-1]
            names.setdefault(("word", word), label(t.comment, t.name, "zh", table=True))
    by_name = {t.qualified_name: t for t in metadata.tables}
    for t in metadata.tables:
        for fk in t.foreign_keys:
            ref = f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table
            parent = by_name.get(ref)
            if parent is None or len(fk.columns) != 1 or not parent.comment:
                continue
            text = label(parent.comment, parent.name, "zh", table=True)
            if has_cjk(text):
                names[(t.qualified_name, fk.columns[0])] = text
    return names


def _shared_suffix(labels: Counter[str]) -> str | None:
    """The longest Chinese ending (2+ characters) at least half of ``labels`` share.

    >>> _shared_suffix(Counter({"名称": 2, "场次名称": 1, "资源名称": 1, "退货类型": 1}))
    '名称'
    """
    total = sum(labels.values())
    ends: Counter[str] = Counter()
    for text, n in labels.items():
        for i in range(len(text) - 1):
            ends[text[i:]] += n
    fits = [e for e, n in ends.items() if n * 2 >= total and has_cjk(e)]
    return max(fits, key=len) if fits else None
