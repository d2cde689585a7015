"""Command line: ``python -m data_create <command> ...`` (also installed as ``nl2sql-data``).

This module only parses arguments, calls the library and prints.  It is the one place
where our errors become a single line on stderr and an exit code:

    0  success
    1  the job ran but found problems it was asked to fail on
    2  a user error (bad DSN, unreachable server, bad input...), one line on stderr
    3  an internal error (a bug): one line, and the traceback with --debug
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, Nl2SqlError

log = logging.getLogger("data_create")


def _run_defaults() -> dict[str, Any]:
    """RunConfig's defaults, for help texts and the other commands' shared options."""
    from .config import RunConfig, defaults

    return defaults(RunConfig)


class _Defaults(dict):
    """Loads RunConfig's defaults on first use, so `import data_create.cli` stays light."""

    def __missing__(self, key: str) -> Any:
        if not self:
            self.update(_run_defaults())
            return self[key]
        raise KeyError(key)


_D: dict[str, Any] = _Defaults()


def _csv_list(values: Sequence[str] | None) -> tuple[str, ...]:
    """Accept both ``--x a --x b`` and ``--x a,b``."""
    out: list[str] = []
    for v in values or ():
        out += [p.strip() for p in v.split(",") if p.strip()]
    return tuple(out)


def _add_connection_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("database")
    g.add_argument(
        "--dsn",
        required=required,
        help="database URL: postgresql://user@host:5432/db, mysql://user@host/db, "
        "mssql://user@host/db, sqlite:///file.db, or a full SQLAlchemy URL. "
        "Without it, the bundled example retail database (SQLite) is used.",
    )
    g.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from this environment variable instead of the DSN "
        "(default: NL2SQL_DB_PASSWORD when the DSN has none)",
    )
    g.add_argument(
        "--connect-timeout",
        type=int,
        metavar="S",
        help=f"seconds to wait for the server when connecting (default {_D['connect_timeout']})",
    )
    g.add_argument(
        "--allow-privileged-role",
        action="store_true",
        help="connect even when the account is a superuser or may read/write server files "
        "(refused by default: generated SQL should run as a read-only role; see README)",
    )


def _add_selection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to read")
    g.add_argument(
        "--schema",
        action="append",
        metavar="NAME",
        help="schema(s) to read (repeat or comma-separate); default: the connection's default "
        "schema (public, the MySQL database, dbo, main)",
    )
    g.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="only tables matching these glob patterns (table or schema.table), e.g. 'oms_*'",
    )
    g.add_argument(
        "--exclude", action="append", metavar="PATTERN", help="skip tables matching these patterns"
    )
    g.add_argument("--no-views", action="store_true", help="leave views out")


def _connect(args: argparse.Namespace):
    from .connect import connect

    dsn = args.dsn
    if not dsn:
        from .example import example_dsn

        dsn = example_dsn()
        log.info("no --dsn given: using the bundled example database %s", dsn)
    return connect(
        dsn,
        password_env=args.password_env,
        connect_timeout=(
            _D["connect_timeout"] if args.connect_timeout is None else args.connect_timeout
        ),
        allow_privileged=True if args.allow_privileged_role else None,
    )


def _extract_options(args: argparse.Namespace, sample_values: int | None = None):
    from .metadata import ExtractOptions

    return ExtractOptions(
        schemas=_csv_list(args.schema),
        include=_csv_list(args.include),
        exclude=_csv_list(args.exclude),
        include_views=not args.no_views,
        sample_values=args.sample_values if sample_values is None else sample_values,
        sample_rows=getattr(args, "sample_rows", 1000),
        sample_sensitive=getattr(args, "sample_sensitive", False),
    )


# ---------------------------------------------------------------- inspect


