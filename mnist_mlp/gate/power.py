"""How small a regression the accuracy gate sees: detection rates from a power study, judged by the gate.

A study (``mnist_mlp.gate.power_study``) holds the test accuracy of K seeds for the healthy workload
and for each deliberate regression at each strength. For ``n`` seeds per run (1, 3, 5), every
one of the C(K, n) subsets of a regression's seeds is handed to ``gate.check_seeds`` as a one-group
run; the detection rate is the fraction the gate fails (for the healthy control, that fraction
is a false-alarm rate). The drop of a regression is the healthy control's mean minus its mean,
on the same seeds, so it is what the regression changed and not a difference between hosts.

Beside the measured rates, the normal model the gate is built on gives a curve: seeds of a
regressed workload drawn from normal(mu_r, sigma) with the calibration's sigma; the gate fails
a draw when its mean is below the mean threshold or any seed below the floor. The smallest drop
caught 95% of the time is read from that curve (against the control's mean) and, measured, as
the smallest tested drop whose detection rate reached 95%.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mnist_mlp.stats import sample_stddev
from mnist_mlp.gate import calibration

from mnist_mlp.gate import check as gate
from mnist_mlp.errors import ResultFileError

#: seeds per run the power is reported for
SEED_COUNTS = (1, 3, 5)
#: the detection rate that counts as "caught"
CAUGHT = 0.95
#: draws behind the model curve (fixed seed: the curve is the same on every run)
MODEL_DRAWS = 200_000


def gate_fails(backend: str, accuracies: Sequence[float], thresholds: Mapping[str, Any]) -> bool:
    """Whether the gate fails a one-group run of these seeds."""
    return not gate.check_seeds(backend, accuracies, thresholds).passed


def detection_rate(backend: str, accuracies: Sequence[float], n: int, thresholds: Mapping[str, Any]) -> tuple[float, int]:
    """(fraction of the n-seed subsets the gate fails, number of subsets)."""
    subsets = list(itertools.combinations(accuracies, n))
    failed = sum(gate_fails(backend, subset, thresholds) for subset in subsets)
    return failed / len(subsets), len(subsets)


def gate_params(backend: str, thresholds: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The thresholds entry the gate uses for this backend on the CPU, and its key."""
    key, params = gate.thresholds_for(thresholds["thresholds"], backend, "cpu")
    if params is None:
        raise ResultFileError(f"thresholds: no entry for {backend} and no pooled '*' entry to judge it by")
    return key, params


def _pass_levels(params: Mapping[str, Any], n: int, alpha: float, sigma: float | None = None) -> np.ndarray:
    """Per draw, the lowest mean accuracy mu_r at which that draw passes the gate (common random
    numbers: pass iff mu_r + sigma*mean(z) >= T and mu_r + sigma*min(z) >= F). The thresholds are
    the gate's (``params``); the seeds' spread is ``sigma``, the calibration's unless given."""
    z = np.random.default_rng(20261129).standard_normal((MODEL_DRAWS, n))
    sigma = params["sigma"] if sigma is None else sigma
    mean_t = calibration.mean_threshold(params, n, 1, alpha)
    floor = calibration.seed_floor(params, n, 1, alpha)
    return np.maximum(mean_t - sigma * z.mean(axis=1), floor - sigma * z.min(axis=1))


def model_detection(mean_accuracies: Sequence[float], params: Mapping[str, Any], n: int, alpha: float,
                    sigma: float | None = None) -> np.ndarray:
    """P(the gate fails an n-seed run) when seeds are normal(mu_r, sigma), for each mu_r."""
    levels = np.sort(_pass_levels(params, n, alpha, sigma))
    passing = np.searchsorted(levels, np.asarray(mean_accuracies, dtype=float), side="right")
    return 1.0 - passing / len(levels)


def model_caught_mean(params: Mapping[str, Any], n: int, alpha: float, caught: float = CAUGHT) -> float:
    """The highest mean accuracy mu_r that the gate still fails with probability ``caught``."""
    return float(np.quantile(_pass_levels(params, n, alpha), 1.0 - caught))


