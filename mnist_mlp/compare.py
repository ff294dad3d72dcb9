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

This module decides (``Comparison``, ``Verdict``: data); ``mnist_mlp.report.compare_text`` writes
the Markdown a reader sees.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mnist_mlp import results
from mnist_mlp.stats import is_number, sample_stddev, welch_p

#: a two-sided p-value below this is a difference beyond noise
ALPHA = 0.05
#: times and rates: the smallest change (relative to the baseline) that counts, like asv's --factor
MIN_RELATIVE_CHANGE = 0.05
#: when either side has at most this many samples, Welch's t-test judges a difference; else Mann-Whitney U
FULL_RANGE_MAX_SAMPLES = 10
#: the workload keys that define the measured work; the rest (seeds, batch sizes, backends,
#: devices, timeout, profile) choose how much is measured, or where
COMPARED_WORKLOAD_KEYS = ("train", "model", "target_accuracy")
#: measured on every run (so never identical), not a property of the machine's setup
MEASURED_MACHINE_KEYS = ("machine.peak_gflops",)


#: (key in ``training``, label, kind, unit) of the training metrics, in display order
TRAINING_METRICS = (
    ("wall_seconds", "training wall time", "time", "s"),
    ("steady_ms_per_step", "steady-state time per step", "time", "ms"),
    ("time_to_target_seconds", "time to target accuracy", "time", "s"),
    ("test_accuracy", "test accuracy", "accuracy", "%"),
)


@dataclass
class Measure:
    """One metric of one case in one run: the headline value and the samples behind it."""

    value: float | None
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def stddev(self) -> float | None:
        return sample_stddev(self.samples)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "time" (lower is faster), "rate" (higher is faster), "accuracy"
    unit: str


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


@dataclass
class RunInfo:
    label: str
    path: str
    run: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.run["run_id"]


def load_runs(paths: Sequence[str | Path]) -> list[RunInfo]:
    """Load every path (a run dir or a results.json); a bad file raises ResultFileError naming it."""
    infos = []
    for index, path in enumerate(paths):
        run = results.load(path)
        infos.append(RunInfo(label=_letter(index), path=str(path), run=run))
    return infos


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


# ---------------------------------------------------------------- metrics of one case


def case_metrics(case: Mapping[str, Any]) -> dict[Metric, Measure]:
    """The headline metrics of one case, in display order."""
    out: dict[Metric, Measure] = {}
    training = case.get("training") or {}
    per_seed = training.get("per_seed") or []
    for key, label, kind, unit in TRAINING_METRICS:
        if not per_seed and not training.get(key):
            continue
        out[Metric(f"training.{key}", label, kind, unit)] = _seed_measure(per_seed, training.get(key), key)
    inference = case.get("inference") or []
    for row in sorted(inference, key=lambda r: (r["path"], r["batch_size"])):
        size = row["batch_size"]
        metric = Metric(f"inference.{row['path']}.{size}", f"inference samples/s, {row['path']}, batch {size}", "rate", "/s")
        seconds = (row.get("seconds_per_batch") or {}).get("samples") or []
        out[metric] = Measure(row["samples_per_second"], [size / s for s in seconds if s > 0])
    for path, latency in sorted((case.get("latency_ms") or {}).items()):
        latency = latency if isinstance(latency, dict) else {}
        samples = latency.get("samples_ms") if isinstance(latency.get("samples_ms"), list) else []
        out[Metric(f"latency.{path}.p50", f"batch-1 latency p50, {path}", "time", "ms")] = Measure(
            latency.get("p50"), [float(v) for v in samples if is_number(v)]
        )
    return out



def _seed_measure(per_seed: list[Mapping[str, Any]], summary: Mapping[str, Any] | None, key: str) -> Measure:
    values = [seed.get(key) for seed in per_seed]
    finite = [float(v) for v in values if is_number(v)]
    note = ""
    if len(finite) < len(values):
        missing = len(values) - len(finite)
        note = f"{missing} of {len(values)} seeds: " + ("target not reached" if key == "time_to_target_seconds" else "no value")
    if not finite and summary and isinstance(summary.get("samples"), list):
        finite = [float(v) for v in summary["samples"] if v is not None]
    value = statistics.fmean(finite) if finite else None
    return Measure(value, finite, note)


