"""Two or more runs side by side: per backend x device and headline metric, value, ratio, noise.

The first run is the baseline. Headline metrics per case: training wall time, steady-state ms per
step, time to target accuracy, test accuracy (samples: the seeds), inference samples/s per path
and batch size (samples: ``batch_size / seconds_per_batch`` of each round) and batch-1 latency
p50 (samples: ``latency_ms[path]["samples_ms"]``, the latency benchmark's own per-round times;
a run without them has no latency spread; the throughput sweep's batch-1 rounds are a different
measurement and are not used for it).

When is a difference real? A named two-sided test from scipy says whether it is beyond noise
(``p < ALPHA``, 0.05), and every verdict shows the test, its p-value and an effect size:

* seeds (up to 10 samples a side): Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``),
  effect size Cohen's d (difference of means over the root mean of the two variances);
* rounds (more than 10 samples on both sides): the Mann-Whitney U test, as asv does for its
  samples (no normality assumed: one pause is one outlier, not a shifted mean), effect size the
  Hodges-Lehmann shift (median of all pairwise differences other - base);
* one sample against several: a t-test of the single value against the other run's samples as
  a new draw from them (the prediction-interval t: ``(x - mean) / (sd * sqrt(1 + 1/n))``, n - 1
  degrees of freedom), effect size ``(x - mean) / sd``.

For times and rates a difference must also be at least ``MIN_RELATIVE_CHANGE`` (5%) of the
baseline, as asv's ``compare --factor`` does: samples within one run share that run's machine
state (clock boost, background load), so 200 rounds can make a 1% drift "significant" that the
next run would not repeat. Accuracy has no such floor. With a single sample on both sides the
spread is unknown and the table says so.

Runs are "not comparable" with the baseline (and left out of the metric table, with the reason)
when what is measured differs: the schema version, the dataset's sha256, or the workload's
``train`` (the TrainConfig without its seed), ``model`` and ``target_accuracy``. Everything else
in ``results["workload"]`` only chooses how much is measured, or where: the seeds, the batch
sizes, the backends and devices selected, the timeout, the profile and its label. Those are
listed among the differences, and a metric or case present in one run only is shown as missing.
``--fail-if-slower PCT`` / ``--fail-if-less-accurate PP`` count a regression only when it exceeds
the limit and is not within noise (or the spread is unknown), so CI does not fail on jitter.

The package decides (``Comparison``, ``Verdict``: data); ``mnist_mlp.report.compare_text`` writes
the Markdown a reader sees. ``measures`` reads a case's metrics, ``judge`` decides whether two
measures differ, ``setups`` whether two runs measured the same work, ``comparison`` puts it together.
"""

from __future__ import annotations

from mnist_mlp.compare.comparison import Comparison, Row, RunInfo, compare, load_runs
from mnist_mlp.compare.judge import ALPHA, FULL_RANGE_MAX_SAMPLES, MIN_RELATIVE_CHANGE, Verdict, judge, significance, slower_percent
from mnist_mlp.compare.measures import TRAINING_METRICS, Measure, Metric, case_metrics
from mnist_mlp.compare.setups import (
    COMPARED_WORKLOAD_KEYS, MEASURED_MACHINE_KEYS, machine_differences, measured_workload, not_comparable_reasons,
    setup_differences,
)

__all__ = [
    "ALPHA", "COMPARED_WORKLOAD_KEYS", "FULL_RANGE_MAX_SAMPLES", "MEASURED_MACHINE_KEYS", "MIN_RELATIVE_CHANGE",
    "TRAINING_METRICS", "Comparison", "Measure", "Metric", "Row", "RunInfo", "Verdict", "case_metrics", "compare",
    "judge", "load_runs", "machine_differences", "measured_workload", "not_comparable_reasons", "setup_differences",
    "significance", "slower_percent",
]
