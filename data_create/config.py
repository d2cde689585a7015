"""Typed values for a config dataclass: what a YAML file may set, checked against the fields.

:class:`data_create.pipeline.RunConfig` is the one place the run's defaults live; the
command line gives ``None`` for every option not typed (so a YAML value is never
overridden by a parser default), and a YAML file's values are checked here against the
dataclass's annotations, one line per mistake::

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class C:
    ...     samples: int = 1
    ...     include: tuple[str, ...] = ()
    ...     out: str | None = None
    >>> typed_values(C, {"samples": "twenty", "include": 5, "out": 5}, "c.yaml")
    Traceback (most recent call last):
    ...
    data_create.errors.ConfigError: c.yaml: samples must be a whole number, not 'twenty'
    c.yaml: include must be a list of names or a comma-separated string, not 5
    c.yaml: out must be text, not 5 — fix these values in the config file
    >>> typed_values(C, {"samples": 3, "include": "a_*, b_*"}, "c.yaml")
    {'samples': 3, 'include': ('a_*', 'b_*')}
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connect import DEFAULT_CONNECT_TIMEOUT
from .errors import ConfigError
from .llm.client import LLMSettings
from .records import DIFFICULTIES


class _Mistake(Exception):
    pass


def typed_values(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values`` checked (and, where lossless, converted) against ``cls``'s field types.

    Ints stand for floats; a comma-separated string or a list stands for a tuple of
    names; nothing else is coerced (``"twenty"`` is not a number, ``5`` is not a path).
    """
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in values.items():
        try:
            out[key] = _coerce(hints[key], value)
        except _Mistake as exc:
            problems.append(f"{where}: {key} must be {exc}, not {value!r}")
    if problems:
        raise ConfigError("\n".join(problems), "fix these values in the config file")
    return out


