"""The SQL agent on people's questions: repairs, safety, latency per step, chart choice.

    python bench/bench_agent.py                     # all defog databases, 50 ms fake model
    python bench/bench_agent.py --dbs academic,yelp --latency 0.05 --json out.json

The questions are defog's human questions (../shared/data/defog/questions, PostgreSQL
gold SQL); each database (../shared/data/defog/<db>/<db>.sql) is loaded into a fresh
PostgreSQL database and dropped afterwards.  The "model" is tests/fake_llm.py in its own
process, answering each question's first call with the gold SQL broken by one injected
fault, in rotation — none, wrong column, syntax error, DELETE, empty result — and every
repair call with the gold SQL, after ``--latency`` seconds.  Measured:

* answers correct (result equal to gold's, nl2sql_fine_tuning.metrics) after repair, vs
  single-shot generation (the first answer, no repair) on the same questions;
* repairs used; nothing unsafe executed: every statement that reached the executor is
  recorded and re-checked, and each table's row count is compared before and after;
* latency per step (retrieve, prompt, generate, validate, execute, check, summary, chart)
  p50/p95, and the agent's own overhead per question (wall time minus model and database
  time; target <= 20 ms), with the single-shot baseline's overhead measured in the same
  process as the ratio's denominator;
* chart choice on tests/fixtures/charts: accuracy, confusion table, schema validity.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEFOG = ROOT.parent / "shared" / "data" / "defog"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FAULTS = ("none", "wrong_column", "syntax_error", "delete", "empty_result")
STEPS = ("retrieve", "prompt", "generate", "validate", "execute", "check", "summary", "chart")


# ---------------------------------------------------------------- gold SQL


def runnable_gold(query: str) -> str | None:
    """defog's gold as one runnable statement: the first alternative, and ``{a, b}``
    column choices (with ``GROUP BY {}``) expanded to all the offered columns."""
    first = query.strip().split(";")[0].strip()
    choice = re.search(r"\{([^{}]+)\}", first)
    if choice:
        cols = choice.group(1)
        first = first.replace("{" + cols + "}", cols).replace("{}", cols)
    return first if first and "{" not in first else None


def inject(fault: str, gold: str) -> str:
    import sqlglot
    from sqlglot import exp

    if fault in ("none", "real"):
        return gold
    if fault == "wrong_column":
        tree = sqlglot.parse_one(gold, read="postgres")
        column = next(iter(tree.find_all(exp.Column)), None)
        if column is None:
            return gold.replace("SELECT", "SELECT missing_col,", 1)
        column.set("this", exp.to_identifier(column.name + "_x"))
        return tree.sql(dialect="postgres")
    if fault == "syntax_error":
        return re.sub(r"\bFROM\b", "FORM", gold, count=1, flags=re.I)
    if fault == "delete":
        tree = sqlglot.parse_one(gold, read="postgres")
        table = next(iter(tree.find_all(exp.Table)))
        return f"DELETE FROM {table.name}"
    if fault == "empty_result":
        return f"SELECT * FROM ({gold}) AS answer WHERE 1 = 0"
    raise ValueError(fault)


# ---------------------------------------------------------------- fake model process


def serve_faults(plan_path: str, latency: float) -> None:
    """Runs in its own process: first call per question -> the faulty SQL, repairs -> gold."""
    from fake_llm import FakeLLM, Reply

    plan = json.loads(Path(plan_path).read_text())

    def script(request: dict[str, Any], index: int) -> Reply:
        messages = request["messages"]
        user = next(m["content"] for m in messages if m["role"] == "user")
        question = user.rsplit("### Question\n", 1)[-1]
        entry = plan.get(question)
        if entry is None:
            return Reply(content="SELECT 1", delay_s=latency)
        first_call = len(messages) == 2
        return Reply(content=entry["faulty"] if first_call else entry["gold"], delay_s=latency)

    with FakeLLM(script) as llm:
        print(llm.base_url, flush=True)
        threading.Event().wait()


# ---------------------------------------------------------------- databases


def load_database(name: str) -> tuple[str, str]:
    import psycopg2

    db_name = f"t_bench_{name}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE \"{db_name}\" ENCODING 'UTF8' TEMPLATE template0")
    conn.close()
    dsn = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(DEFOG / name / f"{name}.sql")],
        check=True, capture_output=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )  # fmt: skip
    return db_name, dsn


def drop_database(db_name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    conn.close()


def user_schemas(dsn: str) -> tuple[str, ...]:
    """The schemas the dump created tables in (public, or e.g. consumer_div for ewallet)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT table_schema FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        )
        schemas = tuple(r[0] for r in cur.fetchall())
    conn.close()
    return schemas


