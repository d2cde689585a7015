"""The whole training chain on CPU in about a minute: the end-to-end smoke test.

    data_create (bundled example DB) -> tiny Qwen3 model (built locally)
      -> llamafactory-cli train (LoRA) -> predict (dev split) -> export (merge)
      -> llamafactory-cli api on 127.0.0.1 -> one chat completion with the openai client

Everything runs offline (``HF_HUB_OFFLINE=1`` and friends), on CPU
(``CUDA_VISIBLE_DEVICES=""``), with every cache inside the work directory; the
recipes are ``configs/tiny/*.yaml`` with paths overridden as ``key=value`` arguments,
which is also how a user points the real recipes at their own model and data::

    python -m nl2sql_fine_tuning.smoke --workdir runs/smoke

Needs the training extra (``bash nl2sql_fine_tuning/install_train_cpu.sh`` on CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from data_create import prompt, rundir
from data_create.cli import run_command as run_cli_command
from data_create.errors import Nl2SqlError

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "configs" / "tiny"
MODEL_NAME = "nl2sql-tiny"
SERVER_READY_TIMEOUT = 180.0
SERVER_STOP_TIMEOUT = 15.0


class SmokeFailed(Nl2SqlError):
    hint = "see the step's log named above"


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    log: str | None = None


@dataclass(frozen=True)
class ApiAnswer:
    base_url: str
    models: tuple[str, ...]  # ids listed by /v1/models
    question: str
    dialect: str
    text: str  # the assistant message as served
    sql: str  # prompt.extract_sql(text)
    # What the server says it generated: the tiny model's greedy answer may be only
    # whitespace, the chain still served it (a real model's text is judged by evaluation).
    completion_tokens: int = 0
    finish_reason: str = ""


@dataclass
class SmokeResult:
    workdir: str
    data_dir: str
    model_dir: str
    lora_dir: str
    predict_dir: str
    merged_dir: str
    steps: list[Step] = field(default_factory=list)
    api: ApiAnswer | None = None

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = self.seconds
        return d

    def table(self) -> str:
        width = max(len(s.name) for s in self.steps)
        rows = [f"{'step':<{width}}  seconds"]
        rows += [f"{s.name:<{width}}  {s.seconds:7.1f}" for s in self.steps]
        rows.append(f"{'total':<{width}}  {self.seconds:7.1f}")
        return "\n".join(rows)


def environment(workdir: str | os.PathLike[str]) -> dict[str, str]:
    """The environment of every step: offline, CPU only, caches inside ``workdir``."""
    work = Path(workdir).resolve()
    cache = work / "cache"
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HOME": str(cache / "hf"),
            "HF_DATASETS_CACHE": str(cache / "hf" / "datasets"),
            "XDG_CACHE_HOME": str(cache),
            "TRITON_CACHE_DIR": str(cache / "triton"),
            "MPLCONFIGDIR": str(cache / "matplotlib"),
            "NL2SQL_HOME": str(work / "home"),  # the bundled example DB is built here
            "CUDA_VISIBLE_DEVICES": "",
            "DISABLE_VERSION_CHECK": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "WANDB_DISABLED": "true",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1",
            # Our own loopback calls must never go through a proxy.
            "NO_PROXY": ",".join(filter(None, ["127.0.0.1,localhost", env.get("NO_PROXY")])),
            "no_proxy": ",".join(filter(None, ["127.0.0.1,localhost", env.get("no_proxy")])),
        }
    )
    for key in ("FORCE_TORCHRUN", "USE_V1", "API_KEY"):
        env.pop(key, None)
    return env


def _llamafactory_cli() -> str:
    beside = Path(sys.executable).parent / "llamafactory-cli"
    found = str(beside) if beside.exists() else shutil.which("llamafactory-cli")
    if not found:
        raise SmokeFailed(
            "llamafactory-cli is not installed",
            "install the training extra: bash nl2sql_fine_tuning/install_train_cpu.sh (CPU) "
            'or pip install "nl2sql-factory[train]"',
        )
    return found


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_command(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Step:
    """Run one step, its output into ``logs/<name>.log``; raise :class:`SmokeFailed` on failure."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        done = subprocess.run(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SmokeFailed(
            f"step {name!r} failed with exit code {done.returncode} (log: {log})\n{_tail(log)}"
        )
    return Step(name, seconds, str(log))


