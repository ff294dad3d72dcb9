"""Write the trained model as a deployable artifact, through Keras' own ``model.export``.

Keras writes every format this suite serves from a TensorFlow-backed model (ONNX through tf2onnx,
OpenVINO's IR, a LiteRT flatbuffer, a SavedModel); the caller selects the TensorFlow backend
before keras is imported (``mnist-mlp export`` does, a serving case's child does). An artifact is
written beside its final place and moved there once complete, so an interrupted export never
leaves a half-written model a runtime would then fail to read.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mnist_mlp.config import INPUT_SHAPE
from mnist_mlp.errors import BackendUnavailable, OutputError
from mnist_mlp.serving.runtime import ARTIFACT_NAMES, KERAS_FORMATS


def require_tensorflow_keras() -> None:
    """Keras must run on TensorFlow to write these formats: say so in one line where it does not."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise BackendUnavailable(f"export: Keras' exporters need the TensorFlow backend, this process runs {keras.backend.backend()}")


def export_model(model: Any, fmt: str, folder: str | Path) -> Path:
    """``model`` as format ``fmt`` in ``folder`` (``ARTIFACT_NAMES[fmt]``, replacing an older one); the artifact's path."""
    require_tensorflow_keras()
    folder = Path(folder)
    target = folder / ARTIFACT_NAMES[fmt]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".export-{fmt}-", dir=folder))
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write the export there ({exc.strerror or exc})") from None
    try:
        _quiet_converters()
        model(np.zeros((1, *INPUT_SHAPE), np.float32))  # Keras exports only a model that has been called once
        model.export(str(staging / ARTIFACT_NAMES[fmt]), format=KERAS_FORMATS[fmt], verbose=False)
        for produced in sorted(staging.iterdir()):
            final = folder / produced.name
            if final.is_dir():
                shutil.rmtree(final)
            produced.replace(final)
    except OSError as exc:
        raise OutputError(f"{target}: the export could not be written ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _quiet_converters() -> None:
    """tf2onnx and the TFLite converter log every pass at INFO: keep the terminal for the results."""
    for name in ("tf2onnx", "absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
