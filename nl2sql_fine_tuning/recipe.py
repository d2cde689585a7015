"""Point a LLaMA-Factory recipe at a data_create run, after checking the run can be trained on.

::

    python -m nl2sql_fine_tuning.recipe --data runs/x --base configs/qwen3_lora.yaml \\
        --out my.yaml --model /models/Qwen3-4B num_train_epochs=2 lora_rank=16

reads the base recipe, sets ``dataset_dir`` to the run (absolute), ``model_name_or_path``
to ``--model`` and each ``key=value`` override (typed: ``5`` is an int, ``5e-5`` a float,
``true`` a bool, ``null`` None), then checks the run before writing anything:

* ``dataset_info.json`` registers every dataset the recipe names (``dataset``,
  ``eval_dataset``), and each registered file exists and is JSONL with the columns its
  entry maps (alpaca: instruction/input/output/system; sharegpt: conversations with
  from/value turns, system);
* the dev split does not leak into train: no dev record repeats a train record's
  (user turn, SQL) pair, and no SQL skeleton (:func:`data_create.dedupe.skeleton`, the
  query with literals abstracted) appears on both sides.  data_create splits by skeleton,
  so a leak means the files were edited or mixed from different runs;
* an empty dev split is a warning: training works, the eval numbers do not exist.

The written recipe keeps the base's comments and layout: values are replaced in place,
keys the base lacks are appended under ``### overrides``.  Errors are
:class:`data_create.errors.ConfigError` with a one-line message; the CLI prints it and
exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from data_create import rundir
from data_create.cli import run_command
from data_create.errors import ConfigError
from data_create.hygiene import one_line

DATASET_INFO = "dataset_info.json"

_log = logging.getLogger(__name__)

# LLaMA-Factory 0.9.x defaults (data/parser.py DatasetAttr) for entries that omit them.
_ALPACA_DEFAULTS = {"prompt": "instruction", "query": "input", "response": "output"}
_SHAREGPT_DEFAULTS = {"messages": "conversations"}
_TAG_DEFAULTS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class DatasetCheck:
    """One registered dataset as found on disk."""

    name: str
    path: str
    formatting: str  # "alpaca" or "sharegpt"
    records: int


@dataclass(frozen=True)
class DatasetReport:
    """What :func:`check_dataset` found; raising is for problems, this is for the rest."""

    data_dir: str
    datasets: tuple[DatasetCheck, ...]
    dialect: str | None  # the run's SQL dialect, used for the skeleton check
    warnings: tuple[str, ...]

    def records(self, name: str) -> int:
        return next(d.records for d in self.datasets if d.name == name)


# ---------------------------------------------------------------- checking a run


def check_dataset(
    data_dir: str | os.PathLike[str],
    names: Iterable[str],
    eval_names: Iterable[str] = (),
) -> DatasetReport:
    """Check that ``data_dir`` serves the ``names`` (train) and ``eval_names`` datasets.

    Raises :class:`ConfigError` for an unregistered dataset, a missing, empty or
    malformed file, or an eval split that leaks into the train split.
    """
    root = Path(data_dir)
    train, dev = _names(names), _names(eval_names)
    if not root.is_dir():
        raise ConfigError(
            f"{root} is not a directory", "pass the --out directory of a data_create run"
        )
    info = _dataset_info(root)
    warnings: list[str] = []
    checks: list[DatasetCheck] = []
    rows: dict[str, list[tuple[str, str]]] = {}
    for name in dict.fromkeys(train + dev):  # ordered, no repeats
        if name not in info:
            known = ", ".join(sorted(info)) or "none"
            raise ConfigError(
                f"dataset {name!r} is not registered in {root / DATASET_INFO} (it has: {known})",
                "fix dataset/eval_dataset in the recipe, or re-run data_create into that directory",
            )
        path, formatting, pairs = _read_dataset(root, name, info[name])
        if not pairs and name not in dev:
            raise ConfigError(
                f"dataset {name!r} file {path} holds no records",
                "re-run data_create with more --samples",
            )
        if not pairs:
            warnings.append(
                f"eval dataset {name!r} ({path}) is empty: training runs, but evaluation "
                "and best-checkpoint selection have nothing to measure"
            )
        checks.append(DatasetCheck(name, str(path), formatting, len(pairs)))
        rows[name] = pairs

    dialect = run_dialect(root)
    if train and dev:
        _check_leak(rows, train, dev, dialect, warnings)
    return DatasetReport(str(root.resolve()), tuple(checks), dialect, tuple(warnings))


def run_dialect(run_dir: str | os.PathLike[str]) -> str | None:
    """The SQL dialect of a data_create run: metadata.json, else the first sample."""
    root = Path(run_dir)
    meta = root / rundir.METADATA
    if meta.is_file():
        try:
            dialect = json.loads(meta.read_text(encoding="utf-8")).get("dialect")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            dialect = None
        if isinstance(dialect, str) and dialect:
            return dialect
    try:
        samples = rundir.read_jsonl(root / rundir.SAMPLES)
    except ConfigError:
        return None
    dialect = samples[0].get("dialect") if samples else None
    return dialect if isinstance(dialect, str) and dialect else None


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(n).strip() for n in items if str(n).strip()]


def _dataset_info(root: Path) -> dict[str, Any]:
    path = root / DATASET_INFO
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist",
            "pass the --out directory of a data_create run (it writes dataset_info.json)",
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {one_line(str(exc))}") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{path} is not a JSON object of dataset entries")
    return info


def _read_dataset(root: Path, name: str, entry: Any) -> tuple[Path, str, list[tuple[str, str]]]:
    """(file, formatting, [(user turn, answer)...]) after checking every record's columns."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
        raise ConfigError(
            f"dataset {name!r} in {root / DATASET_INFO} has no local file_name",
            "the recipe helper checks local files only; register the file with file_name",
        )
    path = root / entry["file_name"]
    if not path.is_file():
        raise ConfigError(
            f"dataset {name!r} file {path} does not exist",
            "re-run data_create into that directory, or fix file_name in dataset_info.json",
        )
    formatting = entry.get("formatting", "alpaca")
    columns = entry.get("columns") or {}
    if formatting == "alpaca":
        mapping = {**_ALPACA_DEFAULTS, **columns}
        parse = _alpaca_pair
        extra: dict[str, str] = {}
    elif formatting == "sharegpt":
        mapping = {**_SHAREGPT_DEFAULTS, **columns}
        parse = _sharegpt_pair
        extra = {**_TAG_DEFAULTS, **(entry.get("tags") or {})}
    else:
        raise ConfigError(
            f"dataset {name!r} has formatting {formatting!r}", "use alpaca or sharegpt"
        )
    pairs: list[tuple[str, str]] = []
    for lineno, record in _records(path):
        where = f"{path}:{lineno}"
        missing = [c for c in mapping.values() if c and c not in record]
        if missing:
            raise ConfigError(
                f"{where} lacks column(s) {', '.join(missing)} that dataset {name!r} maps",
                "re-run data_create, or fix columns in dataset_info.json",
            )
        pairs.append(parse(record, mapping, extra, where))
    return path, formatting, pairs


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix == ".json":  # LLaMA-Factory also reads a JSON array
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} is not valid JSON: {one_line(str(exc))}") from None
        if not isinstance(data, list):
            raise ConfigError(f"{path} is not a JSON array of records")
        items: Iterable[tuple[int, Any]] = enumerate(data, 1)
    else:
        items = _jsonl_lines(path)
    for lineno, record in items:
        if not isinstance(record, dict):
            raise ConfigError(f"{path}:{lineno} is not a JSON object")
        yield lineno, record


