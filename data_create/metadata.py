"""Extract a database's structure into :class:`~data_create.records.SchemaMetadata`.

:func:`extract` reads the catalogue in a fixed number of batched queries per schema
(the queries live in :mod:`data_create.catalog`, one module per engine), then samples
a few values per column with one bounded query per table.  :func:`extract_per_table`
is the naive way -- SQLAlchemy's Inspector, a round trip per table per kind -- kept as
the baseline ``bench/bench_metadata.py`` measures against; both give the same records.

Tables in the connection's default schema are recorded with ``schema=None`` (see
:func:`_finish`); ``SchemaMetadata.default_schema`` says which schema that is.

>>> opts = ExtractOptions(include=("orders*",), sample_values=3)
>>> opts.sample_rows, is_sensitive("password_hash"), is_sensitive("HomePhone"), is_sensitive("hotel")
(1000, True, True, False)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from . import catalog, engines
from .connect import Database, classify, scrub
from .errors import ConfigError, EmptySchema, MetadataError
from .records import Column, Link, SchemaMetadata, Table, declared_links
from .roles import ColumnStats, infer

# A sampling query that runs longer than this (a heavy view) is cancelled and noted.
SAMPLE_TIMEOUT_S = 10.0

# Column types whose values are never kept as samples.
_UNSAMPLED_TYPES = frozenset({"binary", "json", "array"})


@dataclass(frozen=True)
class ExtractOptions:
    # Empty: the connection's default schema (PostgreSQL current_schema(), MySQL
    # database(), SQL Server SCHEMA_NAME(), SQLite 'main').
    schemas: tuple[str, ...] = ()
    # fnmatch patterns on the table name or schema.table, case-insensitive; empty = all.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_views: bool = True
    sample_values: int = 5  # distinct values kept per column; 0 = no sampling
    sample_rows: int = 1000  # rows read per table for sampling
    max_value_length: int = 64  # longer values are not kept
    # Sample columns whose names look sensitive (see is_sensitive); they are flagged
    # ``sensitive=True`` either way.
    sample_sensitive: bool = False
    # Check name-implied joins against the data (see data_create.links); needs sampling.
    verify_links: bool = True


def extract(db: Database, options: ExtractOptions = ExtractOptions()) -> SchemaMetadata:
    """The metadata of ``db``: batched catalogue queries, then bounded sampling.

    Raises :class:`~data_create.errors.EmptySchema` when no table passes the filters and
    :class:`~data_create.errors.MetadataError` when the catalogue cannot be read.
    """
    return _extract(db, options, "batched")


def extract_per_table(db: Database, options: ExtractOptions = ExtractOptions()) -> SchemaMetadata:
    """The same metadata the naive way: the Inspector, one round trip per table per kind."""
    return _extract(db, options, "per_table")


def write(metadata: SchemaMetadata, path: str | os.PathLike[str]) -> None:
    """Write ``metadata.json`` (atomically: a reader never sees half a file)."""
    from .rundir import write_text

    write_text(path, metadata.to_json() + "\n")


def read(path: str | os.PathLike[str]) -> SchemaMetadata:
    """Read a ``metadata.json`` written by :func:`write`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no metadata file at {path}", "run `nl2sql-data inspect` to extract it first"
        ) from None
    try:
        return SchemaMetadata.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a usable metadata file: {exc}") from None


# ------------------------------------------------------------------ the pipeline


