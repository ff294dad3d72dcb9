"""Shared fixtures: the real MNIST (from MNIST_DATA_DIR), and helpers to run the CLI in a child.

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


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("MNIST_DATA_DIR")
    if not value:
        pytest.skip("MNIST_DATA_DIR is not set (CI and tox set it; see README)")
    return Path(value)


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
