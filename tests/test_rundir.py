"""The run directory's contract (data_create.rundir), and the tools that read it back.

The end-to-end case: a run made as a PostgreSQL role with a password (given through an
environment variable) leaves no trace of that password in the run directory, and
``eval_model`` and ``vllm_test`` reach the database again from ``run.json`` alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _pg_admin, create_pg_database, drop_pg_database, unique_name

from data_create import connect as connect_mod
from data_create import prompt, rundir
from data_create.errors import ConfigError


def test_strip_password_removes_every_form_and_keeps_the_rest():
    assert rundir.strip_password("postgresql://u:p%40ss@h:5432/db") == "postgresql://u@h:5432/db"
    assert (
        rundir.strip_password("mysql+pymysql://u@h/db?charset=utf8mb4&passwd=x")
        == "mysql+pymysql://u@h/db?charset=utf8mb4"
    )
    assert "***" not in rundir.strip_password("postgresql://u:***@h/db")


def test_read_jsonl_skips_blank_lines_and_names_a_damaged_one(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n[3]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 4 is not a JSON object"):
        rundir.read_jsonl(path)
    assert rundir.read_jsonl(tmp_path / "missing.jsonl") == []
    path.write_text('{"a": 1}\n{"a": 2}', encoding="utf-8")  # hand-edited: no final newline
    assert rundir.read_jsonl(path) == [{"a": 1}, {"a": 2}]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.json"
    rundir.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), rundir.atomic_open(path) as f:
        f.write("half")
        raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


def test_alpaca_messages_invert_alpaca_record():
    record = prompt.alpaca_record("How many?", "SELECT 1", "postgres", "TABLE t", "zh")
    assert prompt.alpaca_messages(record) == tuple(
        prompt.messages("How many?", "postgres", "TABLE t", "zh")
    )
    assert prompt.alpaca_messages({"instruction": "a", "input": "b"}) == (
        {"role": "user", "content": "a\nb"},
    )


# ---------------------------------------------------------------- a password-protected run

_SCHEMA = """
CREATE TABLE customers (
    customer_id integer PRIMARY KEY,
    name text NOT NULL,
    city text NOT NULL,
    signed_up date NOT NULL
);
CREATE TABLE orders (
    order_id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (customer_id),
    status text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    ordered_at date NOT NULL
);
INSERT INTO customers
SELECT i, 'customer ' || i, (ARRAY['Beijing', 'Shanghai', 'Shenzhen', 'Hangzhou'])[1 + i % 4],
       DATE '2024-01-01' + i
FROM generate_series(1, 60) AS i;
INSERT INTO orders
SELECT i, 1 + i % 60, (ARRAY['paid', 'shipped', 'cancelled'])[1 + i % 3],
       (i * 37 % 500) + 0.5, DATE '2024-03-01' + i % 90
FROM generate_series(1, 400) AS i;
"""

PASSWORD_VAR = "NL2SQL_TEST_RUNDIR_PASSWORD"


@pytest.fixture(scope="module")
def protected_pg(pg_server) -> Iterator[tuple[str, str, str]]:
    """A database, a read-only role with a password, and that password."""
    name = unique_name("rundir")
    create_pg_database(name)
    role, password = f"nl2sql_pw_{uuid.uuid4().hex[:8]}", f"S3cret-{uuid.uuid4().hex}"
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(_SCHEMA)
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
        cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    conn.close()
    yield f"postgresql://{role}@127.0.0.1:5432/{name}", role, password
    drop_pg_database(name)
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {role}")
    admin.close()


@pytest.fixture
def passwords_seen(monkeypatch) -> list[str | None]:
    """The password of every engine connect() builds: what reached the driver.

    The test server trusts 127.0.0.1 (it would accept any password), so the test proves
    the password arrives by watching the one place every connection is made."""
    seen: list[str | None] = []
    real = connect_mod.create_engine

    def spy(url, *args, **kwargs):
        seen.append(url.password)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(connect_mod, "create_engine", spy)
    return seen


@pytest.fixture(scope="module")
def protected_run(protected_pg, tmp_path_factory) -> Path:
    from data_create.pipeline import RunConfig, run

    dsn, _, password = protected_pg
    out = tmp_path_factory.mktemp("protected") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_VAR, password)
        mp.setenv("NL2SQL_ALLOW_PRIVILEGED_ROLE", "0")  # a real read-only role
        result = run(RunConfig(dsn=dsn, password_env=PASSWORD_VAR, out=str(out), samples=40))
    assert result.accepted >= 20
    return out


def test_the_password_is_never_written_to_the_run_directory(protected_pg, protected_run):
    dsn, _, password = protected_pg
    for path in protected_run.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    state = json.loads((protected_run / "run.json").read_text(encoding="utf-8"))
    assert state["dsn"] == dsn.replace("postgresql://", "postgresql+psycopg2://")
    assert state["password_env"] == PASSWORD_VAR
    assert "***" not in state["dsn"]  # nothing masked to un-mask


def _gold_predictions(run: Path) -> list:
    from nl2sql_fine_tuning.eval_model import Prediction

    return [Prediction(text=item.sample["sql"]) for item in rundir.split_items(run, "dev")]


def test_eval_model_reaches_the_protected_database_from_the_run(
    protected_pg, protected_run, passwords_seen, monkeypatch, tmp_path
):
    from nl2sql_fine_tuning.eval_model import evaluate

    _, _, password = protected_pg
    monkeypatch.setenv(PASSWORD_VAR, password)
    monkeypatch.setenv("NL2SQL_ALLOW_PRIVILEGED_ROLE", "0")
    result = evaluate(protected_run, _gold_predictions(protected_run), text_match=False)
    assert result.samples and all(s.correct for s in result.samples)
    assert passwords_seen == [password]  # read from the variable run.json names

    monkeypatch.delenv(PASSWORD_VAR)
    with pytest.raises(ConfigError, match=PASSWORD_VAR):
        evaluate(protected_run, _gold_predictions(protected_run), text_match=False)


def test_vllm_test_reaches_the_protected_database_from_the_run(
    protected_pg, protected_run, passwords_seen, monkeypatch, tmp_path, capsys
):
    pytest.importorskip("openai")
    from fake_llm import FakeLLM, Reply

    from nl2sql_fine_tuning import vllm_test

    _, _, password = protected_pg
    monkeypatch.setenv(PASSWORD_VAR, password)
    monkeypatch.setenv("NL2SQL_ALLOW_PRIVILEGED_ROLE", "0")
    prompts = vllm_test.load_prompts(protected_run)
    gold = {p.messages[-1]["content"]: p.gold_sql for p in prompts}

    def script(request, index):
        return Reply(content=gold[request["messages"][-1]["content"]])

    out = tmp_path / "load.json"
    args = ["--model", "m", "--data", str(protected_run), "--concurrency", "2", "--execute"]
    with FakeLLM(script) as llm:
        assert vllm_test.main([*args, "--base-url", llm.base_url, "--out", str(out)]) == 0
    [level] = json.loads(out.read_text(encoding="utf-8"))["levels"]
    assert level["execution"]["accuracy"] == 1.0
    assert passwords_seen == [password]

    monkeypatch.delenv(PASSWORD_VAR)
    capsys.readouterr()
    assert vllm_test.main([*args, "--base-url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert PASSWORD_VAR in err and err.count("\n") == 1 and password not in err
