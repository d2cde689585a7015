"""Recover the JSON an LLM meant to send, or say in one line why there is none.

Models wrap JSON in prose and code fences, think aloud in ``<think>`` blocks first
(Qwen3, DeepSeek-R1), leave trailing commas, write Python's ``True``/``None``, curl
the quotes around keys, or get cut off at ``max_tokens``.  :func:`extract_json`
scans for the first value that parses, repairing only the harmless slips above;
a reply cut off mid-value is a :class:`ParseFailure`, never a guess at what the
rest would have been.

>>> extract_json('<think>two rows</think>Sure! ```json\\n{"samples": [{"question": "Q", "sql": "S",}]}\\n```')
{'samples': [{'question': 'Q', 'sql': 'S'}]}
>>> samples_from({"samples": [{"query": "SELECT 1", "question": "One?"}, "junk"]})
([{'question': 'One?', 'sql': 'SELECT 1'}], ['item 2: not an object (str)'])
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..hygiene import one_line
from ..prompt import extract_sql, fenced_blocks, sql_target, strip_think

# An opening bracket that starts a JSON value rather than prose ("see [1]", "{name}").
_JSON_START = re.compile(r"""\{\s*(?:["'\u201c\u2018}]|$)|\[\s*(?:[\[{"'\u201c\]]|$)""")
_WORDS = {"True": "true", "False": "false", "None": "null"}
_SNIPPET = 60

# Keys models use for the same thing, lower-cased; the first present wins.
QUESTION_KEYS = (
    "question", "nl", "nl_question", "natural_language", "utterance", "q", "text",
    "问题", "问句", "自然语言问题", "question_text",
)  # fmt: skip
SQL_KEYS = ("sql", "query", "sql_query", "sql语句", "查询", "answer", "statement")
LIST_KEYS = ("samples", "pairs", "examples", "items", "data", "results", "questions", "样本")
TOPIC_LIST_KEYS = ("topics", "plan", "主题")
TOPIC_NAME_KEYS = ("name", "title", "topic", "主题", "名称")
TOPIC_TABLE_KEYS = ("tables", "table", "table_names", "表", "表名")
TOPIC_REASON_KEYS = ("reason", "why", "description", "rationale", "理由", "原因", "说明")
TOPIC_COUNT_KEYS = ("count", "samples", "n", "num", "number", "num_samples", "数量", "样本数")


class ParseFailure(ValueError):
    """No usable JSON in a reply; ``reason`` is one line for the rejects file."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _span(text: str, start: int) -> int | None:
    """Index just past the value opened at ``start``, or None when the text ends first.

    Quote-aware (double, single and curly quotes), so brackets inside strings --
    ``"WHERE name = '[x]'"`` -- do not count.
    """
    closers = {"{": "}", "[": "]"}
    stack: list[str] = []
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'\u201c\u2018":
            close = {"\u201c": "\u201d", "\u2018": "\u2019"}.get(ch, ch)
            i += 1
            while i < n and text[i] != close:
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return None
        elif ch in closers:
            stack.append(closers[ch])
        elif ch in "}]":
            if not stack or stack[-1] != ch:
                return -1  # mismatched: not a value at all
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    return None


def _repair(text: str) -> str:
    """Fix the slips that do not change meaning, outside strings only.

    Curly or single quotes become JSON strings, ``True``/``False``/``None`` become
    JSON literals, ``//`` comments and commas before a closing bracket go.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif ch in "'\u201c\u2018":
            close = {"\u201c": "\u201d", "\u2018": "\u2019"}.get(ch, ch)
            j = i + 1
            chars = []
            while j < n and text[j] != close:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    chars.append(nxt if nxt in "'\u2019" else json.loads(f'"\\{nxt}"'))
                    j += 2
                    continue
                chars.append(text[j])
                j += 1
            out.append(json.dumps("".join(chars), ensure_ascii=False))
            i = j + 1
        elif ch == "," and re.match(r"\s*[}\]]", text[i + 1 :]):
            i += 1
        elif ch == "/" and text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl == -1 else nl
        elif ch.isalpha():
            m = re.match(r"[A-Za-z_]\w*", text[i:])
            word = m.group(0) if m else ch
            out.append(_WORDS.get(word, word))
            i += len(word)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _decode(segment: str) -> tuple[bool, Any, str]:
    # strict=False: raw newlines and tabs inside strings (multi-line SQL) are common and harmless.
    try:
        return True, json.loads(segment, strict=False), ""
    except json.JSONDecodeError as first:
        try:
            return True, json.loads(_repair(segment), strict=False), ""
        except (json.JSONDecodeError, ValueError):
            return False, None, f"{first.msg} at line {first.lineno} column {first.colno}"


def _scan(text: str) -> Iterator[tuple[str, Any, str]]:
    """Yield ("ok", value, "") / ("bad", None, why) / ("truncated", None, why) per candidate."""
    i = 0
    while True:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p != -1]
        if not starts:
            return
        start = min(starts)
        end = _span(text, start)
        looks_json = _JSON_START.match(text, start) is not None
        if end is None:
            if looks_json:
                opened = text[start : start + 20].split("\n")[0]
                yield (
                    "truncated",
                    None,
                    f"truncated JSON: the reply ({len(text)} chars) ends inside the value "
                    f"opened at char {start} ({one_line(opened, _SNIPPET)!r}...)",
                )
                return
            i = start + 1
            continue
        if end == -1:
            i = start + 1
            continue
        ok, value, why = _decode(text[start:end])
        if ok:
            yield "ok", value, ""
        elif looks_json:
            yield "bad", None, f"invalid JSON ({why}) in {one_line(text[start:end], _SNIPPET)!r}"
        # A broken value's insides are fragments of it, not answers: skip past it.
        i = end if ok or looks_json else start + 1


def _plausible(value: Any) -> bool:
    """Rather a real payload than ``[1]`` or ``{}`` from the prose around it."""
    if isinstance(value, dict):
        return bool(value)
    if isinstance(value, list):
        return bool(value) and not all(isinstance(v, int | float) for v in value)
    return False


def extract_json(text: str | None) -> Any:
    """The first JSON object or array in a model's reply.

    Fenced blocks are tried first (the first one that parses wins), then the whole
    reply.  Raises :class:`ParseFailure` when nothing parses; a reply that stops
    inside a value is reported as truncated rather than completed by guesswork.
    """
    if text is None or not text.strip():
        raise ParseFailure("empty reply")
    body = strip_think(text)
    if not body.strip():
        raise ParseFailure(f"the reply ({len(text)} chars) holds only a <think> block")
    problems: list[str] = []
    fallback: list[Any] = []
    for source in [block for _, block in fenced_blocks(body)] + [body]:
        for status, value, why in _scan(source):
            if status == "ok":
                if _plausible(value):
                    return value
                fallback.append(value)
            elif status == "truncated":
                # A cut-off answer in a fence may still have a complete copy elsewhere;
                # a cut-off answer in the reply itself is the end of the story.
                if source is body and not fallback:
                    raise ParseFailure(why)
                problems.append(why)
            else:
                problems.append(why)
    if fallback:
        return fallback[0]
    if problems:
        raise ParseFailure(problems[0])
    raise ParseFailure(f"no JSON object or array in the reply: {one_line(body, _SNIPPET)!r}")


# ---------------------------------------------------------------- payloads


def _get(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    for key in keys:
        if key in lowered and lowered[key] not in (None, ""):
            return lowered[key]
    return None


def _items(obj: Any, list_keys: tuple[str, ...], item_keys: tuple[str, ...]) -> list[Any] | None:
    """The list of items in ``obj``: a bare list, under a known key, or one bare item."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        found = _get(obj, list_keys)
        if isinstance(found, list):
            return found
        if isinstance(found, dict):  # {"plan": {"topics": [...]}}
            return _items(found, list_keys, item_keys)
        if _get(obj, item_keys) is not None:
            return [obj]
        lists = [v for v in obj.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def samples_from(obj: Any) -> tuple[list[dict[str, str]], list[str]]:
    """``[{"question", "sql"}]`` from a parsed reply, and why each skipped item was skipped.

    Accepts ``{"samples": [...]}`` (or ``pairs``/``examples``/...), a bare list, one bare
    pair, items keyed ``query``/``SQL``/``nl``/``问题``, and ``[question, sql]`` pairs.
    The SQL loses a code fence and its trailing ``;``.
    """
    items = _items(obj, LIST_KEYS, SQL_KEYS)
    if items is None:
        return [], [f"no list of samples in the reply (got {type(obj).__name__})"]
    samples: list[dict[str, str]] = []
    skipped: list[str] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, list | tuple) and len(item) == 2:
            question, sql = _text(item[0]), _text(item[1])
        elif isinstance(item, dict):
            question, sql = _text(_get(item, QUESTION_KEYS)), _text(_get(item, SQL_KEYS))
        else:
            skipped.append(f"item {n}: not an object ({type(item).__name__})")
            continue
        # Unwrap a fenced answer; otherwise keep every statement, so that "SELECT 1; DROP ..."
        # reaches the validator whole and is rejected there, visibly.
        sql = extract_sql(sql) if "```" in sql or "<think>" in sql.lower() else sql_target(sql)
        if not question:
            skipped.append(f"item {n}: no question")
        elif not sql:
            skipped.append(f"item {n}: no sql")
        else:
            samples.append({"question": question, "sql": sql})
    return samples, skipped


def _count(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*\S{0,8}\s*", value)  # "12", "12 samples"
        if m:
            number = float(m.group(1))
            return int(number) if number.is_integer() else number
    return None


def topics_from(obj: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Planner topics from a parsed reply, and why each skipped item was skipped.

    Each topic is ``{"name", "tables", "reason", "count", "dialect"}``: ``tables`` a list
    of strings (a comma-separated string is split), ``count`` a number or None when the
    model gave none or something non-numeric (the planner decides what to do about it).
    """
    items = _items(obj, TOPIC_LIST_KEYS, TOPIC_TABLE_KEYS)
    if items is None:
        return [], [f"no list of topics in the reply (got {type(obj).__name__})"]
    topics: list[dict[str, Any]] = []
    skipped: list[str] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            skipped.append(f"topic {n}: not an object ({type(item).__name__})")
            continue
        raw = _get(item, TOPIC_TABLE_KEYS)
        if isinstance(raw, str):
            raw = re.split(r"[,;，、\s]+", raw)
        tables = [t.strip() for t in raw if isinstance(t, str) and t.strip()] if raw else []
        if not tables:
            skipped.append(f"topic {n}: no tables")
            continue
        name = _get(item, TOPIC_NAME_KEYS)
        raw_count = _get(item, TOPIC_COUNT_KEYS)
        topics.append(
            {
                "name": name.strip() if isinstance(name, str) else "",
                "tables": tables,
                "reason": _text(_get(item, TOPIC_REASON_KEYS)),
                "count": _count(raw_count),
                "raw_count": raw_count,
                "dialect": _text(item.get("dialect")) or None,
            }
        )
    return topics, skipped
