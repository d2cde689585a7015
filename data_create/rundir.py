"""The run directory's contract: what a ``data_create`` run leaves, and how to read it back.

Every tool that touches a run directory (the pipeline, ``eval_model``, ``vllm_test``,
``recipe``, ``smoke``) goes through this module, so the file names, the ``run.json``
format, JSONL reading and appending, atomic writing and "which chat prompt did the model
train on" exist once.

A run directory holds::

    run.json                   what made the run (see below), for --resume and later tools
    metadata.json, table_cards.md, plan.json
    samples.jsonl, rejects.jsonl   one record per attempt, appended line-atomically
    split.json                 which sample ids went to train and to dev
    train_alpaca.jsonl, dev_alpaca.jsonl, train_sharegpt.jsonl, dev_sharegpt.jsonl
    dataset_info.json, report.*

``run.json`` records the database as a DSN *without* its password and the name of the
environment variable the password comes from; no password, masked or not, is ever written
(``password_env``: the variable ``--password-env`` named, ``NL2SQL_DB_PASSWORD`` when the
run read it from there, None when the database needs none or the DSN carried it)::

    {"format": "nl2sql-factory/run", "version": 2,
     "dsn": "postgresql+psycopg2://reader@db:5432/shop", "password_env": "SHOP_PW",
     "database": "postgresql+psycopg2://reader:***@db:5432/shop", ...}

>>> strip_password("postgresql://u:s3cret@h:5432/db?sslmode=require&password=x")
'postgresql://u@h:5432/db?sslmode=require'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError

RUN_FORMAT = "nl2sql-factory/run"
RUN_VERSION = 2

RUN_FILE = "run.json"
SAMPLES = "samples.jsonl"
REJECTS = "rejects.jsonl"
METADATA = "metadata.json"
CARDS = "table_cards.md"
PLAN = "plan.json"
SPLIT = "split.json"


def alpaca_file(split: str) -> str:
    """``train_alpaca.jsonl`` / ``dev_alpaca.jsonl``."""
    return f"{split}_alpaca.jsonl"


# ---------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], *, errors: str = "strict", newline: str | None = None
) -> Iterator[IO[str]]:
    """A text file that appears at ``path`` whole or not at all.

    Written to a unique temporary file beside ``path`` and renamed over it, so a reader
    never sees half a file, a crash leaves the old one, and two writers racing each leave
    a whole one (a fixed ``.tmp`` name would let them write into the same file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline=newline) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, errors: str = "strict") -> None:
    """Write ``text`` atomically (see :func:`atomic_open`).

    ``errors="backslashreplace"`` keeps text with a lone surrogate (a model's answer)
    writable: it becomes its ``\\udXXX`` escape, which inside JSON reads back as itself.
    """
    with atomic_open(path, errors=errors) as f:
        f.write(text)


def write_json(
    path: str | os.PathLike[str], data: Any, *, indent: int | None = 1, errors: str = "strict"
) -> None:
    """Write ``data`` as JSON (UTF-8, not ASCII-escaped) atomically, with a final newline."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=indent) + "\n", errors=errors)


def write_jsonl(
    path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]], *, errors: str = "strict"
) -> None:
    """Write one JSON object per line atomically."""
    with atomic_open(path, errors=errors) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- JSONL


class JsonlAppender:
    """Appends one whole JSON line per ``os.write`` to an ``O_APPEND`` file.

    A kill leaves at most a torn last line, which :func:`read_jsonl` with ``repair``
    cuts off; so a file appended to this way is always a prefix of whole records.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: Mapping[str, Any]) -> None:
        # backslashreplace: a lone surrogate (from an LLM reply) becomes its \\udXXX
        # escape, which inside a JSON string reads back as the same text.
        text = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        data = text.encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:  # a regular file takes it in one go; loop for the pedantic case
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per line; a missing file has none.

    Blank lines are skipped.  A damaged line is a :class:`ConfigError` naming the file
    and line, except with ``repair``: then the file is cut back to the last whole record
    (what a kill during :class:`JsonlAppender.write` leaves is a torn last line).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    good_end = offset = 0
    problem = ""
    for lineno, raw in enumerate(data.splitlines(keepends=True), 1):
        offset += len(raw)
        if not raw.strip():
            good_end = offset
            continue
        if repair and not raw.endswith(b"\n"):
            problem = f"line {lineno} is torn"  # the write that made it never finished
            break
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"line {lineno} is not JSON ({getattr(exc, 'msg', exc)})"
            break
        if not isinstance(record, dict):
            problem = f"line {lineno} is not a JSON object"
            break
        records.append(record)
        good_end = offset
    if problem:
        if not repair:
            raise ConfigError(f"{path} has a damaged line: {problem}", "fix or remove that line")
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return records


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Objects of a JSON list file or a JSONL file (what users hand to eval tools)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not text.lstrip().startswith("["):
        return read_jsonl(path)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON or JSONL ({exc.msg} at line {exc.lineno})") from None
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ConfigError(f"{path}: record {bad + 1} is not a JSON object")
    return records


