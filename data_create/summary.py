"""What a finished run reports: :class:`RunResult`, and the table the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    requested: int
    accepted: int
    attempts: int
    rejected: int
    resumed_from: int  # samples already on disk when the run started
    elapsed_s: float
    generate_s: float
    stats: dict[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def samples_per_s(self) -> float:
        new = self.accepted - self.resumed_from
        return new / self.generate_s if self.generate_s > 0 else 0.0


def summary_lines(result: RunResult) -> list[str]:
    """The table the CLI prints at the end."""
    s = result.stats
    run_info = s.get("run", {})
    validity = s.get("validity", {})
    by_layer = sorted(s.get("rejects", {}).get("by_layer", {}).items(), key=lambda kv: -kv[1])
    tables = s.get("tables", {})
    features = [k for k, v in s.get("features", {}).items() if v]
    rows = [
        ("samples", f"{result.accepted} / {result.requested}"),
        ("tried", f"{result.attempts} candidates, {result.rejected} rejected"),
        ("rejects", ", ".join(f"{k} {v}" for k, v in by_layer) or "none"),
        ("difficulty", ", ".join(f"{k} {v}" for k, v in s.get("difficulty", {}).items())),
        ("features", f"{len(features)}: {', '.join(features)}"),
        ("skeletons", f"{s.get('skeletons', {}).get('distinct', '?')} distinct"),
        (
            "tables",
            f"{len(tables.get('covered', []))} covered of {len(tables.get('non_empty', []))} "
            "non-empty",
        ),
        ("speed", f"{result.samples_per_s:.0f} samples/s; {result.elapsed_s:.1f}s in all"),
    ]
    if validity:
        rows.insert(2, ("empty", f"{validity.get('empty', 0)} kept with empty results"))
    if run_info.get("resumed_from"):
        rows.insert(1, ("resumed", f"from {run_info['resumed_from']} samples on disk"))
    width = max(len(k) for k, _ in rows)
    return [f"  {k:<{width}}  {v}" for k, v in rows]


__all__ = ["RunResult", "summary_lines"]