def cmd_inspect(args: argparse.Namespace) -> int:
    from . import cards, metadata

    db = _connect(args)
    try:
        started = time.perf_counter()
        meta = metadata.extract(db, _extract_options(args))
        took = time.perf_counter() - started
    finally:
        db.dispose()
    table_cards = cards.build(meta, budget_tokens=args.card_tokens)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metadata.write(meta, out / "metadata.json")
    (out / "table_cards.md").write_text(cards.render_markdown(meta, table_cards), encoding="utf-8")

    n_tables = sum(t.kind == "table" for t in meta.tables)
    n_views = len(meta.tables) - n_tables
    n_cols = sum(len(t.columns) for t in meta.tables)
    n_fks = sum(len(t.foreign_keys) for t in meta.tables)
    n_commented = sum(bool(c.comment) for t in meta.tables for c in t.columns)
    print(f"{db.display}  ({meta.engine} {meta.server_version or ''})".rstrip())
    print(
        f"  {n_tables} tables, {n_views} views, {n_cols} columns "
        f"({n_commented} with comments), {n_fks} foreign keys — read in {took:.2f}s"
    )
    print(f"  fingerprint {meta.fingerprint}")
    for warning in meta.options.get("warnings", []):
        print(f"  warning: {warning}")
    print(f"  wrote {out / 'metadata.json'}")
    print(f"  wrote {out / 'table_cards.md'} (~{sum(c.tokens for c in table_cards):,} tokens)")
    return 0


# ---------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    from . import metadata as md
    from .validator import Validator, validate_file

    if not Path(args.input).is_file():
        raise ConfigError(f"input file {args.input} does not exist")
    pool = None
    db = None
    if args.metadata and args.no_execute and not args.dsn:
        meta = md.read(args.metadata)
    else:
        db = _connect(args)
        meta = (
            md.read(args.metadata)
            if args.metadata
            else md.extract(db, _extract_options(args, sample_values=0))
        )
    try:
        if db is not None and not args.no_execute:
            from .executor import ExecutorPool

            pool = ExecutorPool(
                db,
                workers=args.workers,
                timeout_s=args.timeout,
                row_cap=args.row_cap,
                byte_cap=args.max_result_bytes,
            )
        validator = Validator(meta, meta.dialect, pool=pool, allow_functions=args.allow_function)
        summary = validate_file(args.input, args.out, validator)
    finally:
        if pool is not None:
            pool.close()
        if db is not None:
            db.dispose()
    s = summary.to_dict()
    print(
        f"{s['total']} statements: {s['valid']} valid, {s['rejected']} rejected "
        f"({s['elapsed_s']:.2f}s)"
    )
    for layer, n in sorted(s.get("by_layer", {}).items(), key=lambda kv: -kv[1]):
        print(f"  {layer:<10} {n}")
    if s.get("empty"):
        print(f"  {s['empty']} valid statements return no rows")
    print(f"  wrote {Path(args.out) / 'valid.jsonl'}, rejects.jsonl, summary.json")
    return 1 if args.fail_on_reject and s["rejected"] else 0


# ---------------------------------------------------------------- generate


