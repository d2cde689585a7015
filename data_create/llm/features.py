"""Old name of :mod:`data_create.features` (SQL feature tagging is not an LLM concern).

Kept only because a branch not yet merged (i14) imports ``data_create.llm.features``;
new code imports :mod:`data_create.features`.  Remove once nothing does.
"""

from ..features import SqlTags, level, literals, missing_literal, tag

__all__ = ["SqlTags", "level", "literals", "missing_literal", "tag"]
