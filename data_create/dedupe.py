"""Duplicate detection for generated samples: exact SQL, same structure, near-identical questions.

Three keys describe a query, from strict to loose, all computed from one sqlglot parse:

* :func:`normalized_sql` -- the query re-rendered canonically (identifiers folded the
  way the engine folds them, whitespace and comments gone): equal keys mean the same
  SQL text up to formatting.
* :func:`structural_key` -- additionally blind to table-alias names, output-column alias
  names and the order of ``AND`` operands: equal keys mean the same query written
  differently.
* :func:`skeleton` -- the structural key with every literal replaced by a placeholder
  (``N`` for numbers, ``S`` for strings, IN-lists collapsed): equal skeletons mean the
  same query shape.  The export splits train/dev by skeleton so near-identical queries
  never straddle the split, and the report counts distinct skeletons.

>>> skeleton("SELECT name FROM t WHERE id IN (1, 2, 3) AND city = 'Oslo'", "sqlite")
'SELECT "name" FROM "t" WHERE "city" = S AND "id" IN (N)'
>>> d = Deduper("sqlite")
>>> d.check("How many orders?", "SELECT COUNT(*) FROM orders"), d.check("q", "select count(*) from ORDERS;")
(None, 'exact duplicate SQL')
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import traverse_scope

from . import engines
from .errors import UnknownScheme

EXACT = "exact duplicate SQL"
STRUCTURAL = "same structure and literals as an earlier sample"
NEAR_QUESTION = "near-duplicate question"

_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class SqlKeys:
    """The three keys of one query (see the module docstring)."""

    normalized: str
    structural: str
    skeleton: str


@lru_cache(maxsize=65536)  # dedupe, export and report ask for the same queries' keys
def keys(sql: str, dialect: str) -> SqlKeys:
    """All three keys from one parse; unparsable SQL gets its normalized text for each."""
    try:
        tree = sqlglot.parse_one(sql, read=engines.dialect(dialect))
    except (SqlglotError, ValueError):
        tree = None
    if tree is None:
        text = _plain(sql)
        return SqlKeys(text, text, text)
    tree = _fold_identifiers(tree, dialect)
    normalized = _render(tree, dialect)
    # An exotic shape scope analysis cannot follow keeps its aliases as written.
    with contextlib.suppress(SqlglotError, ValueError, KeyError, AttributeError):
        _canonical_aliases(tree)
    _sort_conjunctions(tree, dialect)
    structural = _render(tree, dialect)
    _replace_literals(tree)
    return SqlKeys(normalized, structural, _render(tree, dialect))


def normalized_sql(sql: str, dialect: str) -> str:
    """The exact-duplicate key: ``sql`` re-rendered canonically.

    >>> normalized_sql("select  Name from Orders -- note\\n;", "sqlite")
    'SELECT "name" FROM "orders"'
    """
    return keys(sql, dialect).normalized


def structural_key(sql: str, dialect: str) -> str:
    """Same query up to alias names and AND-operand order.

    >>> a = structural_key("SELECT a.x FROM t AS a WHERE a.y = 1 AND a.z = 2", "postgres")
    >>> a == structural_key("SELECT b.x FROM t b WHERE b.z = 2 AND b.y = 1", "postgres")
    True
    """
    return keys(sql, dialect).structural


def skeleton(sql: str, dialect: str) -> str:
    """The query's shape: the structural key with literals replaced by ``N`` / ``S``.

    >>> skeleton("SELECT * FROM t WHERE x > 5 LIMIT 10", "mysql")
    'SELECT * FROM `t` WHERE `x` > N LIMIT N'
    """
    return keys(sql, dialect).skeleton


# ---------------------------------------------------------------- canonical forms


def _plain(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip().lower()


def _profile(dialect: str) -> engines.EngineProfile | None:
    try:
        return engines.get(dialect)
    except UnknownScheme:  # a dialect we do not connect to: compare names as written
        return None


def _fold_identifiers(tree: exp.Expression, dialect: str) -> exp.Expression:
    profile = _profile(dialect)
    if profile is not None and profile.case_insensitive_tables and profile.case_insensitive_columns:
        # Names compare case-insensitively whatever the quoting (SQLite, MySQL, SQL Server).
        for ident in tree.find_all(exp.Identifier):
            ident.set("this", ident.name.lower())
        return tree
    return normalize_identifiers(tree, dialect=dialect)


def _render(tree: exp.Expression, dialect: str) -> str:
    # identify=True quotes every name, so `orders` and "orders" render alike.
    # copy=False: the tree is this module's own parse, and the dialect's rewrites are
    # idempotent; copying it for each of the three renders was a tenth of a run's time.
    return tree.sql(dialect=engines.dialect(dialect), identify=True, comments=False, copy=False)


def _canonical_aliases(tree: exp.Expression) -> None:
    """Rename table/subquery aliases to names derived from what they alias, and the
    outermost SELECT's column aliases to their position."""
    scopes = list(traverse_scope(tree))
    renames: dict[int, dict[str, str]] = {}  # id(scope) -> old alias -> new alias
    counts: dict[str, int] = {}
    alias_nodes: list[tuple[exp.TableAlias, str]] = []
    for scope in scopes:
        mapping: dict[str, str] = {}
        for name, (node, _source) in scope.selected_sources.items():
            alias = node.args.get("alias") if isinstance(node, exp.Table | exp.Subquery) else None
            if not isinstance(alias, exp.TableAlias) or not alias.name:
                continue
            base = node.name if isinstance(node, exp.Table) else "_q"
            counts[base] = counts.get(base, 0) + 1
            new = f"{base}_{counts[base]}"
            mapping[name] = new
            alias_nodes.append((alias, new))
        renames[id(scope)] = mapping
    for scope in scopes:
        for column in scope.columns:
            qualifier = column.table
            if not qualifier:
                continue
            walk = scope
            while walk is not None:
                new = renames.get(id(walk), {}).get(qualifier)
                if new is not None:
                    column.set("table", exp.to_identifier(new))
                    break
                if qualifier in walk.selected_sources:
                    break  # resolved to an unaliased table: leave it
                walk = walk.parent
    for alias, new in alias_nodes:
        alias.set("this", exp.to_identifier(new))
    if isinstance(tree, exp.Select):
        _canonical_column_aliases(tree)


