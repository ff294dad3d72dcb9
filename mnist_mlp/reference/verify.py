"""K training steps in a Keras backend beside the NumPy training reference, compared step by step.

Both sides start from the seeded ``build_model``'s initial weights and train on the same batches
(the first K batches of 32 of the training set, unshuffled). On the backend side the weights are
updated by Keras' own ``train_on_batch`` (the real train step: its loss, its Adam); the gradients
come from the framework's autodiff at the same weights (``Backend.loss_and_gradients``). After
every step the largest absolute difference of loss, gradients and weights is recorded.

``implementation="native"`` or ``"native-fast"`` checks the framework's own training instead
(``mnist_mlp.native``, no Keras in the loop; ``native.steps`` says what is compared for each),
from the same seeded Keras model's initial weights, against the same reference and tolerance.

``learning_rates`` with ``steps_per_epoch`` checks a learning-rate schedule, the open division's
recipes: the K steps are cut into epochs (``reference.training.epoch_plan``) and before each the
checked side gets that epoch's rate (Keras' trainer by ``optimizer.learning_rate = lr``, the very
line ``keras.callbacks.LearningRateScheduler`` runs, which assigns the optimizer's variable; a
native trainer by ``set_learning_rate``) and the reference its own, Adam's step count and moments
carrying on across the change on every side. ``reference_learning_rates`` gives the reference a
different schedule, so a test can show that a schedule applied wrongly fails the check.

Imports keras: import only after ``mnist_mlp.backends.select``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

import keras
import numpy as np

from mnist_mlp import backends
from mnist_mlp.config import TrainConfig
from mnist_mlp.data import scale
from mnist_mlp.model import build_model
from mnist_mlp.reference.forward import weights_from_model
from mnist_mlp.reference.training import AdamSettings, NumpyTrainer, epoch_plan, max_abs_diff

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
                    trainer_class: Any = None, trainer_options: dict[str, Any] | None = None,
                    learning_rates: Sequence[float] | None = None, steps_per_epoch: int | None = None,
                    reference_learning_rates: Sequence[float] | None = None) -> dict[str, Any]:
    """Run ``steps`` steps in the backend and in NumPy; per-step largest differences and a verdict.

    ``reference_adam`` changes the NumPy side's optimizer (default: the model's own Adam settings);
    a wrong setting there must make the check fail, which is how the tests show it can.
    ``implementation`` picks Keras' trainer (the default) or a native one; ``trainer_class`` (a
    ``native.base.Trainer`` subclass) replaces the native one, so a test can hand in a broken
    variant and see the check fail; ``trainer_options`` go to its constructor. ``learning_rates``
    (one per epoch of ``steps_per_epoch`` steps; the module doc) set a schedule on both sides,
    ``reference_learning_rates`` a different one on the reference; None keeps the model's rate.
    """
    tolerance = dict(default_tolerance(steps) if tolerance is None else tolerance)
    batches = first_batches(x_train, y_train, steps, config.batch_size)  # refuse a bad --steps before building
    reference_rates = learning_rates if reference_learning_rates is None else reference_learning_rates
    plan = epoch_plan(steps, steps_per_epoch, learning_rates)  # refuse a bad schedule before building, too
    reference_plan = epoch_plan(steps, steps_per_epoch, reference_rates)
    schedule = {"learning_rates": _rates(learning_rates), "reference_learning_rates": _rates(reference_rates),
                "steps_per_epoch": steps_per_epoch}
    if implementation != "keras":
        rates = {"learning_rates": learning_rates, "reference_learning_rates": reference_learning_rates,
                 "steps_per_epoch": steps_per_epoch}
        return {**_verify_native(backend_name, implementation, batches, config, reference_adam, tolerance,
                                 trainer_class, trainer_options or {}, rates), **schedule}
    backend = backends.get(backend_name)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    opt = model.optimizer
    model_adam = AdamSettings(learning_rate=float(keras.ops.convert_to_numpy(opt.learning_rate)),
                              beta_1=float(opt.beta_1), beta_2=float(opt.beta_2), epsilon=float(opt.epsilon))
    reference = NumpyTrainer(weights_from_model(model), adam=reference_adam or model_adam)
    records = []
    for (epoch, lr), (_, reference_lr) in zip(plan, reference_plan):
        if lr is not None:
            opt.learning_rate = lr  # LearningRateScheduler.on_epoch_begin's line: assigns the variable
        if reference_lr is not None:
            reference.set_learning_rate(reference_lr)
        for k in epoch:
            x, y = batches[k]
            _, grads = backend.loss_and_gradients(model, x, y)
            logs = model.train_on_batch(x, y, return_dict=True)
            ref = reference.step(x, y)
            records.append({
                "step": k + 1,
                "loss": float(logs["loss"]),
                "reference_loss": ref.loss,
                "loss_diff": abs(float(logs["loss"]) - ref.loss),
                "gradients_diff": max_abs_diff(grads, ref.gradients),
                "weights_diff": max_abs_diff(weights_from_model(model), reference.weights),
                "clipped": ref.clipped,
            })
    return {**_verdict(backend_name, "keras", steps, config, model_adam, reference_adam or model_adam, tolerance,
                       records), **schedule}


def _verify_native(backend_name: str, implementation: str, batches: list, config: TrainConfig,
                   reference_adam: AdamSettings | None, tolerance: dict[str, float], trainer_class: Any,
                   trainer_options: dict[str, Any], rates: dict[str, Any]) -> dict[str, Any]:
    """The native side of ``verify_training``: the seeded Keras model's weights, then ``native.steps``."""
    from mnist_mlp import native
    from mnist_mlp.native.base import keras_initial_weights
    from mnist_mlp.native.steps import native_records

    trainer_class = trainer_class or native.get(backend_name, implementation)
    initial, model_adam = keras_initial_weights(config)
    records = native_records(trainer_class, initial, model_adam, batches, reference_adam, **rates, **trainer_options)
    result = _verdict(backend_name, implementation, len(batches), config, model_adam, reference_adam or model_adam,
                      tolerance, records)
    return {**result, "reference_itself": trainer_class.is_reference}


def _rates(rates: Sequence[float] | None) -> list[float] | None:
    """A schedule as the result records it: plain floats, or None where the model's rate stayed."""
    return None if rates is None else [float(lr) for lr in rates]


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
