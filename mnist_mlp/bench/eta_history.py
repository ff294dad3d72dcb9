"""What earlier runs of the same cases took: the run's time-left estimate, before it has measured much.

A run's first estimate used to come from its first case alone ("about 41 min left" at the start of
a run that took 20): the first case is rarely typical (TensorFlow's Keras case is the slowest to
train, NumPy's the quickest). Where ``reports/`` already holds runs of the same workload (profile,
epochs, seeds, training images), each case still to run is guessed from its own duration in the
newest of them, scaled by how this run's finished cases compare with theirs (this machine today
against that day), and the estimate says which runs it used. Cases no earlier run has fall back to
the guesses of ``eta.run_left``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

#: results files read at most (newest first by name), so a huge reports/ cannot stall the start
MAX_RUNS = 200


@dataclass(frozen=True)
class History:
    """Seconds each case took in the newest earlier run of the same workload that finished it."""

    durations: dict[str, float] = field(default_factory=dict)
    #: run id of each duration
    sources: dict[str, str] = field(default_factory=dict)

    def guess(self, case_id: str) -> float | None:
        return self.durations.get(case_id)

    def scale(self, finished: Sequence[tuple[str, float]]) -> float:
        """This run's finished cases over the same cases then (1.0 before any of them finished)."""
        common = [(seconds, self.durations[case]) for case, seconds in finished if case in self.durations]
        now, then = sum(s for s, _ in common), sum(t for _, t in common)
        return now / then if common and then > 0 else 1.0

    def runs_for(self, case_ids: Sequence[str]) -> list[str]:
        return sorted({self.sources[c] for c in case_ids if c in self.sources})


def workload_key(profile: str | None, epochs: Any, seeds: Any, train_samples: Any) -> tuple:
    return (profile, epochs, seeds, train_samples)


def _key_of(run: dict[str, Any]) -> tuple:
    workload = run.get("workload") or {}
    train = workload.get("train") or {}
    seeds = workload.get("seeds")
    return workload_key(run.get("profile"), train.get("epochs"), len(seeds) if isinstance(seeds, list) else seeds,
                        train.get("train_samples"))


def load(folder: str | Path, key: tuple) -> History:
    """Every results.json under ``folder`` (newest run folder first) of workload ``key``."""
    durations: dict[str, float] = {}
    sources: dict[str, str] = {}
    try:
        found = sorted(Path(folder).rglob("results.json"), key=lambda p: p.parent.name, reverse=True)[:MAX_RUNS]
    except OSError:
        return History()
    for path in found:
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(run, dict) or _key_of(run) != key:
            continue
        for case in run.get("cases") or []:
            seconds = case.get("duration_s") if isinstance(case, dict) else None
            if case.get("status") == "ok" and isinstance(seconds, (int, float)) and seconds > 0 and case.get("id") not in durations:
                durations[str(case["id"])] = float(seconds)
                sources[str(case["id"])] = str(run.get("run_id") or path.parent.name)
    return History(durations, sources)
