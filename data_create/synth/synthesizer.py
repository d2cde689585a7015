"""``Synthesizer.candidates(topic)``: a deterministic stream of question/SQL candidates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from random import Random
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from ..errors import ConfigError
from ..records import DIFFICULTIES, Candidate, Column, SchemaMetadata, Table, Topic
from . import dialects
from .builder import Scope
from .questions import Phraser
from .shapes import SHAPES

GENERATOR = "synth/1"
DEFAULT_MIX = {"easy": 0.35, "medium": 0.4, "hard": 0.25}
# A topic whose tables give no shape for this many tries in a row is exhausted.
_MAX_MISSES = 200


def _dialect_name(dialect: str) -> str:
    name = Dialect.get_or_raise(dialect).__class__.__name__.lower()
    aliases = {"postgres": "postgres", "sqlite": "sqlite", "mysql": "mysql", "tsql": "tsql"}
    if name not in aliases:
        raise ConfigError(
            f"the synthesizer does not speak the {dialect} dialect",
            f"use one of {', '.join(dialects.DIALECTS)}",
        )
    return aliases[name]


class Synthesizer:
    """Builds candidates for one database from its metadata and real column values.

    ``values(table, column)`` gives real values of a column (the pipeline passes one
    backed by targeted DISTINCT queries); without it the metadata's samples are used.
    """

    def __init__(
        self,
        metadata: SchemaMetadata,
        *,
        dialect: str,
        language: str = "en",
        seed: int = 0,
        mix: dict[str, float] | None = None,
        values: Callable[[Table, Column], Sequence[Any]] | None = None,
    ):
        self.metadata = metadata
        self.dialect = _dialect_name(dialect)
        self.language = language
        self.phraser = Phraser(language)
        self.seed = seed
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(mix) - set(DIFFICULTIES))
        if unknown or not any(v > 0 for v in mix.values()) or any(v < 0 for v in mix.values()):
            raise ConfigError(
                f"bad difficulty mix {mix!r}",
                f"give non-negative weights for {', '.join(DIFFICULTIES)}",
            )
        self.mix = {d: float(mix.get(d, 0.0)) for d in DIFFICULTIES}
        self.values = values

    def _rng(self, topic: Topic) -> Random:
        digest = hashlib.sha256(f"{self.seed}\x00{topic.name}".encode()).digest()
        return Random(int.from_bytes(digest[:8], "big"))

    def candidates(self, topic: Topic) -> Iterator[Candidate]:
        """Up to ``50 * topic.count + 200`` candidates about ``topic``'s tables, in a fixed order
        for a given seed; the caller validates, dedupes and stops when it has enough."""
        rng = self._rng(topic)
        scope = Scope(self.metadata, topic.tables, self.dialect, self.values, self.language)
        if not scope.tables:
            return
        levels = [d for d in DIFFICULTIES if self.mix[d] > 0]
        weights = [self.mix[d] for d in levels]
        bound, made, misses = 50 * topic.count + 200, 0, 0
        while made < bound and misses < _MAX_MISSES:
            level = rng.choices(levels, weights)[0]
            # Try the level's shapes in a random order, so a topic without (say) foreign keys
            # still gets its share of that level from the shapes it can make.
            built = None
            for shape in rng.sample(SHAPES[level], len(SHAPES[level])):
                built = shape(scope, rng)
                if built is not None:
                    break
            if built is None:
                misses += 1
                continue
            misses = 0
            made += 1
            yield Candidate(
                question=self.phraser.question(built, rng),
                sql=_render(built.expression, self.dialect),
                topic=topic.name,
                tables=tuple(t.qualified_name for t in built.tables),
                difficulty=built.difficulty,
                features=tuple(sorted(set(built.features))),
                language=self.language,
                generator=GENERATOR,
            )


def _render(expression: exp.Expr, dialect: str) -> str:
    if dialect in dialects.NATIONAL_STRINGS:
        # SQL Server reads '北京' in the database's code page; N'北京' keeps it Unicode.
        for lit in list(expression.find_all(exp.Literal)):
            if lit.is_string and not lit.this.isascii():
                lit.replace(exp.National(this=lit.this))
    return expression.sql(dialect=dialect)
