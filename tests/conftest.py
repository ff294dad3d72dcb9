"""Shared fixtures: the real MNIST, found as the tool finds it, and helpers to run the CLI in a child.

MNIST comes from ``MNIST_DATA_DIR``, else from Keras' download cache where it already holds
``mnist.npz``; where neither has it, the tests that need it skip with one reason. No test ever
downloads: ``MNIST_MLP_OFFLINE`` is set for the whole session (child processes inherit it), so
a test that would reach the network fails with a one-line error instead.

In-process tests use whatever backend KERAS_BACKEND names (tox sets jax); tests marked
``backends`` start one child process per backend, since a process holds one backend for life.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["MNIST_MLP_OFFLINE"] = "1"  # mnist_mlp.data.OFFLINE_ENV: tests never download
# tox runs the tests on every core (pytest-xdist, a file per worker); the benchmark children a test
# starts are no xdist workers, and pytest-benchmark disables itself where it sees this variable
for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)

NO_MNIST = ("MNIST not found: set MNIST_DATA_DIR to a folder with the four IDX files (see docs/getting-started.md, Data), "
            "or run any mnist-mlp command once to download it into Keras' cache")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Where MNIST is, as the tool would find it (``MNIST_DATA_DIR``, else Keras' cache), else skip."""
    from mnist_mlp.data import keras_cache_dir

    value = os.environ.get("MNIST_DATA_DIR", "").strip()
    if value:
        return Path(value)
    cached = keras_cache_dir()
    if cached is None:
        pytest.skip(NO_MNIST)
    return cached


@pytest.fixture(scope="session")
def mnist(data_dir):
    from mnist_mlp.data import load_mnist

    return load_mnist(data_dir)


def run_cli(*args: str, backend: str | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m mnist_mlp ARGS`` in a fresh interpreter; returns the completed process."""
    child_env = dict(os.environ)
    child_env.pop("KERAS_BACKEND", None)
    if backend:
        child_env["KERAS_BACKEND"] = backend
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mnist_mlp", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env,
        cwd=ROOT,
    )


def run_cli_json(*args: str, **kwargs) -> dict:
    """Run the CLI with ``--json`` and return the parsed object; fail with its stderr otherwise."""
    proc = run_cli(*args, "--json", **kwargs)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)
