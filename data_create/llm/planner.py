"""Plan the dataset with an LLM, then hold its plan to the same rules as the offline one.

The model sees the schema summary and proposes topics; what comes back is checked
like any other input from outside.  Table names it got slightly wrong (``order``,
``MAIN.Orders``) are matched to real ones, names it invented are dropped, counts
are made to sum to the budget exactly, and the dialect is the database's.  Each
fix is a warning, so the report says what the model got wrong.  When nothing
usable is left -- or the request failed -- the offline planner takes over and the
plan says why (``Plan.planner = "offline (LLM plan unusable: ...)"``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import Any

from .. import engines
from .. import planner as offline
from ..cards import clean_text
from ..errors import ConfigError, UnknownScheme
from ..records import Plan, SchemaMetadata, Table, Topic
from . import meta_prompts
from .parse import ParseFailure, extract_json, topics_from

FUZZY_CUTOFF = 0.75  # difflib ratio: "order" ~ "orders" (0.91), "cust" !~ "customers" (0.62)
MAX_REASON_CHARS = 200


def plan_with_llm(
    client: Any,
    metadata: SchemaMetadata,
    budget: int,
    *,
    language: str = "en",
    max_tables: int = 5,
) -> tuple[Plan, list[str]]:
    """A plan from the model behind ``client``, adjusted to be valid, and the warnings.

    ``client.run_many([ChatRequest(messages, purpose="plan")])`` answers with one
    object holding ``.text`` or a failure.  Raises :class:`ConfigError` for a budget
    below 1 (as the offline planner does); every other problem falls back to
    :func:`data_create.planner.plan` with a warning.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"the sample budget must be a positive integer, not {budget!r}")
    from .client import ChatRequest  # lazy: the client module is the optional [llm] extra

    messages = meta_prompts.planner_messages(
        metadata, budget, language=language, max_tables=max_tables
    )
    (result,) = client.run_many([ChatRequest(messages, purpose="plan")])
    text = getattr(result, "text", None)
    if text is None:
        kind = getattr(result, "kind", type(result).__name__)
        message = clean_text(getattr(result, "message", "") or str(result), 160)
        return _fallback(
            metadata, budget, language, max_tables, f"request failed ({kind}: {message})", []
        )
    try:
        parsed = extract_json(text)
    except ParseFailure as failure:
        return _fallback(
            metadata, budget, language, max_tables, f"reply is not JSON: {failure.reason}", []
        )
    items, skipped = topics_from(parsed)
    warnings = [f"LLM plan: {why}" for why in skipped]
    topics = _adjust(metadata, items, budget, max_tables, warnings)
    if not topics:
        why = "no topic names a known table" if items else "the reply holds no topics"
        return _fallback(metadata, budget, language, max_tables, why, warnings)
    model = getattr(getattr(client, "settings", None), "model", None)
    return Plan(tuple(topics), planner=f"llm:{model}" if model else "llm"), warnings


def _fallback(
    metadata: SchemaMetadata,
    budget: int,
    language: str,
    max_tables: int,
    why: str,
    warnings: list[str],
) -> tuple[Plan, list[str]]:
    plan = offline.plan(metadata, budget, language=language, max_tables=max_tables)
    warnings = [*warnings, f"LLM plan unusable ({why}); using the offline planner"]
    return replace(plan, planner=f"offline (LLM plan unusable: {why})"), warnings


# ---------------------------------------------------------------- tables


