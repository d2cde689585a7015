"""Typed records for a database's structure, as extracted by :mod:`data_create.metadata`.

They are frozen dataclasses: stages pass them along and never mutate them.  They
round-trip through ``metadata.json`` (see :func:`SchemaMetadata.to_dict`), whose
format is versioned by ``METADATA_FORMAT_VERSION``.

>>> col = Column("order_id", "INTEGER", normalize_type("INTEGER"), nullable=False)
>>> col.type
'integer'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

from .roles import ColumnRole, ColumnStats

METADATA_FORMAT = "nl2sql-factory/metadata"
# 2: columns carry ``stats`` and ``role``; the schema carries ``links`` and
# ``rejected_links``.  Version-1 files are still read (roles are inferred on load).
METADATA_FORMAT_VERSION = 2
READABLE_METADATA_VERSIONS = (1, 2)

# Normalised column types: a small vocabulary every later stage can reason about
# (which columns to filter, aggregate, bucket by date...).
TYPE_CATEGORIES = (
    "integer",
    "decimal",
    "float",
    "boolean",
    "text",
    "date",
    "datetime",
    "time",
    "interval",
    "binary",
    "json",
    "uuid",
    "enum",
    "array",
    "other",
)


@dataclass(frozen=True)
class Column:
    name: str
    raw_type: str
    type: str
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    # Distinct values seen in a bounded sample, most frequent first.
    samples: tuple[Any, ...] = ()
    # True when the name looks sensitive (password, token, phone...); such columns are
    # sampled only when the user asks for it (--sample-sensitive).
    sensitive: bool = False
    # Cheap statistics over the sampled rows, and what the column means to a person
    # asking questions (see data_create.roles); filled in by metadata.extract().
    stats: ColumnStats | None = None
    role: ColumnRole | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    ref_schema: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Link:
    """A join the generators may use: ``table.columns`` -> ``ref_table.ref_columns``.

    ``source`` is ``"declared"`` (a foreign key in the catalogue), ``"verified"`` (implied
    by the column names and confirmed by the data) or ``"rejected"`` (implied by the
    names, refuted by the data: ``reason`` says how).  ``coverage`` is the share of the
    child's distinct non-null values found in the parent column.
    """

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    source: str = "declared"
    coverage: float | None = None
    reason: str = ""

    def describe(self) -> str:
        """``orders.customer_id -> customers.id``."""
        left = ", ".join(f"{self.table}.{c}" for c in self.columns)
        right = ", ".join(f"{self.ref_table}.{c}" for c in self.ref_columns)
        return f"{left} -> {right}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "table": self.table,
            "columns": list(self.columns),
            "ref_table": self.ref_table,
            "ref_columns": list(self.ref_columns),
            "source": self.source,
        }
        if self.coverage is not None:
            d["coverage"] = self.coverage
        if self.reason:
            d["reason"] = self.reason
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Link:
        return cls(
            table=d["table"],
            columns=tuple(d["columns"]),
            ref_table=d["ref_table"],
            ref_columns=tuple(d["ref_columns"]),
            source=d.get("source", "declared"),
            coverage=d.get("coverage"),
            reason=d.get("reason", ""),
        )


@dataclass(frozen=True)
class Table:
    name: str
    schema: str | None = None
    kind: str = "table"  # "table" or "view"
    comment: str | None = None
    columns: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    row_count: int | None = None  # approximate (catalogue estimate) unless the engine has none

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(frozen=True)
class SchemaMetadata:
    engine: str  # "sqlite" | "postgresql" | "mysql" | "mssql"
    dialect: str  # sqlglot dialect name
    database: str
    tables: tuple[Table, ...]
    default_schema: str | None = None
    server_version: str | None = None
    # How the server compares table names; None means "the engine's usual rule".
    table_names_case_sensitive: bool | None = None
    extracted_at: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # Every join the generators may use (declared foreign keys and data-verified links),
    # and the name-implied links the data refuted; see data_create.links.
    links: tuple[Link, ...] = ()
    rejected_links: tuple[Link, ...] = ()

    def table(self, name: str, schema: str | None = None) -> Table | None:
        for t in self.tables:
            if t.name == name and (schema is None or t.schema == schema):
                return t
        return None

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the structure only: tables, columns and types, keys.

        Comments, samples, row counts and the extraction time do not change it, so it
        tells a user when the schema itself changed and generated data may be stale.
        Computed once per (immutable) instance: hashing 8,000 tables is not free.
        """
        return structure_fingerprint(self.tables)

    def to_dict(self) -> dict[str, Any]:
        # Written field by field: dataclasses.asdict deep-copies every sample value and
        # was most of the cost of writing metadata.json for thousands of tables.
        return {
            "format": METADATA_FORMAT,
            "version": METADATA_FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "engine": self.engine,
            "dialect": self.dialect,
            "database": self.database,
            "tables": [_table_dict(t) for t in self.tables],
            "default_schema": self.default_schema,
            "server_version": self.server_version,
            "table_names_case_sensitive": self.table_names_case_sensitive,
            "extracted_at": self.extracted_at,
            "options": self.options,
            "links": [link.to_dict() for link in self.links],
            "rejected_links": [link.to_dict() for link in self.rejected_links],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SchemaMetadata:
        if d.get("format") != METADATA_FORMAT:
            raise ValueError("not an nl2sql-factory metadata file")
        if d.get("version") not in READABLE_METADATA_VERSIONS:
            raise ValueError(
                f"metadata format version {d.get('version')} is not supported "
                f"(this version reads {', '.join(map(str, READABLE_METADATA_VERSIONS))}); "
                "re-run `data_create inspect`"
            )
        tables = tuple(_table_from_dict(t) for t in d["tables"])
        keep = {
            "engine",
            "dialect",
            "database",
            "default_schema",
            "server_version",
            "table_names_case_sensitive",
            "extracted_at",
            "options",
        }
        meta = cls(
            tables=tables,
            links=tuple(Link.from_dict(x) for x in d.get("links", ())),
            rejected_links=tuple(Link.from_dict(x) for x in d.get("rejected_links", ())),
            **{k: v for k, v in d.items() if k in keep},
        )
        if d.get("version") == 1:
            from .roles import with_roles

            meta = meta.replace(
                tables=tuple(with_roles(t) for t in meta.tables),
                links=declared_links(meta.tables),
            )
        return meta

    def to_json(self, indent: int | None = 1) -> str:
        """The metadata as JSON; with ``indent``, the top level indented and one table
        per line.

        Each table is encoded by json's C encoder: ``json.dumps`` with ``indent`` uses
        the pure-Python one, which took longer than the whole extraction at 8,000 tables
        (bench/bench_metadata.py --inspect).  One table per line stays diff- and grep-able.
        """
        data = self.to_dict()
        if indent is None:
            return json.dumps(data, ensure_ascii=False, default=str)
        pad = " " * indent
        parts = []
        for key, value in data.items():
            if key == "tables" and isinstance(value, list) and value:
                rows = f",\n{pad * 2}".join(_compact(t) for t in value)
                text = f"[\n{pad * 2}{rows}\n{pad}]"
            else:
                text = _compact(value)
            parts.append(f"{pad}{_compact(key)}: {text}")
        return "{\n" + ",\n".join(parts) + "\n}"

    @classmethod
    def from_json(cls, text: str) -> SchemaMetadata:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> SchemaMetadata:
        return replace(self, **changes)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _column_dict(c: Column) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": c.name,
        "raw_type": c.raw_type,
        "type": c.type,
        "nullable": c.nullable,
        "default": c.default,
        "comment": c.comment,
        "samples": list(c.samples),
        "sensitive": c.sensitive,
    }
    if c.stats is not None:
        d["stats"] = {k: v for k, v in vars(c.stats).items() if v is not None}
    if c.role is not None:
        d["role"] = c.role.to_dict()
    return d


