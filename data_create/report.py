"""Run reports: ``report.json`` (the stats), ``report.md`` (tables), ``report.html`` (charts).

The pipeline calls :func:`build_stats` once at the end and hands the result to
:func:`write_reports`.  The stats dict, also the content of ``report.json``::

    {
      "run":        {"dsn": masked DSN, "database", "dialect", "seed", "language",
                     "samples_requested", "samples_accepted", "elapsed_s", "samples_per_s", ...},
      "plan":       {topic: planned count},
      "topics":     {topic: accepted samples},
      "difficulty": {"easy": n, "medium": n, "hard": n},
      "features":   {feature: samples using it}           (every SQL_FEATURES name, zeros included)
      "languages":  {language: n},
      "generators": {generator: n},
      "tables":     {"per_table": {table: samples}, "covered": [...], "non_empty": [...],
                     "non_empty_covered": n, "coverage": covered share of non-empty tables},
      "validity":   {"generated", "valid", "rejected", "executed", "empty",
                     "valid_rate", "empty_rate"},
      "rejects":    {"by_layer": {layer: n}, "by_reason": {reason: n}},
      "timings":    {stage: seconds},
      "skeletons":  {"distinct": n, "samples": m, "ratio": n / m},
      "shapes":     {"achieved": {family: n}, "share": {family: n / samples with a family},
                     "target": {family: weight share} (when the synthesizer's mix is known)},
      "links":      {"declared": n, "verified": [{"link", "coverage"}],
                     "rejected": [{"link", "reason"}]}   (see data_create.links)
      "quality":    {"shapes": {"distinct": n, "mix": {shape key: samples}},
                     "lint": {"hits", "flagged_samples", "by_rule", "roles_checked", ...}}
    }

``quality`` comes from :func:`quality_stats` (:mod:`data_create.quality`): the mix of
query shapes and the lint of the samples; ``bench/bench_shapes.py`` compares the mix
with human question sets.

Rates are fractions in [0, 1] (None when undefined).  ``report.html`` is one
self-contained file: inline CSS and hand-drawn SVG bar charts, no scripts, no
external assets, every piece of text escaped (topic names and reject reasons come
from the user's database and from error messages).
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import rundir
from .links import summary as links_summary
from .records import DIFFICULTIES, SHAPE_FAMILIES, SQL_FEATURES, Plan, Sample, SchemaMetadata

# The pieces eval_report shares live in report_parts; the names this module has always
# had stay importable from here.
from .report_parts import _BAR_W, MAX_BARS, svg_bar_chart  # noqa: F401
from .report_parts import CSS as _CSS
from .report_parts import md_cell as _md_cell
from .report_parts import md_table as _md_table


def _sorted_counts(counter: Mapping[str, int]) -> dict[str, int]:
    """Largest first, ties by name: an order that does not depend on hashing."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def build_stats(
    samples: Sequence[Sample],
    rejects_by_layer: Mapping[str, int],
    rejects_by_reason: Mapping[str, int],
    plan: Plan | None,
    metadata: SchemaMetadata,
    timings: Mapping[str, float],
    run_info: Mapping[str, Any],
    *,
    skeleton: Callable[[str, str], str] | None = None,
    shape_mix: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The stats dict described in the module docstring.

    ``run_info`` is copied into ``stats["run"]`` with any ``dsn`` masked; ``skeleton``
    defaults to :func:`data_create.dedupe.skeleton`; ``shape_mix`` (the synthesizer's
    weights per shape family) gives the target the achieved shape mix is shown against.
    """
    run = dict(run_info)
    if run.get("dsn"):
        from .connect import mask  # lazy: sqlalchemy is only needed to mask a DSN

        run["dsn"] = mask(str(run["dsn"]))
    run.setdefault("database", metadata.database)
    run.setdefault("dialect", metadata.dialect)
    run["samples_accepted"] = len(samples)
    elapsed = run.get("elapsed_s")
    if elapsed is None and timings:
        elapsed = round(sum(timings.values()), 3)
        run["elapsed_s"] = elapsed
    # The pipeline may pass its own rate (generation time only); keep it.
    run.setdefault("samples_per_s", round(len(samples) / elapsed, 1) if elapsed else None)

    per_table = Counter(t for s in samples for t in s.tables)
    # Base tables only: views repeat their tables' rows, and the planner skips them.
    non_empty = [
        t.qualified_name for t in metadata.tables if t.kind == "table" and (t.row_count or 0) > 0
    ]
    covered_names = set(per_table)

    def is_covered(t: str) -> bool:
        return t in covered_names or t.rsplit(".", 1)[-1] in covered_names

    non_empty_covered = sum(1 for t in non_empty if is_covered(t))

    if skeleton is None:
        from .dedupe import skeleton as default_skeleton

        skeleton = default_skeleton
    skeletons = {skeleton(s.sql, s.dialect) for s in samples}

    executed = [s for s in samples if s.validation.get("executed", "rows" in s.validation)]
    empty = sum(1 for s in executed if s.validation.get("empty"))
    rejected = sum(rejects_by_layer.values())
    features = Counter(f for s in samples for f in s.features)
    difficulty = Counter(s.difficulty for s in samples)
    shapes = Counter(s.shape for s in samples if s.shape)
    shaped = sum(shapes.values())
    weight = sum(shape_mix.values()) if shape_mix else 0

    return {
        "run": run,
        "plan": {t.name: t.count for t in plan.topics} if plan else {},
        "topics": _sorted_counts(Counter(s.topic for s in samples)),
        "difficulty": {**dict.fromkeys(DIFFICULTIES, 0), **_sorted_counts(difficulty)},
        "features": {**dict.fromkeys(SQL_FEATURES, 0), **_sorted_counts(features)},
        "languages": _sorted_counts(Counter(s.language for s in samples)),
        "generators": _sorted_counts(Counter(s.generator for s in samples)),
        "tables": {
            "per_table": _sorted_counts(per_table),
            "covered": sorted(covered_names),
            "non_empty": non_empty,
            "non_empty_covered": non_empty_covered,
            "coverage": _rate(non_empty_covered, len(non_empty)),
        },
        "validity": {
            "generated": len(samples) + rejected,
            "valid": len(samples),
            "rejected": rejected,
            "executed": len(executed),
            "empty": empty,
            "valid_rate": _rate(len(samples), len(samples) + rejected),
            "empty_rate": _rate(empty, len(executed)),
        },
        "rejects": {
            "by_layer": _sorted_counts(rejects_by_layer),
            "by_reason": _sorted_counts(rejects_by_reason),
        },
        "timings": {k: round(float(v), 3) for k, v in timings.items()},
        "skeletons": {
            "distinct": len(skeletons),
            "samples": len(samples),
            "ratio": _rate(len(skeletons), len(samples)),
        },
        "shapes": {
            "achieved": {**dict.fromkeys(SHAPE_FAMILIES, 0), **_sorted_counts(shapes)}
            if shaped
            else {},
            "share": {f: round(shapes[f] / shaped, 4) for f in SHAPE_FAMILIES} if shaped else {},
            "target": {f: round(shape_mix.get(f, 0) / weight, 4) for f in SHAPE_FAMILIES}
            if weight
            else {},
        },
        "links": links_summary(metadata),
        "quality": quality_stats(samples, metadata),
    }


def quality_stats(samples: Sequence[Sample], metadata: SchemaMetadata) -> dict[str, Any]:
    """The shape mix and the lint of ``samples`` (see :mod:`data_create.quality`).

    Lint examples name sample ids, rules and columns, never values from the database.
    """
    from .quality import coverage, lint

    mix = coverage.shape_counts((s.sql for s in samples), metadata.dialect)
    found = lint.lint_samples(samples, dialect=metadata.dialect, metadata=metadata)
    return {
        "shapes": {"distinct": len(mix), "mix": _sorted_counts(mix)},
        "lint": found.to_dict(max_hits=20),
    }


# ---------------------------------------------------------------- charts
#
# (title, how to get {label: value} from stats, value format); one SVG each, always,
# so a reader sees "no data" rather than a silently missing chart.


def _validity_rates(stats: Mapping[str, Any]) -> dict[str, float]:
    v = stats.get("validity", {})
    cov = stats.get("tables", {}).get("coverage")
    sk = stats.get("skeletons", {}).get("ratio")
    rates = {
        "kept / generated": v.get("valid_rate"),
        "empty / executed": v.get("empty_rate"),
        "non-empty tables covered": cov,
        "distinct skeletons / samples": sk,
    }
    return {k: x for k, x in rates.items() if x is not None}


def _table_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    # Uncovered non-empty tables show as zero bars: the gap is what a reader looks for.
    tables = stats.get("tables", {})
    per_table = dict(tables.get("per_table", {}))
    for name in tables.get("non_empty", []):
        if name not in per_table and name.rsplit(".", 1)[-1] not in per_table:
            per_table[name] = 0
    return per_table


CHARTS: tuple[tuple[str, Callable[[Mapping[str, Any]], Mapping[str, float]], str], ...] = (
    ("Samples per topic", lambda s: s.get("topics", {}), "{:,.0f}"),
    ("Samples per difficulty", lambda s: s.get("difficulty", {}), "{:,.0f}"),
    ("SQL features", lambda s: s.get("features", {}), "{:,.0f}"),
    (
        "Question shapes (samples per family)",
        lambda s: s.get("shapes", {}).get("achieved", {}),
        "{:,.0f}",
    ),
    ("Samples per table (non-empty tables, covered or not)", _table_counts, "{:,.0f}"),
    ("Validity, emptiness, coverage, diversity", _validity_rates, "{:.1%}"),
    ("Rejects by layer", lambda s: s.get("rejects", {}).get("by_layer", {}), "{:,.0f}"),
    ("Rejects by reason", lambda s: s.get("rejects", {}).get("by_reason", {}), "{:,.0f}"),
    ("Stage timings (seconds)", lambda s: s.get("timings", {}), "{:,.2f}"),
)

# The shape mix and the lint (quality_stats): one chart each, after the others.
CHARTS += (
    ("Query shapes (data_create.quality.shape)",
     lambda s: s.get("quality", {}).get("shapes", {}).get("mix", {}), "{:,.0f}"),
    ("Lint hits by rule (data_create.quality.lint)",
     lambda s: s.get("quality", {}).get("lint", {}).get("by_rule", {}), "{:,.0f}"),
)  # fmt: skip

# ---------------------------------------------------------------- markdown


def _plain(value: Any) -> str:
    """A run-table value as one line: nested dicts and lists as compact JSON."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def _prompt_rows(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The "Prompts" section: schema block kind, prompt length distribution, coverage."""
    export = (stats.get("run") or {}).get("export") or {}
    lengths = export.get("prompt_tokens") or {}
    if not lengths.get("n"):
        return []
    rows = [("schema context", str(export.get("schema_context", "none")))]
    rows.append(
        (
            "prompt tokens (system + user, estimated)",
            f"min {lengths['min']}, p50 {lengths['p50']}, p90 {lengths['p90']}, "
            f"max {lengths['max']}, mean {lengths['mean']}",
        )
    )
    if export.get("tables_covered") is not None:
        rows.append(
            (
                "prompts holding every table their SQL reads",
                f"{export['tables_covered']} of {lengths['n']}",
            )
        )
    return rows


