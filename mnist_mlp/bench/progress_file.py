"""What a benchmark child tells the parent while it runs: a small JSON file, replaced whole.

The child (``ProgressWriter``, in the suite's conftest) rewrites the file at each phase change,
at the start of training and at each epoch's end, and before each inference benchmark; the
parent polls it (``parse``) to draw progress and estimate the time left (``mnist_mlp.bench.eta``).
A write goes to a temporary file renamed over the old one, so a reader sees the old state or the
new one, never half a file; no fsync (a lost progress line costs nothing). Writing never raises.

The writer also keeps the seconds spent in each phase (``phase_seconds``); the suite stores the
final tally in the child's machine info, so every case records where its time went.

Fields (all optional except ``phase``): ``phase`` (one of ``PHASES``), ``seed`` and ``seeds``
(this seed's position, 1-based, and how many), ``epoch`` (the epoch running, 1-based) of
``epochs``, ``epoch_seconds`` (every finished epoch of this case, all seeds, in order), ``detail``
(the path and batch being measured), ``step`` of ``steps`` (the benchmark running in this phase),
``phase_seconds``, ``time`` (``time.time()`` of the write: how long the current epoch has run).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

#: the phases of a case, in the order a child goes through them
PHASES = ("imports", "peak probe", "data", "training", "agreement", "inference sweep", "latency", "finish")


@dataclass(frozen=True)
class ChildProgress:
    """One snapshot of a child's progress (``phase`` None: a plain-text file from an older child)."""

    phase: str | None = None
    seed: int | None = None  # the seed value being trained
    seed_index: int = 0  # 0-based position of that seed among the case's seeds
    seeds: int = 1
    epoch: int = 0  # the epoch running now, 1-based (0: not started)
    epochs: int = 0
    epoch_seconds: tuple[float, ...] = ()
    detail: str = ""
    step: int = 0
    steps: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    time: float | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["epoch_seconds"] = [round(s, 4) for s in self.epoch_seconds]
        data["phase_seconds"] = {k: round(v, 4) for k, v in self.phase_seconds.items()}
        return json.dumps(data)

    def describe(self) -> str:
        """'training seed 0, epoch 3/25', 'inference sweep 2/6: direct, batch 256', ..."""
        if self.phase is None:
            return self.detail or "starting"
        if self.phase == "training" and self.epochs:
            seed = f"seed {self.seed}" + (f" ({self.seed_index + 1}/{self.seeds})" if self.seeds > 1 else "")
            return f"training {seed}, epoch {max(self.epoch, 1)}/{self.epochs}"
        text = self.phase
        if self.steps:
            text += f" {self.step}/{self.steps}"
        if self.detail:
            text += f": {self.detail}"
        return text


def parse(text: str) -> ChildProgress | None:
    """The snapshot in a progress file's text; plain text (not our JSON) becomes its ``detail``.

    None for an empty file (the child has not written yet).
    """
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return ChildProgress(detail=text.splitlines()[0][:200])
    if not isinstance(data, dict) or not isinstance(data.get("phase"), str):
        return ChildProgress(detail=text.splitlines()[0][:200])
    known = {name for name in ChildProgress.__dataclass_fields__}
    values = {key: value for key, value in data.items() if key in known}
    try:
        values["epoch_seconds"] = tuple(float(s) for s in values.get("epoch_seconds") or ())
        values["phase_seconds"] = {str(k): float(v) for k, v in (values.get("phase_seconds") or {}).items()}
        for key in ("seed_index", "seeds", "epoch", "epochs", "step", "steps"):
            values[key] = int(values.get(key) or 0)
        values["seeds"] = max(values["seeds"], 1)
        values["detail"] = str(values.get("detail") or "")
        return ChildProgress(**values)
    except (TypeError, ValueError):
        return ChildProgress(phase=data["phase"])


def read(path: str | Path) -> ChildProgress | None:
    """``parse`` of the file at ``path``; None when it does not exist (yet) or cannot be read."""
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


class ProgressWriter:
    """The child's side: the current snapshot, rewritten on every change; never fatal.

    ``path`` None (pytest run by hand) keeps the tally of phase seconds but writes nothing.
    The clock starts when the writer is made (the suite's conftest is imported): interpreter and
    pytest start-up before that are not in ``phase_seconds``.
    """

    def __init__(
        self, path: str | Path | None, phase: str = "imports", *, clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.path = Path(path) if path else None
        self.state = ChildProgress(phase=phase)
        self._clock = clock
        self._phase_start = clock()
        self._epoch_start = self._phase_start
        self._write()

    def phase(self, name: str, **fields: Any) -> None:
        """Enter phase ``name`` (fields such as detail, step, steps replace the old ones)."""
        if name != self.state.phase:
            self._close_phase()
            fields.setdefault("detail", "")
            fields.setdefault("step", 0)
            fields.setdefault("steps", 0)
        self.state = replace(self.state, phase=name, **fields)
        self._write()

    def epoch_started(self, seed: int, seed_index: int, seeds: int, epoch: int, epochs: int) -> None:
        """Epoch ``epoch`` (1-based) of the seed at ``seed_index`` begins (call between epochs)."""
        self._epoch_start = self._clock()
        self.phase("training", seed=seed, seed_index=seed_index, seeds=seeds, epoch=epoch, epochs=epochs)

    def mark_epoch_start(self) -> None:
        """Start the epoch clock without writing (called inside a timed epoch: no I/O there)."""
        self._epoch_start = self._clock()

    def epoch_finished(self, next_epoch: int | None = None) -> None:
        """The running epoch ended: its seconds join ``epoch_seconds``; ``next_epoch`` runs next."""
        took = self._clock() - self._epoch_start
        changes: dict[str, Any] = {"epoch_seconds": (*self.state.epoch_seconds, took)}
        if next_epoch is not None:
            changes["epoch"] = next_epoch
        self.state = replace(self.state, **changes)
        self._write()

    def phase_seconds(self) -> dict[str, float]:
        """Seconds spent in each phase so far, the current one up to now."""
        tally = dict(self.state.phase_seconds)
        if self.state.phase:
            tally[self.state.phase] = tally.get(self.state.phase, 0.0) + self._clock() - self._phase_start
        return {name: round(seconds, 3) for name, seconds in tally.items()}

    def _close_phase(self) -> None:
        now = self._clock()
        tally = dict(self.state.phase_seconds)
        if self.state.phase:
            tally[self.state.phase] = tally.get(self.state.phase, 0.0) + now - self._phase_start
        self._phase_start = now
        self.state = replace(self.state, phase_seconds=tally)

    def _write(self) -> None:
        if self.path is None:
            return
        snapshot = replace(self.state, time=time.time())
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(snapshot.to_json(), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
