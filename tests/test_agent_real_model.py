"""The agent wired to a real small model: SmolLM2-135M-Instruct served by
``llamafactory-cli api`` on CPU (see ../shared/notes/real-model.md).

This checks the wiring, not the quality: the base model mostly answers in prose, so
the loop must extract, validate, repair and end in one clear answer or failure, with
every request in the trained prompt format.  Needs the converted model folder
(``NL2SQL_SMOLLM2_DIR``, default ``~/.cache/nl2sql-factory/smollm2-135m-instruct``) and
LLaMA-Factory; ~1 minute on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from data_create.llm.client import LLMClient, LLMSettings
from nl2sql_agent import Agent, AgentConfig
from tests.test_agent import RecordingExecutor, retail  # noqa: F401

MODEL_DIR = Path(
    os.environ.get("NL2SQL_SMOLLM2_DIR")
    or Path.home() / ".cache" / "nl2sql-factory" / "smollm2-135m-instruct"
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smollm2_api(tmp_path_factory):
    beside = Path(sys.executable).parent / "llamafactory-cli"  # the venv's, even if not on PATH
    cli = str(beside) if beside.exists() else shutil.which("llamafactory-cli")
    if cli is None or not (MODEL_DIR / "model.safetensors").exists():
        pytest.skip(f"needs llamafactory-cli and the converted SmolLM2 folder at {MODEL_DIR}")
    tmp = tmp_path_factory.mktemp("smollm2")
    config = tmp / "api.yaml"
    config.write_text(
        f"model_name_or_path: {MODEL_DIR}\ntemplate: smollm2\ninfer_backend: huggingface\n"
        "infer_dtype: float32\n"
    )
    port = _free_port()
    env = {
        **os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(port),
        "API_MODEL_NAME": "smollm2", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp / "hf"),
        "CUDA_VISIBLE_DEVICES": "",
    }  # fmt: skip
    log = (tmp / "api.log").open("w")
    proc = subprocess.Popen([cli, "api", str(config)], env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"llamafactory-cli api exited: {(tmp / 'api.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).read()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("llamafactory-cli api did not come up in 180 s")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_agent_with_smollm2_end_to_end(retail, smollm2_api):  # noqa: F811
    db, meta = retail
    settings = LLMSettings(
        model="smollm2", base_url=smollm2_api, max_retries=0, timeout_s=120, max_tokens=32
    )
    config = AgentConfig(max_repairs=1, max_tokens=32, timeout_s=5.0, schema_context="retrieved",
                         schema_budget_tokens=400)  # fmt: skip
    executor = RecordingExecutor(db, timeout_s=5.0, row_cap=1000)
    with LLMClient(settings) as llm:
        agent = Agent(meta, executor, llm, config)
        answer = agent.ask("How many customers are there?")
    generate = [s for s in answer.trace if s.name == "generate"]
    assert generate and all(s.ok for s in generate), answer.message
    assert all(s.detail["answers"][0].strip() for s in generate)  # the model said something
    assert 1 <= len(answer.attempts) <= 2
    assert answer.status in ("ok", "empty", "failed", "clarify")
    if answer.status == "failed":  # a weak base model: the failure names the last problem
        assert answer.message.startswith("no valid query after")
    # Only statements that passed the validator reached the database.
    assert all(agent.validator.check_static(sql).ok for sql in executor.ran)
