"""The case this child measures: backend x device parameters, shared state, machine info.

The runner (``mnist-mlp bench``) starts one fresh ``python -m pytest benchmarks/`` per case and
names the case's settings through ``$MNIST_MLP_BENCH_CASE`` (see ``mnist_mlp.bench.caseconfig``).
The backend is selected in ``pytest_configure``, before any test module imports keras. Run by
hand, ``pytest benchmarks/`` measures the quick workload on ``$KERAS_BACKEND`` and the CPU.

The training test runs first (``pytest_collection_modifyitems``) and leaves its seed-0 model in
session state; the inference tests measure that model instead of training again. Around the tests
of each phase (training, inference) the process's peak memory and, where the machine counts it, the
energy are measured apart (``bench.memory``, ``bench.energy``; ``pytest_runtest_call``).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any

import pytest

from mnist_mlp.bench import energy, memory, suite
from mnist_mlp.bench.caseconfig import ENV_VAR as CASE_ENV_VAR, CaseConfig, load_from_env
from mnist_mlp.bench.child import watch_parent

CASE: CaseConfig = load_from_env()
#: the progress file the parent polls; its clock (seconds per phase) starts here
PROGRESS = suite.Progress(CASE.progress_path)
_UNAVAILABLE: dict[str, Any] = {"reason": None}
#: what the session learns about its device: name, precision policy, peak probes before/after, FLOP model
_DEVICE: dict[str, Any] = {"name": None, "precision": None, "peak": {}, "latency": {}, "flops": None}
_EXIT: dict[str, Any] = {"status": None}
#: this case's peak memory and energy per phase (a new pair for each case of a shared process)
METERS = (memory.PhaseMemory(CASE.backend, CASE.device), energy.EnergyMeter(CASE.device))
#: the phase each suite's tests measure
PHASE_OF = {"test_training": "training", "test_open": "training", "test_inference": "inference"}


def pytest_configure(config: pytest.Config) -> None:
    watch_parent()  # end this case's processes if the runner dies (a no-op when run by hand)
    _UNAVAILABLE["reason"] = suite.select_backend(CASE)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Any:
    """The tests are done: what follows (pytest-benchmark's JSON and table) is the finish phase
    (a wrapper, first of all, so it starts before pytest-benchmark's own wrapper writes)."""
    PROGRESS.phase("finish", detail="writing the results")
    _EXIT["status"] = int(exitstatus)
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Under the runner, skip the interpreter's teardown once pytest is done.

    Every result is on disk by now (the raw JSON, the training side file, the weights); what is
    left is Python's exit, which with TensorFlow, JAX or PyTorch loaded takes seconds of atexit
    handlers and module teardown (about 2 s for TensorFlow on a busy 2-core VM) and measures
    nothing. So the last atexit handler registered (the first to run) flushes the output and
    ends the process with pytest's exit status. Run by hand, pytest exits as usual.
    """
    if os.environ.get(CASE_ENV_VAR) and _EXIT["status"] is not None:
        atexit.register(_exit_now, _EXIT["status"])


def _exit_now(status: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(status)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Training before inference, whatever order the files were collected in; then the inference
    tests pass by pass (``CaseConfig.passes``): every throughput and latency benchmark of pass 1,
    then of pass 2, and so on, so each figure's passes are spread over the whole inference phase."""
    items.sort(key=lambda item: (0 if item.module.__name__.endswith("test_training") else 1, pass_of(item)))


def pass_of(item: pytest.Item) -> int:
    """The pass an inference test belongs to (0: a test measured once, before the passes)."""
    callspec = getattr(item, "callspec", None)
    return int(callspec.params.get("pass_index", 0)) if callspec is not None else 0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    paths = CASE.inference_paths
    if "path" in metafunc.fixturenames:
        metafunc.parametrize("path", paths)
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", CASE.batch_sizes)
    if "pass_index" in metafunc.fixturenames and CASE.passes > 1:  # one pass: the ``pass_index`` fixture, 1
        metafunc.parametrize("pass_index", range(1, CASE.passes + 1), ids=lambda i: f"pass{i}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A phase's marks are reset as its first test starts and read as each of its tests ends, so
    the fixtures' set-up (data, the peak probes) stays out; a test that skips before its phase has
    measured anything leaves no phase behind (NumPy's training), the next test starts it afresh."""
    phase = PHASE_OF.get(item.module.__name__.rpartition(".")[2])
    started = [meter.start(phase) for meter in METERS] if phase else []
    try:
        return (yield)
    except pytest.skip.Exception:
        for meter, fresh in zip(METERS, started):
            if fresh:
                meter.discard(phase)
        started = []
        raise
    finally:
        for meter in METERS if started else ():
            meter.end(phase)


def pytest_benchmark_generate_machine_info(config: pytest.Config) -> dict:
    """pytest-benchmark's own machine info (py-cpuinfo, about 0.2 s a call), taken once per process:
    the cases of a shared process are on one machine."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info as generate

    return suite.once_per_process("machine_info", generate)


def pytest_benchmark_generate_commit_info(config: pytest.Config) -> dict:
    """pytest-benchmark's own commit info (git, in subprocesses), taken once per process."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_commit_info as generate

    return suite.once_per_process("commit_info", lambda: generate(config))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Called as the session ends: the case, the seconds each phase took (``phase_seconds``), and
    each phase's peak memory and energy (``memory``, ``energy``)."""
    machine_info.update(suite.child_machine_info(CASE, _DEVICE))
    machine_info["phase_seconds"] = PROGRESS.phase_seconds()
    machine_info["memory"], machine_info["energy"] = METERS[0].record(), METERS[1].record()


@pytest.fixture(scope="session")
def case() -> CaseConfig:
    return CASE


@pytest.fixture
def pass_index() -> int:
    """The pass of an inference test where the profile has one (``pytest_generate_tests``
    parametrizes it, and the tests keep their names, where it has more)."""
    return 1


@pytest.fixture(scope="session", autouse=True)
def device_ready() -> Any:
    """Skip every test (and tell the parent why) when the backend or device is not here.

    Then set the case's precision policy and probe the device's FP32 matmul peak, once before
    anything is measured and once after everything (the teardown), so each case is judged
    against the peak its own device reached around it.
    """
    reason = _UNAVAILABLE["reason"]
    if reason is None:
        name, reason = suite.confirm_device(CASE)
    if reason is not None:
        suite.write_outcome(CASE, "skipped", reason)
        pytest.skip(reason)
    _DEVICE["name"] = name
    _DEVICE["precision"] = suite.apply_precision(CASE)
    PROGRESS.phase("peak probe", detail="before the case")
    _DEVICE["peak"]["before"] = suite.probe_before(CASE)
    _DEVICE["latency"]["before"] = suite.latency_before(CASE)
    PROGRESS.phase("imports")
    yield name
    PROGRESS.phase("peak probe", detail="after the case")
    _DEVICE["peak"]["after"] = suite.probe_after(CASE)
    _DEVICE["latency"]["after"] = suite.latency_after(CASE)


@pytest.fixture(scope="session")
def machine_info(device_ready: str) -> dict:
    """The child's machine info as it stands now (for the training side file, before session end)."""
    return suite.child_machine_info(CASE, _DEVICE)


@pytest.fixture(scope="session")
def progress() -> suite.Progress:
    return PROGRESS


@pytest.fixture(scope="session", autouse=True)
def imports_done(device_ready: str) -> None:
    """Pay one-off imports before any timer starts: keras, the training module (scikit-learn)
    and whatever the first seeding loads, which would otherwise land in the first seed's
    training time. ``mnist_mlp.train.set_random_seed`` leaves TensorFlow out of JAX and PyTorch
    processes (Keras' own would import it there); ``benchmarks/plain_keras.py`` seeds the same way.
    """
    if CASE.trains:
        from mnist_mlp.train import set_random_seed

        set_random_seed(0)


@pytest.fixture(scope="session")
def mnist() -> Any:
    from mnist_mlp.data import load_mnist

    PROGRESS.phase("data")
    return load_mnist(CASE.data_dir)


@pytest.fixture(scope="session")
def device_facts() -> dict[str, Any]:
    """The session's device record, where the tests leave what the machine info must carry (FLOPs)."""
    return _DEVICE


@pytest.fixture(scope="session")
def state() -> dict:
    """What the training test leaves for the inference tests: the seed-0 model and its weights."""
    return {}