def _jsonl_lines(path: Path) -> Iterable[tuple[int, Any]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}:{lineno} is not JSON ({exc.msg})", "the file must be JSON Lines"
                ) from None


def _alpaca_pair(
    record: dict[str, Any], mapping: dict[str, str], _tags: dict[str, str], where: str
) -> tuple[str, str]:
    # LLaMA-Factory's user turn: prompt, then "\n" + query when the query is non-empty.
    prompt = _text(record[mapping["prompt"]], where)
    query = _text(record.get(mapping.get("query") or "", ""), where)
    user = f"{prompt}\n{query}" if query else prompt
    return user, _text(record[mapping["response"]], where)


def _sharegpt_pair(
    record: dict[str, Any], mapping: dict[str, str], tags: dict[str, str], where: str
) -> tuple[str, str]:
    turns = record[mapping["messages"]]
    if not isinstance(turns, list) or not turns:
        raise ConfigError(f"{where}: {mapping['messages']} is not a non-empty list of turns")
    role, content = tags["role_tag"], tags["content_tag"]
    user = answer = None
    for turn in turns:
        if not isinstance(turn, dict) or role not in turn or content not in turn:
            raise ConfigError(f"{where}: a turn lacks its {role!r} or {content!r} field")
        if turn[role] == tags["user_tag"] and user is None:
            user = _text(turn[content], where)
        elif turn[role] == tags["assistant_tag"] and answer is None:
            answer = _text(turn[content], where)
    if user is None or answer is None:
        raise ConfigError(
            f"{where}: no {tags['user_tag']!r} turn or no {tags['assistant_tag']!r} turn",
            "check tags in dataset_info.json",
        )
    return user, answer


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: a text column holds {type(value).__name__}, not a string")
    return value


