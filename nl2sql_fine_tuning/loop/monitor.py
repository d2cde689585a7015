"""Monitoring: the agent's request log summarised over time and per model version.

Reads one or more request logs (``<agent state dir>/requests.jsonl``, one line per
answer: ``at``, ``status``, ``latency_ms``, ``repairs``, ``model_version``, ...; see
``nl2sql_agent.request_log``) and, optionally, the feedback store, and reports per time
bucket and per model version: requests, latency p50/p95, error, empty, clarify and
repair rates, feedback (up / down / corrected) and the share of judged answers users
accepted.  ``report.html`` draws each series with :func:`data_create.report.svg_bar_chart`
(one bar per bucket, oldest first); ``report.json`` holds every number.

Nothing from the questions or results leaves the log: the report holds counts and
timings only.
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

from .home import read_jsonl

_FORMATS = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}


def _when(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile.

    >>> percentile([10, 20, 30, 40], 50), percentile([10, 20, 30, 40], 95)
    (20, 40)
    """
    if not values:
        return None
    s = sorted(values)
    rank = max(1, -(-len(s) * q // 100))
    return s[int(rank) - 1]


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    latency = [float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None]
    status = defaultdict(int)
    for r in rows:
        status[r.get("status") or ("failed" if r.get("error") else "ok")] += 1
    repaired = sum(1 for r in rows if (r.get("repairs") or 0) > 0)

    def rate(k: int) -> float | None:
        return round(k / n, 4) if n else None

    return {
        "requests": n,
        "latency_p50_ms": percentile(latency, 50),
        "latency_p95_ms": percentile(latency, 95),
        "error_rate": rate(status["failed"]),
        "empty_rate": rate(status["empty"]),
        "clarify_rate": rate(status["clarify"]),
        "repair_rate": rate(repaired),
        "status": dict(status),
    }


def _feedback_rows(path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    if not path:
        return []
    from nl2sql_agent.feedback import FeedbackStore

    if not Path(path).is_file():
        raise ConfigError(f"feedback store {path} does not exist")
    store = FeedbackStore(path)
    try:
        return store.all(limit=10**9)
    finally:
        store.close()


def _feedback_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = defaultdict(int)
    for r in rows:
        counts[r["verdict"]] += 1
    judged = sum(counts.values())
    return {
        "up": counts["up"],
        "down": counts["down"],
        "corrected": counts["corrected"],
        "accepted_share": round(counts["up"] / judged, 4) if judged else None,
    }


def build(
    request_logs: Iterable[str | os.PathLike[str]],
    *,
    bucket: str = "hour",
    feedback: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The report as a dict (see the module docstring)."""
    if bucket not in _FORMATS:
        raise ConfigError(f"unknown bucket {bucket!r}", "use minute, hour or day")
    rows: list[dict[str, Any]] = []
    for path in request_logs:
        if not Path(path).is_file():
            raise ConfigError(f"request log {path} does not exist")
        rows += read_jsonl(Path(path))
    fmt = _FORMATS[bucket]
    by_bucket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    undated = 0
    for r in rows:
        when = _when(r.get("at"))
        if when is None:
            undated += 1
        else:
            by_bucket[when.strftime(fmt)].append(r)
        by_version[r.get("model_version") or "(none)"].append(r)
    fb = _feedback_rows(feedback)
    fb_bucket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fb_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in fb:
        when = _when(r.get("created_at"))
        if when is not None:
            fb_bucket[when.strftime(fmt)].append(r)
        fb_version[r.get("model_version") or "(none)"].append(r)
    buckets = sorted(set(by_bucket) | set(fb_bucket))
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bucket": bucket,
        "total": _stats(rows) | {"feedback": _feedback_stats(fb)},
        "undated": undated,
        "over_time": {
            b: _stats(by_bucket[b]) | {"feedback": _feedback_stats(fb_bucket[b])} for b in buckets
        },
        "by_version": {
            v: _stats(by_version[v]) | {"feedback": _feedback_stats(fb_version[v])}
            for v in sorted(set(by_version) | set(fb_version))
        },
    }


# (title, key in a stats dict, value format); percentages drawn as 0-100.
SERIES = (
    ("Requests", "requests", "{:,.0f}"),
    ("Latency p50 (ms)", "latency_p50_ms", "{:,.0f}"),
    ("Latency p95 (ms)", "latency_p95_ms", "{:,.0f}"),
    ("Errors (% of requests)", "error_rate", "{:.1f}%"),
    ("Repaired (% of requests)", "repair_rate", "{:.1f}%"),
    ("Empty results (% of requests)", "empty_rate", "{:.1f}%"),
)


def _series(groups: dict[str, dict[str, Any]], key: str) -> dict[str, float]:
    out = {}
    for label, stats in groups.items():
        value = stats.get(key)
        if value is None:
            continue
        out[label] = value * 100 if key.endswith("_rate") else value
    return out


def render_html(report: dict[str, Any]) -> str:
    from data_create.report import _CSS, svg_bar_chart

    esc = html.escape
    body = [
        "<h1>NL2SQL agent monitoring</h1>",
        f"<p>{report['total']['requests']} requests; bucket: {esc(report['bucket'])}; "
        f"generated {esc(report['generated_at'])}</p>",
    ]
    for scope, title in (("over_time", "over time"), ("by_version", "per model version")):
        body.append(f"<h2>{esc(title.capitalize())}</h2>")
        for name, key, fmt in SERIES:
            body.append(f"<h3>{esc(name)} {esc(title)}</h3>")
            body.append(svg_bar_chart(f"{name} {title}", _series(report[scope], key), fmt))
        feedback = {
            k: v["feedback"]["up"] + v["feedback"]["down"] + v["feedback"]["corrected"]
            for k, v in report[scope].items()
        }
        body.append(f"<h3>Feedback {esc(title)}</h3>")
        body.append(svg_bar_chart(f"Feedback {title}", feedback))
        accepted = {
            k: v["feedback"]["accepted_share"] * 100
            for k, v in report[scope].items()
            if v["feedback"]["accepted_share"] is not None
        }
        body.append(f"<h3>Accepted by users (% of judged answers) {esc(title)}</h3>")
        body.append(svg_bar_chart(f"Accepted {title}", accepted, "{:.1f}%"))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>NL2SQL agent monitoring</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "monitor.json", "html": out / "monitor.html"}
    texts = {
        "json": json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n",
        "html": render_html(report),
    }
    for key, path in paths.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(texts[key], encoding="utf-8")
        os.replace(tmp, path)
    return {k: str(v) for k, v in paths.items()}


def summary_lines(report: dict[str, Any]) -> list[str]:
    def row(label: str, s: dict[str, Any]) -> str:
        def pct(v: Any) -> str:
            return "-" if v is None else f"{v * 100:.1f}%"

        def ms(v: Any) -> str:
            return "-" if v is None else f"{v:.0f}"

        fb = s["feedback"]
        return (
            f"{label:<18} {s['requests']:>7} {ms(s['latency_p50_ms']):>7} "
            f"{ms(s['latency_p95_ms']):>7} {pct(s['error_rate']):>7} "
            f"{pct(s['repair_rate']):>7} {pct(s['empty_rate']):>7} "
            f"{fb['up']:>4}/{fb['down']}/{fb['corrected']}"
        )

    head = (
        f"{'':<18} {'reqs':>7} {'p50 ms':>7} {'p95 ms':>7} {'errors':>7} "
        f"{'repair':>7} {'empty':>7} feedback up/down/corrected"
    )
    lines = [head, row("all", report["total"])]
    lines += [row(f"version {v}", s) for v, s in report["by_version"].items()]
    lines.append(f"over time ({report['bucket']}):")
    lines += [row(b, s) for b, s in report["over_time"].items()]
    return lines
