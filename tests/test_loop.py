"""The learning loop's parts without training: registry, drift, intake, dataset versions,
the gate, monitoring.  The end-to-end scenario with training is tests/test_loop_scenario.py."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from data_create import drift
from data_create.cli import main as data_main
from data_create.errors import ConfigError
from data_create.example import build_sqlite
from data_create.pipeline import RunConfig
from data_create.pipeline import run as make_run
from nl2sql_fine_tuning.loop import cli as loop_cli
from nl2sql_fine_tuning.loop import intake, monitor
from nl2sql_fine_tuning.loop.home import GatePolicy, LoopHome, read_jsonl
from nl2sql_fine_tuning.loop.registry import Registry, RegistryWatch, table
from nl2sql_fine_tuning.loop.train import decide

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def retail(tmp_path_factory) -> Path:
    return build_sqlite(tmp_path_factory.mktemp("loop") / "retail.sqlite")


@pytest.fixture(scope="module")
def base_run(retail, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("loop-run") / "run"
    make_run(RunConfig(dsn=f"sqlite:///{retail}", out=str(out), samples=60, seed=3))
    return out


@pytest.fixture
def world(retail, base_run, tmp_path):
    """A private copy of the database and the run, and a loop home on them."""
    db = tmp_path / "retail.sqlite"
    shutil.copyfile(retail, db)
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    state = json.loads((run / "run.json").read_text())
    state["database"] = f"sqlite:///{db}"
    (run / "run.json").write_text(json.dumps(state))
    home = tmp_path / "loop"
    code = loop_cli.main(
        [
            "init",
            "--home",
            str(home),
            "--run",
            str(run),
            "--dsn",
            f"sqlite:///{db}",
            "--base-model",
            "unused-model",
        ]
    )
    assert code == 0
    return {"db": db, "dsn": f"sqlite:///{db}", "run": run, "home": LoopHome(home)}


def _drift_json(capsys, dsn: str, run: Path, *extra: str) -> dict:
    capsys.readouterr()
    assert data_main(["drift", "--dsn", dsn, "--run", str(run), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _samples_using(run: Path, needle: str) -> int:
    return sum(needle in r["sql"] for r in read_jsonl(run / "samples.jsonl"))


# ---------------------------------------------------------------- registry


def test_registry_promote_rollback_list_and_watch(tmp_path):
    reg = Registry(tmp_path)
    watch = RegistryWatch(tmp_path)
    assert watch() is None
    v1 = reg.add(
        base_model="m",
        adapter="a1",
        model_path=None,
        dataset="d1",
        recipe="r",
        metrics={"regression": {"accuracy": 0.5}},
    )
    v2 = reg.add(
        base_model="m", adapter="a2", model_path=None, dataset="d2", recipe="r", metrics={}
    )
    assert (v1.name, v2.name) == ("v1", "v2")
    with pytest.raises(ConfigError, match="nothing to roll back"):
        reg.rollback()
    reg.promote("v1")
    assert watch().name == "v1"
    reg.promote("v2")
    assert [v.status for v in reg.versions()] == ["retired", "promoted"]
    assert watch().name == "v2"  # a promotion is seen without a restart
    assert reg.rollback().name == "v1"
    assert watch().name == "v1"
    assert [v.status for v in reg.versions()] == ["promoted", "retired"]
    assert [h["action"] for h in reg.history()] == ["promote", "promote", "rollback"]
    with pytest.raises(ConfigError, match="no model version 'v9'"):
        reg.promote("v9")
    text = table(reg.versions())
    assert text.splitlines()[0].split()[:4] == ["name", "status", "gate", "dataset"]
    assert "0.500" in text


def test_registry_cli_errors_are_one_line(tmp_path, capsys):
    assert loop_cli.main(["rollback", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no version is promoted") and err.count("\n") == 1
    assert loop_cli.main(["run", "--home", str(tmp_path / "nope")]) == 2
    assert "is not a learning-loop home" in capsys.readouterr().err


def test_init_refuses_a_password_in_the_dsn(world, tmp_path, capsys):
    code = loop_cli.main(
        [
            "init",
            "--home",
            str(tmp_path / "h2"),
            "--run",
            str(world["run"]),
            "--dsn",
            "postgresql://u:secret@127.0.0.1/db",
            "--base-model",
            "m",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "never a password" in err and "secret" not in err


# ---------------------------------------------------------------- the gate


def test_gate_rules():
    items = [
        {"id": "r1", "set": "regression"},
        {"id": "r2", "set": "regression"},
        {"id": "f1", "set": "failures"},
        {"id": "f2", "set": "failures"},
    ]
    policy = GatePolicy(max_regression_drop=0.1)
    served = {"r1": True, "r2": True, "f1": False, "f2": False}
    good = decide(policy, items, {"r1": True, "r2": True, "f1": True, "f2": False}, served)
    assert good.promote and good.failures_after == 0.5
    forgetful = decide(policy, items, {"r1": True, "r2": False, "f1": True, "f2": True}, served)
    assert not forgetful.promote and "drop of 0.500" in forgetful.reasons[0]
    useless = decide(policy, items, dict(served), served)
    assert not useless.promote and "not improved" in useless.reasons[1]
    first = decide(policy, items, {"r1": False, "r2": False, "f1": False, "f2": False}, None)
    assert first.promote and "first" in first.reasons[0]
    drift_only = decide(policy, items[:2], {"r1": True, "r2": True}, {"r1": True, "r2": True})
    assert drift_only.promote and "only the regression rule" in drift_only.reasons[-1]


# ---------------------------------------------------------------- intake


def test_intake_validates_corrections_and_supersedes(world, tmp_path, capsys):
    from nl2sql_agent.feedback import FeedbackStore

    home = world["home"]
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.add(
        question="How many stores?",
        verdict="corrected",
        sql="SELECT 1",
        corrected_sql="SELECT COUNT(*) FROM stores",
        model_version="v1",
    )
    store.add(
        question="Drop it",
        verdict="corrected",
        sql="",
        corrected_sql="DELETE FROM stores",
        model_version="v1",
    )
    store.add(
        question="Revenue?",
        verdict="corrected",
        sql="",
        corrected_sql="SELECT SUM(revenue) FROM orders",
        model_version="v1",
    )
    store.add(question="Best store?", verdict="down", sql="SELECT store_id FROM orders")
    store.add(
        question="Stores in Beijing",
        verdict="up",
        sql="SELECT store_name FROM stores WHERE city = '北京'",
    )
    store.close()
    log = tmp_path / "requests.jsonl"
    log.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "at": "2026-11-30T10:00:00Z",
                    "question": "q err",
                    "status": "failed",
                    "error": "x",
                },
                {
                    "at": "2026-11-30T10:01:00Z",
                    "question": "q empty",
                    "status": "empty",
                    "empty": True,
                },
                {"at": "2026-11-30T10:02:00Z", "question": "q ok", "status": "ok"},
                {
                    "at": "2026-11-30T10:03:00Z",
                    "question": "which?",
                    "status": "clarify",
                    "kind": "clarify",
                },
            ]
        )
        + "\n"
    )
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        json.dumps(
            {
                "question": "  How   many STORES? ",
                "corrected_sql": "SELECT COUNT(store_id) FROM stores",
            }
        )
        + "\n"
    )
    capsys.readouterr()
    args = [
        "intake",
        "--home",
        str(home.root),
        "--feedback",
        str(tmp_path / "feedback.sqlite"),
        "--requests",
        str(log),
        "--json",
    ]
    assert loop_cli.main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["new"] == 7 and first["corrections_accepted"] == 2
    assert first["corrections_rejected"] == 2
    reasons = " | ".join(first["rejected_reasons"])
    assert "safety" in reasons and "schema" in reasons and "revenue" in reasons
    assert loop_cli.main(args) == 0  # the same sources again add nothing
    again = json.loads(capsys.readouterr().out)
    assert again["new"] == 0 and again["duplicates"] == 7
    assert loop_cli.main(["intake", "--home", str(home.root), "--jsonl", str(plain), "--json"]) == 0
    third = json.loads(capsys.readouterr().out)
    assert third["superseded"] == 1  # the same question, normalised, corrected again
    corrections = read_jsonl(home.corrections)
    assert [c["kind"] for c in corrections] == ["correction", "accepted", "correction"]
    assert corrections[0]["superseded_by"] == corrections[2]["id"]
    assert corrections[2]["question"] == "  How   many STORES? "  # kept as written
    kinds = sorted(r["kind"] for r in intake.pending_failures(home))
    assert kinds == ["corrected", "corrected", "down", "empty", "error"]


# ---------------------------------------------------------------- drift


def test_drift_rename_quarantines_and_regenerates(world, capsys):
    run, dsn, home = world["run"], world["dsn"], world["home"]
    used = _samples_using(run, "store_type")
    # A correction and a regression item that use the column, too.
    corrections = [
        {
            "id": "c1",
            "kind": "correction",
            "question": "Outlets?",
            "sql": "SELECT store_name FROM stores WHERE store_type = 'outlet'",
            "status": "trained",
            "superseded_by": None,
        }
    ]
    home.corrections.write_text("".join(json.dumps(c) + "\n" for c in corrections))
    regression_before = len(read_jsonl(home.regression))
    with sqlite3.connect(world["db"]) as conn:
        conn.execute("ALTER TABLE stores RENAME COLUMN store_type TO store_format")
    # The loop refuses to train on a schema the run does not describe.
    from nl2sql_fine_tuning.loop.iterate import connect, current_metadata

    db = connect(home.config())
    with pytest.raises(ConfigError, match="schema drift"):
        current_metadata(home.config(), db)
    db.dispose()
    dry = _drift_json(capsys, dsn, run, "--dry-run")
    assert dry["changed_tables"] == ["stores"] and not dry["applied"]
    assert _samples_using(run, "store_type") == used  # a dry run changes nothing
    out = _drift_json(capsys, dsn, run, "--regenerate", "4")
    assert out["changed_tables"] == ["stores"]
    assert out["changes"][0]["renamed_columns"] == [["store_type", "store_format"]]
    assert out["quarantined"] >= used + 1
    assert out["quarantined_by_store"]["loop:corrections"] == 1
    assert out["quarantined_by_store"].get("samples", 0) == used
    assert out["regenerated"] == 4 and out["regenerated_by_table"] == {"stores": 4}
    assert _samples_using(run, "store_type") == 0
    assert read_jsonl(home.corrections) == []
    assert len(read_jsonl(home.regression)) == regression_before - out["quarantined_by_store"].get(
        "loop:regression", 0
    )
    quarantine = read_jsonl(run / "quarantine.jsonl")
    assert len(quarantine) == out["quarantined"]
    assert all(q["layer"] == "schema" and "store_type" in q["reason"] for q in quarantine)
    for name in ("train_alpaca.jsonl", "dev_alpaca.jsonl"):
        assert "store_type" not in (run / name).read_text()
    regenerated = [r for r in read_jsonl(run / "samples.jsonl") if r["topic"] == "drift:stores"]
    assert len(regenerated) == 4
    # The run now describes the database: drift is quiet, the loop may train.
    assert _drift_json(capsys, dsn, run)["changed_tables"] == []
    db = connect(home.config())
    current_metadata(home.config(), db)
    db.dispose()
    assert list(run.glob("metadata.*.json"))  # the old structure is kept


def test_drift_dropped_column_and_new_table(world, capsys):
    run, dsn = world["run"], world["dsn"]
    used = _samples_using(run, "registered_at")
    with sqlite3.connect(world["db"]) as conn:
        conn.execute("DROP VIEW v_customer_orders")
        conn.execute("ALTER TABLE customers DROP COLUMN registered_at")
        conn.execute(
            "CREATE TABLE store_reviews (review_id INTEGER PRIMARY KEY, store_id "
            "INTEGER REFERENCES stores(store_id), rating INTEGER, comment TEXT)"
        )
        conn.executemany(
            "INSERT INTO store_reviews VALUES (?, ?, ?, ?)",
            [(i, 1 + i % 20, 1 + i % 5, f"note {i % 7}") for i in range(1, 61)],
        )
    out = _drift_json(capsys, dsn, run, "--regenerate", "3")
    kinds = {c["table"]: c["kind"] for c in out["changes"]}
    assert kinds == {
        "customers": "changed",
        "v_customer_orders": "dropped",
        "store_reviews": "added",
    }
    customers = next(c for c in out["changes"] if c["table"] == "customers")
    assert customers["dropped_columns"] == ["registered_at"]
    used_view = _samples_using(run, "v_customer_orders")
    assert out["quarantined_by_store"].get("samples", 0) >= used
    assert out["quarantined"] >= used + used_view - 0  # every sample on the dropped things
    assert out["regenerated_by_table"].get("store_reviews") == 3
    assert _samples_using(run, "registered_at") == 0
    assert _samples_using(run, "v_customer_orders") == 0
    assert (
        "store_reviews"
        in (run / "train_alpaca.jsonl").read_text() + (run / "dev_alpaca.jsonl").read_text()
    )


def test_drift_diff_reports_a_type_change():
    from data_create.records import Column, SchemaMetadata, Table

    a = SchemaMetadata(
        "sqlite", "sqlite", "db", (Table("t", columns=(Column("x", "integer", "integer"),)),)
    )
    b = a.replace(tables=(Table("t", columns=(Column("x", "text", "text"),)),))
    (change,) = drift.diff(a, b)
    assert change.retyped_columns == (("x", "integer", "text"),)
    assert drift.diff(a, a) == []


def test_drift_on_postgresql(pg_database, tmp_path, capsys):
    """A rename on a real server: the run is made there, the column renamed, drift follows."""
    from data_create.example import load_into

    load_into(pg_database)
    run = tmp_path / "run"
    make_run(RunConfig(dsn=pg_database, out=str(run), samples=40, seed=5))
    used = _samples_using(run, "member_level")
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        pg_database.replace("postgresql://", "postgresql+psycopg2://")
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW IF EXISTS v_customer_orders")
        conn.exec_driver_sql("ALTER TABLE customers RENAME COLUMN member_level TO tier")
    engine.dispose()
    out = _drift_json(capsys, pg_database, run, "--regenerate", "2")
    customers = next(c for c in out["changes"] if c["table"].endswith("customers"))
    assert customers["renamed_columns"] == [["member_level", "tier"]]
    assert out["quarantined_by_store"].get("samples", 0) >= used
    assert _samples_using(run, "member_level") == 0
    assert out["regenerated_by_table"]


# ---------------------------------------------------------------- monitoring


def test_monitor_report_over_time_and_per_version(tmp_path, capsys):
    from nl2sql_agent.feedback import FeedbackStore

    log = tmp_path / "requests.jsonl"
    rows = []
    for i in range(20):
        rows.append(
            {
                "at": f"2026-11-30T{10 + i // 10:02d}:{i:02d}:00+00:00",
                "status": "failed" if i % 5 == 0 else "empty" if i % 7 == 0 else "ok",
                "repairs": 1 if i % 4 == 0 else 0,
                "latency_ms": 100 + 10 * i,
                "model_version": "v1" if i < 10 else "v2",
                "question": f"q{i}",
            }
        )
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.add(question="a", verdict="up", model_version="v2")
    store.add(question="b", verdict="down", model_version="v1")
    store.close()
    report = monitor.build([log], bucket="hour", feedback=tmp_path / "feedback.sqlite")
    assert report["total"]["requests"] == 20
    buckets = list(report["over_time"])
    assert buckets[:2] == ["2026-11-30 10:00", "2026-11-30 11:00"]
    assert report["over_time"][buckets[0]]["requests"] == 10
    # the feedback was given now: its bucket is the current hour
    assert (
        sum(b["feedback"]["up"] + b["feedback"]["down"] for b in report["over_time"].values()) == 2
    )
    v1 = report["by_version"]["v1"]
    assert v1["requests"] == 10 and v1["error_rate"] == 0.2
    assert v1["latency_p50_ms"] == 140 and v1["latency_p95_ms"] == 190
    assert report["by_version"]["v2"]["feedback"]["accepted_share"] == 1.0
    assert report["total"]["repair_rate"] == 0.25
    capsys.readouterr()
    assert (
        loop_cli.main(
            [
                "monitor",
                "--requests",
                str(log),
                "--out",
                str(tmp_path / "m"),
                "--feedback",
                str(tmp_path / "feedback.sqlite"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "version v1" in text and "p95 ms" in text
    page = (tmp_path / "m" / "monitor.html").read_text()
    assert page.count("<svg") >= 14 and "q1" not in page  # counts and timings only


def test_request_log_entry_from_an_answer(tmp_path):
    from nl2sql_agent.core import Answer, Attempt, Step
    from nl2sql_agent.request_log import RequestLog

    answer = Answer(
        question="How many?",
        status="failed",
        sql=None,
        elapsed_ms=12.5,
        attempts=[
            Attempt(1, "x", "SELECT nope", "schema", "unknown column nope"),
            Attempt(2, "y", "SELECT 1 FROM t", "execution", "error: boom"),
        ],
        trace=[Step("generate", 5.0), Step("generate", 4.0), Step("validate", 1.0)],
    )
    log = RequestLog(tmp_path)
    log.log(answer, model_version="v3", client="127.0.0.1")
    (line,) = read_jsonl(log.path)
    assert line["error"] == "execution: error: boom" and line["repairs"] == 1
    assert line["steps"] == {"generate": 9.0, "validate": 1.0}
    assert line["model_version"] == "v3" and line["latency_ms"] == 12.5
    assert [i.kind for i in intake.from_request_log(log.path)] == ["error"]


# ---------------------------------------------------------------- the agent's hooks


def test_agent_server_follows_the_registry_and_logs_requests(tmp_path):
    """Promote and rollback reach a running agent without a restart; every answer is logged."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from data_create import metadata
    from data_create.connect import connect
    from nl2sql_agent.server import create_app
    from tests.fake_llm import FakeLLM, Reply
    from tests.test_agent import make_agent

    db = connect(f"sqlite:///{build_sqlite(tmp_path / 'retail.sqlite')}")
    meta = metadata.extract(db)
    reg = Registry(tmp_path / "loop")
    for name in ("d1", "d2"):
        reg.add(base_model="m", adapter=name, model_path=None, dataset=name, recipe="r", metrics={})
    reg.promote("v1")
    sql = "SELECT COUNT(*) AS n FROM stores"
    with FakeLLM(lambda request, i: Reply(content=sql)) as llm:
        agent = make_agent((db, meta), llm)
        app = create_app(
            agent, tmp_path / "state", rate_per_minute=1000, registry=tmp_path / "loop"
        )
        with TestClient(app) as client:
            first = client.post("/api/ask", json={"question": "how many stores?"}).json()
            reg.promote("v2")
            assert client.get("/api/health").json()["model_version"] == "v2"
            second = client.post("/api/ask", json={"question": "how many stores now?"}).json()
            client.post("/api/feedback", json={"answer_id": second["id"], "verdict": "up"})
            reg.rollback()
            client.post("/api/ask", json={"question": "and now?"})
    assert first["status"] == "ok"
    lines = read_jsonl(tmp_path / "state" / "requests.jsonl")
    assert [line["model_version"] for line in lines] == ["v1", "v2", "v1"]
    assert all(line["status"] == "ok" and line["latency_ms"] > 0 for line in lines)
    assert "generate" in lines[0]["steps"]
    from nl2sql_agent.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "state" / "feedback.sqlite")
    assert store.all()[0]["model_version"] == "v2"
    store.close()
    report = monitor.build([tmp_path / "state" / "requests.jsonl"], bucket="day")
    assert set(report["by_version"]) == {"v1", "v2"}
    db.dispose()


