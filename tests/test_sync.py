"""Synchronisation at every timed boundary: a fake asynchronous device shows what a timer without
it would report (the launch, not the finish), and each Backend's synchronize really waits."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from mnist_mlp.bench.direct import synchronized
from mnist_mlp.train import EpochTimer

WORK_S = 0.2


class FakeAsyncDevice:
    """Work is queued and returns at once, as on a GPU; ``synchronize`` waits for the queue."""

    def __init__(self) -> None:
        self._queue: list[threading.Thread] = []

    def launch(self, seconds: float = WORK_S) -> str:
        worker = threading.Thread(target=time.sleep, args=(seconds,))
        worker.start()
        self._queue.append(worker)
        return "output handle"

    def synchronize(self, *outputs: object) -> None:
        while self._queue:
            self._queue.pop().join()


def _one_epoch(timer: EpochTimer, device: FakeAsyncDevice) -> None:
    timer.on_epoch_begin(0)
    device.launch()  # the epoch's training steps, queued
    timer.on_test_begin()
    device.launch(0.05)  # validation, queued
    timer.on_epoch_end(0)


def test_epoch_timer_without_synchronize_times_the_launch_only():
    device = FakeAsyncDevice()
    timer = EpochTimer()
    _one_epoch(timer, device)
    device.synchronize()
    assert timer.train_seconds[0] < WORK_S / 4  # what an unsynchronised timer reports: wrong


def test_epoch_timer_with_synchronize_times_the_finished_work():
    device = FakeAsyncDevice()
    timer = EpochTimer(device.synchronize)
    _one_epoch(timer, device)
    assert timer.train_seconds[0] >= WORK_S * 0.95
    assert timer.seconds[0] >= timer.train_seconds[0] + 0.05 * 0.95  # validation apart, after the training part


def test_direct_call_is_timed_to_the_finish():
    device = FakeAsyncDevice()
    call = synchronized(device.launch, device.synchronize)
    started = time.perf_counter()
    assert call() == "output handle"
    assert time.perf_counter() - started >= WORK_S * 0.95
    bare_started = time.perf_counter()
    device.launch()
    assert time.perf_counter() - bare_started < WORK_S / 4  # without it: the launch
    device.synchronize()


def test_jax_synchronize_blocks_on_the_outputs_and_on_every_live_array(monkeypatch):
    from mnist_mlp.backends import get

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
    backend = get("jax")
    monkeypatch.setattr(backend, "module", lambda: fake)
    backend.synchronize(Leaf("output"))
    assert blocked == ["output", "effects"]  # the outputs themselves, not only side effects
    blocked.clear()
    backend.synchronize()
    assert blocked == ["weights", "optimizer state", "effects"]


def test_jax_synchronize_on_real_arrays():
    jax = pytest.importorskip("jax")
    from mnist_mlp.backends import get

    x = jax.numpy.ones((256, 256)) @ jax.numpy.ones((256, 256))
    get("jax").synchronize(x)
    get("jax").synchronize()
    assert float(x[0, 0]) == 256.0