def _check_leak(
    rows: dict[str, list[tuple[str, str]]],
    train: list[str],
    dev: list[str],
    dialect: str | None,
    warnings: list[str],
) -> None:
    train_pairs = {(u.strip(), a.strip()) for n in train for u, a in rows[n]}
    repeats = [p for n in dev for p in rows[n] if (p[0].strip(), p[1].strip()) in train_pairs]
    if repeats:
        raise ConfigError(
            f"dev split leaks into train: {len(repeats)} record(s) of "
            f"{', '.join(dev)} repeat a (question, SQL) pair of {', '.join(train)}, "
            f"e.g. {one_line(repeats[0][1], 80)!r}",
            "re-export the run with data_create (it splits by SQL skeleton), "
            "or remove those records",
        )
    if dialect is None:
        warnings.append(
            "no dialect in metadata.json or samples.jsonl: the SQL-skeleton leak check was skipped"
        )
        return
    from data_create.dedupe import skeleton  # sqlglot: imported only when there is SQL to compare

    cache: dict[str, str] = {}

    def skel(sql: str) -> str:
        if sql not in cache:
            cache[sql] = skeleton(sql, dialect)
        return cache[sql]

    train_skeletons = {skel(a) for n in train for _, a in rows[n]}
    shared = {skel(a) for n in dev for _, a in rows[n]} & train_skeletons
    if shared:
        raise ConfigError(
            f"dev split leaks into train: {len(shared)} SQL skeleton(s) appear in both "
            f"{', '.join(train)} and {', '.join(dev)}, e.g. {one_line(min(shared), 80)!r}",
            "re-export the run with data_create (it keeps each skeleton on one side), "
            "or move those records",
        )


