"""What a new user meets first: --help, a dead LLM endpoint, Ctrl-C, repeated failures.

Each case was tried as a newcomer would (issue 11) and used to go wrong: the endpoint
that is down cost minutes of retries and an empty run blamed on the schema, a hundred
identical warnings buried the final line, --help hid the generate options.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_top_level_help_lists_the_generate_options():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for option in ("--samples", "--dsn", "--llm", "--resume", "--config", "inspect", "validate"):
        assert option in proc.stdout, option


def test_a_dead_llm_endpoint_fails_in_one_line_before_the_schema_is_read(tmp_path):
    pytest.importorskip("openai")
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    proc = run_cli("--llm", "openai", "--model", "m", "--base-url", url, "--out", str(out), "-q")
    assert_one_line_error(proc, "no server answers", url)
    assert "schema" not in proc.stderr  # not blamed on the database
    assert not (out / "metadata.json").exists() and not (out / "samples.jsonl").exists()


def test_live_eval_and_vllm_test_fail_fast_on_a_dead_endpoint(tmp_path, capsys):
    pytest.importorskip("openai")
    from nl2sql_fine_tuning import eval_model

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "1", "question": "How many?", "sql": "SELECT 1"}\n')
    code = eval_model.main(
        ["--gold", str(gold), "--base-url", url, "--model", "m", "--out", str(tmp_path / "e")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "no server answers" in err and err.count("\n") == 1


def test_identical_request_failures_are_one_warning_with_a_count(caplog):
    pytest.importorskip("openai")
    from fake_llm import FakeLLM, server_error

    from data_create.llm.client import LLMSettings
    from nl2sql_fine_tuning.vllm_test import DevPrompt, load_test

    prompts = [
        DevPrompt(str(i), f"q{i}", "SELECT 1", "sqlite", ({"role": "user", "content": f"q{i}"},))
        for i in range(40)
    ]
    with caplog.at_level(logging.WARNING), FakeLLM(lambda r, i: server_error(503)) as llm:
        settings = LLMSettings(model="m", base_url=llm.base_url, api_key="k", max_retries=0)
        [level] = load_test(settings, prompts, [4])
    assert level.errors == 40
    failures = [r.getMessage() for r in caplog.records if "request failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].endswith("(40 times)"), failures


def test_interrupt_tells_how_to_continue(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "data_create", "--samples", "100000", "--out", str(out), "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NL2SQL_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 120
    while not (samples.exists() and samples.stat().st_size) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in err and "Traceback" not in err and err.count("\n") == 1


def test_smoke_exits_2_for_a_user_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nl2sql_fine_tuning.smoke", "--workdir", str(tmp_path / "w"),
         "--samples", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
