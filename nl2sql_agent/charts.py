"""Charts by rules, never by code: column roles + question cues -> a Vega-Lite spec.

Peers let a model write plotting code (executed with ``exec``) or a free-form chart spec
that often fails validation.  Here the chart is data: :func:`choose` picks the kind from
the result's column roles and a few cues in the question, :func:`build_spec` writes a
Vega-Lite spec from a fixed template, and :func:`validate_spec` checks it against the
Vega-Lite JSON schema (the copy that ships inside the ``altair`` package; nothing is
downloaded).  Rendering to SVG is :mod:`nl2sql_agent.render` (vl-convert, offline).

The rules:

* one row, one number -> ``figure`` (a big number);
* a time column and a measure -> ``line``;
* a category and a measure -> ``bar`` (a ``table`` beyond 50 categories: a listing); ``pie`` instead when the question asks for a
  share of a whole and there are few parts (<= 8) with no negative values;
* two measures and no category -> ``scatter``;
* anything else -> ``table`` (no chart).

>>> choose(("month", "revenue"), (("2024-01-01", 10.0), ("2024-02-01", 12.5))).kind
'line'
>>> choose(("country", "customers"), (("NO", 3), ("SE", 5)), "share of customers by country").kind
'pie'
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

KINDS = ("bar", "line", "pie", "scatter", "figure", "table")
MAX_BARS = 50
MAX_SLICES = 12
MAX_POINTS = 5000
PIE_MAX_PARTS = 8

_ID_NAME = re.compile(r"(^id$|_id$|^id_|(?<![a-z])code$|_code$|^zip|postal|phone|_no$|^no$)", re.I)
_TIME_NAME = re.compile(
    r"(date|time|day|month|year|week|quarter|period|_at$|created|updated|年|月|日|时间|日期)", re.I
)
# Period labels that are not dates: 2023-Q1, 2023Q1, 2023-W05, 2023-H2, 2023/07.
_PERIOD = re.compile(r"^\d{4}[-/ ]?(Q[1-4]|W\d{1,2}|H[12]|\d{1,2})$", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")

_CUES = {
    "share": re.compile(
        r"\b(share|proportion|percent|percentage|fraction|portion|split|composition|breakdown"
        r"|distribution|pie)\b|占比|比例|构成|份额|分布",
        re.I,
    ),
    "trend": re.compile(
        r"\b(trend|over time|monthly|yearly|daily|weekly|per (day|week|month|year)|by (day|week|"
        r"month|year|date)|timeline|evolution|growth)\b|趋势|每月|每年|按月|按年",
        re.I,
    ),
    "relation": re.compile(
        r"\b(correlat\w*|relationship|versus|vs\.?|against|scatter)\b|相关", re.I
    ),
}


@dataclass(frozen=True)
class Choice:
    kind: str
    reason: str
    options: tuple[str, ...]  # the kinds this result can be switched to


# ---------------------------------------------------------------- roles


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) or (
        isinstance(v, Decimal) and v.is_finite()
    )


def _role(name: str, values: list[Any]) -> str:
    if not values:
        return "nominal"
    if all(isinstance(v, datetime | date) for v in values):
        return "temporal"
    if all(isinstance(v, str) and _ISO_DATE.match(v) for v in values):
        return "temporal"
    if _TIME_NAME.search(name) and all(isinstance(v, str) and _PERIOD.match(v) for v in values):
        return "temporal"
    if all(_is_number(v) for v in values):
        if _TIME_NAME.search(name) and all(
            float(v).is_integer() and 1900 <= float(v) <= 2100 for v in values
        ):
            return "temporal"  # a year column
        if _ID_NAME.search(name):
            return "nominal"
        return "quantitative"
    return "nominal"


def column_roles(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], sample: int = 200
) -> list[str]:
    """``quantitative`` | ``temporal`` | ``nominal`` for each column, from its non-NULL values."""
    head = rows[:sample]
    return [
        _role(str(name), [row[i] for row in head if row[i] is not None])
        for i, name in enumerate(columns)
    ]


# ---------------------------------------------------------------- choice


def choose(columns: Sequence[str], rows: Sequence[Sequence[Any]], question: str = "") -> Choice:
    """The chart kind for a result, with the reason and the kinds the user may switch to."""
    roles = column_roles(columns, rows)
    measures = [i for i, r in enumerate(roles) if r == "quantitative"]
    times = [i for i, r in enumerate(roles) if r == "temporal"]
    labels = [i for i, r in enumerate(roles) if r == "nominal"]
    n = len(rows)
    cue = {k for k, rx in _CUES.items() if rx.search(question or "")}
    if n == 0:
        return Choice("table", "no rows", ("table",))
    if n == 1 and len(columns) == 1 and measures:
        return Choice("figure", "a single number", ("figure", "table"))
    if n == 1:
        return Choice("table", "one row: a chart of one mark says nothing", ("table",))
    options: list[str] = []
    if measures and (times or labels):
        options += ["bar", "line"] if times else ["bar"]
        if labels and n <= MAX_SLICES and _non_negative(rows, measures[0]):
            options.append("pie")
    if len(measures) >= 2:
        options.append("scatter")
    if times and measures and "line" not in options:
        options.append("line")
    options.append("table")
    if times and measures:
        return Choice("line", "a time column and a measure", _order("line", options))
    if labels and measures:
        if n > MAX_BARS:
            # A listing (one row per order, per customer...) rather than a comparison:
            # a chart of its first 50 rows would mislead.  The user can still switch.
            return Choice("table", f"more than {MAX_BARS} categories", _order("table", options))
        if "share" in cue and n <= PIE_MAX_PARTS and _non_negative(rows, measures[0]):
            return Choice("pie", "a share of a whole with few parts", _order("pie", options))
        if len(measures) >= 2 and "relation" in cue:
            return Choice("scatter", "two measures compared", _order("scatter", options))
        return Choice("bar", "a category and a measure", _order("bar", options))
    if len(measures) >= 2:
        return Choice("scatter", "two measures", _order("scatter", options))
    return Choice(
        "table",
        "no measure to plot" if not measures else "nothing to plot it against",
        tuple(options),
    )


def _all_dates(rows: Sequence[Sequence[Any]], i: int) -> bool:
    values = [r[i] for r in rows[:200] if r[i] is not None]
    return all(
        isinstance(v, datetime | date) or (isinstance(v, str) and _ISO_DATE.match(v))
        for v in values
    )


def _order(first: str, options: list[str]) -> tuple[str, ...]:
    return (first, *[o for o in options if o != first])


def _non_negative(rows: Sequence[Sequence[Any]], i: int) -> bool:
    return all(row[i] is None or float(row[i]) >= 0 for row in rows)


# ---------------------------------------------------------------- spec


def _cell(value: Any) -> Any:
    from .core import json_value

    return json_value(value)


def build_spec(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], kind: str, question: str = ""
) -> dict[str, Any] | None:
    """A Vega-Lite spec of ``kind`` for the result, or None for ``table`` (and for a kind
    the result's columns cannot carry)."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "table" or not rows:
        return None
    roles = column_roles(columns, rows)
    measures = [i for i, r in enumerate(roles) if r == "quantitative"]
    times = [i for i, r in enumerate(roles) if r == "temporal"]
    labels = [i for i, r in enumerate(roles) if r == "nominal"]
    # Fields are named c0, c1, ... in the data: a column called "a.b" or "x[0]" would
    # otherwise be read by Vega-Lite as a nested path.  Titles keep the real names.
    key = [f"c{i}" for i in range(len(columns))]
    title = [str(c) for c in columns]

    def field(i: int, type_: str, **extra: Any) -> dict[str, Any]:
        return {"field": key[i], "type": type_, "title": title[i], **extra}

    def data(limit: int) -> tuple[list[dict[str, Any]], int]:
        kept = rows[:limit]
        return [{key[i]: _cell(v) for i, v in enumerate(row)} for row in kept], len(rows) - len(
            kept
        )

    spec: dict[str, Any] = {"$schema": schema_url()}
    note = ""
    if kind == "figure":
        if not measures:
            return None
        m = measures[0]
        values, _ = data(1)
        spec.update(
            data={"values": values},
            mark={"type": "text", "fontSize": 48, "fontWeight": "bold"},
            encoding={"text": field(m, "quantitative", format=",")},
            title=title[m],
            width=300,
            height=120,
        )
        return spec
    if kind in ("bar", "pie", "line"):
        if not measures or not (labels or times):
            return None
        m = measures[0]
        if kind == "line":
            x = times[0] if times else labels[0]
            values, dropped = data(MAX_POINTS)
            # Dates are temporal; a year as an integer or a period label (2023-Q1) is an
            # ordered category on the axis (as temporal, 2023 would be read as epoch ms).
            xtype = "temporal" if times and _all_dates(rows, x) else "ordinal"
            encoding: dict[str, Any] = {"x": field(x, xtype), "y": field(m, "quantitative")}
            series = [i for i in labels if i != x]
            if series:
                encoding["color"] = field(series[0], "nominal")
            spec.update(mark={"type": "line", "point": len(values) <= 200}, encoding=encoding)
        elif kind == "bar":
            x = labels[0] if labels else times[0]
            values, dropped = data(MAX_BARS)
            spec.update(
                mark={"type": "bar"},
                encoding={
                    "x": field(x, "nominal" if labels else "ordinal", sort=None),
                    "y": field(m, "quantitative"),
                    "tooltip": [field(x, "nominal"), field(m, "quantitative")],
                },
            )
        else:
            lab = labels[0] if labels else times[0]
            values, dropped = data(MAX_SLICES)
            spec.update(
                mark={"type": "arc", "innerRadius": 0},
                encoding={
                    "theta": field(m, "quantitative", stack=True),
                    "color": field(lab, "nominal", sort=None),
                    "tooltip": [field(lab, "nominal"), field(m, "quantitative")],
                },
                view={"stroke": None},
            )
        spec["data"] = {"values": values}
        if dropped:
            note = f" (first {len(values)} of {len(rows):,} rows)"
    elif kind == "scatter":
        if len(measures) < 2:
            return None
        values, dropped = data(MAX_POINTS)
        encoding = {
            "x": field(measures[0], "quantitative"),
            "y": field(measures[1], "quantitative"),
        }
        if labels:
            encoding["tooltip"] = [field(labels[0], "nominal")]
        spec.update(data={"values": values}, mark={"type": "point"}, encoding=encoding)
        if dropped:
            note = f" (first {len(values)} of {len(rows):,} rows)"
    spec["title"] = _title(question) + note
    spec["width"] = 560  # a fixed size: the SVG is rendered on the server
    spec["height"] = 300
    return spec


def _title(question: str) -> str:
    text = " ".join((question or "").split())
    return text if len(text) <= 80 else text[:79] + "…"


# ---------------------------------------------------------------- schema


# The schema's major version; ``$schema`` names it and vl-convert renders with the newest
# minor release of it that it bundles.
VEGA_LITE_MAJOR = 6
SCHEMA_URL = f"https://vega.github.io/schema/vega-lite/v{VEGA_LITE_MAJOR}.json"


def schema_url() -> str:
    return SCHEMA_URL


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The Vega-Lite JSON schema, read from the copy inside the altair package.

    The file is located without importing altair (a heavy import we never need) and
    read offline; nothing is downloaded.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("altair")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the Vega-Lite schema ships with altair: pip install 'nl2sql-factory[agent]'"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "vegalite" / f"v{VEGA_LITE_MAJOR}" / "schema" / "vega-lite-schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def vega_lite_version(available: Sequence[str] = ()) -> str:
    """The newest ``6.x`` in ``available`` (vl-convert's versions), else ``"6"``."""
    same_major = [v for v in available if v.split(".")[0] == str(VEGA_LITE_MAJOR)]
    return (
        max(same_major, key=lambda v: tuple(int(p) for p in v.split(".")))
        if same_major
        else str(VEGA_LITE_MAJOR)
    )


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(_schema())
    return cls(_schema())


def validate_spec(spec: dict[str, Any]) -> list[str]:
    """Schema violations of a spec (empty list = valid), each as ``path: message``."""
    errors = sorted(_validator().iter_errors(spec), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}" for e in errors]
