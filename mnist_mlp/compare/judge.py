"""Whether two measures of one metric differ beyond noise: which rule, its p-value, the effect size.

The rules, chosen by what each side holds, and nothing invented where none applies:

* **repeats** (both sides ran the case as two or more fresh processes, ``bench --repeats N``):
  Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) on the repeats, on the log scale
  for times and rates (a ratio is what is compared), effect size Cohen's d;
* **one value against repeats** (one side has repeats, the other one process): the single value
  against the prediction interval of the repeats (t with n-1 degrees of freedom and the repeats'
  spread standing in for both sides), on the log scale for times and rates;
* **seeds** (accuracy only: each seed trains anew, so two or more seeds a side are independent
  draws of the accuracy): Welch's t-test over seeds;
* **the noise band** (both sides one process): the ratio against the measured run-to-run spread of
  that figure (``mnist_mlp.compare.noise``; ``stats.band_p``), only where the band was measured on
  the same machine (host and CPU) and the same workload as both runs, and for that very case;
* none of these: **not tested**, with no p-value, and why said plainly.

Rounds inside one process, and the seeds' times of one process, share its machine state (clock
boost, cache placement, background load), so they never feed a test; they remain the process's
own spread in the tables. A verdict holds the raw p-value; ``comparison`` controls the false
discovery rate over all rows of one comparison (Benjamini-Hochberg) and decides with the
adjusted q-value (``decide``). For times and rates a difference must also be at least
``MIN_RELATIVE_CHANGE`` (5%) of the baseline, as asv's ``compare --factor``. Beside each ratio,
when both cases measured the probe that bounds the figure (``measures.bound_of``: the matmul peak
for large-batch throughput, the latency probe for steps, small batches and batch-1 latency), the
machine's ratio on that probe and the ratio per unit of it, judged by the same rules with that
speed taken out (each repeat by its own probe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mnist_mlp.compare.measures import Measure, Metric
from mnist_mlp.compare.noise import BandEntry, per_peak
from mnist_mlp.stats import band_p, prediction_p, welch_p

#: a two-sided (FDR-adjusted) p-value below this is a difference beyond noise
ALPHA = 0.05
#: times and rates: the smallest change (relative to the baseline) that counts, like asv's --factor
MIN_RELATIVE_CHANGE = 0.05
#: kept for callers that import it; rounds no longer select a test (they are not independent runs)
FULL_RANGE_MAX_SAMPLES = 10

WELCH = "Welch's t-test over seeds"
REPEATS = "Welch's t-test over repeats"
ONE_AGAINST_REPEATS = "one value against the other side's repeats"
BAND = "ratio against the noise band"
#: the rules that test samples of fresh processes (counted together as "repeats")
REPEAT_TESTS = (REPEATS, ONE_AGAINST_REPEATS)
NOT_TESTED = "not tested"


@dataclass
class Verdict:
    ratio: float | None
    label: str
    significant: bool | None  # None: not tested, or a value missing
    test: str | None = None  # the rule that judged it (WELCH, BAND), None when not tested
    p_value: float | None = None  # its raw two-sided p-value
    effect: dict[str, float | None] = field(default_factory=dict)  # cohens_d, or band_sd
    q_value: float | None = None  # the Benjamini-Hochberg adjusted p-value over the comparison
    why_untested: str = ""  # said plainly when not tested
    #: the machine: the bounding probe's speed, other / base; per unit of it: the ratio with it taken out
    machine_ratio: float | None = None
    per_peak_ratio: float | None = None
    per_peak: "Verdict | None" = None
    kind: str = ""  # the metric's kind, so the verdict can say how many times faster
    #: the probe whose speed ``machine_ratio`` and ``per_peak`` take out: "peak" or "latency" (``measures.bound_of``)
    bound: str = "peak"

    def describe(self) -> str:
        """``p=0.003, q=0.02, d=+4.2``: the evidence behind the label."""
        if self.p_value is None:
            return self.why_untested
        parts = [f"p={self.p_value:.2g}"]
        if self.q_value is not None:
            parts.append(f"q={self.q_value:.2g}")
        if self.effect.get("cohens_d") is not None:
            parts.append(f"d={self.effect['cohens_d']:+.2g}")
        return ", ".join(parts)

    @property
    def speedup(self) -> float | None:
        """How many times faster other is than base (a time's ratio inverted); None for accuracy."""
        return speedup(self.ratio, self.kind)


def speedup(ratio: float | None, kind: str) -> float | None:
    """A ratio other/base as "times faster": a time's inverted, a rate's as is; None for accuracy."""
    if ratio is None or ratio <= 0 or kind not in ("time", "rate"):
        return None
    return 1.0 / ratio if kind == "time" else ratio


def significance(base: Sequence[float], other: Sequence[float]) -> tuple[str, float, dict[str, float | None]] | None:
    """(rule, two-sided p-value, effect size) of ``other`` against ``base`` from independent samples
    (two or more a side, Welch); None when that is not possible (fewer, or no spread on either side)."""
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if min(len(a), len(b)) < 2:
        return None
    spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0)
    if spread == 0.0:
        return None
    return WELCH, welch_p(a, b), {"cohens_d": float((b.mean() - a.mean()) / spread)}


def _band_test(metric: Metric, base: float, other: float, sd: float | None, runs: int) -> tuple[str, float, dict] | None:
    if sd is None:
        return None
    if metric.kind == "accuracy":
        difference = other - base
    elif base > 0 and other > 0:
        difference = math.log(other / base)
    else:
        return None
    return BAND, band_p(difference, sd, runs), {"band_sd": sd, "band_runs": float(runs)}


