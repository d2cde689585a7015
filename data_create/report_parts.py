"""Report pieces both reports use: the page style, Markdown tables and SVG bar charts.

``data_create.report`` (the dataset report) and ``nl2sql_fine_tuning.eval_report`` (the
evaluation report) build their pages from these, so both look and escape alike.  Charts
are inline SVG written here rather than by a plotting library: a report must open offline
as one self-contained HTML file, and these are plain bars.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_BARS = 30  # a chart keeps its largest bars; report.json keeps everything

_BAR_H, _GAP, _LABEL_W, _BAR_W, _VALUE_W = 18, 6, 260, 420, 80


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` display units: wide (CJK) characters count two, as they render."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if units > limit:
            return text[: max(i - 1, 0)] + "…"
    return text


def svg_bar_chart(title: str, data: Mapping[str, float], fmt: str = "{:,.0f}") -> str:
    """A horizontal bar chart as an inline ``<svg>``; labels and title escaped."""
    items = list(data.items())
    hidden = max(0, len(items) - MAX_BARS)
    items = items[:MAX_BARS]
    width = _LABEL_W + _BAR_W + _VALUE_W
    rows = max(1, len(items)) + (1 if hidden else 0)
    height = 8 + rows * (_BAR_H + _GAP)
    top = max((float(v) for _, v in items), default=0.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
    ]
    if not items:
        out.append(f'<text x="8" y="{4 + _BAR_H}" class="empty">no data</text>')
    for i, (label, value) in enumerate(items):
        y = 4 + i * (_BAR_H + _GAP)
        w = 0 if top <= 0 else max(1.0 if value else 0.0, _BAR_W * float(value) / top)
        label_text = html.escape(_clip(str(label), 34))  # fits _LABEL_W at 12px
        out += [
            f'<text x="{_LABEL_W - 6}" y="{y + _BAR_H - 5}" text-anchor="end">'
            f"<title>{html.escape(str(label))}</title>{label_text}</text>",
            f'<rect x="{_LABEL_W}" y="{y}" width="{w:.1f}" height="{_BAR_H}" class="bar"/>',
            f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + _BAR_H - 5}">'
            f"{html.escape(fmt.format(value))}</text>",
        ]
    if hidden:
        y = 4 + len(items) * (_BAR_H + _GAP)
        out.append(
            f'<text x="{_LABEL_W}" y="{y + _BAR_H - 5}">… {hidden} more in report.json</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- markdown


def md_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------- html

CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em auto; max-width: 860px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", sans-serif; fill: #222; } svg .bar { fill: #4a7ab5; }
svg .empty { fill: #888; }
"""


__all__ = ["CSS", "MAX_BARS", "md_cell", "md_table", "svg_bar_chart"]
