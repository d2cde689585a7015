"""The evaluation report: numbers per category, and the files that show them.

:func:`build` turns per-sample results into one JSON-able dict (overall, by difficulty,
topic, SQL feature and database, text metrics, verdict counts); :func:`write` puts it in
``eval_report.json``/``.md``/``.html`` beside ``eval_samples.jsonl``/``.csv``;
:func:`compare` lines two reports up metric by metric.  Charts come from
:func:`data_create.report.svg_bar_chart`, the project's one chart.

Rates are percentages (0-100, like LLaMA-Factory's scores); ``None`` where the metric was
not computed or has no denominator.
"""

from __future__ import annotations

import csv
import html
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_create import rundir
from data_create.errors import ConfigError
from data_create.report_parts import CSS, md_table, svg_bar_chart


@dataclass(frozen=True)
class SampleResult:
    """Everything known about one evaluated sample; one line of the per-sample files.

    Defined here, with the files it becomes, so the report needs nothing from
    ``eval_model`` (which builds these).
    """

    id: str
    database: str
    difficulty: str
    topic: str
    features: tuple[str, ...]
    question: str
    gold_sql: str
    prediction: str  # the model's raw answer
    pred_sql: str  # the SQL extracted from it
    exact_match: bool | None  # None: text match not evaluated
    token_f1: float | None
    syntax_valid: bool
    executed: bool | None = None  # None: execution not evaluated
    exec_success: bool | None = None
    correct: bool | None = None
    gold_empty: bool | None = None
    verdict: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["features"] = list(self.features)
        return d


GROUPS = (
    ("difficulty", "by_difficulty"),
    ("topic", "by_topic"),
    ("feature", "by_feature"),
    ("database", "by_database"),
)
# (key, label) of each per-category number, in report order.
METRICS = (
    ("count", "samples"),
    ("exact_match", "exact match %"),
    ("token_f1", "token F1 %"),
    ("syntax_valid", "syntax valid %"),
    ("exec_success", "exec success %"),
    ("execution_accuracy", "execution accuracy %"),
    ("execution_accuracy_nonempty", "exec acc. w/o empty gold %"),
    ("empty_gold", "empty gold"),
    ("gold_errors", "gold errors"),
)
TEXT_METRICS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l", "corpus_bleu")
SAMPLE_COLUMNS = (
    "id",
    "database",
    "difficulty",
    "topic",
    "features",
    "question",
    "gold_sql",
    "prediction",
    "pred_sql",
    "exact_match",
    "token_f1",
    "syntax_valid",
    "executed",
    "exec_success",
    "correct",
    "gold_empty",
    "verdict",
    "reason",
)


def _pct(num: float, den: int) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def block(samples: Sequence[SampleResult], text_match: bool = True) -> dict[str, Any]:
    """The numbers of one category."""
    n = len(samples)
    out: dict[str, Any] = {"count": n}
    if text_match:
        out["exact_match"] = _pct(sum(s.exact_match for s in samples), n)
        out["token_f1"] = _pct(sum(s.token_f1 for s in samples), n)
    out["syntax_valid"] = _pct(sum(s.syntax_valid for s in samples), n)
    judged = [s for s in samples if s.verdict is not None]
    if judged:
        scored = [s for s in judged if s.verdict != "gold_error"]
        nonempty = [s for s in scored if not s.gold_empty]
        out.update(
            exec_success=_pct(sum(bool(s.exec_success) for s in judged), len(judged)),
            execution_accuracy=_pct(sum(bool(s.correct) for s in scored), len(scored)),
            execution_accuracy_nonempty=_pct(sum(bool(s.correct) for s in nonempty), len(nonempty)),
            empty_gold=sum(bool(s.gold_empty) for s in scored),
            gold_errors=len(judged) - len(scored),
        )
    return out


