"""Pick rows by a parent's name through a subquery instead of a join.

People often filter rows by a parent's label with a lookup rather than a join:
``SELECT COUNT(*) FROM orders WHERE store_id = (SELECT store_id FROM stores WHERE
store_name = 'X')`` (the label is unique in the parent: the lookup finds one row at most),
or ``... WHERE store_id IN (SELECT store_id FROM stores WHERE city = '上海')``.
:func:`rewrite` turns a flat SELECT of the shapes that joins a parent only to filter on it
(none of the parent's columns is shown, grouped, sorted or aggregated) into that form: the
join goes, the parent's conditions move into the subquery.  The join is on the parent's
unique key, so it never repeated a row of the others and the answer is the same; the
question is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from sqlglot import exp

from ..records import Table
from .builder import Built, Scope

# How often an eligible query is written with a lookup: a habit of some people, not most.
SHARE = 0.10
# With a unique label, ``= (SELECT ...)`` more often than ``IN (SELECT ...)``.
_SCALAR_SHARE = 0.6


@dataclass(frozen=True)
class _Lookup:
    """A joined table that only filters: ``source`` (0 the FROM table, i the i-th join's),
    the join whose ON links it (``on``, an index into the joins), the WHERE conjuncts on it
    alone (``conds``), and whether one of them is ``unique column = literal``."""

    source: int
    on: int
    conds: tuple[int, ...]
    scalar: bool


def share(query: exp.Expr, scope: Scope) -> float:
    """How often to rewrite ``query``: :data:`SHARE` when it joins a table only to filter
    on it, else 0."""
    return SHARE if _lookups(query, scope) else 0.0


def rewrite(query: exp.Expr, scope: Scope, rng: Random) -> exp.Select | None:
    """``query`` with one filtering join replaced by a lookup in its WHERE, or None when it
    has no such join.

    >>> import sqlglot
    >>> from data_create.records import Column, ForeignKey, SchemaMetadata
    >>> stores = Table("stores", columns=(Column("store_id", "int", "integer", samples=(1,)),
    ...     Column("city", "text", "text", samples=("Paris",))), primary_key=("store_id",))
    >>> orders = Table("orders", columns=(Column("id", "int", "integer", samples=(1,)),
    ...     Column("store_id", "int", "integer", samples=(1,))), primary_key=("id",),
    ...     foreign_keys=(ForeignKey(("store_id",), "stores", ("store_id",)),))
    >>> meta = SchemaMetadata("sqlite", "sqlite", "shop", (stores, orders))
    >>> scope = Scope(meta, ["orders", "stores"], "sqlite", None)
    >>> q = sqlglot.parse_one("SELECT COUNT(*) FROM orders AS t1 JOIN stores AS t2 "
    ...     "ON t1.store_id = t2.store_id WHERE t2.city = 'Paris'")
    >>> print(rewrite(q, scope, Random(0)).sql())
    SELECT COUNT(*) FROM orders WHERE store_id IN (SELECT store_id FROM stores WHERE city = 'Paris')
    """
    found = _lookups(query, scope)
    if not found:
        return None
    pick = rng.choice(found)
    scalar = pick.scalar and rng.random() < _SCALAR_SHARE
    q = query.copy()
    joins = list(q.args["joins"])
    sources = [q.args["from_"].this, *(j.this for j in joins)]
    conjuncts = _conjuncts(q.args["where"].this)
    alias = _alias(sources[pick.source])
    key, fk = _sides(joins[pick.on].args["on"], alias)
    conds = [conjuncts[i].copy() for i in pick.conds]
    for c in conds:  # inside the lookup its own columns need no qualifier
        for col in list(c.find_all(exp.Column)):
            col.set("table", None)
    parent = sources[pick.source].copy()
    parent.set("alias", None)
    inner = exp.select(exp.Column(this=key.this.copy())).from_(parent).where(exp.and_(*conds))
    found_by: exp.Expr = (
        exp.EQ(this=fk.copy(), expression=inner.subquery())
        if scalar
        else exp.In(this=fk.copy(), query=inner.subquery())
    )
    # The lookup takes the place of the first condition it replaces.
    kept = [found_by if i == pick.conds[0] else c for i, c in enumerate(conjuncts)
            if i == pick.conds[0] or i not in pick.conds]  # fmt: skip
    q.set("where", exp.Where(this=exp.and_(*kept)))
    if pick.source == 0:  # the FROM table goes: the first join's table takes its place
        q.set("from_", exp.From(this=joins[0].this))
        del joins[0]
    else:
        del joins[pick.source - 1]
    q.set("joins", joins or None)
    if not joins:
        _unqualify(q)
    return q


def apply(built: Built, scope: Scope, rng: Random) -> bool:
    """Rewrites ``built`` in place (:func:`rewrite`), its features following the new
    query; False when it has no filtering join."""
    q = rewrite(built.expression, scope, rng)
    if q is None:
        return False
    built.expression = q
    joins = len(q.args.get("joins") or ())
    drop = ({"join"} if not joins else set()) | ({"multi_join"} if joins < 2 else set())
    added = "scalar_subquery" if isinstance(q.find(exp.Subquery).parent, exp.EQ) else "subquery_in"
    built.features = tuple(sorted((set(built.features) - drop) | {added, "filter"}))
    return True


def _lookups(query: exp.Expr, scope: Scope) -> list[_Lookup]:
    """The joined tables of a flat SELECT that only filter: each is linked by one ON
    (``other.fk = it.key``, on a key unique in it), is a leaf of the joins, and is read
    nowhere but there and in WHERE conjuncts on it alone."""
    if not isinstance(query, exp.Select) or query.args.get("with_"):
        return []
    joins = query.args.get("joins") or []
    source = query.args.get("from_")
    where = query.args.get("where")
    if not joins or source is None or where is None or not isinstance(source.this, exp.Table):
        return []
    if any(
        not isinstance(j.this, exp.Table) or j.side or j.kind not in ("", "INNER")
        or not isinstance(j.args.get("on"), exp.Expr) or j.args.get("using")
        for j in joins
    ):  # fmt: skip
        return []
    if any(isinstance(n, exp.Select | exp.Subquery) for n in query.walk() if n is not query):
        return []
    if any(
        isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
        for e in query.expressions
    ):
        return []  # SELECT * shows the parent's columns too
    sources = [source.this, *(j.this for j in joins)]
    aliases = [_alias(t) for t in sources]
    if len(set(aliases)) < len(aliases):
        return []
    outputs = {e.alias.lower() for e in query.expressions if isinstance(e, exp.Alias)}
    columns = list(query.find_all(exp.Column))
    for col in columns:
        owner = col.table.lower()
        if owner not in aliases and not (not owner and col.name.lower() in outputs):
            return []  # a column of no known table: whose is it?
    conjuncts = _conjuncts(where.this)
    found = []
    for s, alias in enumerate(aliases):
        ons = [i for i, j in enumerate(joins)
               if any(c.table.lower() == alias for c in j.args["on"].find_all(exp.Column))]  # fmt: skip
        # A leaf: linked by exactly one ON, its own (or, for the FROM table, the first's).
        if len(ons) != 1 or ons[0] != max(s - 1, 0):
            continue
        sides = _sides(joins[ons[0]].args["on"], alias)
        if sides is None:
            continue
        mine = tuple(i for i, c in enumerate(conjuncts) if _only(c, alias))
        read = sum(1 for c in columns if c.table.lower() == alias)
        used = 1 + sum(1 for i in mine for _ in conjuncts[i].find_all(exp.Column))
        if not mine or read != used:  # read elsewhere: shown, grouped, sorted or summed
            continue
        table = _table(scope, sources[s])
        key = table.column(sides[0].name) if table is not None else None
        if key is None or not _declared_key(table, key):
            # A key that repeats: the join could repeat rows, the lookup not.  Declared
            # keys only: a column found unique in today's rows (a bridge table with one row
            # per student so far) is still the table whose rows a COUNT(*) counts, and
            # dropping it would change what the question asks.
            continue
        scalar = any(
            isinstance(c, exp.EQ)
            and isinstance(c.this, exp.Column)
            and isinstance(c.expression, exp.Literal)
            and (col := table.column(c.this.name)) is not None
            and scope.unique(table, col)
            for c in (conjuncts[i] for i in mine)
        )
        found.append(_Lookup(s, ons[0], mine, scalar))
    return found


def _declared_key(table, column) -> bool:
    """``column`` is ``table``'s one-column primary key or has a UNIQUE constraint."""
    return table.primary_key == (column.name,) or (column.name,) in table.unique


def _alias(table: exp.Table) -> str:
    return (table.alias or table.name).lower()


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """The parts of an AND chain (a range's parenthesised AND counts as its parts)."""
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _only(cond: exp.Expr, alias: str) -> bool:
    """Whether ``cond`` reads columns of ``alias`` and of nothing else."""
    owners = {c.table.lower() for c in cond.find_all(exp.Column)}
    return owners == {alias}


def _sides(on: exp.Expr, alias: str) -> tuple[exp.Column, exp.Column] | None:
    """(the key of ``alias``, the other table's column) of ``x.fk = alias.key``, or None
    for any other ON."""
    if not (
        isinstance(on, exp.EQ)
        and isinstance(on.this, exp.Column)
        and isinstance(on.expression, exp.Column)
    ):
        return None
    a, b = on.this, on.expression
    if a.table.lower() == alias and b.table.lower() not in ("", alias):
        return a, b
    if b.table.lower() == alias and a.table.lower() not in ("", alias):
        return b, a
    return None


def _table(scope: Scope, node: exp.Table) -> Table | None:
    for t in scope.tables:
        if t.name == node.name and (t.schema or "") == (node.db or ""):
            return t
    return None


def _unqualify(q: exp.Select) -> None:
    """One table left: its alias and qualifiers go, as people write a one-table query;
    kept when an output name is also a column's (``SUM(total) AS total``), where a bare
    name could be read as the output in HAVING or ORDER BY."""
    source = q.args["from_"].this
    alias = _alias(source)
    outputs = {e.alias.lower() for e in q.expressions if isinstance(e, exp.Alias)}
    outer = [c for c in q.find_all(exp.Column) if c.table.lower() == alias]
    if any(c.name.lower() in outputs for c in outer):
        return
    for col in outer:
        col.set("table", None)
    source.set("alias", None)
