"""K training steps in a Keras backend beside the NumPy training reference, compared step by step.

Both sides start from the seeded ``build_model``'s initial weights and train on the same batches
(the first K batches of 32 of the training set, unshuffled). On the backend side the weights are
updated by Keras' own ``train_on_batch`` (the real train step: its loss, its Adam); the gradients
come from the framework's autodiff at the same weights (``Backend.loss_and_gradients``). After
every step the largest absolute difference of loss, gradients and weights is recorded.

``implementation="native"`` or ``"native-fast"`` checks the framework's own training instead
(``mnist_mlp.native``, no Keras in the loop; ``native.steps`` says what is compared for each),
from the same seeded Keras model's initial weights, against the same reference and tolerance.

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
                    tolerance: dict[str, float] | None = None, implementation: str = "keras",
                    trainer_class: Any = None, trainer_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``steps`` steps in the backend and in NumPy; per-step largest differences and a verdict.

    ``reference_adam`` changes the NumPy side's optimizer (default: the model's own Adam settings);
    a wrong setting there must make the check fail, which is how the tests show it can.
    ``implementation`` picks Keras' trainer (the default) or a native one; ``trainer_class`` (a
    ``native.base.Trainer`` subclass) replaces the native one, so a test can hand in a broken
    variant and see the check fail; ``trainer_options`` go to its constructor.
    """
    tolerance = dict(default_tolerance(steps) if tolerance is None else tolerance)
    batches = first_batches(x_train, y_train, steps, config.batch_size)  # refuse a bad --steps before building
    if implementation != "keras":
        return _verify_native(backend_name, implementation, batches, config, reference_adam, tolerance,
                              trainer_class, trainer_options or {})
    backend = backends.get(backend_name)
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
    return _verdict(backend_name, "keras", steps, config, model_adam, reference.adam, tolerance, records)


def _verify_native(backend_name: str, implementation: str, batches: list, config: TrainConfig,
                   reference_adam: AdamSettings | None, tolerance: dict[str, float], trainer_class: Any,
                   trainer_options: dict[str, Any]) -> dict[str, Any]:
    """The native side of ``verify_training``: the seeded Keras model's weights, then ``native.steps``."""
    from mnist_mlp import native
    from mnist_mlp.native.base import keras_initial_weights
    from mnist_mlp.native.steps import native_records

    trainer_class = trainer_class or native.get(backend_name, implementation)
    initial, model_adam = keras_initial_weights(config)
    records = native_records(trainer_class, initial, model_adam, batches, reference_adam, **trainer_options)
    result = _verdict(backend_name, implementation, len(batches), config, model_adam, reference_adam or model_adam,
                      tolerance, records)
    return {**result, "reference_itself": trainer_class.is_reference}


def _verdict(backend_name: str, implementation: str, steps: int, config: TrainConfig, model_adam: AdamSettings,
             reference_adam: AdamSettings, tolerance: dict[str, float], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The result: per-step records, the worst difference of each quantity (over the steps that
    measured it; None when none did) and whether every worst one is within ``tolerance``."""
    worst: dict[str, float | None] = {}
    for q in ("loss", "gradients", "weights"):
        seen = [r[f"{q}_diff"] for r in records if r[f"{q}_diff"] is not None]
        worst[q] = max(seen) if seen else None
    return {
        "backend": backend_name,
        "implementation": implementation,
        "steps": steps,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "model_adam": asdict(model_adam),
        "reference_adam": asdict(reference_adam),
        "tolerance": tolerance,
        "max_diff": worst,
        "per_step": records,
        "ok": all(worst[q] is None or worst[q] <= tolerance[q] for q in worst) and worst["weights"] is not None,
        "reference_itself": False,  # a trainer that is the reference (NumPy's native) compares it with itself
    }
