"""Validate generated SQL in layers: syntax -> safety -> schema -> execution.

Each layer either passes the statement on or rejects it with a reason; a
:class:`Verdict` names the layer that said no.  No layer raises on any input: an
unexpected error inside one becomes a reject ``"internal: ..."`` of that layer.

* **input** — text a database or a JSON file cannot hold: NUL bytes, lone surrogates.
* **syntax** — sqlglot parses the text in the source dialect; exactly one statement.
* **safety** — :mod:`data_create.safety`: a read query and nothing else.
* **schema** — :mod:`data_create.schema_check`: every table and column exists.
* **execution** (optional) — :mod:`data_create.executor` runs it read-only, with a
  timeout and a row cap; the verdict records rows, time and emptiness.

What runs is what was checked: an accepted verdict carries ``sql``, the statement
regenerated from the validated tree by sqlglot's generator for the engine (no
comments, one statement), and the execution layer runs that text, never the raw
one, so comments, Unicode tricks and lexer differences between sqlglot and the server
cannot smuggle text past the checks.  Callers that execute SQL themselves (the
evaluation) run ``verdict.sql`` too.

>>> v = Validator(None, "sqlite")
>>> v.check_static("SELECT 1; DROP TABLE users").to_dict()["reason"]
'2 statements; exactly one is allowed'
>>> v.check_static("DeLeTe FROM users").layer
'safety'
>>> v.check_static("SELECT 1 -- note").sql
'SELECT 1'
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import TokenType

from . import engines, rundir
from .errors import ConfigError
from .hygiene import one_line, text_problem
from .safety import allowed_extra_functions, check_safety, check_tokens
from .schema_check import SchemaIndex, check_schema

if TYPE_CHECKING:
    from sqlglot.tokens import Token

    from .connect import Database
    from .executor import ExecResult, Executor, ExecutorPool
    from .records import SchemaMetadata

__all__ = [
    "ValidationSummary",
    "Validator",
    "Verdict",
    "reason_kind",
    "text_problem",
    "validate_file",
]

LAYERS = ("input", "syntax", "safety", "schema", "execution")
MAX_SQL_CHARS = 100_000
# Deeper parenthesis nesting than any real query has; it also keeps sqlglot's
# recursive parser far from the interpreter's recursion limit.
MAX_NESTING = 100
# Calls named by a type keyword (``DATE(``, ``TIME(``, ``DECIMAL(``...) nested in one another:
# sqlglot tries each as a type and as a function, so its parse time doubles with every
# level (16 levels 0.5 s, 44 -- a small model's runaway output -- hours and 20 GB).  No
# real query nests more than a few.
MAX_TYPE_CALL_NESTING = 8
_BATCH = 256  # statements per validate_many call in validate_file
log = logging.getLogger(__name__)
_VERBATIM = "nl2sql_verbatim__"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    layer: str | None  # None when ok, else "input" | "syntax" | "safety" | "schema" | "execution"
    reason: str | None
    rows: int | None = None
    elapsed_ms: float | None = None
    empty: bool | None = None
    truncated: bool | None = None
    # The canonical statement (regenerated from the validated tree) when ok: what the
    # execution layer ran, and what any other caller must run.
    sql: str | None = None
    # Executed, and the answer is one row of nothing but 0 / NULL (COUNT of nothing, SUM
    # of no rows): known from the one execution, so nobody runs the query again to see.
    trivial: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["trivial"]  # an internal judgement, not part of the written verdict
        return d


def _reject(layer: str, reason: str) -> Verdict:
    return Verdict(ok=False, layer=layer, reason=reason)


class _CommandFallbackFilter(logging.Filter):
    """Drops sqlglot's warning that it parsed a statement as an opaque Command.

    Such a statement is rejected by the safety layer anyway; the warning, once per
    generated statement, would only bury real messages.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_FILTER = _CommandFallbackFilter()


@dataclass(frozen=True)
class _Parsed:
    expression: exp.Expr
    text: str  # the statement as written: no surrounding comments or semicolons
    tokens: Sequence[Token]


