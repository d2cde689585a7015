"""Export validated samples as LLaMA-Factory datasets, split train/dev by SQL skeleton.

``export(samples, out_dir, metadata=...)`` writes into ``out_dir``::

    train_alpaca.jsonl    dev_alpaca.jsonl      {"instruction", "input", "output", "system"}
    train_sharegpt.jsonl  dev_sharegpt.jsonl    {"conversations": [{"from", "value"}...], "system"}
    dataset_info.json     nl2sql_train, nl2sql_dev, nl2sql_train_sharegpt, nl2sql_dev_sharegpt
    split.json            which sample ids went to train and to dev

so ``dataset_dir: out_dir`` plus ``dataset: nl2sql_train`` works in a LLaMA-Factory
config without copying anything.  The registrations follow LLaMA-Factory 0.9.x
(``data/parser.py`` DatasetAttr: ``columns`` and ``tags``; ``data/converter.py``: the
alpaca user turn is ``prompt + "\\n" + query`` when the query is non-empty).  Prompts
come from :mod:`data_create.prompt`, so the trained user turn equals what serving sends.

The split keeps every sample sharing a SQL skeleton (the query with literals and
names abstracted, :func:`data_create.dedupe.skeleton`) on one side: a dev set that
only re-asks train queries with other constants would measure memorisation.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import cards, hygiene, prompt, rundir
from .errors import ConfigError
from .records import Sample, SchemaMetadata

SCHEMA_CONTEXTS = ("none", "cards", "retrieved")

DATASET_INFO = "dataset_info.json"

_ALPACA_COLUMNS = {
    "prompt": "instruction",
    "query": "input",
    "response": "output",
    "system": "system",
}
_SHAREGPT_COLUMNS = {"messages": "conversations", "system": "system"}
_SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
}


@dataclass(frozen=True)
class ExportSummary:
    out_dir: str
    train: int  # samples
    dev: int
    train_skeletons: int
    dev_skeletons: int
    schema_context: str
    files: dict[str, str]  # role ("train_alpaca", "dataset_info"...) -> path
    datasets: tuple[str, ...]  # names registered in dataset_info.json
    # (sample id, reason) for samples kept out of the training files by the hygiene
    # check (control tokens, prompt-injection markers, unstorable text).
    dropped: tuple[tuple[str, str], ...] = ()
    # Estimated tokens of each prompt (system + user turn): n, mean, min, p50, p90, max.
    prompt_tokens: dict[str, float] = field(default_factory=dict)
    # Samples whose schema block holds every table their SQL reads (None: no schema block).
    tables_covered: int | None = None

    @property
    def distinct_skeletons(self) -> int:
        return self.train_skeletons + self.dev_skeletons

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["datasets"] = list(self.datasets)
        d["dropped"] = [list(pair) for pair in self.dropped]
        d["distinct_skeletons"] = self.distinct_skeletons
        return d


def dataset_info_entries(
    files: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The four ``dataset_info.json`` registrations, keyed by dataset name."""
    files = files or {}
    entries: dict[str, dict[str, Any]] = {}
    for split in ("train", "dev"):
        entries[f"nl2sql_{split}"] = {
            "file_name": files.get(f"{split}_alpaca", f"{split}_alpaca.jsonl"),
            "columns": dict(_ALPACA_COLUMNS),
        }
    for split in ("train", "dev"):
        entries[f"nl2sql_{split}_sharegpt"] = {
            "file_name": files.get(f"{split}_sharegpt", f"{split}_sharegpt.jsonl"),
            "formatting": "sharegpt",
            "columns": dict(_SHAREGPT_COLUMNS),
            "tags": dict(_SHAREGPT_TAGS),
        }
    return entries


