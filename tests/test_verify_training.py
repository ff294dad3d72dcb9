"""The NumPy training reference and ``verify --training``: correct, and able to fail.

The tolerance (``verify_training.TOLERANCE``) is justified here: the NumPy reference's own float32
round-off over K steps (float32 against the same arithmetic in float64) is measured and must sit
well below it, while one wrong Adam setting must land well above it. The CLI tests run the real
check on each backend in its own process.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_mlp.reference.training import AdamSettings, NumpyTrainer, max_abs_diff
from conftest import run_cli, run_cli_json

STEPS = 10


def glorot_weights(seed: int = 0) -> list[np.ndarray]:
    """Keras' initialisation in distribution: glorot-uniform kernels, zero biases."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in ((784, 128), (128, 32), (32, 10)):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
    return weights


@pytest.fixture(scope="module")
def batches(mnist):
    from mnist_mlp.reference.verify import first_batches

    return first_batches(mnist.x_train, mnist.y_train, STEPS, 32)


def run(trainer: NumpyTrainer, batches) -> list:
    return [trainer.step(x, y) for x, y in batches]


def test_gradients_match_finite_differences(batches):
    """Backward pass against central differences of the loss, in float64, on a few weights."""
    x, y = batches[0]
    trainer = NumpyTrainer(glorot_weights(1), dtype=np.float64)
    grads = trainer.loss_and_gradients(x, y).gradients
    rng = np.random.default_rng(2)
    for layer in range(6):
        w = trainer.weights[layer]
        for _ in range(4):
            index = tuple(rng.integers(0, n) for n in w.shape)
            if layer == 0:  # a pixel that is lit in the batch, else the gradient is trivially 0
                index = (int(np.flatnonzero(x.reshape(32, -1).sum(axis=0))[rng.integers(0, 100)]), index[1])
            h = 1e-6
            w[index] += h
            up = trainer.loss_and_gradients(x, y).loss
            w[index] -= 2 * h
            down = trainer.loss_and_gradients(x, y).loss
            w[index] += h
            assert grads[layer][index] == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-9)


def test_adam_is_keras_formula_not_the_papers():
    """Keras puts epsilon on sqrt(v) with the bias correction folded into alpha; the paper on sqrt(v_hat).

    For a tiny gradient the two differ by orders of magnitude; the reference must give Keras' value.
    """
    g = np.float32(1e-7)
    trainer = NumpyTrainer([np.zeros((784, 1), np.float32), np.zeros(1, np.float32), np.zeros((1, 1), np.float32),
                            np.zeros(1, np.float32), np.zeros((1, 10), np.float32), np.zeros(10, np.float32)])
    grads = [np.full_like(w, g) for w in trainer.weights]
    trainer.apply_adam(grads)
    a = AdamSettings()
    alpha = a.learning_rate * np.sqrt(1 - a.beta_2) / (1 - a.beta_1)
    keras_step = (1 - a.beta_1) * g * alpha / (np.sqrt((1 - a.beta_2) * g * g) + a.epsilon)
    paper_step = a.learning_rate * g / (abs(g) + a.epsilon)
    assert -trainer.weights[1][0] == pytest.approx(keras_step, rel=1e-5)
    assert abs(keras_step - paper_step) > 0.5 * paper_step


def test_tolerance_sits_between_float32_roundoff_and_a_wrong_optimizer(batches):
    """The justification of ``TOLERANCE``: >= 5x float32's own drift over 10 steps (set at ~10x),
    and <= 1/10 of what one wrong Adam setting does to the weights in those steps."""
    from mnist_mlp.reference.verify import TOLERANCE

    weights = glorot_weights(0)
    drift = {"loss": 0.0, "gradients": 0.0, "weights": 0.0}
    f32, f64 = NumpyTrainer(weights), NumpyTrainer(weights, dtype=np.float64)
    for x, y in batches:
        a, b = f32.step(x, y), f64.step(x, y)
        drift["loss"] = max(drift["loss"], abs(a.loss - b.loss))
        drift["gradients"] = max(drift["gradients"], max_abs_diff(a.gradients, b.gradients))
        drift["weights"] = max(drift["weights"], max_abs_diff(f32.weights, f64.weights))
    print("float32 vs float64 over", STEPS, "steps:", drift)
    for quantity, value in drift.items():
        assert value * 5 <= TOLERANCE[quantity], (quantity, value)
        assert value * 100 >= TOLERANCE[quantity], (quantity, value)  # not absurdly loose either
    for wrong in (AdamSettings(beta_1=0.8), AdamSettings(epsilon=1e-3), AdamSettings(learning_rate=2e-3),
                  AdamSettings(beta_2=0.99), AdamSettings(learning_rate=1.1e-3)):
        good, bad = NumpyTrainer(weights), NumpyTrainer(weights, adam=wrong)
        run(good, batches), run(bad, batches)
        moved = max_abs_diff(good.weights, bad.weights)
        print(wrong, "moves the weights by", moved)
        assert moved >= 10 * TOLERANCE["weights"], (wrong, moved)


@pytest.mark.backends
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_verify_training_agrees_on_every_backend(backend, data_dir):
    result = run_cli_json("verify", "--training", "--backend", backend, "--steps", "3", "--data-dir", str(data_dir))
    assert result["ok"] is True and result["backend"] == backend
    assert [r["step"] for r in result["per_step"]] == [1, 2, 3]
    for quantity, worst in result["max_diff"].items():
        assert worst <= result["tolerance"][quantity]
    assert result["per_step"][0]["loss"] == pytest.approx(np.log(10), abs=0.3)  # untrained: ~ln 10


@pytest.mark.backends
def test_verify_training_fails_on_a_wrong_optimizer(data_dir):
    proc = run_cli("verify", "--training", "--backend", "jax", "--steps", "3", "--data-dir", str(data_dir),
                   "--reference-adam", "epsilon=1e-3", backend="jax")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "MISMATCH" in proc.stdout


def test_verify_training_rejects_a_bad_setting(data_dir):
    proc = run_cli("verify", "--training", "--backend", "jax", "--reference-adam", "momentum=0.5")
    assert proc.returncode == 2 and "--reference-adam" in proc.stderr
    proc = run_cli("verify", "--training", "--backend", "jax", "--steps", "100000", "--data-dir", str(data_dir))
    assert proc.returncode == 2 and "--steps: 100000 batches of 32 exceed the 60,000 training images" in proc.stderr
    proc = run_cli("verify", "--training", "--backend", "jax", "--precision", "tf32")
    assert proc.returncode == 2 and "only --precision fp32" in proc.stderr