class _Tables:
    """Resolves a model's table name to a real one: exact, case, schema, then fuzzy."""

    def __init__(self, metadata: SchemaMetadata):
        self.usable = {t.qualified_name: t for t in metadata.tables if t.columns}
        self.exact: dict[str, str] = {}
        for t in self.usable.values():
            for key in (t.qualified_name.lower(), t.name.lower()):
                # A bare name shared by two schemas is ambiguous; the first (listing order) wins.
                self.exact.setdefault(key, t.qualified_name)
        self.keys = sorted(self.exact)

    def resolve(self, raw: str) -> tuple[str | None, str]:
        """(qualified name or None, how it was found: "" exact, "fuzzy", "unknown")."""
        name = re.sub(r"[`\"\[\]]", "", raw).strip().lower()
        for key in (name, name.rpartition(".")[2]):
            if key in self.exact:
                return self.exact[key], ""
        for key in (name, name.rpartition(".")[2]):
            close = difflib.get_close_matches(key, self.keys, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                return self.exact[close[0]], "fuzzy"
        return None, "unknown"

    def table(self, name: str) -> Table:
        return self.usable[name]


def _resolve_tables(
    tables: _Tables, topic: dict[str, Any], label: str, max_tables: int, warnings: list[str]
) -> list[str]:
    found: list[str] = []
    for raw in topic["tables"]:
        name, how = tables.resolve(raw)
        shown = clean_text(raw, 60)
        if name is None:
            warnings.append(f"LLM plan: topic {label}: unknown table {shown!r} dropped")
            continue
        if how == "fuzzy":
            warnings.append(f"LLM plan: topic {label}: table {shown!r} taken as {name!r}")
        if tables.table(name).row_count == 0:
            warnings.append(f"LLM plan: topic {label}: table {name!r} is empty; dropped")
            continue
        if name not in found:
            found.append(name)
    if len(found) > max_tables:
        warnings.append(
            f"LLM plan: topic {label}: {len(found)} tables cut to the first {max_tables}"
        )
        found = found[:max_tables]
    return found


# ---------------------------------------------------------------- topics and counts


def _adjust(
    metadata: SchemaMetadata,
    items: list[dict[str, Any]],
    budget: int,
    max_tables: int,
    warnings: list[str],
) -> list[Topic]:
    tables = _Tables(metadata)
    kept: list[tuple[str, list[str], str, float | None]] = []
    by_tables: dict[tuple[str, ...], int] = {}
    dialects: set[str] = set()
    for n, item in enumerate(items, 1):
        label = repr(clean_text(item["name"], 40)) if item["name"] else f"#{n}"
        names = _resolve_tables(tables, item, label, max_tables, warnings)
        if not names:
            warnings.append(f"LLM plan: topic {label} dropped: none of its tables exists")
            continue
        count = item["count"]
        if count is None or count < 0:
            shown = (
                clean_text(str(item["raw_count"]), 20) if item["raw_count"] is not None else "none"
            )
            warnings.append(f"LLM plan: topic {label}: count {shown!r} is not a count; rescaled")
            count = None
        elif count == 0:
            warnings.append(f"LLM plan: topic {label} dropped: count 0")
            continue
        if item["dialect"] and not _same_engine(item["dialect"], metadata.dialect):
            dialects.add(clean_text(item["dialect"], 20))
        key = tuple(sorted(names))
        if key in by_tables:  # same tables twice: one topic, both shares
            i = by_tables[key]
            name, first, reason, weight = kept[i]
            if weight is not None and count is not None:
                weight += count
            kept[i] = (name, first, reason, weight)
            warnings.append(f"LLM plan: topic {label} repeats the tables of {name!r}; merged")
            continue
        by_tables[key] = len(kept)
        name = clean_text(item["name"], offline.MAX_NAME_CHARS) or " & ".join(names)
        reason = clean_text(item["reason"], MAX_REASON_CHARS) or "proposed by the LLM"
        kept.append((name, names, reason, count))
    if dialects:
        warnings.append(
            f"LLM plan: dialect {', '.join(sorted(dialects))!s} replaced by {metadata.dialect!r}"
        )
    if not kept:
        return []
    known = [w for *_, w in kept if w is not None]
    mean = sum(known) / len(known) if known else 1.0
    weights = [w if w is not None else mean for *_, w in kept]
    counts = _counts(weights, budget)
    if counts != weights:
        total = sum(weights)
        shown = int(total) if float(total).is_integer() else round(total, 2)
        warnings.append(f"LLM plan: counts summing to {shown} rescaled to sum to {budget}")
    dropped = [kept[i][0] for i, c in enumerate(counts) if c == 0]
    if dropped:
        warnings.append(
            f"LLM plan: budget {budget} is below {len(kept)} topics; dropped "
            + ", ".join(repr(d) for d in dropped)
        )
    topics: list[Topic] = []
    names_seen: set[str] = set()
    for (name, names, reason, _), count in zip(kept, counts, strict=True):
        if count == 0:
            continue
        unique, k = name, 2
        while unique in names_seen:
            unique, k = f"{name} ({k})", k + 1
        names_seen.add(unique)
        topics.append(Topic(unique, tuple(names), reason, count, metadata.dialect))
    _warn_uncovered(metadata, topics, warnings)
    return topics


def _counts(weights: list[float], budget: int) -> list[int]:
    """The model's counts when they already fit; else the offline planner's allocation.

    Fitting means whole numbers, each at least 1, summing to ``budget``.  Otherwise
    the counts are weights: each topic a floor when the budget allows, the rest by
    weight with largest-remainder rounding, and the smallest topics trimmed (one
    sample each for the rest) when the budget is below the number of topics.
    """
    if (
        sum(weights) == budget
        and all(float(w).is_integer() and w >= 1 for w in weights)
        and len(weights) <= budget
    ):
        return [int(w) for w in weights]
    # The offline planner's rule, so both planners share budgets the same way.
    return offline.allocate(weights, budget)


def _warn_uncovered(metadata: SchemaMetadata, topics: list[Topic], warnings: list[str]) -> None:
    covered = {t for topic in topics for t in topic.tables}
    missing = [
        t.qualified_name
        for t in metadata.tables
        if t.kind == "table" and t.row_count != 0 and t.columns and t.qualified_name not in covered
    ]
    if missing and sum(topic.count for topic in topics) > len(topics):
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        warnings.append(f"LLM plan leaves {len(missing)} non-empty tables uncovered: {shown}")


def _same_engine(a: str, b: str) -> bool:
    """Whether two dialect names name one engine (``postgresql`` and ``postgres`` do).

    >>> _same_engine("PostgreSQL", "postgres"), _same_engine("tsql", "sqlite")
    (True, False)
    """
    try:
        return engines.get(a) is engines.get(b)
    except UnknownScheme:  # a dialect we do not speak: it is another one
        return a.strip().lower() == b.strip().lower()
