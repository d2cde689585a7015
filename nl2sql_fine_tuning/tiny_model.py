"""A tiny random Qwen3 model and tokenizer, built locally: the training smoke's base model.

No download: the architecture is ``Qwen3ForCausalLM`` from transformers with toy sizes
(hidden 64, 2 layers, 4 heads, 2 KV heads, ``head_dim`` 16, tied embeddings; ~0.2 M
parameters), and the tokenizer is a byte-level BPE trained on the very text it will
see (the prompt builder's system prompts and headers plus a data_create run's
questions and SQL), wrapped with Qwen's special tokens and a ChatML chat template, so
LLaMA-Factory's ``template: qwen3_nothink`` works on it unchanged.

    python -m nl2sql_fine_tuning.tiny_model --out runs/tiny-qwen3 --data runs/x

Everything is seeded: the same inputs give the same tokenizer and weights.  Needs the
training extra (torch, transformers, tokenizers); importing this module does not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from data_create import prompt

# Qwen's special tokens.  <|endoftext|> pads, <|im_end|> ends a turn (and generation).
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = (
    PAD_TOKEN,
    "<|im_start|>",
    EOS_TOKEN,
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)

# ChatML, as Qwen's own template renders plain system/user/assistant turns.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

MODEL_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,  # explicit: Qwen3Config's default is 128 whatever the hidden size
    "max_position_embeddings": 2048,
}

DEFAULT_VOCAB_SIZE = 2048


@dataclass(frozen=True)
class TinyModel:
    path: str
    vocab_size: int
    parameters: int
    seconds: float


def corpus(data_dir: str | os.PathLike[str] | None = None) -> Iterator[str]:
    """The tokenizer's training text: every prompt fragment, then the run's records."""
    for language in ("en", "zh"):
        for dialect in prompt.DIALECT_NAMES:
            yield prompt.system_prompt(dialect, language)
            yield prompt.user_prompt("?", dialect, "TABLE t (x integer)", language)
    if data_dir is None:
        return
    for name in ("train_alpaca.jsonl", "dev_alpaca.jsonl"):
        path = Path(data_dir) / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                yield from (record.get(k) or "" for k in ("system", "instruction", "output"))


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with Qwen's special tokens and ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing is <unk>
        show_progress=False,
    )
    bpe.train_from_iterator(list(texts), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (EOS_TOKEN, PAD_TOKEN)],
        model_max_length=MODEL_SIZES["max_position_embeddings"],
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build(
    out_dir: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    seed: int = 0,
) -> TinyModel:
    """Build and ``save_pretrained`` the tiny model and its tokenizer into ``out_dir``."""
    started = time.perf_counter()
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    tokenizer = train_tokenizer(corpus(data_dir), vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        **MODEL_SIZES,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, do_sample=False
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return TinyModel(
        path=str(out),
        vocab_size=len(tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.tiny_model",
        description="Build a tiny random Qwen3 model + tokenizer locally (no download), "
        "for smoke-testing the LLaMA-Factory chain on CPU.",
    )
    parser.add_argument("--out", required=True, help="directory to save the model into")
    parser.add_argument(
        "--data",
        help="a data_create run directory; its questions and SQL train the tokenizer "
        "(default: only the prompt builder's own text)",
    )
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=DEFAULT_VOCAB_SIZE,
        help=f"BPE vocabulary size, special tokens included (default {DEFAULT_VOCAB_SIZE})",
    )
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    args = parser.parse_args(argv)
    try:
        tiny = build(args.out, data_dir=args.data, vocab_size=args.vocab_size, seed=args.seed)
    except ImportError as exc:
        print(
            f"error: {exc}; install the training extra "
            "(bash nl2sql_fine_tuning/install_train_cpu.sh on CPU)",
            file=sys.stderr,
        )
        return 2
    print(
        f"wrote {tiny.path}: Qwen3ForCausalLM, {tiny.parameters:,} parameters, "
        f"vocab {tiny.vocab_size}, {tiny.seconds:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