def defaults(cls: type) -> dict[str, Any]:
    """Each field's default value (``default_factory`` called)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _coerce(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        wanted = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value)
            except _Mistake as exc:
                wanted.append(str(exc))
        raise _Mistake(" or ".join(wanted))
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise _Mistake("true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mistake("a whole number")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Mistake("a number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise _Mistake("text")
    if origin is tuple:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(v.strip() for v in value if v.strip())
        raise _Mistake("a list of names or a comma-separated string")
    if origin is dict:
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            return {k: float(v) for k, v in value.items()}
        raise _Mistake("a mapping of name: number")
    raise TypeError(f"no check for fields of type {kind!r}")  # a new field type: add it here


# ---------------------------------------------------------------- the run's config

# Settings a resumed run must share with the run it continues: they decide the plan
# and the candidate streams.
REPLAY_KEYS = (
    "samples", "language", "seed", "mix", "shape_mix", "keep_empty", "max_result_rows", "execute",
    "llm", "model", "modes", "repair", "llm_plan", "temperature", "top_p", "max_rounds",
)  # fmt: skip


# The LLM transport's defaults are the client's own (one copy of each number).
_LLM = defaults(LLMSettings)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, and the one place their defaults live.

    The command line passes only what the user typed (``None`` otherwise) and a YAML
    file's values are type-checked against these annotations, so the order is always
    defaults < YAML < command line (:meth:`from_sources`).
    """

    dsn: str | None = None  # None: the bundled example database
    out: str | None = None  # None: runs/<database name>
    samples: int = 1000
    language: str = "en"
    seed: int = 42
    dev_ratio: float = 0.1
    schema_context: str = "none"  # "none" | "cards" | "retrieved"
    retrieval_k: int = 5  # tables per prompt with schema_context "retrieved"
    retrieval_tokens: int = 2000  # token budget of that schema block
    execute: bool = True
    resume: bool = False
    overwrite: bool = False
    password_env: str | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    schemas: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_views: bool = True
    mix: dict[str, float] = field(
        default_factory=lambda: {"easy": 0.35, "medium": 0.4, "hard": 0.25}
    )
    # Weights of the synthesizer's question shapes (data_create.synth.DEFAULT_SHAPE_MIX for
    # the ones not given), e.g. {"negation": 0.1, "advanced": 0}.
    shape_mix: dict[str, float] | None = None
    keep_empty: bool = False  # keep queries whose result is empty
    max_result_rows: int = 1000  # a larger result is "huge" and not kept
    max_result_bytes: int = 32 * 1024 * 1024  # a larger result is refused while fetching
    # Run generated SQL even when the account is a superuser / has file access (warned).
    allow_privileged_role: bool = False
    timeout: float = 10.0  # per query, seconds
    workers: int = 2  # parallel database connections for the execution layer
    card_tokens: int = 600
    sample_values: int = 5  # per column, in metadata
    # --- LLM (any OpenAI-compatible endpoint); llm=None keeps the run fully offline
    llm: str | None = None  # "openai"
    model: str | None = None
    base_url: str | None = None  # default: $OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable, never from a file
    concurrency: int = _LLM["concurrency"]
    temperature: float = _LLM["temperature"]
    top_p: float = _LLM["top_p"]
    llm_timeout: float = _LLM["timeout_s"]
    max_retries: int = _LLM["max_retries"]
    max_requests: int | None = None
    max_total_tokens: int | None = None
    prices: dict[str, float] | None = None  # {"input": $ per 1M tokens, "output": ...}
    modes: dict[str, float] = field(default_factory=lambda: {"question-first": 1.0})
    repair: bool = True
    max_rounds: int = (
        8  # request rounds per topic; later rounds only happen while samples are short
    )
    llm_plan: bool = True  # let the LLM plan the topics too
    cache_dir: str | None = None  # default: <out>/llm_cache
    # More functions generated SQL may call, beyond the engine's allow-list
    # (--allow-function; "schema.function" for a qualified one).
    allow_functions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        typed_values(RunConfig, dataclasses.asdict(self), "RunConfig")  # wrong types: one line each
        problems = []
        if self.samples < 1:
            problems.append("--samples must be at least 1")
        if self.language not in ("zh", "en"):
            problems.append("--language must be zh or en")
        if not 0 <= self.dev_ratio < 1:
            problems.append("--dev-ratio must be in [0, 1)")
        if self.schema_context not in ("none", "cards", "retrieved"):
            problems.append("--schema-context must be none, cards or retrieved")
        if self.retrieval_k < 1 or self.retrieval_tokens < 1:
            problems.append("retrieval_k and retrieval_tokens must be positive")
        if set(self.mix) - set(DIFFICULTIES) or not any(v > 0 for v in self.mix.values()):
            problems.append(f"mix must weigh some of {', '.join(DIFFICULTIES)}")
        if self.shape_mix is not None:
            from .synth import check_shape_mix

            if not isinstance(self.shape_mix, dict):
                problems.append("shape_mix must map shape families to weights")
            else:
                try:
                    check_shape_mix(self.shape_mix)
                except ConfigError as exc:
                    problems.append(exc.message)
        if self.llm not in (None, "openai"):
            problems.append("--llm must be openai (any OpenAI-compatible endpoint)")
        if self.llm and not self.model:
            problems.append("--llm needs --model")
        if self.concurrency < 1:
            problems.append("--concurrency must be at least 1")
        unknown_modes = set(self.modes) - {"question-first", "sql-first", "paraphrase"}
        if unknown_modes or not any(v > 0 for v in self.modes.values()):
            problems.append("modes must weigh some of question-first, sql-first, paraphrase")
        if self.timeout <= 0 or self.max_result_rows < 1 or self.workers < 1:
            problems.append("--timeout, --workers and max_result_rows must be positive")
        if self.max_result_bytes < 1:
            problems.append("max_result_bytes must be positive")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_sources(cls, yaml_path: str | None, overrides: dict[str, Any]) -> RunConfig:
        """Defaults, then the YAML file, then command-line ``overrides`` (None = not given)."""
        values: dict[str, Any] = {}
        if yaml_path:
            values.update(load_yaml(yaml_path))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def llm_settings(self, out: Path) -> LLMSettings:
        """The LLM client's settings for ``--llm openai``; the key comes from the environment."""
        return LLMSettings(
            model=self.model or "",
            base_url=self.base_url or os.environ.get("OPENAI_BASE_URL") or _LLM["base_url"],
            # Local servers (vLLM, Ollama, llamafactory-cli api) accept any key.
            api_key=os.environ.get(self.api_key_env) or "EMPTY",
            timeout_s=self.llm_timeout,
            max_retries=self.max_retries,
            concurrency=self.concurrency,
            temperature=self.temperature,
            top_p=self.top_p,
            max_requests=self.max_requests,
            max_total_tokens=self.max_total_tokens,
            prices=self.prices,
            cache_dir=Path(self.cache_dir) if self.cache_dir else out / "llm_cache",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def load_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value")
    allowed = {f.name for f in dataclasses.fields(RunConfig)} - {"resume", "overwrite"}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    if "schema" in data:  # the CLI spells it --schema
        data["schemas"] = data.pop("schema")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown option(s) {', '.join(unknown)}",
            f"known options: {', '.join(sorted(allowed))}",
        )
    return typed_values(RunConfig, data, f"config file {path}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["REPLAY_KEYS", "RunConfig", "defaults", "load_yaml", "typed_values"]
