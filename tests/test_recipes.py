"""The LLaMA-Factory recipes in configs/ and the helper that points them at a data_create run.

Recipe keys are checked by LLaMA-Factory itself when it is installed: its
``get_train_args`` / ``get_infer_args`` (HfArgumentParser over its argument dataclasses,
unknown keys refused, then its cross-checks such as "load_best_model_at_end needs
save_steps to be a multiple of eval_steps").  Without it they are checked against
``tests/fixtures/llamafactory_args.json``, the settable argument names of LLaMA-Factory
0.9.5 (transformers 5.6.0), regenerated with LLaMA-Factory installed by::

    python - <<'EOF'
    import dataclasses, json; from llamafactory.hparams import parser as P
    keys = lambda cs: sorted({f.name for c in cs for f in dataclasses.fields(c) if f.init})
    print(json.dumps({"train": keys(P._TRAIN_ARGS), "infer": keys(P._INFER_ARGS)}))
    EOF
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from data_create.errors import ConfigError
from nl2sql_fine_tuning import recipe

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
ARGS = json.loads((Path(__file__).parent / "fixtures" / "llamafactory_args.json").read_text())

# recipe -> which LLaMA-Factory entry point reads it ("train" also runs predict).
RECIPES = {
    "qwen3_lora.yaml": "train",
    "qwen3_qlora.yaml": "train",
    "deepseek_coder_lora.yaml": "train",
    "qwen3_lora_predict.yaml": "train",
    "qwen3_lora_merge.yaml": "infer",
    "qwen3_lora_api.yaml": "infer",
}

# The issue's numbers, as data: recipe -> {key: value}.
EXPECTED = {
    "qwen3_lora.yaml": {
        "model_name_or_path": "Qwen/Qwen3-4B",
        "template": "qwen3_nothink",
        "finetuning_type": "lora",
        "lora_rank": 8,
        "lora_alpha": 16,
        "lora_target": "all",
        "learning_rate": 5e-5,
        "num_train_epochs": 3.0,
        "lr_scheduler_type": "cosine",
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 8,
        "cutoff_len": 2048,
        "bf16": True,
        "dataset": "nl2sql_train",
        "eval_dataset": "nl2sql_dev",
        "eval_strategy": "steps",
        "save_strategy": "steps",
        "load_best_model_at_end": True,
        "metric_for_best_model": "eval_loss",
    },
    "qwen3_qlora.yaml": {"quantization_bit": 4, "quantization_method": "bnb", "lora_rank": 8},
    "deepseek_coder_lora.yaml": {
        "model_name_or_path": "deepseek-ai/deepseek-coder-6.7b-instruct",
        "template": "deepseekcoder",
        "lora_rank": 16,
        "lora_alpha": 32,
    },
    "qwen3_lora_predict.yaml": {
        "do_predict": True,
        "predict_with_generate": True,
        "do_sample": False,
        "eval_dataset": "nl2sql_dev",
        "template": "qwen3_nothink",
    },
    "qwen3_lora_merge.yaml": {"export_device": "cpu", "export_legacy_format": False},
    "qwen3_lora_api.yaml": {"infer_backend": "huggingface", "template": "qwen3_nothink"},
}

HAS_LLAMAFACTORY = importlib.util.find_spec("llamafactory") is not None


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the recipes


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_keys_are_llamafactory_arguments(name):
    config = load(name)
    assert isinstance(config, dict) and config
    unknown = sorted(set(config) - set(ARGS[RECIPES[name]]))
    assert not unknown, f"{name}: not LLaMA-Factory {ARGS['llamafactory']} arguments: {unknown}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_values_follow_the_issue(name):
    config = load(name)
    assert {k: config.get(k) for k in EXPECTED[name]} == EXPECTED[name]


def test_recipes_are_sectioned_like_llamafactory_examples():
    for name in ("qwen3_lora.yaml", "qwen3_qlora.yaml", "deepseek_coder_lora.yaml"):
        sections = re.findall(r"^### (\w+)", (CONFIGS / name).read_text(), re.MULTILINE)
        assert sections == ["model", "method", "dataset", "output", "train", "eval"], name


def test_best_checkpoint_selection_is_consistent():
    for name in ("qwen3_lora.yaml", "qwen3_qlora.yaml", "deepseek_coder_lora.yaml"):
        c = load(name)
        # transformers refuses load_best_model_at_end unless every eval has a checkpoint.
        assert c["save_strategy"] == c["eval_strategy"] == "steps"
        assert c["save_steps"] % c["eval_steps"] == 0
        assert c["greater_is_better"] is False and c["save_total_limit"] >= 1


def test_deepspeed_configs_are_valid_and_defer_to_the_trainer():
    stages = {}
    for path in sorted((CONFIGS / "deepspeed").glob("*.json")):
        ds = json.loads(path.read_text())
        stages[path.name] = ds["zero_optimization"]["stage"]
        # "auto" lets the HF trainer fill these from the recipe, so one file fits every recipe.
        for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
            assert ds[key] == "auto", (path.name, key)
        assert ds["bf16"]["enabled"] == "auto"
        if stages[path.name] == 3:
            # Without it a ZeRO-3 run saves empty shards instead of the adapter weights.
            assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert stages["ds_z2_config.json"] == 2 and stages["ds_z3_config.json"] == 3
    # The commented-out deepspeed switch in each training recipe names a file that exists.
    for name in ("qwen3_lora.yaml", "qwen3_qlora.yaml", "deepseek_coder_lora.yaml"):
        m = re.search(r"^# deepspeed: (\S+)", (CONFIGS / name).read_text(), re.MULTILINE)
        assert m and (ROOT / m.group(1)).is_file(), name


@pytest.mark.skipif(not HAS_LLAMAFACTORY, reason="llamafactory is not installed")
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_llamafactory_accepts_recipe(name, run_dir, tmp_path, monkeypatch):
    import torch
    from llamafactory.hparams import get_infer_args, get_train_args

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if load(name).get("dataset") or load(name).get("eval_dataset"):
        # What LLaMA-Factory gets is the helper's output, so check that, not the base.
        written = recipe.prepare(CONFIGS / name, run_dir, tmp_path / name)
        config = yaml.safe_load(written.read_text(encoding="utf-8"))
    else:
        config = load(name)
    if RECIPES[name] == "infer":
        model_args, data_args, finetuning_args, _ = get_infer_args(config)
        assert finetuning_args.finetuning_type == "lora"
        assert model_args.adapter_name_or_path == [config["adapter_name_or_path"]]
        return
    config["output_dir"] = str(tmp_path / "out")
    if not torch.cuda.is_available():
        config["bf16"] = False  # a device fact, not a key problem: bf16 needs a GPU here
    if importlib.util.find_spec("matplotlib") is None:
        config["plot_loss"] = False  # the light CPU install leaves matplotlib out
    model_args, data_args, training_args, finetuning_args, gen_args = get_train_args(config)
    assert data_args.eval_dataset == ["nl2sql_dev"]
    assert data_args.template == config["template"]
    if training_args.do_train:
        assert training_args.load_best_model_at_end
        assert training_args.metric_for_best_model == "eval_loss"
    else:
        assert training_args.predict_with_generate and gen_args.do_sample is False


# ---------------------------------------------------------------- a real run


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "NL2SQL_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("recipe_run")
    out = tmp / "run"
    subprocess.run(
        [sys.executable, "-m", "data_create", "--samples", "120", "--out", str(out), "-q"],
        cwd=ROOT,
        env=_env(tmp),
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def run(run_dir, tmp_path) -> Path:
    """A private copy of the run that a test may damage."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def cli(tmp: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nl2sql_fine_tuning.recipe", *args],
        cwd=cwd,
        env={**_env(tmp), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_helper_points_recipe_at_run(run, tmp_path):
    model = tmp_path / "models" / "qwen3"
    model.mkdir(parents=True)
    out = tmp_path / "my.yaml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Relative paths, given from another directory, still come out absolute.
    r = cli(
        tmp_path,
        "--data",
        os.path.relpath(run, elsewhere),
        "--base",
        str(CONFIGS / "qwen3_lora.yaml"),
        "--out",
        str(out),
        "--model",
        os.path.relpath(model, elsewhere),
        "num_train_epochs=2",
        "learning_rate=1e-4",
        "bf16=false",
        "max_samples=50",
        "report_to=none",
        cwd=elsewhere,
    )
    assert r.returncode == 0, r.stderr
    written, base = yaml.safe_load(out.read_text()), load("qwen3_lora.yaml")
    assert (
        written["dataset_dir"] == str(run.resolve()) and Path(written["dataset_dir"]).is_absolute()
    )
    assert written["model_name_or_path"] == str(model.resolve())
    assert written["num_train_epochs"] == 2 and isinstance(written["num_train_epochs"], int)
    assert written["learning_rate"] == 1e-4 and written["bf16"] is False
    assert written["max_samples"] == 50 and written["report_to"] == "none"
    changed = {"dataset_dir", "model_name_or_path", "num_train_epochs", "learning_rate", "bf16"}
    assert {k: v for k, v in written.items() if k not in changed | {"max_samples"}} == {
        k: v for k, v in base.items() if k not in changed
    }
    # The base's sections and comments survive.
    assert "### eval" in out.read_text() and "# every linear layer" in out.read_text()


def test_hub_model_id_and_deepspeed_switch(run, tmp_path):
    out = recipe.prepare(
        CONFIGS / "deepseek_coder_lora.yaml",
        run,
        tmp_path / "ds.yaml",
        model="deepseek-ai/deepseek-coder-6.7b-instruct",
        overrides=["deepspeed=configs/deepspeed/ds_z3_config.json"],
    )
    written = yaml.safe_load(out.read_text())
    assert written["model_name_or_path"] == "deepseek-ai/deepseek-coder-6.7b-instruct"
    assert written["deepspeed"] == "configs/deepspeed/ds_z3_config.json"
    assert out.read_text().count("deepspeed:") == 1  # the commented switch was turned on


def test_predict_recipe_checks_only_dev(run, tmp_path):
    out = recipe.prepare(CONFIGS / "qwen3_lora_predict.yaml", run, tmp_path / "p.yaml")
    assert yaml.safe_load(out.read_text())["dataset_dir"] == str(run.resolve())


def test_check_dataset_reports_the_run(run):
    report = recipe.check_dataset(run, ["nl2sql_train"], ["nl2sql_dev"])
    assert report.dialect == "sqlite" and report.warnings == ()
    for name, file in (("nl2sql_train", "train_alpaca.jsonl"), ("nl2sql_dev", "dev_alpaca.jsonl")):
        assert report.records(name) == len(lines(run / file)) > 0
    sharegpt = recipe.check_dataset(run, ["nl2sql_train_sharegpt"], ["nl2sql_dev_sharegpt"])
    assert [d.formatting for d in sharegpt.datasets] == ["sharegpt", "sharegpt"]


def _refused(tmp_path: Path, run: Path, *extra: str, base: str = "qwen3_lora.yaml") -> str:
    out = tmp_path / "refused.yaml"
    r = cli(tmp_path, "--data", str(run), "--base", str(CONFIGS / base), "--out", str(out), *extra)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert not out.exists()
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), r.stderr
    return err[0]


