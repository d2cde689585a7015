"""bench/bench_shapes.py across seeds: per-seed coverage, means, and the human shapes the
generator never makes apart from those it makes too rarely (pure arithmetic over rows)."""

from __future__ import annotations

from conftest import load_bench


def _row(db: str, seed: int, covered: int, missing: dict[str, int]) -> dict:
    return {
        "database": db,
        "seed": seed,
        "coverage": {
            "shapes_total": 4,
            "shapes_covered": covered,
            "questions_total": 5,
            "questions_covered": covered + 1,
            "missing": missing,
        },
    }


def test_shapes_missing_under_every_seed_are_told_apart_from_rare_ones():
    bench = load_bench("bench_shapes")
    rows = [
        _row("shop", 1, 2, {"t1+window": 1, "t2+join+case": 1}),
        _row("shop", 2, 3, {"t1+window": 1}),
        _row("zoo", 1, 4, {}),
        _row("zoo", 2, 4, {}),
        {"database": "northwind", "seed": 1, "lint": {}},  # no human questions: left out
    ]
    table = bench.across_seeds(rows, [1, 2])
    assert [t["database"] for t in table] == ["shop", "zoo"]
    shop = table[0]
    assert shop["shapes"] == [2, 3] and shop["questions"] == [3, 4]
    assert shop["never"] == ["t1+window"]
    assert shop["sometimes"] == {"t2+join+case": 1}
    lines: list[str] = []
    bench.print_seeds(rows, [1, 2], lines.append)
    shop_line = next(line for line in lines if line.startswith("shop"))
    assert "2/4" in shop_line and "3/4" in shop_line and "62%" in shop_line  # (2 + 3) / 8
    pooled = next(line for line in lines if line.startswith("all (pooled)"))
    assert "6/8 7/8" in pooled and "81%" in pooled  # 13 / 16
    assert any("never made t1+window" in line for line in lines)


def test_a_database_a_seed_failed_on_gets_no_mean():
    bench = load_bench("bench_shapes")
    rows = [_row("shop", 1, 2, {}), _row("zoo", 1, 3, {}), _row("zoo", 2, 3, {})]
    assert [t["database"] for t in bench.across_seeds(rows, [1, 2])] == ["zoo"]
