"""One comparison's rows as one family of tests, and what moved between two runs.

Every case x metric x batch size tested at p < 0.05 on its own would show, between two identical
runs of 55 rows, about three "differences". So the raw p-values of all rows of one comparison
(absolute and per unit of peak) are adjusted together, Benjamini-Hochberg (``stats.fdr_adjust``),
and a difference counts only when its adjusted q-value is below ``ALPHA``. ``TestCount`` says how
many rows were judged, by which rule, how many were not tested and how many differences survive.

The machine's speed is each case's own measured peak (``collect.case_peak``: the higher of the
probes before and after it). Two runs' peaks further apart than either run's own before/after
spread (and at least ``MIN_RELATIVE_CHANGE``) mean the machine's speed changed between them: on one
host name that is a label (the VM was moved, boosted, throttled), not a refusal. ``movement`` puts
the two together: the machine moved when some case's peak changed; the framework moved when a
difference survives per unit of the probe that bounds it (the peak, or the latency probe: the
machine's speed taken out), so "machine" is said only where the bounding probe moved as much.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mnist_mlp.compare.judge import ALPHA, BAND, MIN_RELATIVE_CHANGE, REPEAT_TESTS, WELCH, Verdict, decide
from mnist_mlp.compare.measures import Metric
from mnist_mlp.stats import fdr_adjust

#: the per-case row of the machine's measured speed (not a test: a label from the probes' spread)
MACHINE_METRIC = Metric("machine.peak_gflops", "machine speed (FP32 matmul peak)", "machine", "GFLOP/s")
#: the per-case row of the framework's latency: its tiny-op round trip (what bounds a batch-32
#: step or a batch-1 prediction on a CPU), a label from the probes' spread like the peak's
LATENCY_METRIC = Metric("machine.latency_us", "machine latency (framework tiny-op round trip)", "machine", "µs")
MACHINE_CHANGED = "machine speed changed"
MACHINE_STEADY = "same machine speed"
OTHER_MACHINE = "another machine"


@dataclass
class TestCount:
    rows: int = 0  # rows with a value on both sides
    welch: int = 0  # judged by Welch's t-test over seeds (accuracy)
    repeats: int = 0  # judged on repeats (fresh processes): Welch over repeats, or one value against them
    band: int = 0  # judged by the ratio against the noise band
    not_tested: int = 0  # neither applied: said plainly, no p-value
    per_peak_tests: int = 0  # of the tests, those made per unit of peak
    surviving: int = 0  # absolute differences with q < ALPHA (and large enough)
    surviving_per_peak: int = 0  # per-peak differences with q < ALPHA (and large enough)
    corrected: bool = True  # False only when a study switched the correction off


@dataclass
class Movement:
    machine_ratio: float | None  # median over cases of peak other / peak base
    machine_changed: list[str] = field(default_factory=list)  # cases whose peak moved beyond its probes' spread
    absolute: int = 0  # absolute differences that survive
    per_peak: int = 0  # per-peak differences that survive
    per_peak_known: bool = False  # whether any row could be judged per unit of peak
    #: absolute differences whose bounding probe was not measured on both sides: nothing can say
    #: whether the machine explains them
    unexplained: int = 0
    moved: str = "neither"  # "machine", "framework", "both", "neither", or "unknown"


def machine_verdict(base: Mapping[str, Any], other: Mapping[str, Any], same_host: bool) -> Verdict:
    """Peak other / peak base, and whether the machine's speed changed beyond both runs' probe spread."""
    ratio = other["gflops"] / base["gflops"]
    apart = 100.0 * abs(other["gflops"] - base["gflops"]) / max(other["gflops"], base["gflops"])
    spreads = [p.get("change_percent") for p in (base, other)]
    own = max([s for s in spreads if isinstance(s, (int, float))], default=0.0)
    changed = apart > own and apart >= 100.0 * MIN_RELATIVE_CHANGE
    label = MACHINE_CHANGED if changed and same_host else OTHER_MACHINE if not same_host else MACHINE_STEADY
    why = f"peaks {apart:.0f}% apart, the runs' own before/after probes at most {own:.0f}%"
    return Verdict(ratio, label, None, why_untested=why, machine_ratio=ratio, kind=MACHINE_METRIC.kind,
                   effect={"apart_percent": apart, "probe_spread_percent": own, "changed": float(changed)})


def latency_verdict(base: Mapping[str, Any], other: Mapping[str, Any], same_host: bool) -> Verdict:
    """The latency probe as ``machine_verdict`` reads a peak: its speed (calls per second), other /
    base, changed when further apart than both runs' own before/after spread."""
    def as_speed(probe: Mapping[str, Any]) -> dict[str, Any]:
        return {"gflops": 1e6 / float(probe["framework_us"]), "change_percent": probe.get("change_percent")}

    verdict = machine_verdict(as_speed(base), as_speed(other), same_host)
    verdict.why_untested = verdict.why_untested.replace("peaks", "latency probes")
    return verdict


