"""Serving the exported model: one ``Runtime`` class per inference runtime and precision.

``get(name)`` returns the runtime users name with ``--runtimes`` and ``predict --runtime``;
``RUNTIMES`` lists them in planning order, float32 first, then the reduced-precision cases.
``export`` writes the artifacts (Keras' own ``model.export``), ``check`` verifies one against the
NumPy forward pass, ``cold`` times a fresh process to its first prediction.
"""

from __future__ import annotations

from mnist_mlp.errors import UsageError
from mnist_mlp.serving.litert_runtime import LiteRtRuntime
from mnist_mlp.serving.onnx_runtime import OnnxRuntime, OnnxRuntimeInt8
from mnist_mlp.serving.openvino_runtime import OpenVinoBf16, OpenVinoRuntime
from mnist_mlp.serving.runtime import ARTIFACT_NAMES, FLOAT32_TOLERANCE, KERAS_FORMATS, Runtime, Session
from mnist_mlp.serving.savedmodel_runtime import SavedModelRuntime

__all__ = ["ARTIFACT_NAMES", "FLOAT32_TOLERANCE", "FORMATS", "KERAS_FORMATS", "REGISTRY", "RUNTIMES", "Runtime", "Session",
           "get", "for_format"]

REGISTRY: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (OnnxRuntime(), OpenVinoRuntime(), LiteRtRuntime(), SavedModelRuntime(), OpenVinoBf16(), OnnxRuntimeInt8())
}
#: every runtime ``--runtimes`` takes, in planning order
RUNTIMES = tuple(REGISTRY)
#: every format ``mnist-mlp export --format`` writes
FORMATS = tuple(KERAS_FORMATS)


def get(name: str) -> Runtime:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"--runtime: unknown runtime {name!r} (choose from {', '.join(REGISTRY)})") from None


def for_format(fmt: str) -> Runtime:
    """The float32 runtime that serves export format ``fmt`` (the export check runs on it)."""
    if fmt not in KERAS_FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r} (choose from {', '.join(KERAS_FORMATS)})")
    return next(r for r in REGISTRY.values() if r.format == fmt and not r.reduced)
