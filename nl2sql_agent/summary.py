"""A one-sentence answer built from the result by templates (no model, no made-up numbers).

>>> summarize("How many users?", ("count",), ((42,),))
'count: 42.'
>>> summarize("Top cities", ("city", "n"), (("Oslo", 9), ("Rome", 4)))
'2 rows; the highest n is 9 (city Oslo), the lowest 4 (city Rome).'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .charts import column_roles

_MAX_VALUE = 60


def _fmt(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    else:
        from .core import json_value

        text = str(json_value(value))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def summarize(
    question: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    truncated: bool = False,
) -> str:
    """The sentence shown above the table."""
    n = len(rows)
    more = " (more rows exist; only the first ones were fetched)" if truncated else ""
    if n == 0:
        return "No rows match the question."
    if n == 1 and len(columns) == 1:
        return f"{columns[0]}: {_fmt(rows[0][0])}."
    if n == 1:
        parts = [f"{c} = {_fmt(v)}" for c, v in zip(columns[:5], rows[0][:5], strict=False)]
        extra = f" and {len(columns) - 5} more columns" if len(columns) > 5 else ""
        return f"One row: {', '.join(parts)}{extra}."
    roles = column_roles(columns, rows)
    measures = [i for i, r in enumerate(roles) if r == "quantitative"]
    labels = [i for i, r in enumerate(roles) if r in ("nominal", "temporal")]
    if measures and labels:
        m, lab = measures[0], labels[0]
        valued = [row for row in rows if isinstance(row[m], int | float) or _is_decimal(row[m])]
        if valued:
            top = max(valued, key=lambda r: float(r[m]))
            low = min(valued, key=lambda r: float(r[m]))
            name = columns[lab]
            return (
                f"{n:,} rows{more}; the highest {columns[m]} is {_fmt(top[m])} "
                f"({name} {_fmt(top[lab])}), the lowest {_fmt(low[m])} ({name} {_fmt(low[lab])})."
            )
    return f"{n:,} rows × {len(columns)} columns{more}."


def _is_decimal(value: Any) -> bool:
    from decimal import Decimal

    return isinstance(value, Decimal) and value.is_finite()
