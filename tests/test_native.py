"""The native implementations (``mnist_mlp.native``) train the same model as Keras, and ``verify`` says so.

Each framework's plain and fast trainer runs K steps beside the NumPy training reference at the
tolerance the Keras backends meet (``reference.verify.TOLERANCE``), and each deliberate break a
user could make (epsilon on the corrected sqrt(v), optax's or torch's stock Adam, torch's default
``nn.Linear`` init) fails it. JAX and torch run in this process (the initial weights come from the
Keras model of the process' backend, JAX here: any seeded glorot-uniform start serves the check);
TensorFlow runs in one child process with its own Keras backend, like the CLI tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mnist_mlp.config import TrainConfig
from mnist_mlp.reference.verify import verify_training
from conftest import run_cli, run_cli_json

STEPS = 5
#: every deliberate break misses the weight tolerance by more than this factor in STEPS steps (README)
BREAK_MARGIN = 10


def check(mnist, backend, implementation, trainer_class=None, steps=STEPS, **options):
    return verify_training(backend, mnist.x_train, mnist.y_train, steps=steps, implementation=implementation,
                           trainer_class=trainer_class, trainer_options=options or None)


# --------------------------------------------------------------------------- JAX


@pytest.mark.parametrize("implementation", ["native", "native-fast"])
def test_jax_native_trains_as_the_reference(mnist, implementation):
    result = check(mnist, "jax", implementation)
    assert result["ok"], result["max_diff"]
    assert result["implementation"] == implementation
    assert result["max_diff"]["weights"] < 1e-6  # measured 2.9e-7: Keras-on-JAX's own level
    if implementation == "native-fast":  # gradients are fused into the scan: not observable
        assert result["max_diff"]["gradients"] is None
        assert [r["weights_diff"] is None for r in result["per_step"]] == [True] * (STEPS - 1) + [False]


def paper_adam(adam):
    """Adam as the paper writes it: eps on the *corrected* sqrt(v_hat) (a wrong epsilon placement)."""
    import jax.numpy as jnp

    def update(params, m, v, grads, t, lr):
        m = [mi + (g - mi) * np.float32(1 - adam.beta_1) for mi, g in zip(m, grads)]
        v = [vi + (g * g - vi) * np.float32(1 - adam.beta_2) for vi, g in zip(v, grads)]
        m_hat = [mi / (1 - np.float32(adam.beta_1) ** t) for mi in m]
        v_hat = [vi / (1 - np.float32(adam.beta_2) ** t) for vi in v]
        params = [p - lr * mh / (jnp.sqrt(vh) + adam.epsilon) for p, mh, vh in zip(params, m_hat, v_hat)]
        return params, m, v

    return update


def optax_adam(adam):
    """``optax.adam`` with its defaults (eps 1e-8 on the corrected sqrt(v)), on the same state."""
    import jax.numpy as jnp
    import optax

    def update(params, m, v, grads, t, lr):
        opt = optax.adam(lr)  # the trainer's traced learning rate, as Keras' Adam gets it
        state = (optax.ScaleByAdamState(count=jnp.asarray(t - 1, jnp.int32), mu=list(m), nu=list(v)), optax.EmptyState())
        updates, (new, _) = opt.update(list(grads), state, list(params))
        return list(optax.apply_updates(list(params), updates)), list(new.mu), list(new.nu)

    return update


@pytest.mark.parametrize("implementation", ["native", "native-fast"])
@pytest.mark.parametrize("rule", [paper_adam, optax_adam], ids=["epsilon_on_corrected_sqrt_v", "optax_default_adam"])
def test_jax_breaks_fail_verify(mnist, implementation, rule):
    from mnist_mlp import native

    broken = type("Broken", (native.get("jax", implementation),), {"update_rule": staticmethod(rule)})
    result = check(mnist, "jax", implementation, broken)
    assert not result["ok"]
    assert result["max_diff"]["weights"] > BREAK_MARGIN * result["tolerance"]["weights"]


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_fast_and_plain_fit_the_same_run(mnist, framework):
    """Same seed, same permutations: the fast epoch and the per-step loop give the same history,
    a partial last batch included (the fast forms take it apart from their fixed-shape batches)."""
    from mnist_mlp import native
    from mnist_mlp.native.base import fit, keras_initial_weights
    from mnist_mlp.train import model_inputs

    config = TrainConfig(epochs=2, train_samples=1010)  # 808 train rows: 25 batches of 32 and one of 8
    initial, adam = keras_initial_weights(config)
    inputs = model_inputs(mnist, config)
    runs = [fit(native.get(framework, v), config, inputs.x_train, inputs.y_train, inputs.x_test, mnist.y_test,
                initial=initial, adam=adam) for v in ("native", "native-fast")]
    plain, fast = runs
    assert plain.steps_per_epoch == 26
    assert set(plain.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "epoch_train_seconds"}
    assert all(t <= s for t, s in zip(plain.history["epoch_train_seconds"], plain.history["epoch_seconds"]))
    np.testing.assert_allclose(plain.history["loss"], fast.history["loss"], rtol=1e-5)
    assert plain.history["val_accuracy"] == fast.history["val_accuracy"]
    assert plain.test_accuracy == fast.test_accuracy > 0.8  # 2 epochs on 800 images: well above chance
    assert plain.history["loss"][1] < plain.history["loss"][0]


def _counting(base):
    """``base`` with every ``probabilities`` call's row count recorded (the forward passes)."""

    class Counting(base):
        def probabilities(self, x):
            self.forward_rows = [*getattr(self, "forward_rows", []), len(x)]
            return super().probabilities(x)

    return Counting


