"""The seed's model and training without Keras: what every framework's native code shares.

Each framework module (``torch_native``, ``jax_native``, ``tensorflow_native``, ``numpy_native``)
implements one small ``Trainer`` class per variant (``native``: the plain form a user writes first;
``native-fast``: the fastest form a skilled user writes for batch 32). This module holds everything
that must be the same for all of them, so no framework can drift on it:

* the initial weights: the seeded Keras model's own (``keras_initial_weights``), handed over as
  arrays, because the frameworks' default initialisers differ (``torch.nn.Linear`` is not
  glorot-uniform with zero bias);
* the split (the last ``validation_split`` held out, unshuffled, as Keras' ``validation_split``),
  the shuffle every epoch, the epochs and the batch, the validation pass after every epoch (in
  batches of the batch size, as Keras' ``fit`` validates) and the test accuracy at the end (``fit``);
* the clocks: ``epoch_seconds`` spans the whole epoch and ``epoch_train_seconds`` stops when the
  training steps are done (the trainer synchronises its device before returning), exactly the two
  spans ``train.EpochTimer`` measures for Keras, so ``bench.metrics`` derives the same statistics
  (first epoch apart, steady ms per step, time to target) from both.

Keras' Adam and loss are written out in each framework (see ``reference.training`` for the
formulas); ``reference.verify`` checks each trainer step by step against the NumPy reference.

Imports keras (for the initial weights) only inside ``keras_initial_weights``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from mnist_mlp.config import TrainConfig
from mnist_mlp.reference.training import PROB_EPSILON, AdamSettings

#: what ``--implementations`` / ``--implementation`` accept; ``keras`` is the seed's own trainer
IMPLEMENTATIONS = ("keras", "native", "native-fast")
NATIVE = ("native", "native-fast")
#: the loss Keras computes on each backend: the clipped probabilities (JAX, torch) or the logits path (TF)
LOSS_CLIPPED, LOSS_LOGITS = "clipped", "logits"

__all__ = ["IMPLEMENTATIONS", "NATIVE", "LOSS_CLIPPED", "LOSS_LOGITS", "PROB_EPSILON", "AdamSettings",
           "EpochStats", "Trainer", "NativeRun", "keras_initial_weights", "split", "fit", "keras_alpha",
           "pixel_values", "pixel_rows", "unit_rows"]


@dataclass
class EpochStats:
    """One epoch's training figures as Keras' history has them: the mean of the per-step losses and
    the accuracy over every training sample; ``step_losses`` when the trainer keeps them (the fast
    variants do, ``verify`` reads them)."""

    loss: float
    accuracy: float
    step_losses: np.ndarray | None = None


class Trainer:
    """One framework's training state (weights, Adam's m, v and step count) on its device.

    Subclasses take ``(weights, adam, x_train, y_train, batch_size)``: the six float32 arrays
    ``[W1, b1, W2, b2, W3, b3]`` (kernels ``(fan_in, fan_out)``, Keras' layout), Keras' Adam
    settings, and the training split, which they may move to the device once.

    Images come as float32 rows already in [0, 1] (``flat``), or as the raw uint8 pixel rows
    (``pixel_rows``), which the trainer scales on its device inside every step and forward, to the
    very float32 values ``data.scale`` gives (``pixel_values``). The race hands over pixels: a
    quarter of the bytes to copy and move, and no 188 MB float32 array to allocate and touch
    inside its clock (where the first touch of fresh pages is slow on a VM, the data part of the
    committed open run of 2026-12-03 ran to 1.18 s a seed); the steps gather a quarter of the bytes.
    """

    #: the framework's name (``--backend``) and the variant (``native`` or ``native-fast``)
    framework: str = ""
    variant: str = "native"
    #: what this variant changes against the plain one, in a line (the report prints it)
    summary: str = ""
    #: True where the trainer *is* the NumPy training reference: ``verify`` then compares the
    #: reference with itself, and its zero differences say nothing about agreement
    is_reference: bool = False

    def epoch(self, order: np.ndarray) -> EpochStats:
        """Train one epoch on the training rows in ``order`` (batches of ``batch_size``, the last
        one partial if it must be, as Keras does); return after the device has finished."""
        raise NotImplementedError

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        """Mean clipped cross-entropy (Keras' JAX/torch formula; TensorFlow's logits path gives the same
        unless a probability is clipped) and accuracy on ``x``: the validation pass.

        One forward (``probabilities``) per batch of ``batch_size`` rows, as Keras' ``fit`` validates
        (``validation_split`` with the fit's batch size: 375 steps of 32 on the seed's 12,000 rows), so
        the epoch's seconds hold the same validation work as a Keras case's (one forward of all rows
        took 0.021 s on torch where Keras' batches took 0.735 s, flattering the native cases' epoch
        seconds, time to target and wall time). Both figures are means over the samples, as Keras'
        metrics weight each batch by its size: the same values as one forward of all rows."""
        losses, hits = [], []
        for start in range(0, len(x), batch_size):
            probs = self.probabilities(x[start:start + batch_size])
            labels = y[start:start + batch_size]
            losses.append(sample_losses(probs, labels))
            hits.append(probs.argmax(axis=1) == labels)
        return float(np.mean(np.concatenate(losses))), float(np.mean(np.concatenate(hits)))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax outputs on ``x`` as float32 NumPy (the test accuracy and the agreement check)."""
        raise NotImplementedError

    def weights(self) -> list[np.ndarray]:
        """The current weights as float32 NumPy arrays, in ``[W1, b1, ...]`` order."""
        raise NotImplementedError

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Loss and gradients at the current weights, then one Adam update (``verify``'s view of a
        step). Fast variants that fuse a whole epoch may not expose gradients: they raise
        ``NotImplementedError`` and ``verify`` checks their per-step losses and weights instead."""
        raise NotImplementedError

    def set_learning_rate(self, lr: float) -> None:
        """The learning rate of the steps that follow (a schedule sets one before each epoch).

        Exactly what Keras does after ``optimizer.learning_rate = lr`` (``LearningRateScheduler``'s
        line, which assigns the optimizer's float32 variable): Adam's step count ``t`` and its
        moments are *not* reset, so the next step's size is ``lr * sqrt(1 - beta_2**t) /
        (1 - beta_1**t)`` with the global ``t`` (``keras_alpha``). The change must reach compiled
        code without compiling again (a traced argument in JAX, a ``tf.Variable`` in TensorFlow,
        a tensor filled in place in torch): a schedule that cost a retrace per epoch would put
        compile time into the epochs a race times, and a rate baked in as a constant would not
        change at all. ``verify_training(learning_rates=...)`` checks each trainer does it."""
        raise NotImplementedError


def sample_losses(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Keras' clipped sparse categorical cross-entropy of float32 probabilities, per sample (float64)."""
    p = np.clip(probs[np.arange(len(y)), y], PROB_EPSILON, 1.0 - PROB_EPSILON)
    return -np.log(p.astype(np.float64))


def mean_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """``sample_losses`` averaged: the loss of one forward over all of ``probs``' rows."""
    return float(np.mean(sample_losses(probs, y)))


def keras_alpha(adam: AdamSettings, t: int) -> np.float32:
    """Keras' step size at step ``t`` (1-based), in float32 as Keras computes it:
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` (eps then goes on the *uncorrected* sqrt(v));
    ``lr`` is ``adam.learning_rate`` of the moment, ``t`` the global step (a changed rate does not
    restart the bias correction)."""
    f = np.float32
    tt = f(t)
    return f(adam.learning_rate) * np.sqrt(f(1) - f(adam.beta_2) ** tt) / (f(1) - f(adam.beta_1) ** tt)


def keras_initial_weights(config: TrainConfig) -> tuple[list[np.ndarray], AdamSettings]:
    """The seeded Keras model's initial weights and its optimizer's settings, as arrays.

    Exactly what ``train.train`` starts from with this config on the backend keras is loaded with
    (seeded by ``train.set_random_seed``), so a native run and the Keras run of a seed begin at the
    same point. Imports keras.
    """
    import keras

    from mnist_mlp.model import build_model
    from mnist_mlp.reference.forward import weights_from_model
    from mnist_mlp.train import set_random_seed

    set_random_seed(config.seed)
    model = build_model(config)
    opt = model.optimizer
    adam = AdamSettings(learning_rate=float(keras.ops.convert_to_numpy(opt.learning_rate)),
                        beta_1=float(opt.beta_1), beta_2=float(opt.beta_2), epsilon=float(opt.epsilon))
    return weights_from_model(model), adam


def split(x: np.ndarray, y: np.ndarray, validation_split: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keras' ``validation_split``: the first ``floor(n * (1 - split))`` rows train, the rest validate."""
    n_train = math.floor(len(x) * (1.0 - validation_split))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


@dataclass
class NativeRun:
    """What a native run hands the benchmark: the fields of ``train.TrainResult`` it reads, with
    the trained weights and the trainer (for the agreement check) in place of a Keras model."""

    config: TrainConfig
    history: dict[str, list[float]]
    test_accuracy: float
    wall_seconds: float
    steps_per_epoch: int
    weights: list[np.ndarray]
    trainer: Trainer
    extra: dict = field(default_factory=dict)
    model: Any = None  # no Keras model: the inference tests serve the Keras cases' models


#: epoch hooks: (epoch index) -> None, called outside every timed span
EpochHook = Callable[[int], None]


def fit(make_trainer: Callable[..., Trainer], config: TrainConfig, x_train: np.ndarray, y_train: np.ndarray,
        x_test: np.ndarray, y_test: np.ndarray, *, initial: Sequence[np.ndarray], adam: AdamSettings,
        on_epoch_begin: EpochHook | None = None, on_epoch_end: EpochHook | None = None) -> NativeRun:
    """The seed's training, natively: split, ``epochs`` shuffled epochs with validation, test accuracy.

    ``x_train`` are the prepared images (``train.model_inputs``), cut to ``config.train_samples``.
    ``wall_seconds`` spans what ``train.train``'s does after building the model: creating the
    trainer (the weights and the data moved to the device) and every epoch. The shuffle is NumPy's
    permutation, seeded by the run's seed, one per epoch (Keras' own shuffle differs per backend,
    so whole runs are compared by accuracy over seeds, not by weights).
    """
    xt, yt, xv, yv = split(flat(x_train), y_train, config.validation_split)
    x_test = flat(x_test)
    yt = yt.astype(np.int32)
    yv = yv.astype(np.int32)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list[float]] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                                        "epoch_seconds", "epoch_train_seconds")}
    start = time.perf_counter()
    trainer = make_trainer([np.array(w, np.float32) for w in initial], adam, xt, yt, config.batch_size)
    for epoch in range(config.epochs):
        if on_epoch_begin:
            on_epoch_begin(epoch)
        began = time.perf_counter()
        stats = trainer.epoch(rng.permutation(len(xt)))
        trained = time.perf_counter()
        val_loss, val_accuracy = trainer.evaluate(xv, yv, config.batch_size)
        ended = time.perf_counter()
        history["loss"].append(float(stats.loss))
        history["accuracy"].append(float(stats.accuracy))
        history["val_loss"].append(float(val_loss))
        history["val_accuracy"].append(float(val_accuracy))
        history["epoch_seconds"].append(ended - began)
        history["epoch_train_seconds"].append(trained - began)
        if on_epoch_end:
            on_epoch_end(epoch)
    wall = time.perf_counter() - start
    probs = trainer.probabilities(x_test)
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test)) if np.all(np.isfinite(probs)) else float("nan")
    return NativeRun(config=config, history=history, test_accuracy=accuracy, wall_seconds=wall,
                     steps_per_epoch=math.ceil(len(xt) / config.batch_size), weights=trainer.weights(),
                     trainer=trainer, extra={"implementation": trainer.variant, "summary": trainer.summary})