def render_markdown(stats: Mapping[str, Any]) -> str:
    out = ["# NL2SQL generation report", ""]
    run = stats.get("run", {})
    if run:
        rows = ((k, _plain(v)) for k, v in run.items())
        out += ["## Run", "", *_md_table(("key", "value"), rows), ""]
    for title, get, fmt in CHARTS:
        data = get(stats)
        out += [f"## {title}", ""]
        if data:
            out += _md_table(("name", "value"), ((k, fmt.format(v)) for k, v in data.items()))
        else:
            out.append("(none)")
        out.append("")
    shapes = stats.get("shapes", {})
    if shapes.get("share"):
        target = shapes.get("target", {})
        out += [
            "## Shape mix: achieved vs target",
            "",
            *_md_table(
                ("family", "samples", "share", "target"),
                (
                    (f, shapes["achieved"].get(f, 0), f"{share:.1%}",
                     f"{target[f]:.1%}" if f in target else "")
                    for f, share in shapes["share"].items()
                ),
            ),
            "",
        ]  # fmt: skip
    tables = stats.get("tables", {})
    if tables:
        uncovered = [t for t in tables.get("non_empty", []) if t not in tables.get("covered", [])]
        out += [
            "## Table coverage",
            "",
            f"{tables.get('non_empty_covered', 0)} of {len(tables.get('non_empty', []))} "
            f"non-empty tables covered.",
            "",
        ]
        if uncovered:
            out += ["Not covered: " + ", ".join(_md_cell(t) for t in uncovered), ""]
    out += _links_markdown(stats.get("links") or {})
    prompts = _prompt_rows(stats)
    if prompts:
        out += ["## Prompts", "", *_md_table(("what", "value"), prompts), ""]
    return "\n".join(out)


