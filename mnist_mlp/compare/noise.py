"""The suite's run-to-run noise: how far two runs of one commit on one quiet machine land apart.

Rounds inside one run share that run's machine state (clock boost, cache placement, background
load), so their spread says little about the next run: on the development VM two quick runs of
one commit, one after the other, differed by up to 1.86x in NumPy throughput at batch 256 while
each run's rounds were tight. The only honest yardstick for a figure that has one value per run
(the cold seed, every inference and latency figure) is therefore the spread of that figure over
repeated runs: the noise band.

The band is derived from the repeated runs themselves (``derive_band``; the command that made it
is stored inside) and written to ``reports/calibration/noise_band.json``; a packaged copy
(``mnist_mlp/compare/noise_band.json``) is what compare reads unless told otherwise. Per profile,
per case and metric it holds the standard deviation of one run's value over the runs, absolute
(on the log scale for times and rates, so it reads as a relative spread; in accuracy points for
accuracy) and per unit of peak (the value divided by, for a time multiplied by, the case's own
measured peak, or for a figure bound by latency by its latency probe's speed: what remains when
the machine's speed is taken out).

A band holds for what it measured and nothing else: the machine (host name and CPU model: one
host name has been an AMD EPYC one day and an Intel Xeon the next), the workload (the training
settings, the inference batch sizes, the number of seeds) and the cases it ran. ``scope_problem``
says why a run falls outside it, and compare then leaves such a row "not tested", said as such.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mnist_mlp.compare.measures import Metric, bound_of, case_metrics, case_speed

SCHEMA = "mnist-mlp/noise-band"
#: the band compare reads by default (``compare --noise-band PATH`` reads another)
PACKAGED_BAND = Path(__file__).with_name("noise_band.json")
#: where the lead's calibration script writes the band it derives
CALIBRATION_BAND = Path("reports") / "calibration" / "noise_band.json"


@dataclass(frozen=True)
class BandEntry:
    """One metric's run-to-run spread: ``sd`` of one run's value (log scale for times and rates,
    absolute for accuracy), ``sd_per_peak`` of the value per unit of peak, ``runs`` behind them."""

    sd: float | None
    sd_per_peak: float | None
    runs: int
    scale: str  # "log" or "absolute"


@dataclass
class NoiseBand:
    """A band file, read: ``entry(profile, case, metric)`` or None where it measured nothing."""

    doc: dict[str, Any]
    path: str | None = None

    def entry(self, profile: str | None, case: str, metric: Metric) -> BandEntry | None:
        """The spread of that case's figure, or None where the band did not measure that case."""
        metrics = ((self.doc.get("profiles") or {}).get(profile or "") or {}).get("metrics") or {}
        raw = metrics.get(f"{case}|{metric.key}")
        if not isinstance(raw, Mapping) or int(raw.get("runs") or 0) < 2:
            return None
        return BandEntry(_positive(raw.get("sd")), _positive(raw.get("sd_per_peak")), int(raw["runs"]), str(raw.get("scale", "log")))

    def scope_problem(self, profile: str | None, run: Mapping[str, Any]) -> str | None:
        """Why the band's ``profile`` entry does not hold for ``run`` (another machine, another
        workload, or a band that does not say which it measured); None when it holds."""
        chosen = (self.doc.get("profiles") or {}).get(profile or "")
        if not chosen:
            return f"no noise band for the {profile or '?'} profile"
        machines, workload = chosen.get("machines"), chosen.get("workload")
        if not machines or not workload:
            return "the noise band does not record the machine and workload it measured"
        here = machine_key(run)
        if here not in machines:
            return f"the noise band was measured on {', '.join(machines)}, not on {here}"
        if workload_key(run) != workload:
            return "the noise band was measured on another workload (" + _workload_text(workload) + ")"
        return None

    def describe(self, profile: str | None) -> str:
        chosen = (self.doc.get("profiles") or {}).get(profile or "")
        if not chosen:
            return f"no noise band for the {profile or '?'} profile" + (f" in {self.path}" if self.path else "")
        return f"noise band of {len(chosen.get('runs') or [])} {profile}-profile runs" + (f" ({self.path})" if self.path else "")


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def load_band(path: str | Path | None = None) -> NoiseBand:
    """The band at ``path`` (default: the packaged one); an absent file is an empty band, not an error."""
    chosen = Path(path) if path is not None else PACKAGED_BAND
    try:
        doc = json.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if path is not None:
            raise
        return NoiseBand({"schema": SCHEMA, "profiles": {}}, None)
    shown = "the packaged mnist_mlp/compare/noise_band.json" if path is None else str(path)
    return NoiseBand(doc if isinstance(doc, dict) else {}, shown)


