"""LLMClient against a real HTTP server through the real openai SDK (tests/fake_llm.py)."""

from __future__ import annotations

import json
import logging
import random
import sys
import threading

import pytest
from fake_llm import FakeLLM, Reply, garbage, hang, rate_limited, server_error

from data_create.errors import ConfigError
from data_create.llm.client import (
    ChatRequest,
    ChatResult,
    LLMClient,
    LLMFailure,
    LLMSettings,
    cache_key,
    settings_from,
)

pytest.importorskip("openai")

SECRET = "sk-test-SECRET-0123456789abcdef"


def ask(text: str, purpose: str = "generate") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], purpose=purpose)


def make_client(llm: FakeLLM, **overrides) -> LLMClient:
    settings = LLMSettings(
        model="fake-model",
        base_url=llm.base_url,
        api_key=SECRET,
        timeout_s=overrides.pop("timeout_s", 5),
        backoff_base_s=overrides.pop("backoff_base_s", 0.01),
        backoff_max_s=overrides.pop("backoff_max_s", 2),
        **overrides,
    )
    return LLMClient(settings, rng=random.Random(0))


@pytest.fixture
def fake():
    """A started FakeLLM whose script the test sets via ``fake.script = ...``."""
    with FakeLLM() as llm:
        yield llm


def test_success_counts_usage_and_cost(fake):
    fake.script = lambda req, i: Reply(content="SELECT 1")
    with make_client(fake, prices={"input": 1.0, "output": 2.0}) as client:
        [result] = client.run_many([ask("count the orders")])
        acct = client.accounting()

    assert isinstance(result, ChatResult) and result.ok
    assert (result.text, result.cached, result.finish_reason) == ("SELECT 1", False, "stop")
    # fake_llm counts ceil(chars / 4): "count the orders" is 16 chars, "SELECT 1" 8.
    assert (result.tokens_in, result.tokens_out) == (4, 2)
    assert acct["requests"] == 1 and acct["cache_hits"] == 0 and acct["retries"] == 0
    assert (acct["tokens_in"], acct["tokens_out"]) == (4, 2)
    assert acct["cost"] == pytest.approx((4 * 1.0 + 2 * 2.0) / 1e6)
    assert acct["by_purpose"]["generate"]["requests"] == 1
    sent = fake.requests[0]
    assert sent["model"] == "fake-model"
    assert sent["messages"] == [{"role": "user", "content": "count the orders"}]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.7, 0.95, 2048)
    assert fake.headers[0]["authorization"] == f"Bearer {SECRET}"


def test_missing_usage_is_estimated(fake):
    fake.script = lambda req, i: Reply(content="订单 total", usage=False)
    with make_client(fake) as client:
        [result] = client.run_many([ask("how many orders")])
    assert result.tokens_in > 0 and result.tokens_out > 0
    assert client.accounting()["tokens_out"] == result.tokens_out


def test_rate_limit_waits_retry_after_then_succeeds(fake):
    fake.script = lambda req, i: rate_limited(0.3) if i == 0 else Reply(content="ok")
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
        acct = client.accounting()
    assert result.ok and result.text == "ok"
    assert fake.request_count == 2
    assert fake.arrivals[1] - fake.arrivals[0] >= 0.3  # Retry-After was honoured
    assert acct["retries"] == 1 and acct["requests"] == 2
    assert acct["errors_by_kind"] == {"rate_limit": 1} and acct["failures_by_kind"] == {}


def test_retry_after_is_capped_by_backoff_max(fake):
    fake.script = lambda req, i: rate_limited(3600) if i == 0 else Reply(content="ok")
    with make_client(fake, backoff_max_s=0.05) as client:
        [result] = client.run_many([ask("q")])
    assert result.ok and fake.request_count == 2


def test_server_errors_retried_until_success(fake):
    fake.script = lambda req, i: server_error() if i < 2 else Reply(content="fine")
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
        acct = client.accounting()
    assert result.ok and result.text == "fine"
    assert fake.request_count == 3
    assert acct["retries"] == 2 and acct["errors_by_kind"] == {"server": 2}


def test_garbage_body_is_a_server_fault(fake):
    fake.script = lambda req, i: garbage() if i == 0 else Reply(content="fine")
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
        acct = client.accounting()
    assert result.ok and acct["errors_by_kind"] == {"server": 1}


