"""Packaging promises: a light import, and the entry points a user types."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "pyodbc",
    "llamafactory",
    "transformers",
    "openai",
    "sqlalchemy",
    "psycopg2",
    "pymysql",
)


def test_import_is_light():
    """`import data_create` (and its modules) pulls in no driver, no torch, no LLM client.

    Drivers and SQLAlchemy are imported when a connection is made, so `--help`, the
    validator on a metadata file, and the cards work on a machine without them.
    """
    code = (
        "import sys, data_create, data_create.cli, data_create.validator, data_create.cards, "
        "data_create.metadata, data_create.executor, data_create.connect, nl2sql_fine_tuning; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_and_module_agree():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "nl2sql-data"]
    assert script.value == "data_create.cli:main"
    out = subprocess.run(
        [sys.executable, "-m", "data_create", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith("nl2sql-factory ")
