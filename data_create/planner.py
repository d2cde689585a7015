"""Plan the dataset offline: group tables into business topics and share the sample budget.

Topics come from the foreign-key graph.  A connected group of at most ``max_tables``
tables is one topic; a larger one is covered greedily by stars: the uncovered table
with the most uncovered neighbours (a fact table, usually) seeds a topic, takes the
dimensions it references, then the tables that reference it, then tables next to
those.  A table may appear in several topics when that keeps each one cohesive
(``payments`` with ``orders``), and a lone leftover table borrows a neighbour or two
so questions about it can join.  Views (they repeat their base tables) and tables
known to be empty are left out.

The budget is shared by richness -- columns, foreign keys, log of the row count --
with at least one sample per topic and a floor for every topic when the budget allows;
the least rich topics are dropped when the budget is smaller than the topic count.
Counts always sum to the budget exactly (largest-remainder rounding).

>>> from data_create.records import Column, ForeignKey, SchemaMetadata, Table
>>> orders = Table("orders", comment="订单主表 / Sales order header", row_count=100,
...                columns=(Column("id", "int", "integer"), Column("cid", "int", "integer")),
...                foreign_keys=(ForeignKey(("cid",), "customers", ("id",)),))
>>> customers = Table("customers", comment="客户 / Customer", columns=(Column("id", "int", "integer"),))
>>> p = plan(SchemaMetadata("sqlite", "sqlite", "shop", (orders, customers)), 10)
>>> [(t.name, t.tables, t.count) for t in p.topics]
[('Sales order header & customer', ('orders', 'customers'), 10)]
>>> p.topics[0].reason
'orders references customers'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .cards import clean_text
from .errors import ConfigError, PlanningError
from .links import fold
from .records import Plan, SchemaMetadata, Table, Topic

# Share of the budget spread evenly over topics before the rest follows richness.
FLOOR_SHARE = 0.3
# A topic made around an already-covered table still gets this many tables, for joins.
MIN_CONTEXT = 3
MAX_NAME_CHARS = 60
NAMED_TABLES = 3  # a topic's name lists this many tables, then "& 2 more"

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PARENS = re.compile(r"\s*[(（][^()（）]*[)）]\s*")


@dataclass
class _Graph:
    tables: dict[str, Table]  # qualified name -> table, usable ones only
    refs: dict[str, list[str]]  # table -> tables it references (sorted, no self)
    referenced_by: dict[str, list[str]]
    implied: set[tuple[str, str]]  # (table, target) links confirmed by data, not declared

    def neighbours(self, name: str) -> list[str]:
        return sorted(set(self.refs[name]) | set(self.referenced_by[name]))


def plan(
    metadata: SchemaMetadata,
    budget: int,
    *,
    language: str = "en",
    max_tables: int = 5,
    include_views: bool = False,
) -> Plan:
    """Topics for ``metadata`` whose counts sum to ``budget``.

    Raises :class:`ConfigError` for a budget or ``max_tables`` below 1 and
    :class:`PlanningError` when no table is left to plan for.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"the sample budget must be a positive integer, not {budget!r}")
    if max_tables < 1:
        raise ConfigError(f"max_tables must be at least 1, not {max_tables!r}")
    graph = _graph(metadata, include_views)
    groups = _groups(graph, max_tables)
    zh = language.lower().startswith("zh")
    prefixes = _module_prefixes(metadata)
    weights = [_weight(graph, group) for group in groups]
    counts = allocate(weights, budget)
    topics: list[Topic] = []
    names: set[str] = set()
    for group, count in zip(groups, counts, strict=True):
        if count == 0:
            continue
        name = _topic_name([graph.tables[t] for t in group], zh, prefixes)
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name} ({n})", n + 1
        names.add(unique)
        topics.append(Topic(unique, tuple(group), _reason(graph, group), count, metadata.dialect))
    return Plan(topics=tuple(topics), planner="offline")


# ---------------------------------------------------------------- grouping