def _column_from_dict(c: dict[str, Any]) -> Column:
    stats = c.get("stats")
    role = c.get("role")
    return Column(
        name=c["name"],
        raw_type=c["raw_type"],
        type=c["type"],
        nullable=c.get("nullable", True),
        default=c.get("default"),
        comment=c.get("comment"),
        samples=tuple(c.get("samples", ())),
        sensitive=c.get("sensitive", False),
        stats=ColumnStats(**stats) if stats else None,
        role=ColumnRole.from_dict(role) if role else None,
    )


def _table_dict(t: Table) -> dict[str, Any]:
    return {
        "name": t.name,
        "schema": t.schema,
        "kind": t.kind,
        "comment": t.comment,
        "columns": [_column_dict(c) for c in t.columns],
        "primary_key": list(t.primary_key),
        "foreign_keys": [
            {
                "columns": list(fk.columns),
                "ref_table": fk.ref_table,
                "ref_columns": list(fk.ref_columns),
                "ref_schema": fk.ref_schema,
                "name": fk.name,
            }
            for fk in t.foreign_keys
        ],
        "unique": [list(u) for u in t.unique],
        "row_count": t.row_count,
    }


def _table_from_dict(t: dict[str, Any]) -> Table:
    return Table(
        name=t["name"],
        schema=t.get("schema"),
        kind=t.get("kind", "table"),
        comment=t.get("comment"),
        columns=tuple(_column_from_dict(c) for c in t["columns"]),
        primary_key=tuple(t.get("primary_key", ())),
        foreign_keys=tuple(
            ForeignKey(
                columns=tuple(fk["columns"]),
                ref_table=fk["ref_table"],
                ref_columns=tuple(fk["ref_columns"]),
                ref_schema=fk.get("ref_schema"),
                name=fk.get("name"),
            )
            for fk in t.get("foreign_keys", ())
        ),
        unique=tuple(tuple(u) for u in t.get("unique", ())),
        row_count=t.get("row_count"),
    )