def test_refuses_dev_repeating_a_train_record(run, tmp_path):
    with (run / "dev_alpaca.jsonl").open("a", encoding="utf-8") as f:
        f.write(lines(run / "train_alpaca.jsonl")[3] + "\n")
    assert "dev split leaks into train" in _refused(tmp_path, run)


def test_refuses_leak_in_sharegpt_split(run, tmp_path):
    with (run / "dev_sharegpt.jsonl").open("a", encoding="utf-8") as f:
        f.write(lines(run / "train_sharegpt.jsonl")[0] + "\n")
    err = _refused(
        tmp_path, run, "dataset=nl2sql_train_sharegpt", "eval_dataset=nl2sql_dev_sharegpt"
    )
    assert "dev split leaks into train" in err


def test_refuses_dev_sharing_a_sql_skeleton(run, tmp_path):
    # Another question and other constants, the same query shape: still a leak.
    record = json.loads(lines(run / "train_alpaca.jsonl")[0])
    record["instruction"] += " (reworded)"
    record["output"] = re.sub(r"\b\d+\b", "987654", record["output"]) + " "
    with (run / "dev_alpaca.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    with pytest.raises(ConfigError, match="SQL skeleton"):
        recipe.check_dataset(run, ["nl2sql_train"], ["nl2sql_dev"])


def test_refuses_missing_file(run, tmp_path):
    (run / "dev_alpaca.jsonl").unlink()
    err = _refused(tmp_path, run)
    assert "dev_alpaca.jsonl does not exist" in err


def test_refuses_unregistered_dataset(run, tmp_path):
    err = _refused(tmp_path, run, "eval_dataset=nl2sql_test")
    assert "'nl2sql_test' is not registered" in err and "nl2sql_dev" in err


def test_refuses_directory_without_dataset_info(tmp_path):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    assert "dataset_info.json does not exist" in _refused(tmp_path, empty)


def test_refuses_record_missing_a_mapped_column(run, tmp_path):
    train = lines(run / "train_alpaca.jsonl")
    record = json.loads(train[1])
    del record["output"]
    train[1] = json.dumps(record)
    (run / "train_alpaca.jsonl").write_text("\n".join(train) + "\n")
    err = _refused(tmp_path, run)
    assert "train_alpaca.jsonl:2 lacks column(s) output" in err


def test_refuses_recipe_without_dataset(run, tmp_path):
    assert "names no dataset" in _refused(tmp_path, run, base="qwen3_lora_merge.yaml")


def test_empty_dev_is_a_warning(run, tmp_path):
    (run / "dev_alpaca.jsonl").write_text("")
    seen: list[str] = []
    out = recipe.prepare(
        CONFIGS / "qwen3_lora.yaml", run, tmp_path / "w.yaml", on_warning=seen.append
    )
    assert out.exists() and len(seen) == 1 and "'nl2sql_dev'" in seen[0] and "empty" in seen[0]


def test_empty_train_is_refused(run, tmp_path):
    (run / "train_alpaca.jsonl").write_text("")
    with pytest.raises(ConfigError, match="holds no records"):
        recipe.prepare(CONFIGS / "qwen3_lora.yaml", run, tmp_path / "w.yaml")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("lora_rank=16", ("lora_rank", 16)),
        ("learning_rate=5e-5", ("learning_rate", 5e-5)),
        ("num_train_epochs=2.5", ("num_train_epochs", 2.5)),
        ("bf16=False", ("bf16", False)),
        ("resume_from_checkpoint=null", ("resume_from_checkpoint", None)),
        ("report_to=none", ("report_to", "none")),
        ("template='123'", ("template", "123")),
        ("output_dir=saves/a=b", ("output_dir", "saves/a=b")),
    ],
)
def test_override_values_are_typed(item, expected):
    assert recipe.parse_override(item) == expected


