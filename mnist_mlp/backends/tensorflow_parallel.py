"""TensorFlow data parallel: ``tf.distribute.MirroredStrategy``, model built and compiled in its scope.

On a CPU the N devices are logical devices cut from the one physical CPU with
``tf.config.set_logical_device_configuration`` before TensorFlow initialises its runtime.
The strategy replicates the variables and all-reduces the gradients; ``fit`` splits each
global batch over the replicas. Several workers (``MultiWorkerMirroredStrategy``) are refused:
see ``mnist_mlp.parallel.plan.MULTI_WORKER_SKIP_REASON``.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from mnist_mlp.errors import BackendUnavailable, UsageError
from mnist_mlp.parallel.plan import FitOutcome, keras_fit


def simulate_cpu_devices(tf: Any, devices: int) -> None:
    """Split the physical CPU into ``devices`` logical ones; only possible before TF initialises."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError as exc:
        raise UsageError(f"--data-parallel: TensorFlow is already initialised, cannot add CPU devices ({exc})") from None


class TensorFlowDataParallel:
    """``fit`` in ``MirroredStrategy(devices)`` over the first ``devices`` logical devices of ``kind``."""

    engine = "tf.distribute.MirroredStrategy"

    def __init__(self, devices: int, device: str, sync: Callable[..., None] = lambda *outputs: None) -> None:
        """``sync``: the backend's synchronize, which the engine's clocks wait for."""
        self.sync = sync
        self.devices, self.kind = devices, device

    def device_names(self) -> list[str]:
        import tensorflow as tf

        found = tf.config.list_logical_devices(self.kind.upper())
        if len(found) < self.devices:
            raise BackendUnavailable(
                f"--data-parallel: tensorflow sees {len(found)} {self.kind} device(s), {self.devices} asked for")
        return [dev.name for dev in found[: self.devices]]

    def fit(self, config: Any, initial: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, *, global_batch: int,
            epochs: int, shuffle: bool, seed: int, validation_data: Any = None) -> FitOutcome:
        import tensorflow as tf

        from mnist_mlp.model import build_model

        started = time.perf_counter()
        self.used_devices = self.device_names()
        strategy = tf.distribute.MirroredStrategy(devices=self.used_devices)
        with strategy.scope():
            model = build_model(config)
            model.set_weights(list(initial))
            startup = time.perf_counter() - started
            return keras_fit(model, x, y, global_batch=global_batch, epochs=epochs, shuffle=shuffle,
                             validation_data=validation_data, startup_seconds=startup, sync=self.sync)