class RowwiseTrainer:
    """A trainer whose probabilities depend on each row alone (a fixed softmax of its first ten
    pixels): batching cannot change a figure, so the batched and one-pass values must be equal."""

    def __init__(self, weights, adam, x_train, y_train, batch_size):
        pass

    def epoch(self, order):
        from mnist_mlp.native.base import EpochStats

        return EpochStats(loss=1.0, accuracy=0.5)

    def probabilities(self, x):
        logits = x[:, :10].astype(np.float64) * 7.0
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def weights(self):
        return []


def test_validation_is_one_forward_per_batch_with_the_one_pass_values():
    """Keras validates ``validation_split`` in batches of the fit's batch size; so do the native
    cases: ceil(n_val / batch) forwards per epoch (here 7: six of 32, one of 10), the loss and
    accuracy the means over samples, exactly what one forward of all rows gives."""
    from mnist_mlp.native.base import Trainer, fit, mean_loss, split

    rng = np.random.default_rng(0)
    x, y = rng.random((1010, 784), dtype=np.float32), rng.integers(0, 10, 1010)
    config = TrainConfig(epochs=2)
    trainer_class = _counting(type("Rowwise", (RowwiseTrainer, Trainer), {}))
    run = fit(trainer_class, config, x, y, x[:50], y[:50], initial=[], adam=None)
    assert run.trainer.forward_rows == [32] * 6 + [10] + [32] * 6 + [10] + [50]  # 2 epochs, then the test set
    _, _, xv, yv = split(x, y, config.validation_split)
    probs = RowwiseTrainer(None, None, None, None, None).probabilities(xv)
    assert run.history["val_loss"] == [mean_loss(probs, yv)] * 2
    assert run.history["val_accuracy"] == [float(np.mean(probs.argmax(axis=1) == yv))] * 2


@pytest.mark.parametrize("framework, implementation", [
    ("numpy", "native"), ("jax", "native"), ("jax", "native-fast"), ("torch", "native"), ("torch", "native-fast")])
def test_each_trainer_validates_in_batches_of_the_batch_size(mnist, framework, implementation):
    """A real small run per trainer: the validation forwards are batches of 32 through the
    framework's own forward, and the figures are those of one forward of the validation rows."""
    from mnist_mlp import native
    from mnist_mlp.native.base import fit, flat, keras_initial_weights, mean_loss, split
    from mnist_mlp.train import model_inputs

    config = TrainConfig(epochs=1, train_samples=1010)  # 202 validation rows: six batches of 32, one of 10
    initial, adam = keras_initial_weights(config)
    inputs = model_inputs(mnist, config)
    run = fit(_counting(native.get(framework, implementation)), config, inputs.x_train, inputs.y_train,
              inputs.x_test, mnist.y_test, initial=initial, adam=adam)
    assert run.trainer.forward_rows == [32] * 6 + [10] + [len(mnist.y_test)]
    _, _, xv, yv = split(flat(inputs.x_train), inputs.y_train, config.validation_split)
    probs = run.trainer.probabilities(xv)  # the one-pass figures, at the same (final) weights
    assert run.history["val_loss"][0] == pytest.approx(mean_loss(probs, yv.astype(np.int32)), rel=1e-6)
    assert run.history["val_accuracy"][0] == float(np.mean(probs.argmax(axis=1) == yv))


# --------------------------------------------------------------------------- torch


