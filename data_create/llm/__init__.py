"""LLM-driven planning and generation (OpenAI-compatible endpoints).

Import-light on purpose: ``client`` imports the ``openai`` package only when the
first request is sent, so ``import data_create.llm`` works without the ``[llm]`` extra.
The planner and generator modules are imported by name (``data_create.llm.generator``).
"""

from data_create.llm.client import (
    ChatRequest,
    ChatResult,
    LLMClient,
    LLMFailure,
    LLMSettings,
    settings_from,
)

__all__ = ["ChatRequest", "ChatResult", "LLMClient", "LLMFailure", "LLMSettings", "settings_from"]