def test_dataset_version_keeps_corrections_in_train_and_the_split_rule(world, tmp_path, capsys):
    from data_create import metadata
    from data_create.targeted import synthesize
    from nl2sql_fine_tuning.loop import dataset
    from nl2sql_fine_tuning.loop.iterate import connect
    from nl2sql_fine_tuning.recipe import check_dataset

    home = world["home"]
    plain = tmp_path / "c.jsonl"
    plain.write_text(
        json.dumps(
            {
                "question": "How many outlet stores are there?",
                "corrected_sql": "SELECT COUNT(*) FROM stores WHERE store_type = 'outlet'",
            }
        )
        + "\n"
    )
    assert loop_cli.main(["intake", "--home", str(home.root), "--jsonl", str(plain)]) == 0
    config = home.config()
    meta = metadata.read(world["run"] / "metadata.json")
    db = connect(config)
    failures = intake.pending_failures(home)
    (request,) = dataset.targeted_requests(failures, meta, 3, tmp_path / "idx")
    assert request.tables == ("stores",) and "count" in request.features
    # What the dataset already holds is known, as iterate.py passes it: the corrections too.
    known = [(c["question"], c["sql"]) for c in read_jsonl(home.corrections)]
    known += [(r["question"], r["sql"]) for r in read_jsonl(world["run"] / "samples.jsonl")]
    made = synthesize(db, meta, [request], id_prefix="t1", known=known)
    db.dispose()
    assert len(made.samples) == 3 and all(s.tables == ("stores",) for s in made.samples)
    assert sum("count" in s.features for s in made.samples) >= 2  # the failure's shape first
    version = dataset.build(
        home,
        config,
        meta,
        corrections=read_jsonl(home.corrections),
        targeted=list(made.samples),
        failures=failures,
        intake_ids=[f["id"] for f in failures],
        parent=None,
    )
    split = json.loads((version.path / "split.json").read_text())
    heldout = {r["id"] for r in read_jsonl(home.regression)}
    assert set(split["dev"]) <= heldout and not set(split["train"]) & heldout
    train = (version.path / "train_alpaca.jsonl").read_text()
    assert train.count("How many outlet stores are there?") == config.correction_weight
    assert "How many outlet stores" not in (version.path / "dev_alpaca.jsonl").read_text()
    lineage = json.loads((version.path / "lineage.json").read_text())
    assert lineage["counts"]["correction"] == 1
    dropped = [d for d in lineage["dropped"] if d["origin"] == "targeted"]
    assert lineage["counts"].get("targeted", 0) + len(dropped) == 3
    assert all("held-out" in d["reason"] for d in dropped)  # never a duplicate of what it had
    assert lineage["fingerprint"] == meta.fingerprint
    origins = {r["origin"] for r in read_jsonl(version.path / "samples.jsonl")}
    assert {"correction", "run", "heldout"} <= origins
    check_dataset(version.path, ["nl2sql_train"], ["nl2sql_dev"])  # no leak, files well formed
    items = read_jsonl(version.path / "eval" / "items.jsonl")
    assert [i["set"] for i in items].count("failures") == 1


def test_serving_commands_for_the_promoted_version(world, tmp_path, capsys):
    import yaml

    home = world["home"]
    recipe = tmp_path / "train.yaml"
    recipe.write_text("template: smollm2\nfinetuning_type: lora\n")
    reg = Registry(home.root)
    reg.add(
        base_model="/models/base",
        adapter="/a/v1",
        model_path=None,
        dataset="d1",
        recipe=str(recipe),
        metrics={},
    )
    reg.promote("v1")
    capsys.readouterr()
    assert loop_cli.main(["serving", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out
    assert "API_MODEL_NAME=v1 llamafactory-cli api" in out
    assert "--lora-modules v1=/a/v1" in out and "--registry" in out
    api = yaml.safe_load((home.models / "v1" / "api.yaml").read_text())
    assert api["adapter_name_or_path"] == "/a/v1" and api["template"] == "smollm2"