def _extract(db: Database, options: ExtractOptions, method: str) -> SchemaMetadata:
    module = catalog.for_engine(db.profile.name)
    keep = _filter(options)
    warnings: list[str] = []
    with _session(db) as conn:
        with _catalogue_errors(db):
            info = module.server_info(conn)
            schemas = tuple(options.schemas) or (
                (info.default_schema,) if info.default_schema else ()
            )
            if method == "batched":
                tables = module.read_tables(conn, schemas, options.include_views, keep)
            else:
                from .catalog import per_table

                tables = per_table.read_tables(conn, module, schemas, options.include_views, keep)
        tables = [_finish(t, info.default_schema) for t in tables]
        for t in tables:
            if not t.columns:  # e.g. a view whose table was dropped
                warnings.append(
                    f"skipped {t.qualified_name}: no readable columns (broken {t.kind}?)"
                )
        tables = sorted((t for t in tables if t.columns), key=lambda t: (t.schema or "", t.name))
        if not tables:
            raise EmptySchema(_empty_message(db, schemas, options))
        links: tuple[Link, ...] = declared_links(tables)
        rejected: tuple[Link, ...] = ()
        if options.sample_values > 0:
            tables = _sample_all(
                conn, module, tables, options, warnings, probe_empty=method == "batched"
            )
            if options.verify_links:
                kept, refuted = _verify_links(conn, module, tables, warnings)
                links, rejected = links + tuple(kept), tuple(refuted)
    # Roles last: a verified link makes its column a foreign key.
    tables = _with_roles(tables, links)
    recorded = {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()
    }
    return SchemaMetadata(
        engine=db.profile.name,
        dialect=db.profile.sqlglot_dialect,
        database=db.name,
        tables=tuple(tables),
        default_schema=info.default_schema,
        server_version=info.version,
        table_names_case_sensitive=info.table_names_case_sensitive,
        extracted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        options={**recorded, "method": method, "warnings": warnings},
        links=links,
        rejected_links=rejected,
    )


@contextmanager
def _session(db: Database) -> Iterator[Any]:
    """One connection for the whole extraction, in autocommit: a sampling query that
    fails (no SELECT permission, a broken view) must not poison the ones after it."""
    try:
        conn = db.engine.connect()
    except Exception as exc:
        raise classify(exc, db.url) from None
    try:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        conn.close()


@contextmanager
def _catalogue_errors(db: Database) -> Iterator[None]:
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        raise MetadataError(
            f"cannot read the catalogue of {db.display}: {_first_line(exc, db.url)}"
        ) from None


def _first_line(exc: BaseException, url: Any = None) -> str:
    original = getattr(exc, "orig", None) or exc
    text = scrub(str(original), url).strip()
    return text.splitlines()[0] if text else type(original).__name__


def _filter(options: ExtractOptions) -> catalog.Keep:
    include = [p.lower() for p in options.include]
    exclude = [p.lower() for p in options.exclude]

    def keep(schema: str, name: str) -> bool:
        keys = (name.lower(), f"{schema}.{name}".lower())
        if include and not any(fnmatchcase(k, p) for p in include for k in keys):
            return False
        return not any(fnmatchcase(k, p) for p in exclude for k in keys)

    return keep


def _empty_message(db: Database, schemas: Sequence[str], options: ExtractOptions) -> str:
    where = ", ".join(schemas) or "(no default schema)"
    parts = [f"no tables found in schema {where} of {db.display}"]
    if options.include:
        parts.append(f"include={list(options.include)}")
    if options.exclude:
        parts.append(f"exclude={list(options.exclude)}")
    if not options.include_views:
        parts.append("views excluded")
    return parts[0] + (f" ({'; '.join(parts[1:])})" if len(parts) > 1 else "")


# ------------------------------------------------------------------ sensitive columns

# Matched against the name in snake_case (HomePhone -> home_phone).  Short words only
# count on their own (tel, but not hotel; ssn, but not classname).
_SENSITIVE = re.compile(
    r"""
    pass_?word | passwd | passphrase | secret | api_?key | access_?key | private_?key
    | token | (?<![a-z])(pwd|pin|salt|hash|ssn|cvv|iban|otp)(?![a-z])
    | id_?card | identity_?card | id_?number | social_?security | passport
    | phone | (?<![a-z])mobile | (?<![a-z])(tel|cell)(?![a-z]) | telephone
    | e_?mail
    | bank_?card | bank_?account | card_?(no|num|number)(?![a-z]) | credit_?card
    | 密码 | 口令 | 身份证 | 证件号 | 手机 | 电话 | 邮箱 | 银行卡 | 卡号 | 令牌 | 密钥
    """,
    re.VERBOSE,
)


