"""Evaluation inputs: the gold records and the predictions, and how they are paired.

Gold comes from a data_create run directory (its dev split, in ``dev_alpaca.jsonl``
order, with the exact training prompt), a ``samples.jsonl`` file, or a Spider/BIRD
JSON/JSONL file; predictions from LLaMA-Factory's ``generated_predictions.jsonl``
(joined by line, checked against the labels) or ``{id, prediction}`` lines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_create import prompt, rundir
from data_create.errors import ConfigError

log = logging.getLogger("nl2sql_fine_tuning.eval")

# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class GoldItem:
    """One gold question/SQL pair; ``messages`` is the exact training prompt when known."""

    id: str
    question: str
    sql: str
    database: str = ""
    difficulty: str = ""
    topic: str = ""
    features: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Gold:
    items: tuple[GoldItem, ...]
    dialect: str | None = None  # from the samples, when they say
    dsn: str | None = None  # from a data_create run's run.json, without its password
    password_env: str | None = None  # the variable the run read the password from
    kind: str = "samples"  # "run" | "samples" | "spider"


@dataclass(frozen=True)
class Prediction:
    text: str
    id: str | None = None
    label: str | None = None


# ---------------------------------------------------------------- reading


def _read_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list or JSONL file of objects."""
    return rundir.read_records(path)


def _sample_item(r: dict[str, Any], messages: tuple | None = None) -> GoldItem:
    return GoldItem(
        id=str(r["id"]),
        question=r["question"],
        sql=r["sql"],
        database=r.get("database") or "",
        difficulty=r.get("difficulty") or "",
        topic=r.get("topic") or "",
        features=tuple(r.get("features") or ()),
        messages=messages,
    )


def _run_database(run_dir: Path) -> tuple[str | None, str | None]:
    """The run's database as ``(dsn without password, password variable)``, if it names one.

    The password itself is read from that variable only when execution connects."""
    info = rundir.read_run(run_dir)
    if info is None or not info.dsn:
        return None, None
    return info.dsn, info.password_env


def _load_run(run_dir: Path, split: str = "dev") -> Gold:
    entries = rundir.split_items(run_dir, split)
    items = []
    for entry in entries:
        messages = None
        if entry.trained is not None:  # the exact prompt the model was trained on
            messages = tuple((m["role"], m["content"]) for m in entry.trained)
        items.append(_sample_item(entry.sample, messages))
    dialect = entries[0].sample.get("dialect") if entries else None
    dsn, password_env = _run_database(run_dir)
    return Gold(tuple(items), dialect=dialect, dsn=dsn, password_env=password_env, kind="run")


def load_gold(path: str | os.PathLike[str]) -> Gold:
    """Gold records from a data_create run directory (its dev split, in dev_alpaca order),
    a ``samples.jsonl`` file, or a Spider/BIRD-style JSON/JSONL file (question,
    query|SQL|sql, db_id)."""
    p = Path(path)
    if p.is_dir():
        return _load_run(p)
    records = _read_records(p)
    if records and all("db_id" in r for r in records):
        items = []
        for i, r in enumerate(records):
            sql = r.get("query") or r.get("SQL") or r.get("sql")
            if not sql or "question" not in r:
                raise ConfigError(f"{p}: record {i + 1} lacks question or query/SQL/sql")
            rid = r.get("id", r.get("question_id", i))
            items.append(
                GoldItem(
                    id=str(rid),
                    question=r["question"],
                    sql=sql,
                    database=str(r["db_id"]),
                    difficulty=str(r.get("difficulty") or r.get("hardness") or ""),
                )
            )
        return Gold(tuple(items), kind="spider")
    try:
        items = [_sample_item(r) for r in records]
    except KeyError as exc:
        raise ConfigError(
            f"{p}: records need id, question and sql (missing {exc})",
            "pass a data_create run directory, samples.jsonl or a Spider/BIRD file with db_id",
        ) from None
    dialect = records[0].get("dialect") if records else None
    dsn, password_env = _run_database(p.parent)
    return Gold(tuple(items), dialect=dialect, dsn=dsn, password_env=password_env, kind="samples")


def load_predictions(path: str | os.PathLike[str]) -> list[Prediction]:
    """LLaMA-Factory ``generated_predictions.jsonl`` (predict/label) or ``{id, prediction}``."""
    records = _read_records(Path(path))
    out = []
    for i, r in enumerate(records):
        if "predict" in r:
            out.append(Prediction(text=str(r["predict"]), label=r.get("label")))
        elif "prediction" in r and "id" in r:
            out.append(Prediction(text=str(r["prediction"] or ""), id=str(r["id"])))
        else:
            raise ConfigError(
                f"{path}: line {i + 1} has neither 'predict' (LLaMA-Factory) "
                "nor 'id' and 'prediction'"
            )
    return out


def join(predictions: Sequence[Prediction], gold: Gold) -> list[tuple[GoldItem, Prediction]]:
    """Pair predictions with gold: by id, or (LLaMA-Factory, no ids) line i with gold record i,
    checked by comparing each prediction's label with the gold SQL."""
    if predictions and predictions[0].id is None:
        if len(predictions) != len(gold.items):
            raise ConfigError(
                f"{len(predictions)} predictions but {len(gold.items)} gold records: "
                "predictions are joined by line to the dev split in file order",
                "predict on the dev split of the same run (dev_alpaca.jsonl)",
            )
        for i, (g, p) in enumerate(zip(gold.items, predictions, strict=True)):
            if p.label is not None and p.label.strip() not in (
                g.sql.strip(),
                prompt.sql_target(g.sql),
            ):
                raise ConfigError(
                    f"prediction {i + 1} is misaligned: its label {p.label.strip()[:60]!r} "
                    f"is not the gold SQL of {g.id}",
                    "predict on the dev split of the same run (dev_alpaca.jsonl), unshuffled",
                )
        return list(zip(gold.items, predictions, strict=True))
    by_id = {g.id: g for g in gold.items}
    unknown = [p.id for p in predictions if p.id not in by_id]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} prediction ids are not in the gold file (first: {unknown[0]!r})"
        )
    missing = len(by_id) - len({p.id for p in predictions})
    if missing:
        log.warning("%d gold records have no prediction; they are left out", missing)
    return [(by_id[p.id], p) for p in predictions]  # type: ignore[index]


__all__ = ["Gold", "GoldItem", "Prediction", "join", "load_gold", "load_predictions"]
