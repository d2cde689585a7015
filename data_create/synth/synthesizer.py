"""``Synthesizer.candidates(topic)``: a deterministic stream of question/SQL candidates."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from random import Random
from typing import Any

from sqlglot import exp

from .. import engines
from ..errors import ConfigError, UnknownScheme
from ..features import level, tag_tree
from ..quality.shape import shape_of
from ..records import DIFFICULTIES, SHAPE_FAMILIES, Candidate, Column, SchemaMetadata, Table, Topic
from . import dialects, lookup, staging
from .builder import Built, Scope
from .families import DEFAULT_SHAPE_MIX, FAMILIES
from .questions import Phraser

GENERATOR = "synth/1"
DEFAULT_MIX = {"easy": 0.35, "medium": 0.4, "hard": 0.25}
# A topic whose tables give no new query for this many tries in a row is exhausted: it
# has no shape that fits, or every query it can make was made already.
_MAX_MISSES = 200
# A shape family whose recent draws bring almost nothing new has run out of questions on
# this topic: it is dropped from the topic's stream, so that a large request costs a few
# draws per kept sample rather than hundreds of repeats.  The yield is a moving average
# over about 1 / _YIELD_DECAY draws.
_YIELD_DECAY = 0.05
_MIN_YIELD = 0.1
# No one kind of question (structural shape key) takes more than this share of what the
# synthesizer yields, past a floor: cheap filtered listings would otherwise crowd out the
# joins, groups and rankings people ask most (13% of samples were ``t1+filter`` against
# 5% of human questions).  What goes over is set aside, and yielded only when its topic
# has nothing else new.  People's questions are spread thin over kinds (314 questions of
# the defog sets have 247 distinct shape keys per database, most of them asked once), so
# the cap is low, and lower the more a kind combines (by its number of tags: a plain or
# filtered listing may take 2.5%, a grouped, joined, filtered, ranked figure 0.4%): simple
# kinds are few and people ask each of them often.  Measured over two seeds on the 11 defog
# databases (bench_shapes.py), share of their kinds covered by 1,000 samples: one cap of 3%
# 75%, 1.2% 78%, 0.6% 83%, these tiers 82% -- and the tiers keep the bundled database's
# listings at 6% of a run where one 0.6% cap left them 2.5%.
_MAX_SHAPE_SHARE = (0.025, 0.025, 0.015, 0.006, 0.005, 0.004)
_SHAPE_FLOOR = 4
# A query of a kind (shape key) already made is a weaker pick than one not made yet, so it is
# compared with more queries before it is kept: first ``_LOOKS`` more of its own family, then,
# if it is still a repeat, ``_CROSS_LOOKS`` drawn from all the families by weight.  The kind
# made fewer times so far is kept; the others are set aside like those over the shape cap
# (yielded only when the topic runs out).  The rare combinations people ask once each (a
# grouped ratio of distinct counts through a join) come up more often in 1,000 samples.
# Families with few kinds (plain listings, counts) would lose nearly every cross look and
# fall far below their ``shape_mix`` share, so a family under ``_FLOOR`` of its share of
# the yield keeps its draw.  Pooled coverage of the defog human shapes, mean of seeds 1-4
# (bench_shapes.py): no look 80.1%; one look in the family 82.1%; plus two across families
# with the floor 84.2% (four: 84.5%); two across families with no floor 85.3%, but groups
# then took 35% of the bundled database's samples (18% asked for) and plain listings 3%
# (11% asked for), where with the floor they take 30% and 7%, as with one look in the
# family (28%, 8%).  Two looks in the family and five across (2026-12-01, seeds 1-8):
# 84.6% -> 85.9% (209.0 -> 212.25 of 247 shapes; more looks, or weighting the cross looks
# toward the families that still find new kinds, gained nothing more: what is still missed
# is built about once in 5,000-30,000 builds, or never).  The looks cost builds:
# generate-stage throughput, retail 380 -> 330, northwind 353 -> 246 samples/s
# (bench_generate.py, 2,000 samples, alternated twice on one machine) -- seconds on a
# 1,000-sample run, against hours of training on data that misses what people ask.
_LOOKS = 2
_CROSS_LOOKS = 5
_FLOOR = 0.75
# A topic keeps the first ``topic.count + _SET_ASIDE_SLACK`` queries it sets aside, not all
# of them: each is a whole tree, a topic sets aside about three per query it yields, and
# every topic's stream stays open until the run ends (the pipeline may come back to it),
# so 20,000 samples held 1.6 GB, half of it trees never read.  Only a topic that runs out
# reads its list, from the front, and then stops once the run has its count: on the 11
# defog databases (1,000 samples, seed 1) the most read was 193 entries (of a topic asked
# for 32), and the bundled database read none up to 8,000 samples.
_SET_ASIDE_SLACK = 400


class _SetAside:
    """The first ``limit`` queries a topic passed over, in the order they were set aside."""

    __slots__ = ("entries", "limit")

    def __init__(self, limit: int):
        self.entries: list[tuple[Built, str, str]] = []
        self.limit = limit

    def add(self, drawn: tuple[Built, str, str] | None) -> None:
        if drawn is not None and len(self.entries) < self.limit:
            self.entries.append(drawn)


def _cap(key: str, made: int) -> float:
    """How many samples of one shape key may be yielded once ``made`` have been.

    >>> _cap("t1+filter", 1000), _cap("t2+join+filter+count+group+top", 1000), _cap("t1", 10)
    (25.0, 4, 4)
    """
    share = _MAX_SHAPE_SHARE[min(key.count("+"), len(_MAX_SHAPE_SHARE) - 1)]
    return max(_SHAPE_FLOOR, share * made)


def check_shape_mix(mix: dict[str, float] | None) -> dict[str, float]:
    """The shape mix with every family, defaults for the ones not given; a one-line
    :class:`ConfigError` for unknown families or weights that are not numbers >= 0.

    >>> check_shape_mix({"negation": 0.2})["negation"]
    0.2
    >>> check_shape_mix(None)["listing"] == DEFAULT_SHAPE_MIX["listing"]
    True
    """
    given = dict(mix or {})
    unknown = sorted(set(given) - set(SHAPE_FAMILIES))
    bad = sorted(
        k for k, v in given.items()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
    )  # fmt: skip
    problems = ([f"unknown families {', '.join(unknown)}"] if unknown else []) + (
        [f"weights must be numbers >= 0 ({', '.join(bad)})"] if bad else []
    )
    if problems:
        raise ConfigError(
            f"bad shape_mix: {'; '.join(problems)}",
            f"give weights for some of {', '.join(SHAPE_FAMILIES)}",
        )
    out = {f: float(given.get(f, DEFAULT_SHAPE_MIX[f])) for f in SHAPE_FAMILIES}
    if not any(v > 0 for v in out.values()):
        raise ConfigError("bad shape_mix: every weight is 0", "give some family a weight > 0")
    return out


def _dialect_name(dialect: str) -> str:
    try:
        return engines.get(dialect).sqlglot_dialect  # the one name normaliser
    except UnknownScheme:
        raise ConfigError(
            f"the synthesizer does not speak the {dialect} dialect",
            f"use one of {', '.join(dialects.DIALECTS)}",
        ) from None


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
        shape_mix: dict[str, float] | None = None,
    ):
        self.metadata = metadata
        self.dialect = _dialect_name(dialect)
        self.language = language
        self.phraser = Phraser(language, metadata)
        self.seed = seed
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(mix) - set(DIFFICULTIES))
        if unknown or not any(v > 0 for v in mix.values()) or any(v < 0 for v in mix.values()):
            raise ConfigError(
                f"bad difficulty mix {mix!r}",
                f"give non-negative weights for {', '.join(DIFFICULTIES)}",
            )
        self.mix = {d: float(mix.get(d, 0.0)) for d in DIFFICULTIES}
        # A difficulty mix other than the default reweighs what the shape mix draws: each
        # built query is kept with probability (its level's weight / the default's), scaled.
        ratio = {d: self.mix[d] / DEFAULT_MIX[d] for d in DIFFICULTIES}
        self._keep = {d: ratio[d] / max(ratio.values()) for d in DIFFICULTIES}
        self.shape_mix = check_shape_mix(shape_mix)
        self.values = values
        # Queries the stream skipped as exact repeats of one it already yielded, per topic.
        self.repeats: dict[str, int] = {}
        # What this synthesizer has yielded, over all its topics: topics share tables, and
        # one question text must not stand for two different queries.  The pipeline pulls
        # the streams in a fixed order, so this stays deterministic (and resumable).
        self._seen_sql: set[str] = set()
        self._seen_questions: set[str] = set()
        # Candidates yielded per structural shape key (data_create.quality.shape), and in all.
        self._shapes: Counter[str] = Counter()
        self._made = 0
        # Candidates yielded per family, against each family's share of ``shape_mix``.
        self._families: Counter[str] = Counter()
        total = sum(self.shape_mix.values())
        self._share = {f: w / total for f, w in self.shape_mix.items()}

    def _rng(self, topic: Topic) -> Random:
        digest = hashlib.sha256(f"{self.seed}\x00{topic.name}".encode()).digest()
        return Random(int.from_bytes(digest[:8], "big"))

    def candidates(self, topic: Topic) -> Iterator[Candidate]:
        """Up to ``50 * topic.count + 200`` distinct candidates about ``topic``'s tables, in
        a fixed order for a given seed; the caller validates, dedupes and stops when it has
        enough.  A query already yielded is skipped before its question is phrased, and
        the stream ends once ``_MAX_MISSES`` draws in a row bring nothing new."""
        rng = self._rng(topic)
        scope = Scope(self.metadata, topic.tables, self.dialect, self.values, self.language)
        if not scope.tables:
            return
        families = [f for f in SHAPE_FAMILIES if self.shape_mix[f] > 0]
        weights = [self.shape_mix[f] for f in families]
        yields = dict.fromkeys(families, 1.0)
        set_aside = _SetAside(topic.count + _SET_ASIDE_SLACK)
        self.repeats[topic.name] = 0
        bound, made, misses = 50 * topic.count + 200, 0, 0
        while made < bound and misses < _MAX_MISSES and families:
            drawn = self._draw(scope, rng, families, weights, yields)
            if drawn is None:
                misses += 1
                continue
            # A kind already made is a weaker pick than one not made yet: more queries are
            # looked at (see _LOOKS), the kind made fewer times is kept, the others set aside.
            for _ in range(_LOOKS):
                if not self._shapes[drawn[2]]:
                    break
                drawn, passed = self._rarer(drawn, self._build(scope, rng, drawn[1]))
                set_aside.add(passed)
            for _ in range(_CROSS_LOOKS):
                if not self._shapes[drawn[2]] or not families:
                    break
                if self._families[drawn[1]] < _FLOOR * self._share[drawn[1]] * self._made:
                    break  # its family is short of its share: the draw stands
                drawn, passed = self._rarer(
                    drawn, self._draw(scope, rng, families, weights, yields)
                )
                if passed is not None:  # the one set aside was not preferred: not run out
                    set_aside.add(passed)
                    yields[passed[1]] += _YIELD_DECAY
            built, family, key = drawn
            if self._shapes[key] >= _cap(key, self._made):
                set_aside.add(drawn)
                yields[family] += _YIELD_DECAY  # new, only over its share: not run out
                misses += 1
                continue
            made_one = self._finish(topic, built, family, key, rng)
            if made_one is None:
                misses += 1
                continue
            yields[family] += _YIELD_DECAY
            misses = 0
            made += 1
            yield made_one
        # The topic has nothing new left but what went over its shape's share: still
        # distinct queries, better than falling short of the request.
        for built, family, key in set_aside.entries:
            if (made_one := self._finish(topic, built, family, key, rng)) is not None:
                yield made_one

    def _rarer(
        self, drawn: tuple[Built, str, str], other: tuple[Built, str, str] | None
    ) -> tuple[tuple[Built, str, str], tuple[Built, str, str] | None]:
        """Of two queries, the one whose kind was made fewer times, and the one passed over."""
        if other is None:
            return drawn, None
        if self._shapes[other[2]] < self._shapes[drawn[2]]:
            return other, drawn
        return drawn, other

    def _draw(
        self,
        scope: Scope,
        rng: Random,
        families: list[str],
        weights: list[float],
        yields: dict[str, float],
    ) -> tuple[Built, str, str] | None:
        """One query built by a family drawn by weight, with its shape key; None when the
        family built nothing or its level is not kept.  A family whose recent draws
        brought nothing new is dropped from ``families`` (and ``weights``) here."""
        i = rng.choices(range(len(families)), weights)[0]
        family = families[i]
        yields[family] *= 1 - _YIELD_DECAY
        if yields[family] < _MIN_YIELD:  # this family has run out here
            del families[i], weights[i]
            return None
        return self._build(scope, rng, family)

    def _build(self, scope: Scope, rng: Random, family: str) -> tuple[Built, str, str] | None:
        """One query of ``family`` with its shape key, or None (see :meth:`_draw`)."""
        shapes = FAMILIES[family]
        built = None
        for shape in rng.sample(shapes, len(shapes)):
            built = shape(scope, rng)
            if built is not None:
                break
        if built is None:
            return None
        # One ladder for every generator: the difficulty follows from the features.
        built.difficulty = level(built.features)
        keep = self._keep[built.difficulty]
        if keep == 0.0 or (keep < 1.0 and rng.random() >= keep):
            return None
        # Some of the joined or filtered queries are written the way people often write
        # them, their rows staged in a CTE first: the same question, a "derived" shape.
        share = staging.share(built.expression)
        if share and rng.random() < share:
            built.expression = staging.stage(built.expression, self.dialect, rng)
        # Others pick rows by a parent's name through a lookup instead of joining it:
        # ``WHERE store_id = (SELECT store_id FROM stores WHERE name = 'X')``.
        elif (share := lookup.share(built.expression, scope)) and rng.random() < share:
            lookup.apply(built, scope, rng)
        # The kind of question, read from the tree before it costs a rendering and a parse.
        return built, family, shape_of(built.expression).key

    def _finish(
        self, topic: Topic, built: Built, family: str, key: str, rng: Random
    ) -> Candidate | None:
        """The candidate for ``built``: rendered, tagged and phrased; None when its SQL or
        its question was yielded already (caught before the question costs anything), or
        when its tagged difficulty is one the mix does not keep."""
        sql = _render(built.expression, self.dialect)
        if sql in self._seen_sql:
            self.repeats[topic.name] += 1
            return None
        self._seen_sql.add(sql)
        # What the query does, read by the one tagger every generator uses: features and
        # difficulty agree with what an LLM sample would carry.  Read from the tree the SQL
        # was rendered from, not from a parse of that SQL: the same tags (20,447 queries
        # of 16 databases in three dialects, 2026-12-01) without a parse per candidate
        # (5% of a run).
        tags = tag_tree(built.expression)
        built.features = tuple(sorted(set(built.features) | set(tags.features)))
        if tags.difficulty != built.difficulty:
            built.difficulty = tags.difficulty
            if self._keep[built.difficulty] == 0.0:
                return None
        question = self.phraser.question(built, rng)
        if question in self._seen_questions:  # another query already has this text
            self.repeats[topic.name] += 1
            return None
        self._seen_questions.add(question)
        return self._candidate(topic, built, sql, family, key, question)

    def _candidate(
        self, topic: Topic, built: Built, sql: str, family: str, key: str, question: str
    ) -> Candidate:
        self._shapes[key] += 1
        self._families[family] += 1
        self._made += 1
        return Candidate(
            question=question,
            sql=sql,
            topic=topic.name,
            tables=tuple(t.qualified_name for t in built.tables),
            difficulty=built.difficulty,
            features=tuple(sorted(set(built.features))),
            language=self.language,
            generator=GENERATOR,
            # A listing shape that counts its rows (LIKE) is an aggregate question.
            shape="aggregate" if built.shape == "count" else family,
        )


def _render(expression: exp.Expr, dialect: str) -> str:
    if dialect in dialects.NATIONAL_STRINGS:
        # SQL Server reads '北京' in the database's code page; N'北京' keeps it Unicode.
        for lit in list(expression.find_all(exp.Literal)):
            if lit.is_string and not lit.this.isascii():
                lit.replace(exp.National(this=lit.this))
    return expression.sql(
        dialect=engines.dialect(dialect), copy=False
    )  # a built tree is rendered once
