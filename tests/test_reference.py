"""The NumPy forward pass: correct softmax, and equal to Keras on the real test set."""

import numpy as np
import pytest

from mnist_mlp.reference.forward import NumpyMLP, agreement, count_params, softmax


def test_softmax_is_stable_and_normalised():
    logits = np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    probs = softmax(logits.copy())
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[0], [0.5, 0.5, 0.0], atol=1e-7)
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(probs[1], expected, rtol=1e-6)


def test_forward_matches_a_float64_computation():
    rng = np.random.default_rng(1)
    shapes = [(784, 128), (128,), (128, 32), (32,), (32, 10), (10,)]
    weights = [rng.normal(0, 0.1, s).astype(np.float32) for s in shapes]
    x = rng.random((300, 28, 28), dtype=np.float32)
    mlp = NumpyMLP(weights)
    assert mlp.params == count_params(weights) == 104_938
    w64 = [w.astype(np.float64) for w in weights]
    h = np.maximum(x.reshape(300, -1) @ w64[0] + w64[1], 0)
    h = np.maximum(h @ w64[2] + w64[3], 0)
    z = h @ w64[4] + w64[5]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = mlp(x, batch_size=64)  # five equal chunks of 60 rows
    assert out.dtype == np.float32 and out.shape == (300, 10)
    np.testing.assert_allclose(out, p, atol=1e-6)
    np.testing.assert_allclose(mlp(x[:299], batch_size=64), p[:299], atol=1e-6)  # four of 60, one of 59
    np.testing.assert_allclose(mlp(x), p, atol=1e-6)  # one chunk
    np.testing.assert_allclose(mlp(x[:1]), p[:1], atol=1e-6)
    assert mlp(x[:0]).shape == (0, 10)


def test_chunks_are_equal_and_at_most_the_limit():
    mlp = NumpyMLP([np.zeros(s, dtype=np.float32) for s in [(784, 128), (128,), (128, 32), (32,), (32, 10), (10,)]])
    assert mlp.chunk_rows(10_000) == 2_000  # five of 2,000, not four of 2,048 and one of 1,808
    assert mlp.chunk_rows(2_048) == 2_048 and mlp.chunk_rows(2_049) == 1_025
    assert mlp.chunk_rows(300, batch_size=64) == 60
    assert mlp.chunk_rows(1) == 1 and mlp.chunk_rows(0) == 1


def test_plans_are_reused_and_their_number_bounded():
    mlp = NumpyMLP([np.ones(s, dtype=np.float32) for s in [(784, 128), (128,), (128, 32), (32,), (32, 10), (10,)]])
    assert mlp.plan(256) is mlp.plan(256)
    for rows in range(1, 2 * NumpyMLP.PLANS_KEPT):
        mlp.plan(rows)
    assert len(mlp._plans) == NumpyMLP.PLANS_KEPT
    names = [name for name, _ in mlp.plan(4).steps]
    assert names[:3] == ["layer 1 matmul", "layer 1 bias", "layer 1 relu"] and names[-1] == "softmax into output"


def test_softmax_along_the_first_axis_agrees_with_the_last_to_round_off():
    logits = np.random.default_rng(2).normal(0, 30, (50, 10)).astype(np.float32)
    expected = softmax(logits.copy())
    np.testing.assert_allclose(softmax(logits.T.copy(), axis=0).T, expected, rtol=1e-6, atol=0)
    out = np.empty_like(logits)
    assert softmax(logits.T.copy(), axis=0, out=out.T).base is out  # normalised straight into out
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0)


def test_bad_weight_shapes_are_refused():
    with pytest.raises(ValueError, match="do not form"):
        NumpyMLP([np.zeros((10, 10))] * 6)


def test_agreement_counts_ties_apart():
    ref = np.array([[0.5, 0.5, 0.0], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], dtype=np.float32)
    other = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], dtype=np.float32)
    other[0] = [0.4999999, 0.5000001, 0.0]  # a tie flips: excused
    result = agreement(other, ref)
    assert result["argmax_differences"] == 2
    assert result["argmax_differences_at_ties"] == 1
    assert result["argmax_agreement"] == pytest.approx(2 / 3)
    assert result["max_abs_diff"] == pytest.approx(0.5)


def test_keras_and_numpy_agree_on_the_test_set(mnist):
    keras = pytest.importorskip("keras")
    from mnist_mlp.data import scale
    from mnist_mlp.model import build_model
    from mnist_mlp.reference.forward import verify_model

    keras.utils.set_random_seed(3)
    result = verify_model(build_model(), scale(mnist.x_test))
    assert result["samples"] == 10_000
    assert result["max_abs_diff"] <= 1e-5
    assert result["argmax_agreement"] == 1.0
    assert result["keras_params"] == result["reference_params"] == 104_938
