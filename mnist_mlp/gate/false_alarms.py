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

from mnist_mlp import results

from mnist_mlp.stats import welch_p
from mnist_mlp.gate import calibration

from mnist_mlp.gate import check as gate
from mnist_mlp.gate.power import gate_params, model_detection

#: disjoint seed groups the seeds are cut into, besides one seed per run
GROUP_SIZES = (1, 3, 5)


@dataclass
class Check:
    """One gate decision on healthy seeds."""

    what: str  # "run", "1 seed", "3 seeds", ...
    group: str  # backend-device[-variant], as the gate names it
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
    seeds: dict[str, list[Any]]  # group (backend-device[-variant]) -> its seeds, in order
    accuracies: dict[str, list[float | None]]  # None: a seed without a finite accuracy (always a failure)
    backends: dict[str, str]  # group -> its backend
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


def seeds_by_group(verdict: gate.GateReport) -> dict[str, tuple[gate.GroupCheck, list[tuple[Any, float | None]]]]:
    """Per group the gate judged (backend x device x variant; weak scaling and failed cases are
    not groups): the group and its (seed, test accuracy), a missing accuracy as None."""
    return {group.key: (group, [(s.seed, s.test_accuracy) for s in group.seeds]) for group in verdict.groups}


def analyse(runs: Sequence[tuple[str, Mapping[str, Any]]], thresholds: Mapping[str, Any], sizes: Sequence[int] = GROUP_SIZES) -> FalseAlarmReport:
    """Every check above, for runs given as (name, loaded results)."""
    checks: list[Check] = []
    by_group: dict[str, list[tuple[Any, float | None]]] = {}
    groups: dict[str, gate.GroupCheck] = {}
    for name, run in runs:
        verdict = gate.check_run(run, thresholds, "(out of sample)")
        for key, (group, seeds) in seeds_by_group(verdict).items():
            checks.append(Check("run", key, [s for s, _ in seeds], [a for _, a in seeds], not group.passed, list(group.failures)))
            by_group.setdefault(key, []).extend(seeds)
            groups.setdefault(key, group)
    for key, seeds in by_group.items():
        for size in sizes:
            for start in range(0, len(seeds) - size + 1, size):
                chunk = seeds[start:start + size]
                accuracies = [a for _, a in chunk]
                verdict = gate.check_seeds(groups[key].backend, accuracies, thresholds, groups[key].device)
                checks.append(Check(f"{size} seed{'s' * (size > 1)}", key, [s for s, _ in chunk], accuracies,
                                    not verdict.passed, list(verdict.failures)))
    alpha = float(thresholds.get("alpha", calibration.ALPHA))
    accuracies = {key: [a for _, a in seeds] for key, seeds in by_group.items()}
    return FalseAlarmReport(
        runs=[name for name, _ in runs], alpha=alpha,
        thresholds_label=str(thresholds.get("label", "")),
        seeds={key: [s for s, _ in seeds] for key, seeds in by_group.items()},
        accuracies=accuracies,
        backends={key: group.backend for key, group in groups.items()},
        checks=checks,
        fitted=fit(accuracies, {key: group.backend for key, group in groups.items()}, thresholds, alpha),
    )


def fit(accuracies: Mapping[str, Sequence[float | None]], backends: Mapping[str, str], thresholds: Mapping[str, Any],
        alpha: float, seed_counts: Sequence[int] = GROUP_SIZES) -> Fitted | None:
    """The pooled unseen seeds' normal (finite accuracies only), Welch's test against the
    calibration's pooled seeds, and the false-alarm rate that normal implies under the thresholds
    the gate uses for these groups (None when they use different entries: nothing to pool)."""
    unseen = [a for values in accuracies.values() for a in values if a is not None]
    seen = [a for values in (thresholds.get("calibration") or {}).values() for a in values.get("accuracies", [])]
    if len(unseen) < 2 or len(seen) < 2:
        return None
    entries = {gate_params(backend, thresholds)[0] for backend in backends.values()}
    if len(entries) != 1:
        return None
    _, params = gate_params(next(iter(backends.values())), thresholds)
    mean, sd = statistics.fmean(unseen), statistics.stdev(unseen)
    return Fitted(
        n=len(unseen), mean=mean, stddev=sd, calibration_n=len(seen), calibration_mean=statistics.fmean(seen),
        calibration_stddev=statistics.stdev(seen), welch_p=welch_p(seen, unseen),
        implied={n: float(model_detection([mean], params, n, alpha, sigma=sd)[0]) for n in seed_counts},
    )


def run_folder(path: str | Path) -> Path:
    """The run's folder, given the folder or its results.json."""
    path = Path(path)
    return path.parent if path.name == results.RESULTS_FILE else path


def load_runs(paths: Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    return [(run_folder(p).name, results.load(p)) for p in paths]
