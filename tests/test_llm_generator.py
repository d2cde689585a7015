"""LLMGenerator on the bundled example database: a scripted client plays the model.

The stub client answers each request with a scripted reply (good pairs made by the
offline synthesizer, prose-wrapped or truncated JSON, invented columns, DELETE
statements, failures); the validator is the real one with a real read-only executor.
The last test drives the real LLMClient against the fake HTTP server.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from data_create import connect, example, features, metadata
from data_create.errors import ConfigError
from data_create.executor import Executor
from data_create.llm.client import ChatRequest, ChatResult, LLMFailure
from data_create.llm.generator import LLMGenerator
from data_create.records import DIFFICULTIES, SQL_FEATURES, Candidate, Rejected, Topic
from data_create.synth import Synthesizer
from data_create.validator import Validator

# ---------------------------------------------------------------- fixtures


@dataclass
class Env:
    meta: Any
    db: Any
    executor: Any
    validator: Validator


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    db = connect.connect(example.example_dsn())
    meta = metadata.extract(db)
    executor = SpyExecutor(Executor(db, timeout_s=10, row_cap=1000))
    yield Env(meta, db, executor, Validator(meta, meta.dialect, executor=executor))
    executor.inner.close()
    db.dispose()


class SpyExecutor:
    """The real executor, recording what it was asked to run."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self.ran: list[str] = []

    def execute(self, sql: str) -> Any:
        self.ran.append(sql)
        return self.inner.execute(sql)


@dataclass
class Settings:
    model: str = "stub"


@dataclass
class StubClient:
    """``run_many`` answers each request with ``script(request, index)``: a string is the
    reply text, an LLMFailure is returned as is."""

    script: Callable[[ChatRequest, int], str | LLMFailure]
    settings: Settings = field(default_factory=Settings)
    requests: list[ChatRequest] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)

    def run_many(self, requests: list[ChatRequest]) -> list[ChatResult | LLMFailure]:
        self.batches.append(len(requests))
        out: list[ChatResult | LLMFailure] = []
        for r in requests:
            reply = self.script(r, len(self.requests))
            self.requests.append(r)
            out.append(
                reply if isinstance(reply, LLMFailure) else ChatResult(reply, 1, 1, False, 0)
            )
        return out


TOPIC = Topic("sales", ("orders", "stores", "customers"), "test", 4, "sqlite")


def good_pairs(env: Env, n: int, seed: int = 1, topic: Topic = TOPIC) -> list[Candidate]:
    synth = Synthesizer(env.meta, dialect=env.meta.dialect, seed=seed)
    return list(itertools.islice(synth.candidates(topic), n))


def samples_json(pairs: list[tuple[str, str]]) -> str:
    return json.dumps(
        {"samples": [{"question": q, "sql": s} for q, s in pairs]}, ensure_ascii=False
    )


def generator(env: Env, client: StubClient, **kw: Any) -> LLMGenerator:
    kw.setdefault("seed", 7)
    return LLMGenerator(client, env.meta, dialect=env.meta.dialect, validator=env.validator, **kw)


def user_text(request: ChatRequest) -> str:
    return request.messages[-1]["content"]


def split(items: list[Candidate | Rejected]) -> tuple[list[Candidate], list[Rejected]]:
    return [i for i in items if isinstance(i, Candidate)], [
        i for i in items if isinstance(i, Rejected)
    ]


# ---------------------------------------------------------------- question-first


def test_good_pairs_become_tagged_candidates_and_one_round_is_one_batch(env):
    pairs = good_pairs(env, 4)
    client = StubClient(lambda r, i: samples_json([(c.question, c.sql) for c in pairs]))
    stream = generator(env, client).candidates(TOPIC)
    got = list(itertools.islice(stream, 4))
    assert client.batches == [1]  # one request for 4 pairs, sent as one batch
    assert "Write 4 new question/SQL pairs" in user_text(client.requests[0])
    assert [c.sql for c in got] == [c.sql for c in pairs]
    for mine, synth in zip(got, pairs, strict=True):
        assert isinstance(mine, Candidate)
        assert mine.generator == "llm:stub:question-first"
        assert mine.topic == "sales" and mine.language == "en"
        assert set(mine.tables) == set(synth.tables)
        assert mine.difficulty in DIFFICULTIES and set(mine.features) <= set(SQL_FEATURES)


