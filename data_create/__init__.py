"""nl2sql-factory's data side: read a database's structure, judge SQL, build training data.

Importing this package is cheap: it pulls in no database driver, no torch and no
LLM client.  Heavy modules are imported by the functions that need them.
"""

__version__ = "0.1.0"
