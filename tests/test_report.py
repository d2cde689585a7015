"""Reports: the stats shape, and report.json / report.md / report.html as files a person reads."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from data_create import report
from data_create.records import SQL_FEATURES, Plan, Sample, SchemaMetadata, Table, Topic

METADATA = SchemaMetadata(
    engine="sqlite",
    dialect="sqlite",
    database="shop",
    tables=(
        Table("orders", row_count=800),
        Table("customers", row_count=50),
        Table("audit_log", row_count=0),
        Table("regions", row_count=7),
    ),
)

HOSTILE = "<script>alert('x')</script> & | pipe"


def sample(i, topic, tables, difficulty, features, empty=False, sql=None, **validation):
    return Sample(
        id=f"s{i}",
        question=f"q{i}",
        sql=sql or f"SELECT {i} FROM orders",
        dialect="sqlite",
        database="shop",
        topic=topic,
        tables=tables,
        difficulty=difficulty,
        features=features,
        language="zh" if i % 2 else "en",
        generator="synth/1",
        validation=validation or {"rows": 0 if empty else 3, "empty": empty, "truncated": False},
        created_at="2026-01-01T00:00:00Z",
    )


SAMPLES = [
    sample(0, "sales", ("orders",), "easy", ("count", "filter")),
    sample(1, "sales", ("orders", "customers"), "medium", ("join", "group_by", "aggregate")),
    sample(2, HOSTILE, ("customers",), "hard", ("window",), empty=True),
    sample(3, "sales", ("orders",), "easy", ("count",), sql="SELECT 0 FROM orders"),
    sample(4, "sales", ("orders",), "easy", ("count",), executed=False),
]
PLAN = Plan(
    (
        Topic("sales", ("orders",), "r", 4, "sqlite"),
        Topic(HOSTILE, ("customers",), "r", 1, "sqlite"),
    )
)


def literal_skeleton(sql: str, dialect: str) -> str:
    # Stands in for dedupe.skeleton: here every distinct text is its own shape.
    return sql


def stats() -> dict:
    return report.build_stats(
        SAMPLES,
        {"static": 3, "execute": 1, "dedupe": 2},
        {"unknown column": 2, HOSTILE: 1, "timeout": 1, "duplicate sql": 2},
        PLAN,
        METADATA,
        {"metadata": 0.5, "generate": 1.25, "validate": 0.25},
        {"dsn": "postgresql://bob:s3cret@127.0.0.1/shop", "seed": 7, "samples_requested": 6},
        skeleton=literal_skeleton,
    )


def test_build_stats_shape_and_numbers():
    s = stats()
    assert set(s) == {
        "run", "plan", "topics", "difficulty", "features", "languages", "generators",
        "tables", "validity", "rejects", "timings", "skeletons", "links", "quality", "shapes",
    }  # fmt: skip
    assert s["shapes"] == {"achieved": {}, "share": {}, "target": {}}  # no shape recorded
    assert "s3cret" not in json.dumps(s) and s["run"]["dsn"].startswith("postgresql://bob:")
    assert s["run"]["seed"] == 7 and s["run"]["samples_accepted"] == 5
    assert s["run"]["elapsed_s"] == 2.0 and s["run"]["samples_per_s"] == 2.5
    assert s["plan"] == {"sales": 4, HOSTILE: 1}
    assert s["topics"] == {"sales": 4, HOSTILE: 1}
    assert s["difficulty"] == {"easy": 3, "medium": 1, "hard": 1}
    assert list(s["features"]) == list(SQL_FEATURES)
    assert s["features"]["count"] == 3 and s["features"]["exists"] == 0
    assert s["languages"] == {"en": 3, "zh": 2}
    assert s["tables"]["per_table"] == {"orders": 4, "customers": 2}
    assert s["tables"]["covered"] == ["customers", "orders"]
    assert s["tables"]["non_empty"] == ["orders", "customers", "regions"]
    assert s["tables"]["non_empty_covered"] == 2
    assert s["tables"]["coverage"] == round(2 / 3, 4)
    assert s["validity"] == {
        "generated": 11, "valid": 5, "rejected": 6, "executed": 4, "empty": 1,
        "valid_rate": round(5 / 11, 4), "empty_rate": 0.25,
    }  # fmt: skip
    assert list(s["rejects"]["by_layer"]) == ["static", "dedupe", "execute"]  # largest first
    assert s["skeletons"] == {"distinct": 4, "samples": 5, "ratio": 0.8}
    assert s["quality"]["shapes"] == {"distinct": 1, "mix": {"t1": 5}}
    assert s["quality"]["lint"]["hits"] == 0 and s["quality"]["lint"]["samples"] == 5
    json.dumps(s)  # serialisable as is


def test_build_stats_of_nothing():
    s = report.build_stats([], {}, {}, None, METADATA, {}, {}, skeleton=literal_skeleton)
    assert s["validity"]["valid_rate"] is None and s["skeletons"]["ratio"] is None
    assert s["run"]["samples_per_s"] is None and s["plan"] == {}


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") or name.startswith("on"):
                self.errors.append(f"{tag} {name}={value}")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_write_reports_files(tmp_path):
    s = stats()
    report.write_reports(tmp_path / "out", s)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    assert json.loads((out / "report.json").read_text(encoding="utf-8")) == s

    md = (out / "report.md").read_text(encoding="utf-8")
    for title, _, _ in report.CHARTS:
        assert f"## {title}" in md
    assert "| sales | 4 |" in md
    assert "\\| pipe" in md  # a pipe in data cannot break the table
    assert "Not covered: regions" in md
    assert "| regions | 0 |" in md  # the table chart shows the gap
    assert "| audit_log |" not in md  # an empty table is no gap


def test_html_is_well_formed_self_contained_and_escaped(tmp_path):
    report.write_reports(tmp_path, stats())
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    parser = Collector()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []  # every element closed
    assert parser.tags.count("svg") == len(report.CHARTS) == 11
    assert "script" not in parser.tags  # the hostile topic name stayed text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert any(HOSTILE in t for t in parser.text)  # ... and reads back as itself
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_chart_is_drawn_even_without_data(tmp_path):
    report.write_reports(tmp_path, {})
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    parser = Collector()
    parser.feed(page)
    assert parser.tags.count("svg") == len(report.CHARTS)
    assert page.count("no data") == len(report.CHARTS)


def test_chart_bars_scale_to_the_largest_value_and_cap_their_number():
    svg = report.svg_bar_chart("t", {"a": 10, "b": 5, "c": 0})
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [report._BAR_W, report._BAR_W / 2, 0.0]
    many = report.svg_bar_chart("t", {f"k{i}": i for i in range(report.MAX_BARS + 5)})
    assert many.count("<rect ") == report.MAX_BARS and "5 more in report.json" in many


def test_shape_mix_achieved_against_target():
    from dataclasses import replace

    from data_create.records import SHAPE_FAMILIES

    samples = [
        replace(sample(i, "sales", ("orders",), "easy", ("projection",)), shape=shape)
        for i, shape in enumerate(["listing", "listing", "argmax", "negation"])
    ]
    s = report.build_stats(
        samples, {}, {}, None, METADATA, {}, {}, skeleton=literal_skeleton,
        shape_mix={"listing": 2, "argmax": 1, "negation": 1},
    )  # fmt: skip
    assert list(s["shapes"]["achieved"]) == list(SHAPE_FAMILIES)
    assert s["shapes"]["achieved"]["listing"] == 2 and s["shapes"]["share"]["argmax"] == 0.25
    assert s["shapes"]["target"]["listing"] == 0.5 and s["shapes"]["target"]["group"] == 0
    md = report.render_markdown(s)
    assert "## Shape mix: achieved vs target" in md and "| listing | 2 | 50.0% | 50.0% |" in md
    assert "Question shapes" in report.render_html(s)
