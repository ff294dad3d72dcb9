"""K training steps in a Keras backend beside the NumPy training reference, compared step by step.

Both sides start from the seeded ``build_model``'s initial weights and train on the same batches
(the first K batches of 32 of the training set, unshuffled). On the backend side the weights are
updated by Keras' own ``train_on_batch`` (the real train step: its loss, its Adam); the gradients
come from the framework's autodiff at the same weights (``Backend.loss_and_gradients``). After
every step the largest absolute difference of loss, gradients and weights is recorded.

Imports keras: import only after ``mnist_mlp.backends.select``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import keras
import numpy as np

from mnist_mlp import backends
from mnist_mlp.config import TrainConfig
from mnist_mlp.data import scale
from mnist_mlp.model import build_model
from mnist_mlp.reference.forward import weights_from_model
from mnist_mlp.reference.training import AdamSettings, NumpyTrainer, max_abs_diff

#: default number of steps
DEFAULT_STEPS = 10
#: largest allowed |difference| per quantity over 10 FP32 steps, justified by
#: tests/test_verify_training.py: the NumPy reference's own float32 round-off (float32 against the
#: same arithmetic in float64) grows to ~3e-6 in the loss, ~5e-7 in the gradients and ~4e-7 in the
#: weights over 10 steps, and these are 10x that (rounded up); the backends measured stay far
#: below (loss <= 2.4e-7, gradients <= 4e-8, weights <= 4.4e-7). One wrong Adam setting
#: (beta_1 0.8, beta_2 0.99, epsilon 1e-3, or lr 10% off) moves the weights by >= 1e-3 in 10 steps.
TOLERANCE = {"loss": 3e-5, "gradients": 5e-6, "weights": 5e-6}
#: the steps TOLERANCE was measured over; longer runs scale it linearly (round-off grows with steps)
TOLERANCE_STEPS = 10


def default_tolerance(steps: int) -> dict[str, float]:
    """``TOLERANCE``, scaled up linearly for runs longer than the 10 steps it was measured on."""
    factor = max(1.0, steps / TOLERANCE_STEPS)
    return {quantity: value * factor for quantity, value in TOLERANCE.items()}


def first_batches(x_train: np.ndarray, y_train: np.ndarray, steps: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``steps`` batches of the training set, in order, scaled like training scales them."""
    if steps * batch_size > len(x_train):
        raise ValueError(f"--steps: {steps} batches of {batch_size} exceed the {len(x_train):,} training images")
    return [
        (scale(x_train[k * batch_size : (k + 1) * batch_size]), np.array(y_train[k * batch_size : (k + 1) * batch_size]))
        for k in range(steps)
    ]


def verify_training(backend_name: str, x_train: np.ndarray, y_train: np.ndarray, *, steps: int = DEFAULT_STEPS,
                    config: TrainConfig = TrainConfig(), reference_adam: AdamSettings | None = None,
                    tolerance: dict[str, float] | None = None) -> dict[str, Any]:
    """Run ``steps`` steps in the backend and in NumPy; per-step largest differences and a verdict.

    ``reference_adam`` changes the NumPy side's optimizer (default: the model's own Adam settings);
    a wrong setting there must make the check fail, which is how the tests show it can.
    """
    tolerance = dict(default_tolerance(steps) if tolerance is None else tolerance)
    backend = backends.get(backend_name)
    batches = first_batches(x_train, y_train, steps, config.batch_size)  # refuse a bad --steps before building
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    opt = model.optimizer
    model_adam = AdamSettings(learning_rate=float(keras.ops.convert_to_numpy(opt.learning_rate)),
                              beta_1=float(opt.beta_1), beta_2=float(opt.beta_2), epsilon=float(opt.epsilon))
    reference = NumpyTrainer(weights_from_model(model), adam=reference_adam or model_adam)
    records = []
    for k, (x, y) in enumerate(batches, start=1):
        _, grads = backend.loss_and_gradients(model, x, y)
        logs = model.train_on_batch(x, y, return_dict=True)
        ref = reference.step(x, y)
        records.append({
            "step": k,
            "loss": float(logs["loss"]),
            "reference_loss": ref.loss,
            "loss_diff": abs(float(logs["loss"]) - ref.loss),
            "gradients_diff": max_abs_diff(grads, ref.gradients),
            "weights_diff": max_abs_diff(weights_from_model(model), reference.weights),
            "clipped": ref.clipped,
        })
    worst = {q: max(r[f"{q}_diff"] for r in records) for q in ("loss", "gradients", "weights")}
    return {
        "backend": backend_name,
        "steps": steps,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "model_adam": asdict(model_adam),
        "reference_adam": asdict(reference.adam),
        "tolerance": tolerance,
        "max_diff": worst,
        "per_step": records,
        "ok": all(worst[q] <= tolerance[q] for q in worst),
    }
