"""Runs side by side: the rows of metric verdicts against the first run (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mnist_mlp import results
from mnist_mlp.compare.family import (
    LATENCY_METRIC, MACHINE_METRIC, Movement, TestCount, adjust_family, latency_verdict, machine_verdict, movement,
)
from mnist_mlp.compare.judge import ALPHA, MIN_RELATIVE_CHANGE, NOT_TESTED, Verdict, judge, slower_percent
from mnist_mlp.compare.measures import (
    Measure, Metric, TRAINING_METRICS, bound_of, case_latency, case_metrics, case_peak, case_speed, recipe_difference,
)
from mnist_mlp.compare.noise import NoiseBand, load_band
from mnist_mlp.compare.setups import machine_differences, not_comparable_reasons, setup_differences


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
    #: run label -> how many rows were judged by which rule and how many differences survive
    tests: dict[str, TestCount] = field(default_factory=dict)
    #: run label -> what moved against A: the machine, the framework, both, neither
    movements: dict[str, Movement] = field(default_factory=dict)
    #: what judged the single-value rows ("noise band of 5 quick-profile runs", or that there is none)
    band: str = ""
    #: run label -> case id -> "peak given by $MNIST_MLP_BENCH_PEAK_GFLOPS" where the peak was typed in
    given_peaks: dict[str, dict[str, str]] = field(default_factory=dict)

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
            if row.metric.kind == MACHINE_METRIC.kind:
                continue
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
                "rule": (f"different when the Benjamini-Hochberg adjusted p-value over all rows is below {ALPHA:g} "
                         f"(Welch's t-test on the log scale where both sides ran repeats, each a fresh process; one "
                         f"value against the other side's repeats where one side did; Welch's t-test over seeds for "
                         f"accuracy; else the ratio against the run-to-run noise band measured on both runs' machine "
                         f"and workload; else not tested) and, for times and rates, the change is at "
                         f"least {MIN_RELATIVE_CHANGE:.0%}"),
                "band": self.band,
                "tests": {label: vars(count) for label, count in self.tests.items()},
                "movements": {label: vars(move) for label, move in self.movements.items()},
                "given_peaks": self.given_peaks,
                "rows": [
                    {
                        "case": row.case,
                        "metric": row.metric.key,
                        "condition": row.metric.condition or None,
                        "label": row.metric.label,
                        "unit": row.metric.unit,
                        "values": [
                            None if m is None else {"value": m.value, "stddev": m.stddev, "n": len(m.samples), "note": m.note or None}
                            for m in row.measures
                        ],
                        "versus_first": [
                            None if v is None else _verdict_dict(v) for v in row.verdicts
                        ],
                    }
                    for row in self.rows
                ],
                "missing": self.missing,
                "machine_flags": self.machine_flags,
            }
        )


def _other_recipe(metric: Metric, base: Measure, other: Measure, base_case: dict, other_case: dict) -> Verdict | None:
    """A time to the target raced with another recipe is another workload: its ratio is shown, not
    tested, and the row says what differs (the recipe made it faster or slower, not the machine
    or the framework). None where both cases raced the same recipe."""
    changed = recipe_difference(base_case, other_case) if metric.key.startswith("race.") else ""
    if not changed:
        return None
    ratio = other.value / base.value if base.value and other.value is not None else None
    return Verdict(ratio, NOT_TESTED, None, why_untested=f"another recipe ({changed})", kind=metric.kind)


def _verdict_dict(v: Verdict) -> dict[str, Any]:
    out = {"ratio": v.ratio, "verdict": v.label, "significant": v.significant, "test": v.test, "p_value": v.p_value,
           "q_value": v.q_value, "effect": v.effect or None, "why_untested": v.why_untested or None,
           "machine_ratio": v.machine_ratio, "per_peak_ratio": v.per_peak_ratio}
    if v.per_peak is not None:
        out["per_peak"] = {"verdict": v.per_peak.label, "significant": v.per_peak.significant, "test": v.per_peak.test,
                           "p_value": v.per_peak.p_value, "q_value": v.per_peak.q_value}
    return out


def _display_order(metric: Metric) -> tuple:
    """The machine's speed first, training metrics in ``TRAINING_METRICS`` order (cold before warm),
    then throughput by path and batch size, then latency, then memory."""
    group, _, rest = metric.key.partition(".")
    if group == "machine":
        return (-1, 0, "", 0)
    if group == "training":
        key, _, condition = rest.partition(".")
        return (0, [k for k, *_ in TRAINING_METRICS].index(key), condition, 0)
    if group == "inference":
        path, _, size = rest.rpartition(".")
        return (1, 0, path, int(size))
    return (3 if group == "memory" else 2, 0, rest, 0)


def compare(runs: Sequence[RunInfo], band: NoiseBand | None = None, fdr: bool = True) -> Comparison:
    """Compare ``runs`` (at least two) against the first; ``band``: the run-to-run noise band
    (default: the packaged one); ``fdr=False`` leaves each row's test uncorrected (for studies only)."""
    band = band if band is not None else load_band()
    base = runs[0].run
    profile = base.get("profile")
    not_comparable = {r.label: reasons for r in runs[1:] if (reasons := not_comparable_reasons(base, r.run))}
    used = [i for i, r in enumerate(runs) if r.label not in not_comparable]
    ok_cases = [{c["id"]: c for c in r.run["cases"] if c.get("status") == "ok"} for r in runs]
    per_run = [{key: case_metrics(c) for key, c in cases.items()} for cases in ok_cases]
    peaks = [{key: case_peak(c) for key, c in cases.items()} for cases in ok_cases]
    latencies = [{key: case_latency(c) for key, c in cases.items()} for cases in ok_cases]
    hosts = [(r.run.get("machine") or {}).get("host") for r in runs]
    # the band judges a pair of single values only where it measured both runs' machine and workload
    base_problem = band.scope_problem(profile, base)
    band_problems = [base_problem or band.scope_problem(profile, r.run) for r in runs]
    case_keys: list[str] = []
    for index in used:
        case_keys.extend(k for k in per_run[index] if k not in case_keys)
    rows, missing = [], []
    for case in case_keys:
        absent = [runs[i].label for i in used if case not in per_run[i]]
        if absent:
            missing.append(f"{case}: no successful result in run {', '.join(absent)}")
        case_peaks = [peaks[i].get(case) if i in used else None for i in range(len(runs))]
        if any(case_peaks[i] for i in used):
            rows.append(Row(case, MACHINE_METRIC,
                            [None if p is None else Measure(p["gflops"], [], "given" if p.get("given") else "") for p in case_peaks],
                            [None if i == 0 or case_peaks[i] is None or case_peaks[0] is None
                             else machine_verdict(case_peaks[0], case_peaks[i], hosts[0] == hosts[i]) for i in range(len(runs))]))
        case_latencies = [latencies[i].get(case) if i in used else None for i in range(len(runs))]
        if any(case_latencies[i] for i in used):
            rows.append(Row(case, LATENCY_METRIC,
                            [None if p is None else Measure(p["framework_us"], []) for p in case_latencies],
                            [None if i == 0 or case_latencies[i] is None or case_latencies[0] is None
                             else latency_verdict(case_latencies[0], case_latencies[i], hosts[0] == hosts[i])
                             for i in range(len(runs))]))
        metrics = sorted({m for i in used for m in per_run[i].get(case, {})}, key=_display_order)
        for metric in metrics:
            measures: list[Measure | None] = [per_run[i].get(case, {}).get(metric) if i in used else None for i in range(len(runs))]
            unmeasured = [runs[i].label for i in used if case in per_run[i] and measures[i] is None]
            if unmeasured and metric.condition == "warm":
                missing.append(f"{case} {metric.label}: run {', '.join(unmeasured)} ran one seed, a cold figure only "
                               f"(no warm seed to compare with)")
            elif unmeasured:
                missing.append(f"{case} {metric.label}: not measured in run {', '.join(unmeasured)}")
            base_measure, entry = measures[0], band.entry(profile, case, metric)
            bound = bound_of(metric)  # the probe that bounds this figure: its speed is taken out
            speeds = [case_speed(ok_cases[i][case], bound) if i in used and case in ok_cases[i] else None
                      for i in range(len(runs))]
            verdicts = [
                None if i == 0 or measures[i] is None or base_measure is None
                else _other_recipe(metric, base_measure, measures[i], ok_cases[0][case], ok_cases[i][case])
                or judge(metric, base_measure, measures[i], None if band_problems[i] else entry,
                         (speeds[0], speeds[i]), band_note=band_problems[i] or "", bound=bound)
                for i in range(len(runs))
            ]
            rows.append(Row(case, metric, measures, verdicts))
    tests, movements = {}, {}
    for index in used[1:]:
        tests[runs[index].label] = adjust_family([(row.metric, row.verdicts[index]) for row in rows], fdr)
        movements[runs[index].label] = movement([(row.case, row.metric, row.verdicts[index]) for row in rows])
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
        tests=tests,
        movements=movements,
        band=band.describe(profile),
        given_peaks={r.label: {key: str(p["given"]) for key, p in peaks[i].items() if p and p.get("given")}
                     for i, r in enumerate(runs)},
    )