def build(
    samples: Sequence[SampleResult],
    *,
    text_scores: Mapping[str, float] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as a dict (what ``eval_report.json`` holds)."""
    text_match = bool((run or {}).get("text_match", True))
    groups: dict[str, dict[str, list[SampleResult]]] = {key: defaultdict(list) for _, key in GROUPS}
    for s in samples:
        groups["by_difficulty"][s.difficulty or "(none)"].append(s)
        groups["by_topic"][s.topic or "(none)"].append(s)
        groups["by_database"][s.database or "(none)"].append(s)
        for f in s.features or ("(none)",):
            groups["by_feature"][f].append(s)
    report: dict[str, Any] = {
        "format": "nl2sql-factory/eval",
        "version": 1,
        "run": dict(run or {}),
        "overall": block(samples, text_match),
        "text": {k: round(float(v), 4) for k, v in (text_scores or {}).items()},
        "verdicts": dict(Counter(s.verdict for s in samples if s.verdict).most_common()),
    }
    for _, key in GROUPS:
        members = groups[key]
        report[key] = {
            name: block(members[name], text_match)
            for name in sorted(members, key=lambda k: (-len(members[k]), k))
        }
    return report


# ---------------------------------------------------------------- rendering


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _columns(blocks: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    present = {k for b in blocks for k in b}
    return [(k, label) for k, label in METRICS if k in present]


def _headline(report: Mapping[str, Any]) -> str:
    """The metric the charts show: execution accuracy when executed, else exact match."""
    return "execution_accuracy" if "execution_accuracy" in report["overall"] else "exact_match"


def render_markdown(report: Mapping[str, Any]) -> str:
    out = ["# NL2SQL evaluation report", ""]
    run = report.get("run", {})
    if run:
        out += ["## Run", "", *md_table(("key", "value"), run.items()), ""]
    overall = report["overall"]
    out += [
        "## Overall",
        "",
        *md_table(
            ("metric", "value"), ((label, _fmt(overall[k])) for k, label in _columns([overall]))
        ),
        "",
    ]
    if report.get("text"):
        out += [
            "## Text metrics",
            "",
            *md_table(("metric", "value"), ((k, _fmt(v)) for k, v in report["text"].items())),
            "",
        ]
    if report.get("verdicts"):
        out += [
            "## Verdicts",
            "",
            *md_table(("verdict", "samples"), report["verdicts"].items()),
            "",
        ]
    for name, key in GROUPS:
        blocks = report.get(key) or {}
        if not blocks:
            continue
        cols = _columns(blocks.values())
        rows = ((cat, *(_fmt(b.get(k)) for k, _ in cols)) for cat, b in blocks.items())
        out += [f"## By {name}", "", *md_table((name, *(label for _, label in cols)), rows), ""]
    return "\n".join(out)


def render_html(report: Mapping[str, Any]) -> str:
    esc = html.escape
    headline = _headline(report)
    label = dict(METRICS)[headline]
    body = ["<h1>NL2SQL evaluation report</h1>"]

    def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        body.append("<table>")
        body.append("<tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in header) + "</tr>")
        for row in rows:
            body.append("<tr>" + "".join(f"<td>{esc(_fmt(c))}</td>" for c in row) + "</tr>")
        body.append("</table>")

    if report.get("run"):
        body.append("<h2>Run</h2>")
        table(("key", "value"), report["run"].items())
    overall = report["overall"]
    body.append("<h2>Overall</h2>")
    table(("metric", "value"), ((lbl, overall[k]) for k, lbl in _columns([overall])))
    if report.get("text"):
        body.append("<h2>Text metrics</h2>")
        body.append(svg_bar_chart("Text metrics", report["text"], "{:.2f}"))
    if report.get("verdicts"):
        body.append("<h2>Verdicts</h2>")
        body.append(svg_bar_chart("Verdicts", report["verdicts"]))
    for name, key in GROUPS:
        blocks = report.get(key) or {}
        if not blocks:
            continue
        body.append(f"<h2>By {esc(name)}</h2>")
        data = {cat: b.get(headline) or 0.0 for cat, b in blocks.items()}
        body.append(svg_bar_chart(f"{label} by {name}", data, "{:.1f}"))
        cols = _columns(blocks.values())
        table(
            (name, *(lbl for _, lbl in cols)),
            ((cat, *(b.get(k) for k, _ in cols)) for cat, b in blocks.items()),
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>NL2SQL evaluation report</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    o = report["overall"]
    lines = [f"{o['count']} samples"]
    for k, lbl in _columns([o])[1:]:
        lines.append(f"  {lbl:<28} {_fmt(o[k])}")
    for k, v in report.get("text", {}).items():
        lines.append(f"  {k:<28} {_fmt(v)}")
    if report.get("verdicts"):
        lines.append("  verdicts: " + ", ".join(f"{k} {v}" for k, v in report["verdicts"].items()))
    return lines


# ---------------------------------------------------------------- files


def _atomic_write(path: Path, text: str) -> None:
    # A lone surrogate in a model's answer cannot be encoded as UTF-8; written as its
    # \\udXXX escape it stays readable (and is the same string again inside JSON).
    rundir.write_text(path, text, errors="backslashreplace")


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(map(str, value))
    return "" if value is None else value


def write(
    out_dir: str | os.PathLike[str], report: Mapping[str, Any], samples: Sequence[SampleResult]
) -> dict[str, str]:
    """Write the report files and the per-sample JSONL/CSV; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [s.to_dict() for s in samples]
    files = {
        "json": out / "eval_report.json",
        "md": out / "eval_report.md",
        "html": out / "eval_report.html",
        "jsonl": out / "eval_samples.jsonl",
        "csv": out / "eval_samples.csv",
    }
    _atomic_write(files["json"], json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    _atomic_write(files["md"], render_markdown(report))
    _atomic_write(files["html"], render_html(report))
    _atomic_write(files["jsonl"], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    with rundir.atomic_open(files["csv"], errors="backslashreplace", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _csv_value(r.get(k)) for k in SAMPLE_COLUMNS})
    return {k: str(v) for k, v in files.items()}


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"report {p} does not exist")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p} is not JSON ({exc.msg})") from None
    if not isinstance(report, dict) or "overall" not in report:
        raise ConfigError(f"{p} is not an eval_report.json")
    return report


