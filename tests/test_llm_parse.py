"""Recovering JSON from what real models send: fences, prose, <think>, slips, truncation."""

from __future__ import annotations

import pytest

from data_create.llm.parse import ParseFailure, extract_json, samples_from, topics_from

PAIR = {"question": "How many orders were cancelled?", "sql": "SELECT COUNT(*) FROM orders"}
PAIR_JSON = '{"question": "How many orders were cancelled?", "sql": "SELECT COUNT(*) FROM orders"}'
SAMPLES = {"samples": [PAIR]}
SAMPLES_JSON = '{"samples": [' + PAIR_JSON + "]}"

# (title, reply text, expected value)
GOOD = [
    ("bare object", SAMPLES_JSON, SAMPLES),
    ("json fence", "```json\n" + SAMPLES_JSON + "\n```", SAMPLES),
    ("plain fence", "```\n" + SAMPLES_JSON + "\n```", SAMPLES),
    (
        "prose around a fence",
        "Sure! Here are the samples you asked for:\n\n```json\n"
        + SAMPLES_JSON
        + "\n```\n\nLet me know if you need more.",
        SAMPLES,
    ),
    ("prose around bare JSON", "Here you go: " + SAMPLES_JSON + " Hope this helps!", SAMPLES),
    (
        "qwen3 think block",
        "<think>\nThe user wants {samples}. I should use [orders].\n</think>\n\n" + SAMPLES_JSON,
        SAMPLES,
    ),
    ("think tag eaten by the template", "I need a count here.\n</think>\n" + SAMPLES_JSON, SAMPLES),
    (
        "first fence that parses wins",
        "```json\n{broken: json,,}\n```\nFixed:\n```json\n" + SAMPLES_JSON + "\n```",
        SAMPLES,
    ),
    (
        "sql fence before the json fence",
        "```sql\nSELECT COUNT(*) FROM orders WHERE status IN ('a', 'b')\n```\n```json\n"
        + SAMPLES_JSON
        + "\n```",
        SAMPLES,
    ),
    (
        "trailing commas",
        '{"samples": [{"question": "Q", "sql": "S",},],}',
        {"samples": [{"question": "Q", "sql": "S"}]},
    ),
    (
        "python literals",
        "{'flag': True, 'other': False, 'missing': None, 'name': \"O'Brien\"}",
        {"flag": True, "other": False, "missing": None, "name": "O'Brien"},
    ),
    (
        "smart quotes around keys and values",
        "{\u201cquestion\u201d: \u201cHow many stores?\u201d, \u201csql\u201d: \u201cSELECT COUNT(*) FROM stores\u201d}",
        {"question": "How many stores?", "sql": "SELECT COUNT(*) FROM stores"},
    ),
    (
        "smart quotes inside a string are content",
        '{"question": "Which products are \u201cVIP\u201d?", "sql": "SELECT 1"}',
        {"question": "Which products are \u201cVIP\u201d?", "sql": "SELECT 1"},
    ),
    (
        "object followed by chatter with braces",
        SAMPLES_JSON + "\n\nNote: I used {status} values from the schema [see above].",
        SAMPLES,
    ),
    ("bare list", "[" + PAIR_JSON + "]", [PAIR]),
    (
        "list of strings",
        'Paraphrases: ["How many?", "What is the count?"]',
        ["How many?", "What is the count?"],
    ),
    (
        "brackets inside SQL strings",
        '{"sql": "SELECT * FROM t WHERE note LIKE \'%[x}%\'", "question": "q"}',
        {"sql": "SELECT * FROM t WHERE note LIKE '%[x}%'", "question": "q"},
    ),
    (
        "escaped quotes in strings",
        r'{"question": "Who said \"hi\"?", "sql": "SELECT \"name\" FROM t"}',
        {"question": 'Who said "hi"?', "sql": 'SELECT "name" FROM t'},
    ),
    (
        "chinese content",
        '```json\n{"question": "上海有多少家门店？", "sql": "SELECT COUNT(*) FROM stores WHERE city = \'上海\'"}\n```',
        {
            "question": "上海有多少家门店？",
            "sql": "SELECT COUNT(*) FROM stores WHERE city = '上海'",
        },
    ),
    (
        "line comments",
        '{\n  "count": 3, // three samples\n  "name": "a//b"\n}',
        {"count": 3, "name": "a//b"},
    ),
    (
        "prose with a citation before the JSON",
        "As noted [1], the plan is: " + SAMPLES_JSON,
        SAMPLES,
    ),
    ("empty object only", "Nothing to add: {}", {}),
    (
        "nested plan",
        '{"plan": {"topics": [{"name": "Sales", "tables": ["orders"]}]}}',
        {"plan": {"topics": [{"name": "Sales", "tables": ["orders"]}]}},
    ),
    ("unclosed fence", "```json\n" + SAMPLES_JSON + "\n", SAMPLES),
    (
        "raw newlines inside a string",
        '{"question": "Top stores", "sql": "SELECT name\n  FROM stores\n  LIMIT 3"}',
        {"question": "Top stores", "sql": "SELECT name\n  FROM stores\n  LIMIT 3"},
    ),
    ("think block then fence", "<think>plan: {a}</think>\n```json\n[1, 2]\n```\n", [1, 2]),
]

