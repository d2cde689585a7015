"""``python -m nl2sql_fine_tuning.loop COMMAND``: the learning loop's command line.

::

    init      --home H --run RUN --dsn DSN --base-model M [--recipe R] [--predict-recipe P]
    intake    --home H [--feedback FILE] [--requests FILE] [--jsonl FILE]
    run       --home H [--feedback/--requests/--jsonl ...] [--force] [--json]
    status    --home H [--json]
    list      --home H [--json]
    promote   --home H NAME
    rollback  --home H
    serving   --home H          (the commands that serve the promoted version)
    monitor   --requests FILE --out DIR [--home H] [--bucket hour|day] [--json]

Errors are one line and exit code 2 (``data_create.cli.run_command``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_create.cli import run_command
from data_create.errors import ConfigError

from .home import GatePolicy, LoopConfig, LoopHome, read_jsonl, write_jsonl
from .registry import Registry, table

ROOT = Path(__file__).resolve().parents[2]


def _home(args: argparse.Namespace) -> LoopHome:
    return LoopHome(args.home)


def _overrides(values: Sequence[str] | None) -> dict[str, Any]:
    from nl2sql_fine_tuning.recipe import parse_override

    return dict(parse_override(v) for v in values or ())


def _strip_password(dsn: str) -> str:
    from data_create.connect import parse_dsn

    url = parse_dsn(dsn)
    if url.password:
        raise ConfigError(
            "the DSN holds a password; the loop stores its DSN, and never a password",
            "drop it from --dsn and pass it in NL2SQL_DB_PASSWORD (or --password-env VAR)",
        )
    return dsn


def cmd_init(args: argparse.Namespace) -> int:
    from data_create import drift

    run = Path(args.run).resolve()
    for name in ("samples.jsonl", "split.json", "metadata.json"):
        if not (run / name).is_file():
            raise ConfigError(f"{run} is not a data_create run ({name} missing)")
    home = _home(args)
    if home.config_path.exists() and not args.overwrite:
        raise ConfigError(f"{home.root} already holds a loop", "pass --overwrite to re-create it")
    for recipe in (args.recipe, args.predict_recipe):
        if not Path(recipe).is_file():
            raise ConfigError(f"recipe {recipe} does not exist")
    config = LoopConfig(
        run=str(run),
        dsn=_strip_password(args.dsn),
        base_model=str(Path(args.base_model).resolve())
        if Path(args.base_model).exists()
        else args.base_model,
        train_recipe=str(Path(args.recipe).resolve()),
        predict_recipe=str(Path(args.predict_recipe).resolve()),
        train_overrides=_overrides(args.set),
        predict_overrides=_overrides(args.predict_set),
        password_env=args.password_env,
        correction_weight=args.correction_weight,
        targeted_per_failure=args.targeted_per_failure,
        trigger_failures=args.trigger_failures,
        gate=GatePolicy(args.max_regression_drop, args.min_failure_gain),
        seed=args.seed,
        language=args.language,
    )
    home.save_config(config)
    # The frozen regression set starts as the run's held-out (dev) split.
    split = json.loads((run / "split.json").read_text(encoding="utf-8"))
    dev = set(split.get("dev", []))
    regression = [
        {"id": r["id"], "kind": "heldout", "question": r["question"], "sql": r["sql"]}
        for r in read_jsonl(run / "samples.jsonl")
        if r["id"] in dev
    ]
    write_jsonl(home.regression, regression)
    if not home.corrections.exists():
        write_jsonl(home.corrections, [])
    drift.register_store(run, "loop:corrections", home.corrections)
    drift.register_store(run, "loop:regression", home.regression)
    print(f"loop home {home.root}: run {run}, {len(regression)} held-out regression items")
    print(
        f"  base model {config.base_model}; recipes {Path(config.train_recipe).name}, "
        f"{Path(config.predict_recipe).name}"
    )
    print(f"  next: python -m nl2sql_fine_tuning.loop run --home {args.home}")
    return 0


def _intake(home: LoopHome, args: argparse.Namespace) -> Any:
    from . import intake
    from .iterate import connect, current_metadata

    items: list[Any] = []
    for path in args.feedback or ():
        items += intake.from_feedback(path)
    for path in args.requests or ():
        items += intake.from_request_log(path)
    for path in args.jsonl or ():
        items += intake.from_jsonl(path)
    if not items:
        return None
    config = home.config()
    db = connect(config)
    try:
        meta = current_metadata(config, db)
        return intake.take_in(home, items, db, meta)
    finally:
        db.dispose()


def _print_intake(summary: Any) -> None:
    s = summary.to_dict()
    kinds = ", ".join(f"{k} {v}" for k, v in s["by_kind"].items()) or "none"
    print(
        f"intake: {s['new']} new items ({kinds}), {s['duplicates']} already known; "
        f"corrections {s['corrections_accepted']} accepted, {s['corrections_rejected']} "
        f"rejected, {s['superseded']} superseded earlier ones"
    )
    for reason in s["rejected_reasons"][:5]:
        print(f"  rejected: {reason}")


def cmd_intake(args: argparse.Namespace) -> int:
    summary = _intake(_home(args), args)
    if summary is None:
        raise ConfigError("nothing to take in", "pass --feedback, --requests and/or --jsonl")
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        _print_intake(summary)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .iterate import run_iteration

    home = _home(args)
    summary = _intake(home, args)
    if summary is not None and not args.json:
        _print_intake(summary)
    result = run_iteration(home, force=args.force, echo=None if args.json else print)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.skipped:
        print(f"no iteration: {result.skipped}")
    else:
        print(
            f"iteration {result.number} ({result.trigger}) in {result.seconds:.1f}s: "
            f"{result.version} {'promoted' if result.promoted else 'refused by the gate'}; "
            "steps " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import intake

    home = _home(args)
    config = home.config()
    served = Registry(home.root).promoted()
    failures = intake.pending_failures(home)
    out = {
        "served": served.name if served else None,
        "pending_failures": len(failures),
        "trigger_failures": config.trigger_failures,
        "regression_items": len(read_jsonl(home.regression)),
        "corrections": len(read_jsonl(home.corrections)),
        "iterations": len(read_jsonl(home.iterations)),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<18} {v}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    versions = Registry(_home(args).root).versions()
    if args.json:
        print(
            json.dumps(
                [
                    {k: v for k, v in x.to_dict().items() if k != "metrics"}
                    | {
                        "regression": x.metrics.get("regression"),
                        "failures": x.metrics.get("failures"),
                    }
                    for x in versions
                ],
                ensure_ascii=False,
            )
        )
    elif not versions:
        print("no versions yet")
    else:
        print(table(versions))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from .iterate import promote_by_hand

    version = promote_by_hand(_home(args), args.name)
    print(f"promoted {version.name} (dataset {version.dataset}; weights {version.weights})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry = Registry(_home(args).root)
    before = registry.promoted()
    version = registry.rollback()
    print(
        f"rolled back: {before.name if before else '-'} -> {version.name} "
        f"(weights {version.weights})"
    )
    return 0


def cmd_serving(args: argparse.Namespace) -> int:
    """How to serve the promoted version, and point the agent at it."""
    import yaml

    home = _home(args)
    config = home.config()
    version = Registry(home.root).promoted()
    if version is None:
        raise ConfigError("no version is promoted yet", "run the loop first")
    recipe = yaml.safe_load(Path(version.recipe).read_text(encoding="utf-8")) or {}
    api: dict[str, Any] = {
        "model_name_or_path": version.model_path or version.base_model,
        "template": recipe.get("template", "qwen3_nothink"),
        "finetuning_type": "lora" if version.adapter else "full",
        "trust_remote_code": bool(recipe.get("trust_remote_code", False)),
        "infer_backend": "huggingface",
    }
    if version.adapter:
        api["adapter_name_or_path"] = version.adapter
        vllm = (
            f"vllm serve {version.base_model} --enable-lora --lora-modules "
            f"{version.name}={version.adapter}"
        )
    else:
        vllm = f"vllm serve {version.model_path} --served-model-name {version.name}"
    api_path = home.models / version.name / "api.yaml"
    api_path.parent.mkdir(parents=True, exist_ok=True)
    api_path.write_text(yaml.safe_dump(api, sort_keys=False), encoding="utf-8")
    print(
        f"# {version.name} (dataset {version.dataset}); restart the model server after "
        "every promote or rollback:"
    )
    print(
        f"API_HOST=127.0.0.1 API_PORT=8000 API_MODEL_NAME={version.name} "
        f"llamafactory-cli api {api_path}"
    )
    print(f"# or on a GPU host: {vllm}")
    print(
        f"python -m nl2sql_agent serve --dsn {config.dsn} --base-url http://127.0.0.1:8000/v1 "
        f"--model {version.name} --registry {home.root}"
    )
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from . import monitor

    report = monitor.build(args.requests, bucket=args.bucket, feedback=args.feedback)
    paths = monitor.write(report, args.out)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        print("\n".join(monitor.summary_lines(report)))
        print(f"wrote {paths['html']} and {paths['json']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.loop",
        description="The learning loop: feedback and failures become validated training data, "
        "a retrained model must pass an execution-accuracy gate, versions can be rolled back.",
    )
    parser.add_argument("--debug", action="store_true", help="tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def home_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", required=True, metavar="DIR", help="the loop's home directory")

    def sources(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--feedback", action="append", metavar="FILE", help="the agent's feedback.sqlite"
        )
        p.add_argument(
            "--requests",
            action="append",
            metavar="FILE",
            help="the agent's request log (requests.jsonl)",
        )
        p.add_argument(
            "--jsonl",
            action="append",
            metavar="FILE",
            help="plain JSONL: question, sql, corrected_sql, verdict",
        )

    p = sub.add_parser("init", help="create a loop home for a data_create run")
    home_arg(p)
    p.add_argument("--run", required=True, metavar="DIR", help="the data_create run")
    p.add_argument("--dsn", required=True, help="the database (no password in it)")
    p.add_argument("--password-env", metavar="VAR", help="read the password from VAR")
    p.add_argument("--base-model", required=True, help="model_name_or_path to train from")
    p.add_argument(
        "--recipe",
        default=str(ROOT / "configs" / "qwen3_lora.yaml"),
        help="LLaMA-Factory train recipe (default configs/qwen3_lora.yaml)",
    )
    p.add_argument(
        "--predict-recipe",
        default=str(ROOT / "configs" / "qwen3_lora_predict.yaml"),
        help="LLaMA-Factory predict recipe (default configs/qwen3_lora_predict.yaml)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="train recipe override")
    p.add_argument(
        "--predict-set", action="append", metavar="KEY=VALUE", help="predict recipe override"
    )
    p.add_argument("--correction-weight", type=int, default=3, metavar="N")
    p.add_argument("--targeted-per-failure", type=int, default=4, metavar="N")
    p.add_argument(
        "--trigger-failures",
        type=int,
        default=5,
        metavar="N",
        help="`run` starts an iteration when N failures are pending (default 5)",
    )
    p.add_argument(
        "--max-regression-drop",
        type=float,
        default=0.02,
        metavar="X",
        help="the gate: largest allowed drop of regression accuracy (default 0.02)",
    )
    p.add_argument(
        "--min-failure-gain",
        type=float,
        default=0.0,
        metavar="X",
        help="the gate: least gain on the new failures (default: any gain)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--language", default="en", choices=("en", "zh"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("intake", help="take in feedback, request-log failures or a JSONL")
    home_arg(p)
    sources(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_intake)

    p = sub.add_parser("run", help="one iteration: data, train, evaluate, gate, promote")
    home_arg(p)
    sources(p)
    p.add_argument("--force", action="store_true", help="run even below the failure threshold")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="served version, pending failures, threshold")
    home_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("list", help="the model registry")
    home_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("promote", help="serve a version (whatever the gate said)")
    home_arg(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", help="serve again the version served before this one")
    home_arg(p)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("serving", help="the commands that serve the promoted version")
    home_arg(p)
    p.set_defaults(func=cmd_serving)

    p = sub.add_parser("monitor", help="report on the agent's request log, with charts")
    p.add_argument("--requests", required=True, action="append", metavar="FILE")
    p.add_argument("--feedback", metavar="FILE", help="the agent's feedback.sqlite")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--bucket", default="hour", choices=("minute", "hour", "day"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_monitor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
