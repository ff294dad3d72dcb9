"""Whether two measures of one metric differ beyond noise: which rule, its p-value, the effect size.

Two rules, chosen by what each side holds, and nothing invented where neither applies:

* **seeds** (two or more independent values a side: the warm seeds, per-seed steady times,
  test accuracy over seeds): Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``),
  effect size Cohen's d; where the band also covers the figure, the larger of Welch's p and the
  band's (the seeds of one run share its machine state, so their mean moves from run to run too);
* **the noise band** (a side has one value: the cold seed, every inference and latency figure,
  a one-seed run): the ratio against the measured run-to-run spread of that figure
  (``mnist_mlp.compare.noise``; ``stats.band_p``: t on the log ratio with the band's sd);
* neither (one value a side, or no spread on either, and no band for the figure):
  **not tested**, with no p-value.

Rounds inside one run are not independent samples of the next run (they share its machine
state), so they never feed a test; they remain the run's own spread in the tables. A verdict
holds the raw p-value; ``comparison`` controls the false discovery rate over all rows of one
comparison (Benjamini-Hochberg) and decides with the adjusted q-value (``decide``). For times and
rates a difference must also be at least ``MIN_RELATIVE_CHANGE`` (5%) of the baseline, as asv's
``compare --factor``. Beside each ratio, when both cases measured their peak, the machine's ratio
and the ratio per unit of peak, judged by the same rules with the peak taken out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mnist_mlp.compare.measures import Measure, Metric
from mnist_mlp.compare.noise import BandEntry, per_peak
from mnist_mlp.stats import band_p, welch_p

#: a two-sided (FDR-adjusted) p-value below this is a difference beyond noise
ALPHA = 0.05
#: times and rates: the smallest change (relative to the baseline) that counts, like asv's --factor
MIN_RELATIVE_CHANGE = 0.05
#: kept for callers that import it; rounds no longer select a test (they are not independent runs)
FULL_RANGE_MAX_SAMPLES = 10

WELCH = "Welch's t-test over seeds"
BAND = "ratio against the noise band"
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
    #: the machine: peak other / peak base; per unit of peak: the ratio with the machine taken out
    machine_ratio: float | None = None
    per_peak_ratio: float | None = None
    per_peak: "Verdict | None" = None
    kind: str = ""  # the metric's kind, so the verdict can say how many times faster

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


def _test(metric: Metric, base: Measure, other: Measure, sd: float | None, runs: int,
          scale: tuple[float, float] | None = None) -> tuple[str, float, dict] | None | str:
    a = list(base.samples) if base.independent and base.samples else [base.value]
    b = list(other.samples) if other.independent and other.samples else [other.value]
    if scale is not None:
        a, b = [per_peak(metric, v, scale[0]) for v in a], [per_peak(metric, v, scale[1]) for v in b]
    values = (base.value, other.value) if scale is None else (per_peak(metric, base.value, scale[0]), per_peak(metric, other.value, scale[1]))
    welch = significance(a, b)
    band = _band_test(metric, values[0], values[1], sd, runs)
    if welch is not None and band is not None:
        # seeds of one run share its machine state too: the difference must clear both the seeds'
        # spread and the run-to-run spread of their mean (the larger p; an intersection test)
        test, p_value, effect = welch
        return test, max(p_value, band[1]), {**effect, "welch_p": p_value, "band_p": band[1]}
    return welch if welch is not None else band


def judge(metric: Metric, base: Measure, other: Measure, band: BandEntry | None = None,
          peaks: tuple[float | None, float | None] = (None, None)) -> Verdict:
    """Ratio ``other/base`` and the raw test (module docstring); decided as a family of one (its
    q is its p) until ``comparison`` adjusts the family. ``peaks``: each case's measured peak."""
    if base.value is None or other.value is None:
        return Verdict(None, "n/a", None, kind=metric.kind)
    ratio = other.value / base.value if base.value else None
    found = _test(metric, base, other, band.sd if band else None, band.runs if band else 0)
    verdict = _verdict(metric, ratio, found, band)
    if metric.kind != "accuracy" and all(p is not None and p > 0 for p in peaks):
        machine = peaks[1] / peaks[0]
        verdict.machine_ratio = machine
        scaled_ratio = None if ratio is None else (ratio * machine if metric.kind == "time" else ratio / machine)
        verdict.per_peak_ratio = scaled_ratio
        scaled = _test(metric, base, other, band.sd_per_peak if band else None, band.runs if band else 0, (peaks[0], peaks[1]))
        verdict.per_peak = _verdict(metric, scaled_ratio, scaled, band)
    return verdict


def _verdict(metric: Metric, ratio: float | None, found: tuple | None, band: BandEntry | None) -> Verdict:
    if found is None:
        why = "no seeds to test, no noise band" if band is None else "no seeds to test, the band has no spread here"
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
    else:
        verdict.label = "faster" if (up if metric.kind == "rate" else not up) else "slower"
    verdict.significant = True
    return verdict


def slower_percent(metric: Metric, base: Measure, other: Measure) -> float | None:
    """How much slower ``other`` is, in percent of the baseline's time (negative: faster)."""
    if metric.kind == "accuracy" or not base.value or not other.value:
        return None
    ratio = other.value / base.value if metric.kind == "time" else base.value / other.value
    return (ratio - 1.0) * 100.0
