"""The seed's training in plain TensorFlow: a ``tf.function`` step (``tensorflow-*-native``) and a
whole epoch in one ``tf.function`` (``-native-fast``).

Both compute what Keras computes on TensorFlow: the loss from the logits
(``tf.nn.sparse_softmax_cross_entropy_with_logits``, Keras' path when the softmax output carries
its logits, ``keras/src/backend/tensorflow/nn.py``), the mean over the batch, and Keras' Adam on
``tf.Variable``s (epsilon on the uncorrected sqrt(v), float32 bias correction; TensorFlow's own
``ResourceApplyAdam`` is the same formula, written out here so it reads beside the other frameworks).

* ``TensorFlowNative``: the plain form. One ``tf.function(jit_compile=True)`` step (XLA, as Keras'
  ``jit_compile="auto"`` picks on TensorFlow) called once per batch from Python with host batches.
* ``TensorFlowNativeFast``: the training split lives on the device as constants; one
  ``tf.function(jit_compile=True)`` runs the whole epoch, a ``tf.while_loop`` (AutoGraph's
  ``tf.range``) over batches gathered by the permutation, the per-step losses in a ``TensorArray``.
  A partial last batch (smoke runs only) runs through the plain step.

The learning rate is a float32 ``tf.Variable`` (``_lr``) the compiled step reads, as Keras keeps
its optimizer's: ``set_learning_rate`` assigns it, and neither ``tf.function`` traces again
(a Python float would be a constant of the trace: changing it would mean a retrace, or nothing).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_mlp.native.base import EpochStats, Trainer, batches_of, pixel_values
from mnist_mlp.reference.training import AdamSettings

#: ``data.scale``'s value of each pixel (``base.pixel_values``: XLA's ``x / 255`` is not correctly rounded)
PIXEL_VALUES = pixel_values()


def unit(x):
    """uint8 pixels to ``data.scale``'s float32 values, on the device (a table gather); float rows
    pass through. Decided by dtype while tracing."""
    if x.dtype == tf.uint8:
        return tf.gather(tf.constant(PIXEL_VALUES), tf.cast(x, tf.int32))
    return x


def forward(params, x):
    """Logits of the 784-128-32-10 MLP; kernels ``(fan_in, fan_out)``, Keras' layout."""
    w1, b1, w2, b2, w3, b3 = params
    x = unit(x)
    h = tf.nn.relu(tf.matmul(x, w1) + b1)
    h = tf.nn.relu(tf.matmul(h, w2) + b2)
    return tf.matmul(h, w3) + b3


def keras_loss(params, x, y):
    """Keras' loss on TensorFlow: cross-entropy from the logits, averaged; and the logits."""
    logits = forward(params, x)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    return tf.reduce_sum(losses) / tf.cast(tf.shape(losses)[0], tf.float32), logits


