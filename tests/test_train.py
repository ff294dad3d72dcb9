"""Training on a subset: the history a benchmark needs, epoch timing, and NaN handling on save."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mnist_mlp.bench.metrics import seed_metrics  # noqa: E402
from mnist_mlp.config import TrainConfig  # noqa: E402
from mnist_mlp.train import train  # noqa: E402


@pytest.fixture(scope="module")
def small(mnist):
    """6,000 training and 1,000 test images: enough to learn, quick to fit."""
    return replace(mnist, x_train=mnist.x_train[:6000], y_train=mnist.y_train[:6000],
                   x_test=mnist.x_test[:1000], y_test=mnist.y_test[:1000])


@pytest.fixture(scope="module")
def result(small):
    """Inputs prepared beforehand, as the benchmark does; ``test_same_seed_same_curves`` trains
    again letting ``train`` prepare them, so it also shows the two ways give the same run."""
    from mnist_mlp.train import model_inputs

    config = TrainConfig(epochs=2, seed=0)
    return train(config, small, inputs=model_inputs(small, config))


def test_history_has_every_curve_per_epoch(result):
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "epoch_train_seconds"):
        assert len(result.history[key]) == 2, key
    assert result.steps_per_epoch == 150  # 4,800 training images / 32
    assert 0.8 < result.test_accuracy <= 1.0


def test_training_part_excludes_validation(result):
    whole, training = result.history["epoch_seconds"], result.history["epoch_train_seconds"]
    assert all(0 < t < w for t, w in zip(training, whole))


def test_same_seed_same_curves(small, result):
    again = train(TrainConfig(epochs=2, seed=0), small)
    np.testing.assert_allclose(again.history["loss"], result.history["loss"], rtol=1e-5)
    assert again.test_accuracy == pytest.approx(result.test_accuracy, abs=2e-3)


def test_train_samples_cuts_the_training_set(small):
    cut = train(TrainConfig(epochs=1, seed=0, train_samples=1000), small)
    assert cut.steps_per_epoch == 25  # 800 training images (the last 200 validate) / 32
    assert cut.config.train_samples == 1000


SEEDING_CHECK = """
import sys
import numpy as np
from mnist_mlp.model import build_model
from mnist_mlp.train import set_random_seed
import keras
set_random_seed(7)
ours = [np.asarray(w) for w in build_model().get_weights()]
draws = (np.random.rand(), keras.random.uniform((2,)).tolist())
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
keras.utils.set_random_seed(7)
theirs = [np.asarray(w) for w in build_model().get_weights()]
assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), "different initial weights"
assert draws == (np.random.rand(), keras.random.uniform((2,)).tolist()), "different random streams"
print("same")
"""


@pytest.mark.backends
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_seeding_leaves_tensorflow_out_and_draws_what_keras_draws(backend):
    """``set_random_seed`` on JAX and PyTorch: no TensorFlow import, the same weights and streams
    as ``keras.utils.set_random_seed`` (run in a fresh process: one backend per process)."""
    import os
    import subprocess
    import sys

    pytest.importorskip(backend)
    pytest.importorskip("tensorflow")  # the point: TensorFlow installed, yet not imported
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", SEEDING_CHECK], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "same", proc.stderr[-2000:]


def test_steady_state_counts_training_steps_only():
    history = {"epoch_seconds": [5.0, 2.0, 2.0], "epoch_train_seconds": [4.0, 1.5, 1.5], "val_accuracy": [0.9, 0.98, 0.99]}
    m = seed_metrics(seed=0, wall_seconds=9.5, history=history, steps_per_epoch=1500, test_accuracy=0.97, target=0.975)
    assert m["first_epoch_seconds"] == 5.0
    assert m["steady_epoch_seconds"] == 2.0
    assert m["steady_train_epoch_seconds"] == 1.5
    assert m["steady_ms_per_step"] == pytest.approx(1.0)  # 1.5 s / 1500 steps
    assert (m["time_to_target_seconds"], m["epochs_to_target"]) == (7.0, 2)  # whole epochs: users wait for validation


def test_diverged_training_is_saved_with_nulls(tmp_path):
    from mnist_mlp import results

    nan = float("nan")
    m = seed_metrics(seed=0, wall_seconds=3.0, history={"loss": [nan], "epoch_seconds": [3.0]},
                     steps_per_epoch=10, test_accuracy=nan, target=0.975)
    assert set(m["non_finite"]) == {"test_accuracy", "loss"}
    run = json.loads((Path(__file__).parent / "fixtures" / "results.json").read_text())
    case = next(c for c in run["cases"] if c.get("training"))
    case["training"]["per_seed"] = [m]
    results.save(run, tmp_path)
    saved = results.load(tmp_path)
    seed = next(c for c in saved["cases"] if c["id"] == case["id"])["training"]["per_seed"][0]
    assert seed["test_accuracy"] is None and seed["history"]["loss"] == [None]
    assert set(seed["non_finite"]) == {"test_accuracy", "loss"}
    assert "NaN" not in (tmp_path / "results.json").read_text()  # strict JSON
