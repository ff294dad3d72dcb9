"""The framework-free training reference: one step of the seed's MLP in NumPy, as Keras computes it.

``mnist-mlp verify --training`` runs K steps of this beside a backend, from the same initial
weights on the same batches, and compares loss, gradients and weights after every step: the
forward check (``reference.py``) shows the backends *predict* alike, this shows they *train* alike.

What Keras does, and so what this does (keras 3, ``keras/src``):

* Loss: ``sparse_categorical_crossentropy`` on the softmax output, ``from_logits=False``, mean over
  the batch (``sum_over_batch_size``). On JAX and PyTorch Keras renormalises the probabilities,
  clips them to ``[eps, 1 - eps]`` (``eps = 1e-7``, ``keras.backend.epsilon()``) and takes the log
  (``backend/{jax,torch}/nn.py``); the clip zeroes the gradient of a sample whose true-class
  probability lies outside that interval. On TensorFlow the softmax output carries its logits
  (``_keras_logits``) and the loss is computed from them, unclipped
  (``backend/tensorflow/nn.py:_get_logits``). The two agree unless a probability is clipped;
  ``clipped`` in each step's record counts the samples where they could differ.
* Backward: with a softmax output the gradient of the loss with respect to the logits is
  ``(p - onehot(y)) / batch``; ReLU passes gradient where its output is positive (Keras' ReLU
  gradient at exactly 0 is 0, as here).
* Adam (``optimizers/adam.py`` ``update_step``), per variable, ``t`` = iterations + 1::

      alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
      m += (g - m) * (1 - beta_1)
      v += (g*g - v) * (1 - beta_2)
      var -= m * alpha / (sqrt(v) + epsilon)

  epsilon is added to sqrt(v) *outside* the bias correction (folded into alpha), Keras' placement,
  not the paper's ``m_hat / (sqrt(v_hat) + eps)``; defaults beta_1 0.9, beta_2 0.999, eps 1e-7.
* A learning rate changed between epochs (``keras.callbacks.LearningRateScheduler`` assigns the
  optimizer's ``learning_rate`` variable before each epoch): only ``lr`` in alpha changes; ``t``,
  ``m`` and ``v`` carry on (``NumpyTrainer.set_learning_rate``), so the step after a change at
  global step t uses ``new_lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``, not a fresh bias correction.

Everything is float32, like Keras' variables and optimizer slots. ``dtype=np.float64`` runs the
same arithmetic in double precision, to measure float32's own round-off: over the first 10 MNIST
batches the float32 run drifts from the float64 one by ~3e-6 in the loss, ~5e-7 in the gradients
and ~4e-7 in the weights (most of it at step 1, where Adam's update ``lr * g / (|g| + ~3e-6)``
turns a round-off-sized gradient into a weight change of up to ~3e-7). Float64 would differ from
Keras by that much; the backends, all float32, agree with this reference more closely than that
(``verify_training.TOLERANCE`` is 10x the float32-vs-float64 drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

#: keras.backend.epsilon(): the probability clip of the cross-entropy
PROB_EPSILON = 1e-7


@dataclass(frozen=True)
class AdamSettings:
    """Keras' Adam defaults (the seed compiles ``Adam(learning_rate=1e-3)``)."""

    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7


@dataclass
class StepResult:
    """What one training step saw: the loss and gradients at the weights *before* the update."""

    loss: float
    gradients: list[np.ndarray]
    clipped: int
    #: the predicted class of every sample (argmax of the softmax): the training accuracy of a timed run
    predicted: np.ndarray | None = None


