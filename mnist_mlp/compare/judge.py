"""Whether two measures of one metric differ beyond noise: the test, its p-value, the effect size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mnist_mlp.compare.measures import Measure, Metric
from mnist_mlp.stats import welch_p

#: a two-sided p-value below this is a difference beyond noise
ALPHA = 0.05
#: times and rates: the smallest change (relative to the baseline) that counts, like asv's --factor
MIN_RELATIVE_CHANGE = 0.05
#: when either side has at most this many samples, Welch's t-test judges a difference; else Mann-Whitney U
FULL_RANGE_MAX_SAMPLES = 10


@dataclass
class Verdict:
    ratio: float | None
    label: str
    significant: bool | None  # None: spread unknown or a value missing
    test: str | None = None  # the scipy test that judged it
    p_value: float | None = None  # its two-sided p-value
    effect: dict[str, float | None] = field(default_factory=dict)  # cohens_d or hodges_lehmann_shift

    def describe(self) -> str:
        """``p=0.003, d=+4.2`` (or the Hodges-Lehmann shift): the evidence behind the label."""
        if self.p_value is None:
            return ""
        parts = [f"p={self.p_value:.2g}"]
        if self.effect.get("cohens_d") is not None:
            parts.append(f"d={self.effect['cohens_d']:+.2g}")
        if self.effect.get("hodges_lehmann_shift") is not None:
            parts.append(f"HL shift {self.effect['hodges_lehmann_shift']:+.3g}")
        return ", ".join(parts)


def significance(base: Sequence[float], other: Sequence[float]) -> tuple[str, float, dict[str, float | None]]:
    """(test name, two-sided p-value, effect size) of ``other`` against ``base``; each needs >= 1 sample
    and one side >= 2 (see the module docstring for which test when)."""
    from scipy import stats

    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if min(len(a), len(b)) > FULL_RANGE_MAX_SAMPLES:
        p = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
        return "Mann-Whitney U", p, {"hodges_lehmann_shift": float(np.median(np.subtract.outer(b, a)))}
    if min(len(a), len(b)) >= 2:
        spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0)
        if spread == 0.0:  # both runs constant: any difference is outside their (zero) noise
            return "Welch's t-test", 1.0 if a.mean() == b.mean() else 0.0, {"cohens_d": None}
        p = welch_p(a, b)
        return "Welch's t-test", p, {"cohens_d": float((b.mean() - a.mean()) / spread)}
    single, many, sign = (b[0], a, 1.0) if len(b) == 1 else (a[0], b, -1.0)
    sd = float(many.std(ddof=1))
    if sd == 0.0:
        return "t-test of one value against the other run's samples", 1.0 if single == many.mean() else 0.0, {"cohens_d": None}
    t = (single - many.mean()) / (sd * math.sqrt(1.0 + 1.0 / len(many)))
    p = float(2.0 * stats.t.sf(abs(t), len(many) - 1))
    return "t-test of one value against the other run's samples", p, {"cohens_d": float(sign * (single - many.mean()) / sd)}


def judge(metric: Metric, base: Measure, other: Measure) -> Verdict:
    """Ratio ``other/base``, and whether the difference is beyond noise by a scipy test (module docstring)."""
    if base.value is None or other.value is None:
        return Verdict(None, "n/a", None)
    ratio = other.value / base.value if base.value else None
    samples_a, samples_b = base.samples or [base.value], other.samples or [other.value]
    if len(samples_a) < 2 and len(samples_b) < 2:
        return Verdict(ratio, "spread unknown", None)
    test, p_value, effect = significance(samples_a, samples_b)
    diff = other.value - base.value
    large_enough = metric.kind == "accuracy" or ratio is None or abs(ratio - 1.0) >= MIN_RELATIVE_CHANGE
    if not (p_value < ALPHA and large_enough):
        return Verdict(ratio, "within noise", False, test, p_value, effect)
    if metric.kind == "accuracy":
        label = "more accurate" if diff > 0 else "less accurate"
    else:
        faster = diff < 0 if metric.kind == "time" else diff > 0
        label = "faster" if faster else "slower"
    return Verdict(ratio, label, True, test, p_value, effect)


def slower_percent(metric: Metric, base: Measure, other: Measure) -> float | None:
    """How much slower ``other`` is, in percent of the baseline's time (negative: faster)."""
    if metric.kind == "accuracy" or not base.value or not other.value:
        return None
    ratio = other.value / base.value if metric.kind == "time" else base.value / other.value
    return (ratio - 1.0) * 100.0