def _canonical_column_aliases(select: exp.Select) -> None:
    renamed: dict[str, str] = {}
    for i, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias) and projection.alias:
            renamed[projection.alias] = f"_c{i + 1}"
            projection.set("alias", exp.to_identifier(f"_c{i + 1}"))
    if not renamed:
        return
    for key in ("order", "having", "group", "qualify"):
        clause = select.args.get(key)
        if clause is None:
            continue
        for column in clause.find_all(exp.Column):
            if not column.table and column.name in renamed:
                column.set("this", exp.to_identifier(renamed[column.name]))


def _sort_conjunctions(tree: exp.Expression, dialect: str) -> None:
    """Put the operands of every AND chain in a canonical order, innermost chains first."""
    chains = [node for node in tree.find_all(exp.And) if not isinstance(node.parent, exp.And)]
    chains.sort(key=lambda node: -node.depth)
    for chain in chains:
        operands = sorted(chain.flatten(), key=lambda op: _render(op, dialect))
        rebuilt = operands[0]
        for operand in operands[1:]:
            rebuilt = exp.And(this=rebuilt, expression=operand)
        chain.replace(rebuilt)


def _replace_literals(tree: exp.Expression) -> None:
    for node in list(tree.find_all(exp.Literal)):
        placeholder = exp.var("S" if node.is_string else "N")
        parent = node.parent
        if isinstance(parent, exp.Neg):
            parent.replace(placeholder)
        else:
            node.replace(placeholder)
    for node in list(tree.find_all(exp.In)):
        items = node.expressions
        if len(items) > 1 and all(isinstance(item, exp.Var) for item in items):
            kinds = sorted({item.name for item in items})
            node.set("expressions", [exp.var(kind) for kind in kinds])


# ---------------------------------------------------------------- near-duplicate questions


def question_grams(question: str) -> frozenset[str]:
    """Character 3-grams of the question, case- and punctuation-insensitive (CJK-friendly).

    >>> sorted(question_grams("订单数量？"))
    ['单数量', '订单数']
    """
    text = unicodedata.normalize("NFKC", question).casefold()
    text = _NON_WORD.sub(" ", text).strip()
    if len(text) < 3:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i : i + 3] for i in range(len(text) - 2))


