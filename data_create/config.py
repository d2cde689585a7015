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
import types
import typing
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError


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


__all__ = ["defaults", "typed_values"]
