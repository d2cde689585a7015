"""Executing gold and predicted SQL for evaluation: one validator and pool per database.

Both go through the full static validator for their database (syntax, safety with the
allow-lists, schema); only what passes runs, read-only and time-limited, as the
canonical SQL the validator regenerated; each gold query runs once (and can be cached
across calls), each distinct prediction once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_create import rundir
from data_create.errors import ConfigError
from nl2sql_fine_tuning import metrics
from nl2sql_fine_tuning.eval_data import GoldItem


@dataclass(frozen=True)
class _Outcome:
    verdict: Any  # metrics.ExecVerdict; None when the gold query itself failed
    pred_result: Any  # ExecResult, None when the prediction was not executed
    gold_result: Any
    pred_static: Any = None  # the prediction's verdict with the schema layer, when checked


_NOT_RUN = _Outcome(None, None, None)


@dataclass(frozen=True)
class ExecOptions:
    dsn: str | None = None
    db_root: str | None = None
    workers: int = 4
    timeout_s: float = 10.0
    row_cap: int = 10_000
    semantics: str = "spider"
    keep_distinct: bool = False
    allow_functions: tuple[str, ...] = ()  # more functions to allow (--allow-function)


def _dsn_for(database: str, options: ExecOptions, default: str | None) -> str:
    if options.db_root:
        path = Path(options.db_root) / database / f"{database}.sqlite"
        if not database or not path.is_file():
            raise ConfigError(
                f"unknown db_id {database!r}: {path} does not exist",
                "check --db-root (layout DIR/<db_id>/<db_id>.sqlite)",
            )
        return f"sqlite:///{path}"
    if options.dsn:
        return options.dsn
    if default:
        return default
    from data_create.example import example_dsn

    return example_dsn()


def _execute_all(
    pairs: Sequence[tuple[GoldItem, str]],
    statics: Sequence[Any],
    dialect: str,
    options: ExecOptions,
    default_dsn: str | None,
    gold_cache: dict[tuple[str, str], Any] | None = None,
    default_password_env: str | None = None,
) -> list[_Outcome]:
    """Judge every (gold, predicted SQL) pair; one pool per database, each gold SQL and
    each distinct prediction checked and executed once.

    Both go through the full static validator for that database (syntax, safety with the
    allow-lists, schema); only what passes runs, and it runs as the canonical SQL the
    validator regenerated.  A gold query that fails is reported, not run."""
    from data_create.connect import connect
    from data_create.executor import ExecResult, ExecutorPool
    from data_create.validator import Validator

    prepared: dict[str, str] = {}

    def runnable(sql: str) -> str:
        if sql not in prepared:
            # Stripping DISTINCT tokenizes the whole query (about 1 ms); without the word
            # there is nothing to strip, and keep_distinct=True does the rest of the work.
            keep = options.keep_distinct or "distinct" not in sql.lower()
            prepared[sql] = metrics.prepare_for_execution(sql, dialect, keep_distinct=keep)
        return prepared[sql]

    by_db: dict[str, list[int]] = defaultdict(list)
    for i, (item, _) in enumerate(pairs):
        by_db[_dsn_for(item.database, options, default_dsn)].append(i)
    outcomes: list[_Outcome] = [_NOT_RUN] * len(pairs)
    for dsn, indices in by_db.items():
        password_env = None
        if dsn == default_dsn and default_password_env:  # the run's own database
            password_env = rundir.require_password_env(default_password_env, dsn)
        db = connect(dsn, password_env=password_env)
        validator = Validator.for_database(db, dialect, allow_functions=options.allow_functions)
        checked: dict[str, Any] = {}

        def check(sql: str, checked: dict[str, Any] = checked, validator: Any = validator) -> Any:
            if sql not in checked:
                checked[sql] = validator.check_static(sql)
            return checked[sql]

        pool = ExecutorPool(
            db, workers=options.workers, timeout_s=options.timeout_s, row_cap=options.row_cap
        )
        try:
            cache = gold_cache if gold_cache is not None else {}
            gold_sqls = list(dict.fromkeys(runnable(pairs[i][0].sql) for i in indices))
            results: dict[str, Any] = {}
            todo = []
            for sql in gold_sqls:
                verdict = check(sql)
                if not verdict.ok:  # reported as the gold's failure, never executed
                    results[sql] = ExecResult(
                        ok=False, error_kind="rejected", error=f"{verdict.layer}: {verdict.reason}"
                    )
                elif (dsn, verdict.sql) in cache:
                    results[sql] = cache[dsn, verdict.sql]
                else:
                    todo.append(sql)
            canon = list(dict.fromkeys(check(s).sql for s in todo))
            cache.update(((dsn, c), r) for c, r in zip(canon, pool.map(canon), strict=True))
            results.update((s, cache[dsn, check(s).sql]) for s in todo)
            pred_sqls = [
                s
                for s in dict.fromkeys(runnable(pairs[i][1]) for i in indices if statics[i].ok)
                if s not in results and check(s).ok
            ]
            canon = list(dict.fromkeys(check(s).sql for s in pred_sqls))
            by_canon = dict(zip(canon, pool.map(canon), strict=True))
            results.update((s, by_canon[check(s).sql]) for s in pred_sqls)
        finally:
            pool.close()
            db.dispose()
        for i in indices:
            item, pred = pairs[i]
            static = statics[i]
            if static.ok:
                static = check(runnable(pred))  # the schema layer too
            gold_result = results[runnable(item.sql)]
            pred_result = results.get(runnable(pred)) if static.ok else None
            if not gold_result.ok:  # a broken gold says nothing about the model
                outcomes[i] = _Outcome(None, pred_result, gold_result, static)
                continue
            verdict = metrics.judge(
                pred,
                item.sql,
                pred_result,
                gold_result,
                dialect=dialect,
                semantics=options.semantics,
                keep_distinct=options.keep_distinct,
                static_verdict=static,
            )
            outcomes[i] = _Outcome(verdict, pred_result, gold_result, static)
    return outcomes


__all__ = ["ExecOptions"]
