"""Synchronisation at every timed boundary, shown so that a missing one fails a test.

A fake asynchronous device keeps its own clock: a launch costs the host ``LAUNCH_S`` and queues the
work, a ``synchronize`` moves the host's clock to when the queued work is done. The timers read that
clock (``mnist_mlp.train.time`` is replaced), so no real time is measured: each timed boundary
(``EpochTimer``, ``train``'s wall time, the direct and predict calls of ``bench.direct``) must
report the finished work, and the same code with ``synchronize`` made a no-op reports the launch
only, which is what a deleted synchronize call would do to it (and what ``float()`` on a result
would hide).

Each framework's own ``Backend.synchronize`` runs in a child process of its own (Keras' backend is
chosen before keras is imported) on real queued work: where the framework can say whether its work
is finished (a JAX array's ``is_ready``, a CUDA event), the child shows it unfinished right after
the launch and finished after ``synchronize``. Eager torch and TensorFlow on the CPU finish an op
before returning, so there their GPU branches are checked with fake modules instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from mnist_mlp import train as train_module
from mnist_mlp.backends import JaxBackend, TensorFlowBackend, TorchBackend
from mnist_mlp.bench import direct
from mnist_mlp.bench.direct import make_callable, synchronized
from mnist_mlp.config import TrainConfig
from mnist_mlp.train import EpochTimer

#: seconds on the fake device's clock: a launch's cost to the host, and the work it queues
LAUNCH_S, BEFORE_S, WORK_S, VALIDATION_S, END_S = 0.001, 0.5, 0.2, 0.05, 0.3


class FakeAsyncDevice:
    """Work is queued and returns at once, as on a GPU; the device runs it back to back, and only
    ``synchronize`` makes the host wait for it (moves ``now`` to when it is done)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.done_at = 0.0
        self.synchronized: list[tuple] = []

    def perf_counter(self) -> float:
        return self.now

    def launch(self, seconds: float = WORK_S) -> str:
        self.now += LAUNCH_S
        self.done_at = max(self.done_at, self.now) + seconds
        return "output handle"

    def synchronize(self, *outputs: object) -> None:
        self.synchronized.append(outputs)
        self.now = max(self.now, self.done_at)


@pytest.fixture
def device(monkeypatch) -> FakeAsyncDevice:
    """The fake device, its clock the one ``mnist_mlp.train`` reads."""
    fake = FakeAsyncDevice()
    monkeypatch.setattr(train_module, "time", SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def _no_sync(monkeypatch, device: FakeAsyncDevice) -> None:
    """What deleting a synchronize call does: the boundary no longer waits for the device."""
    monkeypatch.setattr(device, "synchronize", lambda *outputs: None)


def _one_epoch(device: FakeAsyncDevice) -> EpochTimer:
    timer = EpochTimer(device.synchronize)
    device.launch(BEFORE_S)  # queued before the epoch (building the model): not the epoch's
    timer.on_epoch_begin(0)
    device.launch()  # the epoch's training steps
    timer.on_test_begin()
    device.launch(VALIDATION_S)
    timer.on_epoch_end(0)
    return timer


def test_epoch_timer_times_the_finished_work(device):
    timer = _one_epoch(device)
    assert timer.train_seconds == [pytest.approx(LAUNCH_S + WORK_S)]  # from the earlier work's end to the steps' end
    assert timer.seconds == [pytest.approx(2 * LAUNCH_S + WORK_S + VALIDATION_S)]


def test_epoch_timer_without_synchronize_times_the_launch_only(device, monkeypatch):
    _no_sync(monkeypatch, device)
    timer = _one_epoch(device)
    assert timer.train_seconds == [pytest.approx(LAUNCH_S)]
    assert timer.seconds == [pytest.approx(2 * LAUNCH_S)]


def test_train_wall_time_waits_for_the_work_queued_last(device, mnist):
    """``train``'s wall time ends with a synchronize: work still queued when ``fit`` returns counts."""
    import keras

    class LaunchAtTrainEnd(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            device.launch(END_S)

    config = TrainConfig(epochs=1, train_samples=320)
    result = train_module.train(config, mnist, sync=device.synchronize, callbacks=[LaunchAtTrainEnd()])
    assert result.wall_seconds == pytest.approx(LAUNCH_S + END_S)  # only the fake device moves this clock


def _timed(device: FakeAsyncDevice, call) -> float:
    started = device.perf_counter()
    assert call() == "output handle"
    return device.perf_counter() - started


def test_direct_call_is_timed_to_the_finish(device):
    assert _timed(device, synchronized(device.launch, device.synchronize)) == pytest.approx(LAUNCH_S + WORK_S)
    assert device.synchronized == [("output handle",)]  # on the output itself: JAX waits on the arrays named


def test_direct_call_without_synchronize_times_the_launch_only(device, monkeypatch):
    _no_sync(monkeypatch, device)
    assert _timed(device, synchronized(device.launch, device.synchronize)) == pytest.approx(LAUNCH_S)


@pytest.mark.parametrize("path", ["predict", "direct"])
def test_each_inference_path_waits_for_its_output(device, monkeypatch, path):
    """``make_callable``'s predict and direct paths go through the backend's synchronize."""
    backend = SimpleNamespace(synchronize=device.synchronize, direct_call=lambda model, x: device.launch,
                              inference_paths=("predict", "direct"))
    monkeypatch.setattr(direct, "backends", SimpleNamespace(get=lambda name: backend))
    model = SimpleNamespace(predict=lambda x, batch_size, verbose: device.launch())
    call = make_callable(path, "jax", model, np.zeros((4, 784), np.float32))
    assert _timed(device, call) == pytest.approx(LAUNCH_S + WORK_S)


# --------------------------------------------------------------------------- each Backend's synchronize


def _with_module(backend_class, module):
    backend = backend_class()
    backend.module = lambda: module
    return backend


def test_jax_synchronize_blocks_on_the_outputs_and_on_every_live_array():
    blocked = []

    class Leaf:
        def __init__(self, name: str) -> None:
            self.name = name

        def block_until_ready(self) -> "Leaf":
            blocked.append(self.name)
            return self

    fake = SimpleNamespace(
        block_until_ready=lambda tree: [leaf.block_until_ready() for leaf in tree],
        live_arrays=lambda: [Leaf("weights"), Leaf("optimizer state")],
        effects_barrier=lambda: blocked.append("effects"),
    )
    backend = _with_module(JaxBackend, fake)
    backend.synchronize(Leaf("output"))
    assert blocked == ["output", "effects"]  # the outputs themselves, not only side effects
    blocked.clear()
    backend.synchronize()
    assert blocked == ["weights", "optimizer state", "effects"]


@pytest.mark.parametrize("cuda", [True, False])
def test_torch_synchronize_waits_for_cuda_where_there_is_one(cuda):
    waited = []
    fake = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: cuda, synchronize=lambda: waited.append("cuda")))
    _with_module(TorchBackend, fake).synchronize("output")
    assert waited == (["cuda"] if cuda else [])  # on the CPU an eager op is done when it returns


