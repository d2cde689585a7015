"""Train a candidate, predict, score it with the project's evaluator, and gate it.

* the recipe: :func:`nl2sql_fine_tuning.recipe.prepare` points the loop's train recipe at
  the dataset version (and checks it: registered files, no dev/train leak);
* ``llamafactory-cli train`` (offline, caches in the version's directory, as the smoke
  test runs it: :func:`nl2sql_fine_tuning.smoke.environment`);
* ``llamafactory-cli train <predict recipe>`` on the evaluation set (greedy);
* :func:`nl2sql_fine_tuning.eval_model.evaluate` — execution accuracy (Spider
  semantics) on the live database, read-only, per item;
* :func:`decide` — the gate (:class:`~.home.GatePolicy`).

The served version's results are reused per item when they were measured on the same
schema fingerprint; items it has not seen (this iteration's failures) are predicted with
its own weights, so candidate and incumbent are compared on exactly the same items.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

from .home import LoopConfig, read_jsonl
from .registry import ModelVersion


@dataclass
class Trained:
    adapter: str | None
    model_path: str | None
    recipe: str
    seconds: float
    train_loss: float | None = None


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: tuple[str, ...]
    regression_before: float | None
    regression_after: float | None
    failures_before: float | None
    failures_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reasons": list(self.reasons),
            "regression_before": self.regression_before,
            "regression_after": self.regression_after,
            "failures_before": self.failures_before,
            "failures_after": self.failures_after,
        }


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.steps[name] = round(self.steps.get(name, 0.0) + seconds, 2)


def _cli() -> str:
    from nl2sql_fine_tuning.smoke import _llamafactory_cli

    return _llamafactory_cli()


def _finetuning_type(recipe: Path) -> str:
    import yaml

    return str(
        (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("finetuning_type", "lora")
    )


def train(config: LoopConfig, dataset_dir: Path, version_dir: Path, timings: Timings) -> Trained:
    """Write the recipe and run ``llamafactory-cli train``."""
    from nl2sql_fine_tuning import recipe
    from nl2sql_fine_tuning.smoke import environment, run_command

    output = version_dir / "weights"
    recipe_path = recipe.prepare(
        config.train_recipe,
        dataset_dir,
        version_dir / "train.yaml",
        model=config.base_model,
        overrides={**config.train_overrides, "output_dir": str(output)},
    )
    step = run_command(
        "train", [_cli(), "train", str(recipe_path)], environment(version_dir), version_dir / "logs"
    )
    timings.add("train", step.seconds)
    loss = None
    results = output / "all_results.json"
    if results.exists():
        loss = json.loads(results.read_text(encoding="utf-8")).get("train_loss")
    full = _finetuning_type(recipe_path) == "full"
    return Trained(
        adapter=None if full else str(output),
        model_path=str(output) if full else None,
        recipe=str(recipe_path),
        seconds=step.seconds,
        train_loss=loss,
    )


def predict(
    config: LoopConfig,
    weights: ModelVersion | Trained,
    eval_dir: Path,
    out_dir: Path,
    timings: Timings,
) -> list[str]:
    """Greedy predictions for ``eval_dir``'s dev split, in its order."""
    from nl2sql_fine_tuning import recipe
    from nl2sql_fine_tuning.smoke import environment, run_command

    overrides: dict[str, Any] = {
        **config.predict_overrides,
        "output_dir": str(out_dir / "out"),
        "eval_dataset": "nl2sql_dev",
    }
    if weights.model_path:  # a full fine-tune: the trained model itself, no adapter
        model = weights.model_path
        overrides["adapter_name_or_path"] = None
        overrides["finetuning_type"] = "full"
    else:
        model = config.base_model
        overrides["adapter_name_or_path"] = weights.adapter
    recipe_path = recipe.prepare(
        config.predict_recipe, eval_dir, out_dir / "predict.yaml", model=model, overrides=overrides
    )
    step = run_command(
        "predict", [_cli(), "train", str(recipe_path)], environment(out_dir), out_dir / "logs"
    )
    timings.add("predict", step.seconds)
    rows = read_jsonl(out_dir / "out" / "generated_predictions.jsonl")
    return [str(r.get("predict", "")) for r in rows]


