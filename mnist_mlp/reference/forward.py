"""The framework-free baseline: the MLP's forward pass in NumPy alone, from Keras' weights.

It serves twice: as the oracle that every backend's probabilities are checked against
(``mnist-mlp verify``), and as the NumPy row of the inference benchmark, where it should run as
near the machine's FP32 matmul peak as a plain three-matmul NumPy pass does (see ``ChunkPlan``
for where the time went, and ``benchmarks/numpy_reference_peak.py`` to measure it). float32
throughout, chunk by chunk, softmax shifted by the row maximum so large logits cannot overflow.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Sequence

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


def softmax(logits: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Numerically stable softmax along ``axis``: shifted by the maximum, exponentiated in place
    on ``logits``, normalised into ``out`` (``logits`` itself by default), which is returned."""
    logits -= logits.max(axis=axis, keepdims=True)
    np.exp(logits, out=logits)
    return np.divide(logits, logits.sum(axis=axis, keepdims=True), out=logits if out is None else out)


#: one named piece of the forward pass, called with the chunk's input rows and output rows
Step = tuple[str, Callable[[np.ndarray, np.ndarray], object]]


class ChunkPlan:
    """The forward pass for chunks of exactly ``rows`` rows: buffers allocated once, work as named steps.

    Where the time went before (the per-step timings of ``benchmarks/numpy_reference_peak.py
    --profile``, and NumPy micro-benchmarks on the 2-core VM, one thread, 10,000 rows): the
    matrix multiplies are BLAS and use both cores, everything else is a single-threaded NumPy
    loop while the other core waits, and three of those loops were far slower than need be:

    * the ReLU against the scalar 0 (``np.maximum(h, 0)``) takes a loop about 3.5x slower than
      the same maximum against a block of zeros (0.47 ms against 0.13 ms);
    * the bias add broadcasting a row (``h + b``) runs one short inner loop per row (0.21 ms
      against 0.16 ms with the bias tiled to full size);
    * the softmax reduced each 10-wide row on its own (``max`` and ``sum`` along the last axis;
      0.76 ms in all): here the last matmul writes the logits transposed, as a (10, rows) block
      (BLAS swaps its operands; no copy), so the bias add and the reductions run along
      contiguous rows (0.10-0.15 ms), and the normalising division writes straight into the
      output through its transposed view.

    So the bias and the zeros are full-size tiles allocated once per chunk size, and NumPy takes
    its contiguous SIMD loops. What remains outside BLAS is about a tenth of the plain
    three-matmul time; the first pass after each matmul is the dearest, likely because half of
    the matmul's output was written from the other core. Measured and not taken: ``x @ W`` with
    W as Keras stores it (in x out) beat W stored transposed by 4-7%, the whole pass in
    transposed layout (``W.T @ x.T``) by 13-20%, and ``einsum`` (10x without ``optimize``, 20%
    with it); chunks of 1,024 to 2,048 rows beat 4,096 and unchunked 10,000 by 3-4% on a quiet
    machine (under load, fewer chunks suffer less from the BLAS threads' hand-offs).

    The arithmetic is the same: ``max(z + b, 0)`` and ``exp(z - max z) / sum`` per element, in
    float32, so the probabilities agree with the plain formula to float32 round-off.
    """

    def __init__(self, layers: Sequence[tuple[np.ndarray, np.ndarray]], rows: int) -> None:
        self.rows = rows
        hidden, (w_out, b_out) = layers[:-1], layers[-1]
        widest = max(w.shape[1] for w, _ in hidden)
        zeros = np.zeros(rows * widest, dtype=np.float32)
        steps: list[Step] = []
        source: np.ndarray | None = None  # None: the chunk's input rows
        for number, (w, b) in enumerate(hidden, start=1):
            h = np.empty((rows, w.shape[1]), dtype=np.float32)
            bias = np.ascontiguousarray(np.broadcast_to(b, h.shape))
            zero = zeros[: h.size].reshape(h.shape)
            steps += [
                (f"layer {number} matmul", _matmul(source, w, h)),
                (f"layer {number} bias", lambda x, out, h=h, bias=bias: np.add(h, bias, out=h)),
                (f"layer {number} relu", lambda x, out, h=h, zero=zero: np.maximum(h, zero, out=h)),
            ]
            source = h
        logits_t = np.empty((w_out.shape[1], rows), dtype=np.float32)  # transposed: (classes, rows)
        bias_column = np.ascontiguousarray(b_out[:, None])
        number = len(layers)
        steps += [
            (f"layer {number} matmul", _matmul(source, w_out, logits_t.T)),  # BLAS writes the transpose
            (f"layer {number} bias", lambda x, out: np.add(logits_t, bias_column, out=logits_t)),
            ("softmax into output", lambda x, out: softmax(logits_t, axis=0, out=out.T)),
        ]
        self.steps = steps

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """Probabilities of the ``rows`` input rows ``x`` into ``out`` (``rows`` x classes)."""
        for _, step in self.steps:
            step(x, out)


