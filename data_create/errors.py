"""Errors a user can cause, each with a message that says what happened and what to do.

The tree::

    Nl2SqlError
    ├── ConfigError             bad option, bad input file, bad config value
    ├── ConnectionFailed        the database could not be reached or used
    │   ├── UnknownScheme       the DSN names an engine we do not speak
    │   ├── DriverMissing       the Python driver for that engine is not installed
    │   ├── HostUnreachable     nothing answers at host:port
    │   ├── AuthenticationFailed
    │   ├── UnknownDatabase
    │   ├── ConnectTimeout
    │   └── PrivilegedAccount   superuser / file access; refused unless allowed
    ├── MetadataError           the catalogue could not be read, or holds nothing usable
    │   └── EmptySchema
    ├── PlanningError           no topics could be planned from the metadata
    ├── LLMUnavailable          the LLM endpoint does not answer or refuses the key
    └── SqlRejected             an SQL statement failed a validator layer

Only ``data_create.cli`` turns these into one line on stderr and an exit code; the
library raises them and never prints.  Messages never contain a password: the
connection layer builds them from masked URLs and scrubs driver text.
"""

from __future__ import annotations


class Nl2SqlError(Exception):
    """Base class. ``hint`` is the "what to do" half of the message."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(Nl2SqlError):
    hint = "check the option or file named above (see --help)"


class ConnectionFailed(Nl2SqlError):
    hint = "check the DSN, then try again"


class UnknownScheme(ConnectionFailed):
    hint = (
        "use one of postgresql://, mysql://, mariadb://, mssql://, sqlite:///path "
        "(or a full SQLAlchemy URL)"
    )


class DriverMissing(ConnectionFailed):
    pass


class HostUnreachable(ConnectionFailed):
    hint = "check host and port, that the server is running, and that a firewall lets you in"


class AuthenticationFailed(ConnectionFailed):
    hint = "check the user name and password (the password may also come from NL2SQL_DB_PASSWORD)"


class UnknownDatabase(ConnectionFailed):
    hint = "check the database name at the end of the DSN"


class ConnectTimeout(ConnectionFailed):
    hint = "the server did not answer in time; check the network or raise --connect-timeout"


class PrivilegedAccount(ConnectionFailed):
    """The DSN's account can do far more than read (superuser, server files, all privileges)."""

    hint = (
        "connect as a role that may only read (README: 'Least privilege' shows the "
        "CREATE ROLE / GRANT SELECT recipe), or pass --allow-privileged-role "
        "(config: allow_privileged_role: true; environment: NL2SQL_ALLOW_PRIVILEGED_ROLE=1)"
    )


class MetadataError(Nl2SqlError):
    hint = "check that the user may read the catalogue (information_schema / pg_catalog / sys)"


class EmptySchema(MetadataError):
    hint = "check --schema and --include/--exclude, and that the user can see the tables"


class LLMUnavailable(Nl2SqlError):
    hint = "start the server (e.g. `vllm serve MODEL --port 8000`) or pass --base-url"


class PlanningError(Nl2SqlError):
    hint = (
        "check --include/--exclude and that the tables hold rows "
        "(views and empty tables are not planned)"
    )


class SqlRejected(Nl2SqlError):
    """An SQL statement failed one validator layer."""

    def __init__(self, sql: str, layer: str, reason: str):
        super().__init__(f"{layer}: {reason}")
        self.sql = sql
        self.layer = layer
        self.reason = reason