def _tested(verdict: Verdict | None) -> list[Verdict]:
    if verdict is None or verdict.kind == MACHINE_METRIC.kind:
        return []
    return [v for v in (verdict, verdict.per_peak) if v is not None and v.p_value is not None]


def adjust_family(pairs: Sequence[tuple[Metric, Verdict | None]], fdr: bool = True) -> TestCount:
    """Adjust the p-values of one comparison's rows together (Benjamini-Hochberg) and relabel each."""
    count = TestCount(corrected=fdr)
    family: list[tuple[Metric, Verdict, bool]] = []
    for metric, verdict in pairs:
        if verdict is None or verdict.kind == MACHINE_METRIC.kind or verdict.label == "n/a":
            continue
        count.rows += 1
        if verdict.test == WELCH:
            count.welch += 1
        elif verdict.test in REPEAT_TESTS:
            count.repeats += 1
        elif verdict.test == BAND:
            count.band += 1
        else:
            count.not_tested += 1
        if verdict.p_value is not None:
            family.append((metric, verdict, False))
        if verdict.per_peak is not None and verdict.per_peak.p_value is not None:
            family.append((metric, verdict.per_peak, True))
            count.per_peak_tests += 1
    q_values = fdr_adjust([v.p_value for _, v, _ in family]) if fdr else [v.p_value for _, v, _ in family]
    for (metric, verdict, scaled), q in zip(family, q_values):
        verdict.q_value = q
        decide(metric, verdict, q)
        if verdict.significant:
            if scaled:
                count.surviving_per_peak += 1
            else:
                count.surviving += 1
    return count


def movement(rows_of_run: Sequence[tuple[str, Metric, Verdict | None]]) -> Movement:
    """What moved between base and other, from (case, metric, verdict) rows (after ``adjust_family``)."""
    machine = [(case, v) for case, m, v in rows_of_run if v is not None and m.kind == MACHINE_METRIC.kind]
    ratios = [v.machine_ratio for case, m, v in rows_of_run if v is not None and m == MACHINE_METRIC and v.machine_ratio]
    changed = [bool(v.effect.get("changed")) for _, v in machine]
    rows = [v for _, m, v in rows_of_run if v is not None and m.kind != MACHINE_METRIC.kind]
    move = Movement(statistics.median(ratios) if ratios else None)
    move.machine_changed = list(dict.fromkeys(case for (case, _), flag in zip(machine, changed) if flag))
    move.absolute = sum(1 for v in rows if v.significant)
    move.unexplained = sum(1 for v in rows if v.significant and (v.per_peak is None or v.per_peak.p_value is None))
    move.per_peak = sum(1 for v in rows if v.per_peak is not None and v.per_peak.significant)
    move.per_peak_known = any(v.per_peak is not None and v.per_peak.p_value is not None for v in rows)
    machine_moved = any(changed)
    framework = move.per_peak > 0 if machine else move.absolute > 0
    tested = any(v.p_value is not None for v in rows)
    if not machine:
        move.moved = "framework" if framework else ("neither" if tested else "unknown")
    elif machine_moved and framework:
        move.moved = "both"
    elif machine_moved:
        # "the probes explain them" needs rows that were tested: with none, nothing says what else moved
        move.moved = "machine" if tested else "unknown"
    elif framework or move.absolute:
        move.moved = "framework"
    else:
        move.moved = "neither" if tested else "unknown"
    return move


__all__ = ["ALPHA", "LATENCY_METRIC", "MACHINE_METRIC", "latency_verdict", "Movement", "TestCount", "adjust_family", "machine_verdict", "movement"]