@dataclass
class NumpyTrainer:
    """The MLP's weights ``[W1, b1, W2, b2, W3, b3]`` and Adam's state; ``step`` trains one batch."""

    weights: list[np.ndarray]
    adam: AdamSettings = field(default_factory=AdamSettings)
    dtype: type = np.float32
    iterations: int = 0

    def __post_init__(self) -> None:
        self.weights = [np.array(w, dtype=self.dtype) for w in self.weights]
        if len(self.weights) != 6:
            raise ValueError(f"expected 6 weight arrays (3 Dense layers), got {len(self.weights)}")
        self.m = [np.zeros_like(w) for w in self.weights]
        self.v = [np.zeros_like(w) for w in self.weights]

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """Forward, mean sparse categorical cross-entropy (Keras' clip), backward."""
        dt = self.dtype
        w1, b1, w2, b2, w3, b3 = self.weights
        x = np.asarray(x, dtype=dt).reshape(len(x), -1)
        y = np.asarray(y).astype(np.int64).reshape(-1)
        n = len(x)
        z1 = x @ w1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2 + b2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ w3 + b3
        z3 = z3 - z3.max(axis=1, keepdims=True)
        p = np.exp(z3)
        p /= p.sum(axis=1, keepdims=True)
        p_true = p[np.arange(n), y]
        clipped_true = np.clip(p_true, dt(PROB_EPSILON), dt(1.0 - PROB_EPSILON))
        loss = float(np.mean(-np.log(clipped_true), dtype=dt))
        inside = (p_true >= dt(PROB_EPSILON)) & (p_true <= dt(1.0 - PROB_EPSILON))
        # d loss / d logits: (p - onehot) / n where the clip lets the gradient through, else 0
        dz3 = p.copy()
        dz3[np.arange(n), y] -= dt(1.0)
        dz3 *= (inside.astype(dt) / dt(n))[:, None]
        gw3 = h2.T @ dz3
        gb3 = dz3.sum(axis=0)
        dz2 = (dz3 @ w3.T) * (z2 > 0)
        gw2 = h1.T @ dz2
        gb2 = dz2.sum(axis=0)
        dz1 = (dz2 @ w2.T) * (z1 > 0)
        gw1 = x.T @ dz1
        gb1 = dz1.sum(axis=0)
        grads = [g.astype(dt, copy=False) for g in (gw1, gb1, gw2, gb2, gw3, gb3)]
        return StepResult(loss=loss, gradients=grads, clipped=int(np.count_nonzero(~inside)), predicted=p.argmax(axis=1))

    def apply_adam(self, gradients: Sequence[np.ndarray]) -> None:
        """One Adam update of every weight, exactly Keras' ``update_step`` (see the module doc)."""
        dt = self.dtype
        a = self.adam
        t = dt(self.iterations + 1)
        b1, b2 = dt(a.beta_1), dt(a.beta_2)
        alpha = dt(a.learning_rate) * np.sqrt(dt(1) - b2**t) / (dt(1) - b1**t)
        for w, m, v, g in zip(self.weights, self.m, self.v, gradients):
            g = np.asarray(g, dtype=dt)
            m += (g - m) * dt(1 - a.beta_1)
            v += (np.square(g) - v) * dt(1 - a.beta_2)
            w -= (m * alpha) / (np.sqrt(v) + dt(a.epsilon))
        self.iterations += 1

    def step(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """Loss and gradients at the current weights, then one Adam update."""
        result = self.loss_and_gradients(x, y)
        self.apply_adam(result.gradients)
        return result

    def set_learning_rate(self, lr: float) -> None:
        """The learning rate of the steps that follow, as Keras' ``optimizer.learning_rate = lr`` sets
        it: the step count and the moments stay (``AdamSettings`` is frozen, so the settings are
        replaced; ``apply_adam`` rounds ``lr`` to float32 as Keras' variable holds it)."""
        self.adam = replace(self.adam, learning_rate=float(lr))


def epoch_plan(steps: int, steps_per_epoch: int | None = None,
               learning_rates: Sequence[float] | None = None) -> list[tuple[range, float | None]]:
    """``steps`` training steps cut into epochs of ``steps_per_epoch`` (the last one shorter if it
    must be; None: one epoch of all of them), each with the learning rate set before it (None: the
    optimizer's own stays). The one place both sides of ``verify --training`` read a schedule from,
    so the checked trainer and the reference cannot split the steps differently.

    ``learning_rates`` needs exactly one rate per epoch: a schedule that silently ran short or long
    would check some other schedule than the one asked for."""
    per = steps if steps_per_epoch is None else int(steps_per_epoch)
    if per < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    epochs = [range(start, min(start + per, steps)) for start in range(0, steps, per)]
    if learning_rates is None:
        return [(epoch, None) for epoch in epochs]
    rates = [float(lr) for lr in learning_rates]
    if len(rates) != len(epochs):
        raise ValueError(f"{len(rates)} learning rates for {len(epochs)} epochs ({steps} steps, "
                         f"{per} per epoch): give one per epoch")
    if not all(lr > 0 and np.isfinite(lr) for lr in rates):
        raise ValueError(f"learning rates must be positive and finite, got {rates}")
    return list(zip(epochs, rates))


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Largest |a - b| over two lists of arrays of the same layout (weights, gradients), in float64."""
    if len(a) != len(b):
        raise ValueError(f"array lists differ in length: {len(a)} vs {len(b)}")
    return float(max(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))) for x, y in zip(a, b)))
