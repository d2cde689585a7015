"""Per-engine facts, as data: one module per engine, one profile each.

Code that needs to know how an engine behaves takes an engine name (any spelling: our
name, a DSN scheme, a SQLAlchemy drivername or a sqlglot dialect) and asks :func:`get`
for its :class:`EngineProfile`; nothing outside this package compares engine names
(tests/test_architecture.py enforces it).  Add an engine by adding a module here with
a ``PROFILE`` and listing it in :data:`ENGINES`.

>>> get("postgres").display_name
'PostgreSQL'
>>> get("mariadb").timeout_sql(1.5, "10.11.6-MariaDB")
'SET SESSION max_statement_time = 1.5'
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType
from typing import Any

from sqlglot.dialects.dialect import Dialect, DialectType

from ..errors import UnknownScheme
from . import mssql, mysql, postgresql, sqlite
from .profile import AliasRule, EngineProfile, SessionFacts, StatementTimeout

__all__ = [
    "ALL_DANGEROUS_FUNCTIONS",
    "BUCKET_FORMATS",
    "ENGINES",
    "SESSIONS",
    "AliasRule",
    "EngineProfile",
    "SessionFacts",
    "StatementTimeout",
    "catalog",
    "get",
    "session_class",
    "session_facts",
]

# The order is the order engines are listed in (prompt corpora, help texts).
ENGINES: dict[str, EngineProfile] = {
    module.PROFILE.name: module.PROFILE for module in (sqlite, postgresql, mysql, mssql)
}

ALL_DANGEROUS_FUNCTIONS: frozenset[str] = frozenset().union(
    *(e.dangerous_functions for e in ENGINES.values())
)

SESSIONS: dict[str, SessionFacts] = {name: e.session for name, e in ENGINES.items()}

# Format strings of every engine's date buckets: literals a question need not state.
BUCKET_FORMATS: frozenset[str] = frozenset().union(*(e.bucket_formats for e in ENGINES.values()))

_BY_SCHEME = {scheme: e for e in ENGINES.values() for scheme in e.schemes}
_BY_DIALECT = {e.sqlglot_dialect: e for e in ENGINES.values()}


def get(name: str) -> EngineProfile:
    """The profile for an engine name, a DSN scheme or a sqlglot dialect name.

    The one place engine names are normalised: ``postgres``, ``postgresql``,
    ``postgresql+psycopg2`` and ``pgsql`` are one engine.

    >>> get("postgres").name
    'postgresql'
    >>> get("mssql+pyodbc").sqlglot_dialect
    'tsql'
    """
    key = name.lower().split("+", 1)[0]
    profile = ENGINES.get(key) or _BY_SCHEME.get(key) or _BY_DIALECT.get(key)
    if profile is None:
        raise UnknownScheme(f"unknown database engine {name!r}")
    return profile


def session_facts(name: str) -> SessionFacts:
    """The session facts for an engine (any name :func:`get` accepts).

    >>> session_facts("mariadb").reset_command
    'com_reset_connection'
    """
    return get(name).session


def catalog(name: str) -> ModuleType:
    """The catalogue reader module (data_create/catalog) for an engine (any name)."""
    return importlib.import_module(get(name).catalog_module)


def session_class(name: str) -> Any:
    """The executor's session class for an engine (imported on first use)."""
    module, _, attribute = get(name).session_class.partition(":")
    return getattr(importlib.import_module(module), attribute)


@lru_cache(maxsize=64)
def dialect(name: DialectType) -> Dialect:
    """sqlglot's dialect object for ``name`` (a sqlglot dialect name, None or a Dialect).

    Made once per name: given a name, sqlglot builds a new dialect object for every parse
    and every rendering, which was 3% of a generation run.

    >>> dialect("postgres") is dialect("postgres")
    True
    """
    return Dialect.get_or_raise(name)