@lru_cache(maxsize=65536)  # column names repeat across tables (id, phone, created_at...)
def is_sensitive(name: str) -> bool:
    """Whether a column name looks like it holds secrets or personal contact data.

    >>> [is_sensitive(n) for n in ("password", "user_pwd", "api_key", "idCard", "mobile", "用户手机号")]
    [True, True, True, True, True, True]
    >>> [is_sensitive(n) for n in ("hotel_name", "classname", "shipping_address", "automobile")]
    [False, False, False, False]
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return _SENSITIVE.search(snake) is not None


def _finish(table: Table, default_schema: str | None) -> Table:
    """Names relative to the default schema, and sensitive columns flagged.

    A table (or a foreign key target) in the connection's default schema gets
    ``schema=None``: generated SQL then names it the way a user of that DSN would
    (``actor``, not ``public.actor`` or ``shop_prod_2024.actor``), and the fingerprint
    does not change with the database's name.
    """
    changes: dict[str, Any] = {}
    if table.schema is not None and table.schema == default_schema:
        changes["schema"] = None
    fks = tuple(
        dataclasses.replace(fk, ref_schema=None)
        if fk.ref_schema is not None and fk.ref_schema == default_schema
        else fk
        for fk in table.foreign_keys
    )
    if fks != table.foreign_keys:
        changes["foreign_keys"] = fks
    flags = [is_sensitive(c.name) for c in table.columns]
    if any(flags):
        changes["columns"] = tuple(
            dataclasses.replace(c, sensitive=True) if flag else c
            for c, flag in zip(table.columns, flags, strict=True)
        )
    return dataclasses.replace(table, **changes) if changes else table


# ------------------------------------------------------------------ sampling


def _sampleable(column: Column, long_types: frozenset[str], options: ExtractOptions) -> bool:
    if column.sensitive and not options.sample_sensitive:
        return False
    if column.type in _UNSAMPLED_TYPES:
        return False
    raw = column.raw_type.lower()
    return raw not in long_types and raw.split("(")[0].strip() not in long_types


# Tables per existence probe (see _empty_tables); well under every engine's limit on
# select-list items.
PROBE_BATCH = 200


def _sample_all(
    conn: Any,
    module: ModuleType,
    tables: list[Table],
    options: ExtractOptions,
    warnings: list[str],
    probe_empty: bool,
) -> list[Table]:
    """Samples for every table: one bounded SELECT per table (``probe_empty``: per
    table that :func:`_empty_tables` does not find empty)."""
    prep = conn.dialect.identifier_preparer
    top = engines.get(conn.dialect.name).limit_style == "top"

    def select(table: Table, expressions: str, limit: int) -> str:
        source = prep.quote(table.name)
        if table.schema:
            source = f"{prep.quote_schema(table.schema)}.{source}"
        if top:
            return f"SELECT TOP {limit} {expressions} FROM {source}"
        return f"SELECT {expressions} FROM {source} LIMIT {limit}"

    todo = []
    for table in tables:
        columns = [c for c in table.columns if _sampleable(c, module.LONG_TEXT_TYPES, options)]
        if columns:
            todo.append((table, columns))
    # The DB-API cursor itself: per table, SQLAlchemy's result machinery costs about as
    # much as the round trip, and there are thousands of tables.
    cursor = conn.connection.driver_connection.cursor()
    driver_error = conn.dialect.loaded_dbapi.Error
    sampled: dict[int, dict[str, tuple[Any, ...]]] = {}
    stats: dict[int, dict[str, ColumnStats]] = {}
    counts: dict[int, int] = {}
    empty: set[int] = set()
    try:
        with module.statement_timeout(conn, SAMPLE_TIMEOUT_S) as starting:
            if probe_empty:
                base_tables = [t for t, _ in todo if t.kind == "table"]
                empty = _empty_tables(cursor, driver_error, base_tables, select, starting)
            for table, columns in todo:
                if id(table) in empty:
                    continue
                names = ", ".join(prep.quote(c.name) for c in columns)
                try:
                    starting()
                    cursor.execute(select(table, names, int(options.sample_rows)))
                    rows = cursor.fetchall()
                except driver_error as exc:
                    warnings.append(f"could not sample {table.qualified_name}: {_first_line(exc)}")
                    continue
                values = _top_values(rows, columns, options)
                sampled[id(table)] = {c.name: v for c, v in zip(columns, values, strict=True) if v}
                stats[id(table)] = {c.name: _stats(rows, i, c) for i, c in enumerate(columns)}
                if len(rows) < options.sample_rows:
                    counts[id(table)] = len(rows)  # the whole table was read
            # Without catalogue statistics (a freshly loaded PostgreSQL table says -1,
            # SQL Server views nothing) a table's size is unknown; the planner and the
            # report need it, so count the big ones -- under the same timeout.
            for table, _ in todo:
                if table.kind != "table" or table.row_count is not None:
                    continue
                if id(table) in empty or id(table) in counts or id(table) not in sampled:
                    continue
                try:
                    starting()
                    cursor.execute(select(table, "COUNT(*)", 1))  # one row either way
                    counts[id(table)] = int(cursor.fetchone()[0])
                except driver_error as exc:
                    warnings.append(f"could not count {table.qualified_name}: {_first_line(exc)}")
    finally:
        cursor.close()
    out = []
    for table in tables:
        samples = sampled.get(id(table), {})
        col_stats = stats.get(id(table), {})
        changes: dict[str, Any] = {}
        if samples or col_stats:
            changes["columns"] = tuple(
                dataclasses.replace(
                    c, samples=samples.get(c.name, c.samples), stats=col_stats.get(c.name)
                )
                for c in table.columns
            )
        if id(table) in empty and table.kind == "table":
            changes["row_count"] = 0
        elif id(table) in counts:
            changes["row_count"] = counts[id(table)]  # exact beats the catalogue's estimate
        if changes:
            table = dataclasses.replace(table, **changes)
        out.append(table)
    return out


def _stats(rows: Sequence[Sequence[Any]], i: int, column: Column) -> ColumnStats:
    """Statistics of column ``i`` over the sampled ``rows`` (see data_create.roles)."""
    nulls = 0
    seen: set[Any] = set()
    lengths = 0
    numeric_text = column.type in ("text", "enum", "other")
    lo = hi = None
    for row in rows:
        value = row[i]
        if value is None:
            nulls += 1
            continue
        if isinstance(value, str):
            value = (
                value.rstrip()
                if column.raw_type.lower().startswith(("char", "nchar", "bpchar", "character"))
                else value
            )
            lengths += len(value)
            if numeric_text and not _NUMBER.fullmatch(value.strip()):
                numeric_text = False
        elif not isinstance(value, (int, float, decimal.Decimal)) or isinstance(value, bool):
            numeric_text = False
        try:
            seen.add(value)
        except TypeError:  # unhashable (arrays, JSON): no distinct count
            continue
        if isinstance(value, (int, float, decimal.Decimal, str, dt.date, dt.datetime)):
            try:
                lo = value if lo is None or value < lo else lo
                hi = value if hi is None or value > hi else hi
            except TypeError:
                pass
    non_null = len(rows) - nulls
    text_like = column.type in ("text", "enum", "other")
    return ColumnStats(
        rows=len(rows),
        nulls=nulls,
        distinct=len(seen),
        numeric_text=bool(numeric_text and non_null and text_like),
        min=_json_or_none(lo),
        max=_json_or_none(hi),
        avg_length=round(lengths / non_null, 1) if text_like and non_null else None,
    )


_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _json_or_none(value: Any) -> Any:
    out = json_value(value, 64)
    return None if out is _SKIP else out


def _verify_links(
    conn: Any, module: ModuleType, tables: list[Table], warnings: list[str]
) -> tuple[list[Link], list[Link]]:
    """Name-implied joins checked against the data (see data_create.links)."""
    from . import links

    guesses = links.propose(tables)
    if not guesses:
        return [], []
    prep = conn.dialect.identifier_preparer
    top = engines.get(conn.dialect.name).limit_style == "top"

    def limit(sql: str, n: int) -> str:
        return (
            sql.replace("SELECT DISTINCT", f"SELECT DISTINCT TOP {n}", 1)
            if top
            else f"{sql} LIMIT {n}"
        )

    cursor = conn.connection.driver_connection.cursor()
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        with module.statement_timeout(conn, SAMPLE_TIMEOUT_S) as starting:

            def probe(guess: links.Guess) -> tuple[int, int]:
                starting()
                try:
                    cursor.execute(links.probe_sql(guess, prep.quote, limit))
                    checked, found = cursor.fetchone()
                except driver_error as exc:
                    raise RuntimeError(_first_line(exc)) from None
                return int(checked), int(found or 0)

            return links.verify(guesses, probe)
    finally:
        cursor.close()


def _with_roles(tables: list[Table], links: tuple[Link, ...]) -> list[Table]:
    """Every column's role, inferred with the verified links counted as foreign keys."""
    from .records import ForeignKey

    extra: dict[str, list[ForeignKey]] = {}
    for link in links:
        if link.source == "verified":
            schema, _, name = link.ref_table.rpartition(".")
            extra.setdefault(link.table, []).append(
                ForeignKey(link.columns, name, link.ref_columns, ref_schema=schema or None)
            )
    out = []
    for table in tables:
        view = table
        if table.qualified_name in extra:
            view = dataclasses.replace(
                table, foreign_keys=table.foreign_keys + tuple(extra[table.qualified_name])
            )
        out.append(
            dataclasses.replace(
                table,
                columns=tuple(dataclasses.replace(c, role=infer(view, c)) for c in table.columns),
            )
        )
    return out


