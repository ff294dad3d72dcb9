"""A serving case's preparation, and every inference case's cold start, inside the case's child.

A serving case exports the weights the run's first Keras case trained (or, where it runs alone,
the seeded untrained weights, and says so) through Keras on TensorFlow, makes its runtime's
artifact from the export (a quantised copy for int8), loads it with its precision forced, and
checks it against the NumPy forward pass on the 10,000 test images (``serving.check``) before
anything is timed: a float32 artifact that disagrees is a failed case, not a fast one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mnist_mlp import serving
from mnist_mlp.bench.caseconfig import CaseConfig


#: what this process exported, by (format, the weights' digest): (artifact, case id). The
#: reduced-precision cases serve their float32 sibling's export (OpenVINO's IR, the ONNX file that
#: int8 quantises) where it ran earlier in a shared process, instead of exporting it again.
_EXPORTS: dict[tuple[str, str], tuple[Path, str]] = {}


def _digest(weights: Sequence[np.ndarray]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def artifact_folder(case: CaseConfig) -> Path:
    folder = Path(case.artifact_dir) if case.artifact_dir else Path(tempfile.mkdtemp(prefix=f"{case.case_id}-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prepare(case: CaseConfig, weights: Sequence[np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Export, load and check the case's artifact: ``{"session", "artifact", "check", "export_s", "skip"}``."""
    from mnist_mlp.model import build_model
    from mnist_mlp.serving.check import check_session
    from mnist_mlp.serving.export import export_model

    runtime = serving.get(case.backend)
    folder = artifact_folder(case)
    started = time.perf_counter()
    key = (runtime.format, _digest(weights))
    reused = _EXPORTS.get(key)
    if reused is not None and reused[0].exists():
        exported = reused[0]
    else:
        model = build_model()
        model.set_weights(list(weights))
        exported = export_model(model, runtime.format, folder)
        _EXPORTS[key] = (exported, case.case_id)
    artifact = runtime.prepare(exported, folder)
    export_s = time.perf_counter() - started
    session = runtime.load(artifact)
    check = check_session(runtime, session, images, labels, weights)
    check.update(artifact=artifact.name, artifact_bytes=runtime.size_of(artifact), export_s=export_s)
    if reused is not None and exported == reused[0]:
        check["export_reused_from"] = reused[1]
    return {"session": session, "artifact": artifact, "check": check, "skip": runtime.unavailable_reason(session)}


def cold_artifact(case: CaseConfig, served: dict[str, Any]) -> tuple[str, Path, int]:
    """What a cold start of this case loads: (kind for ``serving.cold``, path, bytes on disk)."""
    from mnist_mlp import backends

    folder = artifact_folder(case)
    if "artifact" in served:  # a serving case: its own artifact
        runtime = serving.get(case.backend)
        return runtime.name, served["artifact"], runtime.size_of(served["artifact"])
    if not backends.get(case.backend).is_keras:  # the NumPy reference: its weights
        from mnist_mlp.bench import suite

        weights = [array for layer in served["model"].layers for array in layer]  # a reference.NumpyMLP
        path = suite.save_weights(folder / "weights.npz", weights)
        return "numpy", path, path.stat().st_size
    from mnist_mlp.model import save_model

    path = save_model(served["model"], folder / "model.keras")
    return "keras", path, path.stat().st_size


def tolerance_of(case: CaseConfig) -> float | None:
    """The cold start's answer must match the warm one within this (None: the digit only, reduced precision)."""
    from mnist_mlp import backends

    runtime = getattr(backends.get(case.backend), "runtime", None)
    return None if runtime is not None and runtime.reduced else serving.FLOAT32_TOLERANCE
