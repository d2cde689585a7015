"""The generation pipeline end to end: artifacts, determinism, kill and resume, config."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_create import example
from data_create.errors import ConfigError
from data_create.pipeline import RunConfig, read_jsonl, run

ARTIFACTS = (
    "metadata.json", "table_cards.md", "plan.json", "samples.jsonl", "rejects.jsonl",
    "train_alpaca.jsonl", "dev_alpaca.jsonl", "train_sharegpt.jsonl", "dev_sharegpt.jsonl",
    "dataset_info.json", "report.json", "report.md", "report.html", "run.json",
)  # fmt: skip


@pytest.fixture(scope="module")
def retail(tmp_path_factory) -> str:
    """A private copy of the example database."""
    path = tmp_path_factory.mktemp("retail") / "retail.sqlite"
    example.build_sqlite(path)
    return f"sqlite:///{path}"


def pairs(out: Path) -> list[tuple[int, str, str]]:
    return [(r["seq"], r["question"], r["sql"]) for r in read_jsonl(out / "samples.jsonl")]


def test_run_makes_every_artifact_and_the_requested_count(retail, tmp_path):
    out = tmp_path / "run"
    result = run(RunConfig(dsn=retail, out=str(out), samples=120, seed=3))
    assert result.accepted == 120
    for name in ARTIFACTS:
        assert (out / name).exists(), name
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 120
    assert len({s["id"] for s in samples}) == 120
    for s in samples:
        assert s["dialect"] == "sqlite" and s["validation"]["rows"] > 0
        assert s["difficulty"] in ("easy", "medium", "hard")
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert sum(t["count"] for t in plan["topics"]) == 120
    # Every reject names its layer and reason.
    for r in read_jsonl(out / "rejects.jsonl"):
        assert r["layer"] and r["reason"]
    # train + dev hold every sample once.
    exported = sum(
        len((out / f).read_text(encoding="utf-8").splitlines())
        for f in ("train_alpaca.jsonl", "dev_alpaca.jsonl")
    )
    assert exported == 120


def test_same_seed_same_dataset_other_seed_other_dataset(retail, tmp_path):
    a = run(RunConfig(dsn=retail, out=str(tmp_path / "a"), samples=80, seed=11)).out_dir
    b = run(RunConfig(dsn=retail, out=str(tmp_path / "b"), samples=80, seed=11)).out_dir
    c = run(RunConfig(dsn=retail, out=str(tmp_path / "c"), samples=80, seed=12)).out_dir
    assert pairs(a) == pairs(b)
    assert pairs(a) != pairs(c)
    for name in ("train_alpaca.jsonl", "dev_alpaca.jsonl", "plan.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_existing_run_is_not_overwritten_without_a_flag(retail, tmp_path):
    out = tmp_path / "r"
    run(RunConfig(dsn=retail, out=str(out), samples=10))
    with pytest.raises(ConfigError, match="already holds a run"):
        run(RunConfig(dsn=retail, out=str(out), samples=10))
    with pytest.raises(ConfigError, match="seed"):
        run(RunConfig(dsn=retail, out=str(out), samples=10, seed=99, resume=True))
    again = run(RunConfig(dsn=retail, out=str(out), samples=10, overwrite=True))
    assert again.accepted == 10 and again.resumed_from == 0


def test_resume_of_a_finished_run_adds_nothing(retail, tmp_path):
    out = tmp_path / "r"
    first = run(RunConfig(dsn=retail, out=str(out), samples=40, seed=5))
    before = pairs(out)
    again = run(RunConfig(dsn=retail, out=str(out), samples=40, seed=5, resume=True))
    assert again.resumed_from == 40 and again.accepted == 40
    assert pairs(out) == before
    assert first.accepted == 40


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "data_create", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_kill_at_random_points_then_resume(retail, tmp_path):
    """SIGKILL the real CLI six times at random points; resume; nothing lost or doubled."""
    n = 400
    args = ["--dsn", retail, "--samples", str(n), "--seed", "21", "-q"]
    env = {"PYTHONUNBUFFERED": "1"}
    reference = tmp_path / "reference"
    proc = _cli(*args, "--out", str(reference), env=env)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()

    out = tmp_path / "killed"
    rng = random.Random(1234)
    thresholds = sorted(rng.sample(range(1, n - 1), 5))
    kills = 0
    # First kill: early, at a random moment (connect, metadata, plan or first samples).
    proc = _cli(*args, "--out", str(out), env=env)
    time.sleep(rng.uniform(0.2, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    for threshold in thresholds:
        proc = _cli(*args, "--out", str(out), "--resume", env=env)
        deadline = time.monotonic() + 120
        while _lines(out / "samples.jsonl") < threshold and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        # Every JSONL file parses after a kill (a torn last line is repaired on resume,
        # and readers without repair see only whole lines or a clear error).
        for path in out.glob("*.jsonl"):
            read_jsonl(path, repair=True)
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line)
    assert kills >= 5
    proc = _cli(*args, "--out", str(out), "--resume", env=env)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()

    got = pairs(out)
    assert len(got) == n
    assert len({sql for _, _, sql in got}) == n  # no duplicates
    assert got == pairs(reference)  # nothing lost, same dataset as an uninterrupted run
    for name in ("train_alpaca.jsonl", "dev_alpaca.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_config_file_and_command_line_precedence(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("samples: 50\nlanguage: zh\nschema: [public]\ninclude: 'a_*,b_*'\n")
    config = RunConfig.from_sources(str(cfg), {"samples": 7, "language": None})
    assert (config.samples, config.language) == (7, "zh")
    assert config.schemas == ("public",) and config.include == ("a_*", "b_*")
    cfg.write_text("sampels: 50\n")
    with pytest.raises(ConfigError, match="unknown option"):
        RunConfig.from_sources(str(cfg), {})
    with pytest.raises(ConfigError, match="language"):
        RunConfig(language="fr")
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.from_sources(str(tmp_path / "none.yaml"), {})


def test_torn_last_line_is_repaired(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    with pytest.raises(ConfigError, match="damaged"):
        read_jsonl(path)
    assert read_jsonl(path, repair=True) == [{"a": 1}, {"a": 2}]
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'


def test_cli_default_command_on_the_bundled_database(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "data_create", "--samples", "30", "--language", "zh", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NL2SQL_HOME": str(tmp_path / "home")},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "retail_v1"
    assert len(read_jsonl(out / "samples.jsonl")) == 30
    assert "30 / 30" in proc.stdout
    first = read_jsonl(out / "samples.jsonl")[0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in first["question"])


def test_static_only_run_with_schema_cards_in_the_prompts(retail, tmp_path):
    out = tmp_path / "static"
    result = run(
        RunConfig(
            dsn=retail, out=str(out), samples=40, execute=False, schema_context="cards",
            language="zh",
        )
    )  # fmt: skip
    assert result.accepted == 40
    samples = read_jsonl(out / "samples.jsonl")
    assert all(s["validation"] == {"executed": False} for s in samples)
    record = json.loads((out / "train_alpaca.jsonl").read_text(encoding="utf-8").splitlines()[0])
    sample = next(s for s in samples if s["sql"] == record["output"])
    # The cards of the sample's tables come before the question in the user turn.
    for table in sample["tables"]:
        assert f"TABLE {table}" in record["instruction"]
    assert record["instruction"].index("TABLE") < record["instruction"].index(sample["question"])
