"""Repeats: each case run N times, each in a fresh process, interleaved over the cases.

One process per case gives every figure one value per run, on a machine whose speed wanders by
2x between days; a verdict needs a sample. The suites that judge changes well (asv, pyperf,
Google Benchmark's ``compare.py``) run several processes and interleave them, so a drift of the
machine falls on every case alike. The runner (``bench.runner``) follows ``schedule``; each
repeat's figures are kept in ``cases[].repeats[]`` (``repeat_entry``), the case's own figures
staying its first repeat's, and ``compare`` tests the repeats as samples.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from pathlib import Path

from mnist_mlp import results
from mnist_mlp.bench import stopping
from mnist_mlp.bench.case import ChildCommand, run_once
from mnist_mlp.bench.plan import BenchOptions, CasePlan
from mnist_mlp.results import utc_now


def schedule(units: Sequence[Any], repeats: int) -> list[tuple[int, Any]]:
    """(repeat, unit) in the order they run: round-robin over the units (a case, or the cases that
    share one process), every unit's first repeat before any unit's second, so a drift of the
    machine's speed during the run falls on every case alike instead of on the cases that happen
    to run last (asv, pyperf)."""
    return [(repeat, unit) for repeat in range(1, repeats + 1) for unit in units]


#: the fields of a case record that one repeat measures (``cases[].repeats[]``)
REPEAT_FIELDS = (
    "status", "reason", "duration_s", "started_utc", "ended_utc", "raw_benchmark_json", "log", "training",
    "inference", "latency_ms", "peak", "latency_probe", "precision", "load", "busy", "unstable", "machine_flags", "stderr_tail",
    "race", "memory", "energy",
)


def repeat_entry(record: dict[str, Any], repeat: int) -> dict[str, Any]:
    """One repeat's figures and machine state, as ``cases[].repeats[]`` keeps them."""
    return {"repeat": repeat, **{key: record.get(key) for key in REPEAT_FIELDS}}


def shown_id(case_id: str, repeat: int, repeats: int) -> str:
    """``torch-cpu (repeat 2/3)``: how the terminal names a later repeat."""
    return f"{case_id} (repeat {repeat}/{repeats})"


def shown_plans(plans: Sequence[CasePlan], repeats: int) -> list[CasePlan]:
    """The plan as the terminal shows it: every case, then each later repeat of every case that
    runs (named by ``shown_id``), so the run's estimate counts every process still to come."""
    later = [replace(plan, case_id=shown_id(plan.case_id, repeat, repeats))
             for repeat in range(2, repeats + 1) for plan in plans if not plan.skip_reason and not plan.kept]
    return [*plans, *later]


def statuses(records: list[dict[str, Any]]) -> list[str]:
    """Every case's status and every later repeat's: a repeat that failed fails the run too."""
    return [record["status"] for record in records] + [
        str(entry.get("status")) for record in records for entry in (record.get("repeats") or [])[1:]]


def run_repeat(
    plan: CasePlan, repeat: int, index: int, options: BenchOptions, run: dict[str, Any],
    slots: dict[str, dict[str, Any] | None], work: Path, raw_dir: Path, run_dir: Path,
    weights: tuple[str, str] | None, command: ChildCommand, reporter: Any, source: Any,
) -> bool:
    """Run repeat ``repeat`` of a case in a fresh child; add it to the case's ``repeats`` and save.

    The case's own figures stay its first repeat's; a later repeat that fails is kept with its
    status (the run's exit code says so) and takes nothing else with it. True when interrupted.
    """
    key = f"{plan.case_id}.r{repeat}"
    shown = replace(plan, case_id=shown_id(plan.case_id, repeat, options.repeats))
    started = utc_now()
    record, _, interrupted = run_once(plan, options, run, run_dir, raw_dir, work, weights, command, reporter, source,
                                      shown=shown, index=index, total=len(slots), key=key)
    with stopping.DeferredInterrupt() as deferred:
        record.update(started_utc=started, ended_utc=utc_now())
        slots[plan.case_id]["repeats"].append(repeat_entry(record, repeat))
        try:
            reporter.case_finished(shown, record)
        except KeyboardInterrupt:
            interrupted = True
        run["cases"] = [record for record in slots.values() if record is not None]
        run["status"] = "interrupted" if interrupted or deferred.hit else "partial"
        results.save(run, run_dir)
    return interrupted or deferred.hit
