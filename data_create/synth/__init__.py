"""The offline, SQL-first synthesizer: real values -> SQL shapes -> questions that state them.

Usage::

    synth = Synthesizer(metadata, dialect="sqlite", language="zh", seed=7)
    for candidate in synth.candidates(topic):  # deterministic for (seed, topic.name)
        ...  # validate, dedupe, stop at topic.count

gives e.g. ``列出所在城市为'上海'的门店的门店名称、门店类型。`` with
``SELECT store_name, store_type FROM stores WHERE city = '上海'``.
"""

from __future__ import annotations

from .families import DEFAULT_SHAPE_MIX, FAMILIES
from .synthesizer import DEFAULT_MIX, GENERATOR, Synthesizer, check_shape_mix

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_SHAPE_MIX",
    "FAMILIES",
    "GENERATOR",
    "Synthesizer",
    "check_shape_mix",
]
