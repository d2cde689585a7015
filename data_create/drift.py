"""Schema drift: follow a database whose structure changed after a run was made.

``python -m data_create drift --dsn … --run DIR`` reads the database's structure now,
compares it table by table with the run's ``metadata.json`` (the fingerprint the run
was made from), and then:

1. **diff** — tables added, dropped and changed; in a changed table the columns added,
   dropped, re-typed, and *renamed* (a dropped and an added column of the same type at
   the same position: the catalogue cannot tell a rename from a drop plus an add, so a
   pair that fits is reported as a rename, and either way the samples are re-checked);
2. **re-validate** every stored sample — the run's ``samples.jsonl`` (training data) and
   every store a learning loop registered in ``<run>/sample_stores.json`` (its human
   corrections and frozen regression set) — with the three-layer validator against the
   *new* schema, executing read-only; a sample that no longer validates is moved out of
   its store into ``<run>/quarantine.jsonl`` with the layer and reason;
3. **regenerate** samples (offline synthesizer, same validator, deduped against what is
   kept) for every new or changed table, appended to ``samples.jsonl``, and re-export
   the run's LLaMA-Factory files, so the run is trainable again and holds no sample
   that fails on the current schema;
4. record the new ``metadata.json`` (the old one is kept as
   ``metadata.<old fingerprint>.json``), the fingerprint in ``run.json``, and a report
   ``drift.json`` (also appended to ``drift_history.jsonl``) that the learning loop's
   gated retrain picks up (``python -m nl2sql_fine_tuning.loop run``).

``--dry-run`` reports what would change without touching the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .records import Sample, SchemaMetadata, Table

STORES_FILE = "sample_stores.json"
QUARANTINE_FILE = "quarantine.jsonl"


@dataclass(frozen=True)
class TableChange:
    table: str
    kind: str  # "added" | "dropped" | "changed"
    added_columns: tuple[str, ...] = ()
    dropped_columns: tuple[str, ...] = ()
    renamed_columns: tuple[tuple[str, str], ...] = ()  # (old, new)
    retyped_columns: tuple[tuple[str, str, str], ...] = ()  # (column, old type, new type)
    keys_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.kind != "changed":
            return f"{self.table}: {self.kind}"
        parts = [f"renamed {o} -> {n}" for o, n in self.renamed_columns]
        parts += [f"dropped {c}" for c in self.dropped_columns]
        parts += [f"added {c}" for c in self.added_columns]
        parts += [f"{c} {a} -> {b}" for c, a, b in self.retyped_columns]
        if self.keys_changed:
            parts.append("keys changed")
        return f"{self.table}: " + ", ".join(parts)


@dataclass
class DriftResult:
    run_dir: str
    fingerprint_before: str
    fingerprint_after: str
    changes: list[TableChange]
    checked: int = 0  # samples re-validated
    quarantined: int = 0
    quarantined_by_store: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    regenerated: int = 0
    regenerated_by_table: dict[str, int] = field(default_factory=dict)
    applied: bool = False
    elapsed_s: float = 0.0

    @property
    def changed_tables(self) -> list[str]:
        return [c.table for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "drifted": bool(self.changes),
            "changed_tables": self.changed_tables,
            "changes": [c.to_dict() for c in self.changes],
            "checked": self.checked,
            "quarantined": self.quarantined,
            "quarantined_by_store": self.quarantined_by_store,
            "quarantine_reasons": self.quarantine_reasons,
            "regenerated": self.regenerated,
            "regenerated_by_table": self.regenerated_by_table,
            "fingerprint_before": self.fingerprint_before,
            "fingerprint_after": self.fingerprint_after,
            "applied": self.applied,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# ---------------------------------------------------------------- diff


def _columns(t: Table) -> dict[str, Any]:
    return {c.name: c for c in t.columns}


def _changed(old: Table, new: Table) -> TableChange | None:
    before, after = _columns(old), _columns(new)
    dropped = [c for c in before if c not in after]
    added = [c for c in after if c not in before]
    renamed: list[tuple[str, str]] = []
    positions_old = {c.name: i for i, c in enumerate(old.columns)}
    positions_new = {c.name: i for i, c in enumerate(new.columns)}
    for name in list(dropped):
        match = next(
            (
                a
                for a in added
                if after[a].raw_type.lower() == before[name].raw_type.lower()
                and positions_new[a] == positions_old[name]
            ),
            None,
        )
        if match is not None:
            renamed.append((name, match))
            dropped.remove(name)
            added.remove(match)
    retyped = [
        (c, before[c].raw_type, after[c].raw_type)
        for c in before
        if c in after and before[c].raw_type.lower() != after[c].raw_type.lower()
    ]
    # Key changes that follow a column rename are part of that rename.
    rename_map = dict(renamed)
    old_pk = tuple(rename_map.get(c, c) for c in old.primary_key)
    keys_changed = old_pk != new.primary_key or len(old.foreign_keys) != len(new.foreign_keys)
    if not (dropped or added or renamed or retyped or keys_changed):
        return None
    return TableChange(
        old.qualified_name,
        "changed",
        tuple(added),
        tuple(dropped),
        tuple(renamed),
        tuple(retyped),
        keys_changed,
    )


def diff(old: SchemaMetadata, new: SchemaMetadata) -> list[TableChange]:
    """Table-by-table differences between two extractions of one database.

    >>> from data_create.records import Column
    >>> c = lambda n: Column(n, "integer", "integer")
    >>> a = SchemaMetadata("sqlite", "sqlite", "db", (Table("t", columns=(c("x"), c("y"))),))
    >>> b = a.replace(tables=(Table("t", columns=(c("x"), c("z"))), Table("u", columns=(c("k"),))))
    >>> [ch.summary() for ch in diff(a, b)]
    ['t: renamed y -> z', 'u: added']
    """
    before = {t.qualified_name: t for t in old.tables}
    after = {t.qualified_name: t for t in new.tables}
    changes: list[TableChange] = []
    for name, table in before.items():
        if name not in after:
            changes.append(TableChange(name, "dropped"))
            continue
        change = _changed(table, after[name])
        if change is not None:
            changes.append(change)
    changes += [TableChange(name, "added") for name in after if name not in before]
    return changes


# ---------------------------------------------------------------- stores


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def registered_stores(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """``samples`` (the run's own) plus every store a tool registered in sample_stores.json."""
    run = Path(run_dir)
    stores = {"samples": run / "samples.jsonl"}
    manifest = run / STORES_FILE
    if manifest.exists():
        for name, rel in json.loads(manifest.read_text(encoding="utf-8")).items():
            stores[name] = (run / rel).resolve()
    return stores


def register_store(
    run_dir: str | os.PathLike[str], name: str, path: str | os.PathLike[str]
) -> None:
    """Ask drift to re-validate ``path`` (JSONL with a ``sql`` field) under ``name``."""
    run = Path(run_dir)
    manifest = run / STORES_FILE
    data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
    data[name] = os.path.relpath(Path(path).resolve(), run.resolve())
    tmp = manifest.with_name(STORES_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, manifest)


# ---------------------------------------------------------------- the command


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check(
    db: Any,
    run_dir: str | os.PathLike[str],
    *,
    extract_options: Any = None,
    regenerate: int = 10,
    apply: bool = True,
    seed: int = 0,
    timeout_s: float = 10.0,
) -> DriftResult:
    """Compare, re-validate, quarantine, regenerate (see the module docstring)."""
    import time

    from . import export, metadata
    from .executor import ExecutorPool
    from .targeted import TargetRequest, synthesize
    from .validator import Validator

    started = time.perf_counter()
    run = Path(run_dir)
    meta_path = run / "metadata.json"
    if not meta_path.is_file() or not (run / "samples.jsonl").is_file():
        raise ConfigError(
            f"{run} is not a data_create run (metadata.json or samples.jsonl missing)",
            "pass the --out directory of a `python -m data_create` run",
        )
    old = metadata.read(meta_path)
    if extract_options is None:
        recorded = old.options or {}
        extract_options = metadata.ExtractOptions(
            schemas=tuple(recorded.get("schemas") or ()),
            include=tuple(recorded.get("include") or ()),
            exclude=tuple(recorded.get("exclude") or ()),
            include_views=bool(recorded.get("include_views", True)),
            sample_values=int(recorded.get("sample_values", 5)),
        )
    new = metadata.extract(db, extract_options)
    if new.engine != old.engine:
        raise ConfigError(
            f"{run} was made from a {old.engine} database, this DSN is {new.engine}",
            "point --dsn at the database the run was made from",
        )
    result = DriftResult(str(run), old.fingerprint, new.fingerprint, diff(old, new))
    if old.fingerprint == new.fingerprint:
        result.elapsed_s = time.perf_counter() - started
        return result

    # Re-validate every stored sample against the new schema, executing read-only.
    stores = registered_stores(run)
    pool = ExecutorPool(db, workers=2, timeout_s=timeout_s, row_cap=1000)
    kept: dict[str, list[dict[str, Any]]] = {}
    quarantine: list[dict[str, Any]] = []
    try:
        validator = Validator(new, new.dialect, pool=pool)
        for name, path in stores.items():
            records = _read_jsonl(path)
            kept[name] = []
            verdicts = validator.validate_many([str(r.get("sql") or "") for r in records])
            result.checked += len(records)
            for record, verdict in zip(records, verdicts, strict=True):
                if verdict.ok:
                    kept[name].append(record)
                    continue
                quarantine.append(
                    {
                        "at": _now(),
                        "store": name,
                        "layer": verdict.layer,
                        "reason": verdict.reason,
                        "fingerprint": new.fingerprint,
                        "record": record,
                    }
                )
                result.quarantined_by_store[name] = result.quarantined_by_store.get(name, 0) + 1
                kind = f"{verdict.layer}: {(verdict.reason or '').split(' — ')[0][:80]}"
                result.quarantine_reasons[kind] = result.quarantine_reasons.get(kind, 0) + 1
    finally:
        pool.close()
    result.quarantined = len(quarantine)

    # Regenerate for new and changed tables (dropped tables need nothing new).
    requests = []
    new_tables = {t.qualified_name: t for t in new.tables}
    for change in result.changes:
        if change.kind == "dropped" or change.table not in new_tables:
            continue
        requests.append(TargetRequest(f"drift:{change.table}", (change.table,), regenerate))
    samples_kept = kept["samples"]
    known = [
        (r["question"], r["sql"])
        for records in kept.values()
        for r in records
        if r.get("question") and r.get("sql")
    ]
    prefix = f"{new.database}-drift{len(_read_jsonl(run / 'drift_history.jsonl')) + 1}"
    made = (
        synthesize(db, new, requests, id_prefix=prefix, seed=seed, known=known, timeout_s=timeout_s)
        if requests
        else None
    )
    fresh = list(made.samples) if made else []
    for s in fresh:
        table = s.topic.split(":", 1)[-1]  # the request's table ("drift:<table>")
        result.regenerated_by_table[table] = result.regenerated_by_table.get(table, 0) + 1
    result.regenerated = len(fresh)

    if apply:
        last_seq = max((int(r.get("seq", 0)) for r in samples_kept), default=0)
        for i, s in enumerate(fresh, start=1):
            samples_kept.append({"seq": last_seq + i, **s.to_dict()})
        for name, path in stores.items():
            if name in result.quarantined_by_store or (name == "samples" and fresh):
                _write_jsonl(path, kept[name])
        if quarantine:
            with (run / QUARANTINE_FILE).open("a", encoding="utf-8") as f:
                for q in quarantine:
                    f.write(json.dumps(q, ensure_ascii=False, default=str) + "\n")
        old_copy = run / f"metadata.{old.fingerprint.split(':')[-1][:12]}.json"
        if not old_copy.exists():
            metadata.write(old, old_copy)
        metadata.write(new, meta_path)
        split_file = run / "split.json"
        split = json.loads(split_file.read_text(encoding="utf-8")) if split_file.exists() else {}
        samples = [
            Sample.from_dict({k: v for k, v in r.items() if k != "seq"}) for r in samples_kept
        ]
        if samples:
            export.export(
                samples,
                run,
                metadata=new,
                dev_ratio=float(split.get("dev_ratio", 0.1)),
                seed=int(split.get("seed", 0)),
                schema_context=str(split.get("schema_context", "none")),
            )
        run_file = run / "run.json"
        if run_file.exists():
            state = json.loads(run_file.read_text(encoding="utf-8"))
            state["fingerprint"] = new.fingerprint
            state.setdefault("drift", []).append({"at": _now(), "from": old.fingerprint})
            run_file.write_text(json.dumps(state, ensure_ascii=False, indent=1) + "\n", "utf-8")
        result.applied = True
    result.elapsed_s = time.perf_counter() - started
    if apply:
        report = result.to_dict()
        report["at"] = _now()
        report["quarantine_file"] = str(run / QUARANTINE_FILE)
        (run / "drift.json").write_text(
            json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        with (run / "drift_history.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(report, ensure_ascii=False) + "\n")
    return result


def summary_lines(result: DriftResult) -> list[str]:
    """What the CLI prints."""
    if not result.changes and result.fingerprint_before == result.fingerprint_after:
        return [
            f"no drift: {result.run_dir} matches the database ({result.fingerprint_after[:19]})"
        ]
    lines = [f"schema drift in {len(result.changes)} table(s):"]
    lines += [f"  {c.summary()}" for c in result.changes]
    lines.append(f"re-validated {result.checked} stored samples: {result.quarantined} quarantined")
    for store, n in sorted(result.quarantined_by_store.items()):
        lines.append(f"  {store:<12} {n}")
    for reason, n in sorted(result.quarantine_reasons.items(), key=lambda kv: -kv[1])[:5]:
        lines.append(f"  reason: {reason} ({n})")
    lines.append(f"regenerated {result.regenerated} samples for new/changed tables")
    for table, n in sorted(result.regenerated_by_table.items()):
        lines.append(f"  {table:<20} {n}")
    if result.applied:
        lines.append(
            f"updated {result.run_dir} (metadata.json, samples.jsonl, train/dev files, "
            f"{QUARANTINE_FILE}, drift.json); retrain with the gate: "
            "python -m nl2sql_fine_tuning.loop run --home <loop home>"
        )
    else:
        lines.append("dry run: nothing was changed")
    return lines


__all__ = ["DriftResult", "TableChange", "check", "diff", "register_store", "registered_stores"]