def _graph(metadata: SchemaMetadata, include_views: bool) -> _Graph:
    skipped_views = skipped_empty = 0
    tables: dict[str, Table] = {}
    for table in metadata.tables:
        if table.kind == "view" and not include_views:
            skipped_views += 1
        elif table.row_count == 0 or not table.columns:
            skipped_empty += 1
        else:
            tables[table.qualified_name] = table
    if not tables:
        raise PlanningError(
            f"no table of {metadata.database!r} can be planned for "
            f"({len(metadata.tables)} found: {skipped_views} views skipped, "
            f"{skipped_empty} empty tables skipped)"
        )
    lower = {name.lower(): name for name in sorted(tables)}
    refs: dict[str, list[str]] = {name: [] for name in tables}
    referenced_by: dict[str, list[str]] = {name: [] for name in tables}
    # Links the data confirmed (see data_create.links) join topics like declared keys.
    folded = {t.qualified_name: t for t in fold(metadata).tables}
    implied_links: set[tuple[str, str]] = set()
    for name in sorted(tables):
        table = tables[name]
        targets = set()
        declared = set()
        for fk in folded[name].foreign_keys:
            schema = fk.ref_schema if fk.ref_schema is not None else table.schema
            candidates = [f"{schema}.{fk.ref_table}" if schema else fk.ref_table, fk.ref_table]
            for candidate in candidates:
                target = (tables.get(candidate) and candidate) or lower.get(candidate.lower())
                if target is not None:
                    break
            if target is not None and target != name:
                targets.add(target)
                if fk.name != "verified":
                    declared.add(target)
        implied_links.update((name, t) for t in targets - declared)
        refs[name] = sorted(targets)
        for target in refs[name]:
            referenced_by[target].append(name)
    return _Graph(tables, refs, {k: sorted(v) for k, v in referenced_by.items()}, implied_links)


def _richness(table: Table) -> float:
    rows = table.row_count if table.row_count is not None else 1000
    return min(len(table.columns), 30) + 2 * len(table.foreign_keys) + math.log10(1 + rows)


def _components(graph: _Graph) -> list[list[str]]:
    seen: set[str] = set()
    components = []
    for start in sorted(graph.tables):
        if start in seen:
            continue
        stack, component = [start], []
        seen.add(start)
        while stack:
            node = stack.pop()
            component.append(node)
            for other in graph.neighbours(node):
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        components.append(sorted(component))
    return components


def _groups(graph: _Graph, max_tables: int) -> list[list[str]]:
    groups: list[list[str]] = []
    for component in _components(graph):
        if len(component) <= max_tables:
            groups.append(_order(graph, component))
            continue
        uncovered = set(component)
        while uncovered:
            seed = min(
                uncovered,
                key=lambda t: (
                    -len(set(graph.neighbours(t)) & uncovered),
                    -len(graph.refs[t]),
                    -_richness(graph.tables[t]),
                    t,
                ),
            )
            group = _grow(graph, seed, uncovered, max_tables)
            uncovered -= set(group)
            groups.append(group)
    # Richest-first keeps the listing readable; ties fall back to the names.
    return sorted(groups, key=lambda g: (-_weight(graph, g), g))


def _grow(graph: _Graph, seed: str, uncovered: set[str], max_tables: int) -> list[str]:
    """A star around ``seed``: what it references, what references it, then the rest."""
    group = [seed]
    seed_links = set(graph.neighbours(seed))

    def rank(t: str) -> tuple:
        relation = 0 if t in graph.refs[seed] else 1 if t in graph.referenced_by[seed] else 2
        return (t not in seed_links, relation, -_richness(graph.tables[t]), t)

    while len(group) < max_tables:
        frontier = sorted({n for t in group for n in graph.neighbours(t)} - set(group))
        if not frontier:
            break
        fresh = [t for t in frontier if t in uncovered]
        if fresh:
            group.append(min(fresh, key=rank))
            continue
        # Only covered tables are next to the group: take one that leads on to an
        # uncovered table (keeps ``payments`` and ``shipments`` with ``orders``)...
        bridges = [
            t
            for t in frontier
            if t in seed_links
            and len(group) <= max_tables - 2
            and any(n in uncovered and n not in group for n in graph.neighbours(t))
        ]
        if bridges:
            group.append(min(bridges, key=rank))
            continue
        # ...or, for a small group, the best neighbour for joins.
        if len(group) < MIN_CONTEXT:
            group.append(min(frontier, key=rank))
            continue
        break
    return group


def _order(graph: _Graph, component: list[str]) -> list[str]:
    """A whole small component, led by its most connected (fact) table."""
    lead = min(
        component,
        key=lambda t: (
            -len(graph.refs[t]),
            -len(graph.neighbours(t)),
            -_richness(graph.tables[t]),
            t,
        ),
    )
    return [lead, *sorted(t for t in component if t != lead)]


