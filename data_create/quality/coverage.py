"""How well a generated set covers the shapes of a human question set.

>>> human = ["SELECT name FROM a", "SELECT COUNT(*) FROM a WHERE x = 1",
...          "SELECT COUNT(*) FROM a WHERE y = 2", "SELECT x FROM a ORDER BY y LIMIT 1"]
>>> generated = ["SELECT title FROM b", "SELECT COUNT(*) FROM b WHERE z > 3"]
>>> c = coverage(human, generated)
>>> c.shapes_covered, c.shapes_total, c.questions_covered, c.questions_total
(2, 3, 3, 4)
>>> c.shape_share, c.question_share
(0.6667, 0.75)
>>> c.missing
{'t1+argmax': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .shape import shape_key


@dataclass(frozen=True)
class Coverage:
    """Coverage of human shapes by generated shapes.

    ``missing``: human shape keys absent from the generated set, with how many human
    questions have each (most first); ``generated``: the generated set's shape mix.
    """

    shapes_total: int
    shapes_covered: int
    questions_total: int
    questions_covered: int
    missing: dict[str, int] = field(default_factory=dict)
    generated: dict[str, int] = field(default_factory=dict)

    @property
    def shape_share(self) -> float | None:
        """Share of the human set's distinct shapes present in the generated set."""
        return round(self.shapes_covered / self.shapes_total, 4) if self.shapes_total else None

    @property
    def question_share(self) -> float | None:
        """Share of human questions whose shape is present in the generated set."""
        if not self.questions_total:
            return None
        return round(self.questions_covered / self.questions_total, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shapes_total": self.shapes_total,
            "shapes_covered": self.shapes_covered,
            "shape_share": self.shape_share,
            "questions_total": self.questions_total,
            "questions_covered": self.questions_covered,
            "question_share": self.question_share,
            "missing": dict(self.missing),
        }


def shape_counts(sqls: Iterable[str], dialect: str | None = None) -> Counter[str]:
    """How many queries have each shape key."""
    return Counter(shape_key(s, dialect) for s in sqls)


def coverage_of_counts(human: Mapping[str, int], generated: Mapping[str, int]) -> Coverage:
    """:func:`coverage` from shape counts already computed (``{key: queries}``)."""
    present = {k for k, n in generated.items() if n > 0}
    missing = {k: n for k, n in human.items() if k not in present}
    return Coverage(
        shapes_total=len(human),
        shapes_covered=len(human) - len(missing),
        questions_total=sum(human.values()),
        questions_covered=sum(n for k, n in human.items() if k in present),
        missing=dict(sorted(missing.items(), key=lambda kv: (-kv[1], kv[0]))),
        generated=dict(sorted(generated.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def coverage(
    human_sqls: Iterable[str],
    generated_sqls: Iterable[str],
    dialect: str | None = None,
    generated_dialect: str | None = None,
) -> Coverage:
    """Coverage of the human queries' shapes (one query per question: its canonical gold)
    by the generated queries' shapes; ``generated_dialect`` defaults to ``dialect``."""
    return coverage_of_counts(
        shape_counts(human_sqls, dialect),
        shape_counts(generated_sqls, generated_dialect or dialect),
    )