def _weights(text: str) -> dict[str, float]:
    """``question-first=0.6,sql-first=0.4`` (a bare name weighs 1)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--modes: {part.strip()!r} is not NAME=WEIGHT") from None
    return out


def generate_config(args: argparse.Namespace) -> Any:
    """The :class:`~data_create.pipeline.RunConfig` of a ``generate`` command line:
    defaults, then ``--config FILE.yaml``, then the options actually typed."""
    from .config import RunConfig

    overrides = {
        "dsn": args.dsn,
        "out": args.out,
        "samples": args.samples,
        "language": args.language,
        "seed": args.seed,
        "dev_ratio": args.dev_ratio,
        "schema_context": args.schema_context,
        "execute": False if args.no_execute else None,
        "resume": args.resume or None,
        "overwrite": args.overwrite or None,
        "password_env": args.password_env,
        "connect_timeout": args.connect_timeout,
        "allow_privileged_role": True if args.allow_privileged_role else None,
        "schemas": _csv_list(args.schema) or None,
        "include": _csv_list(args.include) or None,
        "exclude": _csv_list(args.exclude) or None,
        "keep_empty": True if args.keep_empty else None,
        "include_views": False if args.no_views else None,
        "timeout": args.timeout,
        "max_result_bytes": args.max_result_bytes,
        "llm": args.llm,
        "model": args.model,
        "base_url": args.base_url,
        "concurrency": args.concurrency,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "modes": _weights(args.modes) if args.modes else None,
        "max_requests": args.max_requests,
        "llm_timeout": args.llm_timeout,
        "repair": False if args.no_repair else None,
        "cache_dir": args.cache_dir,
        "allow_functions": tuple(args.allow_function) or None,
    }
    return RunConfig.from_sources(args.config, overrides)


def cmd_generate(args: argparse.Namespace) -> int:
    from .pipeline import Progress, run, summary_lines

    try:
        result = run(generate_config(args), Progress(enabled=not args.quiet))
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            "interrupted — the samples made so far are kept; continue with the same command "
            "and --resume"
        ) from None
    print(f"{result.out_dir}: {result.accepted} samples")
    for line in summary_lines(result):
        print(line)
    for warning in result.warnings:
        print(f"  warning: {warning}")
    print(
        f"  wrote samples.jsonl, rejects.jsonl, train/dev Alpaca and ShareGPT files, "
        f"dataset_info.json, report.html into {result.out_dir}"
    )
    return 0 if result.accepted == result.requested else 1


# ---------------------------------------------------------------- retrieve


def cmd_retrieve(args: argparse.Namespace) -> int:
    import json

    from . import metadata, retrieve

    if bool(args.question) == bool(args.eval):
        raise ConfigError("give either a question or --eval FILE.jsonl", "see --help")
    if args.k < 1 or args.budget < 1:
        raise ConfigError("-k and --budget must be at least 1")
    if args.metadata:
        meta = metadata.read(args.metadata)
    else:
        db = _connect(args)
        try:
            meta = metadata.extract(db, _extract_options(args))
        finally:
            db.dispose()
    index_dir = Path(args.index or Path("runs") / meta.database / "retrieval_index")
    retriever = retrieve.Retriever.open(meta, index_dir, embeddings=args.embeddings)
    expand = not args.no_expand
    if args.eval:
        result = retrieve.evaluate(
            retriever, retrieve.read_eval_file(args.eval), args.k,
            budget_tokens=args.budget, expand=expand,
        )  # fmt: skip
        if args.json:
            print(json.dumps(result, ensure_ascii=False, indent=1))
            return 0
        print(
            f"{args.eval}: {result['scored']} questions scored ({result['unscored']} unscored), "
            f"k={args.k}, {result['tables_in_schema']} tables"
        )
        print(f"  table recall@{args.k}  {result['table_recall']:.1%} (every gold table retrieved)")
        print(f"  column recall     {result['column_recall']:.1%} (every gold column shown)")
        print(
            f"  ~{result['mean_tokens']:.0f} prompt tokens per question; "
            f"latency p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        )
        for miss in result["misses"]:
            what = miss.get("reason") or "; ".join(
                part
                for part in (
                    "missing tables " + ", ".join(miss["missing_tables"])
                    if miss["missing_tables"]
                    else "",
                    "missing columns " + ", ".join(miss["missing_columns"])
                    if miss["missing_columns"]
                    else "",
                )
                if part
            )
            print(f"  miss: {miss['question'][:80]!r}: {what}")
        return 0
    hit = retriever.retrieve(args.question, args.k, budget_tokens=args.budget, expand=expand)
    if args.json:
        print(json.dumps(hit.to_dict(), ensure_ascii=False, indent=1))
        return 0
    for table in hit.tables:
        tag = " (join path)" if table in hit.bridges else ""
        print(f"{table}  {hit.scores[table]:.3f}{tag}")
        print(f"  columns: {', '.join(hit.columns[table])}")
    print(f"~{hit.tokens} prompt tokens, {hit.elapsed_ms:.1f} ms; index {index_dir}")
    if args.cards:
        print()
        print(hit.cards_text)
    return 0


# ---------------------------------------------------------------- parser


def _add_allow_function(group: Any) -> None:
    group.add_argument(
        "--allow-function",
        action="append",
        default=[],
        metavar="NAME",
        help="also allow SQL to call this function (or schema.function); repeatable. "
        "The engine's allow-list covers aggregates, string, math, date/time, casts, JSON and "
        "window functions; functions that sleep, lock, read files or run SQL cannot be allowed",
    )


# ---------------------------------------------------------------- drift


def cmd_drift(args: argparse.Namespace) -> int:
    """Compare the database with a run's schema; quarantine, regenerate (data_create.drift)."""
    import json

    from . import drift

    if args.regenerate < 0:
        raise ConfigError("--regenerate must be 0 or more")
    db = _connect(args)
    try:
        result = drift.check(
            db, args.run, regenerate=args.regenerate, apply=not args.dry_run, seed=args.seed,
            timeout_s=args.timeout,
        )  # fmt: skip
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(drift.summary_lines(result)))
    return 1 if args.fail_on_drift and result.changes else 0