# ---------------------------------------------------------------- run.json


def strip_password(dsn: str) -> str:
    """``dsn`` with its password removed — not masked: nothing is left to un-mask.

    Takes the userinfo password and every query parameter that carries one (libpq,
    PyMySQL and ODBC spell it differently), including ``PWD=`` inside ``odbc_connect``.
    """
    from urllib.parse import quote_plus, unquote_plus

    from sqlalchemy.engine import make_url

    url = make_url(dsn)
    url = url._replace(password=None)  # URL.set() reads None as "leave as it is"
    query: dict[str, Any] = {}
    for key, value in url.query.items():
        if key.lower() in _PASSWORD_KEYS:
            continue
        if key.lower() == "odbc_connect":
            parts = [p for p in unquote_plus(str(value)).split(";") if p]
            kept = [p for p in parts if p.split("=", 1)[0].strip().lower() not in _PASSWORD_KEYS]
            value = quote_plus(";".join(kept))
        query[key] = value
    url = url.set(query=query)
    return url.render_as_string(hide_password=False)


# Query parameters that carry a password (as in connect.mask).
_PASSWORD_KEYS = frozenset({"password", "passwd", "pwd", "pass"})


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` says about a run."""

    dsn: str | None  # without password; None: the run predates this field and names none
    password_env: str | None  # where the password comes from; None: not from a variable
    database: str  # the masked DSN, for people and for --resume's "same database?" check
    fingerprint: str | None
    config: dict[str, Any]
    started_at: str | None

    def connection(self) -> tuple[str, str | None]:
        """``(dsn, password_env)`` to hand to :func:`data_create.connect.connect`.

        The password is read from the environment at connect time; when the variable the
        run used is not set, the message says which one.
        """
        if not self.dsn:
            raise ConfigError(
                f"run.json names the database only as {self.database!r}",
                "pass --dsn (and the password through NL2SQL_DB_PASSWORD or --password-env)",
            )
        return self.dsn, require_password_env(self.password_env, self.dsn)


def require_password_env(name: str | None, dsn: str) -> str | None:
    """``name``, after checking the variable is set: the run read its password from there."""
    if name and name not in os.environ:
        raise ConfigError(
            f"the run's database {dsn} takes its password from ${name}, which is not set "
            "(run.json names the variable; the password itself is never stored)",
            f"export {name}=..., or pass --dsn",
        )
    return name


def run_record(
    *,
    url: Any,
    display: str,
    password_env: str | None,
    fingerprint: str,
    config: Mapping[str, Any],
    started_at: str,
) -> dict[str, Any]:
    """The ``run.json`` object for a run on the connected database ``url`` (a SQLAlchemy URL).

    ``password_env`` is what the user named with ``--password-env``; when they named none
    and the password came from ``NL2SQL_DB_PASSWORD``, that variable is recorded.
    """
    from .connect import PASSWORD_ENV

    password = url.password
    dsn = strip_password(url.render_as_string(hide_password=False))
    if password and str(password) in dsn:  # never write it, whatever odd form the URL had
        dsn = None
    source = password_env
    if password and source is None and os.environ.get(PASSWORD_ENV) == str(password):
        source = PASSWORD_ENV
    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "dsn": dsn,
        "password_env": source if password else None,
        "database": display,
        "fingerprint": fingerprint,
        "config": dict(config),
        "started_at": started_at,
    }


def read_run(run_dir: str | os.PathLike[str]) -> RunInfo | None:
    """The run's ``run.json``, or None when the directory has none."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != RUN_FORMAT:
        raise ConfigError(f"{path} is not an nl2sql-factory run file")
    dsn = state.get("dsn")
    if dsn is None and state.get("version", 1) < 2 and state.get("database"):
        # Version 1 stored the masked DSN; its "***" placeholder is dropped, not replaced,
        # and the password then comes from NL2SQL_DB_PASSWORD as it always did.
        dsn = strip_password(state["database"])
    return RunInfo(
        dsn=dsn,
        password_env=state.get("password_env"),
        database=str(state.get("database") or dsn or ""),
        fingerprint=state.get("fingerprint"),
        config=dict(state.get("config") or {}),
        started_at=state.get("started_at"),
    )


# ---------------------------------------------------------------- the splits


@dataclass(frozen=True)
class SplitItem:
    """One sample of a split, with the chat prompt the model trained on when it is known."""

    sample: dict[str, Any]  # its samples.jsonl record
    trained: tuple[dict[str, str], ...] | None  # from <split>_alpaca.jsonl

    def messages(self) -> tuple[dict[str, str], ...]:
        """The prompt to send: the trained one, else :func:`data_create.prompt.messages`."""
        if self.trained is not None:
            return self.trained
        from . import prompt

        s = self.sample
        return tuple(prompt.messages(s["question"], s["dialect"], language=s.get("language", "en")))


def split_ids(run_dir: str | os.PathLike[str], split: str = "dev") -> list[str]:
    """The sample ids of ``split`` in ``split.json`` order."""
    path = Path(run_dir) / SPLIT
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))[split]
    except FileNotFoundError:
        raise ConfigError(
            f"{run_dir} is not a data_create run directory ({SPLIT} missing)",
            "pass the --out directory of a `python -m data_create` run",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the {split} ids in {path}: {exc}") from None
    return [str(i) for i in ids]


def split_items(run_dir: str | os.PathLike[str], split: str = "dev") -> list[SplitItem]:
    """The samples of ``split`` in file order, each with the prompt it was trained on.

    The prompt comes from ``<split>_alpaca.jsonl`` when that file belongs to the same
    export (one record per id): it then holds any schema context the export added.
    """
    from . import prompt

    run = Path(run_dir)
    samples_path = run / SAMPLES
    if not samples_path.is_file():
        raise ConfigError(
            f"{run} is not a data_create run directory ({SAMPLES} missing)",
            "pass the --out directory of a `python -m data_create` run",
        )
    ids = split_ids(run, split)
    by_id = {str(r["id"]): r for r in read_jsonl(samples_path)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ConfigError(
            f"{len(missing)} {split} id(s) of {run / SPLIT} are not in {samples_path}, "
            f"e.g. {missing[0]!r}",
            f"use {SPLIT} and {SAMPLES} from the same run",
        )
    alpaca = read_jsonl(run / alpaca_file(split))
    aligned = len(alpaca) == len(ids)
    return [
        SplitItem(by_id[sid], prompt.alpaca_messages(alpaca[n]) if aligned else None)
        for n, sid in enumerate(ids)
    ]


__all__ = [
    "RUN_FORMAT",
    "JsonlAppender",
    "RunInfo",
    "SplitItem",
    "alpaca_file",
    "atomic_open",
    "read_jsonl",
    "read_records",
    "read_run",
    "require_password_env",
    "run_record",
    "split_ids",
    "split_items",
    "strip_password",
    "write_json",
    "write_jsonl",
    "write_text",
]
