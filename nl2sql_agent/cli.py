"""``python -m nl2sql_agent ask|serve``: a thin command line over :class:`nl2sql_agent.Agent`.

::

    python -m nl2sql_agent ask --dsn postgresql://postgres@127.0.0.1/shop \\
        --base-url http://127.0.0.1:8000/v1 --model sft "How many orders per status?"
    python -m nl2sql_agent ask ... --json "..."      # one JSON object
    python -m nl2sql_agent serve --dsn ... --base-url ... --model sft   # http://127.0.0.1:8765

Exit codes follow the project's CLIs (``data_create.cli``): 0 answered, 1 no answer
(the model never produced a query that passed), 2 a user error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_create.cli import _add_connection_args, _connect, run_command
from data_create.errors import ConfigError

from .core import Agent, AgentConfig, Answer, json_value

DEFAULT_PORT = 8765


def default_state_dir() -> Path:
    """``$NL2SQL_AGENT_STATE``, else ``$XDG_STATE_HOME/nl2sql-factory/agent``."""
    if os.environ.get("NL2SQL_AGENT_STATE"):
        return Path(os.environ["NL2SQL_AGENT_STATE"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nl2sql-factory" / "agent"


def _add_agent_args(p: argparse.ArgumentParser) -> None:
    _add_connection_args(p)
    g = p.add_argument_group("model")
    g.add_argument(
        "--base-url",
        help="OpenAI-compatible endpoint (vLLM, llamafactory-cli api, Ollama's /v1); "
        "default $OPENAI_BASE_URL",
    )
    g.add_argument("--model", help="served model name (default $OPENAI_MODEL)")
    g.add_argument(
        "--model-version", default="", help="recorded with feedback, e.g. the adapter's run id"
    )
    g.add_argument("--llm-timeout", type=float, default=120.0, metavar="S")
    g = p.add_argument_group("agent")
    g.add_argument(
        "--metadata", type=Path, help="metadata.json from data_create (skips extraction)"
    )
    g.add_argument("--max-repairs", type=int, default=3)
    g.add_argument("--samples", type=int, default=1, help="k candidates; the majority result wins")
    g.add_argument("--timeout", type=float, default=10.0, help="seconds per query (cancelled)")
    g.add_argument("--row-cap", type=int, default=10_000, help="rows fetched per query")
    g.add_argument("--language", default="en", choices=("en", "zh"), help="prompt language")
    g.add_argument(
        "--state-dir",
        type=Path,
        help="feedback.sqlite and chart files (default $NL2SQL_AGENT_STATE, else "
        "~/.local/state/nl2sql-factory/agent)",
    )
    p.add_argument("--debug", action="store_true", help="tracebacks for internal errors")


def build_agent(args: argparse.Namespace) -> Agent:
    from data_create import metadata as metadata_mod
    from data_create.llm.client import LLMClient, settings_from

    if args.max_repairs < 0 or args.samples < 1 or args.row_cap < 1 or args.timeout <= 0:
        raise ConfigError("--max-repairs must be >= 0, --samples and --row-cap >= 1, --timeout > 0")
    settings = settings_from(
        env=os.environ, model=args.model, base_url=args.base_url, timeout_s=args.llm_timeout,
        max_retries=2, temperature=0.0, top_p=1.0, cache_dir=None,
    )  # fmt: skip
    db = _connect(args)
    meta = metadata_mod.read(args.metadata) if args.metadata else metadata_mod.extract(db)
    config = AgentConfig(
        max_repairs=args.max_repairs, samples=args.samples, timeout_s=args.timeout,
        row_cap=args.row_cap, language=args.language, model_version=args.model_version,
    )  # fmt: skip
    return Agent.connect(db, LLMClient(settings), config, metadata=meta)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 20) -> str:
    """A plain fixed-width table (no dependency for 20 lines of text)."""

    def cell(v: Any) -> str:
        text = "NULL" if v is None else str(json_value(v))
        text = " ".join(text.split())
        return text if len(text) <= 40 else text[:39] + "…"

    shown = [[cell(v) for v in row] for row in rows[:limit]]
    widths = [max([len(str(c)), *(len(r[i]) for r in shown)]) for i, c in enumerate(columns)]
    line = lambda values: " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    out = [line([str(c) for c in columns]), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in shown]
    if len(rows) > limit:
        out.append(f"... {len(rows) - limit:,} more rows")
    return "\n".join(out)


def _write_chart(answer: Answer, state_dir: Path) -> str | None:
    if answer.chart is None:
        return None
    try:
        from .render import to_svg
    except ImportError:  # pragma: no cover - render imports nothing at module level
        return None
    try:
        svg = to_svg(answer.chart)
    except RuntimeError as exc:
        return f"(not rendered: {exc})"
    path = state_dir / "charts" / f"{answer.id}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return str(path)


def cmd_ask(args: argparse.Namespace) -> int:
    agent = build_agent(args)
    try:
        answer = agent.ask(args.question)
    finally:
        agent.close()
        agent.llm.close()  # type: ignore[union-attr]
    if not answer.attempts and answer.message.startswith("the model endpoint failed: connection"):
        raise ConfigError(
            answer.message,
            "start the model server (vllm serve / llamafactory-cli api) or fix --base-url",
        )
    state_dir = args.state_dir or default_state_dir()
    if args.json:
        out = answer.to_dict()
        out["chart_file"] = _write_chart(answer, state_dir) if args.chart_file else None
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0 if answer.status != "failed" else 1
    print(f"SQL ({len(answer.attempts)} attempt(s), {answer.repairs} repair(s)):")
    print(f"  {answer.sql or '-'}")
    for a in answer.attempts[:-1]:
        print(f"  rejected attempt {a.number}: {a.layer}: {a.reason}")
    if answer.status == "failed":
        print(f"no answer: {answer.message}", file=sys.stderr)
        return 1
    if answer.message:
        print(answer.message)
    if answer.status != "clarify":
        print()
        print(_table(answer.columns, answer.rows))
        print()
        print(answer.summary)
        chart = _write_chart(answer, state_dir) if args.chart_file else None
        kind = answer.chart_kind
        print(f"chart: {kind}" + (f" -> {chart}" if chart else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .server import serve
    except ImportError as exc:
        raise ConfigError(
            f"the web server needs FastAPI and uvicorn ({exc.name} is missing)",
            "pip install 'nl2sql-factory[agent]'",
        ) from None
    agent = build_agent(args)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise ConfigError(f"--api-key-env {args.api_key_env} is set but the variable is empty")
    if args.host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        raise ConfigError(
            f"refusing to serve on {args.host} without an API key",
            "set --api-key-env VAR (and VAR) or keep the default --host 127.0.0.1",
        )
    serve(
        agent,
        host=args.host,
        port=args.port,
        state_dir=args.state_dir or default_state_dir(),
        api_key=api_key,
        rate_per_minute=args.rate_limit,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nl2sql_agent",
        description="Ask your database in plain language: checked SQL, the answer and a chart.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question in the terminal")
    ask.add_argument("question")
    _add_agent_args(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument(
        "--no-chart-file", dest="chart_file", action="store_false", help="do not render the SVG"
    )
    ask.set_defaults(func=cmd_ask)
    srv = sub.add_parser("serve", help="the HTTP API and the web page")
    _add_agent_args(srv)
    srv.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    srv.add_argument("--port", type=int, default=DEFAULT_PORT)
    srv.add_argument("--api-key-env", metavar="VAR", help="require this key (from VAR) on /api")
    srv.add_argument(
        "--rate-limit", type=int, default=30, metavar="N", help="requests per minute per client"
    )
    srv.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
