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

    @property
    def stddev(self) -> float | None:
        return sample_stddev(self.samples)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "time" (lower is faster), "rate" (higher is faster), "accuracy"
    unit: str


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