class Validator:
    """Runs the layers for one database (``metadata``) in one SQL ``dialect``.

    ``metadata=None`` skips the schema layer; without ``executor``/``pool`` nothing is
    executed.  ``dialect`` is an engine name or a sqlglot dialect (``"postgres"``).
    """

    def __init__(
        self,
        metadata: SchemaMetadata | None,
        dialect: str,
        executor: Executor | None = None,
        pool: ExecutorPool | None = None,
        *,
        allow_functions: Iterable[str] = (),
    ):
        self.profile = engines.get(dialect)
        # The user's --allow-function names; a dangerous one is a ConfigError here.
        self.allow_functions = allowed_extra_functions(allow_functions)
        if metadata is not None and engines.get(metadata.engine) is not self.profile:
            raise ConfigError(
                f"the metadata is for {metadata.engine} but the dialect is {dialect}",
                "validate with the dialect of the database the metadata came from",
            )
        self.metadata = metadata
        self.index = SchemaIndex(metadata) if metadata is not None else None
        self.known_tables = self.index.known_tables if self.index else frozenset()
        self.dialect = Dialect.get_or_raise(self.profile.sqlglot_dialect)
        self.executor = executor
        self.pool = pool
        # Function names the parser must not turn into another function (engines.py,
        # verbatim_functions): their tokens are renamed so sqlglot sees an unknown call.
        self._verbatim = frozenset(name.lower() for name in self.profile.verbatim_functions)
        sqlglot_logger = logging.getLogger("sqlglot")
        if _FILTER not in sqlglot_logger.filters:
            sqlglot_logger.addFilter(_FILTER)

    @classmethod
    def for_database(
        cls,
        db: Database,
        dialect: str | None = None,
        *,
        executor: Executor | None = None,
        pool: ExecutorPool | None = None,
        allow_functions: Iterable[str] = (),
    ) -> Validator:
        """The validator for a connected database, its metadata read for the schema layer.

        When the catalogue cannot be read (rights), or ``dialect`` is not the database's
        engine, the schema layer is off and a warning logged; the safety layer still
        refuses system catalogues and unlisted functions.
        """
        from . import metadata as md
        from .errors import Nl2SqlError

        dialect = dialect or db.profile.name
        meta: SchemaMetadata | None
        try:
            meta = md.extract(db, md.ExtractOptions(sample_values=0))
        except Nl2SqlError as exc:
            log.warning("no schema layer for %s: %s", db.name, exc)
            meta = None
        if meta is not None and engines.get(meta.engine) is not engines.get(dialect):
            log.warning("no schema layer: the database is %s, the dialect %s", meta.engine, dialect)
            meta = None
        return cls(meta, dialect, executor, pool, allow_functions=allow_functions)

    # ---------------------------------------------------------------- public

    def check_static(self, sql: str) -> Verdict:
        """Syntax, safety and schema layers; nothing touches the database."""
        verdict, _ = self._static(sql)
        return verdict

    def validate(self, sql: str) -> Verdict:
        """All layers; the execution layer only when an executor (or pool) was given."""
        verdict = self.check_static(sql)
        if not verdict.ok or verdict.sql is None:
            return verdict
        if self.executor is not None:
            return _execution_verdict(self.executor.execute(verdict.sql), verdict.sql)
        if self.pool is not None:
            return _execution_verdict(self.pool.map([verdict.sql])[0], verdict.sql)
        return verdict

    def validate_many(self, sqls: Iterable[str]) -> list[Verdict]:
        """Static layers for each statement, then the survivors executed (in parallel
        through the pool if there is one); verdicts come back in input order."""
        verdicts: list[Verdict] = []
        to_run: list[tuple[int, str]] = []
        for i, sql in enumerate(sqls):
            verdict = self.check_static(sql)
            verdicts.append(verdict)
            if verdict.ok and verdict.sql is not None:
                to_run.append((i, verdict.sql))
        if not to_run:
            return verdicts
        texts = [text for _, text in to_run]
        if self.pool is not None:
            results = self.pool.map(texts)
        elif self.executor is not None:
            results = [self.executor.execute(text) for text in texts]
        else:
            return verdicts
        for (i, text), result in zip(to_run, results, strict=True):
            verdicts[i] = _execution_verdict(result, text)
        return verdicts

    def canonical(self, expression: exp.Expr) -> str:
        """The statement regenerated by sqlglot for this engine, without comments."""
        # copy=False: the generator's own deep copy would double the validator's cost;
        # its transforms may rewrite the tree in place, which the schema layer then
        # checks: the tree of the statement that runs.
        return self.dialect.generate(expression, copy=False, comments=False)

    @property
    def executes(self) -> bool:
        return self.executor is not None or self.pool is not None

    # ---------------------------------------------------------------- layers

    def _static(self, sql: str) -> tuple[Verdict, _Parsed | None]:
        layer = "input"
        try:
            problem = text_problem(sql)
            if problem:
                return _reject("input", f"the SQL {problem}"), None
            layer = "syntax"
            parsed = self._parse(sql)
            if isinstance(parsed, Verdict):
                return parsed, None
            layer = "safety"
            reason = check_tokens(parsed.tokens, sql, self.profile) or check_safety(
                parsed.expression,
                self.profile,
                known_tables=self.known_tables,
                allow_functions=self.allow_functions,
            )
            if reason:
                return _reject("safety", reason), None
            # Regenerated before the schema layer normalises identifiers in place.
            canonical = self.canonical(parsed.expression)
            if self.index is not None:
                layer = "schema"
                reason = check_schema(
                    parsed.expression,
                    self.index,
                    copy=False,
                    string_tokens=_double_quoted(parsed.tokens, sql, self.profile),
                )
                if reason:
                    return _reject("schema", reason), None
            return Verdict(ok=True, layer=None, reason=None, sql=canonical), parsed
        except RecursionError:
            return _reject(layer, "the statement is nested too deeply"), None
        except Exception as exc:  # a bug in a layer must not stop a batch
            return _reject(layer, f"internal: {type(exc).__name__}: {_one_line(str(exc))}"), None

    def _parse(self, sql: str) -> _Parsed | Verdict:
        if not isinstance(sql, str):
            return _reject("syntax", f"the SQL is a {type(sql).__name__}, not text")
        if not sql.strip():
            return _reject("syntax", "empty statement")
        if len(sql) > MAX_SQL_CHARS:
            return _reject(
                "syntax", f"statement too long ({len(sql)} characters, at most {MAX_SQL_CHARS})"
            )
        try:
            tokens = self.dialect.tokenize(sql)
        except TokenError as exc:
            return _reject("syntax", f"cannot tokenize: {_one_line(str(exc))}")
        depth = deepest = 0
        typed: list[bool] = []  # per open parenthesis: is it a call named by a type keyword
        type_calls = deepest_type_calls = 0
        type_tokens = self.dialect.parser_class.TYPE_TOKENS
        verbatim = self._verbatim
        renamed = False
        for i, token in enumerate(tokens):
            if token.token_type == TokenType.L_PAREN:
                depth += 1
                deepest = max(deepest, depth)
                typed.append(bool(i) and tokens[i - 1].token_type in type_tokens)
                type_calls += typed[-1]
                deepest_type_calls = max(deepest_type_calls, type_calls)
                if verbatim and i and tokens[i - 1].token_type == TokenType.VAR:
                    name = tokens[i - 1].text.lower()
                    if name in verbatim:  # parsed as a plain call; its name restored below
                        tokens[i - 1].text = _VERBATIM + name
                        renamed = True
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
                type_calls -= typed.pop() if typed else 0
        if deepest > MAX_NESTING:
            return _reject("syntax", f"nested too deeply ({deepest} levels of parentheses)")
        if deepest_type_calls > MAX_TYPE_CALL_NESTING:
            return _reject(
                "syntax",
                f"nested too deeply ({deepest_type_calls} calls such as DATE(...) inside one "
                f"another, at most {MAX_TYPE_CALL_NESTING})",
            )
        try:
            expressions = self.dialect.parser(error_level=ErrorLevel.RAISE).parse(tokens, sql)
        except ParseError as exc:
            return _reject("syntax", _parse_error_reason(exc))
        if renamed:
            for expression in expressions:
                for call in expression.find_all(exp.Anonymous) if expression else ():
                    name = call.name[len(_VERBATIM) :]
                    if call.name.startswith(_VERBATIM) and name in verbatim:
                        call.set("this", name)
        statements = [e for e in expressions if e is not None and not isinstance(e, exp.Semicolon)]
        if not statements:
            return _reject("syntax", "no statement (only comments or semicolons)")
        if len(statements) > 1:
            return _reject("syntax", f"{len(statements)} statements; exactly one is allowed")
        if isinstance(statements[0], exp.Condition):
            # sqlglot parses a bare word or expression ("SELECT_____", "hello", "1 + 1") as an
            # expression, not a statement: that is text that is not SQL, not an unsafe query.
            return _reject("syntax", f"not an SQL statement: {_one_line(sql, 80)}")
        body = [t for t in tokens if t.token_type != TokenType.SEMICOLON]
        text = sql[body[0].start : body[-1].end + 1] if body else sql.strip()
        return _Parsed(statements[0], text, tokens)


