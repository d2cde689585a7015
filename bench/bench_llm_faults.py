"""LLM-driven generation against a misbehaving OpenAI-compatible server: does the run
still deliver exactly N valid samples, show every fault, and cost nothing the second time?

    python bench/bench_llm_faults.py --samples 500

The server is tests/fake_llm.py; its "model" (tests/test_llm_pipeline.py: FakeModel)
answers with real pairs from the offline synthesizer and misbehaves on ~30% of calls:
429 + Retry-After, 500, a hang past the timeout (first attempt of a request), and
truncated JSON, prose around JSON, an invented column, a DELETE, duplicate pairs.
The run goes through the real openai client and the whole pipeline on the bundled
database; then the same run is repeated on the same response cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_llm import FakeLLM  # noqa: E402
from test_llm_pipeline import FakeModel  # noqa: E402

from data_create import example, metadata  # noqa: E402
from data_create.connect import connect  # noqa: E402
from data_create.pipeline import RunConfig, read_jsonl, run  # noqa: E402
from data_create.validator import Validator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = example.build_sqlite(tmp / "retail.sqlite")
        dsn = f"sqlite:///{path}"
        db = connect(dsn)
        meta = metadata.extract(db, metadata.ExtractOptions(sample_values=3))
        db.dispose()
        model = FakeModel(meta, "sqlite")

        def config(out: str) -> RunConfig:
            return RunConfig(
                dsn=dsn, out=str(tmp / out), samples=args.samples, seed=9, llm="openai",
                model="fake-model", llm_timeout=0.5, concurrency=args.concurrency,
                base_url=fake.base_url, cache_dir=str(tmp / "cache"),
            )  # fmt: skip

        with FakeLLM(model) as fake:
            started = time.perf_counter()
            first = run(config("first"))
            took = time.perf_counter() - started
            calls = fake.request_count
            faults = dict(model.faults)
            samples = read_jsonl(tmp / "first" / "samples.jsonl")
            rejects = read_jsonl(tmp / "first" / "rejects.jsonl")
            validator = Validator(meta, "sqlite")
            valid = sum(validator.check_static(s["sql"]).ok for s in samples)
            llm = first.stats["run"]["llm"]
            started = time.perf_counter()
            second = run(config("second"))
            took2 = time.perf_counter() - started
            calls2 = fake.request_count - calls
            same = [s["sql"] for s in read_jsonl(tmp / "second" / "samples.jsonl")] == [
                s["sql"] for s in samples
            ]
    print(
        f"samples: {first.accepted} of {args.samples} requested, {valid} pass the static re-check"
    )
    print(f"HTTP calls the server saw: {calls}; faulty: {sum(faults.values())} "
          f"({sum(faults.values()) / max(calls, 1):.0%}): {json.dumps(faults, sort_keys=True)}")  # fmt: skip
    print(f"client accounting: requests {llm['requests']}, retries {llm['retries']}, "
          f"errors by kind {json.dumps(llm['errors_by_kind'], sort_keys=True)}, "
          f"final failures {llm['failures']}")  # fmt: skip
    layers = Counter(r["layer"] for r in rejects)
    print(
        f"rejects.jsonl: {len(rejects)} lines by layer {json.dumps(dict(layers), sort_keys=True)}"
    )
    print(f"first run {took:.1f}s; identical re-run on the cache: {calls2} HTTP calls, "
          f"{second.stats['run']['llm']['requests']} requests, {second.accepted} samples, "
          f"same dataset: {same} ({took2:.1f}s)")  # fmt: skip
    ok = first.accepted == args.samples and valid == args.samples and calls2 == 0 and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
