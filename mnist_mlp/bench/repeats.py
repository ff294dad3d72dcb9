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

from mnist_mlp.bench.plan import CasePlan


def schedule(plans: Sequence[CasePlan], repeats: int) -> list[tuple[int, int, CasePlan]]:
    """(repeat, index in the plan, plan) in the order they run: round-robin over the cases, every
    case's first repeat before any case's second, so a drift of the machine's speed during the run
    falls on every case alike instead of on the cases that happen to run last (asv, pyperf)."""
    return [(repeat, index, plan) for repeat in range(1, repeats + 1) for index, plan in enumerate(plans, 1)]

#: the fields of a case record that one repeat measures (``cases[].repeats[]``)
REPEAT_FIELDS = (
    "status", "reason", "duration_s", "started_utc", "ended_utc", "raw_benchmark_json", "log", "training",
    "inference", "latency_ms", "peak", "precision", "load", "busy", "unstable", "machine_flags", "stderr_tail",
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
