"""The agent's web page in a real headless Chromium (Debian's chromium, driven by Playwright).

ask -> steps, SQL, table and chart visible -> edit the SQL -> re-run -> thumbs down
stored in the feedback file; then a 10,000-row result.  Screenshots land in
tests/output/agent/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
playwright_sync = pytest.importorskip("playwright.sync_api")

from nl2sql_agent.server import create_app  # noqa: E402
from tests.conftest import IN_CI  # noqa: E402
from tests.fake_llm import FakeLLM, Reply  # noqa: E402
from tests.test_agent import make_agent, retail  # noqa: E402, F401

OUT = Path(__file__).resolve().parent / "output" / "agent"
CHROMIUM = os.environ.get("NL2SQL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page_server(retail, tmp_path):  # noqa: F811
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    answers = {
        "How many orders per status?": "SELECT status, COUNT(*) AS n FROM orders GROUP BY status "
        "ORDER BY n DESC",
    }

    def script(request, i):
        question = request["messages"][-1]["content"].rsplit("\n", 1)[-1]
        return Reply(content=answers.get(question, "SELECT COUNT(*) AS n FROM orders"))

    with FakeLLM(script) as llm:
        agent = make_agent(retail, llm, row_cap=10_000)
        app = create_app(agent, tmp_path, rate_per_minute=1000)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        try:
            yield f"http://127.0.0.1:{port}/", tmp_path
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_ask_edit_rerun_feedback_and_big_result(page_server):
    url, state_dir = page_server
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        expect = playwright_sync.expect
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        # The page's CSP forbids eval: waits use locators, never wait_for_function.
        expect(page.locator("#info")).to_contain_text("sqlite")

        # Ask: steps stream in, then SQL, table and chart.
        page.fill("#question", "How many orders per status?")
        page.click("#ask")
        page.wait_for_selector("#result tbody tr")
        assert page.input_value("#sql").startswith("SELECT status, COUNT(*) AS n FROM orders")
        assert page.locator("#steps li").count() >= 6
        assert page.locator("#result tbody tr").count() == 5
        assert page.locator("#result tbody tr").first.inner_text().startswith("completed")
        expect(page.locator("#chart")).to_be_visible()
        assert page.locator("#chart").evaluate("img => img.naturalWidth") > 0
        assert "the highest n is 7558 (status completed)" in page.inner_text("#summary")
        page.screenshot(path=str(OUT / "1-ask.png"), full_page=True)

        # Switch the chart type.
        page.select_option("#chart-kind", "pie")
        expect(page.locator("#chart-kind")).to_have_value("pie")
        page.wait_for_timeout(500)  # the new SVG arrives after the value changes
        page.screenshot(path=str(OUT / "2-pie.png"), full_page=True)

        # Edit the SQL and re-run it.
        page.fill("#sql", "SELECT channel, COUNT(*) AS orders FROM orders GROUP BY channel")
        page.click("#run")
        expect(page.locator("#result thead th").first).to_have_text("channel")
        assert page.locator("#result tbody tr").count() == 3
        assert page.locator("#history li").count() == 2

        # Thumbs down: stored in the feedback file.
        page.click("#down")
        expect(page.locator("#feedback-status")).to_contain_text("stored")
        page.screenshot(path=str(OUT / "3-edit-rerun-feedback.png"), full_page=True)
        conn = sqlite3.connect(state_dir / "feedback.sqlite")
        stored = conn.execute("SELECT verdict, sql, question FROM feedback").fetchall()
        conn.close()
        assert stored == [
            ("down", "SELECT channel, COUNT(*) AS orders FROM orders GROUP BY channel",
             "How many orders per status?")
        ]  # fmt: skip

        # Unsafe SQL typed by the user: refused with the validator's reason.
        page.fill("#sql", "DELETE FROM orders")
        page.click("#run")
        expect(page.locator("#message")).to_contain_text("SELECT")
        assert "only a SELECT query is allowed" in page.inner_text("#message")

        # A 10,000-row result: the page shows the first 500 and says so; the CSV has all.
        page.fill("#sql", "SELECT order_id, line_no, quantity FROM order_items")
        page.click("#run")
        expect(page.locator("#rows-note")).to_contain_text("Showing")
        assert page.locator("#result tbody tr").count() == 500
        note = page.inner_text("#rows-note")
        assert "Showing the first 500 of 10,000 rows" in note and "row cap" in note
        with page.expect_download() as download:
            page.click("#csv")
        lines = Path(download.value.path()).read_text().splitlines()
        assert len(lines) == 10_001 and lines[0] == "order_id,line_no,quantity"
        page.screenshot(path=str(OUT / "4-big-result.png"))
        browser.close()
    assert errors == []
    shots = sorted(OUT.glob("*.png"))
    assert [p.name for p in shots] == [
        "1-ask.png", "2-pie.png", "3-edit-rerun-feedback.png", "4-big-result.png"
    ]  # fmt: skip
    for shot in shots:  # a blank page compresses to a few KB; these hold a table and a chart
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
