"""The seed workload, timed by pytest-benchmark in pedantic mode: one round per seed.

A round is what a user waits for once the data is in memory: seeding, building and compiling
the model, ``fit`` (25 epochs, batch 32, the last 20% held out for validation) and the test-set
evaluation (``predict`` at batch 1024, ``accuracy_score``). A native case (``case.implementation``
``native`` or ``native-fast``, ``mnist_mlp.native``) times the same span of the framework's own code:
creating its trainer (the weights and data moved to the device), the 25 epochs with validation and
the test accuracy; the seeded Keras model that hands it its initial weights is built in the round's
setup, before the clock starts, since building a Keras model is no part of native training. Loading the data, scaling it to
[0, 1] (``train.model_inputs``, once per case) and the one-off import of TensorFlow
(``conftest.imports_done``) happen before any round. ``benchmarks/plain_keras.py`` times exactly
this span without the harness; ``benchmarks/overhead.py`` runs the two side by side and prints
the harness's overhead as a ratio. Per-epoch seconds, curves, time to the
target accuracy and the test accuracy go into ``extra_info``; the seed-0 model stays in session
state for the inference tests, with its agreement against the NumPy reference and its confusion
matrix.

pytest-benchmark writes its JSON only at the end of the session, so the measurements are also
written at once to a side file (``case.training_path``, ``raw/<case>.training.json``): a crash or
timeout in the inference tests then keeps the finished training (``collect.merge_training_side``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_mlp.bench import metrics, suite


def _write_side(case, benchmark, machine_info) -> None:
    """The training benchmark as pytest-benchmark would store it (extra_info, stats with data)."""
    suite.write_training(case, benchmark.stats.as_dict(include_data=True), machine_info)


def test_training(benchmark, case, state, mnist, progress, machine_info, device_facts):
    if not case.trains:
        pytest.skip("the NumPy reference has no training; it serves trained weights")
    from mnist_mlp.train import model_inputs, train

    from mnist_mlp import backends

    inputs = model_inputs(mnist, case.train_config())  # scaled once, outside every round
    sync = backends.get(case.backend).synchronize
    seeds = iter(enumerate(case.seeds))
    runs = []
    native = _native_trainer(case)  # imports the framework now, outside every round

    def setup():
        index, seed = next(seeds)
        epochs = case.train_config(seed).epochs
        progress.phase("training", seed=seed, seed_index=index, seeds=len(case.seeds), epoch=0, epochs=epochs)
        if native:  # the seeded Keras model's initial weights, handed over before the clock starts
            from mnist_mlp.native.base import keras_initial_weights

            initial, adam = keras_initial_weights(case.train_config(seed))
            return (seed, index), {"initial": initial, "adam": adam}
        return (seed, index), {}

    def run_seed(seed, index, initial=None, adam=None):
        config = case.train_config(seed)
        if native:  # the framework's own training (mnist_mlp.native): same split, epochs, clocks
            from mnist_mlp.native.base import fit

            begin, end = _native_progress(progress, seed, index, len(case.seeds), config.epochs)
            runs.append(fit(native, config, inputs.x_train, inputs.y_train, inputs.x_test, mnist.y_test,
                            initial=initial, adam=adam, on_epoch_begin=begin, on_epoch_end=end))
            return
        if case.data_parallel:  # the framework's own engine on N devices (mnist_mlp.parallel.train)
            from mnist_mlp.parallel.train import train_data_parallel
            from mnist_mlp.parallel.plan import ParallelPlan

            plan = ParallelPlan(**case.data_parallel, base_learning_rate=config.learning_rate)
            runs.append(train_data_parallel(config, plan, mnist, case.backend, case.device))
            sync()
            return
        callback = suite.progress_callback(progress, seed, index, len(case.seeds), config.epochs)
        runs.append(train(config, mnist, callbacks=[callback], inputs=inputs, sync=sync))
        sync()  # the round's clock stops on finished device work

    benchmark.pedantic(run_seed, setup=setup, rounds=len(case.seeds), iterations=1, warmup_rounds=0)

    round_seconds = list(benchmark.stats.stats.data)
    per_seed = [
        metrics.seed_metrics(
            seed=run.config.seed, wall_seconds=seconds, history=run.history,
            steps_per_epoch=run.steps_per_epoch, test_accuracy=run.test_accuracy,
            target=case.target_accuracy,
        )
        for run, seconds in zip(runs, round_seconds)
    ]
    first = runs[0]
    from mnist_mlp.flops import FlopModel

    device_facts["flops"] = (FlopModel.from_weights(first.weights) if native  # from the layer shapes
                             else FlopModel.from_model(first.model)).to_dict()
    benchmark.extra_info.update(
        kind="training",
        flops=device_facts["flops"],
        steps_per_epoch=first.steps_per_epoch,
        train_samples=(first.extra.get("data_parallel") or {}).get("train_samples") or math.floor(
            len(mnist.x_train[:case.train_config().train_samples]) * (1.0 - case.train_config().validation_split)),
        target_accuracy=case.target_accuracy,
        per_seed=per_seed,
        fit_seconds=[run.wall_seconds for run in runs],
        data_parallel=_data_parallel_facts(runs),
    )
    _write_side(case, benchmark, machine_info)  # at once: nothing after this can lose the training
    progress.phase("agreement", detail="against the NumPy reference")
    if native:
        benchmark.extra_info["native"] = {"implementation": case.implementation, "summary": native.summary}
    benchmark.extra_info.update(_seed0_checks(case, first, mnist))
    _write_side(case, benchmark, machine_info)
    if case.training_check:
        progress.phase("agreement", detail=f"{TRAINING_CHECK_STEPS} training steps against the NumPy training reference")
    benchmark.extra_info["training_agreement"] = _training_check(case, mnist)
    _write_side(case, benchmark, machine_info)
    state["model"] = first.model


def _data_parallel_facts(runs) -> dict | None:
    """Seed 0's plan and equivalence, with throughput over the warm seeds (cold apart)."""
    facts = runs[0].extra.get("data_parallel")
    if not facts:
        return None
    from mnist_mlp.parallel.plan import seed_summary

    per_seed = [{**run.extra["data_parallel"], "seed": run.config.seed} for run in runs]
    return {**facts, **seed_summary(per_seed)}


