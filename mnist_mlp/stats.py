"""The small statistical rules the suite applies in many places, each written once.

Which numbers count as measured (finite, not a bool, not missing), which seeds of a training
record are non-finite, the spread of a sample (undefined, not zero, for one value), Welch's
test, and when a case's before/after peak probes are too far apart to trust its speed figures.
The gate, the calibration, compare, the harness and the scripts all call these, so that one
rule cannot drift into two (the probe rule was once 10.0 in percent here and 0.10 there).
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Mapping, Sequence

#: before and after peak probes further apart than this, in % of the higher, mark a case unstable
UNSTABLE_PEAK_PERCENT = 10.0
#: the per-seed values whose NaN or infinity makes a training seed non-finite
NON_FINITE_KEYS = ("wall_seconds", "test_accuracy", "test_loss")
#: of those, the ones a trained seed must have: missing counts as non-finite
REQUIRED_KEYS = ("test_accuracy",)


def is_number(value: Any) -> bool:
    """A real, finite number: not a bool, not None, not NaN, not infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_non_finite(value: Any) -> bool:
    """NaN or infinite; None counts too (a number already sanitized to null, or never written)."""
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)


def non_finite_keys(seed: Mapping[str, Any]) -> list[str]:
    """What of one training seed is NaN, infinite or missing: its ``NON_FINITE_KEYS`` (present
    and non-finite, or required and absent) and every per-epoch history series with such an entry.

    Keys named in the seed's own ``non_finite`` list (written by the child, before JSON turned
    NaN into null) come first and are kept; each name appears once.
    """
    found = [str(name) for name in seed.get("non_finite") or []]
    bad = [key for key in NON_FINITE_KEYS if (key in seed or key in REQUIRED_KEYS) and is_non_finite(seed.get(key))]
    history = seed.get("history") or {}
    bad += [key for key, values in history.items() if any(is_non_finite(v) for v in values or [])]
    return list(dict.fromkeys(found + bad))


def sample_stddev(values: Sequence[float]) -> float | None:
    """The sample standard deviation, or None for fewer than two values (one value has no spread
    to speak of; 0.0 would claim a measured, perfect repeatability)."""
    return statistics.stdev(values) if len(values) > 1 else None


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) between two samples of two or more."""
    from scipy.stats import ttest_ind

    return float(ttest_ind(b, a, equal_var=False).pvalue)


def prediction_p(value: float, sample: Sequence[float]) -> float | None:
    """Two-sided p-value of one new value against a sample of two or more from the other side: t
    on the prediction interval, ``(value - mean) / (sd * sqrt(1 + 1/n))`` with n-1 degrees of
    freedom (the sample's spread stands in for the single value's too). None without a spread."""
    from scipy.stats import t

    n = len(sample)
    if n < 2:
        return None
    sd = statistics.stdev(sample)
    if sd <= 0.0:
        return None
    return float(2.0 * t.sf(abs(value - statistics.fmean(sample)) / (sd * math.sqrt(1.0 + 1.0 / n)), n - 1))


def probe_change_percent(before: float | None, after: float | None) -> float | None:
    """How far apart two peak probes are, in % of the higher; None without both."""
    if before is None or after is None:
        return None
    high = max(before, after)
    return 100.0 * abs(before - after) / high if high > 0 else None


def probes_unstable(before: float | None, after: float | None) -> bool:
    """Whether two peak probes differ by more than ``UNSTABLE_PEAK_PERCENT`` of the higher."""
    change = probe_change_percent(before, after)
    return change is not None and change > UNSTABLE_PEAK_PERCENT


def band_p(difference: float, run_sd: float, runs: int) -> float:
    """Two-sided p-value of one difference between two single-run values, against the measured
    run-to-run noise: ``run_sd`` is the standard deviation of one run's value (log scale for times
    and rates) over ``runs`` repeated runs of one commit. The difference of two such runs has
    sd ``run_sd * sqrt(2)``; t with ``runs - 1`` degrees of freedom because the sd is estimated."""
    from scipy.stats import t

    if run_sd <= 0.0 or runs < 2:
        raise ValueError("a noise band needs a positive sd from at least two runs")
    return float(2.0 * t.sf(abs(difference) / (run_sd * math.sqrt(2.0)), runs - 1))


def fdr_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values) of one family of tests, in order: a
    difference survives when its q is below the level. Many rows tested at 0.05 each would show
    about one false difference in twenty; this keeps the expected share of false ones at 5%."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(q) for q in false_discovery_control(list(p_values), method="bh")]