def table_counts(dsn: str, meta: Any) -> dict[str, int]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    out = {}
    with conn.cursor() as cur:
        for t in meta.tables:
            if t.kind == "table":
                cur.execute(f'SELECT COUNT(*) FROM "{t.schema or "public"}"."{t.name}"')
                out[t.qualified_name] = cur.fetchone()[0]
    conn.close()
    return out


# ---------------------------------------------------------------- helpers


def _recording_executor() -> type:
    from data_create.executor import Executor

    class Recording(Executor):
        """The real executor, keeping every statement that reached it."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.ran: list[str] = []

        def execute(self, sql: str):  # type: ignore[no-untyped-def]
            self.ran.append(sql)
            return super().execute(sql)

    return Recording


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def chart_report() -> dict[str, Any]:
    from nl2sql_agent import charts

    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    invalid = 0
    specs = 0
    cases = sorted((ROOT / "tests" / "fixtures" / "charts").glob("*.json"))
    for path in cases:
        case = json.loads(path.read_text())
        rows = [tuple(r) for r in case["rows"]]
        choice = charts.choose(case["columns"], rows, case["question"])
        confusion[case["expected"]][choice.kind] += 1
        for kind in choice.options:
            spec = charts.build_spec(case["columns"], rows, kind, case["question"])
            if spec is not None:
                specs += 1
                invalid += bool(charts.validate_spec(spec))
    correct = sum(confusion[k][k] for k in confusion)
    return {
        "cases": len(cases),
        "accuracy": correct / len(cases),
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "specs_checked": specs,
        "specs_invalid": invalid,
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--questions", type=Path, default=DEFOG / "questions" / "questions_gen_postgres.csv"
    )
    parser.add_argument("--dbs", help="comma-separated database names (default: all present)")
    parser.add_argument("--latency", type=float, default=0.05, help="fake model seconds per call")
    parser.add_argument("--limit", type=int, default=0, help="questions per database (0 = all)")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    parser.add_argument(
        "--base-url",
        help="a real OpenAI-compatible endpoint instead of the fake model (no faults injected): "
        "execution accuracy of the agent with repair vs single-shot generation",
    )
    parser.add_argument("--model", default="fake-model", help="model name at --base-url")
    parser.add_argument("--max-tokens", type=int, default=256, help="per generation")
    parser.add_argument("--max-repairs", type=int, default=3)
    parser.add_argument(
        "--schema-context", default="auto", choices=("auto", "all", "retrieved"),
        help="retrieved: the retriever picks the cards even for small schemas (its latency)",
    )  # fmt: skip
    parser.add_argument("--serve-faults", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_faults:
        serve_faults(args.serve_faults, args.latency)
        return 0

    from data_create import metadata, prompt
    from data_create.connect import connect
    from data_create.executor import Executor
    from data_create.llm.client import ChatRequest, LLMClient, LLMSettings
    from data_create.validator import Validator
    from nl2sql_agent import Agent, AgentConfig
    from nl2sql_fine_tuning import metrics

    Recording = _recording_executor()

    rows = list(csv.DictReader(args.questions.open(encoding="utf-8")))
    wanted = set(args.dbs.split(",")) if args.dbs else None
    by_db: dict[str, list[dict[str, str]]] = defaultdict(list)
    skipped = Counter()
    for r in rows:
        if wanted and r["db_name"] not in wanted:
            continue
        if not (DEFOG / r["db_name"] / f"{r['db_name']}.sql").exists():
            skipped["no database file"] += 1
            continue
        gold = runnable_gold(r["query"])
        if gold is None:
            skipped["gold not runnable as one statement"] += 1
            continue
        by_db[r["db_name"]].append({"question": " ".join(r["question"].split()), "gold": gold})

    # Plan: the fault for each question, in rotation over all questions.
    plan: dict[str, dict[str, str]] = {}
    items: list[tuple[str, dict[str, str], str]] = []
    i = 0
    for db_name, qs in sorted(by_db.items()):
        for q in qs[: args.limit or None]:
            if q["question"] in plan:
                continue
            fault = "real" if args.base_url else FAULTS[i % len(FAULTS)]
            i += 1
            plan[q["question"]] = {"faulty": inject(fault, q["gold"]), "gold": q["gold"]}
            items.append((db_name, q, fault))

    server = None
    if args.base_url:
        base_url = args.base_url
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_agent_"))
        plan_path = tmp / "plan.json"
        plan_path.write_text(json.dumps(plan))
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve-faults", str(plan_path), "--latency",
             str(args.latency)],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        base_url = server.stdout.readline().strip()  # type: ignore[union-attr]

    per_fault: dict[str, Counter[str]] = defaultdict(Counter)
    step_ms: dict[str, list[float]] = defaultdict(list)
    overhead_ms: list[float] = []
    baseline_overhead_ms: list[float] = []
    agent_total_ms: list[float] = []
    baseline_total_ms: list[float] = []
    unsafe_executed: list[str] = []
    changed_tables: list[str] = []
    executed_total = 0
    gold_failed = 0
    repairs_used = Counter()
    failures: list[dict[str, Any]] = []
    try:
        for db_name in sorted({d for d, _, _ in items}):
            pg_name, dsn = load_database(db_name)
            try:
                db = connect(dsn)
                meta = metadata.extract(db, metadata.ExtractOptions(schemas=user_schemas(dsn)))
                before = table_counts(dsn, meta)
                config = AgentConfig(
                    timeout_s=10.0, row_cap=10_000, max_tokens=args.max_tokens,
                    max_repairs=args.max_repairs, schema_context=args.schema_context,
                    schema_budget_tokens=1200 if args.schema_context == "retrieved" else 6000,
                )  # fmt: skip
                settings = LLMSettings(
                    model=args.model, base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "k"),
                    max_retries=0, timeout_s=300, temperature=0.0, max_tokens=args.max_tokens,
                )  # fmt: skip
                llm = LLMClient(settings)
                executor = Recording(db, timeout_s=config.timeout_s, row_cap=config.row_cap)
                ran = executor.ran
                agent = Agent(meta, executor, llm, config)
                gold_exec = Executor(db, timeout_s=10, row_cap=10_000)
                checker = Validator(meta, meta.engine)
                # Warm-up: the first call pays for imports and connections, not the loop.
                if not args.base_url:  # a real model's warm-up would cost a generation
                    agent.ask("warm up")
                ran.clear()
                for name, q, fault in items:
                    if name != db_name:
                        continue
                    gold = gold_exec.execute(q["gold"])
                    if not gold.ok:
                        gold_failed += 1
                        continue
                    order = metrics.gold_has_order_by(q["gold"], "postgres")

                    def correct(columns: Any, result_rows: Any) -> bool:
                        return metrics.results_match(result_rows, gold.rows, order_matters=order)  # noqa: B023

                    # The agent, with repair.
                    t0 = time.perf_counter()
                    answer = agent.ask(q["question"])
                    wall = (time.perf_counter() - t0) * 1000
                    outside = sum(
                        s.elapsed_ms for s in answer.trace if s.name in ("generate", "execute")
                    )
                    overhead_ms.append(wall - outside)
                    agent_total_ms.append(wall)
                    for s in answer.trace:
                        step_ms[s.name].append(s.elapsed_ms)
                    ok = answer.status in ("ok", "empty") and correct(answer.columns, answer.rows)
                    if not ok:
                        failures.append(
                            {"db": db_name, "fault": fault, "question": q["question"],
                             "status": answer.status, "message": answer.message,
                             "sql": answer.sql}
                        )  # fmt: skip
                    per_fault[fault]["questions"] += 1
                    per_fault[fault]["agent_correct"] += ok
                    repairs_used[fault] += answer.repairs

                    # Single-shot: the same first answer, checked and run once, no repair.
                    t0 = time.perf_counter()
                    messages = prompt.messages(
                        q["question"], meta.dialect, agent._schema_context(q["question"])[0]
                    )
                    t1 = time.perf_counter()
                    if args.base_url and answer.attempts:
                        # A real model at temperature 0 answers this exact request exactly as
                        # it answered the agent's first attempt: reuse that answer rather
                        # than pay for a second slow CPU generation.
                        assert (
                            messages
                            == next(s for s in answer.trace if s.name == "prompt").detail[
                                "messages"
                            ]
                        )
                        text = answer.attempts[0].raw
                    else:
                        reply = llm.run_many(
                            [ChatRequest(messages, purpose="single", temperature=0.0, top_p=1.0)]
                        )[0]
                        text = reply.text if reply.ok else ""
                    gen = (time.perf_counter() - t1) * 1000
                    sql = prompt.extract_sql(text) if text else ""
                    single_ok = False
                    db_ms = 0.0
                    if sql and checker.check_static(sql).ok:
                        result = gold_exec.execute(sql)
                        db_ms = result.elapsed_ms
                        single_ok = result.ok and correct(result.columns, result.rows)
                    base_wall = (time.perf_counter() - t0) * 1000
                    baseline_overhead_ms.append(base_wall - gen - db_ms)
                    baseline_total_ms.append(base_wall)
                    per_fault[fault]["single_correct"] += single_ok
                for sql in ran:
                    executed_total += 1
                    if not checker.check_static(sql).ok or re.search(
                        r"\b(DELETE|UPDATE|INSERT|DROP)\b", sql, re.I
                    ):
                        unsafe_executed.append(sql)
                after = table_counts(dsn, meta)
                changed_tables += [f"{db_name}.{t}" for t in before if before[t] != after.get(t)]
                agent.close()
                gold_exec.close()
                llm.close()
                db.dispose()
            finally:
                drop_database(pg_name)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)

    n = sum(c["questions"] for c in per_fault.values())
    agent_correct = sum(c["agent_correct"] for c in per_fault.values())
    single_correct = sum(c["single_correct"] for c in per_fault.values())
    report = {
        "questions": n,
        "skipped": dict(skipped),
        "gold_failed": gold_failed,
        "latency_s": args.latency,
        "agent_correct": agent_correct,
        "single_shot_correct": single_correct,
        "by_fault": {
            f: {**per_fault[f], "repairs": repairs_used[f]}
            for f in (*FAULTS, "real")
            if per_fault[f]["questions"]
        },
        "executed_statements": executed_total,
        "unsafe_executed": unsafe_executed,
        "tables_changed": changed_tables,
        "steps_ms": {
            s: {
                "p50": round(pct(step_ms[s], 50), 3),
                "p95": round(pct(step_ms[s], 95), 3),
                "n": len(step_ms[s]),
            }
            for s in STEPS
        },
        "overhead_ms": {
            "p50": round(pct(overhead_ms, 50), 3),
            "p95": round(pct(overhead_ms, 95), 3),
        },
        "baseline_overhead_ms": {
            "p50": round(pct(baseline_overhead_ms, 50), 3),
            "p95": round(pct(baseline_overhead_ms, 95), 3),
        },
        "total_ms": {
            "agent_p50": round(pct(agent_total_ms, 50), 1),
            "single_p50": round(pct(baseline_total_ms, 50), 1),
        },
        "charts": chart_report(),
        "agent_failures": failures,
    }
    print(
        f"questions: {n} ({sum(skipped.values())} skipped: {dict(skipped)}; gold failed: {gold_failed})"
    )
    print(f"correct with repair: {agent_correct}/{n} = {agent_correct / max(1, n):.1%}   "
          f"single-shot: {single_correct}/{n} = {single_correct / max(1, n):.1%}")  # fmt: skip
    print(f"{'fault':<14}{'questions':>10}{'agent':>8}{'single':>8}{'repairs':>9}")
    for f, c in report["by_fault"].items():
        print(
            f"{f:<14}{c['questions']:>10}{c['agent_correct']:>8}{c['single_correct']:>8}{c['repairs']:>9}"
        )
    for f in failures:
        print(f"  not correct: [{f['db']}/{f['fault']}] {f['status']}: {f['message'][:120]}")
    print(f"executed statements: {executed_total}; unsafe executed: {len(unsafe_executed)}; "
          f"tables whose row count changed: {len(changed_tables)}")  # fmt: skip
    model_text = args.model if args.base_url else f"a {args.latency * 1000:.0f} ms fake model"
    print(f"latency per step with {model_text} (ms):")
    for s, v in report["steps_ms"].items():
        print(f"  {s:<9} p50 {v['p50']:>8.3f}  p95 {v['p95']:>8.3f}  (n={v['n']})")
    o, b = report["overhead_ms"], report["baseline_overhead_ms"]
    print(f"agent overhead per question: p50 {o['p50']:.2f} ms, p95 {o['p95']:.2f} ms "
          f"(target <= 20 ms: {'met' if o['p95'] <= 20 else 'NOT met'}); single-shot baseline "
          f"overhead p50 {b['p50']:.2f} ms -> ratio {o['p50'] / max(b['p50'], 1e-9):.1f}x")  # fmt: skip
    print(f"wall per question p50: agent {report['total_ms']['agent_p50']} ms, "
          f"single-shot {report['total_ms']['single_p50']} ms")  # fmt: skip
    ch = report["charts"]
    print(f"chart choice: {ch['accuracy']:.1%} of {ch['cases']} fixtures; specs invalid "
          f"{ch['specs_invalid']}/{ch['specs_checked']}")  # fmt: skip
    kinds = sorted({k for row in ch["confusion"].values() for k in row} | set(ch["confusion"]))
    print("  expected \\ chosen " + " ".join(f"{k:>7}" for k in kinds))
    for exp_kind, row in ch["confusion"].items():
        print(f"  {exp_kind:<18}" + " ".join(f"{row.get(k, 0):>7}" for k in kinds))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0 if not unsafe_executed and not changed_tables else 1


if __name__ == "__main__":
    sys.exit(main())
