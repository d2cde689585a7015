"""Table cards: compact, LLM-digestible text for each table, under a token budget.

Every prompt the project builds (planning, generation, training data with schema
context, evaluation, serving) describes tables with these cards, so the model sees
one format everywhere.  A card reads like annotated DDL::

    TABLE orders -- 订单主表 / Sales order header (~8,000 rows)
      order_id integer PK -- 订单编号 / order id
      customer_id integer NOT NULL -> customers.customer_id -- 客户 / customer
      status varchar(16) NOT NULL -- 订单状态 / status; e.g. 'completed', 'shipped', 'cancelled'

Comments and sample values come from the user's database and are *data*: they are
flattened to one line, stripped of control characters, length-bounded, and sample
values are rendered as quoted SQL literals, so nothing in them can pose as an
instruction or break the card's structure.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .hygiene import one_line
from .records import Column, SchemaMetadata, Table

DEFAULT_CARD_BUDGET = 600  # tokens per card
MAX_COMMENT_CHARS = 120
SHORT_COMMENT_CHARS = (60, 28)  # comment lengths tried, in turn, once samples are gone
MAX_TYPE_CHARS = 32
MAX_VALUE_CHARS = 40

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


@dataclass(frozen=True)
class TableCard:
    table: str  # qualified name as written in the card
    text: str
    tokens: int  # estimated
    columns_shown: int
    columns_total: int


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of BPE tokens, conservative for Qwen-style vocabularies.

    CJK characters count about one token each; other text about four characters a token.

    >>> estimate_tokens("SELECT name FROM products")
    7
    >>> estimate_tokens("订单主表")
    4
    """
    cjk = len(_CJK.findall(text))
    other = len(text) - cjk
    return cjk + math.ceil(other / 3.6)


def clean_text(text: str | None, limit: int = MAX_COMMENT_CHARS) -> str:
    """One line, no control or invisible characters, at most ``limit`` characters."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CONTROL.sub(" ", text)
    text = one_line(text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def sql_literal(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """Render a sample value as a SQL literal (quotes doubled), bounded in length."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = clean_text(str(value), limit)
    return "'" + text.replace("'", "''") + "'"


_TAGGED_ROLES = frozenset(
    {"identifier", "measure", "year", "category", "flag", "sort_key", "label"}
)


def _column_line(
    col: Column, table: Table, fk_of: dict[str, str], samples: int, comment_chars: int
) -> str:
    parts = [col.name, clean_text(col.raw_type, MAX_TYPE_CHARS).lower() or col.type]
    if col.name in table.primary_key and len(table.primary_key) == 1:
        parts.append("PK")
    elif not col.nullable:
        parts.append("NOT NULL")
    if col.name in fk_of:
        parts.append("-> " + fk_of[col.name])
    elif col.role is not None and col.role.role in _TAGGED_ROLES:
        # What the column means, in one word: a model told "[sort_key]" or "[year]" has
        # no reason to SUM it, and "[label]" says which column names a row.
        parts.append(f"[{col.role.role}]")
    line = "  " + " ".join(parts)
    notes = []
    comment = clean_text(col.comment, comment_chars)
    if comment:
        notes.append(comment)
    if col.name in table.primary_key or any(col.name in fk.columns for fk in table.foreign_keys):
        samples = 0  # key values ("1, 2, 3") tell a model nothing
    elif col.type in ("date", "datetime", "time"):
        samples = min(samples, 1)  # one value shows the format
    if samples and col.samples:
        notes.append("e.g. " + ", ".join(sql_literal(v) for v in col.samples[:samples]))
    if notes:
        line += " -- " + "; ".join(notes)
    return line


def _render(
    table: Table,
    columns: Iterable[Column],
    samples: int,
    hidden: int,
    comment_chars: int = MAX_COMMENT_CHARS,
) -> str:
    fk_of: dict[str, str] = {}
    multi_fks = []
    for fk in table.foreign_keys:
        target = (
            f"{fk.ref_schema}.{fk.ref_table}"
            if fk.ref_schema and fk.ref_schema != table.schema
            else fk.ref_table
        )
        if len(fk.columns) == 1:
            fk_of[fk.columns[0]] = f"{target}.{fk.ref_columns[0]}"
        else:
            multi_fks.append(
                f"  FK ({', '.join(fk.columns)}) -> {target}({', '.join(fk.ref_columns)})"
            )
    head = f"{'VIEW' if table.kind == 'view' else 'TABLE'} {table.qualified_name}"
    notes = []
    if table.comment:
        notes.append(clean_text(table.comment, 120))
    if table.row_count is not None:
        notes.append(f"~{table.row_count:,} rows")
    if notes:
        head += " -- " + "; ".join(notes)
    lines = [head]
    lines += [_column_line(c, table, fk_of, samples, comment_chars) for c in columns]
    if hidden:
        lines.append(f"  ... {hidden} more columns")
    if len(table.primary_key) > 1:
        lines.append(f"  PK ({', '.join(table.primary_key)})")
    lines += multi_fks
    for unique in table.unique:
        lines.append(f"  UNIQUE ({', '.join(unique)})")
    return "\n".join(lines)