def split_by_skeleton(
    skeletons: Sequence[str], dev_ratio: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Indices for (train, dev), every skeleton wholly on one side.

    Skeleton groups are taken in an order fixed by ``sha256(seed, skeleton)`` (not
    ``hash()``, which changes with PYTHONHASHSEED) and put in dev while they fit under
    ``round(len * dev_ratio)``; one more group may close the remaining gap.  So the
    split is deterministic, and the dev share is as close to the ratio as whole groups
    allow (a skeleton more frequent than the whole dev target stays in train).
    """
    if not 0 <= dev_ratio < 1:
        raise ConfigError(f"dev ratio {dev_ratio} is out of range", "use a value in [0, 1)")
    groups: dict[str, list[int]] = {}
    for i, sk in enumerate(skeletons):
        groups.setdefault(sk, []).append(i)
    target = round(len(skeletons) * dev_ratio)

    def rank(sk: str) -> str:
        return hashlib.sha256(f"{seed}\x00{sk}".encode()).hexdigest()

    order = sorted(groups, key=rank)
    dev_groups: set[str] = set()
    size = 0
    for sk in order:  # whole groups that fit
        if size + len(groups[sk]) <= target:
            dev_groups.add(sk)
            size += len(groups[sk])
    gap = target - size
    # Then, if some gap remains, the smallest group that overshoots by less than the gap.
    over = [sk for sk in order if sk not in dev_groups and len(groups[sk]) < 2 * gap]
    if over:
        dev_groups.add(min(over, key=lambda sk: len(groups[sk])))
    train = [i for i, sk in enumerate(skeletons) if sk not in dev_groups]
    dev = [i for i, sk in enumerate(skeletons) if sk in dev_groups]
    return train, dev


def _skeleton(sql: str, dialect: str) -> str:
    from .dedupe import skeleton  # written alongside; imported late so this module loads alone

    return skeleton(sql, dialect)


def _merge_dataset_info(path: Path, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"cannot read the existing {path}: {exc}",
                "fix or remove it; export merges its entries with the new ones",
            ) from None
        if not isinstance(info, dict):
            raise ConfigError(
                f"the existing {path} is not a JSON object",
                "fix or remove it; export merges its entries with the new ones",
            )
    info.update(entries)
    return info


def export(
    samples: Sequence[Sample],
    out_dir: str | os.PathLike[str],
    *,
    metadata: SchemaMetadata,
    dev_ratio: float = 0.1,
    seed: int = 0,
    schema_context: str = "none",
    card_tokens: int = cards.DEFAULT_CARD_BUDGET,
    retrieval_k: int = 5,
    retrieval_tokens: int = 2000,
    retriever: Any = None,
    split_indices: tuple[Sequence[int], Sequence[int]] | None = None,
    repeat: Sequence[int] | None = None,
) -> ExportSummary:
    """Write the train/dev datasets and register them in ``out_dir/dataset_info.json``.

    With ``schema_context="cards"`` each user turn carries the cards of the sample's
    tables (at most ``card_tokens`` tokens each) before the question.  With
    ``"retrieved"`` it carries what :mod:`data_create.retrieve` returns for the question
    (``retrieval_k`` tables within ``retrieval_tokens``), the tables and columns the SQL
    reads always included, the rest real retrieval hits -- the block a served model
    sees.  The index is ``retriever`` or the one in ``out_dir/retrieval_index``
    (rebuilt only when the schema changes).  Existing entries in
    ``dataset_info.json`` are kept; ours are replaced.
    """
    if schema_context not in SCHEMA_CONTEXTS:
        raise ConfigError(
            f"unknown schema context {schema_context!r}", f"use one of {', '.join(SCHEMA_CONTEXTS)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # The last gate before the training files: the pipeline rejects such samples
    # already, but samples may come from elsewhere (an edited samples.jsonl).
    dropped: list[tuple[str, str]] = []
    clean: list[Sample] = []
    for sample in samples:
        problem = hygiene.sample_problem(sample.question, sample.sql)
        if problem:
            dropped.append((sample.id, problem))
        else:
            clean.append(sample)
    samples = clean

    skeletons = [_skeleton(prompt.sql_target(s.sql), s.dialect) for s in samples]
    if split_indices is None:
        train_idx, dev_idx = split_by_skeleton(skeletons, dev_ratio, seed)
    else:
        train_idx, dev_idx = list(split_indices[0]), list(split_indices[1])

    context_cache: dict[tuple[str, ...], tuple[str | None, set[str]]] = {}
    covered = 0
    if schema_context == "retrieved" and retriever is None:
        from .retrieve import Retriever

        retriever = Retriever.open(metadata, out / "retrieval_index", card_tokens=card_tokens)

    def context_of(sample: Sample) -> str | None:
        nonlocal covered
        if schema_context == "none":
            return None
        if schema_context == "retrieved":
            from .retrieve import gold_references

            tables, columns = gold_references(sample.sql, metadata, sample.dialect)
            hit = retriever.retrieve(
                sample.question,
                retrieval_k,
                budget_tokens=retrieval_tokens,
                required_tables=tuple(dict.fromkeys((*tables, *sample.tables))),
                required_columns=columns,
            )
            covered += set(tables) <= set(hit.tables)
            return hit.cards_text or None
        if sample.tables not in context_cache:
            built = cards.build(metadata, budget_tokens=card_tokens, tables=sample.tables)
            text = "\n\n".join(c.text for c in built) or None
            context_cache[sample.tables] = (text, {c.table for c in built})
        text, names = context_cache[sample.tables]
        from .retrieve import gold_references

        covered += set(gold_references(sample.sql, metadata, sample.dialect)[0]) <= names
        return text

    files = {
        f"{split}_{fmt}": str(out / f"{split}_{fmt}.jsonl")
        for split in ("train", "dev")
        for fmt in ("alpaca", "sharegpt")
    }
    lengths: list[int] = []
    for split, indices in (("train", train_idx), ("dev", dev_idx)):
        alpaca, sharegpt = [], []
        for i in indices:
            s = samples[i]
            args = (s.question, s.sql, s.dialect, context_of(s), s.language)
            record = prompt.alpaca_record(*args)
            lengths.append(cards.estimate_tokens(record["system"] + record["instruction"]))
            times = repeat[i] if repeat is not None and split == "train" else 1
            alpaca += [record] * times
            sharegpt += [prompt.sharegpt_record(*args)] * times
        rundir.write_jsonl(Path(files[f"{split}_alpaca"]), alpaca)
        rundir.write_jsonl(Path(files[f"{split}_sharegpt"]), sharegpt)

    rundir.write_json(
        out / "split.json",
        {
            "seed": seed,
            "dev_ratio": dev_ratio,
            "schema_context": schema_context,
            "train": [samples[i].id for i in train_idx],
            "dev": [samples[i].id for i in dev_idx],
        },
        indent=2,
    )
    files["split"] = str(out / "split.json")

    # file_name is relative to dataset_dir, which is out_dir itself.
    entries = dataset_info_entries({k: Path(v).name for k, v in files.items()})
    info_path = out / DATASET_INFO
    rundir.write_json(info_path, _merge_dataset_info(info_path, entries), indent=2)
    files["dataset_info"] = str(info_path)

    return ExportSummary(
        out_dir=str(out),
        train=len(train_idx),
        dev=len(dev_idx),
        train_skeletons=len({skeletons[i] for i in train_idx}),
        dev_skeletons=len({skeletons[i] for i in dev_idx}),
        schema_context=schema_context,
        files=files,
        datasets=tuple(entries),
        dropped=tuple(dropped),
        prompt_tokens=length_stats(lengths),
        tables_covered=None if schema_context == "none" else covered,
    )


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """n, mean, min, p50, p90, max of prompt lengths (tokens).

    >>> length_stats([10, 20, 30, 40])
    {'n': 4, 'mean': 25.0, 'min': 10, 'p50': 20, 'p90': 40, 'max': 40}
    """
    if not lengths:
        return {"n": 0}
    s = sorted(lengths)

    def pct(q: float) -> int:
        return s[min(len(s) - 1, max(0, -(-len(s) * q // 100) - 1))]

    return {
        "n": len(s),
        "mean": round(sum(s) / len(s), 1),
        "min": s[0],
        "p50": pct(50),
        "p90": pct(90),
        "max": s[-1],
    }
