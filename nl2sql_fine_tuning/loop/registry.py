"""The model registry: every trained version, which one is served, and one-command rollback.

One JSON file (``<loop home>/registry.json``), rewritten atomically (temp file +
``os.replace``) under an exclusive ``flock`` so two commands never interleave.  A
version records its base model, its adapter (LoRA) or full-model path, the dataset
version it was trained on, the recipe, its metrics and the gate's decision, and a
status:

* ``candidate`` — trained and evaluated, not served (the gate refused it, or it waits);
* ``promoted`` — the one version served now (at most one);
* ``retired`` — served before; ``rollback`` brings the latest retired one back.

``history`` lists every promotion, so ``rollback`` is "promote the version that was
served before this one".  The agent reads :func:`promoted` (name and paths) — a
serving process that re-reads the file picks up a promotion or rollback without a
restart (``nl2sql_agent`` does, per request, see :class:`RegistryWatch`).

>>> import tempfile
>>> reg = Registry(tempfile.mkdtemp())
>>> v1 = reg.add(base_model="m", adapter="a1", model_path=None, dataset="d1",
...              recipe="r1.yaml", metrics={})
>>> reg.promote(v1.name).name, reg.promoted().name
('v1', 'v1')
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_create.errors import ConfigError

REGISTRY_FORMAT = "nl2sql-factory/registry"
REGISTRY_VERSION = 1
STATUSES = ("candidate", "promoted", "retired")
FILE_NAME = "registry.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ModelVersion:
    name: str  # "v1", "v2", ... — what the agent records as its model_version
    base_model: str
    adapter: str | None  # LoRA adapter directory (None for a full fine-tune)
    model_path: str | None  # full or merged model directory, when there is one
    dataset: str  # dataset version name (datasets/<name>/lineage.json says what is in it)
    recipe: str  # the LLaMA-Factory recipe it was trained with
    metrics: dict[str, Any]  # regression / failures execution accuracy, per item
    status: str = "candidate"
    created_at: str = ""
    gate: dict[str, Any] = field(default_factory=dict)  # the gate's decision and reasons
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def weights(self) -> str:
        """What to serve: the adapter on the base model, or the full/merged model."""
        return self.model_path or self.adapter or self.base_model


class Registry:
    """Versions in ``<home>/registry.json``; every change is one atomic rewrite."""

    def __init__(self, home: str | os.PathLike[str]):
        self.home = Path(home)
        self.path = self.home / FILE_NAME

    # ------------------------------------------------------------ reading

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {
                "format": REGISTRY_FORMAT,
                "version": REGISTRY_VERSION,
                "versions": [],
                "history": [],
            }
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the model registry {self.path}: {exc}") from None
        if data.get("format") != REGISTRY_FORMAT:
            raise ConfigError(f"{self.path} is not an nl2sql-factory model registry")
        if data.get("version", 0) > REGISTRY_VERSION:
            raise ConfigError(
                f"{self.path} was written by a newer nl2sql-factory (registry version "
                f"{data.get('version')})",
                "upgrade nl2sql-factory",
            )
        return data

    def versions(self) -> list[ModelVersion]:
        return [ModelVersion(**v) for v in self._read()["versions"]]

    def get(self, name: str) -> ModelVersion:
        for v in self.versions():
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.versions()) or "none"
        raise ConfigError(f"no model version {name!r} in {self.path} (known: {known})")

    def promoted(self) -> ModelVersion | None:
        return next((v for v in self.versions() if v.status == "promoted"), None)

    def history(self) -> list[dict[str, Any]]:
        return list(self._read()["history"])

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / (FILE_NAME + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = self.path.with_name(FILE_NAME + ".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")
            os.replace(tmp, self.path)

    def add(self, **fields: Any) -> ModelVersion:
        """Register a new candidate; its name is the next ``vN``."""
        with self._locked() as data:
            name = f"v{len(data['versions']) + 1}"
            version = ModelVersion(name=name, created_at=_now(), **fields)
            data["versions"].append(version.to_dict())
        return version

    def update(self, name: str, **changes: Any) -> ModelVersion:
        with self._locked() as data:
            for i, v in enumerate(data["versions"]):
                if v["name"] == name:
                    new = replace(ModelVersion(**v), **changes)
                    data["versions"][i] = new.to_dict()
                    return new
        raise ConfigError(f"no model version {name!r} in {self.path}")

    def promote(self, name: str, reason: str = "promote") -> ModelVersion:
        """Serve ``name``; the version served so far is retired."""
        with self._locked() as data:
            by_name = {v["name"]: v for v in data["versions"]}
            if name not in by_name:
                known = ", ".join(by_name) or "none"
                raise ConfigError(f"no model version {name!r} in {self.path} (known: {known})")
            previous = next(
                (v["name"] for v in data["versions"] if v["status"] == "promoted"), None
            )
            for v in data["versions"]:
                if v["status"] == "promoted" and v["name"] != name:
                    v["status"] = "retired"
            by_name[name]["status"] = "promoted"
            data["history"].append(
                {"at": _now(), "action": reason, "promoted": name, "previous": previous}
            )
            return ModelVersion(**by_name[name])

    def rollback(self) -> ModelVersion:
        """Serve again the version that was served before the current one."""
        current = self.promoted()
        if current is None:
            raise ConfigError("no version is promoted, so there is nothing to roll back")
        earlier = [h for h in self.history() if h["promoted"] == current.name and h["previous"]]
        if not earlier:
            raise ConfigError(
                f"{current.name} is the first version ever served; there is nothing to roll "
                "back to",
                "promote another version by name instead",
            )
        return self.promote(earlier[-1]["previous"], reason="rollback")


def promoted_name(home: str | os.PathLike[str]) -> str | None:
    """The served version's name, or None (no registry, nothing promoted)."""
    path = Path(home) / FILE_NAME
    if not path.exists():
        return None
    version = Registry(home).promoted()
    return version.name if version else None


class RegistryWatch:
    """A callable giving the promoted version, re-reading the file only when it changed
    (one ``stat`` per call) — how a long-running server follows promote/rollback."""

    def __init__(self, home: str | os.PathLike[str]):
        self.registry = Registry(home)
        self._stamp: tuple[int, int] | None = None
        self._version: ModelVersion | None = None

    def __call__(self) -> ModelVersion | None:
        try:
            st = self.registry.path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._version = self.registry.promoted()
            self._stamp = stamp
        return self._version


def table(versions: list[ModelVersion]) -> str:
    """``list``'s output: one line per version."""
    header = ("name", "status", "gate", "dataset", "regression", "failures", "created", "weights")
    rows = [header]
    for v in versions:
        reg = v.metrics.get("regression", {}).get("accuracy")
        fail = v.metrics.get("failures", {}).get("accuracy")
        rows.append(
            (
                v.name,
                v.status,
                "-" if not v.gate else "passed" if v.gate.get("promote") else "refused",
                v.dataset,
                "-" if reg is None else f"{reg:.3f}",
                "-" if fail is None else f"{fail:.3f}",
                v.created_at,
                v.weights,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
