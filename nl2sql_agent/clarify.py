"""A clarifying answer when a question names something that is not in the data.

"Orders from Acme Inc in 2023" returns no rows when the customer is called "ACME Inc.".
Instead of repairing blindly (and sending data values to the model), the agent looks up
the filtered column's real values and asks the user: *No row has customer.name = 'Acme
Inc'. Did you mean one of: 'ACME Inc.', 'Acme Holdings'?*  The values go to the user
only.  The lookup is one ``SELECT DISTINCT`` built with sqlglot and run through the same
validator and read-only executor as every other query.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from data_create.executor import Executor
    from data_create.records import SchemaMetadata
    from data_create.validator import Validator

MAX_DISTINCT = 5000
MAX_CANDIDATES = 5


def _string_filters(tree: exp.Expression) -> list[tuple[exp.Column, str, bool]]:
    """(column, literal, is_pattern) for each ``col = 'text'`` / ``col [I]LIKE 'pattern'``
    in WHERE clauses."""
    found = []
    for where in tree.find_all(exp.Where):
        for node in where.find_all(exp.EQ, exp.Like, exp.ILike):
            left, right = node.this, node.expression
            if isinstance(right, exp.Column) and isinstance(left, exp.Literal):
                left, right = right, left
            if isinstance(left, exp.Column) and isinstance(right, exp.Literal) and right.is_string:
                found.append((left, right.this, not isinstance(node, exp.EQ)))
    return found


def _like_regex(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern as a case-insensitive regex (``%`` any run, ``_`` one character)."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("^" + "".join(parts) + "$", re.I | re.S)


def _table_of(column: exp.Column, tree: exp.Expression) -> exp.Table | None:
    tables = list(tree.find_all(exp.Table))
    if column.table:
        for t in tables:
            if column.table in (t.alias_or_name, t.name):
                return t
        return None
    return tables[0] if len(tables) == 1 else None


def unknown_entity(
    sql: str, metadata: SchemaMetadata, validator: Validator, executor: Executor
) -> dict[str, Any] | None:
    """``{"column", "value", "candidates"}`` when a string filter matches no value of its
    column and close real values exist; None otherwise."""
    dialect = metadata.dialect
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # the validator accepted it; if sqlglot cannot re-read it, no clarifying
        return None
    for column, literal, is_pattern in _string_filters(tree):
        table = _table_of(column, tree)
        if table is None:
            continue
        pattern = literal.strip("%").lower()
        if not pattern:
            continue
        lookup = (
            exp.select(exp.column(column.name, quoted=column.this.quoted))
            .distinct()
            .from_(exp.table_(table.name, db=table.db or None, quoted=table.this.quoted))
            .where(exp.column(column.name, quoted=column.this.quoted).is_(exp.null()).not_())
            .limit(MAX_DISTINCT)
            .sql(dialect=dialect)
        )
        if not validator.check_static(lookup).ok:
            continue
        result = executor.execute(lookup)
        if not result.ok:
            continue
        values = [str(r[0]) for r in result.rows if r[0] is not None]
        lowered = {v.lower(): v for v in values}
        if is_pattern:
            like = _like_regex(literal)
            if any(like.match(v) for v in values):
                continue  # some value matches: the emptiness comes from elsewhere
        elif literal in values:
            continue  # the value exists exactly: the emptiness comes from elsewhere
        close = difflib.get_close_matches(pattern, list(lowered), n=MAX_CANDIDATES, cutoff=0.6)
        contains = [k for k in lowered if pattern in k or (len(k) >= 3 and k in pattern)]
        picked = list(dict.fromkeys([*contains[:MAX_CANDIDATES], *close]))[:MAX_CANDIDATES]
        if picked:
            name = f"{table.alias_or_name}.{column.name}" if column.table else column.name
            return {
                "column": name,
                "value": literal,
                "candidates": [lowered[k] for k in picked],
            }
    return None