def _links_markdown(links: Mapping[str, Any]) -> list[str]:
    if not links.get("verified") and not links.get("rejected"):
        return []
    out = [
        "## Joins",
        "",
        f"{links.get('declared', 0)} declared foreign keys; {len(links.get('verified', []))} "
        f"joins implied by column names and confirmed by the data; "
        f"{len(links.get('rejected', []))} guesses the data refuted (not used).",
        "",
    ]
    rows = [(x["link"], "kept", f"{x['coverage']:.0%} of values found") for x in links["verified"]]
    rows += [(x["link"], "rejected", x["reason"]) for x in links.get("rejected", [])]
    return out + _md_table(("join", "decision", "why"), rows) + [""]


# ---------------------------------------------------------------- html


def render_html(stats: Mapping[str, Any]) -> str:
    esc = html.escape
    body = ["<h1>NL2SQL generation report</h1>"]
    run = stats.get("run", {})
    if run:
        body.append("<h2>Run</h2>\n<table>")
        body += [
            f"<tr><th>{esc(str(k))}</th><td>{esc(_plain(v))}</td></tr>" for k, v in run.items()
        ]
        body.append("</table>")
    for title, get, fmt in CHARTS:
        body += [f"<h2>{esc(title)}</h2>", svg_bar_chart(title, get(stats), fmt)]
    links = stats.get("links") or {}
    if links.get("verified") or links.get("rejected"):
        body.append("<h2>Joins implied by column names</h2>\n<table>")
        body.append("<tr><th>join</th><th>decision</th><th>why</th></tr>")
        for x in links.get("verified", []):
            body.append(
                f"<tr><td>{esc(x['link'])}</td><td>kept</td>"
                f"<td>{x['coverage']:.0%} of values found</td></tr>"
            )
        for x in links.get("rejected", []):
            body.append(
                f"<tr><td>{esc(x['link'])}</td><td>rejected</td><td>{esc(x['reason'])}</td></tr>"
            )
        body.append("</table>")
    prompts = _prompt_rows(stats)
    if prompts:
        body.append("<h2>Prompts</h2>\n<table>")
        body += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in prompts]
        body.append("</table>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>NL2SQL generation report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_reports(out_dir: str | os.PathLike[str], stats: Mapping[str, Any]) -> None:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "report.json": json.dumps(stats, ensure_ascii=False, indent=2, default=str) + "\n",
        "report.md": render_markdown(stats),
        "report.html": render_html(stats),
    }
    for name, text in texts.items():
        rundir.write_text(out / name, text)
