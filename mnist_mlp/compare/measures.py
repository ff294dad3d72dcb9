"""The headline metrics of one case in one run, and the samples behind each (see the package docstring)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

from mnist_mlp.stats import is_number, sample_stddev


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
    #: whether the samples are independent draws of the figure (seeds: each trains anew) or rounds
    #: inside one run, which share its machine state: those show the run's spread but feed no test
    independent: bool = True

    @property
    def stddev(self) -> float | None:
        return sample_stddev(self.samples)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "time" (lower is faster), "rate" (higher is faster), "accuracy"
    unit: str
    #: "cold" (the first seed of its process), "warm" (the later seeds), "" where the figure is
    #: neither (accuracy; steady per-step times and inference, warm by construction)
    condition: str = ""


#: the training times that differ between the cold seed and the warm ones: compared apart, never averaged
COLD_WARM_METRICS = ("wall_seconds", "time_to_target_seconds")


def case_metrics(case: Mapping[str, Any]) -> dict[Metric, Measure]:
    """The headline metrics of one case, in display order."""
    out: dict[Metric, Measure] = {}
    training = case.get("training") or {}
    per_seed = training.get("per_seed") or []
    for key, label, kind, unit in TRAINING_METRICS:
        if not per_seed and not training.get(key):
            continue
        if key in COLD_WARM_METRICS and per_seed:
            cold, warm = split_cold_warm(per_seed)
            out[Metric(f"training.{key}.cold", f"{label}, cold", kind, unit, "cold")] = _seed_measure(cold, None, key)
            if warm:
                out[Metric(f"training.{key}.warm", f"{label}, warm", kind, unit, "warm")] = _seed_measure(warm, None, key)
            continue
        out[Metric(f"training.{key}", label, kind, unit)] = _seed_measure(per_seed, training.get(key), key)
    inference = case.get("inference") or []
    for row in sorted(inference, key=lambda r: (r["path"], r["batch_size"])):
        size = row["batch_size"]
        metric = Metric(f"inference.{row['path']}.{size}", f"inference samples/s, {row['path']}, batch {size}", "rate", "/s")
        seconds = (row.get("seconds_per_batch") or {}).get("samples") or []
        out[metric] = Measure(row["samples_per_second"], [size / s for s in seconds if s > 0], independent=False)
    for path, latency in sorted((case.get("latency_ms") or {}).items()):
        latency = latency if isinstance(latency, dict) else {}
        samples = latency.get("samples_ms") if isinstance(latency.get("samples_ms"), list) else []
        out[Metric(f"latency.{path}.p50", f"batch-1 latency p50, {path}", "time", "ms")] = Measure(
            latency.get("p50"), [float(v) for v in samples if is_number(v)], independent=False
        )
    return out


def split_cold_warm(per_seed: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(cold seeds, warm seeds): each seed's own ``condition`` where the harness wrote one, else the
    first seed of the process is cold and the rest warm (the harness's rule, ``collect.cold_and_warm``)."""
    if all(seed.get("condition") in ("cold", "warm") for seed in per_seed):
        return ([s for s in per_seed if s["condition"] == "cold"], [s for s in per_seed if s["condition"] == "warm"])
    return list(per_seed[:1]), list(per_seed[1:])


def case_peak(case: Mapping[str, Any]) -> dict[str, Any] | None:
    """The case's measured peak as collect wrote it (``gflops``, before/after, ``change_percent``,
    ``given``), or None when the case has none."""
    peak = case.get("peak")
    return dict(peak) if isinstance(peak, Mapping) and is_number(peak.get("gflops")) and peak["gflops"] > 0 else None


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
