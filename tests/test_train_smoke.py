"""The fine-tuning chain end to end on CPU: train, predict, merge and serve a tiny model.

The chain (nl2sql_fine_tuning.smoke) runs once per session, ~45 s on 2 cores; the
tests check its artifacts.  Without LLaMA-Factory installed they skip on a
developer's machine and FAIL under CI (``CI=true``), which installs it
(``nl2sql_fine_tuning/install_train_cpu.sh``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import IN_CI

from data_create import prompt

pytestmark = pytest.mark.slow

# The linear layer compared between the base and the merged model (LoRA targets all linears).
PROBE = "model.layers.0.self_attn.q_proj.weight"


def _training_stack_missing() -> str | None:
    for module in ("llamafactory", "torch", "transformers", "peft", "openai"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    missing = _training_stack_missing()
    if missing:
        message = f"{missing} is not installed (training extra)"
        if IN_CI:
            pytest.fail(
                f"{message}; CI needs it (.ci/run runs nl2sql_fine_tuning/install_train_cpu.sh)",
                pytrace=False,
            )
        pytest.skip(message)
    from nl2sql_fine_tuning import smoke

    return smoke.run(tmp_path_factory.mktemp("smoke"), samples=200)


def _jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def _dev_samples(data_dir: str) -> list[dict]:
    dev = json.loads((Path(data_dir) / "split.json").read_text(encoding="utf-8"))["dev"]
    by_id = {s["id"]: s for s in _jsonl(Path(data_dir) / "samples.jsonl")}
    return [by_id[i] for i in dev]


def test_every_step_ran(smoke):
    names = [s.name for s in smoke.steps]
    assert names == [
        "data_create", "tiny_model", "train", "predict", "export", "api_start", "api_query_stop",
    ]  # fmt: skip
    assert "train" in smoke.table()


def test_lora_adapter_written(smoke):
    lora = Path(smoke.lora_dir)
    config = json.loads((lora / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["peft_type"] == "LORA"
    assert (config["r"], config["lora_alpha"]) == (8, 16)
    # lora_target: all -> every linear layer of the Qwen3 blocks
    assert set(config["target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    }  # fmt: skip
    assert (lora / "adapter_model.safetensors").stat().st_size > 0


def test_trainer_logged_losses(smoke):
    lora = Path(smoke.lora_dir)
    log = _jsonl(lora / "trainer_log.jsonl")
    losses = [e["loss"] for e in log if "loss" in e]
    assert len(losses) >= 10  # logging_steps: 1, max_steps: 20
    assert all(loss > 0 for loss in losses)
    results = json.loads((lora / "all_results.json").read_text(encoding="utf-8"))
    assert results["train_loss"] > 0
    assert results["eval_loss"] > 0  # the dev split was evaluated during training


def test_predictions_cover_the_dev_split(smoke):
    predict = Path(smoke.predict_dir)
    rows = _jsonl(predict / "generated_predictions.jsonl")
    dev = _dev_samples(smoke.data_dir)
    assert len(rows) == len(dev) > 0
    for row, sample in zip(rows, dev, strict=True):
        assert set(row) >= {"prompt", "predict", "label"}
        assert isinstance(row["predict"], str)
        assert row["label"].strip() == prompt.sql_target(sample["sql"])
    metrics = json.loads((predict / "predict_results.json").read_text(encoding="utf-8"))
    for key in ("predict_bleu-4", "predict_rouge-l"):
        assert 0 <= metrics[key] <= 100


def test_trained_prompt_is_our_prompt(smoke):
    """What LLaMA-Factory fed the model is exactly data_create.prompt's system and user turn."""
    rows = _jsonl(Path(smoke.predict_dir) / "generated_predictions.jsonl")
    for row, sample in zip(rows, _dev_samples(smoke.data_dir), strict=True):
        system, user = prompt.messages(sample["question"], sample["dialect"])
        assert row["prompt"] == (
            f"<|im_start|>system\n{system['content']}<|im_end|>\n"
            f"<|im_start|>user\n{user['content']}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )


def test_merged_model_loads_and_differs_from_base(smoke):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    merged = Path(smoke.merged_dir)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert not any(name for name, _ in model.named_parameters() if "lora" in name)
    base = load_file(Path(smoke.model_dir) / "model.safetensors")[PROBE]
    tuned = load_file(merged / "model.safetensors")[PROBE]
    assert base.shape == tuned.shape
    assert not torch.equal(base, tuned)
    assert (merged / "Modelfile").exists()


def test_api_answered_in_the_training_format(smoke):
    answer = smoke.api
    assert answer is not None
    assert answer.base_url.startswith("http://127.0.0.1:")
    assert "nl2sql-tiny" in answer.models
    # The server generated and returned an answer; its words are the tiny random model's
    # (20 steps of LoRA), which may be only whitespace -- no test leans on their quality.
    assert answer.completion_tokens > 0 and answer.finish_reason in ("stop", "length")
    assert isinstance(answer.text, str)
    assert answer.sql == prompt.extract_sql(answer.text)


def test_api_server_was_stopped(smoke):
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.URLError):
        opener.open(f"{smoke.api.base_url}/models", timeout=2)
