"""The three inference paths as zero-argument callables, each returning NumPy probabilities.

* ``predict``: Keras' ``model.predict`` (what users call), with the batch as one batch;
* ``direct``: the model called through the backend's own compiled path (``tf.function``,
  ``jax.jit`` over ``stateless_call``, a plain call under ``torch.no_grad``), skipping Keras'
  data pipeline and callbacks;
* ``numpy``: the framework-free reference forward pass.

Every callable converts its output to NumPy, so on a GPU the timer covers the finished work and
not merely its launch. Inputs are placed on the device once, outside the timed call.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

PATHS_FOR_BACKEND = ("predict", "direct")
PATHS_FOR_NUMPY = ("numpy",)


def make_callable(path: str, backend: str, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
    """A function computing the probabilities of the batch ``x`` along ``path``."""
    if path == "numpy":
        mlp = model  # a reference.NumpyMLP, in its own cache-sized chunks
        return lambda: mlp(x)
    if path == "predict":
        size = len(x)
        return lambda: model.predict(x, batch_size=size, verbose=0)
    if path == "direct":
        return _DIRECT[backend](model, x)
    raise ValueError(f"unknown inference path {path!r}")


def _tensorflow(model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
    import tensorflow as tf

    call = tf.function(lambda inputs: model(inputs, training=False))
    inputs = tf.convert_to_tensor(x)  # host memory
    if tf.config.list_logical_devices("GPU"):
        with tf.device("/GPU:0"):
            inputs = tf.identity(inputs)  # copied to the GPU once, not on every timed call
    return lambda: call(inputs).numpy()


def _jax(model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def call(tv: Any, ntv: Any, inputs: Any) -> Any:
        outputs, _ = model.stateless_call(tv, ntv, inputs, training=False)
        return outputs

    inputs = jnp.asarray(x)
    return lambda: np.asarray(call(trainable, non_trainable, inputs))


def _torch(model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    inputs = torch.as_tensor(x, device=device)

    def call() -> np.ndarray:
        with torch.no_grad():
            return model(inputs, training=False).detach().cpu().numpy()

    return call


_DIRECT: dict[str, Callable[[Any, np.ndarray], Callable[[], np.ndarray]]] = {
    "tensorflow": _tensorflow,
    "jax": _jax,
    "torch": _torch,
}
