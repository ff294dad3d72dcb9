"""JAX data parallel: ``keras.distribution.DataParallel`` over a device mesh, driven by ``fit``.

On a CPU the N devices are simulated by XLA (``--xla_force_host_platform_device_count=N``, set
in ``XLA_FLAGS`` before JAX starts its backend). The distribution is set before the model is
built, so its variables are replicated and every batch is split along the batch axis; Keras and
XLA insert the gradient all-reduce. Several processes (hosts) join through
``keras.distribution.initialize`` before anything else touches JAX.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from mnist_mlp.errors import BackendUnavailable, UsageError
from mnist_mlp.parallel.plan import FitOutcome, keras_fit

XLA_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def simulate_cpu_devices(devices: int) -> None:
    """Ask XLA for ``devices`` host devices (replacing any earlier count in ``XLA_FLAGS``)."""
    flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if not flag.startswith(XLA_DEVICE_FLAG)]
    os.environ["XLA_FLAGS"] = " ".join([*flags, f"{XLA_DEVICE_FLAG}={devices}"])


def join_processes(coordinator: str, processes: int, process_id: int) -> None:
    """``keras.distribution.initialize``: this process joins the others at ``coordinator`` (HOST:PORT)."""
    import keras

    if not 0 <= process_id < processes:
        raise UsageError(f"--process-id: must be between 0 and {processes - 1}, got {process_id}")
    keras.distribution.initialize(job_addresses=coordinator, num_processes=processes, process_id=process_id)


class JaxDataParallel:
    """``fit`` under ``keras.distribution.DataParallel`` on the first ``devices`` devices of ``kind``."""

    engine = "keras.distribution.DataParallel (jax)"

    def __init__(self, devices: int, device: str, processes: int = 1, sync: Callable[..., None] = lambda *outputs: None) -> None:
        """``sync``: the backend's synchronize, which the engine's clocks wait for."""
        self.devices, self.kind, self.processes, self.sync = devices, device, processes, sync

    def check(self) -> list[str]:
        import keras

        found = keras.distribution.list_devices(self.kind)
        if len(found) < self.devices:
            raise BackendUnavailable(f"--data-parallel: jax sees {len(found)} {self.kind} device(s), {self.devices} asked for")
        return list(found[: self.devices])

    def fit(self, config: Any, initial: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, *, global_batch: int,
            epochs: int, shuffle: bool, seed: int, validation_data: Any = None) -> FitOutcome:
        import keras

        from mnist_mlp.model import build_model

        started = time.perf_counter()
        self.used_devices = self.check()
        distribution = keras.distribution.DataParallel(
            devices=self.used_devices, auto_shard_dataset=self.processes == 1)
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            model = build_model(config)
            model.set_weights(list(initial))
            if self.processes > 1:  # each process feeds its own share of every global batch
                x, y, validation_data = _process_share(x, y, validation_data, global_batch, self.processes)
            return keras_fit(model, x, y, global_batch=global_batch // self.processes, epochs=epochs,
                             shuffle=shuffle and self.processes == 1, validation_data=validation_data,
                             startup_seconds=time.perf_counter() - started, weights_of=_local_weights,
                             sync=self.sync)
        finally:
            keras.distribution.set_distribution(previous)


def _local_weights(model: Any) -> list[np.ndarray]:
    """The weights as NumPy from this process's own replica (a replicated array spanning several
    processes is not fully addressable, so ``get_weights`` cannot gather it)."""
    return [np.asarray(v.value.addressable_data(0)) for v in model.weights]


def _process_share(x: np.ndarray, y: np.ndarray, validation: Any, global_batch: int, processes: int) -> tuple:
    """This process's contiguous rows of every global batch (Keras assembles the global batch from them)."""
    import jax

    from mnist_mlp.parallel.plan import shard_rows

    rank = jax.process_index()

    def share(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[shard_rows(start, global_batch, rank, processes)] for start in range(0, len(a), global_batch)])

    val = (share(validation[0]), share(validation[1])) if validation is not None else None
    return share(x), share(y), val

