"""The seed's training in plain JAX: a jitted step (``jax-*-native``) and a scanned epoch (``-native-fast``).

Both compute what Keras computes on JAX: the softmax output renormalised, clipped to
``[1e-7, 1 - 1e-7]`` and logged (``keras/src/backend/jax/nn.py``), the mean over the batch, and
Keras' Adam (epsilon on the uncorrected sqrt(v), the bias correction in float32, ``keras_adam``).
No optax: ``optax.adam`` puts epsilon on the corrected sqrt(v) and differs from Keras for the
first thousands of steps (``tests/test_native.py`` shows ``verify`` catching it).

* ``JaxNative``: the plain form. One ``jax.jit`` step (forward, ``value_and_grad``, Adam) called
  once per batch from Python, batches sliced from NumPy on the host and transferred per call, as
  a first JAX script does; the loss and accuracy sums are carried on the device.
* ``JaxNativeFast``: the training split is put on the device once; each epoch is *one* jitted
  call, a ``lax.scan`` over the epoch's batches gathered on the device by the permutation, with
  the state buffers donated (updated in place, no copy per epoch). A partial last batch (only in
  smoke runs: 48,000 / 32 has none) runs through the plain step on device-gathered rows.

The learning rate is a traced float32 argument of every jitted call (``step(state, x, y, lr)``),
never a constant closed over: ``set_learning_rate`` swaps the array handed in, whose shape and
dtype stay those the calls were compiled for, so a schedule changes it between epochs without a
retrace (``traces`` counts them; ``tests/test_native_schedule.py`` checks it stays put).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mnist_mlp.native.base import PROB_EPSILON, EpochStats, Trainer, batches_of, pixel_values
from mnist_mlp.reference.training import AdamSettings

#: ``data.scale``'s value of each pixel (``base.pixel_values``: XLA's ``x / 255`` is not correctly rounded)
PIXEL_VALUES = pixel_values()


def unit(x):
    """uint8 pixels to ``data.scale``'s float32 values, on the device (a table gather, fused into
    the batch's); float rows pass through. Decided by dtype while tracing: nothing at run time."""
    return jnp.asarray(PIXEL_VALUES)[x] if x.dtype == jnp.uint8 else x


def forward(params, x):
    """Logits of the 784-128-32-10 MLP; kernels are ``(fan_in, fan_out)`` as Keras keeps them."""
    w1, b1, w2, b2, w3, b3 = params
    x = unit(x)
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return h @ w3 + b3


def keras_loss(params, x, y):
    """Keras' sparse categorical cross-entropy on JAX (softmax, renormalise, clip, log), and the logits."""
    logits = forward(params, x)
    probs = jax.nn.softmax(logits, axis=-1)
    probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
    probs = jnp.clip(probs, PROB_EPSILON, 1.0 - PROB_EPSILON)
    picked = jnp.take_along_axis(jnp.log(probs), y[:, None], axis=1)[:, 0]
    return -jnp.mean(picked), logits


def keras_adam(adam: AdamSettings):
    """Keras 3's ``Adam.update_step`` over a list of arrays; ``t`` is the 1-based step and ``lr`` the
    learning rate of the moment, both float32 (traced: ``adam.learning_rate`` is the one the trainer
    starts with, not baked in)."""
    b1, b2, eps = (np.float32(v) for v in (adam.beta_1, adam.beta_2, adam.epsilon))
    # 1 - beta in Python's double, then float32, as Keras writes ``1 - self.beta_1`` (float32(1) -
    # float32(0.9) is 0.100000024, not float32(0.1): a 2e-7 relative error in every m update)
    c1, c2 = np.float32(1 - adam.beta_1), np.float32(1 - adam.beta_2)

    def update(params, m, v, grads, t, lr):
        alpha = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = [mi + (g - mi) * c1 for mi, g in zip(m, grads)]
        v = [vi + (g * g - vi) * c2 for vi, g in zip(v, grads)]
        params = [p - mi * alpha / (jnp.sqrt(vi) + eps) for p, mi, vi in zip(params, m, v)]
        return params, m, v

    return update


def make_step(adam: AdamSettings, update_rule=keras_adam):
    """One training step on a state ``(params, m, v, t, loss_sum, correct)`` at the float32 learning
    rate ``lr``: pure, for jit or scan.

    ``update_rule(adam)`` makes the optimizer's update ``(params, m, v, grads, t, lr)`` (Keras' Adam;
    a test hands in a wrong one)."""
    update = update_rule(adam)

    def step(state, x, y, lr):
        params, m, v, t, loss_sum, correct = state
        (loss, logits), grads = jax.value_and_grad(keras_loss, has_aux=True)(params, x, y)
        t = t + 1
        params, m, v = update(params, m, v, grads, t, lr)
        hits = jnp.sum(jnp.argmax(logits, axis=-1) == y)
        return (params, m, v, t, loss_sum + loss, correct + hits), loss

    return step


