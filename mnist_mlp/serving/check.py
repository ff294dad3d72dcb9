"""Is the exported model still the model? Its outputs and accuracy against the NumPy truth.

Every artifact is checked the moment it exists (``mnist-mlp export``) and again in each serving
case: its probabilities for the 10,000 test images against the NumPy forward pass of the same
weights, and its test accuracy against the Keras model's (or, where no Keras model is at hand, the
forward pass's, which agrees with it to 1e-6). A float32 case must be within ``FLOAT32_TOLERANCE``
and equally accurate; a reduced-precision case (bfloat16, int8) is not held to 1e-5, it is
reported with its largest difference from float32 and its accuracy change, never mixed with the
float32 rows.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mnist_mlp.reference.forward import NumpyMLP
from mnist_mlp.serving.runtime import FLOAT32_TOLERANCE, Runtime, Session


def check_session(runtime: Runtime, session: Session, images: np.ndarray, labels: np.ndarray,
                  weights: Sequence[np.ndarray], keras_accuracy: float | None = None) -> dict[str, Any]:
    """The check's record; ``ok`` is False only where a float32 artifact disagrees or loses accuracy."""
    probs = np.asarray(session(images), dtype=np.float32)
    reference = NumpyMLP(weights)(images)
    diff = float(np.max(np.abs(probs - reference)))
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    reference_accuracy = float(np.mean(reference.argmax(axis=1) == labels)) if keras_accuracy is None else float(keras_accuracy)
    record: dict[str, Any] = {
        "runtime": runtime.name, "format": runtime.format, "precision": runtime.precision, "setting": dict(session.setting),
        "images": int(len(images)), "max_abs_diff": diff, "test_accuracy": accuracy,
        "reference_accuracy": reference_accuracy,
        "reference": "the Keras model's test accuracy" if keras_accuracy is not None else "the NumPy forward pass's test accuracy",
        "accuracy_change": accuracy - reference_accuracy,
        "same_digit": float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1))),
        "reduced": runtime.reduced,
    }
    if runtime.reduced:
        record.update(tolerance=None, within_tolerance=None, ok=True)
    else:
        within = diff <= FLOAT32_TOLERANCE
        record.update(tolerance=FLOAT32_TOLERANCE, within_tolerance=within, ok=within and accuracy == reference_accuracy)
    return record


def failure_line(record: dict[str, Any], where: str) -> str | None:
    """One line saying why a checked artifact is not the model (None when it is)."""
    if record["ok"]:
        return None
    if not record["within_tolerance"]:
        return (f"{where}: {record['runtime']} disagrees with the NumPy forward pass by {record['max_abs_diff']:.2e} "
                f"(more than {record['tolerance']:.0e}; precision in force: {record['setting'].get('in_force')})")
    return (f"{where}: {record['runtime']} test accuracy {record['test_accuracy']:.4f} differs from "
            f"{record['reference']} ({record['reference_accuracy']:.4f})")