@dataclass
class Row:
    """One regression at one strength (or the healthy control)."""

    kind: str
    strength: Any
    label: str
    what: str
    seeds: int
    mean: float
    stddev: float
    drop: float  # control mean - this mean
    detection: dict[int, float] = field(default_factory=dict)
    subsets: dict[int, int] = field(default_factory=dict)


@dataclass
class SeedCountSummary:
    """For n seeds per run: the gate's thresholds and the smallest drop it catches 95% of the time."""

    n: int
    mean_threshold: float
    seed_floor: float
    model_drop_caught: float
    measured_drop_caught: float | None  # smallest tested drop with detection >= 95%
    measured_by: str | None
    #: the largest tested drop caught less often than 95% (the bracket's lower side), its regression and rate
    missed_drop: float | None
    missed_by: str | None
    missed_rate: float | None
    false_alarm: float  # the healthy control's detection rate


@dataclass
class PowerReport:
    backend: str
    seeds: list[int]
    thresholds_key: str
    thresholds_label: str
    sigma: float
    alpha: float
    control_mean: float
    rows: list[Row]
    summaries: list[SeedCountSummary]
    machine: dict[str, Any]


def _ordered_seeds(entry: Mapping[str, Any], seeds: Sequence[int]) -> list[float]:
    accuracies = entry["accuracies"]
    missing = [s for s in seeds if str(s) not in accuracies]
    if missing:
        raise ValueError(f"{entry['label']}: no accuracy for seed(s) {missing}")
    return [float(accuracies[str(s)]) for s in seeds]


def analyse(study: Mapping[str, Any], thresholds: Mapping[str, Any], seed_counts: Sequence[int] = SEED_COUNTS) -> PowerReport:
    """Detection rates per regression and seed count, and the smallest drop caught, judged by the gate."""
    backend, seeds = study["backend"], list(study["seeds"])
    entries = {entry["label"]: entry for entry in study["entries"]}
    if "healthy" not in entries:
        raise ValueError("the study has no healthy control (train `healthy` with the regressions)")
    alpha = float(thresholds.get("alpha", calibration.ALPHA))
    key, params = gate_params(backend, thresholds)
    control = _ordered_seeds(entries["healthy"], seeds)
    control_mean = statistics.fmean(control)
    rows = []
    for entry in study["entries"]:
        values = _ordered_seeds(entry, seeds)
        row = Row(kind=entry["kind"], strength=entry.get("strength"), label=entry["label"], what=entry.get("what", ""),
                  seeds=len(values), mean=statistics.fmean(values),
                  stddev=sample_stddev(values),
                  drop=control_mean - statistics.fmean(values))
        for n in seed_counts:
            if n <= len(values):
                row.detection[n], row.subsets[n] = detection_rate(backend, values, n, thresholds)
        rows.append(row)
    rows.sort(key=lambda r: (r.kind != "healthy", r.kind, r.drop))
    summaries = []
    for n in seed_counts:
        caught = [r for r in rows if r.kind != "healthy" and r.detection.get(n, 0.0) >= CAUGHT]
        smallest = min(caught, key=lambda r: r.drop, default=None)
        missed = max((r for r in rows if r.kind != "healthy" and n in r.detection and r.detection[n] < CAUGHT),
                     key=lambda r: r.drop, default=None)
        summaries.append(SeedCountSummary(
            n=n,
            mean_threshold=calibration.mean_threshold(params, n, 1, alpha),
            seed_floor=calibration.seed_floor(params, n, 1, alpha),
            model_drop_caught=control_mean - model_caught_mean(params, n, alpha),
            measured_drop_caught=smallest.drop if smallest else None,
            measured_by=smallest.label if smallest else None,
            missed_drop=missed.drop if missed else None,
            missed_by=missed.label if missed else None,
            missed_rate=missed.detection[n] if missed else None,
            false_alarm=next((r.detection.get(n, math.nan) for r in rows if r.kind == "healthy"), math.nan),
        ))
    return PowerReport(
        backend=backend, seeds=seeds, thresholds_key=key, thresholds_label=str(thresholds.get("label", "")),
        sigma=float(params["sigma"]), alpha=alpha, control_mean=control_mean, rows=rows, summaries=summaries,
        machine=dict(study.get("machine") or {}),
    )
