"""The scoreboard: every case's headline figures per run, ratios to a baseline, one score per run.

The page lets the reader pick the baseline, so it recomputes ratios and scores in its own script
(``mnist_mlp/report/dashboard.js``) from the table this module builds; the rules are these, and
the browser test checks that the page's score equals ``score`` here:

* **ratio** of a figure: the run's value / the baseline's value for the same case and figure, in
  the chosen basis (absolute, or per unit of each case's measured peak: ``figures.per_peak``);
  the baseline's own ratios are 1.00.
* **score** of a run: over the cases it shares with the baseline (both ``ok``), the geometric
  mean of its speed figures' ratios oriented so that above 1 is faster (baseline / run for
  times, run / baseline for rates), per case; then the geometric mean over those cases, so a case
  with many batch sizes weighs as much as one with few. Accuracy is not in the score (it has its
  own chart and the gate). It comes with the number of shared cases.
* **scored** only against a baseline of the same workload (``unscored_reasons``): compare's own
  rule (``compare.not_comparable_reasons``: schema, dataset, and the measured workload: epochs,
  training images, batch size, learning rate, compile options, model, target accuracy), and what
  the score averages over: the inference sweep's batch sizes, the profile (its timing rounds) and
  the matmul precision. A run of another workload keeps its own figures on the page, but gets no
  ratio and no score against that baseline, and the reason is shown instead: a 1-epoch run on
  10,000 images is not "100x faster" than 25 epochs on 60,000. The table carries the reasons for
  every (baseline, run) pair, so the page's baseline switch follows the same rule.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from mnist_mlp import compare
from mnist_mlp.dashboard.collect import LoadedRun
from mnist_mlp.dashboard.figures import SPEED_KINDS, Figure, case_figures, case_peak, per_peak

BASES = ("absolute", "per_peak")
#: workload fields the score needs equal beyond compare's rule: the sweep it averages over, the
#: profile that sets how each figure is timed, and the matmul precision of the base cases
SCORED_WORKLOAD_KEYS = (("batch_sizes",), ("profile", "name"), ("precision",))
#: what the page says of a run it does not score against the baseline, before the reasons
NOT_SCORED = "not scored: a different workload than the baseline"
#: significant digits kept in the page's data: far beyond what the runs' own noise resolves
DIGITS = 5


def _round(value: float | None) -> float | None:
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, DIGITS - 1 - int(math.floor(math.log10(abs(value)))))


def unscored_reasons(baseline: Mapping[str, Any], run: Mapping[str, Any]) -> list[str]:
    """Why ``run`` is not scored against ``baseline`` (empty: it is; module docstring).

    Compare's own reasons first (``workload.train.epochs 1 vs 25``: the run's value, then the
    baseline's), then the score's own keys; a key one of the runs does not record (an older
    schema) is not a reason by itself.
    """
    reasons = list(compare.not_comparable_reasons(baseline, run))
    for path in SCORED_WORKLOAD_KEYS:
        mine, theirs = _field(run, path), _field(baseline, path)
        if mine is not None and theirs is not None and mine != theirs:
            reasons.append(f"workload.{'.'.join(path)} {mine!r} vs {theirs!r}")
    return reasons


def _field(run: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = run.get("workload")
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def table(loaded: Sequence[LoadedRun]) -> dict[str, Any]:
    """``{"figures": [...], "cases": [...], "values": [{case: {figure key: [absolute, per peak]}} per run],
    "unscored": [[reasons run j is not scored against baseline i, per run j] per baseline i],
    "reasons": [each reason's text]}``, a reason in ``unscored`` being its index in ``reasons``."""
    figures: dict[str, Figure] = {}
    cases: list[str] = []
    values: list[dict[str, dict[str, list[float | None]]]] = []
    for entry in loaded:
        per_case: dict[str, dict[str, list[float | None]]] = {}
        for case in entry.run.get("cases") or []:
            found = case_figures(case)
            if not found:
                continue
            case_id = str(case.get("id"))
            if case_id not in cases:
                cases.append(case_id)
            peak = case_peak(entry.run, case)
            per_case[case_id] = {}
            for figure, value in found.items():
                figures.setdefault(figure.key, figure)
                per_case[case_id][figure.key] = [_round(value), _round(per_peak(figure, value, peak))]
        values.append(per_case)
    ordered = sorted(figures.values(), key=_figure_order)
    reasons: dict[str, int] = {}  # each reason's text once (the page's size): the pairs hold indexes
    unscored = [[[] if i == j else [reasons.setdefault(r, len(reasons)) for r in unscored_reasons(base.run, entry.run)]
                 for j, entry in enumerate(loaded)] for i, base in enumerate(loaded)]
    return {"figures": [f.to_dict() for f in ordered], "cases": sorted(cases, key=_case_order), "values": values,
            "unscored": unscored, "reasons": list(reasons)}


def _figure_order(figure: Figure) -> tuple:
    group = figure.key.split(".")[0]
    rank = {"train": 0, "infer": 1, "latency": 2}.get(group, 3)
    if group == "infer":
        _, path, size = figure.key.split(".", 2)
        return rank, path, int(size) if size.isdigit() else 0, ""
    return rank, "", 0, figure.key if group != "train" else str(_TRAIN_ORDER.index(figure.key) if figure.key in _TRAIN_ORDER else 9)


_TRAIN_ORDER = ("train.warm_ms_per_step", "train.cold_wall_s", "train.test_accuracy", "train.percent_of_peak")


def _case_order(case_id: str) -> tuple:
    backend = case_id.split("-")[0]
    order = ("tensorflow", "jax", "torch", "numpy")
    return (order.index(backend) if backend in order else len(order), case_id)


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base``; None when either is missing or the base is zero."""
    if value is None or base is None or base == 0:
        return None
    return value / base


def _geomean(values: Sequence[float]) -> float | None:
    good = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else None


def unscored(data: Mapping[str, Any], run: int, baseline: int) -> list[str]:
    """Why run ``run`` is not scored against run ``baseline``, from ``table``'s data (empty: it is)."""
    return [data["reasons"][index] for index in data["unscored"][baseline][run]]


def score(data: Mapping[str, Any], run: int, baseline: int, basis: str = "absolute") -> tuple[float | None, int]:
    """(score, shared cases) of run ``run`` against run ``baseline`` (module docstring); (None, 0)
    for a run of another workload than the baseline's (``unscored``)."""
    if unscored(data, run, baseline):
        return None, 0
    column = BASES.index(basis)
    kinds = {f["key"]: f["kind"] for f in data["figures"]}
    mine, base = data["values"][run], data["values"][baseline]
    per_case = []
    for case_id in data["cases"]:
        if case_id not in mine or case_id not in base:
            continue
        oriented = []
        for key, pair in mine[case_id].items():
            if kinds.get(key) not in SPEED_KINDS or key not in base[case_id]:
                continue
            r = ratio(pair[column], base[case_id][key][column])
            if r is not None and r > 0:
                oriented.append(1.0 / r if kinds[key] == "time" else r)
        case_score = _geomean(oriented)
        if case_score is not None:
            per_case.append(case_score)
    return _geomean(per_case), len(per_case)