def _double_quoted(
    tokens: Sequence[Token], sql: str, profile: engines.EngineProfile
) -> frozenset[str]:
    """Names written in double quotes, where the engine may read them as strings."""
    if not profile.double_quoted_string_fallback:
        return frozenset()
    return frozenset(
        t.text
        for t in tokens
        if t.token_type == TokenType.IDENTIFIER and sql[t.start : t.start + 1] == '"'
    )


def trivial_rows(rows: Any) -> bool:
    """A single row of nothing but 0 / NULL: an answer that teaches little."""
    return len(rows) == 1 and all(
        v is None or (isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) and v == 0)
        for v in rows[0]
    )


def _execution_verdict(result: ExecResult, sql: str | None = None) -> Verdict:
    if result.ok:
        return Verdict(
            ok=True,
            layer=None,
            reason=None,
            rows=result.row_count,
            elapsed_ms=round(result.elapsed_ms, 3),
            empty=result.empty,
            truncated=result.truncated,
            sql=sql,
            trivial=trivial_rows(result.rows),
        )
    return Verdict(
        ok=False,
        layer="execution",
        reason=f"{result.error_kind}: {result.error}",
        elapsed_ms=round(result.elapsed_ms, 3),
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: \d+.*?>")


def _one_line(text: str, limit: int = 300) -> str:
    """A sqlglot message on one line, without the ANSI colours of its highlights."""
    return one_line(_ANSI.sub("", text), limit)


def _parse_error_reason(exc: ParseError) -> str:
    errors = getattr(exc, "errors", None) or []
    if not errors:
        return f"parse error: {_one_line(str(exc))}"
    first = errors[0]
    description = _TOKEN_REPR.sub(r"'\1'", str(first.get("description") or "invalid SQL"))
    where = ""
    if first.get("line") is not None:
        where = f" at line {first['line']}, col {first.get('col')}"
    near = _one_line(str(first.get("highlight") or ""), 40)
    near = f" near '{near}'" if near else ""
    return f"parse error{where}: {_one_line(description, 200)}{near}"


# -------------------------------------------------------------------- files

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_PARENS = re.compile(r"\([^()]*\)")
_NUMBERS = re.compile(r"\d+")


def reason_kind(layer: str | None, reason: str | None) -> str:
    """A reason with its particulars (names, positions, suggestions) removed, for counting.

    >>> reason_kind("schema", "unknown column 'custmer_id' in table orders — did you mean customer_id?")
    'schema: unknown column in table orders'
    >>> reason_kind("execution", "timeout: canceling statement due to statement timeout")
    'execution: timeout'
    """
    if not layer:
        return "ok"
    text = reason or ""
    if layer == "execution":
        return f"execution: {text.split(':', 1)[0]}"
    text = text.split(" — ", 1)[0]
    if layer == "syntax" and text.startswith("parse error"):
        text = "parse error"
    text = _QUOTED.sub("", text)
    text = _PARENS.sub("", text)
    text = _NUMBERS.sub("", text)
    return f"{layer}: {one_line(text)}"[:80]


@dataclass(frozen=True)
class ValidationSummary:
    total: int
    valid: int
    rejected: int
    by_layer: dict[str, int]
    by_reason_kind: dict[str, int]
    empty: int  # valid statements whose result had no rows (only when executed)
    truncated: int  # valid statements with more rows than the executor's cap
    elapsed_s: float
    executed: bool
    input_path: str = ""
    blank_lines: int = 0
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_file(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    validator: Validator,
    *,
    sql_key: str = "sql",
    question_key: str = "question",
) -> ValidationSummary:
    """Validate a JSONL file of ``{question, sql}`` records.

    Writes ``valid.jsonl`` (each record plus ``"validation": verdict``),
    ``rejects.jsonl`` (each record plus ``"layer"`` and ``"reason"``; a line that is not
    a usable record is kept as ``{"line": n, "raw": text}``) and ``summary.json`` into
    ``out_dir``.  Every output line is written whole and flushed, so an interrupted run
    leaves complete lines behind.
    """
    start = time.perf_counter()
    input_path = Path(input_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.jsonl" for name in ("valid", "rejects")}
    by_layer: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    counts = Counter[str]()

    with (
        open(input_path, encoding="utf-8", errors="replace") as source,
        # backslashreplace: a lone surrogate read from the input (a JSON "\\ud800") is
        # written back as that escape, the same text to any JSON reader, never a crash.
        open(paths["valid"], "w", encoding="utf-8", errors="backslashreplace") as valid_file,
        open(paths["rejects"], "w", encoding="utf-8", errors="backslashreplace") as rejects_file,
    ):

        def write(handle: Any, record: dict[str, Any]) -> None:
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            handle.flush()

        def reject(record: dict[str, Any], layer: str, reason: str) -> None:
            counts["rejected"] += 1
            by_layer[layer] += 1
            by_kind[reason_kind(layer, reason)] += 1
            write(rejects_file, {**record, "layer": layer, "reason": reason})

        def flush(batch: list[dict[str, Any]]) -> None:
            verdicts = validator.validate_many([r[sql_key] for r in batch])
            for record, verdict in zip(batch, verdicts, strict=True):
                if verdict.ok:
                    counts["valid"] += 1
                    counts["empty"] += bool(verdict.empty)
                    counts["truncated"] += bool(verdict.truncated)
                    write(valid_file, {**record, "validation": verdict.to_dict()})
                else:
                    reject(record, verdict.layer or "syntax", verdict.reason or "")
            batch.clear()

        batch: list[dict[str, Any]] = []
        for number, line in enumerate(source, start=1):
            if not line.strip():
                counts["blank"] += 1
                continue
            counts["total"] += 1
            record, problem = _read_record(line, number, sql_key, question_key)
            if problem:
                reject(record, "input", f"line {number}: {problem}")
                continue
            batch.append(record)
            if len(batch) >= _BATCH:
                flush(batch)
        if batch:
            flush(batch)

    summary = ValidationSummary(
        total=counts["total"],
        valid=counts["valid"],
        rejected=counts["rejected"],
        by_layer=dict(by_layer.most_common()),
        by_reason_kind=dict(by_kind.most_common()),
        empty=counts["empty"],
        truncated=counts["truncated"],
        elapsed_s=round(time.perf_counter() - start, 3),
        executed=validator.executes,
        input_path=str(input_path),
        blank_lines=counts["blank"],
        outputs={name: str(path) for name, path in paths.items()},
    )
    summary_path = out / "summary.json"
    rundir.write_json(summary_path, summary.to_dict())
    return summary


def _read_record(
    line: str, number: int, sql_key: str, question_key: str
) -> tuple[dict[str, Any], str | None]:
    raw = line.rstrip("\r\n")
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return {"line": number, "raw": raw}, f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return {"line": number, "raw": raw}, f"not a JSON object but a {type(record).__name__}"
    missing = [
        key
        for key in (question_key, sql_key)
        if not isinstance(record.get(key), str) or not record[key].strip()
    ]
    if missing:
        return record, "missing or empty " + " and ".join(repr(k) for k in missing)
    problem = text_problem(record[question_key])
    if problem:
        return record, f"the question {problem}"
    return record, None