# ---------------------------------------------------------------- compare


def _delta(a: Any, b: Any) -> dict[str, Any]:
    d = round(b - a, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None
    return {"a": a, "b": b, "delta": d}


def compare(
    a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, str] = ("A", "B")
) -> dict[str, Any]:
    """Metric by metric, category by category: ``{"a", "b", "delta"}`` (delta = b - a)."""
    keys = [k for k, _ in METRICS]
    out: dict[str, Any] = {"names": list(names)}
    out["overall"] = {
        k: _delta(a["overall"].get(k), b["overall"].get(k))
        for k in keys
        if k in a["overall"] or k in b["overall"]
    }
    text_keys = list(dict.fromkeys([*a.get("text", {}), *b.get("text", {})]))
    out["text"] = {k: _delta(a.get("text", {}).get(k), b.get("text", {}).get(k)) for k in text_keys}
    for _, key in GROUPS:
        ga, gb = a.get(key) or {}, b.get(key) or {}
        cats = list(dict.fromkeys([*ga, *gb]))
        out[key] = {
            cat: {
                k: _delta(ga.get(cat, {}).get(k), gb.get(cat, {}).get(k))
                for k in keys
                if k in ga.get(cat, {}) or k in gb.get(cat, {})
            }
            for cat in cats
        }
    return out


def render_compare_markdown(c: Mapping[str, Any]) -> str:
    a_name, b_name = c["names"]
    labels = dict(METRICS)

    def rows(metrics: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[str, ...]]:
        for k, v in metrics.items():
            d = v["delta"]
            sign = "" if d is None else f"{d:+.2f}"
            yield labels.get(k, k), _fmt(v["a"]), _fmt(v["b"]), sign

    header = ("metric", "A", "B", "delta (B - A)")
    out = ["# NL2SQL evaluation comparison", "", f"A = {a_name}", f"B = {b_name}", ""]
    out += ["## Overall", "", *md_table(header, rows(c["overall"])), ""]
    if c.get("text"):
        out += ["## Text metrics", "", *md_table(header, rows(c["text"])), ""]
    for name, key in GROUPS:
        for cat, metrics in (c.get(key) or {}).items():
            out += [f"## {name}: {cat}", "", *md_table(header, rows(metrics)), ""]
    return "\n".join(out)


def write_compare(out_dir: str | os.PathLike[str], c: Mapping[str, Any]) -> dict[str, str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "eval_compare.json", "md": out / "eval_compare.md"}
    _atomic_write(files["json"], json.dumps(c, ensure_ascii=False, indent=2) + "\n")
    _atomic_write(files["md"], render_compare_markdown(c))
    return {k: str(v) for k, v in files.items()}