# ---------------------------------------------------------------- writing the recipe


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` with a typed value.

    >>> parse_override("learning_rate=5e-5")
    ('learning_rate', 5e-05)
    >>> parse_override("report_to=none"), parse_override("bf16=False")
    (('report_to', 'none'), ('bf16', False))
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise ConfigError(
            f"override {item!r} is not key=value", "write e.g. num_train_epochs=2 or bf16=false"
        )
    return key, _typed(raw.strip())


def _typed(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~"):
        return None
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw):
        return float(raw)
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]  # quoted: a string even if it looks like a number
    return raw


def prepare(
    base: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    model: str | None = None,
    overrides: Sequence[str] | dict[str, Any] = (),
    *,
    on_warning: Callable[[str], None] | None = None,
) -> Path:
    """Write ``out``: the ``base`` recipe pointed at the run ``data``, checked first.

    Returns the path written.  Nothing is written when a check fails.  Warnings (an
    empty dev split...) go to ``on_warning``, else to this module's logger.
    """
    base_path = Path(base)
    try:
        text = base_path.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {base_path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {base_path} is not valid YAML: {one_line(str(exc))}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"recipe {base_path} is not a mapping of LLaMA-Factory arguments")

    updates: dict[str, Any] = {"dataset_dir": str(Path(data).resolve())}
    if model is not None:
        # A local directory becomes absolute so the recipe works from any directory;
        # anything else is a hub id and stays as written.
        updates["model_name_or_path"] = (
            str(Path(model).resolve()) if Path(model).exists() else model
        )
    pairs = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in pairs:
        if key == "dataset_dir":
            raise ConfigError("dataset_dir cannot be an override", "pass the run with --data")
        updates[key] = value
    config = {**config, **updates}

    train, dev = _names(config.get("dataset")), _names(config.get("eval_dataset"))
    if not train and not dev:
        raise ConfigError(
            f"recipe {base_path} names no dataset or eval_dataset",
            "point a train or predict recipe at the run; merge and API recipes need no data",
        )
    report = check_dataset(updates["dataset_dir"], train, dev)
    for warning in report.warnings:
        (on_warning or _log.warning)(warning)

    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rendered = _render(text, updates, base_path)
    if yaml.safe_load(rendered) != config:  # an odd layout the line editor cannot follow
        rendered = f"# Written from {base_path} by nl2sql_fine_tuning.recipe.\n" + yaml.safe_dump(
            config, sort_keys=False, allow_unicode=True
        )
    rundir.write_text(out_path, rendered)
    return out_path


def _scalar(value: Any) -> str:
    dumped = yaml.safe_dump({"k": value}, default_flow_style=True, allow_unicode=True, width=10**6)
    return dumped.strip()[len("{k: ") : -1]


def _render(text: str, updates: dict[str, Any], base_path: Path) -> str:
    """The base text with each updated top-level value replaced in place, comments kept."""
    lines = text.splitlines()
    pending = dict(updates)
    for i, line in enumerate(lines):
        for key in list(pending):
            m = re.match(rf"^(#\s*)?{re.escape(key)}:(\s*)([^#]*?)(\s+#.*)?$", line)
            if m is None or (m.group(1) and key not in ("deepspeed",)):
                continue  # commented-out keys stay comments, except the deepspeed switch
            lines[i] = f"{key}: {_scalar(pending.pop(key))}{m.group(4) or ''}"
            break
    header = f"# Pointed at a data_create run by nl2sql_fine_tuning.recipe from {base_path}.\n"
    if pending:
        lines += ["", "### overrides"] + [f"{k}: {_scalar(v)}" for k, v in pending.items()]
    return header + "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.recipe",
        description="Point a LLaMA-Factory recipe at a data_create run: check the run "
        "(dataset_info.json, files, columns, no dev/train leak), then write the recipe "
        "with dataset_dir, model and overrides applied.",
    )
    parser.add_argument("--data", required=True, help="the data_create --out directory")
    parser.add_argument(
        "--base", required=True, help="the recipe to start from, e.g. configs/qwen3_lora.yaml"
    )
    parser.add_argument("--out", required=True, help="where to write the pointed recipe")
    parser.add_argument(
        "--model", help="model_name_or_path: a local directory (made absolute) or a hub id"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="LLaMA-Factory arguments to set; true/false, null, ints and floats are typed",
    )
    args = parser.parse_args(argv)

    def command() -> int:
        path = prepare(
            args.base,
            args.data,
            args.out,
            args.model,
            args.overrides,
            on_warning=lambda w: print(f"warning: {w}", file=sys.stderr),
        )
        print(f"wrote {path}")
        return 0

    return run_command(command)


if __name__ == "__main__":
    sys.exit(main())
