"""K training steps of a native trainer beside the NumPy training reference (``verify --training``).

Both start from the same initial weights (the seeded Keras model's) and train on the same batches,
unshuffled. A plain trainer is checked after every step: its loss and gradients at the weights
before the update (``Trainer.step_with_gradients``) and its weights after it. A fast variant is
checked through the code that is timed: the K steps run as *one* epoch (``Trainer.epoch`` over
rows 0..K*32-1, in order), its per-step losses are compared with the reference's at every step
(each depends on all the updates before it) and its weights after the last step; gradients inside
a fused epoch are not observable, so they are not compared (``gradients_diff`` is None).

A learning-rate schedule (``learning_rates`` with ``steps_per_epoch``, ``reference.training.epoch_plan``)
cuts the K steps into epochs; before each, the trainer gets its rate (``Trainer.set_learning_rate``)
and the reference its own (the same unless a test hands in a wrong one). A plain trainer then runs
the epoch's steps as above; a fast one runs the epoch as one ``Trainer.epoch`` over that epoch's
rows in order, its losses compared at every step and its weights at the end of every epoch, so a
rate that never reached the compiled code shows in the first epoch it should have changed.

The tolerance is the Keras backends' (``reference.verify.TOLERANCE``) for both variants, because
that is what the measurement supports (10 steps, 2-core development VM, CPU, largest differences):
every plain and fast trainer sits at the Keras backends' own level, loss <= 2.4e-7, gradients
<= 3e-8 (plain), weights <= 4.4e-7, 10x or more inside the tolerance (5e-6 on the weights), while
each deliberate break misses it by a factor of 600 or more in the weights: epsilon on the corrected
sqrt(v) 3.2e-3, optax's default Adam 3.4e-3, ``torch.optim.Adam`` 3.4e-3, ``nn.Linear``'s default
init 0.54 (``tests/test_native.py``), in the fast variants as in the plain ones.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mnist_mlp.native.base import flat
from mnist_mlp.reference.training import AdamSettings, NumpyTrainer, epoch_plan, max_abs_diff


def native_records(trainer_class: Any, initial: Sequence[np.ndarray], adam: AdamSettings,
                   batches: Sequence[tuple[np.ndarray, np.ndarray]], reference_adam: AdamSettings | None = None,
                   *, learning_rates: Sequence[float] | None = None,
                   reference_learning_rates: Sequence[float] | None = None, steps_per_epoch: int | None = None,
                   **options: Any) -> list[dict[str, Any]]:
    """Per-step records (``loss``, ``reference_loss``, ``*_diff``, ``clipped``) of ``trainer_class``
    (a ``Trainer`` subclass, built with ``options``) against ``NumpyTrainer`` with ``reference_adam``.

    ``learning_rates`` (one per epoch of ``steps_per_epoch`` steps) are set on the trainer before
    each epoch, ``reference_learning_rates`` (default: the same) on the reference; with neither
    and no ``steps_per_epoch``, the K steps are one epoch at the constructed rate, as before."""
    batches = [(flat(x), np.asarray(y).astype(np.int32)) for x, y in batches]
    plan = epoch_plan(len(batches), steps_per_epoch, learning_rates)
    reference_plan = epoch_plan(len(batches), steps_per_epoch,
                                learning_rates if reference_learning_rates is None else reference_learning_rates)
    reference = NumpyTrainer([np.array(w) for w in initial], adam=reference_adam or adam)
    x_all = np.concatenate([x for x, _ in batches])
    y_all = np.concatenate([y for _, y in batches])
    size = len(batches[0][1])
    trainer = trainer_class([np.array(w) for w in initial], adam, x_all, y_all, size, **options)
    records = []
    for (steps, lr), (_, reference_lr) in zip(plan, reference_plan):
        if lr is not None:
            trainer.set_learning_rate(lr)
        if reference_lr is not None:
            reference.set_learning_rate(reference_lr)
        if trainer.variant == "native":
            for k in steps:
                x, y = batches[k]
                loss, grads = trainer.step_with_gradients(x, y)
                ref = reference.step(x, y)
                records.append(_record(k + 1, loss, ref, max_abs_diff(grads, ref.gradients),
                                       max_abs_diff(trainer.weights(), reference.weights)))
            continue
        stats = trainer.epoch(np.arange(steps.start * size, steps.stop * size))
        refs = [reference.step(*batches[k]) for k in steps]
        final = max_abs_diff(trainer.weights(), reference.weights)
        for k, loss, ref in zip(steps, stats.step_losses, refs):
            records.append(_record(k + 1, float(loss), ref, None, final if k == steps[-1] else None))
    return records


def _record(step: int, loss: float, ref: Any, gradients: float | None, weights: float | None) -> dict[str, Any]:
    return {"step": step, "loss": float(loss), "reference_loss": ref.loss, "loss_diff": abs(float(loss) - ref.loss),
            "gradients_diff": gradients, "weights_diff": weights, "clipped": ref.clipped}
