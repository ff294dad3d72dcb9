"""Measured FP32 matrix-multiply peak: the ceiling every GFLOP/s figure is shown against.

A vendor's datasheet number says little about a shared 2-core VM; what the same machine reaches
on a large square matmul is the honest ceiling for a small MLP. The NumPy probe runs in the
parent (no framework loaded); ``backend_gpu_peak`` runs inside a GPU case's child, on the
backend's own matmul, with the device synchronised around the timer, in true FP32: TF32 (which
Ampere and later GPUs use for FP32 matmuls by default in TensorFlow, and in torch when enabled)
is switched off for the probe and restored afterwards, and JAX asks for ``Precision.HIGHEST``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator

log = logging.getLogger(__name__)

#: square size of the probe; 2*n^3 FLOPs per matmul
CPU_SIZE = 2048
GPU_SIZE = 8192


def _best_gflops(matmul: Callable[[], None], size: int, repeats: int, budget_s: float) -> float:
    """GFLOP/s of the fastest of ``repeats`` calls (one warm-up call first), within ``budget_s``."""
    matmul()
    best = float("inf")
    started = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - started > budget_s:
            break
    return 2.0 * size**3 / best / 1e9


def numpy_peak_gflops(size: int = CPU_SIZE, repeats: int = 7, budget_s: float = 3.0) -> float:
    """FP32 GFLOP/s of NumPy's BLAS on ``size`` x ``size`` matrices, best of ``repeats``."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    peak = _best_gflops(lambda: np.matmul(a, b, out=out), size, repeats, budget_s)
    log.info("NumPy FP32 matmul peak: %.1f GFLOP/s (%dx%d)", peak, size, size)
    return peak


@contextlib.contextmanager
def _true_fp32(backend: str) -> Iterator[None]:
    """No TF32 inside the block (the probe), the framework's previous setting restored after it."""
    if backend == "tensorflow":
        import tensorflow as tf

        previous = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(previous)
    elif backend == "torch":
        import torch

        previous = torch.backends.cuda.matmul.allow_tf32  # default False; set explicitly anyway
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    else:  # jax: the probe's matmul asks for Precision.HIGHEST itself
        yield


def backend_gpu_peak(backend: str, size: int = GPU_SIZE, repeats: int = 10, budget_s: float = 5.0) -> float:
    """True FP32 GFLOP/s of ``backend``'s own matmul on the GPU (TF32 off, see ``_true_fp32``)."""
    if backend == "torch":
        import torch

        a = torch.rand(size, size, device="cuda", dtype=torch.float32)
        b = torch.rand(size, size, device="cuda", dtype=torch.float32)

        def run() -> None:
            torch.mm(a, b)
            torch.cuda.synchronize()

    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
        a = jax.random.uniform(key_a, (size, size), dtype=jnp.float32)
        b = jax.random.uniform(key_b, (size, size), dtype=jnp.float32)
        mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))

        def run() -> None:
            mm(a, b).block_until_ready()

    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.device("/GPU:0"):
            a = tf.random.uniform((size, size), dtype=tf.float32)
            b = tf.random.uniform((size, size), dtype=tf.float32)

        def run() -> None:
            with tf.device("/GPU:0"):
                tf.reduce_sum(tf.matmul(a, b)).numpy()  # .numpy() waits; the sum keeps the copy tiny

    else:
        raise ValueError(f"no GPU probe for backend {backend!r}")
    with _true_fp32(backend):
        peak = _best_gflops(run, size, repeats, budget_s)
    log.info("%s GPU FP32 matmul peak: %.1f GFLOP/s (%dx%d, TF32 off)", backend, peak, size, size)
    return peak