def _weight(graph: _Graph, group: list[str]) -> float:
    links = sum(1 for t in group for r in graph.refs[t] if r in group)
    return sum(_richness(graph.tables[t]) for t in group) + 2 * links


def _reason(graph: _Graph, group: list[str]) -> str:
    parts = []
    for t in group:
        inside = [
            r
            + (
                " (implied by column names, confirmed by the data)"
                if (t, r) in graph.implied
                else ""
            )
            for r in graph.refs[t]
            if r in group
        ]
        if inside:
            parts.append(f"{t} references {', '.join(inside)}")
    if parts:
        return "; ".join(parts)
    if len(graph.tables) == 1:
        return f"{group[0]} is the only table"
    return f"{group[0]} has no foreign-key link to another planned table"


# ---------------------------------------------------------------- budget


def allocate(weights: list[float], budget: int) -> list[int]:
    """Counts per topic summing to ``budget``: a floor each, the rest by weight."""
    n = len(weights)
    order = sorted(range(n), key=lambda i: -weights[i])  # stable: ties keep listing order
    if budget < n:
        keep = set(order[:budget])
        return [1 if i in keep else 0 for i in range(n)]
    floor = max(1, min(budget // n, int(FLOOR_SHARE * budget / n)))
    rest = budget - floor * n
    total = sum(weights) or 1.0
    quotas = [rest * w / total for w in weights]
    counts = [floor + int(q) for q in quotas]
    left = budget - sum(counts)
    by_remainder = sorted(range(n), key=lambda i: (-(quotas[i] - int(quotas[i])), -weights[i], i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts


# ---------------------------------------------------------------- names


def _module_prefixes(metadata: SchemaMetadata) -> set[str]:
    """Short name prefixes shared by several tables (``oms_``, ``pms_``) but no table's name."""
    names = {t.name.lower() for t in metadata.tables}
    heads: dict[str, int] = {}
    for name in sorted(names):
        head, sep, tail = name.partition("_")
        if sep and tail and len(head) <= 4:
            heads[head] = heads.get(head, 0) + 1
    return {h for h, n in heads.items() if n >= 2 and h not in names}


def _label(table: Table, zh: bool, prefixes: set[str]) -> str:
    """What a table is about, in the requested language, from its comment or name."""
    comment = clean_text(table.comment, 200)
    parts = [p.strip() for p in re.split(r"\s*(?:/|\||；|;)\s*", comment) if p.strip()]
    chinese = [p for p in parts if _CJK.search(p)]
    other = [p for p in parts if not _CJK.search(p) and re.search(r"[A-Za-z]", p)]
    chosen = (chinese or other) if zh else other
    if chosen:
        text = _PARENS.sub(" ", chosen[0]).strip() or chosen[0]
        # "Retail store, including the online shop" -> "Retail store"
        text = re.split(r"[,，:：]", text)[0].strip() or text
        return text.rstrip("。.") if len(text) <= 40 else text[:39] + "…"
    return _humanize(table.name, prefixes)


def _humanize(name: str, prefixes: set[str]) -> str:
    """``order_items`` -> ``order items``; ``OrderItems`` -> ``order items``; ``oms_order`` -> ``order``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().split("_")
    words = [w for w in words if w]
    if len(words) > 1 and words[0] in prefixes:
        words = words[1:]
    return " ".join(words) or name


def _topic_name(tables: list[Table], zh: bool, prefixes: set[str]) -> str:
    labels = list(dict.fromkeys(_label(t, zh, prefixes) for t in tables))
    more = len(labels) - NAMED_TABLES if len(labels) > NAMED_TABLES else 0
    labels = labels[: NAMED_TABLES if more else len(labels)]
    if zh:
        if more:
            name = "、".join(labels) + "等"
        else:
            name = labels[0] if len(labels) == 1 else "、".join(labels[:-1]) + "与" + labels[-1]
    else:
        labels = [labels[0][:1].upper() + labels[0][1:]] + [_lower_first(x) for x in labels[1:]]
        if more:
            name = ", ".join(labels) + f" & {more} more"
        else:
            name = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " & " + labels[-1]
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def _lower_first(label: str) -> str:
    # Keep acronyms ("SKU list", "VIP level") as they are.
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]
