"""The A/B judgment: each figure on the ratios of pairs measured side by side (``mnist-mlp ab``).

In an A/B session every case ran on both sides once per pair, back to back (``bench.ab``), so a
pair shares the machine's state of that moment and the ratio B/A of a pair has that state taken
out. Each time and rate is judged on the log ratios of its pairs:

* the paired t-test (``scipy.stats.ttest_1samp`` of the log ratios against 0, which is
  ``ttest_rel`` on the logs), two-sided; the ratio is the geometric mean of the pairs' ratios and
  its 95% interval is the t interval of the mean log ratio;
* the false discovery rate over every row of the session (Benjamini-Hochberg, ``stats.fdr_adjust``);
* an effect threshold, as asv's ``--factor``: a change counts only when the ratio differs from 1
  by at least ``factor`` (default ``MIN_RELATIVE_CHANGE``, 5%).

A figure measured in passes (the quick profile's inference and batch-1 latency, ``Profile.passes``)
enters each pair as its process's best pass, not the pooled value the report shows: on a shared
VM a call runs slow in spells from under 0.3 s to over a second, and one pass in such a spell says nothing of the
code, while the fastest of five passes spread over the case is the undisturbed speed, as timeit's
minimum is (``reports/calibration/window-noise/``).

Fewer than two pairs, or pairs whose ratios do not vary at all, leave a row "not tested". Accuracy
is not judged here (every pair trains the same seeds); ``compare`` judges it over seeds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

from mnist_mlp.compare.judge import ALPHA, MIN_RELATIVE_CHANGE
from mnist_mlp.compare.measures import Metric, process_metrics
from mnist_mlp.stats import fdr_adjust

TEST = "paired t-test on the log ratios"
NOT_TESTED = "not tested"
CONFIDENCE = 0.95


@dataclass
class PairedRow:
    case: str
    metric: Metric
    a: list[float]  # side A's value in each pair, in pair order
    b: list[float]
    ratio: float | None = None  # B / A: the geometric mean of the pairs' ratios
    low: float | None = None  # its 95% interval
    high: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    label: str = NOT_TESTED
    significant: bool | None = None
    why: str = ""
    #: the passes each process's best of was judged (``Measure.judged``), in every pair; 1: the values were
    passes: int = 1

    @property
    def figure(self) -> str:
        """The figure's label, saying when each process's best pass is what was judged."""
        return self.metric.label + (f" (best of {self.passes} passes)" if self.passes > 1 else "")

    @property
    def pairs(self) -> int:
        return len(self.a)

    @property
    def slower_percent(self) -> float | None:
        """How much slower B is than A, in percent (negative: faster)."""
        if self.ratio is None or self.ratio <= 0:
            return None
        return (self.ratio - 1.0) * 100.0 if self.metric.kind == "time" else (1.0 / self.ratio - 1.0) * 100.0


@dataclass
class PairedJudgment:
    rows: list[PairedRow]
    factor: float
    alpha: float = ALPHA
    missing: list[str] = field(default_factory=list)

    def slowdowns(self, percent: float) -> list[str]:
        """Confirmed slowdowns of B larger than ``percent``: significant (q < alpha, beyond the factor)."""
        return [f"{row.case} {row.metric.label}: {row.slower_percent:.1f}% slower on B (x{row.ratio:.3g}, "
                f"95% interval x{row.low:.3g} to x{row.high:.3g}, q={row.q_value:.2g}; limit {percent:g}%)"
                for row in self.rows
                if row.label == "slower" and row.slower_percent is not None and row.slower_percent > percent]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            found[row.label] = found.get(row.label, 0) + 1
        return found


def pairs_of(case_a: Mapping[str, Any], case_b: Mapping[str, Any]) -> dict[Metric, tuple[list[float], list[float]]]:
    """Each time and rate's values per pair, where the pair ended ok on both sides (``_paired``)."""
    return {metric: (a, b) for metric, (a, b, _) in _paired(case_a, case_b).items()}