def declared_links(tables: tuple[Table, ...] | list[Table]) -> tuple[Link, ...]:
    """The catalogue's foreign keys as :class:`Link` records."""
    return tuple(
        Link(
            t.qualified_name,
            fk.columns,
            f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table,
            fk.ref_columns,
            "declared" if fk.name not in ("verified", "implied") else "verified",
        )
        for t in tables
        for fk in t.foreign_keys
    )


def structure_fingerprint(tables: tuple[Table, ...] | list[Table]) -> str:
    canon = sorted(
        (
            t.schema or "",
            t.name,
            t.kind,
            [(c.name, c.raw_type.lower(), c.nullable) for c in t.columns],
            list(t.primary_key),
            sorted(
                (list(fk.columns), fk.ref_schema or "", fk.ref_table, list(fk.ref_columns))
                for fk in t.foreign_keys
            ),
            sorted(list(u) for u in t.unique),
        )
        for t in tables
    )
    blob = json.dumps(canon, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


_TYPE_PREFIXES = (
    # (prefix of the lower-cased base type name, category); first match wins.
    ("tinyint(1)", "boolean"),
    ("bool", "boolean"),
    ("bit", "boolean"),
    ("bigserial", "integer"),
    ("smallserial", "integer"),
    ("serial", "integer"),
    ("int", "integer"),
    ("bigint", "integer"),
    ("smallint", "integer"),
    ("tinyint", "integer"),
    ("mediumint", "integer"),
    ("integer", "integer"),
    ("year", "integer"),
    ("number", "decimal"),
    ("numeric", "decimal"),
    ("decimal", "decimal"),
    ("money", "decimal"),
    ("smallmoney", "decimal"),
    ("real", "float"),
    ("float", "float"),
    ("double", "float"),
    ("timestamp", "datetime"),
    ("datetime", "datetime"),
    ("smalldatetime", "datetime"),
    ("date", "date"),
    ("timetz", "time"),
    ("time", "time"),
    ("interval", "interval"),
    ("uuid", "uuid"),
    ("uniqueidentifier", "uuid"),
    ("jsonb", "json"),
    ("json", "json"),
    ("enum", "enum"),
    ("set", "enum"),
    ("bytea", "binary"),
    ("blob", "binary"),
    ("tinyblob", "binary"),
    ("mediumblob", "binary"),
    ("longblob", "binary"),
    ("binary", "binary"),
    ("varbinary", "binary"),
    ("image", "binary"),
    ("char", "text"),
    ("varchar", "text"),
    ("nchar", "text"),
    ("nvarchar", "text"),
    ("character", "text"),
    ("text", "text"),
    ("tinytext", "text"),
    ("mediumtext", "text"),
    ("longtext", "text"),
    ("ntext", "text"),
    ("clob", "text"),
    ("string", "text"),
    ("citext", "text"),
    ("name", "text"),
    ("xml", "text"),
)


@lru_cache(maxsize=4096)
def normalize_type(raw_type: str) -> str:
    """Map an engine's type name to one of :data:`TYPE_CATEGORIES`.

    >>> [normalize_type(t) for t in ("varchar(20)", "NUMERIC(10,2)", "timestamp with time zone",
    ...                              "tinyint(1)", "int unsigned", "_int4", "integer[]", "mpaa_rating")]
    ['text', 'decimal', 'datetime', 'boolean', 'integer', 'array', 'array', 'other']
    """
    t = (raw_type or "").strip().lower()
    if not t:
        # SQLite columns may be declared without a type; they hold anything.
        return "other"
    if t.endswith("[]") or t.startswith("_") or t.startswith("array"):
        return "array"
    if t.startswith("tinyint(1)"):
        return "boolean"
    base = t.split("(")[0].split()[0]
    if t.startswith("double precision"):
        return "float"
    if t.startswith("character varying") or t.startswith("national char"):
        return "text"
    for prefix, category in _TYPE_PREFIXES:
        if base == prefix:
            return category
    # SQLite's type affinity rules, for free-form declared types ("VARCHAR2", "UNSIGNED BIG INT").
    if "int" in t:
        return "integer"
    if "char" in t or "clob" in t or "text" in t:
        return "text"
    if "blob" in t:
        return "binary"
    if "real" in t or "floa" in t or "doub" in t:
        return "float"
    if "time" in t:
        return "datetime"
    if "date" in t:
        return "date"
    if "dec" in t or "num" in t:
        return "decimal"
    return "other"


# ---------------------------------------------------------------- generation records
#
# What flows through the generation pipeline: a Plan of Topics, Candidates from a
# generator (offline synthesizer or LLM), and Samples that passed the validator.

DIFFICULTIES = ("easy", "medium", "hard")

# SQL features a sample can exercise; the synthesizer tags what it builds, and the
# report counts them.  Names are stable: they appear in samples.jsonl and reports.
SQL_FEATURES = (
    "projection", "filter", "count", "distinct", "order_by", "limit", "aggregate",
    "group_by", "having", "between", "like", "is_null", "join", "multi_join",
    "subquery_in", "exists", "scalar_subquery", "set_operation", "case", "window",
    "date_bucket", "negation", "arithmetic",
)  # fmt: skip

# The families of question shapes the offline synthesizer draws from (its ``shape_mix``);
# a sample records its family in ``Sample.shape`` and the report shows the mix achieved.
SHAPE_FAMILIES = (
    "listing", "join_listing", "aggregate", "join_aggregate", "count_distinct", "group",
    "argmax", "top_n", "having", "compare_aggregate", "negation", "set_operation",
    "arithmetic", "advanced", "nested",
)  # fmt: skip


@dataclass(frozen=True)
class Topic:
    """A business topic: a few related tables and how many samples to make about them."""

    name: str
    tables: tuple[str, ...]
    reason: str
    count: int
    dialect: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tables": list(self.tables),
            "reason": self.reason,
            "count": self.count,
            "dialect": self.dialect,
        }


