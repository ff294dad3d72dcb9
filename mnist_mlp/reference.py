"""The framework-free baseline: the MLP's forward pass in NumPy alone, from Keras' weights.

It serves twice: as the oracle that every backend's probabilities are checked against
(``mnist-mlp verify``), and as the NumPy row of the inference benchmark. float32 throughout,
batch by batch, softmax shifted by the row maximum so large logits cannot overflow.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mnist_mlp.config import EXPECTED_PARAMS

#: a difference of top-two probabilities below this is a tie, where argmax may differ honestly
TIE_TOLERANCE = 1e-6


def weights_from_model(model: Any) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, W3, b3]`` as contiguous float32 arrays, read from a Keras model."""
    import keras  # only callers that hold a Keras model get here

    arrays = [np.ascontiguousarray(keras.ops.convert_to_numpy(w), dtype=np.float32) for w in model.weights]
    if len(arrays) != 6:
        raise ValueError(f"expected 6 weight arrays (3 Dense layers), got {len(arrays)}")
    return arrays


def count_params(weights: Sequence[np.ndarray]) -> int:
    """Number of parameters, for the structural check against Keras' ``count_params``."""
    return int(sum(w.size for w in weights))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in place on ``logits``."""
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits


class NumpyMLP:
    """The forward pass; construct once from weights, call on images scaled to [0, 1].

    Rows go through in chunks (``CHUNK`` by default) into buffers allocated once and reused:
    fresh multi-megabyte arrays on every call cost page faults, and a chunk's activations stay
    in cache between the matrix multiply, the bias and the ReLU. Not thread-safe, by design.
    """

    CHUNK = 2048

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        w1, b1, w2, b2, w3, b3 = (np.ascontiguousarray(w, dtype=np.float32) for w in weights)
        if w1.shape != (784, b1.shape[0]) or w2.shape[0] != b1.shape[0] or w3.shape[0] != b2.shape[0]:
            raise ValueError(f"weight shapes {[w.shape for w in weights]} do not form a 784-...-10 MLP")
        self.layers = ((w1, b1), (w2, b2), (w3, b3))
        self.params = count_params(weights)
        self._buffers: dict[int, list[np.ndarray]] = {}

    def __call__(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Softmax probabilities, float32, shape (n, 10); ``batch_size`` rows at a time."""
        flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
        chunk = max(1, min(batch_size or self.CHUNK, len(flat)))
        out = np.empty((len(flat), self.layers[-1][0].shape[1]), dtype=np.float32)
        buffers = self._buffers.get(chunk) or self._buffers.setdefault(
            chunk, [np.empty((chunk, w.shape[1]), dtype=np.float32) for w, _ in self.layers]
        )
        for start in range(0, len(flat), chunk):
            rows = flat[start : start + chunk]
            out[start : start + len(rows)] = self._forward(rows, [b[: len(rows)] for b in buffers])
        return out

    def _forward(self, x: np.ndarray, buffers: list[np.ndarray]) -> np.ndarray:
        h = x
        last = len(self.layers) - 1
        for index, ((w, b), buf) in enumerate(zip(self.layers, buffers)):
            np.matmul(h, w, out=buf)
            buf += b
            if index < last:
                np.maximum(buf, 0, out=buf)
            h = buf
        return softmax(h)


def agreement(keras_probs: np.ndarray, reference_probs: np.ndarray) -> dict[str, Any]:
    """Largest absolute difference of any probability, and the share of equal argmax.

    A differing argmax counts only where the reference's top two probabilities are further apart
    than ``TIE_TOLERANCE``; ties are reported separately.
    """
    keras_probs = np.asarray(keras_probs, dtype=np.float32)
    reference_probs = np.asarray(reference_probs, dtype=np.float32)
    if keras_probs.shape != reference_probs.shape:
        raise ValueError(f"shapes differ: {keras_probs.shape} vs {reference_probs.shape}")
    diff = np.abs(keras_probs.astype(np.float64) - reference_probs.astype(np.float64))
    differ = keras_probs.argmax(axis=1) != reference_probs.argmax(axis=1)
    top2 = np.sort(reference_probs, axis=1)[:, -2:]
    tie = (top2[:, 1] - top2[:, 0]) <= TIE_TOLERANCE
    n = len(keras_probs)
    return {
        "samples": n,
        "max_abs_diff": float(diff.max()) if n else 0.0,
        "argmax_agreement": float(1.0 - np.count_nonzero(differ & ~tie) / n) if n else 1.0,
        "argmax_differences": int(np.count_nonzero(differ)),
        "argmax_differences_at_ties": int(np.count_nonzero(differ & tie)),
    }


def verify_model(model: Any, images: np.ndarray) -> dict[str, Any]:
    """Keras' own predictions against the NumPy forward pass, with the parameter counts of both."""
    reference = NumpyMLP(weights_from_model(model))
    keras_probs = np.asarray(model.predict(images, batch_size=1024, verbose=0), dtype=np.float32)
    result = agreement(keras_probs, reference(images))
    result.update(
        keras_params=int(model.count_params()),
        reference_params=reference.params,
        expected_params=EXPECTED_PARAMS,
    )
    return result