def test_prose_wrapped_json_is_read_and_truncated_json_is_rejected(env):
    pairs = good_pairs(env, 3)
    body = samples_json([(c.question, c.sql) for c in pairs])
    replies = [f"Sure! Here you go:\n```json\n{body}\n```\nAnything else?", body[: len(body) // 2]]
    client = StubClient(lambda r, i: replies[i])
    gen = generator(env, client, batch_size=3, max_rounds=1)
    items = list(gen.candidates(Topic("sales", TOPIC.tables, "test", 6, "sqlite")))
    assert client.batches == [2]
    cands, rejects = split(items)
    assert [c.sql for c in cands] == [c.sql for c in pairs]
    assert len(rejects) == 1
    assert rejects[0].layer == "llm"
    assert rejects[0].reason.startswith("unparsable reply: truncated JSON")


def test_invented_column_is_repaired_once_else_rejected_with_the_schema_hint(env):
    bad_ok = (
        "List the names of stores in 上海.",
        "SELECT store_nam FROM stores WHERE city = '上海'",
    )
    bad_kept = ("List store phones.", "SELECT store_phone FROM stores")

    def script(r: ChatRequest, i: int) -> str:
        if r.purpose == "repair":
            if "store_nam " in user_text(r):
                return json.dumps(
                    {"question": bad_ok[0], "sql": bad_ok[1].replace("store_nam", "store_name")}
                )
            return json.dumps({"question": bad_kept[0], "sql": "SELECT store_phone2 FROM stores"})
        return samples_json([bad_ok, bad_kept])

    client = StubClient(script)
    items = list(
        generator(env, client, max_rounds=1).candidates(Topic("s", ("stores",), "t", 2, "sqlite"))
    )
    assert [r.purpose for r in client.requests] == ["generate:question-first", "repair", "repair"]
    assert client.batches == [1, 2]  # the round's repairs go out together
    # The validator's message, with its suggestion, reached the model.
    assert "did you mean store_name" in user_text(client.requests[1])
    cands, rejects = split(items)
    assert [c.sql for c in cands] == ["SELECT store_name FROM stores WHERE city = '上海'"]
    reasons = [(r.layer, r.reason) for r in rejects]
    assert len(reasons) == 3, reasons
    assert reasons[0][0] == "schema" and reasons[0][1].startswith("before repair: unknown column")
    assert "store_name" in reasons[0][1]
    assert reasons[1][0] == "schema" and reasons[1][1].startswith("before repair: ")
    assert reasons[2][0] == "schema" and "store_phone2" in reasons[2][1]
    assert not reasons[2][1].startswith("before repair")


def test_delete_is_a_safety_reject_and_never_executed(env):
    pairs = good_pairs(env, 1)
    deletes = ("Remove cancelled orders.", "DELETE FROM orders WHERE status = 'cancelled'")
    client = StubClient(lambda r, i: samples_json([deletes, (pairs[0].question, pairs[0].sql)]))
    env.executor.ran.clear()
    items = list(generator(env, client, repair=False, max_rounds=1).candidates(TOPIC))
    cands, rejects = split(items)
    assert [c.sql for c in cands] == [pairs[0].sql]
    assert [(r.layer, r.sql) for r in rejects] == [("safety", deletes[1])]
    assert env.executor.ran == [pairs[0].sql]  # the good one ran; the DELETE never did


def test_failures_and_empty_items_are_visible_rejects(env):
    replies = [
        LLMFailure("timeout", "no answer within 60 s", 5),
        json.dumps({"samples": [{"question": "Only a question"}, "junk"]}),
        "I cannot help with that.",
    ]
    client = StubClient(lambda r, i: replies[i % 3])
    gen = generator(env, client, batch_size=2, max_rounds=1)
    items = list(gen.candidates(Topic("sales", TOPIC.tables, "t", 6, "sqlite")))
    cands, rejects = split(items)
    assert cands == []
    assert [r.layer for r in rejects] == ["llm"] * 4
    assert rejects[0].reason == "timeout: no answer within 60 s"
    assert rejects[1].reason == "unusable sample: item 1: no sql"
    assert rejects[2].reason == "unusable sample: item 2: not an object (str)"
    assert rejects[3].reason.startswith("unparsable reply: no JSON")
    assert all(r.generator == "llm:stub:question-first" for r in rejects)


def test_rounds_ask_for_what_is_missing_scaled_by_the_yield_and_stop_at_max_rounds(env):
    pairs = good_pairs(env, 12)
    it = iter(pairs)

    def script(r: ChatRequest, i: int) -> str:
        return samples_json([(c.question, c.sql) for c in itertools.islice(it, 2)])

    client = StubClient(script)
    topic = Topic("sales", TOPIC.tables, "t", 5, "sqlite")
    items = list(generator(env, client, batch_size=8, max_rounds=3).candidates(topic))
    texts = [user_text(r) for r in client.requests]
    # Round 1 asks for 5 and gets 2 (40%); round 2 asks for the 3 missing scaled by that
    # rate (8), listing the questions it has; round 3: 1 missing at 4 of 13 -> 4.
    assert client.batches == [1, 1, 1]
    assert "Write 5 new" in texts[0] and "Write 8 new" in texts[1] and "Write 4 new" in texts[2]
    assert pairs[0].question in texts[1] and pairs[1].question in texts[1]
    assert [c.sql for c in items] == [c.sql for c in pairs[:6]]
    # No two requests are the same text (the cache would merge them).
    assert len(set(texts)) == len(texts)


def test_budget_refusal_ends_the_stream(env):
    client = StubClient(lambda r, i: LLMFailure("budget", "request budget of 0 spent", 0))
    items = list(generator(env, client, batch_size=2, max_rounds=3).candidates(TOPIC))
    assert client.batches == [2]
    assert [r.reason for r in items] == ["budget: request budget of 0 spent"] * 2


# ---------------------------------------------------------------- sql-first and paraphrase


def test_sql_first_question_must_state_every_literal(env):
    synth = Synthesizer(env.meta, dialect=env.meta.dialect, seed=3)
    seeds = list(itertools.islice(synth.candidates(TOPIC), 6))

    def script(r: ChatRequest, i: int) -> str:
        assert r.purpose == "generate:sql-first" and seeds[i].sql in user_text(r)
        text = seeds[i].question if i % 2 == 0 else "Show me the numbers."
        return f"Here it is: {json.dumps({'question': text})}"

    client = StubClient(script)
    gen = generator(
        env, client, modes={"sql-first": 1.0},
        synth=Synthesizer(env.meta, dialect=env.meta.dialect, seed=3), max_rounds=1,
    )  # fmt: skip
    items = list(gen.candidates(Topic("sales", TOPIC.tables, "t", 6, "sqlite")))
    assert client.batches == [6]  # one question per SQL, all in one batch
    for i, (item, seed) in enumerate(zip(items, seeds, strict=True)):
        lits = features.literals(seed.sql, "sqlite")
        if i % 2 == 0 or not lits:
            assert isinstance(item, Candidate) and item.sql == seed.sql
            assert (item.tables, item.difficulty, item.features) == (
                seed.tables, seed.difficulty, seed.features,
            )  # fmt: skip
            assert item.generator == "llm:stub:sql-first"
        else:
            assert isinstance(item, Rejected) and item.layer == "llm"
            assert item.reason == f"question omits literal '{lits[0]}'"
            assert item.sql == seed.sql


def test_paraphrases_keep_literals(env):
    def first_seed(seed: int) -> Candidate:
        return next(Synthesizer(env.meta, dialect=env.meta.dialect, seed=seed).candidates(TOPIC))

    # A synthesizer seed whose first candidate filters on a string value.
    seed_no = next(
        s for s in range(50)
        if any(not x.isdigit() for x in features.literals(first_seed(s).sql, "sqlite"))
    )  # fmt: skip
    seed = first_seed(seed_no)
    lit = next(x for x in features.literals(seed.sql, "sqlite") if not x.isdigit())

    def script(r: ChatRequest, i: int) -> str:
        assert r.purpose == "generate:paraphrase" and seed.question in user_text(r)
        rewrites = [f"Formally: {seed.question}", seed.question.replace(lit, "X"), seed.question]
        return json.dumps({"paraphrases": rewrites}, ensure_ascii=False)

    client = StubClient(script)
    synth = Synthesizer(env.meta, dialect=env.meta.dialect, seed=seed_no)
    gen = generator(env, client, modes={"paraphrase": 1.0}, synth=synth, max_rounds=1)
    items = list(gen.candidates(Topic("sales", TOPIC.tables, "t", 3, "sqlite")))
    assert len(client.requests) == 1
    assert len(items) == 3
    assert isinstance(items[0], Candidate) and items[0].sql == seed.sql
    assert items[0].question == f"Formally: {seed.question}"
    assert items[0].generator == "llm:stub:paraphrase" and items[0].features == seed.features
    assert isinstance(items[1], Rejected) and items[1].reason == f"question omits literal '{lit}'"
    assert isinstance(items[2], Rejected) and items[2].reason == "the paraphrase repeats a question"


def test_modes_mix_deterministically(env):
    pairs = good_pairs(env, 8)

    def script(r: ChatRequest, i: int) -> str:
        if r.purpose == "generate:question-first":
            return samples_json([(c.question, c.sql) for c in pairs[:2]])
        if r.purpose == "generate:sql-first":
            sql = re.search(r"## SQL\n(.*?)\n", user_text(r), re.S)
            return json.dumps({"question": f"about {sql.group(1) if sql else ''}"})
        return json.dumps({"paraphrases": ["a", "b", "c"]})

    def run(seed: int) -> tuple[list[str], list[Any]]:
        client = StubClient(script)
        gen = generator(
            env, client, seed=seed, batch_size=2,
            modes={"question-first": 1, "sql-first": 1, "paraphrase": 1},
            synth=Synthesizer(env.meta, dialect=env.meta.dialect, seed=seed), max_rounds=2,
        )  # fmt: skip
        items = list(gen.candidates(Topic("sales", TOPIC.tables, "t", 12, "sqlite")))
        return [r.purpose for r in client.requests], items

    purposes, items = run(7)
    assert {"generate:question-first", "generate:sql-first", "generate:paraphrase"} <= set(purposes)
    assert run(7) == (purposes, items)
    assert run(8)[0] != purposes


def test_same_replies_same_stream(env):
    pairs = good_pairs(env, 10)
    bad = ("Stores?", "SELECT nme FROM stores")

    def script(r: ChatRequest, i: int) -> str | LLMFailure:
        if r.purpose == "repair":
            return json.dumps({"question": "Store names?", "sql": "SELECT store_name FROM stores"})
        if i == 1:
            return LLMFailure("server", "HTTP 500", 5)
        return samples_json([(c.question, c.sql) for c in pairs[2 * i : 2 * i + 2]] + [bad])

    def run() -> tuple[list[Any], list[Any]]:
        client = StubClient(script)
        items = list(generator(env, client, batch_size=3).candidates(TOPIC))
        return items, [(r.purpose, r.messages) for r in client.requests]

    first = run()
    assert first == run()
    assert any(isinstance(i, Candidate) for i in first[0])
    assert any(isinstance(i, Rejected) for i in first[0])


def test_bad_configuration_is_a_config_error(env):
    client = StubClient(lambda r, i: "")
    with pytest.raises(ConfigError, match="need the offline synthesizer"):
        generator(env, client, modes={"sql-first": 1.0})
    with pytest.raises(ConfigError, match="bad generation modes"):
        generator(env, client, modes={"sideways": 1.0})


# ---------------------------------------------------------------- the feature tagger

TAG_CASES = [
    ("SELECT store_name FROM stores WHERE city = 'x'", "easy", {"projection", "filter"}),
    ("SELECT COUNT(DISTINCT city) FROM stores", "easy", {"count", "distinct"}),
    ("SELECT store_name, city FROM stores ORDER BY store_name LIMIT 5", "easy",
     {"projection", "order_by", "limit"}),
    ("SELECT city, COUNT(*) FROM stores GROUP BY city HAVING COUNT(*) > 2", "medium",
     {"group_by", "aggregate", "count", "having"}),
    ("SELECT AVG(total_amount) FROM orders WHERE order_date BETWEEN '2024-01-01' AND '2024-02-01'",
     "medium", {"aggregate", "filter", "between"}),
    ("SELECT full_name FROM customers WHERE email IS NULL OR full_name LIKE '%王%'", "medium",
     {"projection", "filter", "is_null", "like"}),
    ("SELECT o.order_no, s.store_name FROM orders o JOIN stores s ON o.store_id = s.store_id",
     "medium", {"projection", "join"}),
    ("SELECT o.order_no FROM orders o JOIN stores s ON o.store_id = s.store_id "
     "JOIN regions r ON s.region_id = r.region_id", "hard", {"projection", "join", "multi_join"}),
    ("SELECT store_name FROM stores WHERE store_id IN (SELECT store_id FROM orders)", "hard",
     {"projection", "filter", "subquery_in"}),
    ("SELECT COUNT(*) FROM stores s WHERE EXISTS (SELECT 1 FROM orders o WHERE o.store_id = s.store_id)",
     "hard", {"count", "filter", "exists"}),
    ("SELECT store_name FROM stores WHERE opened_on > (SELECT MIN(opened_on) FROM stores)", "hard",
     {"projection", "filter", "aggregate", "scalar_subquery"}),
    ("SELECT city FROM stores UNION SELECT city FROM customers", "hard",
     {"projection", "set_operation"}),
    ("SELECT store_name, CASE WHEN city = 'x' THEN 1 ELSE 0 END FROM stores", "hard",
     {"projection", "case"}),
    ("SELECT store_name, RANK() OVER (PARTITION BY city ORDER BY opened_on) FROM stores", "hard",
     {"projection", "window"}),
    ("SELECT STRFTIME('%Y-%m', order_date) AS m, SUM(total_amount) FROM orders GROUP BY m", "hard",
     {"date_bucket", "group_by", "aggregate"}),
    ("WITH c AS (SELECT city FROM stores) SELECT city FROM c", "hard", {"projection"}),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "difficulty", "expected"), TAG_CASES)
def test_feature_tagger(sql, difficulty, expected):
    tags = features.tag(sql, "sqlite")
    assert tags.difficulty == difficulty
    assert set(tags.features) == expected
    assert list(tags.features) == sorted(tags.features)


def test_tagger_tables_use_metadata_names_and_skip_ctes(env):
    tags = features.tag(
        "WITH c AS (SELECT * FROM Orders) SELECT * FROM c JOIN STORES s ON c.store_id = s.store_id",
        "sqlite", env.meta,
    )  # fmt: skip
    assert tags.tables == ("orders", "stores")
    assert features.tag("SELEC nonsense (", "sqlite").parsed is False


def test_tagger_agrees_with_the_synthesizer(env):
    """On the synthesizer's own candidates the tagger finds the same tables and difficulty,
    and every feature the synthesizer tagged (it may see more: a correlated EXISTS has a WHERE)."""
    synth = Synthesizer(env.meta, dialect=env.meta.dialect, seed=11)
    cands: list[Candidate] = []
    for t in env.meta.tables:
        if t.kind == "table":
            names = [t.name] + [fk.ref_table for fk in t.foreign_keys if fk.ref_table != t.name]
            topic = Topic(t.name, tuple(names[:4]), "t", 5, "sqlite")
            cands += itertools.islice(synth.candidates(topic), 40)
    assert len(cands) > 400
    assert {c.difficulty for c in cands} == set(DIFFICULTIES)
    for c in cands:
        tags = features.tag(c.sql, "sqlite", env.meta)
        assert tags.difficulty == c.difficulty, c.sql
        assert set(tags.features) >= set(c.features), c.sql
        assert set(tags.tables) == set(c.tables), c.sql


def test_literals():
    sql = "SELECT STRFTIME('%Y-%m', d), name FROM t WHERE city = 'Paris' AND n LIKE '%an%' AND x > 2.50 LIMIT 5"
    assert sorted(features.literals(sql, "sqlite")) == sorted(["Paris", "an", "2.50", "5"])
    assert features.missing_literal("Top 5 in Paris with an x above 2.50", sql, "sqlite") is None
    assert features.missing_literal("Top 5 in Paris with an x above 2.5", sql, "sqlite") == "2.50"


# ---------------------------------------------------------------- through the real client


def test_real_client_against_the_fake_server_repeats_from_cache(env, tmp_path):
    pytest.importorskip("openai")
    from fake_llm import FakeLLM, Reply, prose_wrapped, server_error

    from data_create.llm.client import LLMClient, LLMSettings

    pairs = good_pairs(env, 6)
    bad = ("Which stores are in 上海?", "SELECT store_nam FROM stores WHERE city = '上海'")
    seen: set[str] = set()

    def script(body: dict[str, Any], index: int) -> Reply:
        text = body["messages"][-1]["content"]
        if "VALIDATION ERROR" in text:
            fixed = {"question": bad[0], "sql": bad[1].replace("store_nam", "store_name")}
            return Reply(content=json.dumps(fixed, ensure_ascii=False))
        place = re.search(r"\(request (\d+)\.(\d+)\)$", text)
        assert place, text[-80:]
        key = place.group(0)
        if key == "(request 1.2)" and key not in seen:
            seen.add(key)
            return server_error()  # retried by the client: the generator never sees it
        n = int(place.group(2)) - 1
        chunk = [(c.question, c.sql) for c in pairs[3 * n : 3 * n + 3]]
        if n == 0:
            return Reply(content=samples_json([*chunk[:2], bad]))
        return prose_wrapped({"samples": [{"question": q, "sql": s} for q, s in chunk]})

    topic = Topic("sales", TOPIC.tables, "t", 6, "sqlite")

    def run(llm: FakeLLM) -> tuple[list[Any], dict[str, Any]]:
        settings = LLMSettings(
            model="fake-model", base_url=llm.base_url, api_key="k", timeout_s=5,
            backoff_base_s=0.01, backoff_max_s=0.05, concurrency=4, cache_dir=tmp_path / "cache",
        )  # fmt: skip
        client = LLMClient(settings)
        try:
            gen = generator(env, client, batch_size=3)
            items = list(itertools.islice(gen.candidates(topic), 7))
            return items, client.accounting()
        finally:
            client.close()

    with FakeLLM(script) as llm:
        items, acct = run(llm)
        sent = llm.request_count
        again, acct2 = run(llm)
        assert llm.request_count == sent  # the re-run was served from the cache
    cands, rejects = split(items)
    assert [c.sql for c in cands] == [c.sql for c in pairs[:2] + pairs[3:6]] + [
        bad[1].replace("store_nam", "store_name")
    ]
    assert all(c.generator == "llm:fake-model:question-first" for c in cands)
    assert [(r.layer, r.reason.split(":")[0]) for r in rejects] == [("schema", "before repair")]
    assert sent == 4  # two generation requests, one retry, one repair
    assert acct["requests"] == 4
    assert again == items
    assert acct2["requests"] == 0 and acct2["cache_hits"] == 3


def test_a_caller_that_pulls_past_the_count_gets_full_requests(env):
    pairs = good_pairs(env, 20)
    it = iter(pairs)
    client = StubClient(
        lambda r, i: samples_json([(c.question, c.sql) for c in itertools.islice(it, 4)])
    )
    topic = Topic("sales", TOPIC.tables, "t", 4, "sqlite")
    items = list(itertools.islice(generator(env, client, batch_size=6).candidates(topic), 6))
    assert len(items) == 6 and client.batches == [1, 1]
    # All 4 came in round 1; the caller still pulls (it rejected some): a full batch.
    assert "Write 4 new" in user_text(client.requests[0])
    assert "Write 6 new" in user_text(client.requests[1])
