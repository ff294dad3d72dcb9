"""NumPy training, timed: the framework-free baseline (``numpy-cpu-native``).

The trainer *is* the NumPy training reference (``reference.training.NumpyTrainer``: Keras' clipped
loss, its backward pass and Keras' Adam, all float32), driven through an epoch of shuffled batches
like the other native trainers. There is no fast variant: the reference is already plain array
code over BLAS, and a faster NumPy would no longer be the reference the others are checked against.
"""

from __future__ import annotations

import numpy as np

from mnist_mlp.native.base import EpochStats, Trainer, unit_rows
from mnist_mlp.reference.forward import NumpyMLP
from mnist_mlp.reference.training import AdamSettings, NumpyTrainer


class NumpyNative(Trainer):
    framework = "numpy"
    variant = "native"
    summary = "the NumPy training reference itself (float32, BLAS matmuls), one batch at a time"
    is_reference = True

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int) -> None:
        self.reference = NumpyTrainer(list(weights), adam=adam)
        self.x, self.y, self.batch_size = x_train, y_train, batch_size

    def epoch(self, order: np.ndarray) -> EpochStats:
        losses, correct = [], 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            x, y = unit_rows(self.x[idx]), self.y[idx]
            result = self.reference.loss_and_gradients(x, y)
            correct += int(np.count_nonzero(result.predicted == y))
            self.reference.apply_adam(result.gradients)
            losses.append(result.loss)
        return EpochStats(loss=float(np.mean(losses)), accuracy=correct / len(order), step_losses=np.asarray(losses))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(NumpyMLP(self.reference.weights)(unit_rows(x)), dtype=np.float32)

    def weights(self) -> list[np.ndarray]:
        return [np.array(w) for w in self.reference.weights]

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        result = self.reference.step(unit_rows(x), y)
        return result.loss, result.gradients

    def set_learning_rate(self, lr: float) -> None:
        self.reference.set_learning_rate(lr)  # nothing is compiled: the next apply_adam reads it


IMPLEMENTATIONS = {"native": NumpyNative}