@pytest.mark.parametrize("item", ["lora_rank", "=3", "bad key=1"])
def test_malformed_override_is_refused(item):
    with pytest.raises(ConfigError, match="is not key=value"):
        recipe.parse_override(item)


# ---------------------------------------------------------------- the real recipe, trained


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMAFACTORY, reason="llamafactory is not installed")
def test_real_recipe_trains_and_keeps_best_checkpoint(run_dir, tmp_path):
    """configs/qwen3_lora.yaml, shrunk only by overrides, on a tiny local model (~20 s on 2 CPU cores).

    Proves the recipe's LoRA shape reaches PEFT and its eval split drives best-checkpoint
    selection: nothing here is a tiny recipe of its own.
    """
    env = {**_env(tmp_path), "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)}
    model = tmp_path / "tiny"
    subprocess.run(
        [sys.executable, "-m", "nl2sql_fine_tuning.tiny_model", "--out", str(model)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    out = tmp_path / "out"
    shrink = {
        "output_dir": str(out),
        "bf16": False,  # CPU: fp32
        "plot_loss": False,
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "eval_steps": 1,
        "save_steps": 1,
        "max_samples": 40,
        "cutoff_len": 256,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
    }
    config = recipe.prepare(
        CONFIGS / "qwen3_lora.yaml", run_dir, tmp_path / "r.yaml", str(model), shrink
    )
    llamafactory_cli = Path(sys.executable).with_name("llamafactory-cli")
    r = subprocess.run(
        [str(llamafactory_cli), "train", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (8, 16)  # the recipe's, not overridden
    assert set(adapter["target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [e["eval_loss"] for e in state["log_history"] if "eval_loss" in e]
    assert len(evals) >= 2  # evaluated at every eval step on nl2sql_dev
    assert state["best_metric"] == pytest.approx(min(evals))
    assert Path(state["best_model_checkpoint"]).name.startswith("checkpoint-")