def _overrides(**values: str | os.PathLike[str]) -> list[str]:
    return [f"{k}={v}" for k, v in values.items()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it after a timeout."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=SERVER_STOP_TIMEOUT)


@contextlib.contextmanager
def serve(
    config: Path,
    model_dir: str | os.PathLike[str],
    env: dict[str, str],
    log: Path,
    port: int | None = None,
    model_name: str = MODEL_NAME,
) -> Iterator[str]:
    """Run ``llamafactory-cli api`` on 127.0.0.1 until the block ends; yields its base URL."""
    port = port or free_port()
    env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_MODEL_NAME": model_name}
    argv = [_llamafactory_cli(), "api", str(config), *_overrides(model_name_or_path=model_dir)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so _stop reaches any children
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log)
        yield base_url
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    deadline = time.monotonic() + SERVER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SmokeFailed(
                f"llamafactory-cli api exited with code {proc.returncode} (log: {log})\n{_tail(log)}"
            )
        try:
            with opener.open(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise SmokeFailed(
        f"llamafactory-cli api did not answer {base_url}/models within "
        f"{SERVER_READY_TIMEOUT:.0f}s (log: {log})\n{_tail(log)}"
    )


def ask(base_url: str, question: str, dialect: str, model_name: str = MODEL_NAME) -> ApiAnswer:
    """List the served models and ask one question in the training prompt format, greedily."""
    import httpx
    from openai import OpenAI

    # trust_env=False: a proxy from the environment must not see loopback traffic.
    with httpx.Client(trust_env=False, timeout=120) as http:
        client = OpenAI(base_url=base_url, api_key="unused", http_client=http, max_retries=0)
        models = tuple(m.id for m in client.models.list())
        completion = client.chat.completions.create(
            model=model_name,
            messages=prompt.messages(question, dialect),  # type: ignore[arg-type]
            temperature=0,
            max_tokens=32,
        )
    choice = completion.choices[0]
    text = choice.message.content or ""
    tokens = completion.usage.completion_tokens if completion.usage else 0
    return ApiAnswer(
        base_url, models, question, dialect, text, prompt.extract_sql(text), tokens,
        choice.finish_reason or "",
    )  # fmt: skip


def first_dev_sample(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The first dev-split sample of a data_create run (question, sql, dialect...)."""
    data = Path(data_dir)
    if not rundir.split_ids(data, "dev"):
        raise SmokeFailed(f"{data} has an empty dev split", "generate more samples")
    return rundir.split_items(data, "dev")[0].sample


def run(
    workdir: str | os.PathLike[str],
    *,
    samples: int = 200,
    config_dir: str | os.PathLike[str] = CONFIG_DIR,
    echo: bool = False,
) -> SmokeResult:
    """Run the chain in ``workdir`` (created; earlier outputs there are overwritten)."""
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    configs = Path(config_dir).resolve()
    env = environment(work)
    logs = work / "logs"
    cli = _llamafactory_cli()
    result = SmokeResult(
        workdir=str(work),
        data_dir=str(work / "data"),
        model_dir=str(work / "model"),
        lora_dir=str(work / "lora"),
        predict_dir=str(work / "predict"),
        merged_dir=str(work / "merged"),
    )

    def step(name: str, argv: list[str]) -> None:
        if echo:
            print(f"== {name}", flush=True)
        result.steps.append(run_command(name, argv, env, logs))

    py = sys.executable
    step("data_create", [py, "-m", "data_create", "--samples", str(samples),
                         "--out", result.data_dir, "-q"])  # fmt: skip
    step("tiny_model", [py, "-m", "nl2sql_fine_tuning.tiny_model",
                        "--out", result.model_dir, "--data", result.data_dir])  # fmt: skip
    paths = {"model_name_or_path": result.model_dir, "dataset_dir": result.data_dir}
    step("train", [cli, "train", str(configs / "train.yaml"),
                   *_overrides(**paths, output_dir=result.lora_dir)])  # fmt: skip
    step("predict", [cli, "train", str(configs / "predict.yaml"),
                     *_overrides(**paths, adapter_name_or_path=result.lora_dir,
                                 output_dir=result.predict_dir)])  # fmt: skip
    step("export", [cli, "export", str(configs / "merge.yaml"),
                    *_overrides(model_name_or_path=result.model_dir,
                                adapter_name_or_path=result.lora_dir,
                                export_dir=result.merged_dir)])  # fmt: skip

    if echo:
        print("== api", flush=True)
    sample = first_dev_sample(result.data_dir)
    started = time.perf_counter()
    with serve(configs / "api.yaml", result.merged_dir, env, logs / "api.log") as base_url:
        ready = time.perf_counter()
        result.api = ask(base_url, sample["question"], sample["dialect"])
    stopped = time.perf_counter()
    result.steps.append(Step("api_start", ready - started, str(logs / "api.log")))
    result.steps.append(Step("api_query_stop", stopped - ready, str(logs / "api.log")))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nl2sql_fine_tuning.smoke",
        description="Run the LLaMA-Factory chain end to end on CPU with a tiny local model: "
        "data_create -> tiny model -> train LoRA -> predict -> merge -> API query.",
    )
    parser.add_argument(
        "--workdir", required=True, help="directory for every output, log and cache of the run"
    )
    parser.add_argument(
        "--samples", type=int, default=200, help="samples data_create generates (default 200)"
    )
    parser.add_argument(
        "--configs",
        default=str(CONFIG_DIR),
        help=f"directory with train/predict/merge/api.yaml (default {CONFIG_DIR})",
    )
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = parser.parse_args(argv)
    # A user error (no training stack, a failed step) is one line and exit 2, as in every
    # other command of the project.
    return run_cli_command(lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    result = run(args.workdir, samples=args.samples, config_dir=args.configs, echo=True)
    print(result.table())
    if result.api is not None:
        print(f"api: {result.api.base_url} models={list(result.api.models)}")
        print(f"  question: {result.api.question}")
        print(f"  answer:   {result.api.text!r}")
        print(f"  tokens:   {result.api.completion_tokens} ({result.api.finish_reason})")
        print(f"  sql:      {result.api.sql!r}")
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