def pixel_values() -> np.ndarray:
    """The 256 float32 values ``data.scale`` maps a pixel to (``p / 255`` in float32), as a table.

    JAX and TensorFlow scale pixels on the device by gathering from this table, not by dividing:
    XLA's ``x / 255`` on the CPU is not correctly rounded (1 ulp off for some pixel values; on JAX
    even with the divisor passed in at run time), where the table gives ``scale``'s values exactly,
    and the gather fuses into the batch's. torch and NumPy divide, which is IEEE's correctly
    rounded division and so exact. ``tests/test_native_pixels.py`` holds every trainer to it."""
    from mnist_mlp.data import scale

    return scale(np.arange(256, dtype=np.uint8))


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Host rows as the model takes them: uint8 pixels scaled as ``data.scale`` does; float32 rows as they are."""
    if x.dtype == np.uint8:
        from mnist_mlp.data import scale

        return scale(x)
    return x


def pixel_rows(x: np.ndarray) -> np.ndarray:
    """Raw images as ``(n, 784)`` uint8 rows (a view of the loaded arrays), for a trainer to scale on its device."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"pixel_rows: expected uint8 pixels, got {x.dtype}")
    return x.reshape(len(x), -1)


def flat(x: np.ndarray) -> np.ndarray:
    """Images as the trainers take them: ``(n, 784)`` float32 rows (a view when already so)."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))


def batches_of(order: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``order`` as full batches ``(steps, batch_size)`` and the partial rest (possibly empty)."""
    full = (len(order) // batch_size) * batch_size
    return order[:full].reshape(-1, batch_size), order[full:]