@pytest.mark.parametrize("implementation", ["native", "native-fast"])
def test_torch_native_trains_as_the_reference(mnist, implementation):
    result = check(mnist, "torch", implementation)
    assert result["ok"], result["max_diff"]
    assert result["max_diff"]["weights"] < 1e-6


def _torch_default_init(base):
    """The trainer started from ``nn.Linear``'s default init (kaiming-uniform, non-zero bias)."""
    import torch

    class DefaultInit(base):
        def __init__(self, weights, *args, **kwargs):
            torch.manual_seed(0)
            layers = [torch.nn.Linear(i, o) for i, o in ((784, 128), (128, 32), (32, 10))]
            weights = [a for layer in layers for a in (layer.weight.detach().T.numpy().copy(), layer.bias.detach().numpy().copy())]
            super().__init__(weights, *args, **kwargs)

    return DefaultInit


def _torch_optim_adam(base):
    """The trainer with ``torch.optim.Adam`` (eps 1e-8 on the corrected sqrt(v)) in place of Keras' Adam."""
    import torch

    class StockAdam(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.optimizer = torch.optim.Adam(self.params, lr=self.adam.learning_rate)
            self._update = self._stock_update  # the fast form's update hook

        def _adam(self):  # the plain form's update (reads .grad)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

        def _stock_update(self, grads):
            for p, g in zip(self.params, grads):
                p.grad = g
            self._adam()

    return StockAdam


@pytest.mark.parametrize("implementation", ["native", "native-fast"])
@pytest.mark.parametrize("break_", [_torch_default_init, _torch_optim_adam], ids=["nn_linear_default_init", "torch_optim_adam"])
def test_torch_breaks_fail_verify(mnist, implementation, break_):
    from mnist_mlp import native

    result = check(mnist, "torch", implementation, break_(native.get("torch", implementation)))
    assert not result["ok"]
    assert result["max_diff"]["weights"] > BREAK_MARGIN * result["tolerance"]["weights"]


def test_torch_fast_form_compiles_with_cuda_graphs_on_a_gpu_only():
    from mnist_mlp.native.torch_native import TorchNativeFast, default_compile_mode

    assert default_compile_mode("cuda") == "reduce-overhead"
    assert default_compile_mode("cpu") is None
    w = [np.zeros(s, np.float32) for s in ((784, 128), (128,), (128, 32), (32,), (32, 10), (10,))]
    from mnist_mlp.reference.training import AdamSettings

    trainer = TorchNativeFast(w, AdamSettings(), np.zeros((64, 784), np.float32), np.zeros(64, np.int32), 32, device="cpu")
    assert trainer.compile_mode is None and trainer._loss_fn == trainer._fused_loss  # eager on the CPU


def test_torch_compile_form_trains_as_the_reference(mnist):
    """The fast form through ``torch.compile`` (the GPU default; opt-in on the CPU), once, 3 steps."""
    result = check(mnist, "torch", "native-fast", steps=3, compile_mode="default")
    assert result["ok"], result["max_diff"]


# --------------------------------------------------------------------------- TensorFlow, NumPy, CLI

TF_SCRIPT = textwrap.dedent("""
    import json, sys
    from mnist_mlp import backends
    backends.select("tensorflow", "cpu")
    from mnist_mlp import native
    from mnist_mlp.data import load_mnist
    from mnist_mlp.reference.verify import verify_training

    class MisplacedEps:
        def _adam_update(self, grads):  # eps on the corrected sqrt(v_hat): the paper's placement
            import tensorflow as tf
            self.t.assign_add(1.0)
            for p, m, v, g in zip(self.params, self.m, self.v, grads):
                m.assign_add((g - m) * self._c1)
                v.assign_add((g * g - v) * self._c2)
                m_hat = m / (1.0 - tf.pow(self._b1, self.t))
                v_hat = v / (1.0 - tf.pow(self._b2, self.t))
                p.assign_sub(self._lr * m_hat / (tf.sqrt(v_hat) + self._eps))

    data = load_mnist(sys.argv[1])
    out = {}
    from mnist_mlp.config import TrainConfig
    from mnist_mlp.native.base import fit, keras_initial_weights
    from mnist_mlp.train import model_inputs
    config = TrainConfig(epochs=1, train_samples=1010)  # a partial last batch: the fast form's rest step
    initial, adam = keras_initial_weights(config)
    inputs = model_inputs(data, config)
    class Counting:
        def probabilities(self, x):
            self.forward_rows = [*getattr(self, "forward_rows", []), len(x)]
            return super().probabilities(x)

    runs = [fit(type("C", (Counting, native.get("tensorflow", v)), {}), config, inputs.x_train, inputs.y_train,
                inputs.x_test, data.y_test, initial=initial, adam=adam) for v in ("native", "native-fast")]
    out["fit"] = [r.history["loss"][0] for r in runs]
    out["forward_rows"] = [r.trainer.forward_rows for r in runs]
    from mnist_mlp.native.base import flat, mean_loss, split
    _, _, xv, yv = split(flat(inputs.x_train), inputs.y_train, config.validation_split)
    probs = runs[0].trainer.probabilities(xv)
    out["val"] = [runs[0].history["val_loss"][0], mean_loss(probs, yv.astype("int32"))]
    for variant in ("native", "native-fast"):
        base = native.get("tensorflow", variant)
        for name, cls in (("ok", None), ("broken", type("B", (MisplacedEps, base), {}))):
            r = verify_training("tensorflow", data.x_train, data.y_train, steps=5, implementation=variant, trainer_class=cls)
            out[f"{variant}/{name}"] = {"ok": r["ok"], "max_diff": r["max_diff"], "tolerance": r["tolerance"]}
    print(json.dumps(out))
""")


def test_tensorflow_native_trains_as_the_reference_and_a_break_fails(data_dir):
    proc = subprocess.run([sys.executable, "-c", TF_SCRIPT, str(data_dir)], capture_output=True, text=True,
                          env={**__import__("os").environ, "KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["fit"][0] == pytest.approx(out["fit"][1], rel=1e-5)
    assert out["forward_rows"] == [[32] * 6 + [10] + [10000]] * 2  # validation in batches of 32, then the test set
    assert out["val"][0] == pytest.approx(out["val"][1], rel=1e-6)  # the one-pass loss
    for variant in ("native", "native-fast"):
        assert out[f"{variant}/ok"]["ok"], out
        broken = out[f"{variant}/broken"]
        assert not broken["ok"], out
        assert broken["max_diff"]["weights"] > BREAK_MARGIN * broken["tolerance"]["weights"], out


def test_verify_cli_numpy_native_says_it_compares_the_reference_with_itself(data_dir):
    """NumPy's native trainer is the reference: its zeros are no agreement, and verify says so
    instead of OK (the JSON too); a trainer that is not the reference is not flagged."""
    args = ("verify", "--training", "--backend", "numpy", "--implementation", "native", "--steps", "3", "--data-dir", str(data_dir))
    result = run_cli_json(*args)
    assert result["ok"] and result["implementation"] == "native" and result["reference_itself"] is True
    assert result["max_diff"] == {"loss": 0.0, "gradients": 0.0, "weights": 0.0}  # it is the reference
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "the reference itself: nothing to compare" in proc.stdout.splitlines()[1]
    assert proc.stdout.strip().splitlines()[-1].endswith(": the reference itself: nothing to compare")
    assert "OK" not in proc.stdout


def test_a_native_trainer_that_is_not_the_reference_is_compared(mnist):
    result = check(mnist, "jax", "native", steps=2)
    assert result["ok"] and result["reference_itself"] is False


@pytest.mark.parametrize("args, message", [
    (["--training", "--backend", "numpy"], "--implementation: numpy is not a Keras backend"),
    (["--training", "--backend", "numpy", "--implementation", "native-fast"], "--implementation: numpy has no native-fast"),
    (["--backend", "numpy", "--model", "m.keras"], "verify: --backend numpy and --implementation need --training"),
    (["--training", "--implementation", "fast"], "--implementation: invalid choice"),
    (["--training", "--backend", "numpy", "--implementation", "native", "--device", "gpu"], "--device: numpy runs on cpu only"),
])
def test_verify_cli_refuses_bad_implementation(args, message):
    proc = run_cli("verify", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_numpys_initial_weights_come_from_keras_on_jax_and_another_loaded_keras_is_refused(monkeypatch):
    """NumPy's native run of a seed starts where JAX's start (its Keras is imported in JAX's shared
    process anyway); a process whose keras has another backend cannot hand them over silently."""
    import keras

    from mnist_mlp import native
    from mnist_mlp.errors import UsageError

    assert native.WEIGHTS_BACKEND["numpy"] == "jax"
    monkeypatch.setitem(native.WEIGHTS_BACKEND, "numpy", keras.backend.backend())
    native.prepare_keras("numpy")  # the backend keras has: nothing to do
    other = "torch" if keras.backend.backend() != "torch" else "jax"
    monkeypatch.setitem(native.WEIGHTS_BACKEND, "numpy", other)
    with pytest.raises(UsageError, match=f"numpy's initial weights come from Keras on {other}.*fresh process"):
        native.prepare_keras("numpy")
