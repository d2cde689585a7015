"""The engine profiles (data_create/engines): one name normaliser, pointers that resolve,
and the facts other modules used to keep to themselves."""

from __future__ import annotations

import inspect
import types

import pytest
import sqlglot

from data_create import catalog, engines, prompt
from data_create.errors import UnknownScheme
from data_create.llm import meta_prompts

NAMES = {
    "sqlite": ("sqlite", "sqlite3", "sqlite+pysqlite"),
    "postgresql": ("postgresql", "postgres", "pgsql", "psql", "postgresql+psycopg2", "PostgreSQL"),
    "mysql": ("mysql", "mariadb", "mysql+pymysql", "MariaDB"),
    "mssql": ("mssql", "sqlserver", "tsql", "mssql+pyodbc"),
}


@pytest.mark.parametrize("engine", sorted(NAMES))
def test_one_normaliser_for_every_spelling(engine):
    profile = engines.ENGINES[engine]
    for name in NAMES[engine]:
        assert engines.get(name) is profile
        # The prompt layer and the meta-prompts ask the same normaliser.
        assert prompt.dialect_name(name) == profile.display_name
        assert meta_prompts.dialect_key(name) == profile.sqlglot_dialect


def test_unknown_names_fail_the_same_way_everywhere():
    with pytest.raises(UnknownScheme, match="oracle"):
        engines.get("oracle")
    with pytest.raises(ValueError, match=r"unknown SQL dialect 'oracle'; use one of"):
        prompt.dialect_name("oracle")


@pytest.mark.parametrize("engine", sorted(NAMES))
def test_pointers_resolve_to_the_engines_code(engine):
    profile = engines.ENGINES[engine]
    module = catalog.for_engine(engine)
    assert isinstance(module, types.ModuleType) and module.__name__ == profile.catalog_module
    for name in ("server_info", "read_tables", "list_tables", "statement_timeout"):
        assert callable(getattr(module, name)), name
    session = engines.session_class(engine)
    assert inspect.isclass(session) and session.__module__ == "data_create.executor"
    assert "Session" in session.__name__
    # sqlglot knows the dialect, and its null ordering is the one synthesis relies on.
    assert sqlglot.Dialect.get_or_raise(profile.sqlglot_dialect).NULL_ORDERING


def test_timeouts_set_and_reset_per_server_flavour():
    mysql = engines.get("mysql")
    assert mysql.timeout_sql(0.25, "8.0.36") == "SET SESSION max_execution_time = 250"
    assert mysql.timeout_reset_sql("8.0.36") == "SET SESSION max_execution_time = DEFAULT"
    assert mysql.timeout_sql(0.25, "10.11.6-MariaDB") == "SET SESSION max_statement_time = 0.25"
    assert mysql.timeout_reset_sql("mariadb") == "SET SESSION max_statement_time = DEFAULT"
    pg = engines.get("postgres")
    assert (pg.timeout_sql(0.0001), pg.timeout_reset_sql()) == (
        "SET statement_timeout = 1",  # never 0, which would mean "no limit"
        "RESET statement_timeout",
    )
    assert engines.get("sqlite").timeout_sql(1) is None  # a progress handler does it


def test_profiles_are_frozen_data():
    profile = engines.get("postgresql")
    with pytest.raises(AttributeError):
        profile.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.connect_args["application_name"] = "x"  # type: ignore[index]
    assert engines.session_facts("postgres") is profile.session is engines.SESSIONS["postgresql"]
    # Every engine tells prompts how it says "first n rows".
    for p in engines.ENGINES.values():
        assert dict(p.idioms)["limit"] and p.display_name
