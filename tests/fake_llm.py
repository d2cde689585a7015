"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Each test scripts the server with a callable ``(request_json, call_index) -> Reply``;
``call_index`` counts chat-completion calls from 0 in arrival order.  Faults are
ready-made replies (``rate_limited``, ``server_error``, ``hang``, ``truncated``,
``prose_wrapped``, ``garbage``) and latency is a sleep in the handler's own thread,
so 64+ requests can be in flight at once::

    with FakeLLM(lambda req, i: Reply(content="hi", delay_s=0.2)) as llm:
        client = LLMClient(LLMSettings(model="m", base_url=llm.base_url, api_key="k"))
        ...
        assert llm.request_count == 1 and llm.max_in_flight == 1

The server also records every request body (``llm.requests``) and the highest number
of chat requests it was serving at the same moment (``llm.max_in_flight``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeLLM",
    "Reply",
    "garbage",
    "hang",
    "prose_wrapped",
    "rate_limited",
    "samples",
    "server_error",
    "truncated",
]

MODEL = "fake-model"


@dataclass
class Reply:
    """What the server answers to one chat-completion call.

    ``content`` is the assistant message; ``status`` != 200 sends an OpenAI-style error
    body instead; ``raw_body`` replaces the whole body verbatim; ``hang`` holds the
    connection open without answering (until the client gives up or the server stops);
    ``usage=False`` omits the usage block, as some servers do.
    """

    content: str | None = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw_body: bytes | str | None = None
    hang: bool = False
    finish_reason: str = "stop"
    usage: bool = True
    error_message: str = "fake error"


Script = Callable[[dict[str, Any], int], Reply]


# ---------------------------------------------------------------- ready-made replies


def rate_limited(retry_after: float | str | None = 1, **kw: Any) -> Reply:
    """HTTP 429 with ``Retry-After`` (seconds, or an HTTP date string)."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    kw.setdefault("error_message", "rate limited")
    return Reply(content=None, status=429, headers=headers, **kw)


def server_error(status: int = 500, **kw: Any) -> Reply:
    kw.setdefault("error_message", "internal error")
    return Reply(content=None, status=status, **kw)


def hang(**kw: Any) -> Reply:
    """Accept the request and never answer: the client's timeout must fire."""
    return Reply(content=None, hang=True, **kw)


def truncated(content: str, **kw: Any) -> Reply:
    """The first half of ``content``, cut off as if by max_tokens."""
    return Reply(content=content[: max(1, len(content) // 2)], finish_reason="length", **kw)


def prose_wrapped(obj: Any, **kw: Any) -> Reply:
    """``obj`` as JSON inside a code fence with chatter before and after it."""
    body = json.dumps(obj, ensure_ascii=False, indent=2)
    text = f"Sure! Here is the JSON you asked for:\n```json\n{body}\n```\nLet me know if you need more."
    return Reply(content=text, **kw)


def samples(pairs: list[tuple[str, str]], **kw: Any) -> Reply:
    """A well-formed ``{"samples": [{"question", "sql"}, ...]}`` reply."""
    obj = {"samples": [{"question": q, "sql": s} for q, s in pairs]}
    return Reply(content=json.dumps(obj, ensure_ascii=False), **kw)


def garbage(**kw: Any) -> Reply:
    """HTTP 200 whose body is not JSON at all (a broken proxy, a crashed worker)."""
    return Reply(content=None, raw_body=b"<html>502 Bad Gateway</html>", **kw)


def _default_script(request: dict[str, Any], index: int) -> Reply:
    return Reply(content="ok")


# ---------------------------------------------------------------- server


def count_tokens(text: str) -> int:
    """The fake's deterministic token count: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


class FakeLLM:
    """The server; a context manager that starts it on a free port and stops it."""

    def __init__(self, script: Script | None = None, *, model: str = MODEL):
        self.script: Script = script or _default_script
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeLLM:
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        # The default backlog of 5 drops SYNs when 32+ clients connect at once, and a
        # dropped SYN costs a one-second retransmit: the benchmark would measure that.
        server.request_queue_size = 512
        server.daemon_threads = True
        server.block_on_close = False
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeLLM is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def request_count(self) -> int:
        """Chat-completion calls received (every retry counts)."""
        with self._lock:
            return len(self.requests)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.arrivals.clear()
            self.max_in_flight = self.in_flight

    # -- called from handler threads

    def _admit(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
            self.headers.append(headers)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return index

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLM
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (40 ms on Linux) and every request looks 40 ms slower.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # tests stay quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            body = {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]}
            self._send(200, json.dumps(body).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            request = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "request body is not JSON"}}')
            return
        fake = self.fake
        index = fake._admit(request, {k.lower(): v for k, v in self.headers.items()})
        try:
            reply = fake.script(request, index)
            if reply.delay_s:
                fake._stopping.wait(reply.delay_s)
            if reply.hang:
                fake._stopping.wait(120)
                self.close_connection = True
                return
            status, body = _render(request, reply, fake.model, index)
            try:
                self._send(status, body, reply.headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up first
        finally:
            fake._leave()


def _render(request: dict[str, Any], reply: Reply, model: str, index: int) -> tuple[int, bytes]:
    if reply.raw_body is not None:
        raw = reply.raw_body
        return reply.status, raw.encode() if isinstance(raw, str) else raw
    if reply.status != 200:
        error = {
            "error": {
                "message": reply.error_message,
                "type": "rate_limit_error" if reply.status == 429 else "server_error",
                "code": reply.status,
            }
        }
        return reply.status, json.dumps(error).encode()
    prompt = "".join(str(m.get("content") or "") for m in request.get("messages", []))
    body: dict[str, Any] = {
        "id": f"chatcmpl-fake-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
    }
    if reply.usage:
        tokens_in = count_tokens(prompt)
        tokens_out = count_tokens(reply.content or "")
        body["usage"] = {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        }
    return 200, json.dumps(body, ensure_ascii=False).encode()


def main(argv: list[str] | None = None) -> None:
    """Serve a fixed answer with fixed latency until killed; prints the base URL first.

    Benchmarks run the server in its own process so that its threads do not compete
    with the client under test for one interpreter's GIL.
    """
    import argparse

    parser = argparse.ArgumentParser(description="fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to sleep per request")
    parser.add_argument("--content", default="SELECT 1", help="the assistant's answer")
    args = parser.parse_args(argv)
    reply = Reply(content=args.content, delay_s=args.latency)
    with FakeLLM(lambda request, index: reply) as llm:
        print(llm.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
