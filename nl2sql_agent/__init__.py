"""The SQL agent: ask a database in plain language, get checked SQL, the answer and a chart.

The model only writes SQL.  Everything around it is a fixed, inspectable loop built from
the project's one implementation of each part::

    retrieve schema (cards; the retriever for large schemas)
      -> prompt (data_create.prompt, the prompt the model was trained with)
      -> generate (data_create.llm.client, any OpenAI-compatible endpoint)
      -> validate (data_create.validator: syntax+safety, schema)
      -> execute (data_create.executor: read-only, timeout, row cap)
      -> check the result (error, empty, all-NULL, row explosion)
      -> repair with the verdict, up to 3 rounds
      -> summary + chart (rules, Vega-Lite, never code)

Every step lands in the answer's trace.  ``import nl2sql_agent`` needs no web framework:
FastAPI/uvicorn are imported by :mod:`nl2sql_agent.server` only, vl-convert by
:mod:`nl2sql_agent.render` only.
"""

from __future__ import annotations

from .core import Agent, AgentConfig, Answer, Attempt, Conversation, Step

__all__ = ["Agent", "AgentConfig", "Answer", "Attempt", "Conversation", "Step"]
