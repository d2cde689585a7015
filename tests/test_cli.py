"""The command line, run as a user runs it: a real subprocess, real databases."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from data_create import metadata as md


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "data_create", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(proc, *must_contain: str, never: tuple[str, ...] = ()):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for text in must_contain:
        assert text in lines[0]
    for text in never:
        assert text not in proc.stderr and text not in proc.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("oracle://scott:tiger-pw@127.0.0.1/orcl", "unknown database engine"),
        ("postgresql://bob:tiger-pw@127.0.0.1:{port}/shop", "cannot reach"),
        ("mysql://bob:tiger-pw@127.0.0.1:{port}/shop", "cannot reach"),
        ("mssql://sa:tiger-pw@127.0.0.1:{port}/erp", "pip install"),
        ("sqlite:///{tmp}/missing.db", "does not exist"),
    ],
)
def test_bad_dsn_is_one_line_without_password(dsn, expected, tmp_path):
    dsn = dsn.format(port=_closed_port(), tmp=tmp_path)
    proc = run_cli(
        "inspect", "--dsn", dsn, "--out", str(tmp_path / "out"), "--connect-timeout", "2"
    )
    assert_one_line_error(proc, expected, never=("tiger-pw",))
    assert not (tmp_path / "out").exists()


def test_wrong_database_and_role_on_postgres(pg_server, tmp_path):
    proc = run_cli(
        "inspect", "--dsn", "postgresql://postgres@127.0.0.1/no_such_db_q", "--out", str(tmp_path)
    )
    assert_one_line_error(proc, "does not exist")
    proc = run_cli(
        "inspect", "--dsn", "postgresql://ghost:pw-123@127.0.0.1/postgres", "--out", str(tmp_path)
    )
    assert_one_line_error(proc, "authentication failed", never=("pw-123",))


def test_inspect_sakila_on_mariadb(sakila_mysql, tmp_path):
    out = tmp_path / "sakila"
    proc = run_cli("inspect", "--dsn", sakila_mysql, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "16 tables, 7 views" in proc.stdout
    meta = md.read(out / "metadata.json")
    assert {"actor", "film", "rental", "payment"} <= {t.name for t in meta.tables}
    cards_md = (out / "table_cards.md").read_text(encoding="utf-8")
    assert "TABLE rental" in cards_md
    assert "-> customer.customer_id" in cards_md
    assert meta.fingerprint in proc.stdout


def test_inspect_chinese_comments_and_filters(mall_mysql, tmp_path):
    out = tmp_path / "mall"
    proc = run_cli(
        "inspect",
        "--dsn",
        mall_mysql,
        "--include",
        "oms_*",
        "--exclude",
        "oms_order_return*",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    meta = md.read(out / "metadata.json")
    names = {t.name for t in meta.tables}
    assert names and all(n.startswith("oms_") for n in names)
    assert not any(n.startswith("oms_order_return") for n in names)
    cards_md = (out / "table_cards.md").read_text(encoding="utf-8")
    assert "订单" in cards_md


def test_inspect_and_validate_on_the_bundled_example(tmp_path):
    env = {"NL2SQL_HOME": str(tmp_path / "home")}
    out = tmp_path / "inspect"
    proc = run_cli("inspect", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    meta = md.read(out / "metadata.json")
    assert 10 <= sum(t.kind == "table" for t in meta.tables) <= 15

    pairs = tmp_path / "pairs.jsonl"
    lines = [
        {"question": "How many orders are there?", "sql": "SELECT COUNT(*) FROM orders"},
        {
            "question": "Customers in 上海",
            "sql": "SELECT full_name FROM customers WHERE city = '上海'",
        },
        {"question": "typo", "sql": "SELECT full_nmae FROM customers"},
        {"question": "delete!", "sql": "DELETE FROM orders"},
        {"question": "broken", "sql": "SELECT FROM WHERE"},
        {"sql": "SELECT 1"},
    ]
    pairs.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json at all\n",
        encoding="utf-8",
    )
    out = tmp_path / "validated"
    proc = run_cli("validate", "--input", str(pairs), "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    valid = [json.loads(x) for x in (out / "valid.jsonl").read_text(encoding="utf-8").splitlines()]
    rejects = [
        json.loads(x) for x in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(valid) + len(rejects) == 7  # nothing dropped silently
    assert [v["question"] for v in valid] == ["How many orders are there?", "Customers in 上海"]
    assert valid[0]["validation"]["rows"] == 1 and valid[1]["validation"]["rows"] > 0
    layers = sorted(r["layer"] for r in rejects)
    assert "schema" in layers and "safety" in layers and "syntax" in layers and "input" in layers
    typo = next(r for r in rejects if r.get("question") == "typo")
    assert "full_nmae" in typo["reason"] and "did you mean full_name" in typo["reason"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["total"] == 7

    proc = run_cli(
        "validate", "--input", str(pairs), "--out", str(out), "--fail-on-reject", env=env
    )
    assert proc.returncode == 1


def test_validate_missing_input_is_one_line(tmp_path):
    proc = run_cli("validate", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path))
    assert_one_line_error(proc, "does not exist")


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("generate", "inspect", "validate"):
        assert command in proc.stdout


def test_generate_errors_are_one_line(tmp_path):
    proc = run_cli("--dsn", "oracle://x:secret-9@h/db", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "unknown database engine", never=("secret-9",))
    proc = run_cli("--samples", "0", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "--samples")
    proc = run_cli("--config", str(tmp_path / "missing.yaml"))
    assert_one_line_error(proc, "does not exist")


def test_yaml_values_are_not_overridden_by_parser_defaults(tmp_path):
    from data_create.cli import build_parser, generate_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("connect_timeout: 3\ntimeout: 4\nconcurrency: 2\nsamples: 50\n")
    args = build_parser().parse_args(["generate", "--config", str(cfg)])
    config = generate_config(args)
    assert (config.connect_timeout, config.timeout, config.concurrency) == (3, 4.0, 2)
    args = build_parser().parse_args(["generate", "--config", str(cfg), "--connect-timeout", "7"])
    assert generate_config(args).connect_timeout == 7  # the command line still wins
    assert generate_config(build_parser().parse_args(["generate"])).connect_timeout == 10


def test_wrongly_typed_yaml_values_are_one_line_each_and_exit_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    for text, key in (
        ('samples: "twenty"', "samples"),
        ("include: 5", "include"),
        ("out: 5", "out"),
    ):
        cfg.write_text(text + "\n")
        proc = run_cli("--config", str(cfg))
        assert_one_line_error(proc, f"{cfg}: {key} must be")
    cfg.write_text('samples: "twenty"\ninclude: 5\nout: 5\nmix: {easy: lots}\n')
    proc = run_cli("--config", str(cfg))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 4 and all(f"{cfg}: " in line for line in lines), proc.stderr