def test_hang_times_out_retries_then_fails(fake):
    fake.script = lambda req, i: hang()
    with make_client(fake, timeout_s=0.3, max_retries=2) as client:
        [result] = client.run_many([ask("q")])
        acct = client.accounting()
    assert isinstance(result, LLMFailure) and not result.ok
    assert result.kind == "timeout" and result.attempts == 3
    assert fake.request_count == 3
    assert acct["failures_by_kind"] == {"timeout": 1} and acct["retries"] == 2


def test_auth_error_is_not_retried_and_hides_the_key(fake):
    # Some providers echo (part of) the wrong key in their 401 message.
    fake.script = lambda req, i: Reply(
        status=401, error_message=f"Incorrect API key provided: {SECRET}"
    )
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
    assert isinstance(result, LLMFailure) and result.kind == "auth"
    assert result.attempts == 1 and fake.request_count == 1
    assert SECRET not in result.message and SECRET[:12] not in str(result)


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_bad_request_without_retry(fake, status):
    fake.script = lambda req, i: Reply(status=status, error_message="model not found")
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
    assert result.kind == "bad_request" and fake.request_count == 1


def test_empty_answer_is_a_failure(fake):
    fake.script = lambda req, i: Reply(content="")
    with make_client(fake) as client:
        [result] = client.run_many([ask("q")])
    assert result.kind == "empty" and client.accounting()["failures_by_kind"] == {"empty": 1}


def test_connection_refused_is_a_connection_failure():
    with FakeLLM() as llm:
        base_url = llm.base_url
    settings = LLMSettings(model="m", base_url=base_url, max_retries=1, backoff_base_s=0.01)
    with LLMClient(settings) as client:
        [result] = client.run_many([ask("q")])
    assert result.kind == "connection" and result.attempts == 2


def test_request_budget_stops_sending(fake):
    with make_client(fake, max_requests=3) as client:
        results = client.run_many([ask(f"q{i}") for i in range(5)])
        later = client.run_many([ask("one more")])
        acct = client.accounting()
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert results[3].kind == "budget" and results[3].attempts == 0
    assert later[0].kind == "budget"
    assert fake.request_count == 3 and acct["requests"] == 3
    assert acct["failures_by_kind"] == {"budget": 3}


def test_token_budget_stops_sending(fake):
    fake.script = lambda req, i: Reply(content="x" * 400)  # 100 tokens out
    with make_client(fake, max_total_tokens=150, concurrency=1) as client:
        results = client.run_many([ask(f"q{i}") for i in range(4)])
    assert [r.ok for r in results] == [True, True, False, False]
    assert fake.request_count == 2


def test_cache_rerun_sends_nothing_and_returns_same_text(fake, tmp_path):
    counter = iter(range(10**6))
    fake.script = lambda req, i: Reply(content=f"answer {next(counter)}")
    requests = [ask(f"q{i}") for i in range(6)]
    with make_client(fake, cache_dir=tmp_path) as client:
        first = client.run_many(requests)
    sent = fake.request_count
    with make_client(fake, cache_dir=tmp_path) as client:
        second = client.run_many(requests)
        acct = client.accounting()
    assert sent == 6 and fake.request_count == 6
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and not any(r.cached for r in first)
    assert acct["requests"] == 0 and acct["cache_hits"] == 6 and acct["tokens_in"] == 0
    files = list(tmp_path.glob("*/*.json"))
    assert len(files) == 6
    assert all(f.parent.name == f.stem[:2] for f in files)
    assert not any(SECRET in f.read_text() for f in files)


def test_identical_requests_in_flight_share_one_answer(fake, tmp_path):
    fake.script = lambda req, i: Reply(content=f"answer {i}", delay_s=0.1)
    with make_client(fake, cache_dir=tmp_path) as client:
        results = client.run_many([ask("same")] * 4)
    assert fake.request_count == 1
    assert len({r.text for r in results}) == 1
    assert client.accounting()["cache_hits"] == 3


