"""How each machine's figures moved between its runs, judged by ``mnist_mlp.compare`` itself.

Runs of the same machine (``figures.machine_key``: host name, CPU model, GPUs) in time order;
each run is compared with the latest earlier run of that machine that compare finds comparable
(``compare.not_comparable_reasons``: same schema, dataset and measured workload) and that shares
a finished case with it (else the latest comparable one), through
``compare.load_runs`` and ``compare.compare``, and every verdict compare marks significant is a
change. Nothing here re-implements compare's rules (test, threshold, correction): when compare
changes, this page follows. Beside them, also compare's own: the cases whose measured peak
changed (``compare.family.machine_verdict``: further apart than both runs' own probe spread and at
least ``MIN_RELATIVE_CHANGE``; the cases of ``Movement.machine_changed``), what moved, the machine
or the framework (``compare.family.movement``), and what differs in the machine, software and tool
(compare's ``differences``). The dashboard has no threshold of its own, so it and ``mnist-mlp
compare`` cannot disagree about whether something changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from mnist_mlp import compare
from mnist_mlp.dashboard.collect import LoadedRun
from mnist_mlp.dashboard.figures import machine_key
from mnist_mlp.errors import MnistMlpError


@dataclass
class Change:
    case: str
    metric: str
    verdict: str  # compare's label: faster, slower, more accurate, less accurate
    ratio: float | None
    evidence: str  # compare's test and Verdict.describe()


@dataclass
class PeakChange:
    """A case whose measured peak compare says changed (its machine row, ``machine_verdict``)."""

    case: str
    before: float
    after: float

    @property
    def percent(self) -> float:
        return (self.after / self.before - 1.0) * 100.0


@dataclass
class Step:
    """One run of a machine against its latest earlier comparable run (``earlier`` None: no such run)."""

    machine: str
    later: str
    later_created: str
    earlier: str | None = None
    earlier_created: str | None = None
    changes: list[Change] = field(default_factory=list)
    peaks: list[PeakChange] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    why_alone: str = ""  # when earlier is None: why no earlier run was compared
    movement: compare.Movement | None = None  # compare's: what moved, the machine or the framework


def machine_label(key: tuple[str, str, tuple[str, ...]]) -> str:
    host, cpu, gpus = key
    return f"{host or '?'} ({cpu or '?'}" + (f"; {', '.join(gpus)}" if gpus else "") + ")"


def groups(loaded: Sequence[LoadedRun]) -> dict[tuple, list[LoadedRun]]:
    """The runs of each machine, oldest first (``loaded`` is oldest first already)."""
    out: dict[tuple, list[LoadedRun]] = {}
    for entry in loaded:
        out.setdefault(machine_key(entry.run), []).append(entry)
    return out


def steps(loaded: Sequence[LoadedRun]) -> list[Step]:
    """Every run after a machine's first, against its latest earlier comparable run."""
    out = []
    for key, runs in groups(loaded).items():
        for position, later in enumerate(runs):
            if position == 0:
                continue
            out.append(_step(machine_label(key), runs[:position], later))
    return out


def _step(machine: str, earlier_runs: Sequence[LoadedRun], later: LoadedRun) -> Step:
    step = Step(machine, later.name, later.created)
    comparable = [e for e in earlier_runs if not compare.not_comparable_reasons(e.run, later.run)]
    sharing = [e for e in comparable if _ok_ids(e.run) & _ok_ids(later.run)]
    if comparable:
        earlier = (sharing or comparable)[-1]
    else:
        previous = earlier_runs[-1]
        reasons = compare.not_comparable_reasons(previous.run, later.run)
        step.why_alone = f"no earlier comparable run of this machine (previous: {previous.name}, {'; '.join(reasons)})"
        return step
    step.earlier, step.earlier_created = earlier.name, earlier.created
    try:
        comparison = compare.compare(compare.load_runs([earlier.folder, later.folder]))
    except (MnistMlpError, KeyError, TypeError, ValueError) as exc:  # one odd run must not hide the page
        step.why_alone = f"compare could not judge it against {earlier.name}: {type(exc).__name__}: {exc}"
        step.earlier = None
        return step
    for row in comparison.rows:
        verdict = row.verdicts[1]
        if verdict is None or verdict.significant is not True or row.metric.kind == compare.MACHINE_METRIC.kind:
            continue
        evidence = ", ".join(x for x in (verdict.test or "", verdict.describe()) if x)
        step.changes.append(Change(row.case, row.metric.label, verdict.label, verdict.ratio, evidence))
    step.differences = [f"{key}: {values[0]!r} -> {values[1]!r}" for key, values in comparison.differences]
    step.movement = comparison.movements.get(comparison.runs[1].label)
    step.peaks = peak_changes(comparison)
    return step


def _ok_ids(run: dict[str, Any]) -> set[str]:
    return {str(c.get("id")) for c in run.get("cases") or [] if c.get("status") == "ok"}


def peak_changes(comparison: compare.Comparison) -> list[PeakChange]:
    """The cases whose measured peak changed between the two runs, as compare judged them: its
    machine rows' verdicts (``machine_verdict``), the cases its ``movement`` names."""
    move = comparison.movements.get(comparison.runs[1].label)
    changed = set(move.machine_changed) if move is not None else set()
    out = []
    for row in comparison.rows:
        before, after = row.measures[0], row.measures[1]
        if (row.metric == compare.MACHINE_METRIC and row.case in changed
                and before is not None and after is not None and before.value and after.value):
            out.append(PeakChange(row.case, before.value, after.value))
    return out


def to_dicts(found: Sequence[Step]) -> list[dict[str, Any]]:
    return [
        {"machine": s.machine, "earlier": s.earlier, "later": s.later, "why_alone": s.why_alone,
         "changes": [vars(c) for c in s.changes],
         "peaks": [{"case": p.case, "before": p.before, "after": p.after, "percent": p.percent} for p in s.peaks],
         "moved": s.movement.moved if s.movement is not None else None,
         "differences": s.differences}
        for s in found
    ]
