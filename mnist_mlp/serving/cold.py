"""Cold start: the wall time from a fresh process to the first correct prediction.

What a user of a serverless function or a command-line tool waits for: a new interpreter, the
imports (NumPy and the runtime or framework), loading the artifact, and the first call with
whatever it compiles. ``measure`` starts ``python .../mnist_mlp/serving/cold.py KIND ARTIFACT IMAGE``
and the child reports each part on its own clock; the parent's clock runs from before the spawn
to the moment the child's answer arrives, so the total holds the interpreter's start too. The
answer must be the right one (the digit, and the probabilities within the case's tolerance of
the expected ones) for the time to count: ``correct`` says whether it was.

KIND is a serving runtime (``serving.get``), ``keras`` (a ``.keras`` file on ``$KERAS_BACKEND``,
through ``predict``, what the framework cases serve) or ``numpy`` (an ``.npz`` of the weights,
the NumPy forward pass).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import json  # noqa: E402 - the clock starts before any import
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: the parent's wall-clock time at the spawn, so the child can say how long its interpreter took to start
SPAWN_ENV = "MNIST_MLP_COLD_SPAWN"
#: how long one cold start may take before it is reported as failed
TIMEOUT_S = 180.0


class _KerasFile:
    """A ``.keras`` model on the Keras backend of ``$KERAS_BACKEND``, served by ``predict``."""

    def import_modules(self) -> None:
        import keras  # noqa: F401

    def load(self, path: str) -> Any:
        from mnist_mlp.model import load_model

        model = load_model(path)
        return lambda x: model.predict(x, verbose=0)


class _NumpyWeights:
    """An ``.npz`` of the six weight arrays, served by the NumPy forward pass."""

    def import_modules(self) -> None:
        import mnist_mlp.reference.forward  # noqa: F401

    def load(self, path: str) -> Any:
        import numpy as np

        from mnist_mlp.reference.forward import NumpyMLP

        with np.load(path, allow_pickle=False) as npz:
            return NumpyMLP([np.asarray(npz[k], np.float32) for k in ("w1", "b1", "w2", "b2", "w3", "b3")])


def _loader(kind: str) -> Any:
    if kind == "keras":
        return _KerasFile()
    if kind == "numpy":
        return _NumpyWeights()
    from mnist_mlp import serving

    return serving.get(kind)  # a Runtime answers import_modules() and load(path) itself


def main(argv: list[str]) -> int:
    """The child: time the imports, the load and the first call, print them and the prediction as one JSON line."""
    kind, artifact, image = argv
    wall_at_start = time.time() - (time.perf_counter() - _STARTED)
    import numpy as np

    loader = _loader(kind)
    loader.import_modules()
    imported = time.perf_counter()
    predict = loader.load(artifact)
    loaded = time.perf_counter()
    x = np.load(image, allow_pickle=False)
    probs = np.asarray(predict(x), dtype=np.float64)
    called = time.perf_counter()
    spawn = os.environ.get(SPAWN_ENV)
    print(json.dumps({
        "interpreter_s": (wall_at_start - float(spawn)) if spawn else None,
        "imports_s": imported - _STARTED, "load_s": loaded - imported, "first_call_s": called - loaded,
        "probabilities": probs.tolist(),
    }), flush=True)
    return 0


def measure(kind: str, artifact: str | Path, image: Any, expected: Any, tolerance: float | None,
            env: dict[str, str] | None = None, workdir: str | Path | None = None) -> dict[str, Any]:
    """Start a fresh process that predicts ``image`` (one (1, 28, 28) array) from ``artifact``;
    its record: the parts, ``total_s`` (spawn to answer) and whether the answer was ``expected``.
    ``tolerance`` None: the digit must match (reduced precision); else the probabilities too."""
    import numpy as np

    folder = Path(workdir or Path(artifact).parent)
    image_path = folder / f".cold-{os.getpid()}.npy"
    np.save(image_path, np.asarray(image, np.float32))
    child_env = dict(os.environ if env is None else env)
    errors_path = folder / f".cold-{os.getpid()}.stderr"
    try:
        answer, answered, started, returncode = _run_child(kind, artifact, image_path, child_env, errors_path)
        tail = (errors_path.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
    finally:
        image_path.unlink(missing_ok=True)
        errors_path.unlink(missing_ok=True)
    if answer is None:
        why = f"no answer within {TIMEOUT_S:.0f} s" if returncode is None else f"exit {returncode}: {tail[:300]}"
        return {"kind": kind, "ok": False, "error": why}
    found = json.loads(answer)
    probs, want = np.asarray(found.pop("probabilities")), np.asarray(expected)
    correct = bool(np.array_equal(probs.argmax(axis=-1), want.argmax(axis=-1)))
    if tolerance is not None:
        correct = correct and float(np.max(np.abs(probs - want))) <= tolerance
    return {"kind": kind, "ok": correct, "correct": correct, **found,
            "total_s": answered - started, "clock": "spawn to the answer read by the parent (the child's exit not included)"}


def _run_child(kind: str, artifact: str | Path, image_path: Path, env: dict[str, str],
               errors_path: Path) -> tuple[str | None, float, float, int | None]:
    """Start the child; (its JSON line or None, when it arrived, when the spawn began, its exit status or None on timeout)."""
    with open(errors_path, "w") as errors:
        started = time.perf_counter()
        env[SPAWN_ENV] = repr(time.time())
        # this file as a script, not ``-m``: ``-m`` would import the package (and NumPy) before the child's clock starts
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), kind, str(artifact), str(image_path)],
                                 stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        answer, answered = None, started
        try:
            for line in child.stdout:  # type: ignore[union-attr]
                if line.startswith("{"):
                    answer, answered = line, time.perf_counter()
                    break
            child.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return None, answered, started, None
    return answer, answered, started, child.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