def build_card(
    table: Table, budget_tokens: int = DEFAULT_CARD_BUDGET, samples: int = 3
) -> TableCard:
    """One table's card, shrunk until it fits ``budget_tokens``.

    Shrinking keeps what a query needs most: first fewer sample values, then none,
    then shorter comments (their head says what a column is; the rest is detail), then
    columns that are neither keys nor commented are elided from the end, then any
    non-key column.  Key columns are never dropped.  A column that exists matters more
    to a query than the tail of another column's comment, hence this order.
    """
    columns = list(table.columns)
    keyed = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    ladder = [(n, MAX_COMMENT_CHARS) for n in dict.fromkeys((samples, min(samples, 2), 1, 0))]
    ladder += [(0, n) for n in SHORT_COMMENT_CHARS]
    for n_samples, comment_chars in ladder:
        text = _render(table, columns, n_samples, 0, comment_chars)
        if estimate_tokens(text) <= budget_tokens:
            return TableCard(
                table.qualified_name, text, estimate_tokens(text), len(columns), len(columns)
            )
    # Drop columns: plain ones first (from the end), then commented non-key ones.
    order = [c for c in reversed(columns) if c.name not in keyed and not c.comment]
    order += [c for c in reversed(columns) if c.name not in keyed and c.comment]
    kept = list(columns)
    shortest = SHORT_COMMENT_CHARS[-1]
    for victim in order:
        kept.remove(victim)
        text = _render(table, kept, 0, len(columns) - len(kept), shortest)
        if estimate_tokens(text) <= budget_tokens:
            break
    return TableCard(table.qualified_name, text, estimate_tokens(text), len(kept), len(columns))


def build(
    metadata: SchemaMetadata,
    budget_tokens: int = DEFAULT_CARD_BUDGET,
    samples: int = 3,
    tables: Iterable[str] | None = None,
) -> list[TableCard]:
    """Cards for every table (or the named ones, in metadata order); joins the data
    confirmed (see data_create.links) show like declared foreign keys."""
    from .links import fold

    metadata = fold(metadata)
    wanted = None if tables is None else set(tables)
    return [
        build_card(t, budget_tokens, samples)
        for t in metadata.tables
        if wanted is None or t.name in wanted or t.qualified_name in wanted
    ]


def schema_summary(metadata: SchemaMetadata, max_tokens: int = 4000) -> str:
    """The whole schema in a few lines: one per table with its comment, size and links.

    This is what a planner sees of a large schema before it asks for cards.
    """
    lines = [
        f"DATABASE {metadata.database} ({metadata.engine}, {len(metadata.tables)} tables/views)"
    ]
    for t in metadata.tables:
        line = f"- {t.qualified_name}"
        if t.kind == "view":
            line += " [view]"
        comment = clean_text(t.comment, 60)
        if comment:
            line += f": {comment}"
        line += f" ({len(t.columns)} cols"
        if t.row_count is not None:
            line += f", ~{t.row_count:,} rows"
        line += ")"
        links = sorted({fk.ref_table for fk in t.foreign_keys})
        if links:
            line += " -> " + ", ".join(links)
        lines.append(line)
    text = "\n".join(lines)
    if estimate_tokens(text) > max_tokens:
        # Very large schemas: drop the comments, then cut, saying how many were left out.
        lines = [lines[0]] + [
            f"- {t.qualified_name} ({len(t.columns)} cols)" for t in metadata.tables
        ]
        kept = [lines[0]]
        for line in lines[1:]:
            if estimate_tokens("\n".join([*kept, line])) > max_tokens - 20:
                kept.append(f"... {len(lines) - len(kept)} more tables")
                break
            kept.append(line)
        text = "\n".join(kept)
    return text


def render_markdown(metadata: SchemaMetadata, cards: list[TableCard]) -> str:
    """``table_cards.md``: the summary, then each card in a fenced block."""
    total = sum(c.tokens for c in cards)
    out = [
        f"# Table cards — {metadata.database}",
        "",
        f"Engine `{metadata.engine}` (dialect `{metadata.dialect}`), "
        f"{len(metadata.tables)} tables/views, fingerprint `{metadata.fingerprint[:19]}`. "
        f"Cards total ~{total:,} tokens (estimated).",
        "",
        "## Schema summary",
        "",
        "```text",
        schema_summary(metadata),
        "```",
        "",
        "## Cards",
        "",
    ]
    for card in cards:
        shown = (
            ""
            if card.columns_shown == card.columns_total
            else f", {card.columns_shown}/{card.columns_total} columns shown"
        )
        out += [
            f"### {card.table} (~{card.tokens} tokens{shown})",
            "",
            "```text",
            card.text,
            "```",
            "",
        ]
    return "\n".join(out)