def add_drift_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "drift",
        help="follow a schema change: compare the database with a run, quarantine stored "
        "samples that broke, regenerate data for new or changed tables",
        description="Compare the database's structure with the run's metadata.json table by "
        "table (added, dropped, changed: columns added, dropped, renamed, re-typed); "
        "re-validate every stored sample (the run's samples and the stores a learning loop "
        "registered) against the new schema, executing read-only; move the broken ones to "
        "quarantine.jsonl with the reason; regenerate samples for new and changed tables; "
        "update the run so the gated retrain (python -m nl2sql_fine_tuning.loop run) "
        "trains on the new schema.",
    )
    _add_connection_args(p)
    p.add_argument("--run", required=True, metavar="DIR", help="the data_create run directory")
    p.add_argument(
        "--regenerate",
        type=int,
        default=10,
        metavar="N",
        help="samples to generate per new or changed table (default 10)",
    )
    p.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    p.add_argument("--seed", type=int, default=0, help="seed of the regenerated samples")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="per query (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--fail-on-drift", action="store_true", help="exit with status 1 when the schema changed"
    )
    p.set_defaults(func=cmd_drift)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_create",
        description="Turn a private database into a validated NL2SQL training set "
        "(nl2sql-factory's data side). Without a command, `generate` runs.",
    )
    parser.add_argument("--version", action="version", version=f"nl2sql-factory {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "generate",
        help="(the default command) make a validated NL2SQL training set for LLaMA-Factory",
        description="Read the database, plan business topics, synthesize question/SQL pairs in "
        "its dialect, validate every pair (syntax and safety, schema, read-only execution), "
        "dedupe, and export Alpaca/ShareGPT files with dataset_info.json into --out. "
        "Every option can also be set in a YAML file (--config); the command line wins.",
    )
    _add_connection_args(p)
    _add_selection_args(p)
    g = p.add_argument_group("dataset")
    g.add_argument("--out", help="run directory (default runs/<database name>)")
    g.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help=f"how many samples to make (default {_D['samples']})",
    )
    g.add_argument(
        "--language",
        choices=("zh", "en"),
        help=f"language of the questions (default {_D['language']})",
    )
    g.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help=f"same seed, same database: same dataset (default {_D['seed']})",
    )
    g.add_argument(
        "--dev-ratio",
        type=float,
        metavar="R",
        help=f"share of samples in the dev split (default {_D['dev_ratio']})",
    )
    g.add_argument(
        "--schema-context",
        choices=("none", "cards", "retrieved"),
        help="schema block in each training prompt: none (default), cards (the cards of the "
        "tables its SQL uses) or retrieved (what schema retrieval returns for the question, "
        "the SQL's tables always included; config keys retrieval_k, retrieval_tokens)",
    )
    g.add_argument(
        "--no-execute",
        action="store_true",
        help="skip the execution layer (samples are then checked statically only)",
    )
    g.add_argument("--keep-empty", action="store_true", help="keep queries whose result is empty")
    g.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"per-query time limit in seconds (default {_D['timeout']:g})",
    )
    _add_allow_function(g)
    g.add_argument(
        "--max-result-bytes",
        type=int,
        metavar="N",
        help="bytes of values fetched per query; a larger result is refused "
        f"(default {_D['max_result_bytes'] // 2**20} MiB)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out up to the target, without duplicates",
    )
    g.add_argument(
        "--overwrite", action="store_true", help="start the run in --out again from scratch"
    )
    g.add_argument("--config", metavar="FILE.yaml", help="read options from this YAML file")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    g = p.add_argument_group(
        "LLM (optional: any OpenAI-compatible endpoint — vLLM, Ollama, llamafactory-cli api, "
        "a hosted API; the key is read from OPENAI_API_KEY)"
    )
    g.add_argument(
        "--llm", choices=("openai",), help="plan and write with an LLM instead of fully offline"
    )
    g.add_argument("--model", help="model name the endpoint serves")
    g.add_argument(
        "--base-url",
        metavar="URL",
        help="endpoint, e.g. http://127.0.0.1:8000/v1 (default $OPENAI_BASE_URL)",
    )
    g.add_argument(
        "--concurrency",
        type=int,
        metavar="K",
        help=f"requests in flight at once (default {_D['concurrency']})",
    )
    g.add_argument(
        "--temperature", type=float, help=f"sampling temperature (default {_D['temperature']})"
    )
    g.add_argument("--top-p", type=float, help=f"nucleus sampling (default {_D['top_p']})")
    g.add_argument(
        "--modes",
        metavar="MODE=W,...",
        help="generation modes and their weights: question-first, sql-first (the LLM writes "
        "questions for synthesized SQL), paraphrase (default question-first=1)",
    )
    g.add_argument(
        "--max-requests", type=int, metavar="N", help="stop sending after N requests (budget)"
    )
    g.add_argument(
        "--llm-timeout",
        type=float,
        metavar="S",
        help=f"seconds per LLM request (default {_D['llm_timeout']:g})",
    )
    g.add_argument(
        "--no-repair",
        action="store_true",
        help="do not send a failed pair back to the model with the validator's message",
    )
    g.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="response cache, so a repeated or resumed run does not pay twice (default <out>/llm_cache)",
    )
    p.set_defaults(func=cmd_generate)
    parser.generate_parser = p  # type: ignore[attr-defined]  # its options go in the top --help

    p = sub.add_parser(
        "inspect",
        help="extract metadata and table cards (what the tool sees of your database)",
        description="Write metadata.json (tables, columns, keys, comments, samples, fingerprint) "
        "and table_cards.md (the compact text every prompt uses) into --out.",
    )
    _add_connection_args(p)
    _add_selection_args(p)
    g = p.add_argument_group("sampling and cards")
    g.add_argument(
        "--sample-values",
        type=int,
        default=5,
        metavar="N",
        help="distinct sample values kept per column (0 turns sampling off; default 5)",
    )
    g.add_argument(
        "--sample-rows",
        type=int,
        default=1000,
        metavar="N",
        help="rows read per table to find sample values (default 1000)",
    )
    g.add_argument(
        "--sample-sensitive",
        action="store_true",
        help="also sample columns whose names look sensitive (password, token, phone, id card...)",
    )
    g.add_argument(
        "--card-tokens",
        type=int,
        default=600,
        metavar="N",
        help="token budget per table card (default 600)",
    )
    p.add_argument("--out", default="runs/inspect", help="output directory (default runs/inspect)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "validate",
        help="check NL/SQL pairs: syntax and safety, schema, read-only execution",
        description="Read a JSONL file whose lines have at least 'question' and 'sql', and "
        "write valid.jsonl, rejects.jsonl (with layer and reason) and summary.json into --out.",
    )
    _add_connection_args(p)
    _add_selection_args(p)
    p.add_argument("--input", required=True, help="JSONL file of {question, sql} records")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--metadata",
        metavar="FILE",
        help="use this metadata.json instead of reading the catalogue "
        "(with --no-execute and no --dsn, works without a database)",
    )
    p.add_argument("--no-execute", action="store_true", help="skip the execution layer")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="per-query time limit (default 10)"
    )
    p.add_argument(
        "--row-cap",
        type=int,
        default=1000,
        metavar="N",
        help="rows fetched per query (default 1000)",
    )
    p.add_argument(
        "--max-result-bytes",
        type=int,
        default=32 * 1024 * 1024,
        metavar="N",
        help="bytes of values fetched per query; a larger result is refused (default 32 MiB)",
    )
    p.add_argument(
        "--workers", type=int, default=4, metavar="N", help="parallel connections (default 4)"
    )
    _add_allow_function(p)
    p.add_argument(
        "--fail-on-reject", action="store_true", help="exit with status 1 if any line is rejected"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "retrieve",
        help="pick the tables and columns a question needs (schema retrieval), or measure "
        "its recall on questions with gold SQL",
        description="Index the schema (BM25 over names, comments and sample values, a join "
        "graph, optional static embeddings) once per schema fingerprint, then print the "
        "tables and columns chosen for QUESTION, or, with --eval, recall@k of the gold "
        "tables and columns of each line's SQL.",
    )
    _add_connection_args(p)
    _add_selection_args(p)
    p.add_argument("question", nargs="?", help="the question to retrieve a schema for")
    p.add_argument("-k", type=int, default=5, metavar="K", help="tables to return (default 5)")
    p.add_argument(
        "--eval",
        metavar="FILE.jsonl",
        help="lines with 'question' and 'sql' (or 'query', 'gold_sql'): report recall@k",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--budget",
        type=int,
        default=2000,
        metavar="TOKENS",
        help="token budget of the schema block (default 2000)",
    )
    p.add_argument(
        "--embeddings",
        default="none",
        metavar="MODEL",
        help="dense embeddings fused with BM25: none (default), auto, packaged (the static "
        "model from the retrieve-embed extra) or a local model2vec directory",
    )
    p.add_argument("--no-expand", action="store_true", help="no join-graph expansion")
    p.add_argument("--cards", action="store_true", help="also print the schema block")
    p.add_argument(
        "--metadata", metavar="FILE", help="use this metadata.json instead of reading the database"
    )
    p.add_argument(
        "--index",
        metavar="DIR",
        help="where the index lives (default runs/<database>/retrieval_index); rebuilt only "
        "when the schema changes",
    )
    p.add_argument(
        "--sample-values",
        type=int,
        default=5,
        metavar="N",
        help="sample values per column read for the index (default 5)",
    )
    p.set_defaults(func=cmd_retrieve)
    add_drift_parser(sub)
    return parser


