"""The shape and sanity toolkit: shape keys, coverage, lint (fixtures as data)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from conftest import FIXTURES

from data_create.quality import coverage, lint, shape

SHAPES = json.loads((FIXTURES / "quality" / "shapes.json").read_text(encoding="utf-8"))
LINT = json.loads((FIXTURES / "quality" / "lint_samples.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("dialect", "sql", "key"), SHAPES, ids=[s[2] for s in SHAPES])
def test_shape_key(dialect, sql, key):
    assert shape.shape_key(sql, dialect) == key


def test_shape_ignores_names_literals_and_projection_width():
    a = "SELECT a.x, a.y, a.z FROM t a JOIN u b ON a.id = b.t_id WHERE b.k = 'v' LIMIT 3"
    b = "SELECT p.q FROM orders p JOIN items i ON p.id = i.o WHERE i.n > 7 LIMIT 100"
    assert (
        shape.shape_key(a, "postgres") == shape.shape_key(b, "postgres") == "t2+join+filter+limit"
    )


def test_shape_records_aggregate_functions():
    s = shape.shape("SELECT MAX(a), SUM(b), COUNT(DISTINCT c) FROM t", "postgres")
    assert s.aggregates == {"max", "sum", "count_distinct"}
    assert s.key == "t1+count_distinct+agg"


def test_coverage_counts_missing_shapes():
    human = [s[1] for s in SHAPES if s[0] == "postgres" and s[2] != "unparsed"]
    generated = human[:5]
    c = coverage.coverage(human, generated, "postgres")
    assert c.shapes_covered == 5 and c.shapes_total == len({shape.shape_key(h) for h in human})
    assert c.questions_covered == 5
    assert set(c.missing) == {shape.shape_key(h) for h in human[5:]}
    assert c.to_dict()["shape_share"] == round(5 / c.shapes_total, 4)


def test_coverage_of_nothing():
    c = coverage.coverage([], ["SELECT 1 FROM t"])
    assert c.shape_share is None and c.question_share is None


@dataclass(frozen=True)
class _StandIn:
    """The documented ColumnRole interface (ROLES_API.md), used only while
    data_create.roles has not landed; the real class replaces it when it has."""

    role: str
    additive: bool = False
    numeric_text: bool = False
    unique: bool = False

    can_aggregate = property(lambda self: self.role == "measure")
    can_sum = property(lambda self: self.role == "measure" and self.additive)
    can_rank = property(lambda self: self.role in ("measure", "date", "datetime", "year"))
    can_like = property(lambda self: self.role in ("label", "text"))


def _role_class():
    try:
        from data_create.roles import ColumnRole
    except ImportError:
        return _StandIn
    return ColumnRole


def _lookup():
    cls = _role_class()
    table = {tuple(k.split(".")): cls(**v) for k, v in LINT["roles"].items()}
    columns: dict[str, set[str]] = {}
    for t, c in table:
        columns.setdefault(t, set()).add(c)
    return (lambda t, c: table.get((t.lower(), c.lower()))), (lambda t: columns.get(t, set()))


@pytest.mark.parametrize("sample", LINT["samples"], ids=[s["id"] for s in LINT["samples"]])
def test_lint_rules_on_one_query(sample):
    roles, columns_of = _lookup()
    rules = {r for r, _ in lint.lint_sql(sample["sql"], "postgres", roles, columns_of)}
    rules |= set(lint.lint_question(sample["question"]))
    expected = set(sample["hits"]) - {"same_question"}
    assert rules == expected


def test_lint_samples_report():
    roles, columns_of = _lookup()
    samples = LINT["samples"]
    results = {"ok1": [(0,)], "ok2": [(None, None)], "ok3": [("a", 3)], "ok4": [(1,), (2,)]}
    report = lint.lint_samples(
        samples, dialect="postgres", roles=roles, results=results, columns_of=columns_of
    )
    expected = sum(len(s["hits"]) for s in samples)
    assert len(report.hits) == expected
    assert report.by_rule["same_question"] == 1
    assert report.flagged == sum(1 for s in samples if s["hits"])
    assert report.roles_checked
    assert (report.trivial, report.executed, report.trivial_share) == (2, 4, 0.5)
    d = report.to_dict()
    assert d["hits"] == expected and d["examples"]
    # Details name columns and rules, never the literals of the query.
    assert not any("%mw%" in h.detail or "2024" in h.detail for h in report.hits)


def test_lint_without_roles_runs_only_role_free_rules():
    report = lint.lint_samples(LINT["samples"], dialect="postgres")
    assert not report.roles_checked
    assert set(report.by_rule) <= {"contradiction", "template_tail", "same_question"}
    assert report.by_rule["contradiction"] == 2


@pytest.mark.parametrize(
    ("where", "contradiction"),
    [
        ("x = 1 AND x = 2", True),
        ("x = 1 AND y = 2", False),
        ("x > 5 AND x < 3", True),
        ("x >= 3 AND x <= 3", False),
        ("x > 3 AND x <= 3", True),
        ("x BETWEEN 9 AND 1", True),
        ("x = 'a' AND x <> 'a'", True),
        ("x IS NULL AND x = 4", True),
        ("x = 4 OR x = 5", False),
        ("5 < x AND x < 9", False),
        ("x = 10 AND x < 9", True),
    ],
)
def test_contradictions(where, contradiction):
    hits = lint.lint_sql(f"SELECT a FROM t WHERE {where}", "postgres")
    assert bool(hits) is contradiction


@pytest.mark.parametrize(
    ("sql", "fixed"),
    [
        (
            "SELECT g, COUNT(CASE WHEN city = 'A' THEN 1 END) FROM t WHERE city = 'B' GROUP BY g",
            True,
        ),
        (
            "SELECT g, AVG(CASE WHEN t.kind = 'x' THEN 1.0 ELSE 0 END) FROM t WHERE t.kind = 'x' "
            "GROUP BY g",
            True,
        ),
        (
            "SELECT g, COUNT(CASE WHEN city = 'A' THEN 1 END) FROM t WHERE kind = 'B' GROUP BY g",
            False,
        ),
        ("SELECT COUNT(CASE WHEN n < 1 THEN 1 END) FROM t WHERE n < 2", False),  # a range: a part
        ("SELECT CASE WHEN city = 'A' THEN 1 END FROM t WHERE city = 'B'", False),  # no aggregate
        # A distinct count of the fixed column is 1 in every group.
        ("SELECT g, COUNT(DISTINCT t.city) FROM t WHERE t.city = 'B' GROUP BY g", True),
        ("SELECT g, COUNT(DISTINCT city) FROM t WHERE city IN ('A', 'B') GROUP BY g", False),
        ("SELECT g, COUNT(DISTINCT city) FROM t WHERE kind = 'B' GROUP BY g", False),
    ],
)
def test_fixed_condition(sql, fixed):
    # A condition inside an aggregate on a column the WHERE fixes is true for every row
    # counted or for none: the figure is the row count, 100%, or 0.
    rules = {r for r, _ in lint.lint_sql(sql, "postgres")}
    assert ("fixed_condition" in rules) is fixed, rules


def test_lint_reads_roles_from_metadata():
    """Roles stored in metadata (data_create.roles.ColumnRole) drive the role rules."""
    from data_create.records import Column, SchemaMetadata, Table
    from data_create.roles import ColumnRole

    def col(name, role, **kw):
        return Column(name, "integer", "integer", role=ColumnRole(role, **kw))

    md = SchemaMetadata(
        engine="postgresql",
        dialect="postgres",
        database="shop",
        tables=(
            Table(
                "sale",
                schema="public",
                columns=(
                    col("id", "primary_key", unique=True),
                    col("update_by", "foreign_key"),
                    col("amount", "measure", additive=True),
                ),
                primary_key=("id",),
            ),
        ),
    )
    samples = [
        {"id": "a", "question": "Lowest updater?", "sql": "SELECT MIN(update_by) FROM sale"},
        {"id": "b", "question": "Total amount?", "sql": "SELECT SUM(s.amount) FROM public.sale s"},
    ]
    report = lint.lint_samples(samples, dialect="postgres", metadata=md)
    assert report.roles_checked
    assert [(h.sample_id, h.rule) for h in report.hits] == [("a", "aggregate_role")]


@pytest.mark.parametrize(
    ("question", "tail"),
    [
        ("Show the sales, sorted by amount, showing only the first 10.", True),
        ("列出订单，只显示前10条。", True),
        ("各门店的销售额（取前5个）", True),
        ("各渠道的订单数，结果按从高到低排序", True),
        ("Which 5 customers spent the most?", False),
        ("销售额最高的5个门店是哪些？", False),
    ],
)
def test_template_tails(question, tail):
    assert bool(lint.lint_question(question)) is tail