def _paired(case_a: Mapping[str, Any], case_b: Mapping[str, Any]) -> dict[Metric, tuple[list[float], list[float], int]]:
    """Per figure, each pair's two values, and the passes they are the best of (1: the values).

    Where every pair's two processes measured the figure in passes, each pair gives their best
    passes (``Measure.judged``); where any side of any pair has none (a side from before they
    existed, or a profile without them), every pair gives its values: one measure for the whole row."""
    by_repeat = [{entry.get("repeat"): entry for entry in (case.get("repeats") or []) if entry.get("status") == "ok"}
                 for case in (case_a, case_b)]
    found: dict[Metric, list[tuple[Any, Any]]] = {}
    for repeat in sorted(set(by_repeat[0]) & set(by_repeat[1])):
        found_a, found_b = process_metrics(by_repeat[0][repeat]), process_metrics(by_repeat[1][repeat])
        for metric, measure in found_a.items():
            other = found_b.get(metric)
            if metric.kind in ("time", "rate") and other is not None:
                found.setdefault(metric, []).append((measure, other))
    out: dict[Metric, tuple[list[float], list[float], int]] = {}
    for metric, pairs in found.items():
        passes = min(min(len(measure.passes), len(other.passes)) for measure, other in pairs)
        values = [(m.judged, o.judged) if passes > 1 else (m.value, o.value) for m, o in pairs]
        kept = [(float(a), float(b)) for a, b in values if a is not None and b is not None and a > 0 and b > 0]
        if kept:
            out[metric] = ([a for a, _ in kept], [b for _, b in kept], max(passes, 1))
    return out


def _test(row: PairedRow) -> None:
    from scipy.stats import t as student_t, ttest_1samp

    logs = [math.log(b / a) for a, b in zip(row.a, row.b)]
    row.ratio = math.exp(statistics.fmean(logs))
    if len(logs) < 2:
        row.why = "one pair: no spread to test against (run more --pairs)"
        return
    sd = statistics.stdev(logs)
    if sd == 0.0:
        row.why = "the pairs' ratios do not vary: no test"
        return
    half = student_t.ppf(0.5 + CONFIDENCE / 2, len(logs) - 1) * sd / math.sqrt(len(logs))
    mean = statistics.fmean(logs)
    row.low, row.high = math.exp(mean - half), math.exp(mean + half)
    row.p_value = float(ttest_1samp(logs, 0.0).pvalue)


def decide(row: PairedRow, q_value: float, factor: float, alpha: float = ALPHA) -> None:
    """Label a tested row from its adjusted q-value and the size of its change."""
    row.q_value = q_value
    if not (q_value < alpha and abs(row.ratio - 1.0) >= factor):
        row.label, row.significant = "within noise", False
        return
    up = row.ratio > 1.0
    row.label = "faster" if (up if row.metric.kind == "rate" else not up) else "slower"
    row.significant = True


def judge_pairs(run_a: Mapping[str, Any], run_b: Mapping[str, Any], factor: float = MIN_RELATIVE_CHANGE,
                fdr: bool = True) -> PairedJudgment:
    """Every case both sides ran ok, every time and rate: the paired verdict (module docstring)."""
    cases_b = {case["id"]: case for case in run_b.get("cases") or [] if case.get("status") == "ok"}
    rows, missing = [], []
    for case_a in run_a.get("cases") or []:
        if case_a.get("status") != "ok":
            continue
        case_b = cases_b.get(case_a["id"])
        if case_b is None:
            missing.append(f"{case_a['id']}: no successful result on B")
            continue
        for metric, (a, b, passes) in _paired(case_a, case_b).items():
            row = PairedRow(case_a["id"], metric, a, b, passes=passes)
            _test(row)
            rows.append(row)
    missing += [f"{case_id}: no successful result on A" for case_id in cases_b
                if case_id not in {c["id"] for c in run_a.get("cases") or [] if c.get("status") == "ok"}]
    tested = [row for row in rows if row.p_value is not None]
    q_values = fdr_adjust([row.p_value for row in tested]) if fdr else [row.p_value for row in tested]
    for row, q in zip(tested, q_values):
        decide(row, q, factor)
    return PairedJudgment(rows, factor, missing=missing)
