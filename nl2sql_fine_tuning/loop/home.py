"""The loop's home directory: its settings and the files every stage reads and writes.

::

    <home>/loop.json          settings (LoopConfig): the run, the DSN, base model, recipes, gate
    <home>/intake.jsonl       every item taken in (failures, corrections, accepted answers)
    <home>/corrections.jsonl  human corrections and accepted answers that passed the validator
    <home>/regression.jsonl   the frozen regression set: held-out split + past corrections
    <home>/datasets/dN/       dataset versions (LLaMA-Factory files + lineage.json)
    <home>/models/vN/         trained versions (recipe, adapter or model, predictions, eval)
    <home>/iterations.jsonl   one record per loop iteration (trigger, gate decision, timings)
    <home>/registry.json      the model registry (registry.py)

The corrections and the regression set are registered with the run as sample stores
(``data_create.drift.register_store``), so ``python -m data_create drift`` re-validates
and quarantines them with the run's own samples when the schema changes.

The DSN is stored without its password; the password comes from ``--password-env``
(default ``NL2SQL_DB_PASSWORD``) like every other command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

CONFIG_FILE = "loop.json"
LOOP_FORMAT = "nl2sql-factory/loop"


@dataclass(frozen=True)
class GatePolicy:
    """When a candidate may replace the served model.

    Promote only if execution accuracy on the frozen regression set drops by at most
    ``max_regression_drop`` (absolute) against the served version, and accuracy on the
    new failures rises by at least ``min_failure_gain`` (strictly more than 0 when 0).
    With no new failures that have a gold SQL (a drift- or schedule-triggered retrain),
    only the regression rule applies.
    """

    max_regression_drop: float = 0.02
    min_failure_gain: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoopConfig:
    run: str  # the data_create run the loop grows from (absolute path)
    dsn: str  # without a password
    base_model: str  # model_name_or_path every version is trained from
    train_recipe: str  # LLaMA-Factory train recipe (e.g. configs/qwen3_lora.yaml)
    predict_recipe: str  # LLaMA-Factory predict recipe (do_predict, greedy)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    predict_overrides: dict[str, Any] = field(default_factory=dict)
    password_env: str | None = None
    correction_weight: int = 3  # each human correction is written this many times into train
    targeted_per_failure: int = 4  # synthesized pairs per failure (same tables and shape)
    trigger_failures: int = 5  # `run` without --force starts when this many are pending
    gate: GatePolicy = field(default_factory=GatePolicy)
    seed: int = 0
    language: str = "en"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = LOOP_FORMAT
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["gate"] = GatePolicy(**(d.get("gate") or {}))
        return cls(**values)


class LoopHome:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    # paths
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def intake(self) -> Path:
        return self.root / "intake.jsonl"

    @property
    def corrections(self) -> Path:
        return self.root / "corrections.jsonl"

    @property
    def regression(self) -> Path:
        return self.root / "regression.jsonl"

    @property
    def iterations(self) -> Path:
        return self.root / "iterations.jsonl"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def config(self) -> LoopConfig:
        if not self.config_path.is_file():
            raise ConfigError(
                f"{self.root} is not a learning-loop home ({CONFIG_FILE} missing)",
                "create one with: python -m nl2sql_fine_tuning.loop init --home DIR --run RUN ...",
            )
        data = json.loads(self.config_path.read_text(encoding="utf-8"))
        if data.get("format") != LOOP_FORMAT:
            raise ConfigError(f"{self.config_path} is not a learning-loop settings file")
        return LoopConfig.from_dict(data)

    def save_config(self, config: LoopConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, config.to_dict())

    def next_name(self, folder: Path, prefix: str) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        n = 1
        while (folder / f"{prefix}{n}").exists():
            n += 1
        return f"{prefix}{n}"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            raise ConfigError(f"{path} line {number} is not JSON") from None
    return out


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Rewrite ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n", "utf-8")
    os.replace(tmp, path)
