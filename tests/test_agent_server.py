"""The agent's HTTP API (FastAPI TestClient) against SQLite and the fake OpenAI server."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from nl2sql_agent.server import create_app
from tests.fake_llm import FakeLLM, Reply
from tests.test_agent import make_agent, retail  # noqa: F401

SQL = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC"


@pytest.fixture
def served(retail, tmp_path):  # noqa: F811
    with FakeLLM(lambda request, i: Reply(content=SQL)) as llm:
        agent = make_agent(retail, llm)
        app = create_app(agent, tmp_path, rate_per_minute=1000)
        with TestClient(app) as client:
            yield client, tmp_path, llm


def test_ask_json_and_streamed(served):
    client, _, _ = served
    answer = client.post("/api/ask", json={"question": "orders per status"}).json()
    assert answer["sql"] == SQL and answer["columns"] == ["status", "n"]
    assert answer["chart_kind"] == "bar" and answer["svg"].startswith("data:image/svg+xml;base64,")
    with client.stream(
        "POST", "/api/ask", json={"question": "again"}, headers={"Accept": "text/event-stream"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
            for block in response.read().decode().strip().split("\n\n")
        ]
    kinds = [k for k, _ in events]
    assert kinds[-1] == "answer" and kinds.count("step") >= 6
    assert [d["name"] for k, d in events if k == "step"][:3] == ["retrieve", "prompt", "generate"]


def test_follow_up_history_run_chart_csv(served):
    client, _, llm = served
    first = client.post("/api/ask", json={"question": "orders per status"}).json()
    cid = first["conversation_id"]
    client.post("/api/ask", json={"question": "and only shipped?", "conversation_id": cid})
    assert [m["role"] for m in llm.requests[1]["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    turns = client.get("/api/history", params={"conversation_id": cid}).json()["turns"]
    assert [t["question"] for t in turns] == ["orders per status", "and only shipped?"]

    edited = client.post(
        "/api/run", json={"sql": "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel",
                          "question": "per channel", "conversation_id": cid},
    ).json()  # fmt: skip
    assert edited["status"] == "ok" and edited["attempts"][0]["source"] == "user"
    refused = client.post("/api/run", json={"sql": "DROP TABLE orders"}).json()
    assert refused["status"] == "failed" and refused["attempts"][0]["layer"] == "safety"

    pie = client.post("/api/chart", json={"answer_id": edited["id"], "kind": "pie"}).json()
    assert pie["chart"]["mark"]["type"] == "arc" and pie["svg"]
    assert (
        client.post("/api/chart", json={"answer_id": edited["id"], "kind": "scatter"}).status_code
        == 400
    )

    text = client.get(f"/api/answers/{first['id']}.csv").text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["status", "n"] and len(rows) == 6
    assert client.get("/api/answers/nope.csv").status_code == 404


def test_feedback_is_stored_with_model_and_result_hash(served):
    client, state_dir, _ = served
    answer = client.post("/api/ask", json={"question": "orders per status"}).json()
    up = client.post("/api/feedback", json={"answer_id": answer["id"], "verdict": "up"}).json()
    fixed = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status"
    corrected = client.post(
        "/api/feedback",
        json={"answer_id": answer["id"], "verdict": "down", "corrected_sql": fixed},
    ).json()
    assert corrected["verdict"] == "corrected"
    bad = client.post(
        "/api/feedback",
        json={"answer_id": answer["id"], "verdict": "down", "corrected_sql": "DELETE FROM orders"},
    )
    assert bad.status_code == 400 and "not stored" in bad.json()["detail"]
    conn = sqlite3.connect(state_dir / "feedback.sqlite")
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]
    assert [r["verdict"] for r in rows] == ["up", "corrected"] and up["id"] == rows[0]["id"]
    assert rows[0]["question"] == "orders per status" and rows[0]["sql"] == SQL
    assert rows[0]["result_hash"] == answer["result_hash"] and rows[0]["model"] == "fake-model"
    assert rows[1]["corrected_sql"] == fixed and rows[1]["corrected_hash"]
    assert client.get("/api/health").json()["feedback"] == {"corrected": 1, "up": 1}


def test_api_key_and_rate_limit(retail, tmp_path):  # noqa: F811
    with FakeLLM(lambda request, i: Reply(content=SQL)) as llm:
        app = create_app(make_agent(retail, llm), tmp_path, api_key="s3cret", rate_per_minute=3)
        with TestClient(app) as client:
            assert client.get("/api/health").status_code == 200  # open: the page needs it
            assert client.post("/api/run", json={"sql": "SELECT 1"}).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (
                client.post("/api/run", json={"sql": "SELECT 1"}, headers=wrong).status_code == 401
            )
            key = {"X-API-Key": "s3cret"}
            codes = [
                client.post("/api/run", json={"sql": "SELECT 1"}, headers=key).status_code
                for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]
            page = client.get("/")
            assert page.status_code == 200 and "Ask your database" in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert client.get("/static/app.js").status_code == 200
            assert client.get("/static/..%2Fserver.py").status_code == 404


def test_cli_serve_binds_loopback_and_refuses_open_host_without_key(retail, tmp_path):  # noqa: F811
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    db, _ = retail
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    base = [sys.executable, "-m", "nl2sql_agent", "serve", "--dsn", f"sqlite:///{db.url.database}",
            "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--state-dir", str(tmp_path)]  # fmt: skip
    refused = subprocess.run(
        [*base, "--host", "0.0.0.0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert refused.returncode == 2 and "without an API key" in refused.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*base, "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                body = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/health", timeout=2
                ).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.3)
        assert b'"dialect":"sqlite"' in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