def _empty_tables(
    cursor: Any,
    driver_error: type[Exception],
    tables: list[Table],
    select: Callable[[Table, str, int], str],
    starting: Callable[[], None],
) -> set[int]:
    """``id()`` of the tables that hold no row, asked 200 tables to a query.

    Empty tables are common in big enterprise schemas (and every table of a new one);
    ``SELECT (SELECT 1 FROM t1 LIMIT 1), (SELECT 1 FROM t2 LIMIT 1), ...`` finds them
    with a one-row probe each, instead of a sampling round trip each.  A batch that
    fails (one unreadable table) is simply not probed: its tables are sampled one by
    one, and the failing one is reported there.
    """
    empty: set[int] = set()
    for start in range(0, len(tables), PROBE_BATCH):
        batch = tables[start : start + PROBE_BATCH]
        try:
            starting()
            cursor.execute("SELECT " + ", ".join(f"({select(t, '1', 1)})" for t in batch))
            flags = cursor.fetchone()
        except driver_error:
            continue
        empty.update(id(t) for t, flag in zip(batch, flags, strict=True) if flag is None)
    return empty


def _top_values(
    rows: Sequence[Sequence[Any]], columns: Sequence[Column], options: ExtractOptions
) -> list[tuple[Any, ...]]:
    """Per column, up to ``sample_values`` most frequent values (first seen wins ties)."""
    out = []
    for i, column in enumerate(columns):
        # CHAR(n) comes back blank-padded; the padding is not part of the value.
        padded = re.match(r"n?char\b|character(?! varying)|bpchar", column.raw_type.lower())
        counter: Counter[Any] = Counter()
        for row in rows:
            value = row[i]
            if padded and isinstance(value, str):
                value = value.rstrip()
            value = json_value(value, options.max_value_length)
            if value is not _SKIP:
                counter[value] += 1
        out.append(tuple(v for v, _ in counter.most_common(options.sample_values)))
    return out


_SKIP = object()


def json_value(value: Any, max_length: int = 64) -> Any:
    """A sampled value as something JSON keeps exactly, or ``_SKIP``.

    >>> json_value(decimal.Decimal("4.99")), json_value(decimal.Decimal("12.00"))
    (4.99, 12)
    >>> json_value(dt.date(2024, 1, 31)), json_value(b"x") is _SKIP, json_value("x" * 65) is _SKIP
    ('2024-01-31', True, True)
    """
    if value is None:
        return _SKIP
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _SKIP
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return _SKIP
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, dt.timedelta | uuid.UUID):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:  # bytes, arrays, geometry...: not a value a question would quote
        return _SKIP
    return text if len(text) <= max_length else _SKIP
