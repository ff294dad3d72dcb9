"""The case this child measures: backend x device parameters, shared state, machine info.

The runner (``mnist-mlp bench``) starts one fresh ``python -m pytest benchmarks/`` per case and
names the case's settings through ``$MNIST_MLP_BENCH_CASE`` (see ``mnist_mlp.bench.caseconfig``).
The backend is selected in ``pytest_configure``, before any test module imports keras. Run by
hand, ``pytest benchmarks/`` measures the quick workload on ``$KERAS_BACKEND`` and the CPU.

The training test runs first (``pytest_collection_modifyitems``) and leaves its seed-0 model in
session state; the inference tests measure that model instead of training again.
"""

from __future__ import annotations

from typing import Any

import pytest

from mnist_mlp.bench import suite
from mnist_mlp.bench.caseconfig import CaseConfig, load_from_env
from mnist_mlp.bench.child import watch_parent
from mnist_mlp.bench.direct import PATHS_FOR_BACKEND, PATHS_FOR_NUMPY

CASE: CaseConfig = load_from_env()
_UNAVAILABLE: dict[str, Any] = {"reason": None}
_DEVICE: dict[str, Any] = {"name": None, "gpu_peak": None}


def pytest_configure(config: pytest.Config) -> None:
    watch_parent()  # end this case's processes if the runner dies (a no-op when run by hand)
    _UNAVAILABLE["reason"] = suite.select_backend(CASE)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Training before inference, whatever order the files were collected in."""
    items.sort(key=lambda item: 0 if item.module.__name__.endswith("test_training") else 1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    paths = PATHS_FOR_NUMPY if CASE.is_numpy else PATHS_FOR_BACKEND
    if "path" in metafunc.fixturenames:
        metafunc.parametrize("path", paths)
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", CASE.batch_sizes)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info.update(suite.child_machine_info(CASE, _DEVICE["name"], _DEVICE["gpu_peak"]))


@pytest.fixture(scope="session")
def case() -> CaseConfig:
    return CASE


@pytest.fixture(scope="session", autouse=True)
def device_ready() -> str:
    """Skip every test (and tell the parent why) when the backend or device is not here."""
    reason = _UNAVAILABLE["reason"]
    if reason is None:
        name, reason = suite.confirm_device(CASE)
    if reason is not None:
        suite.write_outcome(CASE, "skipped", reason)
        pytest.skip(reason)
    _DEVICE["name"] = name
    if CASE.device == "gpu":
        from mnist_mlp.bench.peak import backend_gpu_peak

        _DEVICE["gpu_peak"] = backend_gpu_peak(CASE.backend)
    return name


@pytest.fixture(scope="session")
def machine_info(device_ready: str) -> dict:
    """The child's machine info as it stands now (for the training side file, before session end)."""
    return suite.child_machine_info(CASE, _DEVICE["name"], _DEVICE["gpu_peak"])


@pytest.fixture(scope="session")
def progress() -> suite.Progress:
    return suite.Progress(CASE.progress_path)


@pytest.fixture(scope="session", autouse=True)
def imports_done(device_ready: str) -> None:
    """Pay one-off imports before any timer starts.

    ``keras.utils.set_random_seed`` imports TensorFlow whenever it is installed, even on JAX or
    PyTorch (to seed ``tf.data``): seconds of import that would otherwise land in the first
    seed's training time. ``benchmarks/plain_keras.py`` does the same before its timer.
    """
    if not CASE.is_numpy:
        import keras

        keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def mnist() -> Any:
    from mnist_mlp.data import load_mnist

    return load_mnist(CASE.data_dir)


@pytest.fixture(scope="session")
def state() -> dict:
    """What the training test leaves for the inference tests: the seed-0 model and its weights."""
    return {}