def score(
    items: list[dict[str, Any]], texts: list[str], dsn: str, dialect: str, out_dir: Path
) -> dict[str, bool]:
    """Execution correctness per item id, by the project's evaluator."""
    from nl2sql_fine_tuning.eval_model import ExecOptions, Gold, GoldItem, Prediction, evaluate

    if len(texts) != len(items):
        raise ConfigError(f"{len(texts)} predictions for {len(items)} evaluation items")
    gold = Gold(
        tuple(
            GoldItem(id=i["id"], question=i["question"], sql=i["sql"], topic=i["set"])
            for i in items
        ),
        dialect=dialect,
        dsn=dsn,
        kind="samples",
    )
    result = evaluate(
        gold,
        [Prediction(text=t, id=i["id"]) for t, i in zip(texts, items, strict=True)],
        text_match=False,
        exec_options=ExecOptions(dsn=dsn, workers=2),
        out_dir=out_dir,
    )
    return {s.id: bool(s.correct) for s in result.samples}


def summarize(items: list[dict[str, Any]], correct: dict[str, bool], fingerprint: str) -> dict:
    """Accuracy per set (regression, failures) and per kind, plus the per-item results."""
    out: dict[str, Any] = {"fingerprint": fingerprint, "items": dict(correct)}
    for name in ("regression", "failures"):
        chosen = [i for i in items if i["set"] == name and i["id"] in correct]
        n = len(chosen)
        right = sum(correct[i["id"]] for i in chosen)
        by_kind: dict[str, list[int]] = {}
        for i in chosen:
            by_kind.setdefault(i["kind"], [0, 0])
            by_kind[i["kind"]][0] += correct[i["id"]]
            by_kind[i["kind"]][1] += 1
        out[name] = {
            "n": n,
            "correct": right,
            "accuracy": round(right / n, 4) if n else None,
            "by_kind": {k: round(a / b, 4) for k, (a, b) in by_kind.items()},
        }
    return out


def accuracy(results: dict[str, bool], ids: list[str]) -> float | None:
    return round(sum(results[i] for i in ids) / len(ids), 4) if ids else None


def decide(
    policy: Any,
    items: list[dict[str, Any]],
    candidate: dict[str, bool],
    incumbent: dict[str, bool] | None,
) -> Decision:
    """The gate: see :class:`~.home.GatePolicy`."""
    reg = [i["id"] for i in items if i["set"] == "regression"]
    fail = [i["id"] for i in items if i["set"] == "failures"]
    reg_after, fail_after = accuracy(candidate, reg), accuracy(candidate, fail)
    if incumbent is None:
        return Decision(
            True,
            ("no version is served yet: the first trained version is served",),
            None,
            reg_after,
            None,
            fail_after,
        )
    reg_before, fail_before = accuracy(incumbent, reg), accuracy(incumbent, fail)
    reasons = []
    ok = True
    if reg:
        drop = (reg_before or 0.0) - (reg_after or 0.0)
        if drop > policy.max_regression_drop + 1e-9:
            ok = False
            reasons.append(
                f"regression set: execution accuracy {reg_before:.3f} -> {reg_after:.3f}, a drop "
                f"of {drop:.3f} > the allowed {policy.max_regression_drop:.3f}"
            )
        else:
            reasons.append(
                f"regression set: {reg_before:.3f} -> {reg_after:.3f} (allowed drop "
                f"{policy.max_regression_drop:.3f})"
            )
    if fail:
        gain = (fail_after or 0.0) - (fail_before or 0.0)
        needed = policy.min_failure_gain
        if gain <= 0 or gain + 1e-9 < needed:
            ok = False
            reasons.append(
                f"new failures: {fail_before:.3f} -> {fail_after:.3f}, not improved "
                f"(needs a gain > 0 and >= {needed:.3f})"
            )
        else:
            reasons.append(f"new failures: {fail_before:.3f} -> {fail_after:.3f}")
    else:
        reasons.append("no new failures with a gold SQL: only the regression rule applies")
    return Decision(ok, tuple(reasons), reg_before, reg_after, fail_before, fail_after)


def now() -> float:
    return time.perf_counter()
