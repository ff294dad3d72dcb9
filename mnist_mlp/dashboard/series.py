"""The charts' data, one list of points per run x case: throughput, seed times, race times, accuracies, curves.

Plain numbers and the names they belong to; ``mnist_mlp.report.dashboard_charts`` draws them.
The accuracy thresholds are the gate's own (``gate.check.check_run`` with the thresholds the gate
reads now), so the chart shows what ``mnist-mlp gate`` would decide for that run today.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from mnist_mlp.dashboard.collect import LoadedRun
from mnist_mlp.errors import MnistMlpError

CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _ok_cases(entry: LoadedRun):
    for case in entry.run.get("cases") or []:
        if isinstance(case, Mapping) and case.get("status") == "ok":
            yield str(case.get("id")), case


def _per_seed(case: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    training = case.get("training") if isinstance(case.get("training"), Mapping) else {}
    seeds = training.get("per_seed") if isinstance(training.get("per_seed"), list) else []
    return [s for s in seeds if isinstance(s, Mapping)]


def throughput(loaded: Sequence[LoadedRun]) -> list[dict[str, Any]]:
    """Samples/s against batch size, per run, case and inference path."""
    out = []
    for entry in loaded:
        for case_id, case in _ok_cases(entry):
            paths: dict[str, list[tuple[int, float]]] = {}
            for row in case.get("inference") or []:
                rate = _number(row.get("samples_per_second")) if isinstance(row, Mapping) else None
                if rate is not None and isinstance(row.get("batch_size"), int):
                    paths.setdefault(str(row.get("path")), []).append((row["batch_size"], rate))
            for path, points in sorted(paths.items()):
                points.sort()
                out.append({"run": entry.name, "case": case_id, "path": path,
                            "batch_sizes": [p[0] for p in points], "rates": [p[1] for p in points]})
    return out


def seed_times(loaded: Sequence[LoadedRun]) -> list[dict[str, Any]]:
    """Training wall time of every seed, per run and case (the spread is the seeds')."""
    out = []
    for entry in loaded:
        for case_id, case in _ok_cases(entry):
            pairs = [(s.get("seed"), _number(s.get("wall_seconds"))) for s in _per_seed(case)]
            pairs = [(seed, wall) for seed, wall in pairs if wall is not None]
            if pairs:
                out.append({"run": entry.name, "case": case_id, "seeds": [p[0] for p in pairs], "walls": [p[1] for p in pairs]})
    return out


def race_times(loaded: Sequence[LoadedRun]) -> list[dict[str, Any]]:
    """The open division's time to the target of every seed that reached it, per run and case
    (``race.per_seed``): an open run has no training figures, so without these its page had no
    chart at all. Seeds that missed have no time to the target; the point count says how many did."""
    out = []
    for entry in loaded:
        for case_id, case in _ok_cases(entry):
            race = case.get("race") if isinstance(case.get("race"), Mapping) else {}
            seeds = race.get("per_seed") if isinstance(race.get("per_seed"), list) else []
            pairs = [(s.get("seed"), _number(s.get("seconds"))) for s in seeds if isinstance(s, Mapping) and s.get("reached") is True]
            pairs = [(seed, seconds) for seed, seconds in pairs if seconds is not None]
            if pairs:
                out.append({"run": entry.name, "case": case_id, "seeds": [p[0] for p in pairs], "walls": [p[1] for p in pairs]})
    return out


def accuracies(loaded: Sequence[LoadedRun], thresholds: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Test accuracy per seed with the gate's mean threshold and seed floor for that case, when known."""
    from mnist_mlp.gate import calibration
    from mnist_mlp.gate.check import check_run

    if thresholds is None:
        try:
            thresholds, _ = calibration.load()
        except (MnistMlpError, OSError, ValueError):
            thresholds = None
    out = []
    for entry in loaded:
        gate: dict[str, Any] = {}
        if thresholds is not None:
            try:
                gate = {g.case_id: g for g in check_run(entry.run, thresholds, "(dashboard)").groups}
            except (MnistMlpError, KeyError, TypeError, ValueError):
                gate = {}
        for case_id, case in _ok_cases(entry):
            pairs = [(s.get("seed"), _number(s.get("test_accuracy"))) for s in _per_seed(case)]
            pairs = [(seed, value) for seed, value in pairs if value is not None]
            if not pairs:
                continue
            group = gate.get(case_id)
            out.append({
                "run": entry.name, "case": case_id, "seeds": [p[0] for p in pairs], "accuracies": [p[1] for p in pairs],
                "mean_threshold": getattr(group, "mean_threshold", None), "seed_floor": getattr(group, "seed_floor", None),
            })
    return out


#: the curves charts draw the newest this many runs that train on every image, and the baseline
CURVE_RUNS = 4


def _has_curves(entry: LoadedRun) -> bool:
    """Whether any finished case of the run kept a seed's per-epoch history: open-division,
    inference-only and wholly failed runs train on every image but have no curves to draw."""
    return any(isinstance(seed.get("history"), Mapping) and seed["history"]
               for _, case in _ok_cases(entry) for seed in _per_seed(case))


def curve_runs(loaded: Sequence[LoadedRun], baseline: int | None = None, newest: int = CURVE_RUNS) -> list[str]:
    """The runs whose curves the page draws: of the runs with curves that train on the whole
    training set (a smoke run's two epochs on 5,000 images say nothing about how the model
    converges), the newest ``newest``, and the baseline if it is one of them. Every committed full
    run drew its curves before, 2.5 kB a seed and case: a page of 13 such runs spent a third of its
    1 MB budget on them, and one more reference run would have broken it; a chart of 13 runs'
    curves is unreadable besides."""
    full = [i for i, entry in enumerate(loaded)
            if not ((entry.run.get("workload") or {}).get("train") or {}).get("train_samples") and _has_curves(entry)]
    chosen = sorted(full, key=lambda i: (loaded[i].created, loaded[i].name))[-newest:] if newest > 0 else []
    if baseline is not None and baseline in full and baseline not in chosen:
        chosen.append(baseline)
    return [loaded[i].name for i in sorted(chosen)]


def curves(loaded: Sequence[LoadedRun], baseline: int | None = None, newest: int = CURVE_RUNS) -> list[dict[str, Any]]:
    """Per-epoch loss and accuracy (training and validation) of every seed of the runs
    ``curve_runs`` picks."""
    picked = set(curve_runs(loaded, baseline, newest))
    out = []
    for entry in loaded:
        if entry.name not in picked:
            continue
        for case_id, case in _ok_cases(entry):
            for seed in _per_seed(case):
                history = seed.get("history") if isinstance(seed.get("history"), Mapping) else {}
                series = {key: [_number(v) for v in history[key]] for key in CURVE_KEYS if isinstance(history.get(key), list)}
                if series:
                    out.append({"run": entry.name, "case": case_id, "seed": seed.get("seed"), "series": series})
    return out
