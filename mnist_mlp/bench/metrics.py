"""Derived figures from raw measurements: pure functions, so they are tested without a backend.

Kept apart from the suites because the same definitions must hold for every backend, and from
the report because the report only reads what was stored.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Mapping, Sequence

from mnist_mlp.stats import non_finite_keys



def time_to_target(history: Mapping[str, Sequence[float]], target: float) -> tuple[float | None, int | None]:
    """DAWNBench-style: cumulative epoch seconds until validation accuracy first reaches ``target``.

    Returns (seconds, epochs), or (None, None) when the target is never reached.
    """
    elapsed = 0.0
    for epoch, (seconds, accuracy) in enumerate(zip(history.get("epoch_seconds", []), history.get("val_accuracy", [])), 1):
        elapsed += float(seconds)
        if accuracy is not None and math.isfinite(accuracy) and accuracy >= target:
            return elapsed, epoch
    return None, None


def seed_metrics(
    *, seed: int, wall_seconds: float, history: Mapping[str, Sequence[float]], steps_per_epoch: int,
    test_accuracy: float, target: float,
) -> dict[str, Any]:
    """One training round: first epoch (with tracing/compilation) apart from the steady state.

    ``steady_epoch_seconds`` is the mean of whole epochs 2..N, validation included (None with a
    single epoch: there is no steady state to speak of). ``steady_train_epoch_seconds`` is the
    mean of their training parts alone (``epoch_train_seconds``), and ``steady_ms_per_step``
    divides that by the training steps of an epoch, so validation time never inflates it.
    """
    epochs = [float(s) for s in history.get("epoch_seconds", [])]
    train_parts = [float(s) for s in history.get("epoch_train_seconds", [])] or epochs
    steady = statistics.fmean(epochs[1:]) if len(epochs) > 1 else None
    steady_train = statistics.fmean(train_parts[1:]) if len(train_parts) > 1 else None
    reached, epochs_to = time_to_target(history, target)
    metrics = {
        "seed": seed,
        "wall_seconds": float(wall_seconds),
        "first_epoch_seconds": epochs[0] if epochs else None,
        "steady_epoch_seconds": steady,
        "steady_train_epoch_seconds": steady_train,
        "steady_ms_per_step": (
            steady_train / steps_per_epoch * 1000.0 if steady_train is not None and steps_per_epoch else None
        ),
        "time_to_target_seconds": reached,
        "epochs_to_target": epochs_to,
        "test_accuracy": float(test_accuracy),
        "history": {key: [float(v) for v in values] for key, values in history.items()},
    }
    non_finite = non_finite_keys(metrics)
    if non_finite:
        metrics["non_finite"] = non_finite
    return metrics


def percentiles_ms(seconds: Sequence[float], points: Sequence[int] = (50, 90, 99)) -> dict[str, Any]:
    """Latency percentiles in milliseconds (linear interpolation, like numpy's default)."""
    import numpy as np

    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    result: dict[str, Any] = {f"p{p}": float(np.percentile(values, p)) if values.size else None for p in points}
    result["rounds"] = int(values.size)
    return result


def latency_round_count(call_seconds: float, at_least: int, at_most: int | None = None, budget_s: float = 0.0) -> int:
    """How many batch-1 calls the latency percentiles rest on: ``at_least``, and more, up to
    ``at_most``, while they fit in ``budget_s`` at ``call_seconds`` a call (the warm-ups' median).

    Why a budget: ten calls are what TensorFlow's 66 ms Keras ``predict`` affords in a smoke run,
    but a p50 of ten 1 ms calls on a 2-core VM falls between the two modes a framework's thread
    wake-ups make (0.64 against 1.3 ms for PyTorch's direct call), and that p50 moved by 1.3x to 2x
    between two A/A runs; the same 0.3 s buys such a call ten times the calls."""
    rounds = max(1, int(at_least))
    if at_most and budget_s > 0 and call_seconds > 0:
        rounds = max(rounds, min(int(at_most), int(budget_s / call_seconds)))
    return rounds


def train_gflops(samples_per_epoch: int, steady_epoch_seconds: float | None, flops_per_sample: int) -> float | None:
    """Training matmul GFLOP/s in the steady state (``flops.FlopModel.train_per_sample`` per sample)."""
    if not steady_epoch_seconds:
        return None
    return flops_per_sample * samples_per_epoch / steady_epoch_seconds / 1e9


def inference_gflops(samples_per_second: float, flops_per_sample: int) -> float:
    """Forward matmul GFLOP/s (``flops.FlopModel.forward_per_sample`` per sample)."""
    return flops_per_sample * samples_per_second / 1e9


def percent_of_peak(gflops: float | None, peak: float | None) -> float | None:
    if gflops is None or not peak:
        return None
    return 100.0 * gflops / peak
