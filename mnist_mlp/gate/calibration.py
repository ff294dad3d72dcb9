"""Accuracy-gate thresholds: derived from calibration runs' per-seed test accuracies.

Why this shape. A healthy 25-epoch run lands anywhere in a band of about +-0.5 points around
97.5% (the issue's 17 plain-Keras runs: 97.06 to 97.96), so the seed's 97.9% cannot be a
threshold. The gate instead asks: "is this run's accuracy plausible for a healthy run, as judged
by the calibration?", with a false-alarm rate of at most ``alpha`` = 1% per run.

Model: a healthy seed's test accuracy is normal with mean mu and stddev sigma, both estimated
from ``m`` calibration seeds (so Student's t with the estimate's degrees of freedom ``df``, not
z). A run is checked in ``G`` groups (backend x device), each with ``n`` seeds; the 1% is split
Bonferroni-style, half to the mean check and half to the per-seed floors, then over the groups
(and for the floors over the seeds)::

    mean threshold = mu - t(1 - alpha/(2G),  df) * sigma * sqrt(1/n + 1/m)
    seed floor     = mu - t(1 - alpha/(2Gn), df) * sigma * sqrt(1 + 1/m)

Both are one-sided prediction bounds (for the mean of ``n`` new seeds, and for one new seed), so
they already carry the uncertainty of mu and sigma themselves. By the union bound a healthy run
fails with probability at most alpha/2 + alpha/2 = alpha. More seeds tighten the mean threshold
(sqrt(1/n)) and loosen each seed's floor slightly (more seeds share the allowance).

Pooled or per backend: a one-way ANOVA on the calibration's accuracies decides. If the backends'
means differ at the 5% level, each backend gets its own mean and the within-backend pooled
stddev (df = N - k; per-backend stddevs instead when Bartlett's test says the variances differ);
otherwise one pooled mean and stddev (df = N - 1). Either way a ``"*"`` entry (all seeds pooled)
serves backends the calibration has not seen, and the report says so.
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from mnist_mlp import atomic
from mnist_mlp.errors import ResultFileError, UsageError
from mnist_mlp.stats import is_number

SCHEMA = "mnist-mlp/gate-thresholds"
SCHEMA_VERSION = 1
ALPHA = 0.01
#: below this ANOVA (means) or Bartlett (variances) p-value the backends are treated as different
DIFFERENCE_P = 0.05
FALLBACK = "*"
MEAN_FORMULA = "mu - t(1 - alpha/(2G), df) * sigma * sqrt(1/n + 1/m)"
FLOOR_FORMULA = "mu - t(1 - alpha/(2G*n), df) * sigma * sqrt(1 + 1/m)"
PACKAGED = Path(__file__).with_name("thresholds.json")
REPO_COPY = Path(__file__).resolve().parents[2] / "reports" / "calibration" / "thresholds.json"


def _t_quantile(probability: float, df: int) -> float:
    """Student's t quantile: ``scipy.special.stdtrit``, what ``scipy.stats.t.ppf`` computes, without
    importing ``scipy.stats`` (0.9 s against 0.3 s on the 2-core VM, paid by every dashboard)."""
    from scipy.special import stdtrit  # scipy comes with scikit-learn, a dependency

    return float(stdtrit(df, probability))


def mean_threshold(params: Mapping[str, Any], n: int, groups: int = 1, alpha: float = ALPHA) -> float:
    """The lowest healthy mean of ``n`` seeds (see the module docstring)."""
    t = _t_quantile(1 - alpha / (2 * groups), params["df"])
    return params["mean"] - t * params["sigma"] * math.sqrt(1 / n + 1 / params["m"])


def seed_floor(params: Mapping[str, Any], n: int, groups: int = 1, alpha: float = ALPHA) -> float:
    """The lowest healthy single seed when ``n`` seeds in each of ``groups`` groups are checked."""
    t = _t_quantile(1 - alpha / (2 * groups * n), params["df"])
    return params["mean"] - t * params["sigma"] * math.sqrt(1 + 1 / params["m"])


def calibrate(
    accuracies: Mapping[str, Iterable[float]],
    *,
    label: str,
    provisional: bool = False,
    sources: list[str] | None = None,
    workload: Mapping[str, Any] | None = None,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """The thresholds document for per-backend test accuracies (fractions in [0, 1])."""
    from scipy.stats import bartlett, f_oneway

    data = {b: [float(v) for v in vs] for b, vs in sorted(accuracies.items())}
    for backend, values in data.items():
        if len(values) < 2:
            raise UsageError(f"calibration: {backend} has {len(values)} seed(s); at least 2 are needed for a stddev")
        if not all(math.isfinite(v) and 0 <= v <= 1 for v in values):
            raise UsageError(f"calibration: {backend} has accuracies that are not finite fractions in [0, 1]")
    every = [v for values in data.values() for v in values]
    if len(every) < 3:
        raise UsageError("calibration: at least 3 seeds in all are needed")
    k, total = len(data), len(every)
    anova_p = bartlett_p = None
    if k >= 2:
        anova_p = float(f_oneway(*data.values()).pvalue)
        bartlett_p = float(bartlett(*data.values()).pvalue)
    per_backend = anova_p is not None and anova_p < DIFFERENCE_P
    own_sigma = per_backend and bartlett_p is not None and bartlett_p < DIFFERENCE_P
    within = math.sqrt(sum((len(v) - 1) * statistics.variance(v) for v in data.values()) / (total - k))
    thresholds: dict[str, dict[str, Any]] = {
        FALLBACK: {"mean": statistics.fmean(every), "sigma": statistics.stdev(every), "df": total - 1, "m": total}
    }
    if per_backend:
        for backend, values in data.items():
            sigma, df = (statistics.stdev(values), len(values) - 1) if own_sigma else (within, total - k)
            thresholds[backend] = {"mean": statistics.fmean(values), "sigma": sigma, "df": df, "m": len(values)}
    if per_backend:
        rule = (
            f"backends differ (one-way ANOVA p = {anova_p:.3g} < {DIFFERENCE_P}): a mean per backend, "
            + ("its own stddev (Bartlett p < 0.05)" if own_sigma else "the pooled within-backend stddev")
        )
    elif k >= 2:
        rule = f"backends not distinguishable (one-way ANOVA p = {anova_p:.3g} >= {DIFFERENCE_P}): all seeds pooled"
    else:
        rule = "one backend calibrated: its seeds serve every backend"
    doc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "label": label,
        "provisional": provisional,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources": sources or [],
        "workload": dict(workload) if workload else None,
        "metric": "test_accuracy (fraction)",
        "alpha": alpha,
        "calibration": {
            b: {"n": len(v), "mean": statistics.fmean(v), "stddev": statistics.stdev(v), "accuracies": v}
            for b, v in data.items()
        },
        "decision": {
            "per_backend": per_backend,
            "anova_p": anova_p,
            "bartlett_p": bartlett_p,
            "within_backend_stddev": within,
            "rule": rule,
        },
        "formula": {
            "mean_threshold": MEAN_FORMULA,
            "seed_floor": FLOOR_FORMULA,
            "where": "mu, sigma, df, m from 'thresholds' (the backend's entry, else '*'); n seeds per group; "
            "G groups (backend x device) checked in the run; t = Student's t quantile; "
            "a healthy run fails with probability <= alpha (union bound over mean and floors)",
        },
        "thresholds": thresholds,
    }
    doc["examples"] = [
        {
            "backend": key,
            "groups": groups,
            "seeds": n,
            "mean_threshold": round(mean_threshold(params, n, groups, alpha), 5),
            "seed_floor": round(seed_floor(params, n, groups, alpha), 5),
        }
        for key, params in thresholds.items()
        for groups in (1, 3)
        for n in (1, 3, 5, 10)
    ]
    return doc


def default_path() -> Path:
    """The repository's committed calibration when run from a checkout, else the packaged copy.

    A checkout (or an editable install) thus always uses ``reports/calibration/thresholds.json``,
    and an installed wheel its copy ``mnist_mlp/thresholds.json`` (a test keeps the two equal).
    """
    return REPO_COPY if REPO_COPY.is_file() else PACKAGED


def default_targets() -> list[Path]:
    """Where ``calibrate`` writes by default: every file ``default_path()`` may pick, kept equal.

    In a checkout that is ``REPO_COPY`` (what the gate reads there) and ``PACKAGED`` (what a wheel
    built from it ships); elsewhere only ``PACKAGED``. Never a path relative to the current folder.
    """
    return [REPO_COPY, PACKAGED] if REPO_COPY.parent.is_dir() else [PACKAGED]


def load(path: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """Read and check a thresholds file (default: ``default_path()``); returns it and its path."""
    path = Path(path) if path is not None else default_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: thresholds file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultFileError(f"{path}: unreadable thresholds file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ResultFileError(f"{path}: not an mnist-mlp thresholds file (no \"schema\": \"{SCHEMA}\")")
    table = doc.get("thresholds")
    if not isinstance(table, dict):
        raise ResultFileError(f"{path}: missing 'thresholds' object")
    for key, params in table.items():
        ok = isinstance(params, dict) and all(is_number(params.get(f)) for f in ("mean", "sigma", "df", "m"))
        if not ok or params["df"] < 1 or params["m"] < 1 or params["sigma"] < 0:
            # NaN is refused too: every comparison with a NaN threshold is False, so it would pass everything
            raise ResultFileError(f"{path}: thresholds[{key!r}] needs finite numbers mean, sigma >= 0, df >= 1, m >= 1")
    alpha = doc.get("alpha", ALPHA)
    if not is_number(alpha) or not 0 < alpha < 1:
        raise ResultFileError(f"{path}: alpha must be a number in (0, 1)")
    if doc.get("workload") is not None and not isinstance(doc["workload"], dict):
        raise ResultFileError(f"{path}: 'workload' must be an object (the calibrated training settings)")
    calibrated = doc.get("calibration")
    if calibrated is not None and not (isinstance(calibrated, dict) and all(
            isinstance(entry, dict) and isinstance(entry.get("accuracies", []), list)
            and all(is_number(a) for a in entry.get("accuracies", [])) for entry in calibrated.values())):
        raise ResultFileError(f"{path}: 'calibration' must map each backend to an object whose 'accuracies' are finite numbers")
    return doc, path




def write(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write a thresholds document atomically."""
    return atomic.write_json(path, doc)