class TensorFlowNative(Trainer):
    framework = "tensorflow"
    variant = "native"
    summary = "one tf.function(jit_compile=True) step per batch, batches sliced on the host"

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x_train, y_train, batch_size
        self.params = [tf.Variable(w) for w in weights]
        self.m = [tf.Variable(tf.zeros_like(w)) for w in weights]
        self.v = [tf.Variable(tf.zeros_like(w)) for w in weights]
        self.t = tf.Variable(0.0, dtype=tf.float32)
        self.loss_sum = tf.Variable(0.0, dtype=tf.float32)
        self.correct = tf.Variable(0, dtype=tf.int32)
        f = np.float32
        self._b1, self._b2, self._eps = f(adam.beta_1), f(adam.beta_2), f(adam.epsilon)
        self._lr = tf.Variable(f(adam.learning_rate), dtype=tf.float32, trainable=False)
        # 1 - beta in double, then float32, as Keras writes it (float32(1) - float32(0.9) is not float32(0.1))
        self._c1, self._c2 = f(1 - adam.beta_1), f(1 - adam.beta_2)
        self._step = tf.function(self._train_step, jit_compile=True)
        self._probs = tf.function(lambda x: tf.nn.softmax(forward(self.params, x)), jit_compile=True)
        self._grads = tf.function(self._loss_and_grads, jit_compile=True)

    def _loss_and_grads(self, x, y):
        with tf.GradientTape() as tape:
            loss, logits = keras_loss(self.params, x, y)
        return loss, logits, tape.gradient(loss, self.params)

    def _train_step(self, x, y):
        """Forward, backward, Keras' Adam; the loss and hit counts summed on the device."""
        loss, logits, grads = self._loss_and_grads(x, y)
        self._adam_update(grads)
        self.loss_sum.assign_add(loss)
        self.correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y), tf.int32)))
        return loss

    def _adam_update(self, grads) -> None:
        """Keras' Adam: alpha from the float32 step count, eps on the uncorrected sqrt(v)."""
        self.t.assign_add(1.0)
        alpha = self._lr * tf.sqrt(1.0 - tf.pow(self._b2, self.t)) / (1.0 - tf.pow(self._b1, self.t))
        for p, m, v, g in zip(self.params, self.m, self.v, grads):
            m.assign_add((g - m) * self._c1)
            v.assign_add((g * g - v) * self._c2)
            p.assign_sub(m * alpha / (tf.sqrt(v) + self._eps))

    def _begin(self) -> None:
        self.loss_sum.assign(0.0)
        self.correct.assign(0)

    def _stats(self, count: int, steps: int, losses=None) -> EpochStats:
        return EpochStats(loss=float(self.loss_sum.numpy()) / steps, accuracy=int(self.correct.numpy()) / count,
                          step_losses=losses)

    def epoch(self, order: np.ndarray) -> EpochStats:
        self._begin()
        steps = 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            self._step(self.x[idx], self.y[idx])
            steps += 1
        return self._stats(len(order), steps)  # .numpy() waits for the device

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._probs(tf.constant(x)).numpy(), dtype=np.float32)

    def weights(self) -> list[np.ndarray]:
        return [p.numpy().astype(np.float32) for p in self.params]

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        y = y.astype(np.int32)
        _, _, grads = self._grads(x, y)
        loss = self._step(x, y)
        return float(loss.numpy()), [g.numpy() for g in grads]

    def set_learning_rate(self, lr: float) -> None:
        self._lr.assign(np.float32(lr))  # a variable read by the compiled steps: no retrace


class TensorFlowNativeFast(TensorFlowNative):
    variant = "native-fast"
    summary = "data on the device, one tf.function(jit_compile=True) per epoch: a while_loop over permutation-gathered batches"

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int) -> None:
        super().__init__(weights, adam, x_train, y_train, batch_size)
        self.x_dev, self.y_dev = tf.constant(x_train), tf.constant(y_train)
        self._epoch = tf.function(self._train_epoch, jit_compile=True)
        self._rest = tf.function(lambda idx: self._train_step(tf.gather(self.x_dev, idx), tf.gather(self.y_dev, idx)),
                                 jit_compile=True)

    def _train_epoch(self, batches):
        steps = tf.shape(batches)[0]
        losses = tf.TensorArray(tf.float32, size=steps)
        for i in tf.range(steps):
            idx = batches[i]
            losses = losses.write(i, self._train_step(tf.gather(self.x_dev, idx), tf.gather(self.y_dev, idx)))
        return losses.stack()

    def epoch(self, order: np.ndarray) -> EpochStats:
        self._begin()
        full, rest = batches_of(order.astype(np.int32), self.batch_size)
        losses = []
        if len(full):
            losses.append(self._epoch(tf.constant(full)).numpy())
        if len(rest):
            losses.append(np.atleast_1d(self._rest(tf.constant(rest)).numpy()))
        return self._stats(len(order), len(full) + (1 if len(rest) else 0), np.concatenate(losses))


IMPLEMENTATIONS = {"native": TensorFlowNative, "native-fast": TensorFlowNativeFast}