# (title, reply text, fragment of the failure reason)
BAD = [
    ("empty", "   \n ", "empty reply"),
    ("none", None, "empty reply"),
    ("prose only", "I'm sorry, I cannot help with that request.", "no JSON"),
    (
        "truncated inside a string",
        '{"samples": ['
        + PAIR_JSON
        + ', {"question": "Which store sold the most", "sql": "SELECT s',
        "truncated JSON",
    ),
    ("truncated after a comma", "```json\n" + '{"samples": [' + PAIR_JSON + ",", "truncated JSON"),
    (
        "truncated in a bare list",
        '[{"question": "a", "sql": "b"}, {"question": "c"',
        "truncated JSON",
    ),
    ("only thinking", "<think>Let me think about the schema first. The orders table", "<think>"),
    ("broken beyond repair", '{"samples": [{"question" "a" "sql": "b"}]}', "invalid JSON"),
]


@pytest.mark.parametrize(("title", "text", "expected"), GOOD, ids=[c[0] for c in GOOD])
def test_extract_json_recovers(title, text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize(("title", "text", "fragment"), BAD, ids=[c[0] for c in BAD])
def test_extract_json_fails_with_a_one_line_reason(title, text, fragment):
    with pytest.raises(ParseFailure) as info:
        extract_json(text)
    reason = info.value.reason
    assert fragment in reason
    assert "\n" not in reason and len(reason) < 300
    assert str(info.value) == reason


def test_truncated_reply_is_not_answered_with_a_fragment():
    # The inner, complete first sample must not be returned as if it were the answer.
    text = '{"samples": [' + PAIR_JSON + ', {"question": "x", "sql": "SELECT'
    with pytest.raises(ParseFailure, match="truncated"):
        extract_json(text)


# ---------------------------------------------------------------- samples_from


def test_samples_from_shapes_and_keys():
    assert samples_from(SAMPLES) == ([PAIR], [])
    assert samples_from([PAIR]) == ([PAIR], [])
    assert samples_from(PAIR) == ([PAIR], [])  # one bare pair
    assert samples_from({"pairs": [PAIR]}) == ([PAIR], [])
    alternates = [
        {"Question": "A?", "SQL": "SELECT 1;"},
        {"nl": "B?", "query": "SELECT 2"},
        {"问题": "C？", "sql": "```sql\nSELECT 3;\n```"},
        ["D?", "SELECT 4"],
    ]
    samples, skipped = samples_from({"samples": alternates})
    assert samples == [
        {"question": "A?", "sql": "SELECT 1"},
        {"question": "B?", "sql": "SELECT 2"},
        {"question": "C？", "sql": "SELECT 3"},
        {"question": "D?", "sql": "SELECT 4"},
    ]
    assert skipped == []


def test_samples_from_skips_malformed_items_and_says_why():
    items = [
        PAIR,
        "just text",
        {"question": "no sql"},
        {"sql": "SELECT 1"},
        {"question": " ", "sql": "SELECT 1"},
        7,
    ]
    samples, skipped = samples_from({"samples": items})
    assert samples == [PAIR]
    assert skipped == [
        "item 2: not an object (str)",
        "item 3: no sql",
        "item 4: no question",
        "item 5: no question",
        "item 6: not an object (int)",
    ]


def test_samples_from_keeps_every_statement_for_the_validator():
    samples, _ = samples_from([{"question": "q", "sql": "SELECT 1; DROP TABLE orders;"}])
    assert samples[0]["sql"] == "SELECT 1; DROP TABLE orders"


def test_samples_from_non_list():
    assert samples_from("text") == ([], ["no list of samples in the reply (got str)"])
    assert samples_from({"note": "none"})[0] == []


# ---------------------------------------------------------------- topics_from


def test_topics_from_variants():
    topics, skipped = topics_from(
        {
            "topics": [
                {
                    "name": "Sales",
                    "tables": ["orders", "customers"],
                    "reason": "r",
                    "count": 10,
                    "dialect": "sqlite",
                },
                {"title": "Stock", "table": "inventory, products", "count": "12 samples"},
                {"主题": "退货", "表": ["returns"], "数量": "abc"},
                {"name": "Nothing", "tables": []},
                "garbage",
            ]
        }
    )
    assert [(t["name"], t["tables"], t["count"]) for t in topics] == [
        ("Sales", ["orders", "customers"], 10),
        ("Stock", ["inventory", "products"], 12),
        ("退货", ["returns"], None),
    ]
    assert topics[0]["dialect"] == "sqlite" and topics[1]["dialect"] is None
    assert topics[2]["raw_count"] == "abc"
    assert skipped == ["topic 4: no tables", "topic 5: not an object (str)"]
    # A bare list, and a plan nested one level down.
    assert topics_from([{"name": "A", "tables": ["t"]}])[0][0]["tables"] == ["t"]
    assert topics_from({"plan": {"topics": [{"name": "A", "tables": ["t"]}]}})[0][0]["name"] == "A"
    assert topics_from(3) == ([], ["no list of topics in the reply (got int)"])
