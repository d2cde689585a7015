"""Live predictions: ask an OpenAI-compatible endpoint for each gold question's SQL."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence

from data_create import prompt
from data_create.errors import ConfigError
from nl2sql_fine_tuning.eval_data import GoldItem, Prediction

log = logging.getLogger("nl2sql_fine_tuning.eval")


def retrieved_schema(
    index_dir: str | os.PathLike[str], k: int = 5, budget_tokens: int = 2000
) -> Callable[[str], str | None]:
    """Question -> the schema block :mod:`data_create.retrieve` returns from a saved index
    (a run's ``retrieval_index``): what ``--schema-context retrieved`` trained on."""
    from data_create.retrieve import Retriever

    retriever = Retriever.load(index_dir)
    return lambda q: retriever.retrieve(q, k, budget_tokens=budget_tokens).cards_text or None


def generate(
    items: Sequence[GoldItem],
    *,
    base_url: str,
    model: str,
    dialect: str,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    max_tokens: int = 512,
    schema_context: Callable[[str], str | None] | None = None,
) -> list[Prediction]:
    """Ask an OpenAI-compatible endpoint for each item's SQL (temperature 0, at most
    ``concurrency`` requests in flight, no response cache); a failed request is an empty
    prediction, and an endpoint nobody answers at is a :class:`ConfigError`.

    ``schema_context`` (question -> schema block), e.g. :func:`retrieved_schema`, puts a
    schema block in prompts built here, as training with a schema context did."""
    from data_create.llm.client import ChatRequest, LLMClient, LLMFailure, settings_from

    settings = settings_from(
        env=os.environ, model=model, base_url=base_url, timeout_s=timeout_s, max_retries=2,
        temperature=0.0, top_p=1.0, max_tokens=max_tokens, concurrency=max(1, concurrency),
        cache_dir=None,
    )  # fmt: skip

    def messages(item: GoldItem) -> list[dict[str, str]]:
        if schema_context is not None:
            # Retrieved live, as serving will: a dev record's own prompt was built with its
            # gold tables forced in, which a served model never gets.
            return prompt.messages(item.question, dialect, schema_context(item.question))
        if item.messages is not None:  # the exact training prompt of a data_create run
            return [{"role": r, "content": c} for r, c in item.messages if c]
        return prompt.messages(item.question, dialect)

    requests = [
        ChatRequest(messages=messages(item), purpose="eval", temperature=0.0, max_tokens=max_tokens)
        for item in items
    ]
    with LLMClient(settings) as client:
        client.preflight()  # a server that is down: one line now, not after every retry
        replies = client.run_many(requests)
    if replies and all(isinstance(r, LLMFailure) and r.kind == "connection" for r in replies):
        raise ConfigError(
            f"cannot reach the model endpoint {base_url} ({replies[0].message})",
            "start the server (vllm serve / llamafactory-cli api) or fix --base-url",
        )
    out = []
    failed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item, reply in zip(items, replies, strict=True):
        if isinstance(reply, LLMFailure):
            failed[reply.kind, reply.message].append(item.id)
            out.append(Prediction(text="", id=item.id))
        else:
            out.append(Prediction(text=reply.text, id=item.id))
    for (kind, message), ids in failed.items():  # one line per distinct failure, not per item
        more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        log.warning(
            "generation failed for %d item(s) (%s%s): %s: %s",
            len(ids), ", ".join(ids[:3]), more, kind, message,
        )  # fmt: skip
    return out


__all__ = ["generate", "retrieved_schema"]
