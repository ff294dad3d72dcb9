"""Turn one child's raw pytest-benchmark JSON into a ``cases[]`` entry of results.json.

The raw file stays untouched next to results.json (``pytest-benchmark compare`` reads it); this
module only reads it, recognising each benchmark by its ``extra_info["kind"]`` rather than by
its test name, and derives GFLOP/s and percent of the measured peak.

A child that crashed or timed out after its training test has no raw JSON (pytest-benchmark
writes it at session end) but may have left the training side file (``raw/<case>.training.json``,
``suite.write_training``); ``merge_training_side`` puts that training benchmark back, so the
case keeps its failed/timeout status and its finished training.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from mnist_mlp.bench import metrics
from mnist_mlp.results import sanitize, stats

log = logging.getLogger(__name__)

#: per-seed values checked for NaN/inf (``per_seed[].non_finite``): the value, or any history entry
NON_FINITE_KEYS = ("test_accuracy", "loss", "val_loss", "accuracy", "val_accuracy")

TRAINING_STATS = (
    "wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_train_epoch_seconds", "steady_ms_per_step",
    "time_to_target_seconds", "test_accuracy",
)


def read_raw(path: Path) -> dict[str, Any] | None:
    """The raw JSON, or None when the child wrote none (or a damaged one)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("%s: no usable raw benchmark JSON (%s)", path, exc)
        return None


def training_side_path(raw_json: Path) -> Path:
    """``raw/<case>.training.json`` beside ``raw/<case>.json``."""
    return raw_json.with_name(raw_json.stem + ".training.json")


def _has_training(raw: dict[str, Any] | None) -> bool:
    return any(
        ((bench or {}).get("extra_info") or {}).get("kind") == "training"
        for bench in ((raw or {}).get("benchmarks") or [])
    )


def merge_training_side(raw: dict[str, Any] | None, side: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """``raw`` with the side file's training benchmark added when raw is missing or lacks one.

    Returns (raw, recovered): ``recovered`` says the training came from the side file.
    """
    bench = (side or {}).get("benchmark") if isinstance(side, dict) else None
    if not isinstance(bench, dict) or (bench.get("extra_info") or {}).get("kind") != "training" or _has_training(raw):
        return raw, False
    merged = dict(raw) if isinstance(raw, dict) else {}
    machine_info = dict(side.get("machine_info") or {})
    machine_info.update(merged.get("machine_info") or {})
    merged["machine_info"] = machine_info
    merged["benchmarks"] = [bench, *(merged.get("benchmarks") or [])]
    return merged, True


def gpu_peak(raw: dict[str, Any] | None) -> float | None:
    """The backend's own GPU matmul peak, measured by a GPU child."""
    value = ((raw or {}).get("machine_info") or {}).get("peak_gflops")
    return float(value) if isinstance(value, (int, float)) else None


def measurements(raw: dict[str, Any] | None, peak: float | None) -> dict[str, Any]:
    """training, inference, latency_ms, agreement, confusion_matrix, device_name, note of one case,
    and ``phase_seconds``: where the child's time went (imports, data, training, agreement,
    inference sweep, latency; interpreter and pytest start-up are the rest of ``duration_s``)."""
    out: dict[str, Any] = {
        "training": None, "inference": [], "latency_ms": {}, "agreement": None,
        "confusion_matrix": None, "device_name": None, "note": None, "phase_seconds": None,
    }
    if not raw:
        return out
    out["device_name"] = (raw.get("machine_info") or {}).get("device_name")
    phases = (raw.get("machine_info") or {}).get("phase_seconds")
    if isinstance(phases, dict):
        out["phase_seconds"] = {str(k): v for k, v in phases.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
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
            latency = dict(extra.get("latency_ms") or {})
            # the latency rounds' own times, so latency noise is judged from this measurement itself
            latency["samples_ms"] = [float(s) * 1000.0 for s in (bench.get("stats") or {}).get("data") or []]
            out["latency_ms"][extra["path"]] = latency
    out["inference"].sort(key=lambda row: (row["path"], row["batch_size"]))
    return sanitize(out)  # NaN/inf as null here already, so the run in memory is the one saved


def _training(extra: dict[str, Any], peak: float | None) -> dict[str, Any]:
    per_seed = [_mark_non_finite(dict(seed)) for seed in extra.get("per_seed") or [] if isinstance(seed, dict)]
    training: dict[str, Any] = {
        "steps_per_epoch": extra.get("steps_per_epoch"),
        "train_samples": extra.get("train_samples"),
        "target_accuracy": extra.get("target_accuracy"),
        "per_seed": per_seed,
    }
    for key in TRAINING_STATS:
        training[key] = stats(seed[key] for seed in per_seed if seed.get(key) is not None)
    # Seeds after the first run in the same process, with warm tracing/compilation caches: only
    # seed 0's first epoch is a cold start (the per-seed values and their stats stay as measured).
    seed0 = next((seed for seed in per_seed if seed.get("seed") == 0), per_seed[0] if per_seed else {})
    training["first_epoch_seconds_seed0"] = seed0.get("first_epoch_seconds")
    steady = training["steady_train_epoch_seconds"]["mean"]  # training steps only, no validation
    gflops = metrics.train_gflops(extra.get("train_samples") or 0, steady)
    training["gflops"] = gflops
    training["percent_of_peak"] = metrics.percent_of_peak(gflops, peak)
    return training


def _non_finite(value: Any) -> bool:
    """NaN or infinite (None counts too: a number already sanitized to null, or never written)."""
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)


def _mark_non_finite(seed: dict[str, Any]) -> dict[str, Any]:
    """List in ``non_finite`` the NON_FINITE_KEYS whose value or any history entry is NaN/inf."""
    history = seed.get("history") or {}
    found = list(seed.get("non_finite") or [])
    for key in NON_FINITE_KEYS:
        bad = (key in seed and _non_finite(seed[key])) or any(_non_finite(v) for v in history.get(key) or [])
        if bad and key not in found:
            found.append(key)
    if found:
        seed["non_finite"] = found
    return seed


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
