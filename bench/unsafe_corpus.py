"""How many statements of the unsafe corpus get past the validator (the answer must be 0).

    python bench/unsafe_corpus.py

For every dialect the corpus (``tests/fixtures/unsafe/<dialect>.sql`` plus
``generic.sql``) goes through the validator's syntax and safety layers *without* a
schema, so the schema layer cannot hide a safety gap by rejecting an unknown table.
On SQLite the whole validator then runs with execution against the bundled example
database, and the database's content hash is compared before and after.  The tests
(``tests/test_safety.py``) do the same on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_safety import DIALECTS, corpus  # noqa: E402  (the corpus loader lives with the tests)

from data_create import example, metadata  # noqa: E402
from data_create.connect import connect  # noqa: E402
from data_create.executor import Executor  # noqa: E402
from data_create.validator import Validator  # noqa: E402


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        for name in names:
            digest.update(name.encode())
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def main() -> int:
    total = passed = 0
    print(f"{'dialect':<9} {'statements':>10} {'syntax':>7} {'safety':>7} {'passed':>7}")
    for dialect in DIALECTS:
        validator = Validator(None, dialect)
        layers = Counter()
        cases = corpus(dialect)
        for _title, sql in cases:
            verdict = validator.check_static(sql)
            layers["passed" if verdict.ok else verdict.layer] += 1
        total += len(cases)
        passed += layers["passed"]
        print(
            f"{dialect:<9} {len(cases):>10} {layers['syntax']:>7} {layers['safety']:>7} "
            f"{layers['passed']:>7}"
        )
    unique = len({sql for d in DIALECTS for _t, sql in corpus(d)})
    print(f"{'all':<9} {total:>10}   ({unique} distinct statements)   passed: {passed}")

    path = example.example_sqlite_path()
    before = content_hash(path)
    db = connect(f"sqlite:///{path}")
    meta = metadata.extract(db, metadata.ExtractOptions(sample_values=0))
    started = time.perf_counter()
    with Executor(db, timeout_s=2.0) as executor:
        validator = Validator(meta, "sqlite", executor=executor)
        executed_ok = sum(validator.validate(sql).ok for _t, sql in corpus("sqlite"))
    db.dispose()
    after = content_hash(path)
    print(
        f"full validator with execution on the example SQLite database: "
        f"{executed_ok} of {len(corpus('sqlite'))} accepted; content unchanged: {before == after} "
        f"({time.perf_counter() - started:.2f}s)"
    )
    return 0 if passed == 0 and executed_ok == 0 and before == after else 1


if __name__ == "__main__":
    sys.exit(main())