#: steps of the training check per case: cheap (a few seconds), and enough to see a wrong optimizer
TRAINING_CHECK_STEPS = 5


def _training_check(case, mnist) -> dict:
    """``verify --training`` for this case's backend: K steps from the seed-0 initial weights against
    NumPy; FP32 only (its tolerances were measured there), so a TF32 case records why it has none."""
    if not case.training_check:
        return {"skipped": "not in this profile (a smoke run): the full profile and `mnist-mlp verify --training` check it"}
    if case.precision != "fp32":
        return {"skipped": f"the training check's tolerances are FP32's; this case runs {case.precision}"}
    from mnist_mlp.reference.verify import verify_training

    return verify_training(case.backend, mnist.x_train, mnist.y_train, steps=TRAINING_CHECK_STEPS,
                           config=case.train_config(0), implementation=case.implementation)


def _native_trainer(case):
    """The case's native ``Trainer`` class, or None for a Keras case."""
    if case.implementation == "keras":
        return None
    from mnist_mlp import native

    return native.get(case.backend, case.implementation)


def _native_progress(progress, seed, index, seeds, epochs):
    """The epoch hooks of a native run: what ``suite.progress_callback`` reports for Keras, written
    between epochs only (outside every timed span)."""
    progress.epoch_started(seed, index, seeds, 1, epochs)
    return (lambda epoch: progress.mark_epoch_start(),
            lambda epoch: progress.epoch_finished(epoch + 2 if epoch + 1 < epochs else None))


def _seed0_checks(case, run, mnist) -> dict:
    """Agreement with the NumPy forward pass and the confusion matrix, from the seed-0 model (a
    native run's own forward pass and weights)."""
    from sklearn.metrics import confusion_matrix

    from mnist_mlp.data import scale
    from mnist_mlp.reference.forward import NumpyMLP, agreement, weights_from_model
    from mnist_mlp.train import predict_proba

    x_test = scale(mnist.x_test)
    if case.implementation != "keras":
        weights, probs = run.weights, run.trainer.probabilities(x_test.reshape(len(x_test), -1))
    else:
        weights, probs = weights_from_model(run.model), predict_proba(run.model, x_test)
    reference = NumpyMLP(weights)(x_test)
    if case.weights_out and case.implementation == "keras":
        suite.save_weights(case.weights_out, weights)
    matrix = confusion_matrix(mnist.y_test, probs.argmax(axis=1), labels=list(range(10)))
    return {
        "agreement": agreement(probs, reference),
        "confusion_matrix": np.asarray(matrix).astype(int).tolist(),
    }
