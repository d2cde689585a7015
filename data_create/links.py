"""Joins the catalogue does not declare, proposed by column names and confirmed by data.

Many application schemas (mall, litemall, most ERP and admin systems, every defog
database) declare no foreign keys; ``oms_order_item.order_id`` still plainly means
``oms_order.id``.  A guess from names alone is wrong often enough to poison a dataset:
``tenant_id`` pointed at ``jsh_tenant.id`` while the real key was
``jsh_tenant.tenant_id``, and a varchar column was "joined" to a bigint one.  So
:func:`propose` lists every plausible parent column for a child column, and
:func:`verify` keeps a guess only when the types are compatible and at least
:data:`MIN_COVERAGE` of the child's distinct non-null values (a bounded sample of them)
are present in the parent column; the best-covered parent wins.  Refuted guesses are
kept with the reason, for the report.

>>> from .records import Column, Table
>>> users = Table("sys_user", columns=(Column("user_id", "bigint", "integer"),
...     Column("user_name", "varchar", "text")), primary_key=("user_id",))
>>> roles = Table("sys_user_role", columns=(Column("user_id", "bigint", "integer"),
...     Column("role_id", "bigint", "integer")), primary_key=("user_id", "role_id"))
>>> [(g.table, g.columns, g.ref_table, g.ref_columns) for g in propose([users, roles])]
[('sys_user_role', ('user_id',), 'sys_user', ('user_id',))]
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .records import ForeignKey, Link, SchemaMetadata, Table
from .roles import snake

MIN_COVERAGE = 0.95
# Distinct child values checked per guess: enough to tell a key from a coincidence,
# cheap on any table size.
CHECK_VALUES = 1000

_NUMERIC = frozenset({"integer", "decimal"})
_TEXTUAL = frozenset({"text", "enum", "uuid", "other"})
_REF_SUFFIX = re.compile(r"^(?P<stem>.+?)_?(id|no|code|sn|key|uid)$")


@dataclass(frozen=True)
class Guess:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    child_type: str
    parent_type: str
    # How strongly the names say so: 2 the same column name as the parent's key,
    # 1 ``<parent>_id`` -> the parent's ``id``.
    strength: int


def _prefixes(tables: Sequence[Table]) -> set[str]:
    names = [snake(t.name) for t in tables]
    heads = Counter(n.partition("_")[0] for n in names if "_" in n)
    return {h + "_" for h, n in heads.items() if n >= 2}


def _common_head(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _strip_prefix(name: str, prefixes: set[str]) -> str:
    for p in prefixes:
        if name.startswith(p):
            return name[len(p) :]
    return name


def _stems(table: Table, prefixes: set[str]) -> set[str]:
    name = snake(table.name)
    out = {name}
    for p in prefixes:
        if name.startswith(p):
            out.add(name[len(p) :])
    for s in list(out):
        if s.endswith("ies"):
            out.add(s[:-3] + "y")
        elif s.endswith("es"):
            out.update((s[:-2], s[:-1]))
        elif s.endswith("s"):
            out.add(s[:-1])
    return {s.replace("_", "") for s in out} | out


def _idlike(name: str) -> bool:
    return bool(_REF_SUFFIX.match(snake(name))) or snake(name) == "id"


def own_key(table: Table) -> str | None:
    """The column that identifies a row: the single-column primary key, else -- in
    schemas that declare none (every defog database) -- a first column with an id-like
    name whose sampled values are all distinct, in a table that is more than a bridge
    (a table of references only, ``writes(aid, pid)``, has no key of its own).

    >>> from .records import Column, ColumnStats, Table
    >>> u = ColumnStats(rows=4, nulls=0, distinct=4)
    >>> author = Table("author", columns=(Column("aid", "bigint", "integer", stats=u),
    ...     Column("name", "text", "text", stats=u)))
    >>> writes = Table("writes", columns=(Column("aid", "bigint", "integer", stats=u),
    ...     Column("pid", "bigint", "integer", stats=u)))
    >>> own_key(author), own_key(writes)
    ('aid', None)
    """
    if len(table.primary_key) == 1:
        return table.primary_key[0]
    if table.primary_key or not table.columns:
        return None
    if all(_idlike(c.name) for c in table.columns):
        return None
    unique = [
        c.name for c in table.columns
        if _idlike(c.name) and c.stats is not None and c.stats.unique
    ]  # fmt: skip
    stems = _stems(table, set())
    for name in unique:
        sn = snake(name)
        if sn == "id" or any(
            sn in (f"{st}_id", f"{st}id", f"{st[:1]}id", f"{st}_no", f"{st}_code") for st in stems
        ):
            return name
    if len(unique) == 1 or (unique and unique[0] == table.columns[0].name):
        return unique[0]
    return None


def _keyish(table: Table) -> list[str]:
    """Columns a child may point at: the table's own key, its single-column unique
    keys and a column named ``id``."""
    cols = []
    if (key := own_key(table)) is not None:
        cols.append(key)
    cols += [u[0] for u in table.unique if len(u) == 1]
    cols += [c.name for c in table.columns if c.name.lower() == "id"]
    cols += natural_keys(table)
    return list(dict.fromkeys(cols))


def natural_keys(table: Table) -> list[str]:
    """Text columns named after their own table whose values are all distinct:
    ``state.state_name``, ``river.river_name`` -- the keys of schemas that join on names
    (``city.state_name``).  The data still has to confirm every link through them."""
    stems = _stems(table, set())
    out = []
    for c in table.columns:
        sn = snake(c.name)
        if (
            c.type in ("text", "enum")
            and c.stats is not None
            and c.stats.unique
            and c.stats.non_null >= 2
            and any(sn.startswith(st + "_") for st in stems if "_" not in st)
        ):
            out.append(c.name)
    # A table with no key of its own whose first column is a distinct name, a dimension
    # keyed by it: geographic(city_name, county, region) under restaurant.city_name.
    first = table.columns[0] if table.columns else None
    if (
        first is not None
        and not out
        and not table.primary_key
        and own_key(table) is None
        and first.type in ("text", "enum")
        and first.stats is not None
        and first.stats.unique
        and first.stats.non_null >= 2
        and "_" in snake(first.name)
    ):
        out.append(first.name)
    return out


def _names_another(stem: str | None, table: Table, prefixes: set[str]) -> bool:
    """Whether a key-like column of ``table`` is named after another entity: the only
    distinct id of ``location(restaurant_id, street_name, ...)`` is the restaurant's, a
    1:1 extension whose key still points at its parent, unlike ``users.user_id`` or
    ``author.aid``."""
    if not stem or len(stem) < 3:
        return False
    own = _stems(table, prefixes)
    return not by_stem_of(stem, own) and not any(st.startswith(stem) for st in own)


def by_stem_of(stem: str | None, stems: set[str]) -> bool:
    return bool(stem and (stem in stems or stem.replace("_", "") in stems))


def _tails(flat: str) -> list[str]:
    """The id-like endings of a name with its separators removed: ``sbtxcustid`` ->
    ``sbtxcustid``, ``btxcustid``, ... ``custid``, ``ustid`` (5+ characters)."""
    if not flat.endswith("id"):
        return []
    return [flat[i:] for i in range(len(flat) - 4)]


def _prefixed(name: str, key: str, prefixes: set[str]) -> bool:
    """``<schema prefix><entity>_id`` keys (sbCustomer.sbCustId) referred to with the
    child's own prefix in front (sbTransaction.sbTxCustId) -- also when the server folded
    the names to lower case with no separators left (sbtxcustid -> sbcustid)."""
    bare = _strip_prefix(key, prefixes)
    if bare != key and "_" in bare and _REF_SUFFIX.match(bare) and name.endswith("_" + bare):
        return True
    flat_key, flat = key.replace("_", ""), name.replace("_", "")
    head = _common_head(flat, flat_key)
    rest = flat_key[len(head) :]
    return (
        len(head) >= 2
        and len(rest) >= 5
        and rest.endswith("id")
        and flat.endswith(rest)
        and flat != flat_key
    )


def propose(tables: Sequence[Table]) -> list[Guess]:
    """Every name-implied link not already declared, strongest first per child column.

    A parent can match a child column only through a key whose name is the column's,
    a same-named column with distinct values, or the column's stem among the parent's
    stems; indexes on those three find the few parents to look at, so a schema of
    thousands of tables is not a (columns x tables) scan.
    """
    prefixes = _prefixes(tables)
    parents = []
    by_key: dict[str, list[int]] = defaultdict(list)  # snake(key) -> parents
    by_unique: dict[str, list[int]] = defaultdict(list)  # column name -> parents
    by_stem: dict[str, list[int]] = defaultdict(list)  # stem -> parents
    by_tail: dict[str, list[int]] = defaultdict(list)  # id-like tail of a key -> parents
    for t in tables:
        if t.kind != "table":
            continue
        i = len(parents)
        stems, keys = _stems(t, prefixes), _keyish(t)
        columns = {c.name: c for c in reversed(t.columns)}  # the first of a name, as column()
        parents.append((t, stems, keys, frozenset(keys), columns))
        for key in keys:
            by_key[snake(key)].append(i)
            for tail in _tails(snake(key).replace("_", "")):
                by_tail[tail].append(i)
        for c in columns.values():
            if c.stats is not None and c.stats.unique:
                by_unique[c.name].append(i)
        for st in stems:
            by_stem[st].append(i)
    out: list[Guess] = []
    for child in tables:
        declared = {c for fk in child.foreign_keys for c in fk.columns}
        child_key = own_key(child)
        for column in child.columns:
            if column.name in declared or column.type not in _NUMERIC | _TEXTUAL:
                continue
            name = snake(column.name)
            m = _REF_SUFFIX.match(name)
            stem = m.group("stem").rstrip("_") if m else None
            if column.name == child_key and not _names_another(stem, child, prefixes):
                continue  # a row's own key points nowhere
            candidates = {*by_key.get(name, ()), *by_unique.get(column.name, ())}
            if stem:
                candidates.update(by_stem.get(stem, ()), by_stem.get(stem.replace("_", ""), ()))
            for tail in _tails(name.replace("_", "")):
                candidates.update(by_tail.get(tail, ()))
            for i in sorted(candidates):  # in table order, as a full scan would find them
                parent, stems, keys, own_keys, columns = parents[i]
                naturals = natural_keys(parent)
                if parent is child:
                    continue
                # The parent's own column of the same name is a candidate too when its
                # values are distinct (jsh_user.tenant_id -> jsh_tenant.tenant_id, not .id).
                same = columns.get(column.name)
                if same is not None and same.stats is not None and same.stats.unique:
                    keys = [*keys, same.name] if same.name not in keys else keys
                for key in keys:
                    kcol = columns.get(key)
                    if kcol is None:
                        continue
                    same_name = (
                        snake(key) == name
                        and name not in ("id", "code", "name")
                        and (m is not None or parent.primary_key == (key,) or key in naturals)
                        and (key in own_keys or by_stem_of(stem, stems))
                    )
                    by_stem_match = bool(
                        stem
                        and (stem in stems or stem.replace("_", "") in stems)
                        and snake(key) in ("id", name, f"{stem}_id", f"{stem[:1]}id")
                    )
                    if same_name or by_stem_match or _prefixed(name, snake(key), prefixes):
                        out.append(
                            Guess(
                                child.qualified_name,
                                (column.name,),
                                parent.qualified_name,
                                (key,),
                                column.type,
                                kcol.type,
                                2 if same_name else 1,
                            )
                        )
    return out


def _compatible(a: str, b: str) -> bool:
    return (
        (a in _NUMERIC and b in _NUMERIC)
        or (a in _TEXTUAL and b in _TEXTUAL and a == b)
        or (a in ("text", "enum") and b in ("text", "enum"))
    )


Probe = Callable[[Guess], tuple[int, int]]


def verify(guesses: Sequence[Guess], probe: Probe) -> tuple[list[Link], list[Link]]:
    """``(kept, rejected)``: per child column, the best-covered guess at or above
    :data:`MIN_COVERAGE` is kept; every other guess is rejected with its reason.

    ``probe(guess)`` returns ``(checked, found)``: how many distinct non-null child
    values were looked at and how many of them the parent column holds.  It may raise
    (a timeout, no permission): the guess is then rejected with that reason.
    """
    by_child: dict[tuple[str, tuple[str, ...]], list[tuple[Guess, Link]]] = {}
    rejected: list[Link] = []
    for g in guesses:
        base = dict(
            table=g.table, columns=g.columns, ref_table=g.ref_table, ref_columns=g.ref_columns
        )
        if not _compatible(g.child_type, g.parent_type):
            rejected.append(
                Link(**base, source="rejected",
                     reason=f"types differ ({g.child_type} vs {g.parent_type})")
            )  # fmt: skip
            continue
        try:
            checked, found = probe(g)
        except Exception as exc:  # a driver error: not confirmable here
            reason = f"not checkable ({type(exc).__name__})"  # no driver text: it may quote data
            rejected.append(Link(**base, source="rejected", reason=reason))
            continue
        if checked == 0:
            rejected.append(Link(**base, source="rejected", reason="no child values to check"))
            continue
        coverage = round(found / checked, 4)
        if coverage < MIN_COVERAGE:
            rejected.append(
                Link(**base, source="rejected", coverage=coverage,
                     reason=f"only {found} of {checked} values found in the parent")
            )  # fmt: skip
            continue
        link = Link(**base, source="verified", coverage=coverage)
        by_child.setdefault((g.table, g.columns), []).append((g, link))
    kept = []
    for options in by_child.values():
        options.sort(key=lambda gl: (-(gl[1].coverage or 0), -gl[0].strength, gl[1].ref_table))
        kept.append(options[0][1])
        for _, other in options[1:]:
            rejected.append(
                Link(other.table, other.columns, other.ref_table, other.ref_columns,
                     "rejected", other.coverage,
                     f"{options[0][1].ref_table}.{options[0][1].ref_columns[0]} fits better")
            )  # fmt: skip
    kept.sort(key=lambda link: (link.table, link.columns))
    rejected.sort(key=lambda link: (link.table, link.columns, link.ref_table))
    return kept, rejected


def probe_sql(
    guess: Guess, quote: Callable[[str], str], limit_clause: Callable[[str, int], str]
) -> str:
    """One query: how many of (up to CHECK_VALUES) distinct child values the parent has.

    ``limit_clause(select_sql, n)`` adds the engine's row limit to a SELECT.
    """

    def source(qualified: str) -> str:
        schema, _, name = qualified.rpartition(".")
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    col, ref = quote(guess.columns[0]), quote(guess.ref_columns[0])
    # 0 and '' stand for "none" in many MySQL schemas that avoid NULL ("brand_id 0: no
    # brand"); a join drops those rows like NULLs, so they do not count against a link.
    none = "0" if guess.child_type in _NUMERIC else "''"
    inner = limit_clause(
        f"SELECT DISTINCT {col} AS v FROM {source(guess.table)} "
        f"WHERE {col} IS NOT NULL AND {col} <> {none}",
        CHECK_VALUES,
    )
    return (
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM "
        f"{source(guess.ref_table)} p WHERE p.{ref} = s.v) THEN 1 ELSE 0 END), 0) "
        f"FROM ({inner}) s"
    )


def fold(metadata: SchemaMetadata) -> SchemaMetadata:
    """``metadata`` with its verified links added to ``Table.foreign_keys`` (named
    ``"verified"``), the form the planner and the generators read joins from.
    Folding twice changes nothing."""
    import dataclasses

    extra: dict[str, list[ForeignKey]] = {}
    tables = {t.qualified_name: t for t in metadata.tables}
    for link in metadata.links:
        have = tables.get(link.table)
        if link.source != "verified" or have is None:
            continue
        if any(fk.columns == link.columns for fk in have.foreign_keys):
            continue  # folded already
        schema, _, name = link.ref_table.rpartition(".")
        extra.setdefault(link.table, []).append(
            ForeignKey(link.columns, name, link.ref_columns, ref_schema=schema or None,
                       name="verified")
        )  # fmt: skip
    if not extra:
        return metadata
    return metadata.replace(
        tables=tuple(
            dataclasses.replace(t, foreign_keys=t.foreign_keys + tuple(extra[t.qualified_name]))
            if t.qualified_name in extra
            else t
            for t in metadata.tables
        )
    )


def summary(metadata: SchemaMetadata) -> dict[str, Any]:
    """Links for the report: counts and each kept and rejected guess in words."""
    verified = [link for link in metadata.links if link.source == "verified"]
    return {
        "declared": sum(1 for link in metadata.links if link.source == "declared"),
        "verified": [{"link": link.describe(), "coverage": link.coverage} for link in verified],
        "rejected": [
            {"link": link.describe(), "reason": link.reason} for link in metadata.rejected_links
        ],
    }