@pytest.mark.parametrize("gpu", [True, False])
def test_tensorflow_synchronize_waits_for_the_gpus_where_there_are(gpu):
    waited = []
    fake = SimpleNamespace(
        config=SimpleNamespace(list_logical_devices=lambda kind: ["/device:GPU:0"] if gpu and kind == "GPU" else []),
        test=SimpleNamespace(experimental=SimpleNamespace(sync_devices=lambda: waited.append("sync_devices"))),
    )
    _with_module(TensorFlowBackend, fake).synchronize("output")
    assert waited == (["sync_devices"] if gpu else [])


#: per framework: ``launch()`` queues a chain of matmuls (each product is ``a`` again) and returns
#: its output; ``ready(out)`` says whether the queued work is finished, None where it cannot be seen
WORK = {
    "jax": """
        import jax, jax.numpy as jnp
        a = jnp.full((N, N), 1.0 / N)
        chain = jax.jit(lambda a: (((a @ a) @ a) @ a) @ a)
        chain(a).block_until_ready()  # compiled outside the check
        def launch():
            return chain(a)
        def ready(out):
            return bool(out.is_ready())
        def value(out):
            return float(np.asarray(out)[0, 0])
    """,
    "torch": """
        import torch
        where = "cuda" if torch.cuda.is_available() else "cpu"
        a = torch.full((N, N), 1.0 / N, device=where)
        def launch():
            out = a
            for _ in range(4):
                out = out @ a
            return out
        def ready(out):  # an event queued behind the work is done only when the work is
            if where == "cpu":
                return None  # eager CPU ops finish before they return: nothing to see
            event = torch.cuda.Event()
            event.record()
            return event.query()
        def value(out):
            return float(out[0, 0].item())
    """,
    "tensorflow": """
        import tensorflow as tf
        a = tf.fill((N, N), 1.0 / N)
        def launch():
            out = a
            for _ in range(4):
                out = tf.matmul(out, a)
            return out
        def ready(out):
            return None  # no readiness query: its GPU branch is the fake-module test's
        def value(out):
            return float(out.numpy()[0, 0])
    """,
}

CHILD = """
import json, sys
import numpy as np
from mnist_mlp import backends
from mnist_mlp.errors import BackendUnavailable
name, device = sys.argv[1], sys.argv[2]
backends.select(name, device)  # the environment the benchmark's child has, before any framework import
try:
    backends.require_device(name, device)
except BackendUnavailable as exc:
    print(json.dumps({"skip": str(exc)}))
    sys.exit(0)
N = 1024 if device == "cpu" else 4096
%s
backend = backends.get(name)
out = launch()
unsynchronised = ready(out)
backend.synchronize(out)
synchronised = ready(out)
value_ok = abs(value(out) - 1.0 / N) < 1e-6
rest = launch()
backend.synchronize()  # no outputs named: everything queued
print(json.dumps({"unsynchronised": unsynchronised, "synchronised": synchronised, "all": ready(rest),
                  "value_ok": value_ok}))
"""


@pytest.mark.backends
@pytest.mark.parametrize("device_kind", ["cpu", "gpu"])
@pytest.mark.parametrize("name", ["jax", "torch", "tensorflow"])
def test_each_backend_synchronize_returns_after_the_work(name, device_kind):
    from mnist_mlp.backends import gpu_hardware_present

    pytest.importorskip(name)
    if device_kind == "gpu" and not gpu_hardware_present():
        pytest.skip("no GPU on this machine")
    script = CHILD % textwrap.dedent(WORK[name])
    proc = subprocess.run([sys.executable, "-c", script, name, device_kind], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["value_ok"]
    if out["synchronised"] is None:  # eager CPU work: finished on return (the fake-module tests above)
        return
    assert out["unsynchronised"] is False  # still running right after the launch: the check can see a missing wait
    assert out["synchronised"] is True and out["all"] is True
