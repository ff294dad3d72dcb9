"""What every serving runtime answers: its artifact, how to load it, how to call it, in what precision.

A user who serves this network when latency matters exports it (``mnist-mlp export``, Keras' own
``model.export``) and runs the artifact on an inference runtime. One ``Runtime`` subclass per
runtime and precision (``onnx_runtime``, ``openvino_runtime``, ``litert_runtime``,
``savedmodel_runtime``) holds everything that differs between them: the format it reads, the
file name of the artifact, the module to import, how to load the artifact with the precision
forced (float32 unless the class is a reduced-precision case of its own) and what that setting
really was. The harness, ``predict --runtime`` and the cold-start clock ask the class; nothing
branches on a runtime's name. Runtime modules are imported inside the methods, never at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mnist_mlp.errors import BackendUnavailable, ModelFileError

#: Keras' name for each export format (``model.export(path, format=...)``)
KERAS_FORMATS = {"onnx": "onnx", "openvino": "openvino", "litert": "litert", "savedmodel": "tf_saved_model"}
#: the artifact's name inside an export folder, per format (openvino writes a .bin beside its .xml)
ARTIFACT_NAMES = {"onnx": "model.onnx", "openvino": "model.xml", "litert": "model.tflite", "savedmodel": "saved_model"}
#: the float32 check of every exported artifact: its probabilities within this of the NumPy forward pass
FLOAT32_TOLERANCE = 1e-5


def artifact_bytes(path: str | Path, companions: tuple[str, ...] = ()) -> int:
    """The artifact's size on disk: the file and its companions (the same name with these suffixes:
    OpenVINO's weights ``.bin`` beside its ``.xml``), or every file under a folder (a SavedModel)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    files = [path, *(path.with_suffix(suffix) for suffix in companions)]
    return sum(p.stat().st_size for p in files if p.is_file())


def thread_count() -> int:
    """The threads a runtime may use: ``OMP_NUM_THREADS`` where set, else every CPU this process may run on."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Session:
    """A loaded artifact: ``session(x)`` gives the (n, 10) float32 probabilities of images (n, 28, 28)
    in [0, 1]; ``setting`` says the precision asked for, the one in force and how it was set."""

    def __init__(self, call: Callable[[np.ndarray], np.ndarray], setting: dict[str, Any], handle: Any = None) -> None:
        self._call = call
        self.setting = setting
        self.handle = handle  # the runtime's own object (kept alive with the session)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._call(np.ascontiguousarray(x, dtype=np.float32))

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Keras' ``predict`` signature, so ``mnist_mlp.predict`` serves an artifact as it serves a model."""
        size = batch_size or len(x)
        return np.concatenate([self(x[i:i + size]) for i in range(0, len(x), size)]) if len(x) else np.empty((0, 10), np.float32)


class Runtime:
    """One inference runtime in one precision. Subclasses set the attributes and ``_open``."""

    #: the name users type (``--runtimes``, ``predict --runtime``) and results store
    name: str = ""
    #: the export format it serves (``KERAS_FORMATS``)
    format: str = ""
    #: the module that must be importable (imported inside the methods only)
    module_name: str = ""
    #: distributions whose versions describe it
    packages: tuple[str, ...] = ()
    #: float32, or the runtime's own reduced precision (a case of its own, never in the float32 rows)
    precision: str = "float32"
    devices: tuple[str, ...] = ("cpu",)
    #: files that belong to the artifact beside it: its name with these suffixes
    companions: tuple[str, ...] = ()

    def size_of(self, path: str | Path) -> int:
        """The artifact's bytes on disk (``artifact_bytes``)."""
        return artifact_bytes(path, self.companions)

    @property
    def reduced(self) -> bool:
        """Whether this is a reduced-precision case: judged by its accuracy change, not the 1e-5 check."""
        return self.precision != "float32"

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.module_name.split(".")[0]) is not None

    def install_hint(self) -> str:
        return "pip install 'mnist-mlp[serve]'"

    def require_installed(self) -> None:
        if not self.is_installed():
            raise BackendUnavailable(f"--runtime {self.name}: {self.module_name} is not installed ({self.install_hint()})")

    def artifact_in(self, folder: str | Path) -> Path:
        """Where this runtime's artifact lies in an export folder."""
        return Path(folder) / ARTIFACT_NAMES[self.format]

    def import_modules(self) -> Any:
        """Import the runtime (the first part of a cold start)."""
        return importlib.import_module(self.module_name)

    def prepare(self, exported: Path, folder: Path) -> Path:
        """The artifact this runtime serves, made from the exported one (a quantised copy for int8)."""
        return exported

    def load(self, path: str | Path, threads: int | None = None) -> Session:
        """The artifact at ``path``, ready to call; a missing, corrupt or foreign file is a one-line
        ``ModelFileError`` that names it."""
        self.require_installed()
        path = Path(path)
        if not path.exists():
            raise ModelFileError(f"{path}: no {self.format} artifact here (make one with mnist-mlp export --format {self.format})")
        try:
            session = self._open(path, threads or thread_count())
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - every runtime has its own exceptions for a bad file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{path}: {self.name} cannot load it as a {self.format} model ({first[:200]})") from None
        _check_signature(session, path, self.name)
        return session

    def _open(self, path: Path, threads: int) -> Session:
        raise NotImplementedError

    def unavailable_reason(self, session: Session) -> str | None:
        """Why this case measures nothing here once loaded (a reduced precision the CPU lacks)."""
        return None


def _check_signature(session: Session, path: Path, name: str) -> None:
    """One call on a zero image: a model of another shape is refused by name, not timed."""
    try:
        out = np.asarray(session(np.zeros((2, 28, 28), np.float32)))
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{path}: {name} loaded it but it does not take (n, 28, 28) float32 images ({str(exc)[:160]})") from None
    if out.shape != (2, 10):
        raise ModelFileError(f"{path}: not the seed's MLP (its output for 2 images has shape {out.shape}, expected (2, 10))")
