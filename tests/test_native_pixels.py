"""Raw pixels in, the same training out: every native trainer scales uint8 rows on its device to
exactly ``data.scale``'s values.

The race hands its native trainers the loaded uint8 images (``native.base.pixel_rows``), which
they scale inside each step and forward (JAX and TensorFlow by a table gather, because XLA's
``x / 255`` on the CPU is not correctly rounded; torch and NumPy by IEEE division).
Here each trainer, both variants, trains the same two epochs (a rate change between them, a
partial last batch) once from float32 rows made by ``data.scale`` and once from the pixels: the
per-step losses, the weights and the probabilities must be bit-identical. A trainer that scaled
by 1/255 as XLA does, or forgot to scale, fails. JAX, torch and NumPy run here, TensorFlow in a
child process (as in ``test_native_schedule.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnist_mlp.data import scale
from mnist_mlp.native.base import pixel_rows, pixel_values

IN_PROCESS = [("numpy", "native"), ("jax", "native"), ("jax", "native-fast"), ("torch", "native"), ("torch", "native-fast")]
ROWS, BATCH, RATES = 500, 96, (3e-3, 1e-3)  # 5 full batches and a partial one of 20 per epoch


def pixels_against_floats(backend: str, variant: str, data_dir: str | None = None) -> dict:
    """Train ``backend``'s ``variant`` from float rows and from pixel rows; the largest differences."""
    from mnist_mlp import native
    from mnist_mlp.data import load_mnist
    from mnist_mlp.native.base import flat
    from mnist_mlp.race.runner import glorot_uniform
    from mnist_mlp.reference.training import AdamSettings

    mnist = load_mnist(data_dir, verify=False)
    pixels, y = pixel_rows(mnist.x_train[:ROWS]), np.asarray(mnist.y_train[:ROWS]).astype(np.int32)
    test = pixel_rows(mnist.x_test[:200])
    outcomes = []
    for x, x_test in ((flat(scale(pixels)), flat(scale(test))), (pixels, test)):
        trainer = native.get(backend, variant)(glorot_uniform(7), AdamSettings(learning_rate=RATES[0]), x, y, BATCH)
        losses = []
        for epoch, rate in enumerate(RATES):
            trainer.set_learning_rate(rate)
            stats = trainer.epoch(np.random.default_rng(epoch).permutation(ROWS))
            losses.append(stats.loss if stats.step_losses is None else np.asarray(stats.step_losses))
        outcomes.append((trainer.weights(), np.hstack(losses), trainer.probabilities(x_test)))
    (w_float, l_float, p_float), (w_pix, l_pix, p_pix) = outcomes
    return {"weights": max(float(np.max(np.abs(a - b))) for a, b in zip(w_float, w_pix)),
            "losses": float(np.max(np.abs(l_float - l_pix))), "probabilities": float(np.max(np.abs(p_float - p_pix))),
            "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(w_pix, glorot_uniform(7)))}


def assert_identical(diffs: dict) -> None:
    assert diffs["moved"] > 1e-3, diffs  # it trained
    assert diffs == {**diffs, "weights": 0.0, "losses": 0.0, "probabilities": 0.0}, diffs


def test_the_table_is_scale_itself():
    table = pixel_values()
    assert table.dtype == np.float32 and table.shape == (256,)
    assert np.array_equal(table, scale(np.arange(256, dtype=np.uint8)))
    assert table[0] == 0.0 and table[255] == 1.0


def test_pixel_rows_are_a_view_and_refuse_floats():
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    rows = pixel_rows(images)
    assert rows.shape == (3, 784) and rows.dtype == np.uint8 and np.shares_memory(rows, images)
    with pytest.raises(TypeError, match="uint8"):
        pixel_rows(scale(images))


@pytest.mark.parametrize("backend,variant", IN_PROCESS, ids=[f"{b}-{v}" for b, v in IN_PROCESS])
def test_pixels_train_exactly_as_scaled_floats(data_dir, backend, variant):
    assert_identical(pixels_against_floats(backend, variant, data_dir))


@pytest.mark.parametrize("variant", ["native", "native-fast"])
def test_tensorflow_pixels_train_exactly_as_scaled_floats(data_dir, variant):
    code = ("import json, sys; from tests.test_native_pixels import pixels_against_floats; "
            f"print(json.dumps(pixels_against_floats('tensorflow', {variant!r}, {str(data_dir)!r})))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_identical(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_trainer_that_scales_as_xla_divides_is_caught(data_dir, monkeypatch):
    """Scaling by ``x * (1/255)`` (not correctly rounded, as XLA's ``x / 255``) is off by an ulp: the check sees it."""
    import jax.numpy as jnp

    from mnist_mlp.native import jax_native

    monkeypatch.setattr(jax_native, "unit", lambda x: x.astype(jnp.float32) * jnp.float32(1 / 255) if x.dtype == jnp.uint8 else x)
    diffs = pixels_against_floats("jax", "native-fast", data_dir)
    assert diffs["weights"] > 0.0 and diffs["probabilities"] > 0.0, diffs
