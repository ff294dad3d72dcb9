"""Turn one child's raw pytest-benchmark JSON into a ``cases[]`` entry of results.json.

The raw file stays untouched next to results.json (``pytest-benchmark compare`` reads it); this
module only reads it, recognising each benchmark by its ``extra_info["kind"]`` rather than by
its test name, and derives GFLOP/s and percent of the measured peak.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mnist_mlp.bench import metrics
from mnist_mlp.results import stats

log = logging.getLogger(__name__)

TRAINING_STATS = (
    "wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_ms_per_step",
    "time_to_target_seconds", "test_accuracy",
)


def read_raw(path: Path) -> dict[str, Any] | None:
    """The raw JSON, or None when the child wrote none (or a damaged one)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("%s: no usable raw benchmark JSON (%s)", path, exc)
        return None


def gpu_peak(raw: dict[str, Any] | None) -> float | None:
    """The backend's own GPU matmul peak, measured by a GPU child."""
    value = ((raw or {}).get("machine_info") or {}).get("peak_gflops")
    return float(value) if isinstance(value, (int, float)) else None


def measurements(raw: dict[str, Any] | None, peak: float | None) -> dict[str, Any]:
    """training, inference, latency_ms, agreement, confusion_matrix, device_name, note of one case."""
    out: dict[str, Any] = {
        "training": None, "inference": [], "latency_ms": {}, "agreement": None,
        "confusion_matrix": None, "device_name": None, "note": None,
    }
    if not raw:
        return out
    out["device_name"] = (raw.get("machine_info") or {}).get("device_name")
    for bench in raw.get("benchmarks") or []:
        extra = bench.get("extra_info") or {}
        kind = extra.get("kind")
        if kind == "training":
            out["training"] = _training(extra, peak)
            out["agreement"] = extra.get("agreement")
            out["confusion_matrix"] = extra.get("confusion_matrix")
        elif kind == "inference":
            out["inference"].append(_inference(extra, bench.get("stats") or {}, peak))
            out["note"] = out["note"] or extra.get("note")
        elif kind == "latency":
            out["latency_ms"][extra["path"]] = extra.get("latency_ms")
    out["inference"].sort(key=lambda row: (row["path"], row["batch_size"]))
    return out


def _training(extra: dict[str, Any], peak: float | None) -> dict[str, Any]:
    per_seed = extra.get("per_seed") or []
    training: dict[str, Any] = {
        "steps_per_epoch": extra.get("steps_per_epoch"),
        "train_samples": extra.get("train_samples"),
        "target_accuracy": extra.get("target_accuracy"),
        "per_seed": per_seed,
    }
    for key in TRAINING_STATS:
        training[key] = stats(seed[key] for seed in per_seed if seed.get(key) is not None)
    steady = training["steady_epoch_seconds"]["mean"]
    gflops = metrics.train_gflops(extra.get("train_samples") or 0, steady)
    training["gflops"] = gflops
    training["percent_of_peak"] = metrics.percent_of_peak(gflops, peak)
    return training


def _inference(extra: dict[str, Any], bench_stats: dict[str, Any], peak: float | None) -> dict[str, Any]:
    seconds = stats(bench_stats.get("data") or [])
    batch = int(extra["batch_size"])
    median = seconds["median"]
    per_second = batch / median if median else 0.0
    gflops = metrics.inference_gflops(per_second)
    return {
        "path": extra["path"],
        "batch_size": batch,
        "seconds_per_batch": seconds,
        "samples_per_second": per_second,
        "gflops": gflops,
        "percent_of_peak": metrics.percent_of_peak(gflops, peak),
    }
