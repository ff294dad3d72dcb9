"""Helpers for the pytest-benchmark suites under ``benchmarks/`` (they run inside one child).

The suites stay short and readable; what they share lives here: choosing the backend before
keras is imported, telling the parent that the case cannot run here (a skip, not a failure),
the progress file the parent shows on the terminal (``progress_file``), and handing trained weights to the NumPy case.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mnist_mlp import atomic
from mnist_mlp.bench.caseconfig import CaseConfig
from mnist_mlp.bench.progress_file import ProgressWriter
from mnist_mlp.config import HIDDEN_UNITS, NUM_CLASSES
from mnist_mlp.errors import MnistMlpError

log = logging.getLogger(__name__)

WEIGHT_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")


def select_backend(case: CaseConfig) -> str | None:
    """Set the environment for the case's backend and device; the reason when it cannot run.

    Must run before anything imports keras (the suite's ``pytest_configure``).
    """
    from mnist_mlp import backends

    if case.implementation != "keras":  # the seeded Keras model that hands a native case its weights
        from mnist_mlp import native

        try:
            native.prepare_keras(case.backend)
        except MnistMlpError as exc:
            return str(exc)

    if not case.keras_backend:  # the NumPy reference, a serving runtime (its export needs Keras on TensorFlow)
        return backends.get(case.backend).serving_setup(case.device)

    try:
        backends.select(case.backend, case.device)
        if case.data_parallel:  # N devices, simulated on a CPU, before the framework starts
            backends.get(case.backend).data_parallel_prepare(int(case.data_parallel["devices"]), case.device)
    except MnistMlpError as exc:
        return str(exc)
    return None


def confirm_device(case: CaseConfig) -> tuple[str | None, str | None]:
    """After the backend is chosen: (device name, None), or (None, reason) if the device is absent."""
    if not case.trains:
        return "cpu", None
    from mnist_mlp import backends

    try:
        name = backends.require_device(case.backend, case.device)
    except MnistMlpError as exc:
        return None, str(exc)
    if case.data_parallel:  # fewer devices than N (e.g. GPUs) is a skip with the reason, not a failure
        missing = backends.get(case.backend).data_parallel_missing(int(case.data_parallel["devices"]), case.device)
        if missing:
            return None, missing
    return name, None


#: ``schema`` of the training side file (``write_training``)
TRAINING_SIDE_SCHEMA = "mnist-mlp/training-side"


def write_training(case: CaseConfig, benchmark: dict[str, Any], machine_info: dict[str, Any]) -> None:
    """Write the training benchmark (extra_info and round stats) to ``case.training_path`` now.

    pytest-benchmark writes ``--benchmark-json`` only when the session ends, so a crash or a
    timeout during the inference tests would lose a finished training run; the parent falls
    back to this file (``collect.merge_training_side``). NaN stays a NaN token here, as in the
    raw JSON (the parent turns it into null and lists it in ``per_seed[].non_finite``).
    """
    if not case.training_path:
        return
    doc = {"schema": TRAINING_SIDE_SCHEMA, "case_id": case.case_id, "machine_info": machine_info, "benchmark": benchmark}
    atomic.write_text(case.training_path, json.dumps(doc, indent=1, allow_nan=True, default=str) + "\n")


def write_outcome(case: CaseConfig, status: str, reason: str) -> None:
    """Tell the parent why nothing was measured (e.g. the framework sees no GPU)."""
    if case.outcome_path:
        atomic.write_json(case.outcome_path, {"status": status, "reason": reason})


#: the child's progress file (structured JSON, see ``progress_file``); the name the suites use
Progress = ProgressWriter


def progress_callback(progress: ProgressWriter, seed: int, seed_index: int, seeds: int, epochs: int) -> Any:
    """A Keras callback reporting the epoch running and the seconds of each finished one.

    It writes only between epochs (at the start of training and at each epoch's end), never
    inside an epoch's timed span, so the timing it reports costs the measurement nothing.
    """
    import keras

    class _EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            progress.epoch_started(seed, seed_index, seeds, 1, epochs)

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            progress.mark_epoch_start()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            progress.epoch_finished(epoch + 2 if epoch + 1 < epochs else None)

    return _EpochProgress()


def race_weights_path(case: CaseConfig, seed: int) -> Path:
    """Where an open-division seed's final weights go: ``raw/<case>.seed<N>.npz`` beside its raw JSON."""
    side = Path(case.training_path or f"{case.case_id}.training.json")
    return side.with_name(side.name.replace(".training.json", f".seed{seed}.npz"))


def save_weights(path: str | Path, weights: Sequence[np.ndarray]) -> Path:
    arrays = dict(zip(WEIGHT_NAMES, weights))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic.write_with(path, write)


def load_weights(path: str | Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return [np.asarray(npz[name], dtype=np.float32) for name in WEIGHT_NAMES]


def untrained_weights(seed: int = 0) -> list[np.ndarray]:
    """Glorot-uniform weights, zero biases: for the NumPy throughput when no case trained a model.

    Throughput does not depend on the values, only on the shapes.
    """
    rng = np.random.default_rng(seed)
    sizes = (784, *HIDDEN_UNITS, NUM_CLASSES)
    weights: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, dtype=np.float32))
    return weights


#: test hook: a number here stands in for the peak probes (about 1 s of full-CPU matmuls each)
PEAK_ENV = "MNIST_MLP_BENCH_PEAK_GFLOPS"


def apply_precision(case: CaseConfig) -> dict[str, Any] | None:
    """Set the case's matmul precision for the whole session and return the policy as recorded."""
    from mnist_mlp import backends

    return backends.get(case.backend).precision_policy(case.device, case.precision)


#: what pytest-benchmark learns of the machine and the commit, by name, once per process
_ONCE: dict[str, Any] = {}


def once_per_process(name: str, make: Any) -> Any:
    """``make()``'s answer, computed by the first case of a process and copied for the others
    (the suites' own modules are imported afresh for each case of a shared process; this one is not)."""
    import copy

    if name not in _ONCE:
        _ONCE[name] = make()
    return copy.deepcopy(_ONCE[name])


#: the last after-case probes of this process, by (kind, probe family, device, precision), with their
#: time: in a shared process (``bench.group_child``) the next case's before-probes would measure
#: the same moment
_LAST_PROBE: dict[tuple[str, str, str, str], tuple[float, dict[str, Any]]] = {}
#: a probe this recent stands in for a new one
PROBE_REUSE_S = 2.0


def _probe_key(kind: str, case: CaseConfig) -> tuple[str, str, str, str]:
    from mnist_mlp import backends

    return kind, backends.get(case.backend).probe_family or case.backend, case.device, case.precision


def _before(kind: str, case: CaseConfig, measure: Any) -> dict[str, Any]:
    import time

    found = _LAST_PROBE.get(_probe_key(kind, case))
    if found is not None and time.monotonic() - found[0] <= PROBE_REUSE_S:
        return {**found[1], "reused": "the previous case's after-probe in this process, taken moments before"}
    return measure(case)


def _after(kind: str, case: CaseConfig, measure: Any) -> dict[str, Any]:
    import time

    probe = measure(case)
    _LAST_PROBE[_probe_key(kind, case)] = (time.monotonic(), dict(probe))
    return probe


def probe_before(case: CaseConfig) -> dict[str, Any]:
    """The before-case peak probe: the previous case's after-probe where it was taken on the same
    framework and device moments ago (a shared process), said so in ``reused``; else a new one."""
    return _before("peak", case, probe_peak)


def probe_after(case: CaseConfig) -> dict[str, Any]:
    """The after-case peak probe, remembered for the next case of a shared process."""
    return _after("peak", case, probe_peak)


def latency_before(case: CaseConfig) -> dict[str, Any]:
    """The before-case latency probe (``Backend.probe_latency``), reused as the peak probe is."""
    return _before("latency", case, probe_latency)


def latency_after(case: CaseConfig) -> dict[str, Any]:
    return _after("latency", case, probe_latency)


def probe_latency(case: CaseConfig) -> dict[str, Any]:
    """The round trip of the framework's tiny op and of a fixed Python loop on the case's device, now."""
    from mnist_mlp import backends

    return backends.get(case.backend).probe_latency(case.device)


def probe_peak(case: CaseConfig) -> dict[str, Any]:
    """The FP32 matmul peak of the case's framework on its device, now (``Backend.probe_peak``)."""
    import os

    from mnist_mlp import backends

    fixed = os.environ.get(PEAK_ENV)
    if fixed:
        return {"gflops": float(fixed), "probe": f"${PEAK_ENV} (test hook, nothing measured)",
                "given": f"${PEAK_ENV}={fixed}: typed in, not measured"}
    budget = case.peak_probe or {}
    return backends.get(case.backend).probe_peak(
        case.device, repeats=int(budget.get("repeats", 5)), budget_s=float(budget.get("budget_s", 1.5)))


def child_machine_info(case: CaseConfig, device: dict[str, Any]) -> dict[str, Any]:
    """What the child adds to pytest-benchmark's machine info: the case, the software it ran, its
    device's precision policy, peak probes and FLOP model and, on a GPU case, the GPUs (name,
    memory, driver from ``nvidia-smi``; ``machine.gpus``)."""
    from mnist_mlp.backends import package_versions

    info: dict[str, Any] = {
        "mnist_mlp_case": case.case_id,
        "backend": case.backend,
        "device": case.device,
        "device_name": device.get("name"),
        "versions": package_versions(),
        "precision": device.get("precision"),
        "peak": dict(device.get("peak") or {}),
        "latency_probe": dict(device.get("latency") or {}),
    }
    if device.get("flops"):
        info["flops"] = device["flops"]
    if case.device == "gpu":
        from mnist_mlp.bench.machine import gpus

        found = gpus()
        info["gpus"] = found
        info["gpu_count"] = len(found)
    return info
