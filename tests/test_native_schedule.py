"""A learning rate that changes between epochs: every trainer takes it as Keras does, and the proof sees it.

The open division's recipes set a rate before each epoch (Keras: ``LearningRateScheduler``, which
assigns the optimizer's variable; Adam's step count and moments carry on). ``verify_training``
with ``learning_rates`` and ``steps_per_epoch`` runs the K steps as epochs, a rate set before each
on the checked side and on the NumPy reference. Here a 3-epoch schedule of 3 steps each passes
for every native trainer (JAX, torch and NumPy in this process, TensorFlow in a child, both
variants) and for Keras' own trainer (this process' backend here, the others in a child each),
while a trainer whose ``set_learning_rate`` does nothing, and a reference given the wrong
schedule, fail by far. JAX, TensorFlow and torch's compiled form take every rate without
compiling again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from mnist_mlp.reference.training import AdamSettings, NumpyTrainer, epoch_plan
from mnist_mlp.reference.verify import first_batches, verify_training

SCHEDULE = (3e-3, 1.5e-3, 5e-4)
#: right in the first epoch, the later two swapped: only a rate set at epoch 2 and 3 tells them apart
WRONG = (3e-3, 5e-4, 1.5e-3)
STEPS_PER_EPOCH = 3
STEPS = STEPS_PER_EPOCH * len(SCHEDULE)
#: a break must miss the weight tolerance by more than this factor (as in tests/test_native.py)
BREAK_MARGIN = 10
NATIVE = [("numpy", "native"), ("jax", "native"), ("jax", "native-fast"), ("torch", "native"), ("torch", "native-fast")]


def check(mnist, backend, implementation="keras", trainer_class=None, reference=SCHEDULE, **options):
    """The proof over STEPS steps on the first STEPS batches of MNIST, with the schedule."""
    rows = STEPS * 32
    return verify_training(backend, mnist.x_train[:rows], mnist.y_train[:rows], steps=STEPS,
                           implementation=implementation, trainer_class=trainer_class, trainer_options=options or None,
                           learning_rates=SCHEDULE, reference_learning_rates=reference, steps_per_epoch=STEPS_PER_EPOCH)


def deaf(cls):
    """``cls`` with a ``set_learning_rate`` that does nothing: it trains at its first rate throughout."""
    return type(f"Deaf{cls.__name__}", (cls,), {"set_learning_rate": lambda self, lr: None})


def assert_fails_by_far(result):
    assert not result["ok"], result["max_diff"]
    assert result["max_diff"]["weights"] > BREAK_MARGIN * result["tolerance"]["weights"], result["max_diff"]


# --------------------------------------------------------------------------- the schedule itself


def test_epoch_plan_cuts_the_steps_and_wants_one_rate_per_epoch():
    assert epoch_plan(4) == [(range(0, 4), None)]  # no schedule: one epoch, the optimizer's own rate
    assert epoch_plan(7, 3, [3e-3, 2e-3, 1e-3]) == [(range(0, 3), 3e-3), (range(3, 6), 2e-3), (range(6, 7), 1e-3)]
    with pytest.raises(ValueError, match="2 learning rates for 3 epochs"):
        epoch_plan(9, 3, [1e-3, 1e-3])
    with pytest.raises(ValueError, match="1 learning rates for 3 epochs"):
        epoch_plan(9, 3, [1e-3])
    with pytest.raises(ValueError, match="at least 1"):
        epoch_plan(9, 0, [1e-3])
    with pytest.raises(ValueError, match="positive and finite"):
        epoch_plan(2, 1, [1e-3, float("nan")])


def test_the_reference_keeps_adams_step_count_and_moments_across_a_change(mnist):
    """Keras' semantics: a new rate scales alpha = lr * sqrt(1 - b2**t) / (1 - b1**t) at the global t,
    nothing else. From the same state, twice the rate moves every weight by twice as much; a reset
    step count (t = 1 again) or reset moments would not give that ratio."""
    x, y = first_batches(mnist.x_train, mnist.y_train, 3, 32)[2]
    weights = [np.array(w, np.float32) for w in glorot_weights(0)]
    same, doubled = NumpyTrainer(weights), NumpyTrainer(weights)
    for batch in first_batches(mnist.x_train, mnist.y_train, 2, 32):
        same.step(*batch)
        doubled.step(*batch)
    moments = [m.copy() for m in doubled.m]
    doubled.set_learning_rate(2 * same.adam.learning_rate)
    assert doubled.iterations == 2 and all(np.array_equal(a, b) for a, b in zip(moments, doubled.m))
    assert doubled.adam == AdamSettings(learning_rate=2e-3)  # only the rate changed
    before = [w.copy() for w in same.weights]
    same.step(x, y)
    doubled.step(x, y)
    for b, s, d in zip(before, same.weights, doubled.weights):  # atol: float32 rounding of weights ~0.08
        np.testing.assert_allclose(d - b, 2 * (s - b), rtol=1e-3, atol=2e-8)


def glorot_weights(seed):
    """Keras' initialisation in distribution, as the open division's native racers draw it."""
    from mnist_mlp.race.runner import glorot_uniform

    return glorot_uniform(seed)


# --------------------------------------------------------------------------- native trainers, in process


@pytest.mark.parametrize("framework, implementation", NATIVE)
def test_a_schedule_passes_the_proof(mnist, framework, implementation):
    result = check(mnist, framework, implementation)
    assert result["ok"], result["max_diff"]
    assert result["learning_rates"] == result["reference_learning_rates"] == list(SCHEDULE)
    assert result["steps_per_epoch"] == STEPS_PER_EPOCH
    assert [r["step"] for r in result["per_step"]] == list(range(1, STEPS + 1))
    if implementation == "native-fast":  # one timed epoch per rate: weights compared at each epoch's end
        assert [r["step"] for r in result["per_step"] if r["weights_diff"] is not None] == [3, 6, 9]
    if framework != "numpy":  # NumPy's trainer is the reference: its zeros say only that it runs
        assert result["max_diff"]["weights"] < 3e-6  # measured 1.0e-6 (JAX), 8.2e-7 (torch): Keras on JAX's level


@pytest.mark.parametrize("framework, implementation", NATIVE)
def test_a_trainer_deaf_to_the_rate_fails(mnist, framework, implementation):
    from mnist_mlp import native

    assert_fails_by_far(check(mnist, framework, implementation, deaf(native.get(framework, implementation))))


@pytest.mark.parametrize("framework, implementation", NATIVE)
def test_a_reference_given_the_wrong_schedule_fails(mnist, framework, implementation):
    result = check(mnist, framework, implementation, reference=WRONG)
    assert_fails_by_far(result)
    assert result["reference_learning_rates"] == list(WRONG)
    first_epoch = [r["weights_diff"] for r in result["per_step"][:STEPS_PER_EPOCH] if r["weights_diff"] is not None]
    assert max(first_epoch) <= result["tolerance"]["weights"]  # the same first rate: the miss is the change's


def scaled_rows(mnist, steps):
    batches = first_batches(mnist.x_train, mnist.y_train, steps, 32)
    return (np.concatenate([x.reshape(len(x), -1) for x, _ in batches]).astype(np.float32),
            np.concatenate([y for _, y in batches]).astype(np.int32))


@pytest.mark.parametrize("implementation", ["native", "native-fast"])
def test_jax_traces_once_for_every_rate(mnist, implementation):
    """The rate is a traced argument: the constructed rate, then three others, one trace of the step
    (a rate of another abstract value, e.g. a weakly typed scalar, would trace again); an epoch of
    another shape (a partial batch) does trace again, so the counter is live."""
    from mnist_mlp import native

    x, y = scaled_rows(mnist, STEPS_PER_EPOCH)
    trainer = native.get("jax", implementation)(glorot_weights(0), AdamSettings(), x, y, 32)
    trainer.epoch(np.arange(len(x)))
    counts = [trainer.traces]
    for lr in SCHEDULE:
        trainer.set_learning_rate(lr)
        trainer.epoch(np.arange(len(x)))
        counts.append(trainer.traces)
    assert counts[0] >= 1 and counts == [counts[0]] * (1 + len(SCHEDULE))
    trainer.epoch(np.arange(len(x) - 16))  # the last batch of 16 rows: a new shape
    assert trainer.traces > counts[-1]


def test_torch_compiled_form_takes_each_rate_without_recompiling(mnist):
    """The fast form through ``torch.compile`` (the GPU default, with CUDA graphs there): the rate is
    a tensor filled in place, so the schedule passes and no graph is compiled after the first epoch."""
    from torch._dynamo.utils import counters

    from mnist_mlp import native

    graphs = []

    class Counted(native.get("torch", "native-fast")):
        def set_learning_rate(self, lr):
            graphs.append(counters["stats"]["unique_graphs"])
            super().set_learning_rate(lr)

    result = check(mnist, "torch", "native-fast", Counted, compile_mode="default")
    assert result["ok"], result["max_diff"]
    graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[1] > graphs[0]  # the first epoch compiled: the counter counts
    assert graphs[1:] == [graphs[1]] * len(SCHEDULE)


# --------------------------------------------------------------------------- Keras, and TensorFlow's natives


def test_keras_on_this_backend_passes_and_a_wrong_reference_fails(mnist):
    backend = keras.backend.backend()
    result = check(mnist, backend)
    assert result["ok"], result["max_diff"]
    assert result["learning_rates"] == list(SCHEDULE) and result["implementation"] == "keras"
    assert_fails_by_far(check(mnist, backend, reference=WRONG))


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    backend, data_dir = sys.argv[1], sys.argv[2]
    schedule, wrong, per = json.loads(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
    from mnist_mlp import backends
    backends.select(backend, "cpu")
    from mnist_mlp import native
    from mnist_mlp.data import load_mnist
    from mnist_mlp.reference.training import AdamSettings
    from mnist_mlp.reference.verify import first_batches, verify_training

    data = load_mnist(data_dir)
    steps = len(schedule) * per
    x, y = data.x_train[:steps * 32], data.y_train[:steps * 32]

    def check(implementation, trainer_class=None, reference=schedule):
        r = verify_training(backend, x, y, steps=steps, implementation=implementation, trainer_class=trainer_class,
                            learning_rates=schedule, reference_learning_rates=reference, steps_per_epoch=per)
        return {k: r[k] for k in ("ok", "max_diff", "tolerance", "learning_rates", "reference_learning_rates")}

    def glorot():
        rng = np.random.default_rng(0)
        return [a for i, o in ((784, 128), (128, 32), (32, 10)) for a in
                (rng.uniform(-np.sqrt(6 / (i + o)), np.sqrt(6 / (i + o)), (i, o)).astype(np.float32), np.zeros(o, np.float32))]

    def tracing_counts(cls):
        batches = first_batches(x, y, per, 32)
        xs = np.concatenate([b.reshape(len(b), -1) for b, _ in batches]).astype(np.float32)
        ys = np.concatenate([l for _, l in batches]).astype(np.int32)
        trainer = cls(glorot(), AdamSettings(), xs, ys, 32)
        functions = [f for f in (getattr(trainer, n, None) for n in ("_step", "_epoch", "_rest")) if f is not None]
        count = lambda: sum(f.experimental_get_tracing_count() for f in functions)
        trainer.epoch(np.arange(len(xs)))  # the constructed rate first, then each of the schedule's
        counts = [count()]
        for lr in schedule:
            trainer.set_learning_rate(lr)
            trainer.epoch(np.arange(len(xs)))
            counts.append(count())
        trainer.epoch(np.arange(len(xs) - 16))  # a partial batch: a new shape traces again
        return counts + [count()]

    out = {"keras/ok": check("keras"), "keras/wrong": check("keras", reference=wrong)}
    if backend == "tensorflow":
        for variant in native.variants("tensorflow"):
            base = native.get("tensorflow", variant)
            out[variant + "/ok"] = check(variant)
            out[variant + "/deaf"] = check(variant, type("Deaf", (base,), {"set_learning_rate": lambda self, lr: None}))
            out[variant + "/traces"] = tracing_counts(base)
    print(json.dumps(out))
""")


