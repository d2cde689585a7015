"""The whole pipeline driven by an LLM over HTTP: the real openai client against a fake
OpenAI-compatible server that misbehaves on ~30% of its calls."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
from collections import Counter
from pathlib import Path

import pytest
from fake_llm import FakeLLM, Reply, hang, prose_wrapped, rate_limited, server_error, truncated

from data_create import example, metadata, planner
from data_create.connect import connect
from data_create.features import literals
from data_create.pipeline import RunConfig, read_jsonl, run
from data_create.synth import Synthesizer
from data_create.validator import Validator


class FakeModel:
    """A scripted "LLM" that answers each kind of request the pipeline sends.

    Answers are drawn from pools of real question/SQL pairs made by the offline
    synthesizer, chosen by a hash of the request, so the same request always gets the
    same answer whatever the arrival order.  About 30% of the calls misbehave:
    transport faults (429 + Retry-After, 500, a hang past the timeout) on the first
    attempt of a request, so a retry gets through; content faults (truncated JSON, prose
    around JSON, invented columns, a DELETE, duplicate pairs) every time.
    """

    def __init__(self, meta, dialect: str, seed: int = 0):
        self.plan = planner.plan(meta, 1000)
        self.pools: dict[str, list[tuple[str, str]]] = {}
        synth = Synthesizer(meta, dialect=dialect, seed=seed)
        for topic in self.plan.topics:
            stream = synth.candidates(topic)
            self.pools[topic.name] = [(c.question, c.sql) for c in itertools.islice(stream, 400)]
        self.everything = [pair for pool in self.pools.values() for pair in pool]
        self.attempts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, request: dict, index: int) -> Reply:
        text = "\n".join(m["content"] for m in request["messages"])
        key = hashlib.sha256(text.encode()).hexdigest()
        with self.lock:
            self.attempts[key] += 1
            first = self.attempts[key] == 1
        rng = random.Random(key)
        roll = rng.random()
        if first and roll < 0.14:
            return self._fault("rate_limit", rate_limited(0.05))
        if first and roll < 0.27:
            return self._fault("server", server_error(500))
        if first and roll < 0.30:
            return self._fault("hang", hang())
        if '{"topics"' in text:
            return Reply(content=json.dumps({"topics": [t.to_dict() for t in self.plan.topics]}))
        pool = next((p for name, p in self.pools.items() if name in text), self.everything)
        if '{"samples"' in text:
            start = rng.randrange(len(pool))
            pairs = [pool[(start + i) % len(pool)] for i in range(8)]
            content = rng.random()  # its own draw: a retried request keeps its content
            if content < 0.03:
                return self._fault("truncated", truncated(self._samples(pairs)))
            if content < 0.06:
                return self._fault("prose", prose_wrapped({"samples": self._dicts(pairs)}))
            if content < 0.08:
                pairs[0] = (pairs[0][0], pairs[0][1].replace("SELECT ", "SELECT colour_code, ", 1))
                self._fault("invented_column", None)
            elif content < 0.10:
                pairs[0] = ("Remove the cancelled orders", "DELETE FROM orders WHERE status = 'x'")
                self._fault("delete", None)
            elif content < 0.12:
                pairs = [pool[0]] * 8
                self._fault("duplicates", None)
            return Reply(content=self._samples(pairs))
        if '{"paraphrases"' in text:  # rewrite a known question, keeping its literals
            block = text.split("## QUESTION\n", 1)[-1].split("\n", 1)[0]
            question = block.strip() or "How many orders?"
            rewrites = [
                f"Please tell me: {question}",
                f"{question} Thanks.",
                f"Quick one: {question}",
            ]
            return Reply(content=json.dumps({"paraphrases": rewrites}, ensure_ascii=False))
        # The longest known SQL in the prompt: a shorter one can be a prefix of the SQL
        # shown (``... FROM stores`` of ``... FROM stores WHERE city = 'X'``), and its
        # question would miss the literals.
        known = max(
            ((q, sql) for q, sql in self.everything if sql in text),
            key=lambda pair: len(pair[1]),
            default=None,
        )
        if '"sql"' not in text.rsplit("DATA>>>", 1)[-1] and "\n## SQL\n" in text:
            # Back-translation: the question for the SQL we were shown.  One the pools do
            # not hold (the CLI's synthesizer pulls its topics in another order, and which
            # kinds it keeps depends on what it made before) gets a question stating its
            # literals, as a model that reads the SQL would.
            if known is None:
                sql = text.split("\n## SQL\n", 1)[1].split("\nDATA>>>", 1)[0]
                values = ", ".join(f"'{v}'" for v in literals(sql, "sqlite"))
                known = (f"Which rows match {values or 'the query'}?", sql)
            return Reply(content=json.dumps({"question": known[0]}, ensure_ascii=False))
        # A repair (or any other single-pair request): one good pair for the topic.
        question, sql = pool[rng.randrange(len(pool))]
        return Reply(content=json.dumps({"question": question, "sql": sql}, ensure_ascii=False))

    def _fault(self, kind: str, reply: Reply | None) -> Reply | None:
        with self.lock:
            self.faults[kind] += 1
        return reply

    @staticmethod
    def _dicts(pairs):
        return [{"question": q, "sql": s} for q, s in pairs]

    def _samples(self, pairs) -> str:
        return json.dumps({"samples": self._dicts(pairs)}, ensure_ascii=False)


@pytest.fixture(scope="module")
def retail(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("retail-llm") / "retail.sqlite"
    example.build_sqlite(path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def model(retail) -> FakeModel:
    db = connect(retail)
    try:
        meta = metadata.extract(db, metadata.ExtractOptions(sample_values=3))
    finally:
        db.dispose()
    return FakeModel(meta, "sqlite")


def llm_config(retail: str, fake: FakeLLM, out: Path, cache: Path, n: int) -> RunConfig:
    return RunConfig(
        dsn=retail, out=str(out), samples=n, seed=9, llm="openai", model="fake-model",
        base_url=fake.base_url, llm_timeout=0.5, max_retries=4, concurrency=8,
        cache_dir=str(cache),
    )  # fmt: skip


def test_exact_count_despite_faults_and_a_free_rerun_from_cache(retail, model, tmp_path):
    n = 500
    with FakeLLM(model) as fake:
        result = run(llm_config(retail, fake, tmp_path / "a", tmp_path / "cache", n))
        first_requests = fake.request_count
        assert result.accepted == n
        samples = read_jsonl(tmp_path / "a" / "samples.jsonl")
        assert len(samples) == n and len({s["sql"] for s in samples}) == n
        assert all(s["generator"].startswith("llm:fake-model") for s in samples)

        # Every sample holds up on its own: static layers and execution again.
        db = connect(retail)
        try:
            meta = metadata.read(tmp_path / "a" / "metadata.json")
            validator = Validator(meta, "sqlite")
            assert all(validator.check_static(s["sql"]).ok for s in samples)
        finally:
            db.dispose()

        # Every kind of fault the server produced is visible: transport faults in the
        # report's LLM accounting, content faults in rejects.jsonl.
        faulty_calls = sum(model.faults.values())
        assert faulty_calls >= 0.2 * first_requests
        report = json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))
        llm = report["run"]["llm"]
        errors = llm["errors_by_kind"]
        assert errors.get("rate_limit", 0) >= 1 and errors.get("server", 0) >= 1
        assert errors.get("timeout", 0) >= 1
        assert llm["retries"] >= model.faults["rate_limit"] + model.faults["server"]
        rejects = read_jsonl(tmp_path / "a" / "rejects.jsonl")
        layers = Counter(r["layer"] for r in rejects)
        # Which content faults a run draws depends on its prompts' hashes, and a run of this
        # size draws most of them.  A reply still in flight when the run has its count is
        # never read, so a fault drawn once may leave no trace; one drawn twice or more must.
        content = {"truncated", "invented_column", "delete", "duplicates", "prose"}
        assert len(content & set(model.faults)) >= 3, model.faults
        traced = {
            "truncated": any("truncated" in r["reason"] for r in rejects if r["layer"] == "llm"),
            "invented_column": any(
                "colour_code" in r["reason"] for r in rejects if r["layer"] == "schema"
            ),
            "delete": any(r["layer"] == "safety" and "DELETE" in r["reason"] for r in rejects),
        }
        assert all(seen for kind, seen in traced.items() if model.faults[kind] >= 2), traced
        assert sum(traced.values()) >= 2, (traced, model.faults)
        assert layers["dedupe"] >= 1
        plan = json.loads((tmp_path / "a" / "plan.json").read_text(encoding="utf-8"))
        assert plan["planner"] == "llm:fake-model"

        # The same run again, on the same cache: no request leaves the machine, and the
        # dataset is the same.
        again = run(llm_config(retail, fake, tmp_path / "b", tmp_path / "cache", n))
        assert fake.request_count == first_requests
        assert again.accepted == n
        assert [s["sql"] for s in read_jsonl(tmp_path / "b" / "samples.jsonl")] == [
            s["sql"] for s in samples
        ]
        assert again.stats["run"]["llm"]["requests"] == 0


def test_unreachable_endpoint_is_one_clear_failure_not_a_crash(retail, tmp_path, monkeypatch):
    # Nothing listens on this port.  The preflight (GET /models) ends the run at once,
    # before the schema is read: no minutes of retries, no empty run blamed on the schema.
    import socket

    from data_create.errors import LLMUnavailable
    from data_create.llm.client import LLMClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = RunConfig(
        dsn=retail, out=str(tmp_path / "x"), samples=5, llm="openai", model="m",
        base_url=f"http://127.0.0.1:{port}/v1", llm_timeout=0.5, max_retries=1, max_rounds=2,
    )  # fmt: skip
    with pytest.raises(LLMUnavailable, match="no server answers"):
        run(config)
    assert not (tmp_path / "x" / "metadata.json").exists()
    # An endpoint that goes away after the preflight: every request fails as a connection
    # error, the LLM planner falls back to the offline plan, and the run ends short with
    # a warning.
    monkeypatch.setattr(LLMClient, "preflight", lambda self: [])
    result = run(config)
    assert result.accepted < 5
    assert any("LLM plan unusable" in w or "offline" in w for w in result.warnings)
    rejects = read_jsonl(tmp_path / "x" / "rejects.jsonl")
    assert rejects and all(r["layer"] == "llm" for r in rejects)
    assert all("connection" in r["reason"] for r in rejects)


def test_the_cli_against_the_fake_server(retail, model, tmp_path):
    import os
    import subprocess
    import sys

    with FakeLLM(model) as fake:
        proc = subprocess.run(
            [sys.executable, "-m", "data_create", "--dsn", retail, "--out", str(tmp_path / "cli"),
             "--samples", "40", "--llm", "openai", "--model", "fake-model",
             "--base-url", fake.base_url, "--concurrency", "4", "--llm-timeout", "1", "--modes",
             "question-first=0.5,sql-first=0.25,paraphrase=0.25", "-q"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "OPENAI_API_KEY": "sk-test-secret-123"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert fake.request_count > 0
        # The key went to the server as a bearer token, and nowhere else.
        assert fake.headers[0]["authorization"] == "Bearer sk-test-secret-123"
    assert "40 / 40" in proc.stdout
    assert "sk-test-secret" not in proc.stdout + proc.stderr
    for path in (tmp_path / "cli").iterdir():
        if path.is_file():
            assert "sk-test-secret" not in path.read_text(encoding="utf-8", errors="replace")
    generators = {s["generator"] for s in read_jsonl(tmp_path / "cli" / "samples.jsonl")}
    # All three modes delivered samples.
    for mode in ("question-first", "sql-first", "paraphrase"):
        assert f"llm:fake-model:{mode}" in generators, generators


def test_each_accepted_llm_sample_is_executed_once_and_every_execution_is_logged(
    retail, model, tmp_path, monkeypatch
):
    # Count, per SQL text, how often the validator sent it to the database: the LLM
    # generator no longer validates for its own repairs (the pipeline validates each
    # candidate once and hands failures back to it), and nothing runs that is not logged.
    executed: Counter[str] = Counter()
    real = Validator.validate_many

    def counting(self, sqls):
        sqls = list(sqls)
        verdicts = real(self, sqls)
        for sql, verdict in zip(sqls, verdicts, strict=True):
            if verdict.ok or verdict.layer == "execution":
                executed[sql] += 1
        return verdicts

    monkeypatch.setattr(Validator, "validate_many", counting)
    config = RunConfig(
        dsn=retail, out=str(tmp_path / "run"), samples=60, seed=9, llm="openai",
        model="fake-model", llm_timeout=2, max_retries=4, concurrency=8,
        cache_dir=str(tmp_path / "cache"),
        modes={"question-first": 0.6, "sql-first": 0.2, "paraphrase": 0.2},
    )  # fmt: skip
    with FakeLLM(model) as fake:
        result = run(replace_base_url(config, fake.base_url))
    assert result.accepted == 60
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    rejects = read_jsonl(tmp_path / "run" / "rejects.jsonl")
    runs = Counter(executed[s["sql"]] for s in samples)
    assert runs == {1: 60}, runs  # exactly one execution per accepted sample
    # (A repeat of a kept sample that never ran is logged without its text.)
    logged = {r["sql"] for r in samples} | {r["sql"] for r in rejects if "sql" in r}
    assert set(executed) <= logged, set(executed) - logged
    repaired = [r for r in rejects if r["reason"].startswith("before repair: ")]
    assert repaired  # the fake's invented columns went back to the model


def replace_base_url(config: RunConfig, base_url: str) -> RunConfig:
    import dataclasses

    return dataclasses.replace(config, base_url=base_url)
