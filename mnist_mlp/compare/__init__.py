"""Two or more runs side by side: per backend x device and headline metric, value, ratio, noise.

The first run is the baseline. Per case: the machine's speed (the case's own measured FP32 matmul
peak in each run, their ratio, and whether it changed beyond the runs' own before/after probe
spread), then the headline metrics, like with like: training wall time and time to target
accuracy **cold** (seed 0, the first in its process) and **warm** (the later seeds) in rows of
their own, never averaged; steady-state ms per step (warm by construction) and test accuracy over
the seeds; inference samples/s per path and batch size; batch-1 latency p50; each phase's peak
memory (``memory.<phase>.peak_rss``, and ``device_peak`` on a GPU: "more memory" / "less memory",
lower is better, no probe taken out, no part of ``--fail-if-slower``). A one-seed run has a cold
figure only, and its warm rows say so.

When is a difference real? (``judge``, ``family``, ``noise``)

* both sides ran the case as repeats (``bench --repeats N``, each a fresh process): Welch's t-test
  on the repeats, on the log scale for times and rates, effect size Cohen's d;
* one side ran repeats, the other one process: the single value against the repeats' prediction
  interval;
* accuracy over two or more seeds a side (each seed trains anew): Welch's t-test over seeds;
* both sides one process (the rounds and the seeds' times inside one process share its machine
  state and are no sample of the next run): the ratio against the measured run-to-run noise band
  of that figure, only where the band measured that case on both runs' machine (host and CPU)
  and workload;
* none of these: "not tested", with no p-value (none is invented), and why.

All p-values of one comparison (absolute and per unit of the bounding probe) are one family: Benjamini-Hochberg
keeps the false discovery rate at ``ALPHA`` (0.05), and a difference counts when its adjusted
q-value is below it and, for times and rates, the change is at least ``MIN_RELATIVE_CHANGE`` (5%)
of the baseline (as asv's ``compare --factor``). ``Comparison.tests`` counts the rows judged by
each rule and the differences that survive. Beside each time or rate ratio: the machine's ratio
and the ratio per unit of the probe that bounds the figure (``measures.bound_of``: the FP32 matmul
peak for throughput at batches of 1,024 and more, the latency probe, the framework's tiny-op round
trip, for training steps, smaller batches and batch-1 latency), judged the same way with that
probe's speed taken out, so a verdict says "machine" only when the probe that bounds it moved as much;
``Comparison.movements`` says what moved (the machine, the framework, both or neither).

Runs are "not comparable" with the baseline (and left out of the metric table, with the reason)
when what is measured differs: the schema version, the dataset's sha256, or the workload's
``train`` (the TrainConfig without its seed), ``model`` and ``target_accuracy``. Everything else
in ``results["workload"]`` only chooses how much is measured, or where: the seeds, the batch
sizes, the backends and devices selected, the timeout, the profile and its label. Those are
listed among the differences, and a metric or case present in one run only is shown as missing.
``--fail-if-slower PCT`` / ``--fail-if-less-accurate PP`` count a regression only when it exceeds
the limit and is not within noise (or was not tested), so CI does not fail on jitter.

The package decides (``Comparison``, ``Verdict``: data); ``mnist_mlp.report.compare_text`` writes
the Markdown a reader sees. ``measures`` reads a case's metrics, ``judge`` decides whether two
measures differ, ``family`` adjusts one comparison's tests together, ``noise`` holds the band, ``setups`` whether two runs measured the same work, ``comparison`` puts it together.
"""

from __future__ import annotations

from mnist_mlp.compare.comparison import Comparison, Row, RunInfo, compare, load_runs
from mnist_mlp.compare.family import MACHINE_METRIC, Movement, TestCount
from mnist_mlp.compare.judge import (
    ALPHA, BAND, FULL_RANGE_MAX_SAMPLES, MIN_RELATIVE_CHANGE, NOT_TESTED, ONE_AGAINST_REPEATS, REPEAT_TESTS, REPEATS, WELCH,
    Verdict, judge, significance, slower_percent, speedup,
)
from mnist_mlp.compare.measures import TRAINING_METRICS, Measure, Metric, case_metrics
from mnist_mlp.compare.noise import NoiseBand, derive_band, load_band
from mnist_mlp.compare.setups import (
    COMPARED_WORKLOAD_KEYS, MEASURED_MACHINE_KEYS, machine_differences, measured_workload, not_comparable_reasons,
    setup_differences,
)

__all__ = [
    "BAND", "MACHINE_METRIC", "NOT_TESTED", "ONE_AGAINST_REPEATS", "REPEAT_TESTS", "REPEATS", "WELCH", "Movement", "NoiseBand", "TestCount", "derive_band", "load_band", "speedup",
    "ALPHA", "COMPARED_WORKLOAD_KEYS", "FULL_RANGE_MAX_SAMPLES", "MEASURED_MACHINE_KEYS", "MIN_RELATIVE_CHANGE",
    "TRAINING_METRICS", "Comparison", "Measure", "Metric", "Row", "RunInfo", "Verdict", "case_metrics", "compare",
    "judge", "load_runs", "machine_differences", "measured_workload", "not_comparable_reasons", "setup_differences",
    "significance", "slower_percent",
]
