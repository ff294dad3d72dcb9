"""The inference paths as zero-argument callables, each returning NumPy probabilities.

* ``predict``: Keras' ``model.predict`` (what users call), with the batch as one batch;
* ``direct``: the model called through the backend's own compiled path (``Backend.direct_call``:
  ``tf.function``, ``jax.jit`` over ``stateless_call``, a plain call under ``torch.no_grad``),
  skipping Keras' data pipeline and callbacks;
* ``numpy``: the framework-free reference forward pass;
* ``runtime``: an exported artifact on a serving runtime (``mnist_mlp.serving``).

Every callable converts its output to NumPy and then calls the backend's ``synchronize`` on it,
so on a GPU the timer covers the finished work and not merely its launch (explicitly, not by
relying on the conversion's implicit wait). Inputs are placed on the device once, outside the timed call.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mnist_mlp import backends


def make_callable(path: str, backend: str, model: Any, x: np.ndarray) -> Callable[[], np.ndarray]:
    """A function computing the probabilities of the batch ``x`` along ``path``: Keras' ``predict``,
    or the backend's own call (``direct``; ``numpy``: a reference.NumpyMLP; ``runtime``: a
    ``serving.Session``), whichever of its paths the backend lists."""
    chosen = backends.get(backend)
    if path not in chosen.inference_paths:
        raise ValueError(f"unknown inference path {path!r} for {backend} (its paths: {', '.join(chosen.inference_paths)})")
    if path == "predict":
        size = len(x)
        return synchronized(lambda: model.predict(x, batch_size=size, verbose=0), chosen.synchronize)
    return synchronized(chosen.direct_call(model, x), chosen.synchronize)


def synchronized(call: Callable[[], Any], sync: Callable[..., None]) -> Callable[[], Any]:
    """``call`` followed by ``sync(output)``: the timed callable returns once the device is done."""

    def timed() -> Any:
        output = call()
        sync(output)
        return output

    return timed
