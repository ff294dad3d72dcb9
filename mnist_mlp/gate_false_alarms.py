"""The gate out of sample: how often it fails healthy seeds that its calibration never saw.

Given run folders of the healthy workload (``bench --first-seed`` beyond the calibration's seeds)
the gate is applied, through ``gate.check_run``, to

- each run as it was made (its groups, its seed counts): the verdict the user saw;
- every seed on its own, as a one-seed run of one group;
- the seeds cut, in seed order, into disjoint runs of 3 and of 5 per backend.

Each of those checks is a healthy run the gate promises to fail at most ``alpha`` (1%) of the
time. The report counts the failures, the number of checks and, because a few dozen checks can
only fail to contradict a 1% rate and never prove it, the chance of at least that many failures
at exactly 1% (binomial) and the one-sided 95% upper bound on the rate the checks allow
(Clopper-Pearson). Because the count of a rare event says little, the report also fits a normal
to the unseen seeds (pooled, as the gate's ``*`` thresholds pool them), tests it against the
calibration's seeds (Welch's t-test), and gives the false-alarm rate that this fitted normal implies
for a one-group run of 1, 3 and 5 seeds under the shipped thresholds. The decision is data (``FalseAlarmReport``); ``report/false_alarm_text.py``
writes it as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import statistics

from mnist_mlp import calibration, gate, results
from mnist_mlp.gate_power import gate_params, model_detection

#: disjoint seed groups the seeds are cut into, besides one seed per run
GROUP_SIZES = (1, 3, 5)


@dataclass
class Check:
    """One gate decision on healthy seeds."""

    what: str  # "run", "1 seed", "3 seeds", ...
    backend: str
    seeds: list[Any]
    accuracies: list[float]
    failed: bool
    why: list[str] = field(default_factory=list)


@dataclass
class Fitted:
    """The unseen seeds, pooled, against the calibration's: their normal and the rates it implies."""

    n: int
    mean: float
    stddev: float
    calibration_n: int
    calibration_mean: float
    calibration_stddev: float
    welch_p: float
    implied: dict[int, float]  # seeds per run -> P(the gate fails a healthy run)


@dataclass
class FalseAlarmReport:
    runs: list[str]
    alpha: float
    thresholds_label: str
    seeds: dict[str, list[Any]]  # backend -> its seeds, in order
    accuracies: dict[str, list[float]]
    checks: list[Check]
    fitted: Fitted | None = None

    def count(self, what: str) -> tuple[int, int]:
        """(failures, checks) of one kind of check."""
        chosen = [c for c in self.checks if c.what == what]
        return sum(c.failed for c in chosen), len(chosen)

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(c.what for c in self.checks))


def chance_of_at_least(failures: int, checks: int, rate: float) -> float:
    """P(at least ``failures`` in ``checks`` independent checks that each fail with ``rate``): the
    one-sided exact binomial test's p-value (scipy)."""
    from scipy.stats import binomtest

    return float(binomtest(failures, checks, rate, alternative="greater").pvalue)


def upper_bound(failures: int, checks: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate of which ``failures`` of ``checks`` were seen (scipy)."""
    from scipy.stats import binomtest

    return float(binomtest(failures, checks, alternative="less").proportion_ci(confidence, method="exact").high)


def healthy_seeds(run: Mapping[str, Any]) -> dict[str, list[tuple[Any, float]]]:
    """Per backend: (seed, test accuracy) of every trained seed of the run's ok cases."""
    out: dict[str, list[tuple[Any, float]]] = {}
    for case in run.get("cases", []):
        training = case.get("training") or {}
        if case.get("status") != "ok" or case.get("backend") == "numpy" or not training.get("per_seed"):
            continue
        for seed in training["per_seed"]:
            out.setdefault(case["backend"], []).append((seed.get("seed"), seed.get("test_accuracy")))
    return out


def analyse(runs: Sequence[tuple[str, Mapping[str, Any]]], thresholds: Mapping[str, Any], sizes: Sequence[int] = GROUP_SIZES) -> FalseAlarmReport:
    """Every check above, for runs given as (name, loaded results)."""
    checks: list[Check] = []
    by_backend: dict[str, list[tuple[Any, float]]] = {}
    for name, run in runs:
        verdict = gate.check_run(run, thresholds, "(out of sample)")
        for group in verdict.groups:
            checks.append(Check("run", group.backend, [s.seed for s in group.seeds],
                                [s.test_accuracy for s in group.seeds], not group.passed, list(group.failures)))
        for backend, seeds in healthy_seeds(run).items():
            by_backend.setdefault(backend, []).extend(seeds)
    for backend, seeds in by_backend.items():
        for size in sizes:
            for start in range(0, len(seeds) - size + 1, size):
                chunk = seeds[start:start + size]
                accuracies = [a for _, a in chunk]
                verdict = gate.check_seeds(backend, accuracies, thresholds)
                checks.append(Check(f"{size} seed{'s' * (size > 1)}", backend, [s for s, _ in chunk], accuracies,
                                    not verdict.passed, list(verdict.failures)))
    alpha = float(thresholds.get("alpha", calibration.ALPHA))
    accuracies = {b: [a for _, a in v] for b, v in by_backend.items()}
    return FalseAlarmReport(
        runs=[name for name, _ in runs], alpha=alpha,
        thresholds_label=str(thresholds.get("label", "")),
        seeds={b: [s for s, _ in v] for b, v in by_backend.items()},
        accuracies=accuracies,
        checks=checks,
        fitted=fit(accuracies, thresholds, alpha),
    )


def fit(accuracies: Mapping[str, Sequence[float]], thresholds: Mapping[str, Any], alpha: float,
        seed_counts: Sequence[int] = GROUP_SIZES) -> Fitted | None:
    """The pooled unseen seeds' normal, Welch's test against the calibration's pooled seeds, and the
    false-alarm rate that normal implies under the thresholds the gate uses for these backends."""
    from scipy.stats import ttest_ind

    unseen = [a for values in accuracies.values() for a in values]
    seen = [a for values in (thresholds.get("calibration") or {}).values() for a in values.get("accuracies", [])]
    if len(unseen) < 2 or len(seen) < 2:
        return None
    keys = {gate_params(backend, thresholds)[0] for backend in accuracies}
    if len(keys) != 1:  # per-backend thresholds: no single pooled figure to give
        return None
    _, params = gate_params(next(iter(accuracies)), thresholds)
    mean, sd = statistics.fmean(unseen), statistics.stdev(unseen)
    return Fitted(
        n=len(unseen), mean=mean, stddev=sd, calibration_n=len(seen), calibration_mean=statistics.fmean(seen),
        calibration_stddev=statistics.stdev(seen), welch_p=float(ttest_ind(unseen, seen, equal_var=False).pvalue),
        implied={n: float(model_detection([mean], params, n, alpha, sigma=sd)[0]) for n in seed_counts},
    )


def load_runs(paths: Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    return [(Path(p).name if Path(p).is_dir() else Path(p).parent.name, results.load(p)) for p in paths]