def accuracies_from_runs(runs: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, list[float]], dict | None]:
    """Per-backend per-seed test accuracies of ``(path, run)`` pairs, and their common workload.

    Refuses runs of different workloads (a calibration is for one workload) and seeds whose
    accuracy is missing or non-finite (a calibration run must be healthy).
    """
    found: dict[str, list[float]] = {}
    seen: set[tuple[str, str, int]] = set()  # a seed repeated across runs is one observation, not two
    workload = None
    for where, run in runs:
        train = (run.get("workload") or {}).get("train")
        if workload is None:
            workload = train
        elif train != workload:
            raise UsageError(f"{where}: its workload differs from the other calibration runs'; calibrate one workload")
        for case in run.get("cases", []):
            training = case.get("training")
            if case.get("status") != "ok" or not training:
                continue
            for seed in training.get("per_seed") or []:
                key = (case["backend"], case["device"], seed.get("seed"))
                if key in seen:
                    continue
                seen.add(key)
                accuracy = seed.get("test_accuracy")
                if accuracy is None or seed.get("non_finite"):
                    raise UsageError(f"{where}: {case['id']} seed {seed.get('seed')} has a non-finite result; not a healthy run")
                found.setdefault(case["backend"], []).append(float(accuracy))
    if not found:
        raise UsageError("calibration: the runs hold no training seeds")
    return found, workload
