"""Request rate of LLMClient against a fake endpoint with fixed latency, sequential vs concurrent.

    python bench/bench_llm_concurrency.py
    python bench/bench_llm_concurrency.py --latency 0.2 --concurrency 32 --requests 256

The fake OpenAI-compatible server (tests/fake_llm.py, real HTTP on 127.0.0.1, in its
own process) sleeps ``--latency`` seconds per request.  The same script first runs ``--sequential``
requests at concurrency 1 (the baseline), then ``--requests`` at ``--concurrency``
through the real openai SDK, and prints both rates, the speed-up, and the share of
the ideal ``concurrency / latency`` requests/s reached.  The target is 80% of ideal;
the exit status is 1 below it.  The first request of each client (SDK import,
connection set-up) is a warm-up outside the timed runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from data_create.llm.client import ChatRequest, LLMClient, LLMSettings  # noqa: E402

TARGET = 0.80


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """tests/fake_llm.py in its own process (its threads would otherwise share our GIL)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_llm.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed_run(base_url: str, concurrency: int, n: int, tag: str) -> float:
    settings = LLMSettings(
        model="fake-model", base_url=base_url, api_key="bench", concurrency=concurrency
    )
    with LLMClient(settings) as client:
        client.run_many([ChatRequest([{"role": "user", "content": f"warm-up {tag}"}])])
        requests = [
            ChatRequest([{"role": "user", "content": f"{tag} question {i}"}], purpose="bench")
            for i in range(n)
        ]
        started = time.perf_counter()
        results = client.run_many(requests)
        elapsed = time.perf_counter() - started
    failed = sum(not r.ok for r in results)
    if failed:
        raise SystemExit(f"{failed} of {n} requests failed: {next(r for r in results if not r.ok)}")
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server sleeps")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent requests")
    parser.add_argument("--requests", type=int, default=256, help="requests in the concurrent run")
    parser.add_argument("--sequential", type=int, default=64, help="requests in the baseline run")
    args = parser.parse_args(argv)

    with fake_server(args.latency) as base_url:
        seq_rate = timed_run(base_url, 1, args.sequential, "seq")
        par_rate = timed_run(base_url, args.concurrency, args.requests, "par")

    ideal = args.concurrency / args.latency
    share = par_rate / ideal
    print(f"latency {args.latency * 1000:.0f} ms, fake server at {base_url} (own process)")
    print(f"sequential   {args.sequential:4d} requests, concurrency  1: {seq_rate:7.1f} req/s "
          f"({seq_rate * args.latency:.0%} of ideal {1 / args.latency:.1f})")  # fmt: skip
    print(f"concurrent   {args.requests:4d} requests, concurrency {args.concurrency:2d}: "
          f"{par_rate:7.1f} req/s")  # fmt: skip
    print(f"speed-up vs sequential: {par_rate / seq_rate:.1f}x (ideal {args.concurrency}x)")
    verdict = "OK" if share >= TARGET else "BELOW TARGET"
    print(f"share of ideal {ideal:.0f} req/s: {share:.1%} (target >= {TARGET:.0%}) {verdict}")
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
