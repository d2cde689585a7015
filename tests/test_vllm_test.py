"""The load test against a real HTTP server (tests/fake_llm.py) and a real data_create run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import FakeLLM, Reply, count_tokens, hang, server_error

from data_create import prompt
from data_create.errors import ConfigError
from data_create.llm.client import LLMSettings
from nl2sql_fine_tuning import vllm_test
from nl2sql_fine_tuning.vllm_test import load_prompts, load_test, percentile

pytest.importorskip("openai")

ROOT = Path(__file__).resolve().parent.parent
LATENCY_S = 0.05


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real 120-sample data_create run on the example database."""
    tmp = tmp_path_factory.mktemp("vllm_run")
    env = {**os.environ, "NL2SQL_HOME": str(tmp / "home")}
    subprocess.run(
        [sys.executable, "-m", "data_create", "--samples", "120", "--out", str(tmp / "run"), "-q"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return tmp / "run"


@pytest.fixture(scope="module")
def prompts(run_dir):
    return load_prompts(run_dir)


def gold_answers(prompts):
    """A script that answers each dev question with its gold SQL (fenced, with a ``;``)."""
    gold = {p.messages[-1]["content"]: p.gold_sql for p in prompts}

    def script(request, index):
        sql = gold[request["messages"][-1]["content"]]
        return Reply(content=f"```sql\n{sql};\n```", delay_s=LATENCY_S)

    return script


def settings(llm: FakeLLM, **kw) -> LLMSettings:
    base = dict(
        model="m", base_url=llm.base_url, api_key="k", max_retries=0, temperature=0.0, max_tokens=64
    )
    return LLMSettings(**{**base, **kw})


def test_dev_split_prompts_are_the_training_messages(run_dir, prompts):
    split = json.loads((run_dir / "split.json").read_text())
    samples = {
        s["id"]: s for s in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())
    }
    assert [p.id for p in prompts] == split["dev"] and len(prompts) > 0
    for p in prompts:
        s = samples[p.id]
        assert list(p.messages) == prompt.messages(s["question"], s["dialect"])
        assert (p.question, p.gold_sql, p.dialect) == (s["question"], s["sql"], s["dialect"])


def test_sent_prompt_equals_training_prompt_at_temperature_zero(prompts):
    with FakeLLM(gold_answers(prompts)) as llm:
        [level] = load_test(settings(llm), prompts, [1], len(prompts))
        sent = list(llm.requests)
    assert level.ok == len(prompts) == len(sent)
    for p, body in zip(prompts, sent, strict=True):
        assert body["messages"] == prompt.messages(p.question, p.dialect)
        assert body["temperature"] == 0 and body["max_tokens"] == 64 and body["model"] == "m"


def test_each_level_keeps_its_concurrency_bound(prompts):
    n = 32
    with FakeLLM(gold_answers(prompts)) as llm:
        [one] = load_test(settings(llm), prompts, [1], n)
        assert llm.max_in_flight == 1 and llm.request_count == n
        llm.reset_counts()
        [eight] = load_test(settings(llm), prompts, [8], n)
        # 32 requests of 50 ms with 8 slots: all 8 are busy at once, never a 9th.
        assert llm.max_in_flight == 8 and llm.request_count == n
    assert (one.max_in_flight, eight.max_in_flight) == (1, 8)
    for level in (one, eight):
        assert (level.requests, level.ok, level.errors, level.error_rate) == (n, n, 0, 0.0)
        lat = level.latency_ms
        assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert lat["p50"] >= LATENCY_S * 1000  # every request waited for the server's sleep
        assert level.samples_per_s == pytest.approx(n / level.wall_s, rel=1e-3)


def test_output_tokens_come_from_usage(prompts):
    with FakeLLM(gold_answers(prompts)) as llm:
        [level] = load_test(settings(llm), prompts, [4], 20)
    expected = sum(
        count_tokens(f"```sql\n{prompts[i % len(prompts)].gold_sql};\n```") for i in range(20)
    )
    assert level.output_tokens == expected
    assert level.output_tokens_per_s == pytest.approx(expected / level.wall_s, rel=1e-3)


def test_server_errors_are_counted_not_retried(prompts):
    def script(request, index):
        return server_error(500) if index % 4 == 0 else Reply(content="SELECT 1", delay_s=0.01)

    with FakeLLM(script) as llm:
        [level] = load_test(settings(llm), prompts, [4], 40)
        assert llm.request_count == 40  # max_retries=0: one HTTP call per request
    assert (level.ok, level.errors, level.error_rate) == (30, 10, 0.25)
    assert level.errors_by_kind == {"server": 10}
    assert level.latency_ms["p50"] <= level.latency_ms["p95"] <= level.latency_ms["p99"]


def test_percentile_interpolates_between_ranks():
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([5], 99) == 5.0
    xs = list(range(1, 101))
    assert percentile(xs, 95) == pytest.approx(95.05)


def test_cli_prints_a_table_and_writes_json(run_dir, prompts, tmp_path, capsys):
    out = tmp_path / "load.json"
    with FakeLLM(gold_answers(prompts)) as llm:
        code = vllm_test.main(
            ["--base-url", llm.base_url, "--model", "m", "--data", str(run_dir),
             "--concurrency", "1,8", "--requests", "16", "--out", str(out)]
        )  # fmt: skip
        assert llm.max_in_flight <= 8 and llm.request_count == 32
    assert code == 0
    printed = capsys.readouterr().out
    assert "samples/s" in printed and "p99 ms" in printed
    report = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 8]
    assert [lv["max_in_flight"] for lv in report["levels"]] == [1, 8]
    assert report["dev_prompts"] == len(prompts) and report["temperature"] == 0.0
    assert all(lv["ok"] == 16 and lv["execution"] is None for lv in report["levels"])


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert vllm_test.main(["--model", "m", "--data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "does not exist" in err


def test_dead_server_is_an_error(run_dir, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    assert (
        vllm_test.main(
            ["--base-url", url, "--model", "m", "--data", str(run_dir), "--concurrency", "2"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no server answers" in err and err.count("\n") == 1


def test_bad_levels_are_refused(prompts):
    with pytest.raises(ConfigError):
        load_test(LLMSettings(model="m", base_url="http://127.0.0.1:9/v1"), prompts, [0], 4)


def test_execute_with_gold_answers_scores_full_accuracy(run_dir, prompts, tmp_path):
    from nl2sql_fine_tuning import metrics

    try:
        metrics.judge("SELECT 1", "SELECT 1", None, None, dialect="sqlite")
    except NotImplementedError:
        pytest.skip("nl2sql_fine_tuning.metrics.judge is not written yet")
    except Exception:
        pass
    out = tmp_path / "load.json"
    with FakeLLM(gold_answers(prompts)) as llm:
        code = vllm_test.main(
            ["--base-url", llm.base_url, "--model", "m", "--data", str(run_dir),
             "--concurrency", "4", "--execute", "--out", str(out)]
        )  # fmt: skip
    assert code == 0
    [level] = json.loads(out.read_text())["levels"]
    assert level["execution"]["judged"] == len(prompts)
    assert level["execution"]["accuracy"] == 1.0


def test_a_hung_request_times_out_and_frees_its_slot(prompts):
    def script(request, index):
        return hang() if index == 0 else Reply(content="SELECT 1")

    with FakeLLM(script) as llm:
        [level] = load_test(settings(llm, timeout_s=0.5), prompts, [2], 6)
        assert llm.request_count == 6
    assert (level.ok, level.errors_by_kind) == (5, {"timeout": 1})
    assert level.error_rate == pytest.approx(1 / 6, abs=1e-6)