def run_child(backend, data_dir):
    args = [str(data_dir), json.dumps(SCHEDULE), json.dumps(WRONG), str(STEPS_PER_EPOCH)]
    proc = subprocess.run([sys.executable, "-c", CHILD, backend, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_tensorflow_natives_and_keras_take_the_schedule(data_dir):
    """TensorFlow's plain and fast trainers and Keras on TensorFlow, in a child with that backend:
    the schedule passes, the deaf trainer and the wrong reference fail, and the rate (a
    ``tf.Variable``) costs no retrace of the step or the epoch function."""
    out = run_child("tensorflow", data_dir)
    assert out["keras/ok"]["ok"], out["keras/ok"]
    assert out["keras/ok"]["learning_rates"] == list(SCHEDULE)
    assert_fails_by_far(out["keras/wrong"])
    for variant in ("native", "native-fast"):
        assert out[f"{variant}/ok"]["ok"], out[f"{variant}/ok"]
        assert out[f"{variant}/ok"]["max_diff"]["weights"] < 3e-6
        assert_fails_by_far(out[f"{variant}/deaf"])  # (a wrong reference fails in process: the reference is NumPy's)
        *per_rate, after = out[f"{variant}/traces"]
        assert per_rate[0] >= 1 and per_rate == [per_rate[0]] * (1 + len(SCHEDULE)), out[f"{variant}/traces"]
        assert after > per_rate[-1]  # the count is live
