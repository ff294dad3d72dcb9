"""The framework-free NumPy reference: CPU only, its BLAS's sgemm as the peak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mnist_mlp.backends.base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    module_name = "numpy"
    packages = ("numpy",)
    is_keras = False
    devices = ("cpu",)
    trains = False
    inference_paths = ("numpy",)
    #: the quick profile serves the NumPy reference in TensorFlow's process, beside the serving
    #: runtimes: like theirs, its weights are the ones Keras trained there
    process_group = "tensorflow"
    #: the Keras backend whose seeded model hands NumPy's native trainer its initial weights, on the
    #: CPU (``native.WEIGHTS_BACKEND``): a seed's NumPy run starts where its JAX runs start, and
    #: Keras' own NumPy backend imports JAX anyway
    weights_backend = "jax"

    def process_group_of(self, implementation: str) -> str:
        """NumPy's native trainer joins the process of the Keras backend that hands it its initial
        weights (``weights_backend``): that Keras is imported there once for both."""
        if implementation != "keras":
            return self.weights_backend
        return super().process_group_of(implementation)

    def install_hint(self, gpu: bool = False) -> str:
        return "pip install numpy"

    def environment(self, device: str) -> dict[str, str | None]:
        return {}

    def device_names(self) -> list[str]:
        return ["cpu"]

    def gpu_absent_reason(self) -> str:
        return "the NumPy reference runs on the CPU only"

    def direct_call(self, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
        return lambda: model(x)  # a reference.NumpyMLP

    def tiny_op_probe(self, device: str) -> Callable[[], None]:
        x = np.zeros(1, dtype=np.float32)
        out = np.empty(1, dtype=np.float32)
        return lambda: np.add(x, np.float32(1.0), out=out)

    def matmul_probe(self, device: str, size: int) -> Callable[[], None]:
        rng = np.random.default_rng(0)
        a = rng.random((size, size), dtype=np.float32)
        b = rng.random((size, size), dtype=np.float32)
        out = np.empty((size, size), dtype=np.float32)
        return lambda: np.matmul(a, b, out=out)
