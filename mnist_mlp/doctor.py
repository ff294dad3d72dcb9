"""What this machine offers the suite, as data: backends, devices, threads, CUDA, data, planned cases.

``mnist-mlp doctor`` answers "why would my run skip or fail?" before a 20-minute benchmark does.
Every framework is probed in a child process of its own (``python -c``, with a timeout), for the
same reason the benchmark runs one case per process: Keras fixes its backend at import, and
TensorFlow and PyTorch in one process can crash. The parent imports no framework.

``diagnose`` returns one JSON-ready dict; ``mnist_mlp.report.doctor_text`` renders it for people.
Exit code (``exit_code``): 0 when at least one Keras backend can run here, else 1.

What differs between frameworks (listing devices, why a GPU is absent, the pip command) comes
from each framework's ``Backend`` class (``mnist_mlp.backends``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mnist_mlp
from mnist_mlp import backends
from mnist_mlp.config import BACKENDS, DEVICES
from mnist_mlp.errors import DataError

log = logging.getLogger(__name__)

SCHEMA = "mnist-mlp-doctor"
#: seconds one framework's probe may take (importing TensorFlow on a busy 2-core VM takes ~20 s)
DEFAULT_PROBE_TIMEOUT = 180.0
#: exit codes: at least one backend can run; none can
EXIT_CAN_RUN = 0
EXIT_NOTHING_RUNS = 1
#: the probe child's answer is the stdout line that starts with this
MARKER = "MNIST_MLP_DOCTOR "
_CHILD_CODE = "import sys; from mnist_mlp.doctor import probe_child; sys.exit(probe_child(sys.argv[1]))"


# --------------------------------------------------------------------------- in the child


def probe_child(backend: str) -> int:
    """The child's whole job: list the framework's devices and print them as one marked JSON line."""
    framework = backends.get(backend)
    info = framework.describe_devices()
    if not any(device["kind"] == "gpu" for device in info["devices"]):
        info["gpu_absent_reason"] = framework.gpu_absent_reason()
    print(MARKER + json.dumps(info), flush=True)
    return 0


# --------------------------------------------------------------------------- in the parent


def install_command(backend: str, gpu: bool = False) -> str:
    """The pip command that adds a backend (its CUDA build with ``gpu``)."""
    return backends.get(backend).install_hint(gpu)


def _probe_env(backend: str) -> dict[str, str]:
    """The caller's environment, with the backend named and GPUs left visible (we want to see them)."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env.pop("JAX_PLATFORMS", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # a probe should not grab GPU memory
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    package_root = str(Path(mnist_mlp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _last_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def probe_backend(backend: str, timeout: float = DEFAULT_PROBE_TIMEOUT) -> dict[str, Any]:
    """Start the framework in a child; return version, devices and CUDA build, or the error."""
    started = time.perf_counter()
    result: dict[str, Any] = {"version": None, "devices": [], "cuda_runtime": None, "error": None}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD_CODE, backend], env=_probe_env(backend),
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        result["error"] = f"{backend} did not list its devices within {timeout:g} s"
    except OSError as exc:
        result["error"] = f"could not start {sys.executable}: {exc}"
    else:
        answer = next((line[len(MARKER):] for line in proc.stdout.splitlines() if line.startswith(MARKER)), None)
        if proc.returncode == 0 and answer is not None:
            result.update(json.loads(answer))
        else:
            result["error"] = f"importing {backend} failed (exit {proc.returncode}): {_last_line(proc.stderr)}"
    result["probe_seconds"] = round(time.perf_counter() - started, 2)
    return result


def check_backends(timeout: float = DEFAULT_PROBE_TIMEOUT, names: tuple[str, ...] = BACKENDS) -> dict[str, dict[str, Any]]:
    """Each backend: installed or not (with the pip command), version, devices, whether it can run.

    Installed backends are probed in parallel, each in its own child process.
    """
    report: dict[str, dict[str, Any]] = {}
    installed = [name for name in names if backends.is_installed(name)]
    with ThreadPoolExecutor(max_workers=max(1, len(installed))) as pool:
        probes = {name: pool.submit(probe_backend, name, timeout) for name in installed}
        for name in names:
            entry: dict[str, Any] = {
                "installed": name in probes, "install_command": install_command(name),
                "gpu_install_command": install_command(name, gpu=True),
                "version": None, "devices": [], "cuda_runtime": None, "error": None, "probe_seconds": None,
            }
            if name in probes:
                entry.update(probes[name].result())
            entry["can_run"] = entry["installed"] and entry["error"] is None and bool(entry["devices"])
            report[name] = entry
    return report


def cuda_driver_version(nvidia_smi: str | None) -> str | None:
    """The CUDA version the driver supports, from ``nvidia-smi``'s banner ("CUDA Version: 12.4")."""
    if not nvidia_smi:
        return None
    try:
        out = subprocess.run([nvidia_smi], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"CUDA Version:\s*([0-9.]+)", out)
    return match.group(1) if match else None


def check_cuda() -> dict[str, Any]:
    """NVIDIA driver, the CUDA version it supports, and its GPUs (empty without nvidia-smi)."""
    from mnist_mlp.bench import machine

    nvidia_smi = shutil.which("nvidia-smi")
    gpus = machine.gpus()
    return {
        "nvidia_smi": nvidia_smi,
        "driver": gpus[0]["driver"] if gpus else None,
        "cuda_driver_version": cuda_driver_version(nvidia_smi),
        "gpus": gpus,
        "gpu_hardware": backends.gpu_hardware_present(),
    }


def check_threads() -> dict[str, Any]:
    """Thread variables, usable cores, and the BLAS/OpenMP pools NumPy (the reference) loads."""
    import numpy  # noqa: F401  (loads its BLAS, so threadpoolctl can see it)

    from mnist_mlp.bench import machine

    settings = machine.thread_settings()
    settings["usable_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return settings


def check_data(data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where MNIST would come from, and whether its four files match the official SHA-256.

    Never downloads: without a local copy named, it reports the Keras cache file (present or not).
    """
    from mnist_mlp import data

    resolved = data.resolve_data_dir(data_dir)
    origin = "--data-dir" if data_dir is not None and str(data_dir).strip() else f"${data.ENV_VAR}"
    if resolved is None:
        cache = Path(data.keras_cache_file())
        entry = {"path": str(cache), "origin": "keras cache", "ok": False, "sha256": None, "problem": None}
        if not cache.is_file():
            entry["problem"] = (
                f"{data.ENV_VAR} is not set and {cache} does not exist: bench would download mnist.npz "
                f"through Keras (needs the network); set {data.ENV_VAR} to a folder with the four files"
            )
            return entry
        resolved = cache
    else:
        entry = {"path": str(resolved), "origin": origin, "ok": False, "sha256": None, "problem": None}
    try:
        mnist = data.load_mnist(resolved)  # structure of all four, then the official SHA-256 of each
    except DataError as exc:
        entry["problem"] = str(exc)
        return entry
    entry.update(ok=True, source=mnist.source, sha256=mnist.sha256,
                 train=int(mnist.x_train.shape[0]), test=int(mnist.x_test.shape[0]))
    return entry


def case_verdicts(backend_report: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every case the default ``bench`` would plan (every backend, implementation and installed
    serving runtime), and whether it would run, be skipped, or fail."""
    from mnist_mlp.bench.options import installed_runtimes
    from mnist_mlp.bench.plan import plan_cases
    from mnist_mlp.native.base import IMPLEMENTATIONS

    verdicts = []
    exporter = backend_report.get("tensorflow")  # Keras on TensorFlow writes every serving case's artifact
    for plan in plan_cases((*backends.ALL, *installed_runtimes()), DEVICES, implementations=IMPLEMENTATIONS):
        action, reason = "run", None
        probe = backend_report.get(plan.backend)
        if plan.skip_reason:
            action, reason = "skip", plan.skip_reason
        elif getattr(backends.get(plan.backend), "runtime", None) is not None and exporter and not exporter["can_run"]:
            action = "skip"
            reason = f"exporting the model needs TensorFlow ({install_command('tensorflow')})"
        elif probe is not None and probe["error"]:
            action, reason = "fail", probe["error"]
        elif probe is not None and not any(d["kind"] == plan.device for d in probe["devices"]):
            action = "skip"
            reason = f"{plan.backend} sees no {plan.device.upper()} here"
            if plan.device == "gpu":
                reason = probe.get("gpu_absent_reason") or f"{reason} ({install_command(plan.backend, gpu=True)})"
        verdicts.append({"case": plan.case_id, "backend": plan.backend, "device": plan.device,
                         "action": action, "reason": reason})
    return verdicts


def diagnose(data_dir: str | os.PathLike | None = None, timeout: float = DEFAULT_PROBE_TIMEOUT) -> dict[str, Any]:
    """The whole picture, JSON-ready."""
    backend_report = check_backends(timeout)
    can_run = [name for name, entry in backend_report.items() if entry["can_run"]]
    return {
        "schema": SCHEMA,
        "mnist_mlp": mnist_mlp.__version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "packages": backends.package_versions(),
        "backends": backend_report,
        "threads": check_threads(),
        "cuda": check_cuda(),
        "data": check_data(data_dir),
        "cases": case_verdicts(backend_report),
        "can_run": can_run,
        "exit_code": EXIT_CAN_RUN if can_run else EXIT_NOTHING_RUNS,
    }