def _matmul(source: np.ndarray | None, w: np.ndarray, out: np.ndarray) -> Callable[[np.ndarray, np.ndarray], object]:
    """A step multiplying ``source`` (the chunk's input when None) by ``w`` into ``out``."""
    if source is None:
        return lambda x, _out: np.matmul(x, w, out=out)
    return lambda x, _out: np.matmul(source, w, out=out)


class NumpyMLP:
    """The forward pass; construct once from weights, call on images scaled to [0, 1].

    Rows go through in equal chunks of at most ``CHUNK`` rows (10,000 rows: five of 2,000, not
    four of 2,048 and a short one), each by a ``ChunkPlan`` whose buffers are allocated once
    and reused: fresh multi-megabyte arrays on every call cost page faults, and a chunk's
    activations stay in cache between the matrix multiply, the bias and the ReLU. Batches up to
    ``CHUNK`` rows go through whole. Not thread-safe, by design.
    """

    CHUNK = 2048
    #: chunk sizes whose plans are kept; a caller cycling through more sizes rebuilds plans
    PLANS_KEPT = 8

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        w1, b1, w2, b2, w3, b3 = (np.ascontiguousarray(w, dtype=np.float32) for w in weights)
        if w1.shape != (784, b1.shape[0]) or w2.shape[0] != b1.shape[0] or w3.shape[0] != b2.shape[0]:
            raise ValueError(f"weight shapes {[w.shape for w in weights]} do not form a 784-...-10 MLP")
        self.layers = ((w1, b1), (w2, b2), (w3, b3))
        self.params = count_params(weights)
        self._plans: OrderedDict[int, ChunkPlan] = OrderedDict()

    def plan(self, rows: int) -> ChunkPlan:
        """The (cached) plan for chunks of ``rows`` rows; public so that profilers can time its steps."""
        plan = self._plans.pop(rows, None) or ChunkPlan(self.layers, rows)
        self._plans[rows] = plan  # most recently used last
        while len(self._plans) > self.PLANS_KEPT:
            self._plans.popitem(last=False)
        return plan

    def chunk_rows(self, n: int, batch_size: int | None = None) -> int:
        """Rows per chunk for ``n`` rows: equal chunks of at most ``batch_size`` (``CHUNK``) rows."""
        limit = max(1, batch_size or self.CHUNK)
        chunks = max(1, -(-n // limit))
        return max(1, -(-n // chunks))

    def __call__(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Softmax probabilities, float32, shape (n, 10); at most ``batch_size`` rows at a time."""
        flat = np.asarray(images, dtype=np.float32).reshape(len(images), self.layers[0][0].shape[0])
        n = len(flat)
        out = np.empty((n, self.layers[-1][0].shape[1]), dtype=np.float32)
        rows = self.chunk_rows(n, batch_size)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            self.plan(stop - start).run(flat[start:stop], out[start:stop])
        return out


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
