"""Choose the Keras backend and device *before* keras is imported, and describe what is there.

Keras reads ``KERAS_BACKEND`` once, at its first import, and the frameworks grab devices at
theirs. So ``select`` only sets environment variables, and refuses to run once keras is loaded
with another backend: one process, one backend (the benchmark runner starts a fresh process per
case). Nothing here imports a framework at module level.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from mnist_mlp.config import BACKENDS, DEVICES
from mnist_mlp.errors import BackendUnavailable, UsageError

#: the module each backend needs importable
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: distributions whose versions every result records
VERSIONED_PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy", "scikit-learn", "pytest-benchmark")


def resolve_backend(name: str | None) -> str:
    """The backend to use: ``name``, else ``KERAS_BACKEND``, else tensorflow (Keras' default)."""
    chosen = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if chosen not in BACKENDS:
        raise UsageError(f"--backend: unknown backend {chosen!r} (choose from {', '.join(BACKENDS)})")
    return chosen


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"--device: unknown device {device!r} (choose from {', '.join(DEVICES)})")
    return device


def is_installed(backend: str) -> bool:
    """Whether the backend's framework can be imported, without importing it."""
    return importlib.util.find_spec(BACKEND_MODULES[backend]) is not None


def gpu_hardware_present() -> bool:
    """A cheap, framework-free guess whether this machine has an NVIDIA GPU at all."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


def select(backend: str, device: str = "cpu") -> None:
    """Set the environment so the next ``import keras`` uses ``backend`` on ``device``."""
    backend = resolve_backend(backend)
    check_device(device)
    if "keras" in sys.modules:
        import keras  # already imported: only safe if it is the same backend

        if keras.backend.backend() != backend:
            raise UsageError(
                f"--backend: keras is already imported with backend {keras.backend.backend()!r}; "
                f"run {backend!r} in a fresh process"
            )
    if not is_installed(backend):
        raise BackendUnavailable(
            f"--backend: {backend} is not installed (pip install 'mnist-mlp[{backend}]')"
        )
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if device == "cpu":
        # hide GPUs from every framework, so "cpu" really means the CPU
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        os.environ["JAX_PLATFORMS"] = "cpu"
    else:
        os.environ.pop("JAX_PLATFORMS", None)
        # share the GPU politely: no framework grabs all of its memory up front
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def active_device_name(backend: str) -> str:
    """After keras is imported: the device the backend computes on, e.g. ``cpu`` or ``cuda:0``."""
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        return f"{dev.platform}:{dev.id}"
    if backend == "torch":
        import torch

        return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return "gpu:0" if gpus else "cpu"


def require_device(backend: str, device: str) -> str:
    """After keras is imported: confirm ``device`` is what the backend sees, else raise."""
    name = active_device_name(backend)
    on_gpu = not name.startswith("cpu")
    if device == "gpu" and not on_gpu:
        raise BackendUnavailable(f"--device gpu: {backend} sees no GPU on this machine")
    if device == "cpu" and on_gpu:
        raise BackendUnavailable(f"--device cpu: {backend} still computes on {name}")
    return name


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on, read without importing them."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
