"""Train the seed's MLP and keep what a benchmark needs: per-epoch curves, epoch times, accuracy.

Imports keras: import only after ``mnist_mlp.backends.select``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np
from sklearn.metrics import accuracy_score

from mnist_mlp.config import TrainConfig
from mnist_mlp.data import Mnist, scale
from mnist_mlp.model import build_model

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch (``perf_counter``), and of its training part alone.

    ``seconds`` spans the whole epoch, validation included (what a user waits for);
    ``train_seconds`` stops where validation starts, so per-step figures count training steps
    only. The first epoch holds tracing and compilation.
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.train_seconds: list[float] = []
        self._start = 0.0
        self._train_end: float | None = None
        #: the backend's synchronize: every clock reading waits for the device's queued work first
        self._sync = sync or (lambda: None)

    def _now(self) -> float:
        self._sync()
        return time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._train_end = None
        self._start = self._now()

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_end is None:  # validation inside fit: the training steps are done
            self._train_end = self._now()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        end = self._now()
        self.seconds.append(end - self._start)
        self.train_seconds.append((self._train_end or end) - self._start)


@dataclass
class TrainResult:
    """A trained model and the figures of its run."""

    model: Any
    config: TrainConfig
    history: dict[str, list[float]]
    test_accuracy: float
    wall_seconds: float
    steps_per_epoch: int
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready."""
        return {
            "config": self.config.to_dict(),
            "history": self.history,
            "test_accuracy": self.test_accuracy,
            "wall_seconds": self.wall_seconds,
            "steps_per_epoch": self.steps_per_epoch,
        }


def prepare_inputs(images: np.ndarray, config: TrainConfig) -> np.ndarray:
    """The seed's one preprocessing step: scale uint8 pixels to float32 in [0, 1]."""
    return scale(images) if config.scale_inputs else images.astype(np.float32)


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` (Python, NumPy, Keras' seed generator, PyTorch's), without
    importing TensorFlow into a JAX or PyTorch process.

    Keras also seeds TensorFlow whenever it is installed, for ``tf.data`` pipelines: on JAX or
    PyTorch that costs seconds of import (and of interpreter exit) and seeds nothing this package
    uses, since NumPy arrays go through Keras' own NumPy and torch iterators, seeded by NumPy and
    PyTorch. So on those backends, unless TensorFlow is loaded already, Keras' call runs as it
    would where TensorFlow is not installed: ``import tensorflow`` fails for its duration (Keras
    then treats TensorFlow as absent for the life of the process, as there). The random streams
    the model sees are the same either way (``tests/test_train.py`` checks the initial weights).
    """
    if "tensorflow" in sys.modules:  # loaded already (as it always is on Keras' TensorFlow backend)
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # type: ignore[assignment]  # makes `import tensorflow` fail
    try:
        keras.utils.set_random_seed(seed)
    finally:
        if "tensorflow" in sys.modules and sys.modules["tensorflow"] is None:
            del sys.modules["tensorflow"]


def training_arrays(data: Mnist, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The training images (scaled as the config says) and labels, cut to ``config.train_samples``.

    The cut keeps the first images, so the validation split still takes the last 20% of what is
    used, as Keras does.
    """
    count = config.train_samples or len(data.x_train)
    return prepare_inputs(data.x_train[:count], config), data.y_train[:count]


@dataclass(frozen=True)
class ModelInputs:
    """The training and test images as the model sees them (``prepare_inputs``), made once."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray


def model_inputs(data: Mnist, config: TrainConfig) -> ModelInputs:
    """Both image sets prepared (the training set cut to ``config.train_samples``): done before
    any timer, like the data loading itself."""
    x_train, y_train = training_arrays(data, config)
    return ModelInputs(x_train, y_train, prepare_inputs(data.x_test, config))


def train(
    config: TrainConfig, data: Mnist, *, verbose: int | str = 0, callbacks: list | None = None,
    inputs: ModelInputs | None = None, hidden_units: tuple[int, int] | None = None,
    sync: Callable[[], None] | None = None,
) -> TrainResult:
    """Seeded fit on the training set with the last ``validation_split`` held out, then test accuracy.

    Once the inputs are prepared, this is the span a round of ``benchmarks/test_training.py``
    times and ``benchmarks/plain_keras.py`` times without the harness: seeding, building and
    compiling the model, ``fit`` and the test-set evaluation (``predict`` at batch 1024,
    accuracy by ``accuracy_score``). Pass ``inputs`` (``model_inputs``) to keep the scaling out
    of that span, as the benchmark does; without them they are prepared here first.

    ``wall_seconds`` covers building the model and ``fit``; evaluation on the test set is not in it.
    ``config.train_samples`` (a smoke run) fits on the first that many training images only.
    ``hidden_units`` replaces the seed's (128, 32) for the gate's power study only
    (``mnist_mlp.gate.regressions``). ``sync`` (the backend's ``synchronize``) runs before every
    clock reading, so on an asynchronous device the epoch timers and the wall time see finished work.
    """
    if inputs is None:
        inputs = model_inputs(data, config)
    x_train, y_train = inputs.x_train, inputs.y_train
    set_random_seed(config.seed)
    timer = EpochTimer(sync)
    start = time.perf_counter()
    model = build_model(config) if hidden_units is None else build_model(config, hidden_units)
    fit = model.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_split=config.validation_split,
        verbose=verbose,
        callbacks=[timer, *(callbacks or [])],
    )
    if sync is not None:
        sync()
    wall = time.perf_counter() - start
    history = {key: [float(v) for v in fit.history.get(key, [])] for key in HISTORY_KEYS}
    history["epoch_seconds"] = list(timer.seconds)
    history["epoch_train_seconds"] = list(timer.train_seconds)
    n_train = math.floor(len(x_train) * (1.0 - config.validation_split))  # as Keras splits
    accuracy = accuracy_on(model, inputs.x_test, data.y_test)
    log.info("trained %d epochs in %.1f s, test accuracy %.4f", config.epochs, wall, accuracy)
    return TrainResult(
        model=model,
        config=config,
        history=history,
        test_accuracy=accuracy,
        wall_seconds=wall,
        steps_per_epoch=math.ceil(n_train / config.batch_size),
    )


def predict_proba(model: Any, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Keras ``predict`` as float32 NumPy probabilities."""
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def evaluate(model: Any, data: Mnist, config: TrainConfig = TrainConfig()) -> float:
    """Test-set accuracy of ``model`` on the prepared test images (``accuracy_on``)."""
    return accuracy_on(model, prepare_inputs(data.x_test, config), data.y_test)


def accuracy_on(model: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's ``accuracy_score`` on the argmax of the probabilities; NaN if any is not finite."""
    probs = predict_proba(model, images)
    if not np.all(np.isfinite(probs)):
        return float("nan")
    return float(accuracy_score(labels, probs.argmax(axis=1)))
