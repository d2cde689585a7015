"""Chart choice on the fixture set, every spec against the Vega-Lite schema, SVG rendering,
and the feedback store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from nl2sql_agent import charts
from nl2sql_agent.feedback import SCHEMA_VERSION, FeedbackStore

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "charts").glob("*.json"))


def load(path: Path) -> dict:
    case = json.loads(path.read_text(encoding="utf-8"))
    case["rows"] = [tuple(r) for r in case["rows"]]
    return case


def test_the_fixture_set_covers_every_kind():
    kinds = {load(p)["expected"] for p in FIXTURES}
    assert kinds == set(charts.KINDS)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_chart_choice_and_every_option_validates(path):
    case = load(path)
    choice = charts.choose(case["columns"], case["rows"], case["question"])
    assert choice.kind == case["expected"], choice.reason
    assert choice.options[0] == choice.kind
    for kind in choice.options:
        spec = charts.build_spec(case["columns"], case["rows"], kind, case["question"])
        if kind == "table":
            assert spec is None
            continue
        assert spec is not None, kind
        assert charts.validate_spec(spec) == [], kind
        json.dumps(spec)  # plain JSON, no Python objects


def test_an_invalid_spec_is_reported():
    errors = charts.validate_spec({"mark": "bars", "data": {"values": []}})
    assert errors and any("mark" in e for e in errors)


def test_awkward_column_names_and_big_results():
    columns = ("a.b", "x[0]")
    rows = tuple((f"k{i}", i) for i in range(10_000))
    spec = charts.build_spec(columns, rows, "bar", "q")
    assert len(spec["data"]["values"]) == charts.MAX_BARS
    assert spec["title"].endswith(f"(first {charts.MAX_BARS} of 10,000 rows)")
    assert spec["encoding"]["x"] == {"field": "c0", "type": "nominal", "title": "a.b", "sort": None}
    assert charts.validate_spec(spec) == []


def test_svg_rendering_of_each_kind():
    render = pytest.importorskip("nl2sql_agent.render")
    pytest.importorskip("vl_convert")
    seen = set()
    for path in FIXTURES:
        case = load(path)
        if case["expected"] in seen or case["expected"] == "table":
            continue
        seen.add(case["expected"])
        spec = charts.build_spec(case["columns"], case["rows"], case["expected"], case["question"])
        svg = render.to_svg(spec)
        assert svg.startswith("<svg") and "</svg>" in svg
    assert seen == {"bar", "line", "pie", "scatter", "figure"}


def test_feedback_store_schema_and_round_trip(tmp_path):
    path = tmp_path / "state" / "feedback.sqlite"
    store = FeedbackStore(path)
    first = store.add(question="q", sql="SELECT 1", verdict="down", model="m", result_hash="h")
    store.add(
        question="q", sql="SELECT 1", verdict="corrected", corrected_sql="SELECT 2",
        model="m", model_version="run-7",
    )  # fmt: skip
    assert store.get(first)["verdict"] == "down" and store.get(first)["created_at"]
    assert store.counts() == {"corrected": 1, "down": 1}
    assert [r["verdict"] for r in store.all()] == ["corrected", "down"]
    with pytest.raises(ValueError):
        store.add(question="q", verdict="meh")
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        FeedbackStore(path)