# ---------------------------------------------------------------- judging two measures


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


# ---------------------------------------------------------------- comparability and differences


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        flat = {}
        for index, value in enumerate(obj):
            flat.update(_flatten(value, f"{prefix}[{index}]"))
        return flat or {prefix: []}
    return {prefix: obj}


def _differing(dicts: Sequence[Mapping[str, Any]], prefix: str) -> list[tuple[str, list[Any]]]:
    flats = [_flatten(d or {}, prefix) for d in dicts]
    keys = sorted(set().union(*flats))
    return [(k, [f.get(k) for f in flats]) for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def not_comparable_reasons(base: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Why ``other`` cannot be compared with ``base`` (empty when it can)."""
    reasons = []
    if base.get("schema_version") != other.get("schema_version"):
        reasons.append(f"schema_version {other.get('schema_version')} vs {base.get('schema_version')}")
    sha_a, sha_b = (r.get("dataset", {}).get("sha256") for r in (base, other))
    if sha_a != sha_b:
        reasons.append(f"dataset sha256 {str(sha_b)[:12]}… vs {str(sha_a)[:12]}…")
    for key, (value_a, value_b) in _differing([measured_workload(base), measured_workload(other)], "workload"):
        reasons.append(f"{key} {value_b!r} vs {value_a!r}")
    return reasons


def measured_workload(run: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``run["workload"]`` that defines the measured work (see the module docstring)."""
    workload = run.get("workload") or {}
    measured = {key: workload.get(key) for key in COMPARED_WORKLOAD_KEYS}
    if isinstance(measured["train"], dict):
        measured["train"] = {k: v for k, v in measured["train"].items() if k != "seed"}
    return measured


def setup_differences(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """How much was measured, and where, when it differs: profile, seeds, batch sizes, backends..."""
    chosen = [
        {"profile": r.get("profile"),
         "workload": {k: v for k, v in (r.get("workload") or {}).items() if k not in COMPARED_WORKLOAD_KEYS}}
        for r in runs
    ]
    return _differing(chosen, "")


def machine_differences(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Dotted keys of machine, software and tool whose values differ between the runs."""
    out = []
    for section in ("machine", "software", "tool"):
        out.extend(_differing([r.get(section) or {} for r in runs], section))
    return [(k, v) for k, v in out if not k.startswith(MEASURED_MACHINE_KEYS)]


# ---------------------------------------------------------------- the comparison


@dataclass
class Row:
    case: str
    metric: Metric
    measures: list[Measure | None]
    verdicts: list[Verdict | None]  # None for the baseline and for runs left out


@dataclass
class Comparison:
    runs: list[RunInfo]
    not_comparable: dict[str, list[str]]  # run label -> reasons
    differences: list[tuple[str, list[Any]]]
    rows: list[Row]
    missing: list[str]
    #: run label -> case id -> the case's machine flags (busy, unstable), from each run's results
    machine_flags: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def marks(self, index: int, case: str) -> str:
        """`` [busy]`` / `` [busy, unstable]`` after a value measured while the machine was not clean."""
        flags = self.machine_flags.get(self.runs[index].label, {}).get(case) or []
        kinds = sorted({flag.split(":")[0] for flag in flags if flag.startswith(("busy", "unstable"))})
        return f" [{', '.join(kinds)}]" if kinds else ""

    @property
    def comparable(self) -> list[int]:
        return [i for i, r in enumerate(self.runs) if r.label not in self.not_comparable]

    def regressions(self, slower_pct: float | None = None, less_accurate_pp: float | None = None) -> list[str]:
        """Regressions of each run against the first beyond the limits, and not within noise."""
        found = []
        for row in self.rows:
            base = row.measures[0]
            for index, (measure, verdict) in enumerate(zip(row.measures, row.verdicts)):
                if index == 0 or measure is None or verdict is None or verdict.significant is False:
                    continue
                label = f"{self.runs[index].label} ({self.runs[index].run_id}) {row.case} {row.metric.label}"
                if slower_pct is not None and row.metric.kind != "accuracy":
                    pct = slower_percent(row.metric, base, measure)
                    if pct is not None and pct > slower_pct:
                        found.append(f"{label}: {pct:.1f}% slower than {self.runs[0].label} (limit {slower_pct:g}%)")
                if less_accurate_pp is not None and row.metric.kind == "accuracy" and base.value is not None and measure.value is not None:
                    drop = (base.value - measure.value) * 100.0
                    if drop > less_accurate_pp:
                        found.append(f"{label}: {drop:.2f} points less accurate than {self.runs[0].label} (limit {less_accurate_pp:g})")
        return found

    def to_dict(self) -> dict[str, Any]:
        return results.sanitize(
            {
                "runs": [{"label": r.label, "path": r.path, "run_id": r.run_id, "created_utc": r.run["created_utc"]} for r in self.runs],
                "baseline": self.runs[0].label,
                "not_comparable": self.not_comparable,
                "differences": [{"key": k, "values": v} for k, v in self.differences],
                "rule": (f"different when a two-sided test gives p < {ALPHA:g} (Welch's t-test for seeds, Mann-Whitney U "
                         f"for more than {FULL_RANGE_MAX_SAMPLES} rounds a side) and, for times and rates, the change is at "
                         f"least {MIN_RELATIVE_CHANGE:.0%}"),
                "rows": [
                    {
                        "case": row.case,
                        "metric": row.metric.key,
                        "label": row.metric.label,
                        "unit": row.metric.unit,
                        "values": [
                            None if m is None else {"value": m.value, "stddev": m.stddev, "n": len(m.samples), "note": m.note or None}
                            for m in row.measures
                        ],
                        "versus_first": [
                            None if v is None else {"ratio": v.ratio, "verdict": v.label, "significant": v.significant,
                                                    "test": v.test, "p_value": v.p_value, "effect": v.effect or None}
                            for v in row.verdicts
                        ],
                    }
                    for row in self.rows
                ],
                "missing": self.missing,
                "machine_flags": self.machine_flags,
            }
        )


def _display_order(metric: Metric) -> tuple:
    """Training metrics in ``TRAINING_METRICS`` order, then throughput by path and batch size, then latency."""
    group, _, rest = metric.key.partition(".")
    if group == "training":
        return (0, [k for k, *_ in TRAINING_METRICS].index(rest), "", 0)
    if group == "inference":
        path, _, size = rest.rpartition(".")
        return (1, 0, path, int(size))
    return (2, 0, rest, 0)


def compare(runs: Sequence[RunInfo]) -> Comparison:
    """Compare ``runs`` (at least two) against the first."""
    base = runs[0].run
    not_comparable = {r.label: reasons for r in runs[1:] if (reasons := not_comparable_reasons(base, r.run))}
    used = [i for i, r in enumerate(runs) if r.label not in not_comparable]
    per_run = [
        {c["id"]: case_metrics(c) for c in r.run["cases"] if c.get("status") == "ok"} for r in runs
    ]
    case_keys: list[str] = []
    for index in used:
        case_keys.extend(k for k in per_run[index] if k not in case_keys)
    rows, missing = [], []
    for case in case_keys:
        absent = [runs[i].label for i in used if case not in per_run[i]]
        if absent:
            missing.append(f"{case}: no successful result in run {', '.join(absent)}")
        metrics = sorted({m for i in used for m in per_run[i].get(case, {})}, key=_display_order)
        for metric in metrics:
            measures: list[Measure | None] = [per_run[i].get(case, {}).get(metric) if i in used else None for i in range(len(runs))]
            unmeasured = [runs[i].label for i in used if case in per_run[i] and measures[i] is None]
            if unmeasured:
                missing.append(f"{case} {metric.label}: not measured in run {', '.join(unmeasured)}")
            base_measure = measures[0]
            verdicts = [
                None if i == 0 or measures[i] is None or base_measure is None else judge(metric, base_measure, measures[i])
                for i in range(len(runs))
            ]
            rows.append(Row(case, metric, measures, verdicts))
    return Comparison(
        runs=list(runs),
        not_comparable=not_comparable,
        differences=machine_differences([r.run for r in runs]) + setup_differences([r.run for r in runs]),
        rows=rows,
        missing=missing,
        machine_flags={
            r.label: {c["id"]: list(c.get("machine_flags") or []) for c in r.run["cases"] if c.get("machine_flags")}
            for r in runs
        },
    )
