"""The frameworks, one class each; choose one *before* keras is imported.

Keras reads ``KERAS_BACKEND`` once, at its first import, and the frameworks grab devices at
theirs. So ``select`` only sets environment variables, and refuses to run once keras is loaded
with another backend: one process, one backend (the benchmark runner starts a fresh process per
case). Nothing here imports a framework at module level.

``get(name)`` returns the ``Backend`` object of a framework (``base.Backend`` says what each
answers); the functions below are the short forms the CLI and the harness use.
"""

from __future__ import annotations

import importlib.metadata
import os

from mnist_mlp.backends.base import PRECISIONS, Backend, best_gflops, gpu_hardware_present
from mnist_mlp.backends.jax_backend import JaxBackend
from mnist_mlp.backends.numpy_backend import NumpyBackend
from mnist_mlp.backends.runtime_backend import RuntimeBackend
from mnist_mlp.backends.tensorflow_backend import TensorFlowBackend
from mnist_mlp.backends.torch_backend import TorchBackend
from mnist_mlp import serving
from mnist_mlp.config import BACKENDS, DEVICES
from mnist_mlp.errors import UsageError

__all__ = [
    "ALL", "RUNTIMES", "PRECISIONS", "Backend", "best_gflops", "gpu_hardware_present", "get", "REGISTRY", "BACKEND_MODULES",
    "VERSIONED_PACKAGES", "resolve_backend", "check_device", "is_installed", "select", "active_device_name",
    "require_device", "package_versions",
]

#: every framework the suite knows, Keras backends first, then the NumPy reference
REGISTRY: dict[str, Backend] = {
    backend.name: backend for backend in (TensorFlowBackend(), JaxBackend(), TorchBackend(), NumpyBackend())
}
#: every name ``--backends`` takes, in planning order
ALL = tuple(REGISTRY)
#: the serving runtimes (``--runtimes``), planned after the frameworks: one case each per device
RUNTIMES = tuple(serving.RUNTIMES)
REGISTRY.update({name: RuntimeBackend(serving.get(name)) for name in RUNTIMES})
#: the module each Keras backend needs importable
BACKEND_MODULES = {name: REGISTRY[name].module_name for name in BACKENDS}
#: distributions whose versions every result records
VERSIONED_PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy", "scikit-learn", "pytest-benchmark",
                      "onnxruntime", "onnx", "tf2onnx", "openvino", "ai-edge-litert")


def get(name: str) -> Backend:
    """The ``Backend`` of ``name`` (tensorflow, jax, torch or numpy)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"--backend: unknown backend {name!r} (choose from {', '.join(REGISTRY)})") from None


def trains(name: str | None) -> bool:
    """Whether a stored case of backend ``name`` trains (a backend this version does not know: yes)."""
    backend = REGISTRY.get(name or "")
    return backend.trains if backend else True


def headline_path(name: str | None) -> str:
    """The inference path a stored case of backend ``name`` is summarised by (unknown: Keras' predict)."""
    backend = REGISTRY.get(name or "")
    return backend.inference_paths[0] if backend else Backend.inference_paths[0]


def resolve_backend(name: str | None) -> str:
    """The Keras backend to use: ``name``, else ``KERAS_BACKEND``, else tensorflow (Keras' default)."""
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
    return get(backend).is_installed()


def select(backend: str, device: str = "cpu") -> None:
    """Set the environment so the next ``import keras`` uses ``backend`` on ``device``."""
    check_device(device)
    get(resolve_backend(backend)).select(device)


def active_device_name(backend: str) -> str:
    """After keras is imported: the device the backend computes on, e.g. ``cpu`` or ``cuda:0``."""
    return get(backend).active_device_name()


def require_device(backend: str, device: str) -> str:
    """After keras is imported: confirm ``device`` is what the backend sees, else raise."""
    return get(backend).require_device(device)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on, read without importing them."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