class JaxNative(Trainer):
    framework = "jax"
    variant = "native"
    summary = "one jax.jit step per batch, batches sliced on the host"
    #: the optimizer's update (``keras_adam``); replaceable so a test can show a wrong one fails verify
    update_rule = staticmethod(keras_adam)

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int) -> None:
        self.adam, self.batch_size = adam, batch_size
        self.x, self.y = x_train, y_train
        params = [jnp.asarray(w) for w in weights]
        zeros = [jnp.zeros_like(w) for w in params]
        self.state = (params, zeros, [jnp.zeros_like(w) for w in params], jnp.float32(0), jnp.float32(0), jnp.int32(0))
        self.lr = jnp.asarray(np.float32(adam.learning_rate))
        #: how many times the step has been traced (by jit, a scan, the rest step): compilations, not steps
        self.traces = 0
        step = make_step(adam, self.update_rule)

        def traced_step(state, x, y, lr):
            self.traces += 1  # Python runs only while JAX traces
            return step(state, x, y, lr)

        self._step_fn = traced_step
        self._step = jax.jit(self._step_fn)
        self._grads = jax.jit(jax.value_and_grad(lambda p, x, y: keras_loss(p, x, y)[0]))
        self._probs = jax.jit(lambda p, x: jax.nn.softmax(forward(p, x), axis=-1))

    def _reset_sums(self) -> None:
        params, m, v, t, _, _ = self.state
        self.state = (params, m, v, t, jnp.float32(0), jnp.int32(0))

    def _finish(self, count: int, steps: int, losses=None) -> EpochStats:
        _, _, _, _, loss_sum, correct = jax.block_until_ready(self.state)
        step_losses = None if losses is None else np.asarray(losses)
        return EpochStats(loss=float(loss_sum) / steps, accuracy=int(correct) / count, step_losses=step_losses)

    def epoch(self, order: np.ndarray) -> EpochStats:
        self._reset_sums()
        steps = 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            self.state, _ = self._step(self.state, self.x[idx], self.y[idx], self.lr)
            steps += 1
        return self._finish(len(order), steps)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._probs(self.state[0], x), dtype=np.float32)

    def weights(self) -> list[np.ndarray]:
        return [np.asarray(w, dtype=np.float32) for w in self.state[0]]

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        _, grads = self._grads(self.state[0], x, y)
        self.state, loss = self._step(self.state, x, y.astype(np.int32), self.lr)
        return float(loss), [np.asarray(g) for g in grads]

    def set_learning_rate(self, lr: float) -> None:
        # a new float32 scalar: the same abstract value (shape (), float32, not weak), so no retrace
        self.lr = jnp.asarray(np.float32(lr))
        self.adam = replace(self.adam, learning_rate=float(lr))


class JaxNativeFast(JaxNative):
    variant = "native-fast"
    summary = "data on the device, one jitted lax.scan per epoch over permutation-gathered batches, donated state"

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int) -> None:
        super().__init__(weights, adam, x_train, y_train, batch_size)
        self.x_dev, self.y_dev = jax.device_put(x_train), jax.device_put(y_train)
        step = self._step_fn

        @partial(jax.jit, donate_argnums=(0,))
        def scan_epoch(state, x_all, y_all, batches, lr):
            def body(carry, idx):
                return step(carry, x_all[idx], y_all[idx], lr)

            return jax.lax.scan(body, state, batches)

        @partial(jax.jit, donate_argnums=(0,))
        def rest_step(state, x_all, y_all, idx, lr):
            return step(state, x_all[idx], y_all[idx], lr)

        self._scan, self._rest = scan_epoch, rest_step

    def epoch(self, order: np.ndarray) -> EpochStats:
        self._reset_sums()
        full, rest = batches_of(order.astype(np.int32), self.batch_size)
        losses = []
        if len(full):
            self.state, scanned = self._scan(self.state, self.x_dev, self.y_dev, full, self.lr)
            losses.append(scanned)
        if len(rest):
            self.state, last = self._rest(self.state, self.x_dev, self.y_dev, rest, self.lr)
            losses.append(last[None])
        return self._finish(len(order), len(full) + (1 if len(rest) else 0), jnp.concatenate(losses))


IMPLEMENTATIONS = {"native": JaxNative, "native-fast": JaxNativeFast}