def per_peak(metric: Metric, value: float, peak: float) -> float:
    """A value with the machine's speed taken out: a rate per GFLOP/s of peak, a time times the peak."""
    return value * peak if metric.kind == "time" else value / peak


def machine_key(run: Mapping[str, Any]) -> str:
    """``vm / AMD EPYC``: the host name and CPU model a run was measured on."""
    machine = run.get("machine") or {}
    return f"{machine.get('host') or '?'} / {(machine.get('cpu') or {}).get('model') or '?'}"


def workload_key(run: Mapping[str, Any]) -> dict[str, Any]:
    """What a run timed, as far as a figure's noise depends on it: the training settings (epochs,
    training images, batch, compile options) and the inference batch sizes. The number of seeds is
    not part of it: the cold seed is timed alike in a run of one seed or of ten, and a warm figure
    has a band entry only where the band's runs had warm seeds."""
    workload = run.get("workload") or {}
    return {"train": dict(workload.get("train") or {}), "batch_sizes": list(workload.get("batch_sizes") or [])}


def _workload_text(workload: Mapping[str, Any]) -> str:
    train = workload.get("train") or {}
    return (f"{train.get('epochs')} epoch(s) on {train.get('train_samples') or 'all'} training images, "
            f"inference batch sizes {workload.get('batch_sizes')}")


def _spread(values: Sequence[float], scale: str) -> float | None:
    if len(values) < 2 or (scale == "log" and min(values) <= 0):
        return None
    points = [math.log(v) for v in values] if scale == "log" else list(values)
    return statistics.stdev(points)


def derive_band(runs: Sequence[Mapping[str, Any]], command: str = "") -> dict[str, Any]:
    """The band of repeated runs of one commit (results.json documents), per profile, case and metric."""
    by_profile: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        by_profile.setdefault(str(run.get("profile") or "?"), []).append(run)
    profiles = {}
    for profile, chosen in by_profile.items():
        workloads = {json.dumps(workload_key(run), sort_keys=True) for run in chosen}
        if len(workloads) > 1:
            raise ValueError(f"the {profile}-profile runs timed {len(workloads)} different workloads; "
                             "a band is the spread of one workload")
        values: dict[str, tuple[Metric, list[float], list[float]]] = {}
        for run in chosen:
            for case in run.get("cases") or []:
                if case.get("status") != "ok":
                    continue
                for metric, measure in case_metrics(case).items():
                    if measure.value is None:
                        continue
                    _, plain, scaled = values.setdefault(f"{case['id']}|{metric.key}", (metric, [], []))
                    plain.append(measure.value)
                    speed = case_speed(case, bound_of(metric))  # the probe that bounds the figure
                    if speed and metric.kind != "accuracy":
                        scaled.append(per_peak(metric, measure.value, speed))
        metrics: dict[str, dict[str, Any]] = {}
        for key, (metric, plain, scaled) in sorted(values.items()):
            scale = "absolute" if metric.kind == "accuracy" else "log"
            entry = {"runs": len(plain), "scale": scale, "sd": _spread(plain, scale),
                     "sd_per_peak": _spread(scaled, scale) if len(scaled) == len(plain) else None,
                     "max_ratio": max(plain) / min(plain) if scale == "log" and min(plain) > 0 else None}
            metrics[key] = entry
        profiles[profile] = {"runs": [r.get("run_id") for r in chosen],
                             "commits": sorted({str((r.get("tool") or {}).get("commit")) for r in chosen}),
                             "hosts": sorted({str((r.get("machine") or {}).get("host")) for r in chosen}),
                             "machines": sorted({machine_key(r) for r in chosen}),
                             "workload": workload_key(chosen[0]),
                             "metrics": metrics}
    return {"schema": SCHEMA, "version": 2, "command": command,
            "about": "sd of one run's value over repeated runs of one commit: log scale for times and rates, "
                     "points of accuracy for accuracy; *_per_peak with each case's measured peak taken out",
            "profiles": profiles}