COMMANDS = ("generate", "inspect", "validate", "retrieve", "drift")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `python -m data_create [--dsn ...]` means generate; global flags stay in front.
    first = next((a for a in argv if a not in ("-v", "--verbose", "--debug")), None)
    if first in ("-h", "--help"):
        # generate is the default command: its options are the ones people look for.
        print(parser.format_help())
        print("Options of the default command, generate:\n")
        print(parser.generate_parser.format_help().split("\n\n", 1)[1])
        return 0
    if first is None or (first not in COMMANDS and first != "--version"):
        position = argv.index(first) if first is not None else len(argv)
        argv.insert(position, "generate")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command(lambda: args.func(args), debug=args.debug)


def run_command(call: Callable[[], int], *, debug: bool = False) -> int:
    """Run one command of any of the project's CLIs; errors become one line on stderr.

    The one place where our errors turn into messages and exit codes (see the module
    docstring): user errors exit 2, an interrupt 130, a bug 3 with its traceback only
    under ``--debug``.  Ctrl-C stops within seconds even while a database does not
    answer (:func:`data_create.interrupt.stop_on_interrupt`).
    """
    from .interrupt import stop_on_interrupt

    try:
        with stop_on_interrupt():
            return call()
    except (Nl2SqlError, OSError) as exc:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")  # clear a progress line left half-drawn
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")
        print(exc.args[0] if exc.args else "interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} "
            "(re-run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
