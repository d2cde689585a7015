"""bench/bench_model_quality.py's pieces, without the big model: prompts in LLaMA-Factory's
smollm2 format, batched left-padded generation (tiny local Qwen3), scoring through the
project's evaluator with every acceptable gold query."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import IN_CI, load_bench

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def bench(defog):
    return load_bench("bench_model_quality")


def _need(*modules: str) -> None:
    for m in modules:
        if importlib.util.find_spec(m) is None:
            if IN_CI:
                pytest.fail(f"{m} is not installed; CI installs the training extra", pytrace=False)
            pytest.skip(f"{m} is not installed (training extra)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    _need("torch", "transformers", "tokenizers")
    from nl2sql_fine_tuning import tiny_model

    return tiny_model.build(tmp_path_factory.mktemp("tiny")).path


def test_score_accepts_any_gold_alternative(bench, defog, defog_db):
    dsn = defog_db("broker")
    humans, _ = defog.keep_executable(defog.read_questions(["broker"]), dsn)
    many = next(h for h in humans if len(h.gold) > 1)
    single = next(h for h in humans if len(h.gold) == 1)
    questions = bench.build_questions([many, single, single])
    answers = [
        f"Here it is:\n```sql\n{many.gold[-1]}\n```",  # the last acceptable form
        "I cannot answer that.",
        single.gold[0],
    ]
    s = bench.score(questions, answers, dsn)
    assert s.correct == [True, False, True]
    assert s.sql_answers == 2 and s.accuracy == round(2 / 3, 4)
    assert sum(v[1] for v in s.per_shape.values()) == 3
    assert s.samples[1]["verdict"] and not s.samples[1]["correct"]


def test_questions_with_cards_show_the_gold_tables(bench, defog, defog_db):
    from data_create import metadata
    from data_create.connect import connect

    dsn = defog_db("broker")
    md = metadata.extract(connect(dsn))
    human = next(h for h in defog.read_questions(["broker"]) if "JOIN" in h.gold[0].upper())
    (q,) = bench.build_questions([human], md, "cards")
    user = q.messages[1]["content"]
    assert user.startswith("### Database schema") and user.endswith(human.question)
    for table in bench.gold_tables(human.gold[0]):
        assert f"TABLE {table}" in user


@pytest.mark.slow
def test_batched_generation_matches_one_at_a_time(bench, tiny):
    from data_create import prompt

    model, tok = bench.load_model(tiny)
    prompts = [
        bench.chat_text(prompt.messages(q, "postgres"))
        for q in ("How many customers?", "List every ticker symbol traded on the exchange", "x")
    ]
    batched = bench.generate(model, tok, prompts, batch=3, max_new_tokens=8)
    single = [bench.generate(model, tok, [p], batch=1, max_new_tokens=8)[0] for p in prompts]
    assert batched == single


@pytest.mark.slow
def test_prompt_is_llamafactory_smollm2(bench, tiny):
    _need("llamafactory")
    from llamafactory.data.template import TEMPLATES
    from transformers import AutoTokenizer

    from data_create import prompt

    tok = AutoTokenizer.from_pretrained(tiny)
    messages = prompt.messages("How many customers?", "postgres", "TABLE t (x integer)")
    ids, _ = TEMPLATES[bench.TEMPLATE].encode_oneturn(
        tok,
        [{"role": "user", "content": messages[1]["content"]},
         {"role": "assistant", "content": "SELECT 1"}],
        messages[0]["content"],
    )  # fmt: skip
    assert tok(bench.chat_text(messages), add_special_tokens=False)["input_ids"] == ids