def test_cache_key_depends_on_params_not_url(fake, tmp_path):
    with make_client(fake, cache_dir=tmp_path) as client:
        client.run_many([ask("q")])
        client.run_many([ChatRequest(ask("q").messages, temperature=0.0)])
        client.run_many([ChatRequest(ask("q").messages, max_tokens=10)])
        client.run_many([ChatRequest(ask("q").messages, top_p=0.5)])
    assert fake.request_count == 4
    msgs = [{"role": "user", "content": "q"}]
    assert cache_key("a", msgs, 0.7, 0.95, 10) != cache_key("b", msgs, 0.7, 0.95, 10)
    assert cache_key("a", msgs, 1, 0.95, 10) == cache_key("a", msgs, 1.0, 0.95, 10)
    with FakeLLM() as other:  # same model behind another URL: served from the cache
        settings = LLMSettings(model="fake-model", base_url=other.base_url, cache_dir=tmp_path)
        with LLMClient(settings) as client:
            [result] = client.run_many([ask("q")])
        assert result.cached and other.request_count == 0


def test_corrupt_cache_file_is_ignored_and_rewritten(fake, tmp_path):
    with make_client(fake, cache_dir=tmp_path) as client:
        [first] = client.run_many([ask("q")])
    assert first.ok and not first.cached
    [path] = tmp_path.glob("*/*.json")
    path.write_text("{not json", encoding="utf-8")
    with make_client(fake, cache_dir=tmp_path) as client:
        [second] = client.run_many([ask("q")])
    assert not second.cached and fake.request_count == 2
    assert json.loads(path.read_text(encoding="utf-8"))["text"] == second.text


def test_concurrency_is_bounded_and_used(fake):
    fake.script = lambda req, i: Reply(content=f"a{i}", delay_s=0.1)
    with make_client(fake, concurrency=4) as client:
        results = client.run_many([ask(f"q{i}") for i in range(16)])
    assert all(r.ok for r in results)
    assert fake.max_in_flight == 4


def test_run_many_keeps_input_order(fake):
    # Later requests answer first: the order must come from the input, not from timing.
    def script(req, i):
        n = int(req["messages"][0]["content"][1:])
        return Reply(content=f"answer to q{n}", delay_s=0.02 * (8 - n))

    fake.script = script
    with make_client(fake, concurrency=8) as client:
        results = client.run_many([ask(f"q{n}") for n in range(8)])
    assert [r.text for r in results] == [f"answer to q{n}" for n in range(8)]


def test_api_key_never_leaks(fake, caplog):
    fake.script = lambda req, i: (
        Reply(status=403, error_message=f"key {SECRET} is revoked")
        if i == 0
        else server_error(error_message=f"oops {SECRET}")
    )
    caplog.set_level(logging.DEBUG)
    with make_client(fake, max_retries=1) as client:
        results = client.run_many([ask("a"), ask("b")])
        acct = client.accounting()
    texts = [
        repr(client),
        repr(client.settings),
        str(client.settings),
        json.dumps(client.settings.public()),
        json.dumps(acct),
        *(str(r) + repr(r) for r in results),
        caplog.text,
    ]
    assert all(not r.ok for r in results)
    for text in texts:
        assert SECRET not in text
        assert SECRET[3:15] not in text


def test_settings_from_env_args_and_overrides():
    import argparse

    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": SECRET}
    args = argparse.Namespace(llm_model="qwen", llm_concurrency=3, concurrency=99, llm_top_p=None)
    s = settings_from(args, env=env, timeout_s=5)
    assert (s.model, s.base_url, s.api_key, s.concurrency, s.timeout_s, s.top_p) == (
        "qwen", "http://127.0.0.1:9/v1", SECRET, 3, 5.0, 0.95,
    )  # fmt: skip
    assert SECRET not in repr(s)
    with pytest.raises(ConfigError, match="no LLM model"):
        settings_from({}, env={})
    with pytest.raises(ConfigError, match="concurrency"):
        settings_from({"model": "m", "concurrency": 0}, env={})
    with pytest.raises(ConfigError, match="http"):
        settings_from({"model": "m", "base_url": "ftp://x"}, env={})


def test_import_data_create_llm_does_not_import_openai():
    import subprocess

    code = "import sys, data_create, data_create.llm; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fake_serves_models_and_many_parallel_requests(fake):
    import urllib.request

    with urllib.request.urlopen(f"{fake.base_url}/models", timeout=5) as resp:
        assert json.load(resp)["data"][0]["id"] == "fake-model"

    fake.script = lambda req, i: Reply(content="x", delay_s=0.5)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]}).encode()

    def post():
        req = urllib.request.Request(
            f"{fake.base_url}/chat/completions", data=body,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["choices"][0]["message"]["content"] == "x"

    threads = [threading.Thread(target=post) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.request_count == 64 and fake.max_in_flight == 64
