"""The agent over HTTP: a JSON API with streamed steps, and the web page that uses it.

``python -m nl2sql_agent serve`` runs :func:`serve`; tests build the app with
:func:`create_app`.  FastAPI and uvicorn are imported here only.

API (JSON in, JSON out; ``/api/*`` needs ``Authorization: Bearer KEY`` or ``X-API-Key``
when the server has a key; each client gets ``rate_per_minute`` requests a minute)::

    GET  /api/health                       model, database, dialect, feedback counts
    POST /api/ask       {question, conversation_id?}        -> answer
         (Accept: text/event-stream -> "step" events as the loop runs, then "answer")
    POST /api/run       {sql, question?, conversation_id?}  -> answer (edited SQL)
    POST /api/chart     {answer_id, kind}                   -> {chart, chart_kind, svg}
    GET  /api/answers/{id}.csv                              -> every fetched row as CSV
    POST /api/feedback  {answer_id, verdict: up|down, corrected_sql?, comment?}
    GET  /api/history?conversation_id=...                   -> the conversation's turns

Nothing reaches the database except through the agent, i.e. the validator and the
read-only executor; a corrected SQL is validated and run before it is stored.  The page
is static HTML+JS served from the package (no CDN); charts arrive as SVG rendered here.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hmac
import io
import json
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from .core import Agent, Answer, Conversation, json_value
from .feedback import FeedbackStore

STATIC = Path(__file__).resolve().parent / "static"
DISPLAY_ROWS = 500  # rows sent to the page; the CSV has every fetched row
MAX_ANSWERS = 200  # answers kept for charts, CSV and feedback
MAX_CONVERSATIONS = 1000


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    conversation_id: str | None = Field(default=None, max_length=64)


class RunBody(BaseModel):
    sql: str = Field(min_length=1, max_length=100_000)
    question: str = Field(default="", max_length=2000)
    conversation_id: str | None = Field(default=None, max_length=64)


class ChartBody(BaseModel):
    answer_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)


class FeedbackBody(BaseModel):
    answer_id: str = Field(max_length=64)
    verdict: str = Field(pattern="^(up|down)$")
    corrected_sql: str | None = Field(default=None, max_length=100_000)
    comment: str | None = Field(default=None, max_length=2000)


class RateLimiter:
    """At most ``per_minute`` requests per client in any 60-second window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> float | None:
        """None if allowed, else the seconds until the client may try again."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return 60 - (now - times[0])
            times.append(now)
            if len(self._seen) > 10_000:  # forget idle clients
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
            return None


class _State:
    def __init__(self, agent: Agent, state_dir: Path):
        self.agent = agent
        self.lock = threading.Lock()  # one executor connection: one query at a time
        self.answers: OrderedDict[str, Answer] = OrderedDict()
        self.conversations: OrderedDict[str, Conversation] = OrderedDict()
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.feedback = FeedbackStore(state_dir / "feedback.sqlite")

    def conversation(self, cid: str | None) -> Conversation:
        if cid and cid in self.conversations:
            self.conversations.move_to_end(cid)
            return self.conversations[cid]
        conv = Conversation(id=cid) if cid else Conversation()
        self.conversations[conv.id] = conv
        while len(self.conversations) > MAX_CONVERSATIONS:
            old, _ = self.conversations.popitem(last=False)
            self.history.pop(old, None)
        return conv

    def keep(self, answer: Answer) -> None:
        self.answers[answer.id] = answer
        while len(self.answers) > MAX_ANSWERS:
            self.answers.popitem(last=False)
        if answer.conversation_id:
            self.history.setdefault(answer.conversation_id, []).append(
                {
                    "answer_id": answer.id,
                    "question": answer.question,
                    "sql": answer.sql,
                    "status": answer.status,
                    "at": time.time(),
                }
            )

    def answer(self, answer_id: str) -> Answer:
        try:
            return self.answers[answer_id]
        except KeyError:
            raise HTTPException(404, "no such answer (it may have expired); ask again") from None


def _svg_data_uri(spec: dict[str, Any] | None) -> str | None:
    """The chart as a data: URI for an <img> (an image cannot run script)."""
    if spec is None:
        return None
    try:
        from .render import to_svg

        svg = to_svg(spec)
    except RuntimeError:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _payload(answer: Answer) -> dict[str, Any]:
    out = answer.to_dict(max_rows=DISPLAY_ROWS)
    out["svg"] = _svg_data_uri(answer.chart)
    return out


def _csv(answer: Answer) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(answer.columns)
    for row in answer.rows:
        cells = []
        for value in row:
            text = "" if value is None else str(json_value(value))
            # A cell starting with = + - @ is a formula to a spreadsheet: quote it.
            if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
                text = "'" + text
            cells.append(text)
        writer.writerow(cells)
    return buf.getvalue()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def create_app(
    agent: Agent,
    state_dir: str | Path,
    *,
    api_key: str | None = None,
    rate_per_minute: int = 30,
) -> FastAPI:
    state = _State(agent, Path(state_dir))
    limiter = RateLimiter(rate_per_minute)
    app = FastAPI(title="nl2sql-factory agent", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.agent_state = state

    @app.middleware("http")
    async def guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path.startswith("/api/") and request.url.path != "/api/health":
            if api_key:
                given = request.headers.get("x-api-key") or ""
                auth = request.headers.get("authorization") or ""
                if auth.lower().startswith("bearer "):
                    given = auth[7:].strip()
                if not hmac.compare_digest(given.encode(), api_key.encode()):
                    return JSONResponse({"detail": "missing or wrong API key"}, status_code=401)
            client = request.client.host if request.client else "unknown"
            wait = limiter.check(client)
            if wait is not None:
                return JSONResponse(
                    {"detail": f"too many requests; try again in {wait:.0f} s"},
                    status_code=429,
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
        response = await call_next(request)
        # The page loads nothing from elsewhere and runs only its own script.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        meta = agent.metadata
        return {
            "ok": True,
            "model": agent.model,
            "model_version": agent.config.model_version,
            "database": meta.database,
            "dialect": meta.dialect,
            "tables": len(meta.tables),
            "auth": bool(api_key),
            "feedback": state.feedback.counts(),
        }

    def run_ask(body: AskBody, on_step: Any = None) -> Answer:
        with state.lock:
            conv = state.conversation(body.conversation_id)
            answer = agent.ask(body.question, conv, on_step=on_step)
        state.keep(answer)
        return answer

    @app.post("/api/ask")
    async def ask(body: AskBody, request: Request) -> Any:
        if "text/event-stream" not in request.headers.get("accept", ""):
            answer = await asyncio.to_thread(run_ask, body)
            return await asyncio.to_thread(_payload, answer)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_step(step: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("step", step.to_dict()))

        def work() -> None:
            try:
                answer = run_ask(body, on_step)
                payload = _payload(answer)
                loop.call_soon_threadsafe(queue.put_nowait, ("answer", payload))
            except Exception as exc:  # reported to the page as one line
                message = f"internal error: {type(exc).__name__}: {exc}"
                loop.call_soon_threadsafe(queue.put_nowait, ("error", {"detail": message}))

        async def events():  # type: ignore[no-untyped-def]
            task = asyncio.create_task(asyncio.to_thread(work))
            while True:
                kind, data = await queue.get()
                text = json.dumps(data, ensure_ascii=False, default=str)
                yield f"event: {kind}\ndata: {text}\n\n"
                if kind in ("answer", "error"):
                    break
            await task

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/run")
    async def run(body: RunBody) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with state.lock:
                conv = state.conversation(body.conversation_id)
                answer = agent.run_sql(body.sql, body.question, conv)
            state.keep(answer)
            return _payload(answer)

        return await asyncio.to_thread(work)

    @app.post("/api/chart")
    async def chart(body: ChartBody) -> dict[str, Any]:
        answer = state.answer(body.answer_id)
        if body.kind not in answer.chart_options and body.kind != "table":
            raise HTTPException(
                400, f"this result can be shown as: {', '.join(answer.chart_options)}"
            )
        agent.rechart(answer, body.kind)
        svg = await asyncio.to_thread(_svg_data_uri, answer.chart)
        return {"chart": answer.chart, "chart_kind": answer.chart_kind, "svg": svg}

    @app.get("/api/answers/{answer_id}.csv")
    def download(answer_id: str) -> Response:
        answer = state.answer(answer_id)
        return Response(
            _csv(answer),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="answer-{answer.id}.csv"'},
        )

    @app.post("/api/feedback")
    async def feedback(body: FeedbackBody, request: Request) -> dict[str, Any]:
        answer = state.answer(body.answer_id)
        verdict, corrected_sql, corrected_hash = body.verdict, None, None
        if body.corrected_sql and body.corrected_sql.strip():

            def check() -> Answer:
                with state.lock:
                    return agent.run_sql(body.corrected_sql or "", answer.question)

            fixed = await asyncio.to_thread(check)
            if fixed.status == "failed":
                raise HTTPException(400, f"the corrected SQL was not stored: {fixed.message}")
            verdict, corrected_sql, corrected_hash = "corrected", fixed.sql, fixed.result_hash
        fid = state.feedback.add(
            question=answer.question,
            verdict=verdict,
            answer_id=answer.id,
            conversation_id=answer.conversation_id,
            sql=answer.sql,
            result_hash=answer.result_hash,
            row_count=len(answer.rows),
            corrected_sql=corrected_sql,
            corrected_hash=corrected_hash,
            comment=body.comment,
            model=agent.model,
            model_version=agent.config.model_version,
            database=agent.metadata.database,
            dialect=agent.metadata.dialect,
            repairs=answer.repairs,
            client=request.client.host if request.client else None,
        )
        return {"id": fid, "verdict": verdict, "answer_id": answer.id}

    @app.get("/api/history")
    def history(conversation_id: str) -> dict[str, Any]:
        return {"conversation_id": conversation_id, "turns": state.history.get(conversation_id, [])}

    return app


def serve(
    agent: Agent,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    state_dir: str | Path,
    api_key: str | None = None,
    rate_per_minute: int = 30,
) -> None:
    import uvicorn

    app = create_app(agent, state_dir, api_key=api_key, rate_per_minute=rate_per_minute)
    print(
        f"nl2sql agent on http://{host}:{port}/ (database {agent.metadata.database}, model {agent.model})"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