@dataclass(frozen=True)
class Plan:
    """``plan.json``: ``{"topics": [{"name", "tables", "reason", "count", "dialect"}]}``."""

    topics: tuple[Topic, ...]
    planner: str = "offline"

    @property
    def total(self) -> int:
        return sum(t.count for t in self.topics)

    def to_dict(self) -> dict[str, Any]:
        return {"topics": [t.to_dict() for t in self.topics], "planner": self.planner}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(
            topics=tuple(
                Topic(
                    name=t["name"],
                    tables=tuple(t["tables"]),
                    reason=t.get("reason", ""),
                    count=int(t["count"]),
                    dialect=t["dialect"],
                )
                for t in d["topics"]
            ),
            planner=d.get("planner", "offline"),
        )


@dataclass(frozen=True)
class Candidate:
    """A question/SQL pair from a generator, before validation."""

    question: str
    sql: str
    topic: str
    tables: tuple[str, ...]
    difficulty: str  # one of DIFFICULTIES
    features: tuple[str, ...]  # from SQL_FEATURES
    language: str  # "zh" | "en"
    generator: str  # e.g. "synth/1" or "llm:<model>"
    shape: str | None = None  # the synthesizer's shape family (SHAPE_FAMILIES), if known


@dataclass(frozen=True)
class Rejected:
    """A pair a generator made but could not use, with the layer and reason that said no.

    Generators yield these next to their :class:`Candidate` s so that every fault
    (an unparsable reply, a failed request, an unsafe statement...) reaches the rejects file.
    """

    question: str
    sql: str
    topic: str
    generator: str
    layer: str  # "llm" or a validator layer
    reason: str


@dataclass(frozen=True)
class Sample:
    """A validated pair, as written to ``samples.jsonl`` (one JSON object per line)."""

    id: str
    question: str
    sql: str
    dialect: str
    database: str
    topic: str
    tables: tuple[str, ...]
    difficulty: str
    features: tuple[str, ...]
    language: str
    generator: str
    validation: dict[
        str, Any
    ]  # {"rows", "elapsed_ms", "empty", "truncated"} or {"executed": False}
    created_at: str
    shape: str | None = None  # the synthesizer's shape family (SHAPE_FAMILIES), if known

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tables"] = list(self.tables)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(**{**d, "tables": tuple(d["tables"]), "features": tuple(d["features"])})