def _sample(metric: Metric, measure: Measure, peak: float | None) -> list[float]:
    """The independent values of one side (its repeats, or an accuracy's seeds), else its one value;
    with ``peak`` given, per unit of peak (each repeat by its own peak where it has one)."""
    values = list(measure.samples) if measure.independent and len(measure.samples) >= 2 else [measure.value]
    if peak is None:
        return values
    peaks = measure.peaks if len(measure.peaks) == len(values) and all(measure.peaks) else [peak] * len(values)
    return [per_peak(metric, v, p) for v, p in zip(values, peaks)]


def _log(metric: Metric, values: list[float]) -> list[float] | None:
    """Times and rates on the log scale (ratios are what is compared); None where one is not positive."""
    if metric.kind == "accuracy":
        return values
    return [math.log(v) for v in values] if min(values) > 0 else None


def _test(metric: Metric, base: Measure, other: Measure, band: BandEntry | None,
          peaks: tuple[float, float] | None = None) -> tuple[str, float, dict] | None:
    """The rule that applies (module docstring) and its result, or None where none does."""
    a = _log(metric, _sample(metric, base, peaks[0] if peaks else None))
    b = _log(metric, _sample(metric, other, peaks[1] if peaks else None))
    if a is None or b is None:
        return None
    repeats = "repeats" in (base.source, other.source)
    if len(a) >= 2 and len(b) >= 2:
        found = significance(a, b)
        if found is None:
            return None
        return (REPEATS if repeats else WELCH), found[1], found[2]
    if repeats and max(len(a), len(b)) >= 2:
        single, sample = (a[0], b) if len(a) == 1 else (b[0], a)
        p_value = prediction_p(single, sample)
        return None if p_value is None else (ONE_AGAINST_REPEATS, p_value, {"repeats": float(len(sample))})
    if band is None:
        return None
    sd = band.sd_per_peak if peaks else band.sd
    return _band_test(metric, math.exp(a[0]) if metric.kind != "accuracy" else a[0],
                      math.exp(b[0]) if metric.kind != "accuracy" else b[0], sd, band.runs)


def judge(metric: Metric, base: Measure, other: Measure, band: BandEntry | None = None,
          peaks: tuple[float | None, float | None] = (None, None), band_note: str = "", bound: str = "peak") -> Verdict:
    """Ratio ``other/base`` and the raw test (module docstring); decided as a family of one (its
    q is its p) until ``comparison`` adjusts the family. ``peaks``: each case's speed of the probe
    that bounds the figure (``bound``: its measured peak, or its latency probe's calls per second);
    ``band_note``: why no band judges this row (another machine or workload), said when untested."""
    if base.value is None or other.value is None:
        return Verdict(None, "n/a", None, kind=metric.kind)
    ratio = other.value / base.value if base.value else None
    verdict = _verdict(metric, ratio, _test(metric, base, other, band), band, band_note)
    verdict.bound = bound
    if metric.kind != "accuracy" and all(p is not None and p > 0 for p in peaks):
        machine = peaks[1] / peaks[0]
        verdict.machine_ratio = machine
        scaled_ratio = None if ratio is None else (ratio * machine if metric.kind == "time" else ratio / machine)
        verdict.per_peak_ratio = scaled_ratio
        scaled = _test(metric, base, other, band, (peaks[0], peaks[1]))
        verdict.per_peak = _verdict(metric, scaled_ratio, scaled, band, band_note)
    return verdict


def _verdict(metric: Metric, ratio: float | None, found: tuple | None, band: BandEntry | None, band_note: str = "") -> Verdict:
    if found is None:
        if band is not None:
            why = "one process a side, and the noise band has no spread for this figure"
        else:
            why = "one process a side (run with --repeats N for a sample), and " + (
                band_note or "no noise band measured for this case and figure")
        return Verdict(ratio, NOT_TESTED, None, why_untested=why, kind=metric.kind)
    test, p_value, effect = found
    verdict = Verdict(ratio, "", None, test, p_value, effect, kind=metric.kind)
    return decide(metric, verdict, p_value)


def decide(metric: Metric, verdict: Verdict, q_value: float) -> Verdict:
    """Label ``verdict`` from its (adjusted) p-value ``q_value`` and the size of the change."""
    verdict.kind = metric.kind
    if verdict.p_value is None:
        return verdict
    ratio = verdict.ratio
    large_enough = metric.kind == "accuracy" or ratio is None or abs(ratio - 1.0) >= MIN_RELATIVE_CHANGE
    if not (q_value < ALPHA and large_enough):
        verdict.label, verdict.significant = "within noise", False
        return verdict
    up = ratio is None or ratio > 1.0
    if metric.kind == "accuracy":
        verdict.label = "more accurate" if up else "less accurate"
    elif metric.kind == "memory":  # lower is better, as for a time, but it is no speed
        verdict.label = "more memory" if up else "less memory"
    else:
        verdict.label = "faster" if (up if metric.kind == "rate" else not up) else "slower"
    verdict.significant = True
    return verdict


def slower_percent(metric: Metric, base: Measure, other: Measure) -> float | None:
    """How much slower ``other`` is, in percent of the baseline's time (negative: faster); None for
    accuracy and memory, which are no speed."""
    if metric.kind not in ("time", "rate") or not base.value or not other.value:
        return None
    ratio = other.value / base.value if metric.kind == "time" else base.value / other.value
    return (ratio - 1.0) * 100.0
