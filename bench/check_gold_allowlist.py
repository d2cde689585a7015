"""How many human-written gold queries the validator's static layers reject, and why.

    python bench/check_gold_allowlist.py [--questions ../shared/data/defog/questions]

Every gold query of the defog question files (each ``;``-separated alternative, in the
file's own dialect) goes through the syntax and safety layers, the function allow-lists
included; the allow-list must not be so narrow that it rejects ordinary analytics SQL.
Prints the counts per file and every distinct rejection reason with an example.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_create.validator import Validator  # noqa: E402

_DIALECTS = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", "tsql": "tsql"}


def gold_queries(path: Path) -> list[str]:
    out = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out.extend(q.strip() for q in row["query"].split(";") if q.strip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", default=str(ROOT.parent / "shared/data/defog/questions"))
    args = parser.parse_args()
    folder = Path(args.questions)
    if not folder.is_dir():
        print(f"no question files at {folder}")
        return 2
    total = rejected = 0
    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for path in sorted(folder.glob("*.csv")):
        dialect = next(d for key, d in _DIALECTS.items() if key in path.stem)
        validator = Validator(None, dialect)
        queries = gold_queries(path)
        bad = 0
        for sql in queries:
            verdict = validator.check_static(sql)
            if not verdict.ok:
                bad += 1
                key = f"{dialect} {verdict.layer}: {verdict.reason}"
                reasons[key] += 1
                examples.setdefault(key, sql)
        total += len(queries)
        rejected += bad
        print(f"{path.name:<36} {dialect:<9} {len(queries):>5} queries, {bad:>3} rejected")
    print(f"all: {total} gold queries, {rejected} rejected by the static layers")
    for key, n in reasons.most_common():
        print(f"  {n:>4}  {key}\n        e.g. {examples[key][:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