class Deduper:
    """Remembers accepted samples and says why a new one duplicates an earlier one.

    Near-duplicate questions: every gram of an accepted question is indexed (per SQL
    skeleton).  If ``J(A, B) >= t`` then at most ``|A| - ceil(t|A|)`` grams of ``A`` are
    missing from ``B``, so probing *any* ``|A| - ceil(t|A|) + 1`` grams of ``A`` finds ``B``;
    we probe the rarest ones (shortest posting lists), which keeps template-made
    questions that share most of their wording cheap, then verify candidates exactly.
    A question counts as a near duplicate only when the SQL skeleton is the same too:
    different queries may share a wording pattern.
    """

    def __init__(self, dialect: str, *, question_threshold: float = 0.9):
        if not 0 < question_threshold <= 1:
            raise ValueError("question_threshold must be in (0, 1]")
        self.dialect = dialect
        self.threshold = question_threshold
        self._normalized: set[str] = set()
        self._structural: set[str] = set()
        # skeleton -> gram -> indexes into self._grams.  Tuples, not lists: a list is a
        # container the garbage collector walks on every full collection, a tuple of ints
        # it stops tracking; a run of 2,000 samples holds some 190,000 postings (most of
        # one entry), which were most of what those collections walked.  A posting grows
        # by a copy, cheap at the sizes of one skeleton's questions.
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._grams: list[frozenset[str]] = []

    def __len__(self) -> int:
        return len(self._grams)

    def check(self, question: str, sql: str) -> str | None:
        """The reason ``(question, sql)`` duplicates an accepted item; else accept it, None."""
        k = keys(sql, self.dialect)
        if k.normalized in self._normalized:
            return EXACT
        if k.structural in self._structural:
            return STRUCTURAL
        grams = question_grams(question)
        if self._near(grams, k.skeleton):
            return NEAR_QUESTION
        self._record(k, grams)
        return None

    def duplicate(self, question: str, sql: str) -> str | None:
        """Why ``(question, sql)`` duplicates an accepted item, or None; records nothing, so a
        caller can skip validating what would be rejected anyway.

        >>> d = Deduper("sqlite"); d.check("How many orders?", "SELECT COUNT(*) FROM orders")
        >>> d.duplicate("q", "SELECT COUNT(*) FROM orders"), len(d)
        ('exact duplicate SQL', 1)
        """
        k = keys(sql, self.dialect)
        if k.normalized in self._normalized:
            return EXACT
        if k.structural in self._structural:
            return STRUCTURAL
        return NEAR_QUESTION if self._near(question_grams(question), k.skeleton) else None

    def add_existing(self, question: str, sql: str) -> None:
        """Record an item accepted earlier (e.g. when resuming) without checking it."""
        self._record(keys(sql, self.dialect), question_grams(question))

    def _near(self, grams: frozenset[str], skel: str) -> bool:
        index = self._index.get(skel)
        if not index or not grams:
            return False
        size = len(grams)
        probes = size - _ceil(self.threshold * size) + 1
        postings = sorted((index.get(g, ()) for g in grams), key=len)[:probes]
        low, high = self.threshold * size, size / self.threshold
        seen: set[int] = set()
        for posting in postings:
            for i in posting:
                if i in seen:
                    continue
                seen.add(i)
                other = self._grams[i]
                if not low <= len(other) <= high:
                    continue  # sizes alone rule it out
                common = len(grams & other)
                if common / (size + len(other) - common) >= self.threshold:
                    return True
        return False

    def _record(self, k: SqlKeys, grams: frozenset[str]) -> None:
        self._normalized.add(k.normalized)
        self._structural.add(k.structural)
        i = len(self._grams)
        self._grams.append(grams)
        index = self._index.setdefault(k.skeleton, {})
        for gram in grams:
            index[gram] = (*index.get(gram, ()), i)


def _ceil(x: float) -> int:
    # Guard against 0.9 * 10 == 9.000000000000002 rounding up to 10.
    n = int(x)
    return n if x - n < 1e-9 else n + 1
