"""Train the seed's MLP data-parallel through a framework's own engine, and check it is the same model.

Imports keras: import only after ``backends.select`` and ``Backend.data_parallel_prepare``
(``prepare`` below does both in the right order).

A run: the seed's validation split taken by hand (Keras' ``validation_split`` cannot be trimmed),
both parts trimmed to whole global batches (``parallel.trim_to_batches``), the initial weights
drawn once on one device, then

1. the equivalence check: one unshuffled epoch over the first ``equivalence_samples`` training
   images on N devices and on one device (no distribution) from those same weights, and the
   largest absolute weight difference between the two;
2. the training itself: ``epochs`` shuffled epochs on N devices;
3. the test accuracy, on one device from the trained weights (so the test set of 10,000 need
   not divide by N).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from mnist_mlp import backends
from mnist_mlp.config import TrainConfig
from mnist_mlp.reference.training import max_abs_diff
from mnist_mlp.parallel.plan import (
    EQUIVALENCE_SAMPLES, EQUIVALENCE_TOLERANCE, SIMULATED_NOTE, ParallelPlan, reference_fit,
    trim_to_batches,
)

log = logging.getLogger(__name__)


def prepare(backend: str, device: str, plan: ParallelPlan, *, coordinator: str | None = None, process_id: int = 0) -> None:
    """Before keras is imported: select the backend, make N devices, join the other processes."""
    chosen = backends.get(backend)
    backends.select(backend, device)
    if plan.processes > 1:
        reason = chosen.multi_process_skip_reason()
        if reason:
            from mnist_mlp.errors import UsageError

            raise UsageError(f"--processes: {reason}")
        if not coordinator:
            from mnist_mlp.errors import UsageError

            raise UsageError("--processes: give --coordinator HOST:PORT (the address of process 0)")
    chosen.data_parallel_prepare(plan.devices // plan.processes, device)
    if plan.processes > 1:
        chosen.join_processes(coordinator, plan.processes, process_id)


def train_data_parallel(config: TrainConfig, plan: ParallelPlan, data: Any, backend: str, device: str, *,
                        equivalence_samples: int = EQUIVALENCE_SAMPLES) -> Any:
    """A ``train.TrainResult`` whose ``extra["data_parallel"]`` holds the plan, clocks and equivalence.

    ``config.train_samples`` cuts the images first, as in ``train.train``; the validation split
    then takes the last 20% of what is used.
    """
    from mnist_mlp.model import build_model
    from mnist_mlp.train import TrainResult, evaluate, set_random_seed, training_arrays

    config = config.replace(batch_size=plan.global_batch, learning_rate=plan.learning_rate)
    batch = plan.global_batch
    x_all, y_all = training_arrays(data, config)
    n_train = math.floor(len(x_all) * (1.0 - config.validation_split))  # as Keras' validation_split
    x_train, y_train = x_all[:n_train], y_all[:n_train]
    x_val, y_val = x_all[n_train:], y_all[n_train:]
    x_train, y_train, dropped_train = trim_to_batches(x_train, y_train, batch)
    x_val, y_val, dropped_val = trim_to_batches(x_val, y_val, batch)

    engine = backends.get(backend).data_parallel_engine(plan.devices, device, plan.processes)
    set_random_seed(config.seed)
    initial = [np.asarray(w) for w in build_model(config).get_weights()]

    x_eq, y_eq, _ = trim_to_batches(x_train[:equivalence_samples], y_train[:equivalence_samples], batch)
    log.info("equivalence: one epoch of %d samples on %d device(s) and on one", len(x_eq), plan.devices)
    reference = reference_fit(config, initial, x_eq, y_eq, global_batch=batch)
    parallel = engine.fit(config, initial, x_eq, y_eq, global_batch=batch, epochs=1, shuffle=False, seed=config.seed)
    difference = max_abs_diff(reference.weights, parallel.weights)

    log.info("training %d epochs on %d device(s), global batch %d", config.epochs, plan.devices, batch)
    started = time.perf_counter()
    fit = engine.fit(config, initial, x_train, y_train, global_batch=batch, epochs=config.epochs, shuffle=True,
                     seed=config.seed, validation_data=(x_val, y_val))
    wall = time.perf_counter() - started
    model = build_model(config)  # one device, no distribution
    model.set_weights(fit.weights)
    accuracy = evaluate(model, data, config)
    history = dict(fit.history)
    history["epoch_seconds"] = list(fit.epoch_seconds)
    history["epoch_train_seconds"] = list(fit.epoch_train_seconds or fit.epoch_seconds)  # % of peak from this span
    steps = len(x_train) // batch
    simulated = device == "cpu" and plan.devices > 1
    facts = {
        **plan.to_dict(),
        "engine": engine.engine,
        "device_names": [str(name) for name in getattr(engine, "used_devices", [])],
        "simulated": simulated,
        "note": SIMULATED_NOTE if simulated else None,
        "last_batch": "dropped: every epoch holds whole global batches only (JAX needs each batch to divide by N)",
        "train_samples": len(x_train), "dropped_train_samples": dropped_train,
        "validation_samples": len(x_val), "dropped_validation_samples": dropped_val,
        "startup_seconds": fit.startup_seconds,
        "train_seconds": fit.train_seconds,
        "timed_span": "training steps of every epoch only: inputs prepared before the clock, validation outside it "
                      "(the same span on every engine)",
        "steps_per_second": steps * config.epochs / fit.train_seconds if fit.train_seconds > 0 else None,
        "samples_per_second": steps * batch * config.epochs / fit.train_seconds if fit.train_seconds > 0 else None,
        "equivalence": {
            "max_abs_weight_diff": difference, "tolerance": EQUIVALENCE_TOLERANCE,
            "ok": bool(difference <= EQUIVALENCE_TOLERANCE), "samples": len(x_eq), "epochs": 1,
            "against": "one device, no distribution, same initial weights and batch order (no shuffling)",
        },
    }
    log.info("data parallel x%d: test accuracy %.4f, equivalence %.2e", plan.devices, accuracy, difference)
    return TrainResult(model=model, config=config, history=history, test_accuracy=accuracy, wall_seconds=wall,
                       steps_per_epoch=steps, extra={"data_parallel": facts})
